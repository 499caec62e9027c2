//! `rampart lint`, `rampart diff`, `rampart exposure`, and the change `apply` and `up`
//! show before they apply: rendering of `rampart_analysis`'s results.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use rampart_analysis::{Access, Diff, Severity};
use rampart_ruleset::{Ruleset, Source};

use crate::flags::{AnalysedInput, DiffArgs, ExposureArgs, LintArgs};
use crate::input::{parse_source, read_source, Format};

/// Lines of a diff shown by `apply` and `up` before "and N more".
const SHOWN_AT_APPLY: usize = 20;

/// A ruleset to analyse: a policy file (`.toml`, lowered as `up` would) or a ruleset file.
/// Returns it with its source name (for file:line in findings).
fn load(path: Option<&Path>, input: &AnalysedInput) -> Result<(Ruleset, String)> {
    let policy = path.is_none_or(|p| p.extension().is_some_and(|e| e == "toml"));
    if policy {
        let loaded = super::policy::load(path)?;
        return Ok((loaded.compiled.ruleset, loaded.origin));
    }
    let path = path.expect("a ruleset file is named");
    let source = read_source(path)?;
    let format = if input.script {
        Format::Script
    } else {
        Format::Auto
    };
    let mut ruleset = parse_source(&source, format, input.lenient)?.ruleset;
    if let Some(sets) = &input.sets {
        for set in parse_source(&read_source(sets)?, Format::Save, input.lenient)?
            .ruleset
            .sets
        {
            if ruleset.set(&set.name).is_none() {
                ruleset.sets.push(set);
            }
        }
    }
    Ok((ruleset, source.name().to_string()))
}

/// The host's own addresses, for where a DNAT sends a packet: those of `--host FILE` (and
/// loopback), else what the rulesets say.
fn locals(host: Option<&Path>, rulesets: &[&Ruleset]) -> Result<rampart_analysis::Locals> {
    let Some(path) = host else {
        return Ok(rampart_analysis::Locals::infer(rulesets));
    };
    let source = read_source(path)?;
    let host = rampart_sim::Host::parse(source.text())
        .map_err(|e| anyhow!("{}: {e}", rampart_safeio::escaped(source.name())))?;
    Ok(rampart_analysis::Locals::loopback().with(
        host.interfaces
            .iter()
            .flat_map(|i| i.addrs.iter().map(|a| a.addr)),
    ))
}

fn place(file: &str, r: &rampart_analysis::RuleRef) -> String {
    let fam = match r.family {
        rampart_ruleset::Family::Ipv4 => "",
        rampart_ruleset::Family::Ipv6 => " (ipv6)",
    };
    match r.line {
        Some(line) => format!("{file}:{line}: {r}{fam}"),
        None => format!("{file}: {r}{fam}"),
    }
}

/// `rampart lint`.
pub fn lint(args: LintArgs) -> Result<ExitCode> {
    let mut counted = None;
    let (ruleset, name) = if args.kernel {
        let state = super::apply::state_dir(&args.state)?;
        let (mut ruleset, name) = match &args.file {
            Some(f) => load(Some(f), &args.input)?,
            None => applied_ruleset(&state)?,
        };
        let snap = rampart_kernel::snapshot(&rampart_kernel::Nft::new())
            .context("reading table inet rampart over netlink")?;
        let c = rampart_enforce::put_kernel_counters(
            &mut ruleset,
            state.applied()?.as_ref(),
            snap.shape.as_ref(),
        )
        .map_err(|e| anyhow!("{}: {e}", rampart_safeio::escaped(&name)))?;
        counted = Some(c);
        (ruleset, name)
    } else {
        let file = args
            .file
            .as_deref()
            .expect("clap requires FILE without --kernel");
        load(Some(file), &args.input)?
    };
    let options = rampart_analysis::LintOptions {
        counters_known: counted.is_some(),
        locals: match &args.host {
            Some(h) => Some(locals(Some(h), &[&ruleset])?),
            None => None,
        },
    };
    let report =
        rampart_analysis::lint_with(&ruleset, &options).map_err(|e| anyhow!("{name}: {e}"))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        let name = rampart_safeio::escaped(&name);
        for f in &report.findings {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let kind = serde_json::to_value(f.kind)?;
            let kind = kind.as_str().unwrap_or_default();
            let subject = match (f.rules.first(), &f.object) {
                (Some(r), _) => place(&name, r),
                (None, Some(o)) => format!("{name}: {}", rampart_safeio::escaped(o)),
                (None, None) => name.clone(),
            };
            writeln!(out, "{subject}: {sev}: {kind}: {}", f.message)?;
            for r in f.rules.iter().skip(1) {
                writeln!(out, "  = see {}", place(&name, r))?;
            }
            writeln!(out, "  = fix: {}", f.fix)?;
        }
        if report.more_pairs > 0 {
            writeln!(
                out,
                "... and {} more overlapping pairs (generalisations, correlations)",
                report.more_pairs
            )?;
        }
        if let Some(c) = counted {
            writeln!(
                out,
                "counters: the kernel's, from {} rules of table inet rampart compiled from {} \
                 rules of {name}",
                c.kernel_rules, c.rules
            )?;
        }
        let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
        writeln!(
            out,
            "{name}: {} rules, {} error(s), {} warning(s), {} note(s)",
            report.rules,
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info)
        )?;
    }
    Ok(if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes a diff's lines, at most `limit`.
fn write_diff(out: &mut impl Write, d: &Diff, limit: usize) -> Result<()> {
    for c in d.changes.iter().take(limit) {
        writeln!(out, "  {}", rampart_safeio::escaped(&c.to_string()))?;
    }
    let more = d.changes.len().saturating_sub(limit) + d.more;
    if more > 0 {
        writeln!(
            out,
            "  ... and {more} more classes (rampart diff shows them all)"
        )?;
    }
    Ok(())
}

/// `rampart diff`: exit 0 whether or not anything changes (as `nft -c`; the JSON or the
/// text says).
pub fn diff(args: DiffArgs) -> Result<ExitCode> {
    let (old, old_name) = load(Some(&args.old), &args.input)?;
    let (new, new_name) = load(Some(&args.new), &args.input)?;
    let locals = locals(args.host.as_deref(), &[&old, &new])?;
    let d = rampart_analysis::diff_with(&old, &new, &locals).map_err(|e| anyhow!("{e}"))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&d)?)?;
    } else if d.is_empty() {
        writeln!(
            out,
            "no packet changes fate between {} and {}",
            rampart_safeio::escaped(&old_name),
            rampart_safeio::escaped(&new_name)
        )?;
    } else {
        writeln!(
            out,
            "packets whose fate changes from {} to {}:",
            rampart_safeio::escaped(&old_name),
            rampart_safeio::escaped(&new_name)
        )?;
        write_diff(&mut out, &d, usize::MAX)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `rampart exposure`.
pub fn exposure(args: ExposureArgs) -> Result<ExitCode> {
    let (mut ruleset, name) = load(args.file.as_deref(), &args.input)?;
    // What the kernel adds before the policy: the block lists and the running bans.
    let state = super::apply::state_dir(&args.state)?;
    let store = rampart_enforce::Store::new(state.clone());
    let blocks = rampart_enforce::BlockModel::load(&store, super::unix_now())
        .with_context(|| format!("the block lists of {}", state.root().display()))?;
    if let Some(m) = &blocks {
        m.add_to(&mut ruleset)
            .with_context(|| format!("the block lists of {}", state.root().display()))?;
    }
    let locals = locals(args.host.as_deref(), &[&ruleset])?;
    let e =
        rampart_analysis::exposure_with(&ruleset, &locals).map_err(|e| anyhow!("{name}: {e}"))?;
    // The lockout question on the matrix: the admins' sources (this session's, as the
    // lockout guard finds them) against the SSH ports.
    let (admins, ports) = if args.admin.is_empty() {
        let ssh = std::env::var("SSH_CONNECTION").ok();
        match rampart_session::discover(ssh.as_deref()) {
            Ok(s) => (
                s.admins.iter().map(|a| a.client.ip()).collect::<Vec<_>>(),
                s.listeners
                    .iter()
                    .map(|l| l.addr.port())
                    .collect::<Vec<_>>(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        }
    } else {
        (args.admin.clone(), Vec::new())
    };
    let mut ports = if args.ssh_port.is_empty() {
        ports
    } else {
        args.ssh_port.clone()
    };
    if ports.is_empty() {
        ports.push(22);
    }
    ports.sort_unstable();
    ports.dedup();
    let mut checks = Vec::new();
    for a in &admins {
        for p in &ports {
            let access = rampart_analysis::reaches(&ruleset, *a, *p).map_err(|e| anyhow!("{e}"))?;
            checks.push((*a, *p, access));
        }
    }
    let locked = checks.iter().any(|(_, _, a)| *a != Access::Open);
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "ruleset": name,
            "block_lists": blocks.as_ref().map(|m| serde_json::json!({
                "lists": m.list_count(), "prefixes": m.prefix_count(), "bans": m.ban_count(),
            })),
            "services": e.services,
            "lockout_check": checks.iter().map(|(a, p, x)| serde_json::json!({
                "admin": a, "port": p, "access": x,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "new connections to this host allowed by {}:",
            rampart_safeio::escaped(&name)
        )?;
        if let Some(m) = &blocks {
            writeln!(out, "  ({})", super::trace::block_summary(m))?;
        }
        if e.services.is_empty() {
            writeln!(out, "  none: no TCP or UDP port is open to anyone")?;
        }
        for s in &e.services {
            let fam = match s.family {
                rampart_ruleset::Family::Ipv4 => "ipv4",
                rampart_ruleset::Family::Ipv6 => "ipv6",
            };
            let how = match s.access {
                Access::Open => "",
                _ => " (rate or history decides)",
            };
            let when = if s.when.is_empty() {
                String::new()
            } else {
                format!(" when {}", s.when.join(", "))
            };
            let ports = match &s.to {
                Some(to) => format!("{} → {to}", s.ports),
                None => s.ports.clone(),
            };
            writeln!(
                out,
                "  {fam} {} {:<12} from {}{when}{how}",
                s.proto,
                ports,
                rampart_safeio::escaped(&s.from)
            )?;
        }
        if checks.is_empty() {
            writeln!(
                out,
                "lockout check: no admin SSH source known (give --admin ADDR)"
            )?;
        }
        for (a, p, x) in &checks {
            let word = match x {
                Access::Open => "ok",
                Access::Maybe => "AT RISK (a rate limit or history decides)",
                Access::Closed => "LOCKOUT",
            };
            writeln!(
                out,
                "lockout check: new SSH connection from {a} to port {p}: {word}"
            )?;
        }
    }
    Ok(if locked {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The state file holding the ruleset of the last apply (iptables-save form): what the
/// kernel's table was compiled from, for the change shown at the next apply.
const APPLIED_RULES: &str = "applied.rules";

/// Prints, before `apply` or `up` changes anything, which packets change fate against
/// what the kernel holds: the ruleset recorded at the last apply while our table's shape
/// (read over netlink) is still the one that apply left, no rampart table at all
/// (everything passes), or, when neither can be known, says so.
pub fn show_change(state: &rampart_kernel::StateDir, new: &Ruleset) -> Result<()> {
    let nft = rampart_kernel::Nft::new();
    let (old, note) = match rampart_kernel::snapshot(&nft) {
        Ok(snap) if snap.shape.is_none() => (
            Some(Ruleset::default()),
            Some("the kernel holds no rampart table"),
        ),
        Ok(snap) => {
            let moved = state.applied()?.is_none_or(|a| a.shape != snap.digest());
            match state.read(APPLIED_RULES)? {
                Some(text) => {
                    let source = Source::new(APPLIED_RULES, text);
                    let parsed = rampart_ruleset::parse_any(&source, Default::default())
                        .map_err(|e| anyhow!("{e}"))?;
                    (
                        Some(parsed.ruleset),
                        moved.then_some(
                            "rampart's table changed since the last apply (by hand or another \
                             tool?): compared with what was applied then",
                        ),
                    )
                }
                None => (None, None),
            }
        }
        Err(_) => (None, None),
    };
    let Some(old) = old else {
        super::apply::say(
            "change: unknown (the rules in the kernel were not applied by this version of \
             rampart)",
        )?;
        return Ok(());
    };
    let d = rampart_analysis::diff(&old, new).map_err(|e| anyhow!("{e}"))?;
    let mut out = std::io::stdout().lock();
    if let Some(n) = note {
        writeln!(out, "note: {n}")?;
    }
    if d.is_empty() {
        writeln!(out, "change: no packet changes fate")?;
    } else {
        writeln!(
            out,
            "change: packets whose fate changes against the kernel's rules:"
        )?;
        write_diff(&mut out, &d, SHOWN_AT_APPLY)?;
    }
    out.flush()?;
    Ok(())
}

/// The ruleset recorded at the last apply, with its name for findings.
fn applied_ruleset(state: &rampart_kernel::StateDir) -> Result<(Ruleset, String)> {
    let path = state.root().join(APPLIED_RULES);
    let name = path.display().to_string();
    let Some(text) = state.read(APPLIED_RULES)? else {
        anyhow::bail!(
            "{}: no ruleset recorded (the last apply was an nft script, or none was made): \
             give the file that was applied",
            rampart_safeio::escaped(&name)
        );
    };
    let parsed = rampart_ruleset::parse_any(&Source::new(name.clone(), text), Default::default())
        .map_err(|e| anyhow!("{e}"))?;
    Ok((parsed.ruleset, name))
}

/// Records `ruleset` as the one the kernel's table now comes from.
pub fn record_applied(state: &rampart_kernel::StateDir, ruleset: &Ruleset) -> Result<()> {
    let mut text = rampart_ruleset::to_save_all(ruleset, false);
    text.push_str(&rampart_ruleset::print_sets(ruleset));
    state.write(APPLIED_RULES, &text)?;
    Ok(())
}

/// Forgets the recorded ruleset (after an apply of a script the analysis cannot read).
pub fn forget_applied(state: &rampart_kernel::StateDir) -> Result<()> {
    state.remove(APPLIED_RULES)?;
    Ok(())
}
