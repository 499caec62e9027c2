//! The `rampart` binary: parses flags, calls the libraries, prints results and errors, and
//! chooses the exit code. Everything worth testing lives in the crates.

mod cmd;
mod flags;
mod input;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flags::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`rampart show | head`) is not an error.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            let _ = std::io::stdout().flush();
            eprintln!("rampart: {err:#}");
            ExitCode::from(2)
        }
    }
}
