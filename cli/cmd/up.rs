//! `rampart up`: policy (or the built-in webserver profile) → ruleset → lockout guard →
//! nft → one transaction, with automatic rollback on a terminal.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use rampart_nft::CompileOptions;

use super::apply::{apply_script, say, state_dir};
use super::{lockout, policy};
use crate::flags::UpArgs;

/// The rollback window `up` uses on a terminal when `--confirm` is not given.
const DEFAULT_CONFIRM_SECS: u64 = 60;

/// The nft script `up` applies for a loaded policy (our table only, no table delete: the
/// kernel crate builds the replace transaction itself, keeping set elements).
pub fn nft_script(loaded: &policy::Loaded) -> Result<String> {
    let mut opts = CompileOptions::default();
    opts.replace = false;
    let script =
        rampart_nft::compile(&loaded.compiled.ruleset, &opts).map_err(|e| anyhow!("{e}"))?;
    Ok(rampart_kernel::without_replace_preamble(script.text()))
}

/// Runs `rampart up`.
pub fn run(args: UpArgs) -> Result<ExitCode> {
    let state = state_dir(&args.state)?;
    let loaded = policy::load(args.policy.as_deref())?;
    say(&format!("policy: {}", loaded.origin))?;
    for note in &loaded.compiled.notes {
        say(&format!("note: {note}"))?;
    }
    lockout::guard(&loaded.compiled.ruleset, args.force)?;
    let script = nft_script(&loaded)?;
    let confirm = match (args.confirm, args.no_confirm) {
        (Some(secs), _) => Some(secs),
        (None, true) => None,
        (None, false) => std::io::stdin()
            .is_terminal()
            .then_some(DEFAULT_CONFIRM_SECS),
    };
    apply_script(&state, &script, false, confirm)
}
