//! `rampart show`: a ruleset file in canonical form.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use rampart_ruleset::{print_sets, to_human, to_save_all};

use crate::flags::{ShowArgs, ShowFormat};
use crate::input::{load_ruleset, Format};

/// Prints the ruleset as iptables-save text (then ipset save), human text or JSON.
pub fn run(args: ShowArgs) -> Result<ExitCode> {
    let format = if args.script {
        Format::Script
    } else {
        Format::Auto
    };
    let parsed = load_ruleset(&args.file, format, args.lenient)?;
    let rs = &parsed.ruleset;
    let out = match (args.json, args.format) {
        (true, _) | (_, ShowFormat::Json) => serde_json::to_string_pretty(rs)? + "\n",
        // For people, on a terminal: a comment's escape sequences are shown, not run.
        (_, ShowFormat::Human) => rampart_safeio::escaped_lines(&to_human(rs)),
        (_, ShowFormat::Save) => print_sets(rs) + &to_save_all(rs, args.counters),
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
