//! One module per subcommand.

mod check;
mod compile;
pub mod geo;
pub mod otp;
mod show;
mod trace;

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
        Command::Compile(args) => compile::run(args),
        Command::Otp(args) => otp::run(args),
        Command::Geo(args) => geo::run(args),
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
