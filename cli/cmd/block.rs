//! `rampart block`: named block lists, country and neighbourhood blocks, timed bans.
//!
//! Flags and rendering only: every operation is `rampart_enforce::Enforcer`'s (the guard
//! daemon uses the same library). This module computes the allowlist once per command
//! (loopback, this host, the admin's SSH sources, the policy's `allow_from`), reads the
//! input files and prints the typed reports.

use std::io::{BufReader, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rampart_block::{parse_target, Allowlist, ListName, DEFAULT_LIST};
use rampart_enforce::{Enforcer, Kernel, Replaced};
use rampart_kernel::StateDir;
use rampart_lists::{Country, CountryDb, ImportOptions};
use rampart_prefix::{Prefix, PrefixSet};

use super::apply::state_dir;
use crate::flags::StateArgs;

/// `rampart block`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart block add 203.0.113.9 --timeout 1h --comment 'ssh brute force'
  rampart block add 198.51.100.0/24 192.0.2.10-192.0.2.20
  rampart block country CN RU --allow 203.0.113.0/24
  rampart block neighbours 198.51.100.7 --prefix 16
  rampart block import spamhaus-drop.txt --list drop
  rampart block test 198.51.100.7
  rampart block lists

Lists are stored in STATE_DIR/lists/NAME.list (aggregated CIDRs) and loaded into a
table of their own, inet rampart_bl_NAME (single addresses in hash sets bl_NAME_4h /
bl_NAME_6h, networks and ranges in interval sets bl_NAME_4 / bl_NAME_6), dropped before
the policy on the input and forward hooks; loopback traffic is never dropped.
Timed bans live in table inet rampart_bans (sets ban_4 / ban_6, flags timeout): the
kernel expires them even while rampart is not running. Imports, countries and
neighbourhoods are loaded less the allowlist (loopback, this host's addresses, the
admin's SSH sources, the policy's allow_from), and say what was kept open. `rampart up`,
`apply` and `restore` bring back every table the kernel lacks, with its contents.")]
pub struct BlockArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BlockCommand,
}

/// Options shared by the commands that change lists.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub state: StateArgs,
    /// The policy file whose `input.allow_from` must never be blocked
    /// [default: /etc/rampart/rampart.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Block even allowlisted addresses (this host, the admin's SSH sources, the
    /// policy's allow_from) and prefixes containing them; imports keep them in. Loopback
    /// is never blocked, and traffic on lo is always accepted.
    #[arg(long)]
    pub force: bool,
}

/// The `block` subcommands.
#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Block addresses, CIDRs or ranges (a range becomes its minimal CIDR list); with
    /// --timeout, a timed ban of single addresses that the kernel lifts by itself.
    Add {
        /// ADDR, CIDR or START-END.
        #[arg(value_name = "TARGET", required = true)]
        targets: Vec<String>,
        /// Ban for this long (`90s`, `30m`, `1h`, `7d`): single addresses only.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Why (kept with the entry, shown by `block list` and `block test`).
        #[arg(long)]
        comment: Option<String>,
        /// The list to add to.
        #[arg(long, value_name = "NAME", default_value = DEFAULT_LIST)]
        list: String,
        #[command(flatten)]
        common: Common,
    },
    /// Unblock addresses, CIDRs or ranges: removed from every list that holds them (or
    /// only from --list) and from the timed bans.
    Del {
        /// ADDR, CIDR or START-END.
        #[arg(value_name = "TARGET", required = true)]
        targets: Vec<String>,
        /// Only from this list.
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the stored entries (all lists, or --list) and the timed bans, each marked
    /// with whether the kernel holds it; with TARGET, only entries overlapping it.
    List {
        /// Only entries overlapping this ADDR, CIDR or range.
        #[arg(value_name = "TARGET")]
        target: Option<String>,
        /// Only this list.
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Is an address blocked, and where: the list and covering prefix in the store and in
    /// the kernel, or the timed ban. Exit 0 when blocked, 1 when not.
    Test {
        /// Addresses.
        #[arg(value_name = "ADDR", required = true)]
        addrs: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Block whole countries (one list per country, `country-cn`, replaced atomically),
    /// from a tor geoip file or a .mmdb country database.
    Country {
        /// ISO country codes (CN RU).
        #[arg(value_name = "CC", required = true)]
        countries: Vec<String>,
        /// Exceptions: never block these (subtracted from the country's ranges).
        #[arg(long, value_name = "CIDR")]
        allow: Vec<String>,
        /// Country database: .mmdb or tor geoip file, repeatable
        /// [default: /usr/share/tor/geoip and geoip6].
        #[arg(long, value_name = "FILE")]
        db: Vec<PathBuf>,
        /// Put all the countries in this one list instead.
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
        /// Refuse a database with more than N entries (networks or lines), changing nothing.
        #[arg(long, value_name = "N", default_value_t = rampart_lists::DEFAULT_MAX_ENTRIES)]
        max_entries: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Block the network around an address (its /16 by default).
    Neighbours {
        /// The address.
        #[arg(value_name = "ADDR")]
        addr: String,
        /// Prefix length of the neighbourhood.
        #[arg(long, default_value_t = 16)]
        prefix: u8,
        /// The list to add to.
        #[arg(long, value_name = "NAME", default_value = "neighbours")]
        list: String,
        /// Why.
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Replace a list with the contents of a file (plain list of IPs, CIDRs and ranges
    /// with comments, a zone file, or `ipset save` output), atomically. A bad line fails
    /// the import and changes nothing unless --skip-invalid.
    Import {
        /// The file (`-` for standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The list to replace.
        #[arg(long, value_name = "NAME", required = true)]
        list: String,
        /// Skip malformed lines (reporting how many and the first ones).
        #[arg(long)]
        skip_invalid: bool,
        /// Refuse a file with more than N entries, changing nothing. Lines longer than
        /// 4096 bytes and inputs larger than 512 MiB are refused too.
        #[arg(long, value_name = "N", default_value_t = rampart_lists::DEFAULT_MAX_ENTRIES)]
        max_entries: usize,
        /// One list for the whole fleet: stored in the shared store of the policy's
        /// `[fleet]` (one transaction) and loaded by every server's guard, this one too.
        #[arg(long)]
        fleet: bool,
        #[command(flatten)]
        common: Common,
    },
    /// The lists: name, prefixes, addresses, and whether the kernel has them.
    Lists {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
}

/// Runs `rampart block ...`.
pub fn run(args: BlockArgs) -> Result<ExitCode> {
    match args.command {
        BlockCommand::Add {
            targets,
            timeout,
            comment,
            list,
            common,
        } => add(&targets, timeout, comment, &list, &common),
        BlockCommand::Del {
            targets,
            list,
            state,
        } => del(&targets, list.as_deref(), &state),
        BlockCommand::List {
            target,
            list,
            json,
            state,
        } => list_cmd(target.as_deref(), list.as_deref(), json, &state),
        BlockCommand::Test { addrs, json, state } => test(&addrs, json, &state),
        BlockCommand::Country {
            countries,
            allow,
            db,
            list,
            max_entries,
            common,
        } => country(
            &countries,
            &allow,
            &db,
            list.as_deref(),
            max_entries,
            &common,
        ),
        BlockCommand::Neighbours {
            addr,
            prefix,
            list,
            comment,
            common,
        } => {
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| anyhow!("`{addr}` is not an IP address"))?;
            let ip = rampart_prefix::unmap_addr(ip);
            let net = Prefix::new(ip, prefix).ok_or_else(|| {
                anyhow!(
                    "--prefix {prefix} is too long for {ip} (at most {})",
                    if ip.is_ipv4() { 32 } else { 128 }
                )
            })?;
            let net = Prefix::new(net.range().start(), prefix).expect("checked");
            neighbours(net, &list, comment, &common)
        }
        BlockCommand::Import {
            file,
            list,
            skip_invalid,
            max_entries,
            fleet,
            common,
        } => import(&file, &list, skip_invalid, max_entries, fleet, &common),
        BlockCommand::Lists { json, state } => lists(json, &state),
    }
}

// ---------------------------------------------------------------------------------------
// What the commands share.

/// `90`, `90s`, `30m`, `1h`, `7d`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (90s, 30m, 1h, 7d)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("`{text}` is not a duration (90s, 30m, 1h, 7d)")),
    };
    if secs == 0 {
        return Err("a timeout must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s % 86400 == 0 => format!("{}d", s / 86400),
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// `1 prefix`, `7 prefixes`.
fn n_prefixes(n: usize) -> String {
    if n == 1 {
        "1 prefix".into()
    } else {
        format!("{n} prefixes")
    }
}

fn enforcer(state: &StateArgs) -> Result<Enforcer> {
    Ok(Enforcer::new(state_dir(state)?, Kernel::default()))
}

/// This host's allowlist: loopback, its addresses, the admin's SSH sources and the
/// policy's `allow_from` (the given file, else /etc/rampart/rampart.toml when present).
fn allowlist(common: &Common) -> Result<Allowlist> {
    let default = Path::new(rampart_policy::DEFAULT_PATH);
    let path = common
        .policy
        .as_deref()
        .or_else(|| default.exists().then_some(default));
    let mut extra = Vec::new();
    if let Some(path) = path {
        // The policy's allow_from only: parsed and validated, not compiled.
        let source = crate::input::read_trusted(path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?;
        let policy = rampart_policy::Policy::parse(&source)?;
        for entry in &policy.allow_from {
            extra.push((
                entry.prefix,
                format!("policy allow_from ({})", path.display()),
            ));
        }
    }
    let ssh = std::env::var("SSH_CONNECTION").ok();
    let (allow, warnings) = rampart_enforce::discover_allowlist(ssh.as_deref(), extra);
    for w in warnings {
        eprintln!("rampart: warning: {w}");
    }
    Ok(allow)
}

/// Says which allowlisted addresses `--force` lets through.
fn warn_forced(allow: &Allowlist, targets: &[Prefix], force: bool) {
    if !force {
        return;
    }
    let msg: String = targets
        .iter()
        .flat_map(|t| allow.conflicts(*t))
        .map(|c| format!("\n  {c}"))
        .collect();
    if !msg.is_empty() {
        eprintln!("rampart: warning: blocking allowlisted addresses (--force):{msg}");
    }
}

fn targets(texts: &[String]) -> Result<Vec<Prefix>> {
    let mut out = Vec::new();
    for t in texts {
        out.extend(parse_target(t)?);
    }
    Ok(out)
}

fn joined(prefixes: &[Prefix]) -> String {
    prefixes
        .iter()
        .map(Prefix::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------
// Progress on a terminal.

/// A spinner with the current step and, while a list is encoded, a bar of its elements;
/// drawn on stderr when it is a terminal, hidden otherwise.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new() -> Progress {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        let p = Progress { bar };
        p.spin();
        p
    }

    fn spin(&self) {
        self.bar.set_style(
            ProgressStyle::with_template("[{elapsed:>4}] {spinner} {msg}").expect("valid template"),
        );
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

impl rampart_enforce::Progress for Progress {
    fn step(&self, what: &str) {
        if self.bar.is_finished() {
            self.bar.reset();
            self.spin();
        }
        self.bar.set_message(what.to_string());
    }

    fn encoded(&self, n: usize, total: usize, name: &ListName) {
        if n < total {
            if self.bar.length() != Some(total as u64) {
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "[{elapsed:>4}] {bar:40} {human_pos}/{human_len} {msg}",
                    )
                    .expect("valid template"),
                );
                self.bar.set_length(total as u64);
                self.bar.set_message(format!("encoding list {name}"));
            }
            self.bar.set_position(n as u64);
        } else {
            self.spin();
            self.bar.set_message(format!(
                "kernel committing list {name} ({total} intervals, one transaction)"
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Commands.

fn say(line: &str) -> Result<()> {
    super::apply::say(line)
}

fn add(
    texts: &[String],
    timeout: Option<Duration>,
    comment: Option<String>,
    list: &str,
    common: &Common,
) -> Result<ExitCode> {
    let name = ListName::new(list)?;
    let prefixes = targets(texts)?;
    let allow = allowlist(common)?;
    let mut e = enforcer(&common.state)?;
    if let Some(ttl) = timeout {
        if let Some(net) = prefixes.iter().find(|p| !p.is_host()) {
            return Err(rampart_enforce::Error::TimedNetwork(*net).into());
        }
        let addrs: Vec<IpAddr> = prefixes.iter().map(|p| p.addr()).collect();
        warn_forced(&allow, &prefixes, common.force);
        let bans = e.ban(
            &addrs,
            ttl,
            &name,
            comment.as_deref(),
            &allow,
            common.force,
            super::unix_now(),
        )?;
        for b in bans {
            say(&format!(
                "banned {} for {} (set {}, expires by itself)",
                b.addr,
                human(ttl),
                if b.addr.is_ipv4() { "ban_4" } else { "ban_6" }
            ))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    warn_forced(&allow, &prefixes, common.force);
    let progress = Progress::new();
    let done = e.block(
        &name,
        &prefixes,
        comment.as_deref(),
        &allow,
        common.force,
        &progress,
    )?;
    progress.done();
    for at in &done.already {
        say(&format!(
            "already blocked: {} (list {})",
            at.prefix, at.list
        ))?;
    }
    match done.reloaded {
        None => {
            for p in &done.added {
                say(&format!("blocked {p} (list {name})"))?;
            }
        }
        Some(n) => say(&format!(
            "blocked {} (list {name} reloaded in one transaction: {})",
            joined(&done.added),
            n_prefixes(n)
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `block neighbours`: the network around an address, less the allowlist (said).
fn neighbours(
    net: Prefix,
    list: &str,
    comment: Option<String>,
    common: &Common,
) -> Result<ExitCode> {
    let name = ListName::new(list)?;
    let allow = allowlist(common)?;
    let mut whole = PrefixSet::new();
    whole.insert(net);
    let (rest, carved) = allow.carve(&whole, common.force);
    for c in &carved {
        say(&format!("kept open: {c}"))?;
    }
    let prefixes = rest.prefixes();
    if prefixes.is_empty() {
        bail!("nothing left of {net} to block after the allowlist");
    }
    let mut e = enforcer(&common.state)?;
    let progress = Progress::new();
    // The allowlist was carved out above; what is left conflicts with nothing.
    let done = e.block(
        &name,
        &prefixes,
        comment.as_deref(),
        &allow,
        true,
        &progress,
    )?;
    progress.done();
    say(&format!(
        "blocked {net}{} (list {name}{})",
        if carved.is_empty() {
            String::new()
        } else {
            format!(" less {} allowlisted", n_prefixes(carved.len()))
        },
        done.reloaded
            .map(|n| format!(", reloaded in one transaction: {}", n_prefixes(n)))
            .unwrap_or_default()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn del(texts: &[String], only: Option<&str>, state: &StateArgs) -> Result<ExitCode> {
    let only = only.map(ListName::new).transpose()?;
    let prefixes = targets(texts)?;
    let mut e = enforcer(state)?;
    let progress = Progress::new();
    let done = e.unblock(&prefixes, only.as_ref(), &progress, super::unix_now())?;
    progress.done();
    for (n, reloaded) in &done.lists {
        say(&format!(
            "unblocked {} (list {n}{})",
            joined(&prefixes),
            reloaded
                .map(|len| format!(", reloaded in one transaction: {}", n_prefixes(len)))
                .unwrap_or_default()
        ))?;
    }
    for a in &done.bans_lifted {
        say(&format!("ban lifted: {a}"))?;
    }
    if done.lists.is_empty() && done.bans_lifted.is_empty() {
        eprintln!("rampart: not blocked: {}", texts.join(" "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `block list`: streams the store, one line per stored prefix, then the bans. The
/// kernel is asked once per list whether it holds the list's sets (never per entry).
fn list_cmd(
    target: Option<&str>,
    only: Option<&str>,
    json: bool,
    state: &StateArgs,
) -> Result<ExitCode> {
    let filter = target.map(parse_target).transpose()?;
    let only = only.map(ListName::new).transpose()?;
    let mut e = enforcer(state)?;
    let now = super::unix_now();
    let (lists, _) = e.lists(now)?;
    let keep = |p: Prefix| {
        filter.as_ref().is_none_or(|f| {
            f.iter()
                .any(|q| q.contains(p.addr()) || p.contains(q.addr()))
        })
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut shown = 0usize;
    if json {
        out.write_all(b"{\"entries\":[")?;
    }
    for l in &lists {
        if only.as_ref().is_some_and(|o| o.as_str() != l.name) {
            continue;
        }
        let name = ListName::new(&l.name)?;
        if l.loaded == Some(false) {
            eprintln!(
                "rampart: list {} is stored but not in the kernel (run `rampart restore`)",
                l.name
            );
        }
        e.store().for_each_line(&name, &mut |_, line| {
            let (entry, comment) = match line.split_once(" # ") {
                Some((p, c)) => (p, Some(c)),
                None => (line, None),
            };
            if filter.is_some() && !entry.parse::<Prefix>().is_ok_and(keep) {
                return Ok(());
            }
            let r = if json {
                let row = serde_json::json!({
                    "list": l.name, "prefix": entry, "comment": comment, "in_kernel": l.loaded,
                });
                let sep = if shown == 0 { "" } else { "," };
                write!(out, "{sep}\n{row}")
            } else {
                match comment {
                    Some(c) => writeln!(out, "{:<12} {entry}  # {c}", l.name),
                    None => writeln!(out, "{:<12} {entry}", l.name),
                }
            };
            shown += 1;
            r.map_err(|source| rampart_enforce::Error::Io {
                path: "standard output".into(),
                source,
            })
        })?;
    }
    // Bans the kernel made itself ([flood] limits): only when no list was named, or the
    // name is the limit's `flood:NAME`.
    let kernel_bans: Vec<_> = e
        .kernel_bans()
        .unwrap_or_default()
        .into_iter()
        .filter(|k| keep(Prefix::host(k.addr)))
        .filter(|k| {
            only.as_ref()
                .is_none_or(|o| o.as_str() == format!("flood:{}", k.limit))
        })
        .collect();
    let bans = e.store().bans()?;
    let running: Vec<_> = bans
        .bans
        .values()
        .filter(|b| b.expires > now && keep(Prefix::host(b.addr)))
        .filter(|b| only.as_ref().is_none_or(|o| o.as_str() == b.list))
        .collect();
    if json {
        out.write_all(b"\n],\"bans\":[")?;
        for (i, b) in running.iter().enumerate() {
            let row = serde_json::json!({
                "addr": b.addr, "expires": b.expires, "list": b.list, "comment": b.comment,
                "remaining_secs": b.expires - now,
            });
            write!(out, "{}\n{row}", if i == 0 { "" } else { "," })?;
        }
        out.write_all(b"\n],\"kernel_bans\":[")?;
        for (i, k) in kernel_bans.iter().enumerate() {
            let row = serde_json::to_string(k)?;
            write!(out, "{}\n{row}", if i == 0 { "" } else { "," })?;
        }
        out.write_all(b"\n]}\n")?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    for b in &running {
        let c = b
            .comment
            .as_deref()
            .map(|c| format!("  # {c}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{:<12} {}  timed ban, {} left{c}",
            b.list,
            b.addr,
            human(Duration::from_secs(b.expires - now))
        )?;
    }
    for k in &kernel_bans {
        writeln!(
            out,
            "{:<12} {}  banned by the kernel (flood limit {}){}",
            format!("flood:{}", k.limit),
            k.addr,
            k.limit,
            left_text(k.expires_secs)
        )?;
    }
    if shown == 0 && running.is_empty() && kernel_bans.is_empty() {
        writeln!(out, "nothing blocked")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn test(addrs: &[String], json: bool, state: &StateArgs) -> Result<ExitCode> {
    let mut ips = Vec::new();
    for a in addrs {
        let ip: IpAddr = a
            .parse()
            .map_err(|_| anyhow!("`{a}` is not an IP address"))?;
        ips.push(rampart_prefix::unmap_addr(ip));
    }
    let mut e = enforcer(state)?;
    let now = super::unix_now();
    let mut rows = Vec::new();
    for ip in ips {
        rows.push(e.test(ip, now)?);
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        for r in &rows {
            if r.lists.is_empty() && r.ban.is_none() && r.kernel_bans.is_empty() {
                writeln!(out, "{}: not blocked", r.address)?;
                continue;
            }
            let in_kernel = !r.kernel_bans.is_empty()
                || r.lists.iter().any(|h| h.kernel_element.is_some())
                || r.ban
                    .as_ref()
                    .is_some_and(|b| b.kernel_expires_secs.is_some());
            writeln!(
                out,
                "{}: {}",
                r.address,
                if in_kernel || !r.kernel_readable {
                    "blocked"
                } else {
                    "NOT blocked in the kernel (stored only: run `rampart up` or `rampart restore`)"
                }
            )?;
            for h in &r.lists {
                let c = h
                    .comment
                    .as_deref()
                    .map(|c| format!("  # {c}"))
                    .unwrap_or_default();
                writeln!(out, "  list {}: {}{c}", h.list, h.prefix)?;
                if let Some(el) = &h.kernel_element {
                    writeln!(out, "  kernel: set {} holds {el}", h.set)?;
                }
            }
            if let Some(b) = &r.ban {
                writeln!(
                    out,
                    "  timed ban ({}), {} left",
                    b.ban.list,
                    human(Duration::from_secs(
                        b.ban.expires.saturating_sub(now).max(1)
                    ))
                )?;
                if let Some(s) = b.kernel_expires_secs {
                    writeln!(
                        out,
                        "  kernel: set {} holds {}, expires in {}",
                        b.set,
                        b.ban.addr,
                        human(Duration::from_secs(s.max(1)))
                    )?;
                }
            }
            for k in &r.kernel_bans {
                writeln!(
                    out,
                    "  banned by the kernel: flood limit {} (set {}){}",
                    k.limit,
                    k.set,
                    left_text(k.expires_secs)
                )?;
            }
        }
        if rows.iter().any(|r| !r.kernel_readable) {
            writeln!(out, "note: the kernel's sets could not be read (not root?)")?;
        }
    }
    Ok(if rows.iter().all(|r| r.blocked) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Replaces list `name` with `set` less the allowlist, and says what was kept open.
fn replace(
    name: &ListName,
    set: &PrefixSet,
    common: &Common,
    progress: &Progress,
) -> Result<Replaced> {
    let allow = allowlist(common)?;
    let mut e = enforcer(&common.state)?;
    let done = e.replace(name, set, &allow, common.force, progress)?;
    progress.done();
    for c in &done.carved {
        say(&format!("kept open (allowlisted, not loaded): {c}"))?;
    }
    Ok(done)
}

fn import(
    file: &Path,
    list: &str,
    skip_invalid: bool,
    max_entries: usize,
    fleet: bool,
    common: &Common,
) -> Result<ExitCode> {
    let name = ListName::new(list)?;
    // Connected before anything is read or changed: a fleet that cannot be reached
    // changes nothing here either.
    let mut fleet = match fleet {
        true => Some(super::fleet::connect(common.policy.as_deref())?),
        false => None,
    };
    let opts = crate::input::import_options(ImportOptions {
        skip_invalid,
        max_entries,
        ..ImportOptions::default()
    });
    let progress = Progress::new();
    rampart_enforce::Progress::step(&progress, &format!("reading {}", file.display()));
    // Streamed: the importers read line by line within their limits (line length, input
    // size, entries), so neither a huge file nor an endless stdin is read whole.
    let (label, input): (String, Box<dyn std::io::Read>) = if file == Path::new("-") {
        ("<stdin>".to_string(), Box::new(std::io::stdin().lock()))
    } else {
        (
            file.display().to_string(),
            Box::new(
                std::fs::File::open(file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
            ),
        )
    };
    // The first 4 KiB tell an `ipset save` file from a list; they are read again after.
    let mut input = BufReader::new(input);
    let mut head = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut input, 4096), &mut head)
        .with_context(|| format!("cannot read {label}"))?;
    let is_ipset = String::from_utf8_lossy(&head)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("create ") || l.starts_with("add "));
    let input = BufReader::new(std::io::Read::chain(&head[..], input));
    let (set, skipped, lines) = if is_ipset {
        let got = rampart_lists::read_ipset(input, &label, opts)
            .map_err(|e| anyhow!("{e}\nnothing was changed"))?;
        let mut set = PrefixSet::new();
        for s in got.items {
            set.extend(s.entries);
        }
        (set, got.skipped, got.lines)
    } else {
        let got = rampart_lists::read_plain(input, &label, opts).map_err(|e| {
            anyhow!("{e}\nnothing was changed (give --skip-invalid to load the valid lines)")
        })?;
        rampart_enforce::Progress::step(
            &progress,
            &format!("aggregating {} entries", got.items.len()),
        );
        let set: PrefixSet = got.items.into_iter().collect();
        (set, got.skipped, got.lines)
    };
    if let Some(f) = fleet.as_mut() {
        rampart_enforce::Progress::step(
            &progress,
            &format!(
                "storing list {name} for the fleet ({} prefixes, one transaction)",
                set.prefix_count()
            ),
        );
        f.import_list(name.as_str(), &set.prefixes(), &label)?;
        say(&format!(
            "list {name} stored in the fleet ({}): every server's guard loads it within a second",
            f.endpoint()
        ))?;
    }
    let done = replace(&name, &set, common, &progress)?;
    say(&format!(
        "imported {label}: {lines} lines -> list {name}: {} ({} IPv4 addresses), loaded in one transaction",
        n_prefixes(done.summary.prefixes),
        done.summary.ipv4_addresses
    ))?;
    if skipped.count > 0 {
        eprintln!("rampart: {skipped}");
    }
    Ok(ExitCode::SUCCESS)
}

fn country(
    codes: &[String],
    allow: &[String],
    dbs: &[PathBuf],
    one_list: Option<&str>,
    max_entries: usize,
    common: &Common,
) -> Result<ExitCode> {
    let mut wanted = Vec::new();
    for c in codes {
        wanted.push(Country::new(c).ok_or_else(|| {
            anyhow!("`{c}` is not a country code (two letters, ISO 3166: CN, RU, US)")
        })?);
    }
    let mut except = PrefixSet::new();
    for a in allow {
        for p in parse_target(a)? {
            except.insert(p);
        }
    }
    let one_list = one_list.map(ListName::new).transpose()?;
    let progress = Progress::new();
    rampart_enforce::Progress::step(&progress, "reading the country database");
    let per_country = load_countries(dbs, &wanted, max_entries)?;
    let mut groups: Vec<(ListName, PrefixSet, Vec<Country>)> = Vec::new();
    for (cc, set) in per_country {
        let set = set.difference(&except);
        if set.is_empty() {
            bail!("no addresses for country {cc} in the database (after --allow)");
        }
        match &one_list {
            Some(n) => match groups.first_mut() {
                Some(g) => {
                    g.1 = g.1.union(&set);
                    g.2.push(cc);
                }
                None => groups.push((n.clone(), set, vec![cc])),
            },
            None => groups.push((
                ListName::new(&format!("country-{}", cc.as_str()))?,
                set,
                vec![cc],
            )),
        }
    }
    for (name, set, ccs) in groups {
        let done = replace(&name, &set, common, &progress)?;
        say(&format!(
            "blocked {}: list {name}, {} ({} IPv4 addresses, {} IPv6 prefixes), loaded in one transaction",
            ccs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "),
            n_prefixes(done.summary.prefixes),
            done.summary.ipv4_addresses,
            done.summary.ipv6_prefixes
        ))?;
    }
    if !except.is_empty() {
        say(&format!(
            "exceptions kept open: {}",
            joined(&except.prefixes())
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Each wanted country's prefixes from the databases.
fn load_countries(
    paths: &[PathBuf],
    wanted: &[Country],
    max_entries: usize,
) -> Result<Vec<(Country, PrefixSet)>> {
    let paths = &super::geo::country_databases(paths)?;
    let mut sets: Vec<(Country, PrefixSet)> =
        wanted.iter().map(|c| (*c, PrefixSet::new())).collect();
    let opts = ImportOptions {
        max_entries,
        ..ImportOptions::default()
    };
    for path in paths {
        let db =
            super::geo::read_db(path, opts).map_err(|e| anyhow!("{e:#}\nnothing was changed"))?;
        let mut add = |c: Country, f: &mut dyn FnMut(&mut PrefixSet)| {
            if let Some(s) = sets.iter_mut().find(|(w, _)| *w == c) {
                f(&mut s.1);
            }
        };
        match db {
            CountryDb::Mmdb(got) => {
                for (p, c) in got.items {
                    add(c, &mut |s| s.insert(p));
                }
            }
            CountryDb::TorGeoip(got) => {
                for (r, c) in got.items {
                    add(c, &mut |s| s.insert_range(r));
                }
            }
        }
    }
    Ok(sets)
}

fn lists(json: bool, state: &StateArgs) -> Result<ExitCode> {
    let mut e = enforcer(state)?;
    let (rows, bans) = e.lists(super::unix_now())?;
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({ "lists": rows, "timed_bans": bans });
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<16} {:>10} {:>14} {:>10} {:>10}",
        "LIST", "PREFIXES", "IPV4 ADDRS", "IPV6 NETS", "KERNEL"
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:<16} {:>10} {:>14} {:>10} {:>10}",
            r.name,
            r.summary.prefixes,
            r.summary.ipv4_addresses,
            r.summary.ipv6_prefixes,
            match r.loaded {
                Some(true) => "loaded",
                Some(false) => "MISSING",
                None => "-",
            }
        )?;
    }
    writeln!(out, "timed bans: {bans}")?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// `up`, `apply` and `restore`.

/// After an apply or at boot: brings back the block tables the kernel lacks, with their
/// lists and running bans. Returns a line to print, if anything was loaded.
pub fn load_after(state: &StateDir) -> Result<Option<String>> {
    let mut e = Enforcer::new(state.clone(), Kernel::default());
    let progress = Progress::new();
    let done = e.restore(&progress, super::unix_now())?;
    progress.done();
    if done.lists.is_empty() && done.bans == 0 {
        return Ok(None);
    }
    Ok(Some(format!(
        "block lists loaded: {}; timed bans re-added: {}",
        if done.lists.is_empty() {
            "none needed".to_string()
        } else {
            done.lists
                .iter()
                .map(|(n, len)| format!("{n} ({len})"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        done.bans
    )))
}

/// Gives the applied policy's `[flood]` meters the admin's live SSH sources to skip (for
/// `up`); returns them, or `None` when the policy has no `[flood]`.
pub fn flood_admins(state: &StateDir) -> Result<Option<Vec<IpAddr>>> {
    let ssh = std::env::var("SSH_CONNECTION").ok();
    let admins: Vec<IpAddr> = rampart_enforce::admin_sources(ssh.as_deref())
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    let mut e = Enforcer::new(state.clone(), Kernel::default());
    Ok(e.set_flood_admins(&admins)?.then_some(admins))
}

/// Records and applies `[flood] early_drop` (for `up`); returns the interfaces absent.
pub fn set_early_drop(state: &StateDir, devices: &[String]) -> Result<Vec<String>> {
    let mut e = Enforcer::new(state.clone(), Kernel::default());
    Ok(e.set_early_drop(devices)?)
}

/// The lists with their sizes and kernel state, and the running bans (for `status`).
pub fn states(state: &StateDir) -> Result<(Vec<rampart_enforce::ListState>, usize)> {
    Ok(Enforcer::new(state.clone(), Kernel::default()).lists(super::unix_now())?)
}

/// `rampart down`: the block tables go too (the store keeps the lists).
pub fn remove_from_kernel(state: &StateDir) -> Result<Vec<String>> {
    Ok(Enforcer::new(state.clone(), Kernel::default()).remove_from_kernel()?)
}

/// `, 9m58s left` for a kernel ban's expiry, empty when it has none.
fn left_text(expires_secs: Option<u64>) -> String {
    expires_secs
        .map(|s| format!(", {} left", human(Duration::from_secs(s.max(1)))))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(human(Duration::from_secs(5400)), "90m");
    }
}
