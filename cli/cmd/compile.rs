//! `rampart compile`: the ruleset as an nft script for `table inet rampart`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use rampart_nft::{compile, CompileOptions};

use crate::flags::CompileArgs;
use crate::input::load_ruleset_args;

/// Prints the nft script, or every untranslatable construct with its line.
pub fn run(args: CompileArgs) -> Result<ExitCode> {
    let (ruleset, source) = load_ruleset_args(&args.ruleset, crate::input::Trust::Anyone)?;
    match compile(&ruleset, &CompileOptions::default()) {
        Ok(script) => {
            std::io::stdout()
                .lock()
                .write_all(script.text().as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            let mut err = std::io::stderr().lock();
            for e in errors.errors() {
                match e.place().and_then(|p| p.span) {
                    Some(span) => {
                        let name = source.name();
                        writeln!(err, "{name}:{}:{}: error: {e}", span.line, span.col)?;
                        writeln!(err, "  | {}", source.line(span.line))?;
                    }
                    _ => writeln!(err, "error: {e}")?,
                }
            }
            writeln!(
                err,
                "{} rule(s) cannot be compiled to nftables; nothing was printed",
                errors.errors().len()
            )?;
            Ok(ExitCode::FAILURE)
        }
    }
}
