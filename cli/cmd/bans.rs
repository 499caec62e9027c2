//! `rampart bans list|explain|unban`: the guard's decisions (STATE_DIR/guard.db), rendered;
//! unbans lifted in the kernel through rampart-enforce, then in the store.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use rampart_block::ListName;
use rampart_enforce::{Enforcer, Kernel, Silent};
use rampart_guard::{
    format_utc, human_secs, DecisionStore, Origin, Selector, SqliteStore, StoredDecision, Target,
    DB_FILE, ROLLUP_LIST,
};
use rampart_prefix::Prefix;
use serde::Serialize;

use super::apply::state_dir;
use super::unix_now;
use crate::flags::{BansCommand, BansExplainArgs, BansListArgs, BansUnbanArgs, StateArgs};
use crate::table::{Align, Table};

/// Runs a `rampart bans` subcommand.
pub fn run(command: BansCommand) -> Result<ExitCode> {
    match command {
        BansCommand::List(args) => list(args),
        BansCommand::Explain(args) => explain(args),
        BansCommand::Unban(args) => unban(args),
    }
}

/// The database's path, and the store when the file exists (a read never creates it).
fn open(state: &StateArgs) -> Result<(PathBuf, Option<SqliteStore>)> {
    let path = state_dir(state)?.path(DB_FILE);
    if !path.exists() {
        return Ok((path, None));
    }
    let store = SqliteStore::open(&path).with_context(|| {
        "cannot open the guard's database (reading it needs the rights of the guard: run as root)"
    })?;
    Ok((path, Some(store)))
}

fn list(args: BansListArgs) -> Result<ExitCode> {
    if args.fleet {
        return list_fleet(&args);
    }
    let now = unix_now();
    let (path, store) = open(&args.state)?;
    let active = match &store {
        Some(s) => s.active(now)?,
        None => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &active)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if store.is_none() {
        writeln!(
            out,
            "no bans: the guard has recorded none ({} does not exist)",
            path.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if active.is_empty() {
        writeln!(out, "no bans running")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        ("TARGET", Align::Left),
        ("DETECTOR", Align::Left),
        ("UNTIL", Align::Left),
        ("LEFT", Align::Right),
        ("BAN#", Align::Right),
        ("REASON", Align::Left),
    ]);
    for s in &active {
        let d = &s.decision;
        table.row(vec![
            d.target.to_string(),
            d.reason.detector.to_string(),
            format_utc(d.until),
            left(d.until.saturating_sub(now)),
            d.reason.offence.saturating_add(1).to_string(),
            d.reason.summary.clone(),
        ]);
    }
    table.write(&mut out)?;
    writeln!(
        out,
        "{} running (rampart bans explain ADDR for the evidence)",
        n_bans(active.len())
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `bans list --fleet`: the shared store's running decisions, with their server.
fn list_fleet(args: &BansListArgs) -> Result<ExitCode> {
    let now = unix_now();
    let mut fleet = super::fleet::connect(args.fleet_source.policy.as_deref())?;
    let read = fleet.active(now)?;
    warn_unreadable(&read.unreadable);
    let active = read.decisions;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &active)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if active.is_empty() {
        writeln!(out, "no bans running in the fleet ({})", fleet.endpoint())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        ("TARGET", Align::Left),
        ("SERVER", Align::Left),
        ("DETECTOR", Align::Left),
        ("UNTIL", Align::Left),
        ("LEFT", Align::Right),
        ("REASON", Align::Left),
    ]);
    for s in &active {
        let d = &s.decision;
        table.row(vec![
            d.target.to_string(),
            s.key().server.to_string(),
            d.reason.detector.to_string(),
            format_utc(d.until),
            left(d.until.saturating_sub(now)),
            d.reason.summary.clone(),
        ]);
    }
    table.write(&mut out)?;
    writeln!(out, "{} running in the fleet", n_bans(active.len()))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Explained<'a> {
    target: String,
    /// The running decisions holding the target now (its own, or a network's).
    banned_by: Vec<i64>,
    until: Option<u64>,
    decisions: &'a [StoredDecision],
}

fn explain(args: BansExplainArgs) -> Result<ExitCode> {
    let now = unix_now();
    let target: Target = args
        .target
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let (path, store) = open(&args.state)?;
    let history = match &store {
        Some(s) => s.history(&target, args.limit)?,
        None => Vec::new(),
    };
    let running: Vec<&StoredDecision> = history.iter().filter(|s| is_running(s, now)).collect();
    let until = running.iter().map(|s| s.decision.until).max();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &Explained {
                target: target.to_string(),
                banned_by: running.iter().map(|s| s.id).collect(),
                until,
                decisions: &history,
            },
        )?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if store.is_none() {
        writeln!(
            out,
            "{target}: never banned (the guard has recorded nothing: {} does not exist)",
            path.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    match until {
        Some(until) => writeln!(
            out,
            "{target}: banned until {} ({} left)",
            format_utc(until),
            left(until - now)
        )?,
        None if history.is_empty() => writeln!(out, "{target}: never banned")?,
        None => writeln!(out, "{target}: not banned now")?,
    }
    for s in &history {
        let d = &s.decision;
        let state = if let Some(t) = s.lifted {
            format!("lifted {}", format_utc(t))
        } else if d.until > now {
            "running".to_string()
        } else {
            "ended".to_string()
        };
        writeln!(out)?;
        let about = if d.target == target {
            String::new()
        } else {
            format!(" {}", d.target)
        };
        writeln!(
            out,
            "  #{} {}{about}: {state}, ban {} of this target",
            s.id,
            match d.origin {
                Origin::Detector => format!("detector {}", d.reason.detector),
                Origin::Kernel => format!("the kernel ({})", d.reason.detector),
                Origin::Manual => "manual".to_string(),
                Origin::Fleet => format!(
                    "the fleet (server {}, detector {})",
                    d.fleet.as_ref().map_or("?", |f| f.server.as_str()),
                    d.reason.detector
                ),
            },
            d.reason.offence.saturating_add(1),
        )?;
        writeln!(out, "    why:   {}", d.reason.summary)?;
        writeln!(
            out,
            "    when:  {} → {} ({})",
            format_utc(d.start),
            format_utc(d.until),
            human_secs(d.until.saturating_sub(d.start))
        )?;
        let e = &d.evidence;
        if e.count > 0 {
            let over = if e.window_secs > 0 {
                format!(" in {}", human_secs(e.window_secs))
            } else {
                " at once".to_string()
            };
            writeln!(out, "    seen:  {}{over}", e.count)?;
        }
        let n = e.samples.len();
        for (i, sample) in e.samples.iter().enumerate() {
            let label = match (i, n) {
                (0, 1) => "sample",
                (0, _) => "first",
                (i, n) if i + 1 == n => "last",
                _ => "",
            };
            writeln!(out, "    {label:6} {sample}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Unbanned<'a> {
    lifted: Vec<&'a StoredDecision>,
    /// Networks whose running bans still hold the address that was unbanned.
    still_banned_by: Vec<String>,
}

fn unban(args: BansUnbanArgs) -> Result<ExitCode> {
    let now = unix_now();
    let selector = match (&args.target, &args.reason, args.all) {
        (Some(t), _, _) => Selector::Target(t.parse().map_err(|e: String| anyhow::anyhow!(e))?),
        (_, Some(r), _) => Selector::Reason(r.clone()),
        _ => Selector::All,
    };
    // Fleet-wide first (every server's guard lifts it from the feed), then here.
    let mut fleet_lifted = 0;
    if args.fleet {
        let Selector::Target(t) = &selector else {
            bail!("--fleet lifts the bans on an address or network: name one");
        };
        let mut fleet = super::fleet::connect(args.fleet_source.policy.as_deref())?;
        let read = fleet.lift(t, now)?;
        warn_unreadable(&read.unreadable);
        let lifted = read.decisions;
        fleet_lifted = lifted.len();
        let mut servers: Vec<&str> = lifted.iter().map(|d| d.key().server.as_str()).collect();
        servers.sort_unstable();
        servers.dedup();
        if !args.json {
            println!(
                "lifted fleet-wide: {} decided by {}; every server's guard lifts them within a second",
                n_bans(fleet_lifted),
                if servers.is_empty() { "no server".to_string() } else { servers.join(", ") }
            );
        }
    }
    let (path, store) = open(&args.state)?;
    let Some(mut store) = store else {
        if fleet_lifted > 0 {
            return Ok(ExitCode::SUCCESS);
        }
        bail!(
            "nothing to unban: the guard has recorded no ban ({} does not exist)",
            path.display()
        );
    };
    let active = store.active(now)?;
    let chosen: Vec<&StoredDecision> = active
        .iter()
        .filter(|s| selector.matches(&s.decision))
        .collect();
    if chosen.is_empty() && args.fleet {
        if fleet_lifted == 0 {
            bail!("no running ban matches in the fleet or here: see `rampart bans list --fleet`");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if chosen.is_empty() {
        bail!(
            "no running ban matches {}: see `rampart bans list`",
            match &selector {
                Selector::Target(t) => format!("`{t}`"),
                Selector::Reason(r) =>
                    format!("reason `{}`", rampart_logs::escape(r.as_bytes(), 80)),
                Selector::All => "--all".to_string(),
            }
        );
    }
    // An address inside a network that stays banned: say so.
    let still: Vec<String> = match &selector {
        Selector::Target(t @ Target::Addr(_)) => active
            .iter()
            .filter(|s| matches!(s.decision.target, Target::Prefix(_)))
            .filter(|s| t.within(&s.decision.target))
            .map(|s| format!("{} ({})", s.decision.target, s.decision.reason.detector))
            .collect(),
        _ => Vec::new(),
    };
    // The kernel first: a failure there leaves the record as it was.
    let addrs: Vec<IpAddr> = chosen
        .iter()
        .filter_map(|s| match s.decision.target {
            Target::Addr(a) => Some(a),
            Target::Prefix(_) => None,
        })
        .collect();
    let prefixes: Vec<Prefix> = chosen
        .iter()
        .filter_map(|s| match s.decision.target {
            Target::Prefix(p) => Some(p),
            Target::Addr(_) => None,
        })
        .collect();
    let mut enforcer = Enforcer::new(state_dir(&args.state)?, Kernel::default());
    if !addrs.is_empty() {
        enforcer
            .unban(&addrs, now)
            .context("cannot lift the bans in the kernel (run as root)")?;
    }
    if !prefixes.is_empty() {
        let list = ListName::new(ROLLUP_LIST)?;
        match enforcer.unblock(&prefixes, Some(&list), &Silent, now) {
            // No roll-up list: nothing of it is in the kernel.
            Ok(_) | Err(rampart_enforce::Error::NoSuchList(_)) => {}
            Err(e) => {
                return Err(e).context("cannot lift the network bans in the kernel (run as root)")
            }
        }
    }
    let ids: Vec<i64> = chosen.iter().map(|s| s.id).collect();
    store.lift(&ids, now)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &Unbanned {
                lifted: chosen,
                still_banned_by: still,
            },
        )?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for s in &chosen {
        writeln!(
            out,
            "lifted {} ({})",
            s.decision.target, s.decision.reason.detector
        )?;
    }
    writeln!(
        out,
        "{} lifted; the guard forgets their offences",
        n_bans(chosen.len())
    )?;
    for p in &still {
        writeln!(
            out,
            "note: still banned by the network {p}: `rampart bans unban {}`",
            p.split(' ').next().unwrap_or("")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Rows of the shared store that are no decision (written by something else than
/// rampart): said on standard error, a few at most, and passed over.
fn warn_unreadable(rows: &[String]) {
    for why in rows.iter().take(3) {
        eprintln!("rampart: warning: passed over an unreadable row of the fleet: {why}");
    }
    if rows.len() > 3 {
        eprintln!("rampart: warning: and {} more", rows.len() - 3);
    }
}

fn is_running(s: &StoredDecision, now: u64) -> bool {
    s.lifted.is_none() && s.decision.start <= now && s.decision.until > now
}

/// `1 ban`, `7 bans`.
fn n_bans(n: usize) -> String {
    if n == 1 {
        "1 ban".into()
    } else {
        format!("{n} bans")
    }
}

/// Time left, two units at most: `6d23h`, `2h5m`, `9m59s`, `42s`.
fn left(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}
