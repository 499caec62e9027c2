//! `rampart policy check|show`: the policy file and the rules it makes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use rampart_policy::{Compiled, Policy, Profile, DEFAULT_PATH};
use rampart_ruleset::{print_sets, to_human, to_save_all, Source};

use crate::flags::{PolicyCommand, ShowFormat};

/// A policy loaded for a command, with where it came from.
pub struct Loaded {
    /// The validated policy.
    pub policy: Policy,
    /// Its ruleset.
    pub compiled: Compiled,
    /// `/etc/rampart/rampart.toml`, or a sentence saying the built-in profile is used.
    pub origin: String,
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
        });
    } else {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?;
        match Policy::parse(&Source::new(path.display().to_string(), text)) {
            Ok(p) => p,
            Err(e) => bail!("{e}\n{} error(s) in {}", e.0.len(), path.display()),
        }
    };
    let compiled = compile(&policy)?;
    Ok(Loaded {
        policy,
        compiled,
        origin: path.display().to_string(),
    })
}

fn compile(policy: &Policy) -> Result<Compiled> {
    match policy.to_ruleset(|p| std::fs::read_to_string(p)) {
        Ok(c) => Ok(c),
        Err(e) => bail!("{e}"),
    }
}

/// Runs `rampart policy ...`.
pub fn run(command: PolicyCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        PolicyCommand::Check { file } => {
            let loaded = load(file.as_deref())?;
            for note in &loaded.compiled.notes {
                writeln!(out, "note: {note}")?;
            }
            writeln!(
                out,
                "{}: ok (profile {}, {} rules)",
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
                ShowFormat::Human => format!("# {}\n{}", loaded.origin, to_human(rs)),
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
