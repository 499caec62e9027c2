//! `rampart up`: policy (or the built-in webserver profile) → ruleset → lockout guard →
//! nft → one transaction, with automatic rollback on a terminal.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::apply::{apply_script, say, state_dir, PolicyScript};
use super::{lockout, policy};
use crate::flags::UpArgs;
use anyhow::Result;

/// The rollback window `up` uses on a terminal when `--confirm` is not given.
const DEFAULT_CONFIRM_SECS: u64 = 60;

/// What `up` applies for a loaded policy.
pub fn policy_script(loaded: &policy::Loaded) -> Result<PolicyScript> {
    PolicyScript::compile(&loaded.compiled.ruleset, loaded.origin.clone())
}

/// Runs `rampart up`.
pub fn run(args: UpArgs) -> Result<ExitCode> {
    let state = state_dir(&args.state)?;
    let loaded = policy::load(args.policy.as_deref())?;
    say(&format!("policy: {}", loaded.origin))?;
    for note in &loaded.compiled.notes {
        say(&format!("note: {note}"))?;
    }
    lockout::guard(&loaded.compiled.ruleset, &state, args.force)?;
    let script = policy_script(&loaded)?;
    let early_drop = loaded
        .policy
        .flood
        .as_ref()
        .map(|f| f.early_drop.clone())
        .unwrap_or_default();
    for absent in super::block::set_early_drop(&state, &early_drop)? {
        say(&format!(
            "warning: early_drop: no interface {absent} here; it gets its ingress chain at the next `up` or `restore` that finds it"
        ))?;
    }
    let confirm = match (args.confirm, args.no_confirm) {
        (Some(secs), _) => Some(secs),
        (None, true) => None,
        (None, false) => std::io::stdin()
            .is_terminal()
            .then_some(DEFAULT_CONFIRM_SECS),
    };
    let code = apply_script(&state, &script, None, false, confirm)?;
    if code == ExitCode::SUCCESS {
        if let Some(admins) = super::block::flood_admins(&state)? {
            if !admins.is_empty() {
                let list: Vec<String> = admins.iter().map(|a| a.to_string()).collect();
                say(&format!(
                    "flood limits never count the admin's SSH sources: {}",
                    list.join(", ")
                ))?;
            }
        }
    }
    Ok(code)
}
