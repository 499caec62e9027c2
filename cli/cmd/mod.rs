//! One module per subcommand.

pub mod analyse;
mod apply;
mod bans;
pub mod block;
mod check;
mod compile;
pub mod fleet;
pub mod geo;
mod guard;
pub mod harden;
pub mod import;
pub mod lab;
mod lockout;
pub mod otp;
mod persist;
mod policy;
mod show;
mod status;
pub mod top;
mod trace;
mod up;

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

use crate::flags::{Cli, Command};

/// Seconds since the epoch: the `now` the libraries take (they never read the clock).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::input::set_limits(cli.max_line_bytes, cli.max_input_bytes);
    match cli.command {
        Command::Trace(args) => trace::run(*args),
        Command::Show(args) => show::run(args),
        Command::Check(args) => check::run(args),
        Command::Lint(args) => analyse::lint(args),
        Command::Diff(args) => analyse::diff(args),
        Command::Exposure(args) => analyse::exposure(args),
        Command::Policy(command) => policy::run(command),
        Command::LockoutCheck(args) => lockout::run(args),
        Command::Up(args) => up::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Otp(args) => otp::run(args),
        Command::Apply(args) => apply::run(*args),
        Command::Confirm { state } => apply::confirm(state),
        Command::ConfirmWatch(args) => apply::watch(args),
        Command::Save { state } => persist::save(state),
        Command::Restore { state } => persist::restore(state),
        Command::Status(args) => status::run(*args),
        Command::Down { state } => status::down(state),
        Command::Lab(args) => lab::run(args),
        Command::Block(args) => block::run(args),
        Command::Geo(args) => geo::run(args),
        Command::Guard(command) => guard::run(command),
        Command::Bans(command) => bans::run(command),
        Command::Fleet(args) => fleet::run(args),
        Command::Top(args) => top::run(args),
        Command::Harden(args) => harden::run(args),
        Command::Import(args) => import::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "rampart",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Synthetic { rules } => {
            use std::io::Write;
            let text = rampart_ruleset::synthetic::synthetic_save(rules);
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir: None } => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)?;
            let mut cmd = Cli::command();
            cmd.build();
            write_man_pages(&cmd, "rampart", &dir)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `NAME.1` for `cmd` and `NAME-SUB.1` for each visible subcommand, recursively.
fn write_man_pages(cmd: &clap::Command, name: &str, dir: &std::path::Path) -> Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::fs::write(dir.join(format!("{name}.1")), out)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_man_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
