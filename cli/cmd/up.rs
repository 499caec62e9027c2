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

/// Starts the guard when the policy enables `[guard]`: the systemd unit on a host that
/// runs it with the default paths, else says the command.
fn start_guard(args: &UpArgs) -> Result<()> {
    let Some(path) = args.policy.clone().or_else(|| {
        let p = std::path::PathBuf::from(rampart_policy::DEFAULT_PATH);
        p.exists().then_some(p)
    }) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)?;
    let file = path.display().to_string();
    let enabled = match rampart_guard::GuardConfig::from_policy(&file, &text) {
        Ok(Some(c)) => c.enabled,
        Ok(None) => false,
        Err(errors) => {
            say(&format!("warning: the guard was not started: {errors}"))?;
            return Ok(());
        }
    };
    if !enabled {
        // The fleet is the guard's: without it, [fleet] would do nothing, silently.
        if let Ok(Some(_)) = rampart_fleet::FleetConfig::from_policy(&file, &text) {
            say("warning: [fleet] needs the guard ([guard] in the policy): this server neither publishes nor receives the fleet's bans")?;
        }
        return Ok(());
    }
    let default_paths = args
        .policy
        .as_deref()
        .is_none_or(|p| p == std::path::Path::new(rampart_policy::DEFAULT_PATH))
        && args.state.state_dir.is_none()
        && std::env::var_os(rampart_kernel::STATE_DIR_ENV).is_none();
    match rampart_guardd::start_unit(default_paths) {
        rampart_guardd::Started::Unit => say(&format!(
            "guard: {} started (journalctl -u {} to follow it)",
            rampart_guardd::UNIT,
            rampart_guardd::UNIT
        )),
        rampart_guardd::Started::NotStarted(why) => say(&format!(
            "guard: not started as a service ({why}); run: rampart guard run --policy {} {}",
            path.display(),
            args.state
                .state_dir
                .as_ref()
                .map(|d| format!("--state-dir {}", d.display()))
                .unwrap_or_default()
        )),
    }
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
    super::analyse::show_change(&state, &loaded.compiled.ruleset)?;
    let code = apply_script(&state, &script, None, false, confirm)?;
    if code == ExitCode::SUCCESS {
        super::analyse::record_applied(&state, &loaded.compiled.ruleset)?;
        start_guard(&args)?;
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
