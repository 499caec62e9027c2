//! `rampart status` and `rampart down`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;
use rampart_kernel::{rule_counters, Nft, RuleCounter};
use serde::Serialize;

use super::apply::{compiled_policy, state_dir};
use crate::flags::{StateArgs, StatusArgs};

/// Lines only in one of two texts (as multisets).
#[derive(Debug, Serialize)]
struct Drift {
    /// Lines the policy file has and the applied script lacks.
    added: Vec<String>,
    /// Lines the applied script has and the policy file lacks.
    removed: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Status {
    /// What the applied rules were compared with.
    policy: String,
    /// Whether `table inet rampart` is in the kernel.
    table_present: bool,
    /// Whether rampart has a record of an apply.
    applied: bool,
    /// The kernel's table differs from what rampart applied (edited by hand?).
    kernel_modified: Option<bool>,
    /// Drift between the policy and the applied script.
    drift: Option<Drift>,
    /// Seconds left of a pending `apply --confirm`.
    pending_confirm_secs: Option<u64>,
    /// The pending `apply --confirm` has no rollback watcher running (the next `apply`,
    /// `up` or `confirm` clears it; nothing will roll it back).
    pending_confirm_stale: bool,
    /// The block lists (sizes from the store; whether the kernel has their tables).
    block_lists: Vec<rampart_enforce::ListState>,
    /// Timed bans running.
    timed_bans: usize,
    /// Per-rule counters.
    rules: Vec<RuleCounter>,
}

fn diff(applied: &str, policy: &str) -> Drift {
    let mut count: BTreeMap<&str, i64> = BTreeMap::new();
    for l in policy
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        *count.entry(l).or_default() += 1;
    }
    for l in applied
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        *count.entry(l).or_default() -= 1;
    }
    let mut d = Drift {
        added: Vec::new(),
        removed: Vec::new(),
    };
    for (l, n) in count {
        for _ in 0..n.unsigned_abs() {
            if n > 0 {
                d.added.push(l.to_string());
            } else {
                d.removed.push(l.to_string());
            }
        }
    }
    d
}

/// `rampart status`.
pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let state = state_dir(&args.state)?;
    let nft = Nft::new();
    // The kernel's table over netlink: its shape and counters, never a set element.
    let now = rampart_kernel::snapshot(&nft)?;
    let applied = state.applied()?;
    let kernel_modified = match (&now.shape, &applied) {
        (Some(_), Some(a)) => Some(a.generation != Some(now.generation) && now.digest() != a.shape),
        (None, Some(_)) => Some(true),
        _ => None,
    };
    // Against the ruleset given, else against what `rampart up` would apply now.
    let (policy_script, policy_origin) = match compiled_policy(&args.policy)? {
        Some((script, _)) => (script.text(), "the given ruleset".to_string()),
        None => {
            let loaded = super::policy::load(args.policy_file.as_deref())?;
            (super::up::policy_script(&loaded)?.text(), loaded.origin)
        }
    };
    let drift = Some(diff(
        applied.as_ref().map_or("", |a| a.script.as_str()),
        &policy_script,
    ));
    let rules = now.shape.as_ref().map(rule_counters).unwrap_or_default();
    let pending = rampart_kernel::pending(&state)?;
    let pending_confirm_secs = pending
        .first()
        .map(|p| p.remaining(SystemTime::now()).as_secs());
    let pending_confirm_stale = pending
        .first()
        .is_some_and(|p| p.watcher == rampart_kernel::Watcher::Gone);
    let (block_lists, timed_bans) = super::block::states(&state)?;
    let status = Status {
        policy: policy_origin,
        table_present: now.shape.is_some(),
        applied: applied.is_some(),
        kernel_modified,
        drift,
        pending_confirm_secs,
        pending_confirm_stale,
        block_lists,
        timed_bans,
        rules,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(s: &Status) {
    println!("policy: {}", s.policy);
    println!(
        "table inet rampart: {}",
        if s.table_present { "present" } else { "absent" }
    );
    println!(
        "applied by rampart: {}",
        match (s.applied, s.kernel_modified) {
            (false, _) => "no record",
            (true, Some(true)) => "yes, but the kernel's table differs (changed outside rampart)",
            (true, _) => "yes, the kernel matches",
        }
    );
    match &s.drift {
        None => println!("drift: unknown"),
        Some(d) if d.added.is_empty() && d.removed.is_empty() => {
            println!("drift: no, the policy compiles to what was applied")
        }
        Some(d) => {
            println!(
                "drift: yes, {} line(s) new in the policy, {} line(s) only in the applied table",
                d.added.len(),
                d.removed.len()
            );
            for l in d.added.iter().take(10) {
                println!("  + {l}");
            }
            for l in d.removed.iter().take(10) {
                println!("  - {l}");
            }
        }
    }
    if !s.block_lists.is_empty() || s.timed_bans > 0 {
        let missing: Vec<&str> = s
            .block_lists
            .iter()
            .filter(|l| l.loaded == Some(false))
            .map(|l| l.name.as_str())
            .collect();
        let prefixes: usize = s.block_lists.iter().map(|l| l.summary.prefixes).sum();
        println!(
            "block lists: {} ({prefixes} {}); timed bans: {}{}",
            s.block_lists.len(),
            if prefixes == 1 { "prefix" } else { "prefixes" },
            s.timed_bans,
            if missing.is_empty() {
                String::new()
            } else {
                format!(
                    "; NOT in the kernel: {} (run `rampart restore`)",
                    missing.join(", ")
                )
            }
        );
    }
    match s.pending_confirm_secs {
        Some(_) if s.pending_confirm_stale => println!(
            "pending: an apply waits for confirmation but its rollback watcher is not running: \
             nothing will roll it back (the next `apply`, `up` or `confirm` clears it)"
        ),
        Some(secs) => println!("pending: rollback in {secs} s unless `rampart confirm` is run"),
        None => {}
    }
    if !s.rules.is_empty() {
        println!("{:>12} {:>14}  rule", "packets", "bytes");
        for r in &s.rules {
            let num = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            println!(
                "{:>12} {:>14}  {}#{}{}",
                num(r.packets),
                num(r.bytes),
                r.chain,
                r.position,
                r.comment.as_deref().map_or(String::new(), |c| format!(
                    "  {}",
                    rampart_safeio::escaped(c)
                ))
            );
        }
    }
}

/// `rampart down`.
pub fn down(args: StateArgs) -> Result<ExitCode> {
    let state = state_dir(&args)?;
    // A pending rollback would bring the table back; `down` means no table.
    if rampart_kernel::confirm(&state).is_ok() {
        println!("note: the pending rollback was cancelled");
    }
    let removed = rampart_kernel::down(&Nft::new())?;
    let blocks = super::block::remove_from_kernel(&state)?;
    state.clear_applied()?;
    println!(
        "{}",
        if removed {
            "down: table inet rampart removed (other tables untouched)"
        } else {
            "down: table inet rampart was not present"
        }
    );
    if !blocks.is_empty() {
        println!(
            "down: block tables removed: {} (lists and bans stay stored: `rampart up` or `rampart restore` brings them back)",
            blocks.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
