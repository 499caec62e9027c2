//! `rampart lockout-check`, and the guard `rampart up` runs before applying.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use rampart_ruleset::Ruleset;
use rampart_session::{check, discover, system_host, LockoutReport};

use crate::flags::LockoutArgs;

/// Discovers this machine's SSH sessions and sshd listeners and checks `ruleset` against
/// them with the simulator.
pub fn report(ruleset: &Ruleset) -> Result<LockoutReport> {
    let ssh = std::env::var("SSH_CONNECTION").ok();
    let sessions = discover(ssh.as_deref())?;
    let host = system_host().map_err(|e| anyhow!("cannot describe this host: {e}"))?;
    Ok(check(ruleset, &host, &sessions))
}

/// The guard `rampart up` runs between loading and applying: Ok when no admin would be
/// locked out (or `force`, which prints the report and goes on), else an error carrying
/// the report.
pub fn guard(ruleset: &Ruleset, force: bool) -> Result<()> {
    let report = report(ruleset)?;
    if report.is_safe() {
        return Ok(());
    }
    if force {
        eprint!("{report}");
        eprintln!("rampart: --force given: applying anyway");
        return Ok(());
    }
    bail!("{report}")
}

/// Runs `rampart lockout-check`: exit 0 when safe, 1 when the policy would lock someone out.
pub fn run(args: LockoutArgs) -> Result<ExitCode> {
    let loaded = super::policy::load(args.policy.as_deref())?;
    let report = report(&loaded.compiled.ruleset)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "policy": loaded.origin,
            "safe": report.is_safe(),
            "report": report,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "policy: {}", loaded.origin)?;
        write!(out, "{report}")?;
    }
    Ok(if report.is_safe() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
