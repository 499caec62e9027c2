//! `rampart policy check|show`: the policy file and the rules it makes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use rampart_policy::{Compiled, Policy, PolicyErrors, Profile, DEFAULT_PATH};
use rampart_ruleset::{print_sets, to_human, to_save_all};

use crate::flags::{PolicyCommand, ShowFormat};

/// A policy loaded for a command, with where it came from.
pub struct Loaded {
    /// The validated policy.
    pub policy: Policy,
    /// Its ruleset.
    pub compiled: Compiled,
    /// `/etc/rampart/rampart.toml`, or a sentence saying the built-in profile is used.
    pub origin: String,
    /// The file's `[guard]` table, validated too (a bad one fails the load as a bad
    /// policy does), when it has one.
    pub guard: Option<rampart_guard::GuardConfig>,
}

/// Loads `file`, or the default path, or the built-in webserver profile when no file is
/// given and the default path does not exist; compiles it, reading imports from disk.
pub fn load(file: Option<&Path>) -> Result<Loaded> {
    let (path, explicit) = match file {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    let policy = if !explicit && !path.exists() {
        let policy = Policy::builtin(Profile::Webserver);
        let compiled = compile(&policy)?;
        return Ok(Loaded {
            policy,
            compiled,
            origin: format!("{DEFAULT_PATH} does not exist: using the built-in webserver profile"),
            guard: None,
        });
    } else {
        let source = crate::input::read_trusted(&path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?;
        let policy = Policy::parse(&source)?;
        let guard = rampart_guard::GuardConfig::from_policy(source.name(), source.text())?;
        // The [fleet] table is checked here too (`up` and `policy check` refuse a bad one).
        rampart_fleet::FleetConfig::from_policy(source.name(), source.text())?;
        (policy, guard)
    };
    let (policy, guard) = policy;
    let compiled = compile(&policy)?;
    Ok(Loaded {
        policy,
        compiled,
        origin: path.display().to_string(),
        guard,
    })
}

fn compile(policy: &Policy) -> Result<Compiled> {
    // Imports become the firewall too: the same trust check and limits as the policy.
    Ok(policy.to_ruleset(|p| {
        crate::input::read_trusted(Path::new(p))
            .map(|s| s.text().to_string())
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
    })?)
}

/// Runs `rampart policy ...`.
pub fn run(command: PolicyCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        PolicyCommand::Check { file } => {
            let loaded = match load(file.as_deref()) {
                Ok(loaded) => loaded,
                // The policy's own errors: each with file:line:column, then a count; exit 1
                // as `rampart check` does for a bad ruleset.
                Err(e) => match e.downcast_ref::<PolicyErrors>() {
                    Some(errors) => {
                        eprintln!("{errors}");
                        eprintln!("{} error(s); the policy was not changed", errors.total());
                        return Ok(ExitCode::FAILURE);
                    }
                    None => match e.downcast_ref::<rampart_guard::ConfigErrors>() {
                        Some(errors) => {
                            eprintln!("{errors}");
                            eprintln!(
                                "{} error(s) in [guard]; the policy was not changed",
                                errors.0.len()
                            );
                            return Ok(ExitCode::FAILURE);
                        }
                        None => return Err(e),
                    },
                },
            };
            for note in &loaded.compiled.notes {
                writeln!(out, "note: {note}")?;
            }
            let guard = match &loaded.guard {
                Some(g) if g.enabled => format!(
                    "; guard on: {} log file(s), {} journal unit(s)",
                    g.logs.len(),
                    g.journal.len()
                ),
                Some(_) => "; guard off (enabled = false)".to_string(),
                None => String::new(),
            };
            writeln!(
                out,
                "{}: ok (profile {}, {} rules{guard})",
                loaded.origin,
                loaded.policy.profile,
                loaded.compiled.ruleset.rule_count()
            )?;
        }
        PolicyCommand::Show { file, format } => {
            let loaded = load(file.as_deref())?;
            let rs = &loaded.compiled.ruleset;
            let text = match format {
                ShowFormat::Json => {
                    serde_json::to_string_pretty(&serde_json::json!({
                        "origin": loaded.origin,
                        "policy": loaded.policy,
                        "notes": loaded.compiled.notes,
                        "ruleset": rs,
                    }))? + "\n"
                }
                ShowFormat::Human => {
                    rampart_safeio::escaped_lines(&format!("# {}\n{}", loaded.origin, to_human(rs)))
                }
                ShowFormat::Save => {
                    format!(
                        "# {}\n{}{}",
                        loaded.origin,
                        print_sets(rs),
                        to_save_all(rs, false)
                    )
                }
            };
            out.write_all(text.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
