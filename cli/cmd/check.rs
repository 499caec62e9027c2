//! `rampart check`: does each file parse and load as the kernel would accept it?

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::flags::CheckArgs;
use crate::input::{read_source, Format};

#[derive(Serialize)]
struct FileReport {
    file: String,
    ok: bool,
    rules: usize,
    sets: usize,
    /// The first errors (at most `rampart_safeio::MAX_ERRORS`)…
    errors: Vec<String>,
    /// …and how many more were found.
    more_errors: usize,
    /// The first repairs and notes, then how many more of each: a file of a million
    /// pasted dashes makes a million repairs, not worth a million lines.
    repairs: Vec<String>,
    more_repairs: usize,
    notes: Vec<String>,
    more_notes: usize,
}

/// The first `MAX_ERRORS` of `items`, and how many were left out.
fn first<T>(items: &[T], show: impl Fn(&T) -> String) -> (Vec<String>, usize) {
    let n = rampart_safeio::MAX_ERRORS;
    (
        items.iter().take(n).map(show).collect(),
        items.len().saturating_sub(n),
    )
}

/// Checks every file, reports all errors, and exits 1 if any file fails.
pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let mut reports = Vec::new();
    for path in &args.files {
        let source = read_source(path)?;
        let opts = rampart_ruleset::ParseOptions {
            lenient: args.lenient,
            ..Default::default()
        };
        let format = if args.script {
            Format::Script
        } else {
            Format::Auto
        };
        let result = match format {
            Format::Script => rampart_ruleset::parse_script(&source, opts),
            _ => rampart_ruleset::parse_any(&source, opts),
        };
        reports.push(match result {
            Ok(parsed) => {
                let (repairs, more_repairs) = first(&parsed.repairs, |r| r.describe(&source));
                let mut all_notes = parsed.notes.clone();
                for (set, rules) in parsed.ruleset.undefined_sets() {
                    all_notes.push(format!(
                        "{}: note: set `{}` is used by {rules} rule(s) but not defined here: \
                         the kernel refuses them until it exists (ipset create), and compile \
                         and trace need it (--sets FILE)",
                        source.name(),
                        rampart_safeio::escaped(&set)
                    ));
                }
                let (notes, more_notes) = first(&all_notes, |n| n.clone());
                FileReport {
                    file: rampart_safeio::escaped(source.name()),
                    ok: true,
                    rules: parsed.ruleset.rule_count(),
                    sets: parsed.ruleset.sets.len(),
                    errors: vec![],
                    more_errors: 0,
                    repairs,
                    more_repairs,
                    notes,
                    more_notes,
                }
            }
            Err(errors) => FileReport {
                file: rampart_safeio::escaped(source.name()),
                ok: false,
                rules: 0,
                sets: 0,
                errors: errors.0.iter().map(|e| e.to_string()).collect(),
                more_errors: errors.1,
                repairs: vec![],
                more_repairs: 0,
                notes: vec![],
                more_notes: 0,
            },
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            for line in r.repairs.iter().chain(&r.notes) {
                eprintln!("{line}");
            }
            for (more, what) in [(r.more_repairs, "repairs"), (r.more_notes, "notes")] {
                if more > 0 {
                    eprintln!("... and {more} more {what}");
                }
            }
            if r.ok {
                println!("{}: ok, {} rules, {} sets", r.file, r.rules, r.sets);
            } else {
                for e in &r.errors {
                    eprintln!("{e}");
                }
                if r.more_errors > 0 {
                    eprintln!("... and {} more", r.more_errors);
                }
                println!(
                    "{}: {} error(s), nothing loaded",
                    r.file,
                    r.errors.len() + r.more_errors
                );
            }
        }
    }
    let all_ok = reports.iter().all(|r| r.ok);
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
