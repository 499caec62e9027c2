//! The `rampart` binary: parses flags, calls the libraries, prints results and errors, and
//! chooses the exit code. Everything worth testing lives in the crates.

mod cmd;
mod flags;
mod input;
mod table;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
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

/// `rampart status | head` closes the pipe early: that is the reader's choice, not an
/// error. `println!` panics on it, so such a panic ends the process quietly with success,
/// as ripgrep does; every other panic keeps its message and backtrace.
fn quiet_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}
