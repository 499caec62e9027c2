//! `rampart block`: named block lists, country and neighbourhood blocks, timed bans.
//!
//! The pure parts (storage format, nft layout, reload transaction, allowlist check) are in
//! `rampart-block`; this module reads and writes the state directory (`lists/`), talks to
//! the kernel (`rampart-nfnl` for elements, whole lists included; nft only to declare the
//! sets and chains) and finds the
//! addresses that must never be blocked (loopback, this host, the admin's SSH sources, the
//! policy's `allow_from`).

use std::collections::BTreeMap;
use std::io::{BufReader, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rampart_block::{
    parse_target, set_name, Allowlist, Ban, Bans, Conflict, Layout, List, ListName, Located,
    BAN_SET_V4, BAN_SET_V6, DEFAULT_LIST,
};
use rampart_kernel::{write_atomic, Nft, StateDir};
use rampart_lists::{Country, ImportOptions};
use rampart_nfnl::{Element, SetClient, SetRef};
use rampart_prefix::{Prefix, PrefixSet};
use serde::Serialize;

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

Lists are stored in STATE_DIR/lists/NAME.list (aggregated CIDRs) and loaded into
table inet rampart as interval sets bl_NAME_4 / bl_NAME_6, dropped before the policy on
the input and forward hooks. Timed bans live in the sets ban_4 / ban_6 (flags timeout):
the kernel expires them even while rampart is not running. `rampart up`, `apply` and
`restore` bring every list back with its contents.")]
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
    /// Block even allowlisted addresses (loopback, this host, the admin's SSH source,
    /// the policy's allow_from) and prefixes containing them.
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
            common,
        } => country(&countries, &allow, &db, list.as_deref(), &common),
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
            add(&[net.to_string()], None, comment, &list, &common)
        }
        BlockCommand::Import {
            file,
            list,
            skip_invalid,
            common,
        } => import(&file, &list, skip_invalid, &common),
        BlockCommand::Lists { json, state } => lists(json, &state),
    }
}

// ---------------------------------------------------------------------------------------
// The store: STATE_DIR/lists/NAME.list and STATE_DIR/lists/bans.

/// The `lists/` directory of the state dir.
struct Store {
    state: StateDir,
}

impl Store {
    fn new(state: StateDir) -> Store {
        Store { state }
    }

    fn dir(&self) -> PathBuf {
        self.state.path("lists")
    }

    fn names(&self) -> Result<Vec<ListName>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(self.dir()) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).context(format!("reading {}", self.dir().display())),
        };
        for e in rd {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".list") {
                if let Ok(n) = ListName::new(stem) {
                    out.push(n);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn exists(&self, name: &ListName) -> bool {
        self.dir().join(name.file_name()).exists()
    }

    fn load(&self, name: &ListName) -> Result<List> {
        let p = self.dir().join(name.file_name());
        match std::fs::read_to_string(&p) {
            Ok(text) => Ok(List::parse(&text, &p.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(List::new(name.clone())),
            Err(e) => Err(e).context(format!("reading {}", p.display())),
        }
    }

    fn save(&self, list: &List) -> Result<()> {
        let p = self.dir().join(list.name.file_name());
        write_atomic(&p, list.to_text().as_bytes())?;
        Ok(())
    }

    fn bans(&self) -> Result<Bans> {
        let p = self.dir().join("bans");
        match std::fs::read_to_string(&p) {
            Ok(text) => Ok(Bans::parse(&text, &p.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Bans::default()),
            Err(e) => Err(e).context(format!("reading {}", p.display())),
        }
    }

    fn save_bans(&self, bans: &Bans) -> Result<()> {
        write_atomic(
            &self.dir().join("bans"),
            bans.to_text(unix_now()).as_bytes(),
        )?;
        Ok(())
    }

    /// The kernel layout for the stored lists plus `extra`.
    fn layout(&self, extra: Option<&ListName>) -> Result<Layout> {
        let mut names = self.names()?;
        names.extend(extra.cloned());
        Ok(Layout::new(names))
    }

    /// Whether anything was ever blocked (then the layout belongs in every apply).
    fn in_use(&self) -> bool {
        self.dir().exists()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

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

// ---------------------------------------------------------------------------------------
// The kernel.

/// Our table's block sets: elements over netlink, declarations through nft.
struct Kernel {
    nft: Nft,
    client: Option<SetClient>,
}

impl Kernel {
    fn new() -> Kernel {
        Kernel {
            nft: Nft::new(),
            client: None,
        }
    }

    fn client(&mut self) -> Result<&mut SetClient> {
        if self.client.is_none() {
            self.client = Some(SetClient::open()?);
        }
        Ok(self.client.as_mut().expect("opened"))
    }

    fn has_set(&mut self, name: &str) -> bool {
        match self.client() {
            Ok(c) => c.info(&SetRef::inet("rampart", name)).is_ok(),
            Err(_) => false,
        }
    }

    /// Makes the table hold the block sets and chains of `layout` when a set is missing.
    fn ensure(&mut self, layout: &Layout) -> Result<()> {
        let mut names = vec![BAN_SET_V4.to_string(), BAN_SET_V6.to_string()];
        for l in &layout.lists {
            names.push(set_name(l, true));
            names.push(set_name(l, false));
        }
        if names.iter().all(|n| self.has_set(n)) {
            return Ok(());
        }
        self.nft
            .load(&layout.ensure_script())
            .context("adding the block sets and chains to table inet rampart")?;
        Ok(())
    }

    /// Replaces the list's contents (both families) in one netlink transaction: a flush of
    /// each set and the new elements ([`SetClient::replace_sets`]). The kernel swaps the
    /// contents at commit, so no packet sees the list empty; a refusal keeps the old ones.
    /// nft only declares the sets and chains, when one is missing ([`Kernel::ensure`]).
    fn reload(&mut self, layout: &Layout, list: &List, progress: &Progress) -> Result<()> {
        self.ensure(layout)?;
        // One interval per range of the list, not per stored CIDR: the same addresses in
        // fewer kernel keys (a country's CIDRs often join into far fewer ranges), and the
        // kernel's insert, not our encoding, is what a big load waits for.
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for r in list.set().ranges() {
            if r.start().is_ipv4() {
                v4.push(Element::from(r))
            } else {
                v6.push(Element::from(r))
            }
        }
        let total = v4.len() + v6.len();
        let (s4, s6) = (
            SetRef::inet("rampart", &set_name(&list.name, true)),
            SetRef::inet("rampart", &set_name(&list.name, false)),
        );
        self.client()?
            .replace_sets(&[(&s4, &v4), (&s6, &v6)], &mut |n| {
                progress.encoded(n, total, &list.name)
            })
            .with_context(|| format!("loading list {} into the kernel", list.name))?;
        Ok(())
    }

    fn list_set(&mut self, name: &str) -> Result<Vec<rampart_nfnl::Entry>> {
        Ok(self.client()?.list(&SetRef::inet("rampart", name))?)
    }
}

fn element_contains(e: &Element, ip: IpAddr) -> bool {
    match e {
        Element::Prefix(p) => p.contains(ip),
        Element::Range { start, end } => {
            start.is_ipv4() == ip.is_ipv4() && *start <= ip && end.is_none_or(|end| ip < end)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// The allowlist.

/// Loopback, this host's addresses, the admin's SSH sources, the policy's allow_from.
fn allowlist(common: &Common) -> Result<Allowlist> {
    let mut a = Allowlist::loopback();
    match rampart_session::system_host() {
        Ok(host) => {
            for i in &host.interfaces {
                for addr in &i.addrs {
                    a.push(
                        Prefix::host(addr.addr),
                        format!("this host's address on {}", i.name),
                    );
                }
            }
        }
        Err(e) => eprintln!("rampart: warning: cannot read this host's addresses: {e}"),
    }
    let ssh = std::env::var("SSH_CONNECTION").ok();
    match rampart_session::discover(ssh.as_deref()) {
        Ok(sessions) => {
            for s in sessions.admins {
                a.push(
                    Prefix::host(s.client.ip()),
                    format!("admin SSH session to port {}", s.server.port()),
                );
            }
        }
        Err(_) => {
            if let Some(admin) = ssh
                .as_deref()
                .and_then(rampart_session::from_ssh_connection)
            {
                a.push(
                    Prefix::host(admin.client.ip()),
                    "admin SSH session (SSH_CONNECTION)",
                );
            }
        }
    }
    let default = Path::new(rampart_policy::DEFAULT_PATH);
    let path = common
        .policy
        .as_deref()
        .or_else(|| default.exists().then_some(default));
    if let Some(path) = path {
        let loaded = super::policy::load(Some(path))?;
        for entry in &loaded.policy.allow_from {
            a.push(
                entry.prefix,
                format!("policy allow_from ({})", path.display()),
            );
        }
    }
    Ok(a)
}

/// Refuses (unless forced) targets that block allowlisted addresses.
fn guard(common: &Common, targets: &[Prefix]) -> Result<()> {
    let allow = allowlist(common)?;
    let conflicts: Vec<Conflict> = targets.iter().flat_map(|t| allow.conflicts(*t)).collect();
    if conflicts.is_empty() {
        return Ok(());
    }
    let mut msg = String::new();
    for c in &conflicts {
        msg.push_str(&format!("\n  {c}"));
    }
    if common.force {
        eprintln!("rampart: warning: blocking allowlisted addresses (--force):{msg}");
        return Ok(());
    }
    bail!(
        "refusing to block allowlisted addresses:{msg}\n  \
         remedy: leave them out (block the rest with a range or --allow), or give --force"
    )
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

    fn step(&self, what: &str) {
        if self.bar.is_finished() {
            self.bar.reset();
            self.spin();
        }
        self.bar.set_message(what.to_string());
    }

    /// Called by the netlink encoder: `n` of `total` intervals of list `name` encoded.
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

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

// ---------------------------------------------------------------------------------------
// Commands.

fn say(line: &str) -> Result<()> {
    super::apply::say(line)
}

fn add(
    targets: &[String],
    timeout: Option<Duration>,
    comment: Option<String>,
    list: &str,
    common: &Common,
) -> Result<ExitCode> {
    let name = ListName::new(list)?;
    let mut prefixes = Vec::new();
    for t in targets {
        prefixes.extend(parse_target(t)?);
    }
    if timeout.is_some() {
        if let Some(net) = prefixes.iter().find(|p| !p.is_host()) {
            bail!(
                "a timed ban takes single addresses; {net} is a network\n  \
                 remedy: leave out --timeout (lists of networks are permanent, `rampart block del` lifts them)"
            );
        }
    }
    guard(common, &prefixes)?;
    let store = Store::new(state_dir(&common.state)?);
    let mut kernel = Kernel::new();
    if let Some(t) = timeout {
        let layout = store.layout(None)?;
        kernel.ensure(&layout)?;
        let mut bans = store.bans()?;
        let expires = unix_now() + t.as_secs();
        for p in &prefixes {
            let set = SetRef::inet("rampart", if p.is_ipv4() { BAN_SET_V4 } else { BAN_SET_V6 });
            let el = [Element::from(p.addr())];
            let c = kernel.client()?;
            // A ban already there gets the new timeout: delete, then add.
            let _ = c.delete(&set, &el);
            c.add(&set, &el, Some(t))?;
            bans.bans.insert(
                p.addr(),
                Ban {
                    addr: p.addr(),
                    expires,
                    list: name.to_string(),
                    comment: comment.clone(),
                },
            );
            say(&format!(
                "banned {} for {} (set {}, expires by itself)",
                p.addr(),
                human(t),
                set.name
            ))?;
        }
        store.save_bans(&bans)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut l = store.load(&name)?;
    let layout = store.layout(Some(&name))?;
    kernel.ensure(&layout)?;
    let mut fast = Vec::new();
    let mut needs_reload = false;
    for p in &prefixes {
        if let Some(at) = l.locate(p.addr()).filter(|_| l.set().contains_prefix(*p)) {
            say(&format!(
                "already blocked: {p} (list {}, {})",
                at.list, at.prefix
            ))?;
            continue;
        }
        if l.set().overlaps(*p) {
            needs_reload = true;
        } else {
            fast.push(*p);
        }
        l.insert(*p, comment.clone());
    }
    if needs_reload {
        kernel.reload(&layout, &l, &Progress::new())?;
    } else if !fast.is_empty() {
        let mut by_set: BTreeMap<String, Vec<Element>> = BTreeMap::new();
        for p in &fast {
            by_set
                .entry(set_name(&name, p.is_ipv4()))
                .or_default()
                .push(Element::from(*p));
        }
        for (set, els) in by_set {
            let r = kernel
                .client()?
                .merge(&SetRef::inet("rampart", &set), &els, None);
            if r.is_err() {
                // The kernel's elements differ from the store (edited by hand?): reload.
                kernel.reload(&layout, &l, &Progress::new())?;
                break;
            }
        }
    }
    store.save(&l)?;
    for p in fast.iter() {
        say(&format!("blocked {p} (list {name})"))?;
    }
    if needs_reload {
        say(&format!(
            "blocked {} (list {name} reloaded in one transaction: {})",
            prefixes
                .iter()
                .map(Prefix::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            n_prefixes(l.len())
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `1 prefix`, `7 prefixes`.
fn n_prefixes(n: usize) -> String {
    if n == 1 {
        "1 prefix".into()
    } else {
        format!("{n} prefixes")
    }
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

fn del(targets: &[String], only: Option<&str>, state: &StateArgs) -> Result<ExitCode> {
    let only = only.map(ListName::new).transpose()?;
    let mut prefixes = Vec::new();
    for t in targets {
        prefixes.extend(parse_target(t)?);
    }
    let store = Store::new(state_dir(state)?);
    let names = match &only {
        Some(n) => {
            if !store.exists(n) {
                bail!("there is no list {n} (see `rampart block lists`)");
            }
            vec![n.clone()]
        }
        None => store.names()?,
    };
    let layout = store.layout(None)?;
    let mut kernel = Kernel::new();
    let mut found = false;
    for n in &names {
        let mut l = store.load(n)?;
        let exact: Vec<Prefix> = prefixes
            .iter()
            .copied()
            .filter(|p| l.has_exact(*p))
            .collect();
        let mut changed = false;
        for p in &prefixes {
            changed |= l.remove(*p);
        }
        if !changed {
            continue;
        }
        found = true;
        kernel.ensure(&layout)?;
        let fast_ok = exact.len() == prefixes.len() && {
            let mut ok = true;
            for p in &exact {
                let set = SetRef::inet("rampart", &set_name(n, p.is_ipv4()));
                ok &= kernel
                    .client()
                    .and_then(|c| Ok(c.delete(&set, &[Element::from(*p)])?))
                    .is_ok();
            }
            ok
        };
        if !fast_ok {
            kernel.reload(&layout, &l, &Progress::new())?;
        }
        store.save(&l)?;
        say(&format!(
            "unblocked {} (list {n}{})",
            prefixes
                .iter()
                .map(Prefix::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if fast_ok {
                String::new()
            } else {
                format!(", reloaded in one transaction: {}", n_prefixes(l.len()))
            }
        ))?;
    }
    if only.is_none() {
        let mut bans = store.bans()?;
        for p in prefixes.iter().filter(|p| p.is_host()) {
            if bans.bans.remove(&p.addr()).is_some() {
                found = true;
                let set = if p.is_ipv4() { BAN_SET_V4 } else { BAN_SET_V6 };
                let _ = kernel
                    .client()
                    .map(|c| c.delete(&SetRef::inet("rampart", set), &[Element::from(p.addr())]));
                say(&format!("ban lifted: {}", p.addr()))?;
            }
        }
        store.save_bans(&bans)?;
    }
    if !found {
        eprintln!("rampart: not blocked: {}", targets.join(" "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct ListRow {
    list: String,
    #[serde(serialize_with = "display")]
    prefix: Prefix,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    /// Whether the kernel's set holds it (`None`: the kernel could not be read).
    in_kernel: Option<bool>,
}

#[derive(Serialize)]
struct BanRow {
    #[serde(flatten)]
    ban: Ban,
    /// Seconds left in the store's record.
    remaining_secs: u64,
    /// Seconds left in the kernel (`None`: not there, or the kernel could not be read).
    kernel_expires_secs: Option<u64>,
}

#[derive(Serialize)]
struct ListReport {
    entries: Vec<ListRow>,
    bans: Vec<BanRow>,
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn list_cmd(
    target: Option<&str>,
    only: Option<&str>,
    json: bool,
    state: &StateArgs,
) -> Result<ExitCode> {
    let filter = target.map(parse_target).transpose()?;
    let only = only.map(ListName::new).transpose()?;
    let store = Store::new(state_dir(state)?);
    let mut kernel = Kernel::new();
    let keep = |p: Prefix| {
        filter.as_ref().is_none_or(|f| {
            f.iter()
                .any(|q| q.contains(p.addr()) || p.contains(q.addr()))
        })
    };
    let mut report = ListReport {
        entries: Vec::new(),
        bans: Vec::new(),
    };
    for n in store.names()? {
        if only.as_ref().is_some_and(|o| *o != n) {
            continue;
        }
        let l = store.load(&n)?;
        let mut sets: [Option<Vec<rampart_nfnl::Entry>>; 2] = [None, None];
        for (i, v4) in [true, false].into_iter().enumerate() {
            sets[i] = kernel.list_set(&set_name(&n, v4)).ok();
        }
        for p in l.prefixes().into_iter().filter(|p| keep(*p)) {
            let k = &sets[usize::from(!p.is_ipv4())];
            report.entries.push(ListRow {
                list: n.to_string(),
                prefix: p,
                comment: l.locate(p.addr()).and_then(|x| x.comment),
                in_kernel: k.as_ref().map(|es| {
                    es.iter().any(|e| {
                        element_contains(&e.element, p.addr())
                            && element_contains(&e.element, p.last())
                    })
                }),
            });
        }
    }
    let now = unix_now();
    let bans = store.bans()?;
    let mut kb: BTreeMap<IpAddr, Option<u64>> = BTreeMap::new();
    let mut kernel_ok = true;
    for set in [BAN_SET_V4, BAN_SET_V6] {
        match kernel.list_set(set) {
            Ok(es) => {
                for e in es {
                    if let Element::Prefix(p) = e.element {
                        kb.insert(p.addr(), e.expires.map(|d| d.as_secs()));
                    }
                }
            }
            Err(_) => kernel_ok = false,
        }
    }
    for b in bans.bans.values() {
        if b.expires <= now || !keep(Prefix::host(b.addr)) {
            continue;
        }
        if only.as_ref().is_some_and(|o| o.as_str() != b.list) {
            continue;
        }
        report.bans.push(BanRow {
            ban: b.clone(),
            remaining_secs: b.expires - now,
            kernel_expires_secs: if kernel_ok {
                kb.get(&b.addr).copied().flatten()
            } else {
                None
            },
        });
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in &report.entries {
        let k = match r.in_kernel {
            Some(true) => "",
            Some(false) => "  (not in the kernel)",
            None => "  (kernel not readable)",
        };
        let c = r
            .comment
            .as_deref()
            .map(|c| format!("  # {c}"))
            .unwrap_or_default();
        writeln!(out, "{:<12} {}{c}{k}", r.list, r.prefix)?;
    }
    for b in &report.bans {
        let k = match b.kernel_expires_secs {
            Some(s) => format!("kernel expires in {}", human(Duration::from_secs(s.max(1)))),
            None => "not in the kernel".into(),
        };
        let c = b
            .ban
            .comment
            .as_deref()
            .map(|c| format!("  # {c}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{:<12} {}  timed ban, {} left, {k}{c}",
            b.ban.list,
            b.ban.addr,
            human(Duration::from_secs(b.remaining_secs))
        )?;
    }
    if report.entries.is_empty() && report.bans.is_empty() {
        writeln!(out, "nothing blocked")?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct TestRow {
    address: IpAddr,
    blocked: bool,
    /// Stored lists holding it.
    store: Vec<Located>,
    /// Kernel sets holding it: set name and the element that covers it.
    kernel: Vec<KernelHit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ban: Option<Ban>,
}

#[derive(Serialize)]
struct KernelHit {
    set: String,
    element: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_secs: Option<u64>,
}

fn test(addrs: &[String], json: bool, state: &StateArgs) -> Result<ExitCode> {
    let mut ips = Vec::new();
    for a in addrs {
        let ip: IpAddr = a
            .parse()
            .map_err(|_| anyhow!("`{a}` is not an IP address"))?;
        ips.push(rampart_prefix::unmap_addr(ip));
    }
    let store = Store::new(state_dir(state)?);
    let lists: Vec<List> = store
        .names()?
        .iter()
        .map(|n| store.load(n))
        .collect::<Result<_>>()?;
    let bans = store.bans()?;
    let now = unix_now();
    let mut kernel = Kernel::new();
    let mut set_names: Vec<String> = vec![BAN_SET_V4.into(), BAN_SET_V6.into()];
    for l in &lists {
        set_names.push(set_name(&l.name, true));
        set_names.push(set_name(&l.name, false));
    }
    let mut cache: BTreeMap<String, Option<Vec<rampart_nfnl::Entry>>> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut kernel_unreadable = false;
    for &ip in &ips {
        let mut hits = Vec::new();
        for s in &set_names {
            if s.ends_with("_4") != ip.is_ipv4() {
                continue;
            }
            let entries = cache
                .entry(s.clone())
                .or_insert_with(|| kernel.list_set(s).ok());
            match entries {
                Some(es) => {
                    for e in es.iter().filter(|e| element_contains(&e.element, ip)) {
                        hits.push(KernelHit {
                            set: s.clone(),
                            element: e.element.to_string(),
                            expires_secs: e.expires.map(|d| d.as_secs()),
                        });
                    }
                }
                None => kernel_unreadable = true,
            }
        }
        let located: Vec<Located> = lists.iter().filter_map(|l| l.locate(ip)).collect();
        let ban = bans.active(ip, now).cloned();
        rows.push(TestRow {
            address: ip,
            blocked: !hits.is_empty()
                || (kernel_unreadable && (!located.is_empty() || ban.is_some())),
            store: located,
            kernel: hits,
            ban,
        });
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        for r in &rows {
            if r.store.is_empty() && r.kernel.is_empty() && r.ban.is_none() {
                writeln!(out, "{}: not blocked", r.address)?;
                continue;
            }
            writeln!(
                out,
                "{}: {}",
                r.address,
                if r.kernel.is_empty() {
                    "NOT blocked in the kernel (stored only: run `rampart up` or `rampart restore`)"
                } else {
                    "blocked"
                }
            )?;
            for l in &r.store {
                let c = l
                    .comment
                    .as_deref()
                    .map(|c| format!("  # {c}"))
                    .unwrap_or_default();
                writeln!(out, "  list {}: {}{c}", l.list, l.prefix)?;
            }
            if let Some(b) = &r.ban {
                writeln!(
                    out,
                    "  timed ban ({}), {} left",
                    b.list,
                    human(Duration::from_secs(b.expires.saturating_sub(now).max(1)))
                )?;
            }
            for h in &r.kernel {
                let x = h
                    .expires_secs
                    .map(|s| format!(", expires in {}", human(Duration::from_secs(s.max(1)))))
                    .unwrap_or_default();
                writeln!(out, "  kernel: set {} holds {}{x}", h.set, h.element)?;
            }
        }
        if kernel_unreadable {
            writeln!(out, "note: the kernel's sets could not be read (not root?)")?;
        }
    }
    Ok(if rows.iter().all(|r| r.blocked) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Replaces list `name` with `set` (store and kernel), after the allowlist check.
fn replace(
    store: &Store,
    name: &ListName,
    set: PrefixSet,
    common: &Common,
    progress: &Progress,
) -> Result<List> {
    let list = List::from_set(name.clone(), set);
    guard(common, &list.prefixes())?;
    let layout = store.layout(Some(name))?;
    let mut kernel = Kernel::new();
    progress.step(&format!(
        "loading list {name} into the kernel ({}, one transaction)",
        n_prefixes(list.len())
    ));
    kernel.reload(&layout, &list, progress)?;
    store.save(&list)?;
    Ok(list)
}

fn import(file: &Path, list: &str, skip_invalid: bool, common: &Common) -> Result<ExitCode> {
    let name = ListName::new(list)?;
    let opts = ImportOptions {
        skip_invalid,
        ..ImportOptions::default()
    };
    let progress = Progress::new();
    progress.step(&format!("reading {}", file.display()));
    let (label, bytes) = if file == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut b)?;
        ("<stdin>".to_string(), b)
    } else {
        (
            file.display().to_string(),
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
        )
    };
    let is_ipset = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)])
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("create ") || l.starts_with("add "));
    let (set, skipped, lines) = if is_ipset {
        let got = rampart_lists::read_ipset(BufReader::new(&bytes[..]), &label, opts)
            .map_err(|e| anyhow!("{e}\nnothing was changed"))?;
        let mut set = PrefixSet::new();
        for s in got.items {
            set.extend(s.entries);
        }
        (set, got.skipped, got.lines)
    } else {
        let got =
            rampart_lists::read_plain(BufReader::new(&bytes[..]), &label, opts).map_err(|e| {
                anyhow!("{e}\nnothing was changed (give --skip-invalid to load the valid lines)")
            })?;
        progress.step(&format!("aggregating {} entries", got.items.len()));
        let set: PrefixSet = got.items.into_iter().collect();
        (set, got.skipped, got.lines)
    };
    let l = replace(
        &Store::new(state_dir(&common.state)?),
        &name,
        set,
        common,
        &progress,
    )?;
    progress.done();
    say(&format!(
        "imported {label}: {lines} lines -> list {name}: {} ({} IPv4 addresses), loaded in one transaction",
        n_prefixes(l.len()),
        l.set().v4_addresses()
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
    progress.step("reading the country database");
    let per_country = load_countries(dbs, &wanted)?;
    let store = Store::new(state_dir(&common.state)?);
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
        let l = replace(&store, &name, set, common, &progress)?;
        progress.done();
        say(&format!(
            "blocked {}: list {name}, {} ({} IPv4 addresses, {} IPv6), loaded in one transaction",
            ccs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "),
            n_prefixes(l.len()),
            l.set().v4_addresses(),
            n_prefixes(l.prefixes().iter().filter(|p| !p.is_ipv4()).count())
        ))?;
    }
    if !except.is_empty() {
        say(&format!(
            "exceptions kept open: {}",
            except
                .prefixes()
                .iter()
                .map(Prefix::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Each wanted country's prefixes from the databases.
fn load_countries(paths: &[PathBuf], wanted: &[Country]) -> Result<Vec<(Country, PrefixSet)>> {
    let paths = &super::geo::country_databases(paths)?;
    let mut sets: Vec<(Country, PrefixSet)> =
        wanted.iter().map(|c| (*c, PrefixSet::new())).collect();
    for path in paths {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        if rampart_lists::is_mmdb(&bytes) {
            let got = rampart_lists::read_mmdb(bytes, &name)?;
            for (p, c) in got.items {
                if let Some(s) = sets.iter_mut().find(|(w, _)| *w == c) {
                    s.1.insert(p);
                }
            }
        } else {
            let got = rampart_lists::read_tor_geoip(&bytes[..], &name, ImportOptions::default())
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| {
                    format!("{name} is neither a .mmdb database nor a tor geoip file")
                })?;
            for (r, c) in got.items {
                if let Some(s) = sets.iter_mut().find(|(w, _)| *w == c) {
                    s.1.insert_range(r);
                }
            }
        }
    }
    Ok(sets)
}

#[derive(Serialize)]
struct ListSummary {
    name: String,
    prefixes: usize,
    ipv4_addresses: u64,
    ipv6_prefixes: usize,
    /// Elements in the kernel's two sets (`None`: not readable or not loaded).
    kernel_elements: Option<usize>,
}

fn lists(json: bool, state: &StateArgs) -> Result<ExitCode> {
    let store = Store::new(state_dir(state)?);
    let mut kernel = Kernel::new();
    let mut rows = Vec::new();
    for n in store.names()? {
        let l = store.load(&n)?;
        let k4 = kernel.list_set(&set_name(&n, true)).ok();
        let k6 = kernel.list_set(&set_name(&n, false)).ok();
        rows.push(ListSummary {
            name: n.to_string(),
            prefixes: l.len(),
            ipv4_addresses: l.set().v4_addresses(),
            ipv6_prefixes: l.prefixes().iter().filter(|p| !p.is_ipv4()).count(),
            kernel_elements: match (k4, k6) {
                (Some(a), Some(b)) => Some(a.len() + b.len()),
                _ => None,
            },
        });
    }
    let bans = store.bans()?;
    let now = unix_now();
    let active = bans.bans.values().filter(|b| b.expires > now).count();
    let mut out = std::io::stdout().lock();
    if json {
        #[derive(Serialize)]
        struct Out {
            lists: Vec<ListSummary>,
            timed_bans: usize,
        }
        serde_json::to_writer_pretty(
            &mut out,
            &Out {
                lists: rows,
                timed_bans: active,
            },
        )?;
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
            r.prefixes,
            r.ipv4_addresses,
            r.ipv6_prefixes,
            r.kernel_elements
                .map_or_else(|| "-".to_string(), |n| n.to_string())
        )?;
    }
    writeln!(out, "timed bans: {active}")?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// `up`, `apply` and `restore`.

/// The policy script with the block sets and chains added, when anything was ever blocked
/// (the script is returned unchanged otherwise).
pub fn splice(state: &StateDir, script: &str) -> Result<String> {
    let store = Store::new(state.clone());
    if !store.in_use() {
        return Ok(script.to_string());
    }
    Ok(store.layout(None)?.splice(script))
}

/// The block sets the kernel has now (call before an apply, pass to [`load_after`]).
pub fn existing_sets(state: &StateDir) -> Vec<String> {
    let store = Store::new(state.clone());
    if !store.in_use() {
        return Vec::new();
    }
    let mut kernel = Kernel::new();
    let mut out = Vec::new();
    for s in all_set_names(&store) {
        if kernel.has_set(&s) {
            out.push(s);
        }
    }
    out
}

fn all_set_names(store: &Store) -> Vec<String> {
    let mut v = vec![BAN_SET_V4.to_string(), BAN_SET_V6.to_string()];
    for n in store.names().unwrap_or_default() {
        v.push(set_name(&n, true));
        v.push(set_name(&n, false));
    }
    v
}

/// After an apply or a restore: loads every stored list whose sets were not in the kernel
/// before (`before`; `None`: every list, as at boot) and re-adds the timed bans still
/// running. Returns a line to print, if anything was loaded.
pub fn load_after(state: &StateDir, before: Option<&[String]>) -> Result<Option<String>> {
    let store = Store::new(state.clone());
    if !store.in_use() {
        return Ok(None);
    }
    let layout = store.layout(None)?;
    let mut kernel = Kernel::new();
    kernel.ensure(&layout)?;
    let progress = Progress::new();
    let mut loaded = Vec::new();
    for n in &layout.lists {
        let had = before
            .is_some_and(|b| b.contains(&set_name(n, true)) && b.contains(&set_name(n, false)));
        if had {
            continue;
        }
        let l = store.load(n)?;
        progress.step(&format!("loading list {n} ({})", n_prefixes(l.len())));
        kernel.reload(&layout, &l, &progress)?;
        loaded.push(format!("{n} ({})", l.len()));
    }
    let now = unix_now();
    let bans = store.bans()?;
    let mut rebanned = 0;
    for b in bans.bans.values().filter(|b| b.expires > now) {
        let set = if b.addr.is_ipv4() {
            BAN_SET_V4
        } else {
            BAN_SET_V6
        };
        let c = kernel.client()?;
        c.merge(
            &SetRef::inet("rampart", set),
            &[Element::from(b.addr)],
            Some(Duration::from_secs(b.expires - now)),
        )?;
        rebanned += 1;
    }
    progress.done();
    if loaded.is_empty() && rebanned == 0 {
        return Ok(None);
    }
    Ok(Some(format!(
        "block lists loaded: {}; timed bans re-added: {rebanned}",
        if loaded.is_empty() {
            "none needed".to_string()
        } else {
            loaded.join(", ")
        }
    )))
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

    #[test]
    fn kernel_elements_cover() {
        let e = Element::Range {
            start: "192.0.2.10".parse().unwrap(),
            end: Some("192.0.2.20".parse().unwrap()),
        };
        assert!(element_contains(&e, "192.0.2.19".parse().unwrap()));
        assert!(!element_contains(&e, "192.0.2.20".parse().unwrap()));
    }
}
