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
    errors: Vec<String>,
    repairs: Vec<String>,
    notes: Vec<String>,
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
            Ok(parsed) => FileReport {
                file: source.name().to_string(),
                ok: true,
                rules: parsed.ruleset.rule_count(),
                sets: parsed.ruleset.sets.len(),
                errors: vec![],
                repairs: parsed.repairs.iter().map(|r| r.describe(&source)).collect(),
                notes: parsed.notes,
            },
            Err(errors) => FileReport {
                file: source.name().to_string(),
                ok: false,
                rules: 0,
                sets: 0,
                errors: errors.0.iter().map(|e| e.to_string()).collect(),
                repairs: vec![],
                notes: vec![],
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
            if r.ok {
                println!("{}: ok, {} rules, {} sets", r.file, r.rules, r.sets);
            } else {
                for e in &r.errors {
                    eprintln!("{e}");
                }
                println!("{}: {} error(s), nothing loaded", r.file, r.errors.len());
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
