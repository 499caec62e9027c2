//! `rampart lockout-check`, and the guard `rampart up` runs before applying.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use rampart_kernel::StateDir;
use rampart_ruleset::Ruleset;
use rampart_session::{check, discover, system_host, LockoutReport};

use crate::flags::LockoutArgs;

/// Discovers this machine's SSH sessions and sshd listeners and checks `ruleset`, with
/// the block lists and running bans of `state` in front of it as in the kernel, against
/// them with the simulator. Returns the report and what was added from `state`.
pub fn report(ruleset: &Ruleset, state: &StateDir) -> Result<(LockoutReport, Option<String>)> {
    let ssh = std::env::var("SSH_CONNECTION").ok();
    let sessions = discover(ssh.as_deref())?;
    // The lockout probes come from the admins' addresses: the list entries holding them
    // are all that can decide their fate.
    let sources: Vec<std::net::IpAddr> = sessions.admins.iter().map(|a| a.client.ip()).collect();
    let mut ruleset = ruleset.clone();
    let blocks = super::trace::add_block_lists(&mut ruleset, state, &sources)?;
    let host = system_host().map_err(|e| anyhow!("cannot describe this host: {e}"))?;
    Ok((
        check(&ruleset, &host, &sessions),
        blocks.as_ref().map(super::trace::block_summary),
    ))
}

/// The guard `rampart up` runs between loading and applying: Ok when no admin would be
/// locked out (or `force`, which prints the report and goes on), else an error carrying
/// the report.
pub fn guard(ruleset: &Ruleset, state: &StateDir, force: bool) -> Result<()> {
    let (report, _) = report(ruleset, state)?;
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
    let state = super::apply::state_dir(&args.state)?;
    let (report, blocks) = report(&loaded.compiled.ruleset, &state)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "policy": loaded.origin,
            "block_lists": blocks,
            "safe": report.is_safe(),
            "report": report,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "policy: {}", loaded.origin)?;
        if let Some(b) = &blocks {
            writeln!(out, "note: {b}")?;
        }
        write!(
            out,
            "{}",
            rampart_safeio::escaped_lines(&report.to_string())
        )?;
    }
    Ok(if report.is_safe() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
