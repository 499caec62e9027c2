//! `rampart compile`: the ruleset as an nft script for `table inet rampart`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use rampart_nft::{compile, CompileOptions};

use crate::flags::CompileArgs;
use crate::input::{load_ruleset_args, read_source};

/// Prints the nft script, or every untranslatable construct with its line.
pub fn run(args: CompileArgs) -> Result<ExitCode> {
    let ruleset = load_ruleset_args(&args.ruleset)?;
    match compile(&ruleset, &CompileOptions::default()) {
        Ok(script) => {
            std::io::stdout()
                .lock()
                .write_all(script.text().as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            let file = args.ruleset.rules.as_ref().or(args.ruleset.script.as_ref());
            let source = file.and_then(|p| read_source(p).ok());
            let mut err = std::io::stderr().lock();
            for e in errors.errors() {
                match (&source, e.place().and_then(|p| p.span)) {
                    (Some(src), Some(span)) => {
                        writeln!(err, "{}:{}:{}: error: {e}", src.name(), span.line, span.col)?;
                        writeln!(err, "  | {}", src.line(span.line))?;
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
