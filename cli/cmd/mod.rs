//! One module per subcommand.

mod apply;
mod check;
mod compile;
pub mod geo;
pub mod import;
pub mod lab;
mod lockout;
pub mod otp;
mod persist;
mod policy;
mod show;
mod status;
mod trace;
mod up;

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

use crate::flags::{Cli, Command};

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Trace(args) => trace::run(*args),
        Command::Show(args) => show::run(args),
        Command::Check(args) => check::run(args),
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
        Command::Geo(args) => geo::run(args),
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
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
