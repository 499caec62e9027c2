//! `rampart top`: who holds this host's connections, from the kernel's socket table
//! (sock_diag) or its conntrack table; counting is rampart-top's, this only renders.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rampart_lists::Country;
use rampart_nfnl::{ConntrackClient, InetSocket, Protocol, SockDiag, ALL_STATES};
use rampart_prefix::{unmap_addr, PrefixMap};
use rampart_top::{summarize, Counts, Flow, Report, Section, Table};
use serde::Serialize;

/// `rampart top`.
#[derive(Debug, Args)]
#[command(
    after_help = "Counts come from the kernel (netlink sock_diag, or ctnetlink with \
--conntrack), never from netstat or /proc text. Incoming: the local port is a listening port.

Examples:
  rampart top                        who holds the connections now
  rampart top --watch                refresh every 2 s until ctrl-C
  rampart top --conntrack --top 20   from the conntrack table (forwarded and NATed too)
  rampart top --json | jq '.incoming.nets24.rows[0]'"
)]
pub struct TopArgs {
    /// Count the conntrack table instead of sockets: also flows routed or NATed through
    /// this host (needs root).
    #[arg(long)]
    pub conntrack: bool,
    /// Refresh in place until ctrl-C (on a terminal; otherwise print one report per
    /// interval).
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Seconds between refreshes with --watch (1 to 3600).
    #[arg(long, value_name = "SECS", default_value_t = 2, requires = "watch", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
    /// Rows per table.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Country database: a MaxMind/DB-IP .mmdb file or a tor geoip/geoip6 file; repeat for
    /// several. Default: tor-geoipdb's files when installed.
    #[arg(long, value_name = "FILE")]
    pub db: Vec<PathBuf>,
    /// Do not count per country (skips reading the country database).
    #[arg(long, conflicts_with = "db")]
    pub no_geo: bool,
    /// Print JSON (with --watch: one document per line).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    countries_from: Option<&'a str>,
    #[serde(flatten)]
    report: &'a Report,
}

/// Takes snapshots and prints them.
pub fn run(args: TopArgs) -> Result<ExitCode> {
    let mut geo = Geo::start(&args)?;
    let mut diag = None;
    let mut ct = None;
    if !args.watch {
        let report = snapshot(&args, &mut geo, &mut diag, &mut ct)?;
        print(&args, &report, geo.names().as_deref(), false)?;
        return Ok(ExitCode::SUCCESS);
    }
    // ctrl-C and SIGTERM arrive on a descriptor, polled between refreshes: the loop ends
    // after a whole frame, never in the middle of one.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("cannot block SIGINT")?;
    let sfd = SignalFd::with_flags(&signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("cannot watch for ctrl-C")?;
    let tty = std::io::stdout().is_terminal();
    loop {
        let report = snapshot(&args, &mut geo, &mut diag, &mut ct)?;
        print(&args, &report, geo.names().as_deref(), tty)?;
        let deadline = Instant::now() + Duration::from_secs(args.interval);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(n) if n > 0 => return Ok(ExitCode::SUCCESS),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll"),
            }
        }
    }
}

/// Reads the kernel's table once and counts it.
fn snapshot(
    args: &TopArgs,
    geo: &mut Geo,
    diag: &mut Option<SockDiag>,
    ct: &mut Option<ConntrackClient>,
) -> Result<Report> {
    let flows: Vec<Flow> = if args.conntrack {
        if ct.is_none() {
            *ct = Some(ConntrackClient::open()?);
        }
        let entries = ct.as_mut().expect("opened").dump()?;
        let local: HashSet<IpAddr> = rampart_session::host_addresses()
            .map_err(anyhow::Error::msg)
            .context("cannot list this host's addresses")?
            .into_iter()
            .map(|(_, ip)| unmap_addr(ip))
            .collect();
        rampart_top::from_conntrack(&entries, &local)
    } else {
        if diag.is_none() {
            *diag = Some(SockDiag::open()?);
        }
        let diag = diag.as_mut().expect("opened");
        let mut sockets: Vec<InetSocket> = Vec::new();
        for proto in [Protocol::Tcp, Protocol::Udp] {
            diag.for_each(proto, ALL_STATES, |s| sockets.push(*s))?;
        }
        rampart_top::from_sockets(&sockets)
    };
    let lookup = geo.for_flows(&flows)?;
    Ok(summarize(
        &flows,
        lookup.as_ref().map(|f| f as rampart_top::CountryOf<'_>),
        args.top,
    ))
}

/// The country databases, each read on a thread of its own while the kernel is read:
/// without `--db`, tor-geoipdb's IPv4 file at once (almost every host has IPv4 peers) and
/// its IPv6 file, the bigger one, only once an IPv6 peer is counted. A missing default
/// is a note, not an error (`top` is useful without countries).
struct Geo {
    /// `--db`: one map of every file given, in `maps[0]`.
    given: bool,
    /// IPv4 and IPv6 (defaults), or everything given.
    maps: [Slot; 2],
    /// tor-geoipdb's IPv6 file, until it is asked for.
    v6_file: Option<PathBuf>,
    names: Vec<String>,
}

/// A database being read, read, or not there.
enum Slot {
    Absent,
    Loading(std::thread::JoinHandle<Result<PrefixMap<Country>>>),
    Ready(Box<PrefixMap<Country>>),
}

impl Slot {
    fn load(paths: Vec<PathBuf>) -> Slot {
        Slot::Loading(std::thread::spawn(move || crate::cmd::geo::load(&paths)))
    }

    fn ready(&mut self) -> Result<Option<&PrefixMap<Country>>> {
        if let Slot::Loading(_) = self {
            let Slot::Loading(handle) = std::mem::replace(self, Slot::Absent) else {
                unreachable!()
            };
            let map = handle
                .join()
                .map_err(|_| anyhow::anyhow!("reading the country database panicked"))??;
            *self = Slot::Ready(Box::new(map));
        }
        Ok(match self {
            Slot::Ready(map) => Some(map),
            _ => None,
        })
    }
}

impl Geo {
    fn start(args: &TopArgs) -> Result<Geo> {
        let mut geo = Geo {
            given: !args.db.is_empty(),
            maps: [Slot::Absent, Slot::Absent],
            v6_file: None,
            names: Vec::new(),
        };
        if args.no_geo {
            return Ok(geo);
        }
        if geo.given {
            let paths = crate::cmd::geo::country_databases(&args.db)?;
            geo.names = paths.iter().map(|p| p.display().to_string()).collect();
            geo.maps[0] = Slot::load(paths);
            return Ok(geo);
        }
        let [v4, v6] = crate::cmd::geo::DEFAULT_DBS.map(PathBuf::from);
        if v4.exists() {
            geo.names.push(v4.display().to_string());
            geo.maps[0] = Slot::load(vec![v4]);
        }
        geo.v6_file = v6.exists().then_some(v6);
        Ok(geo)
    }

    /// The lookup for these flows, once the databases they need are read.
    fn for_flows(
        &mut self,
        flows: &[Flow],
    ) -> Result<Option<impl Fn(IpAddr) -> Option<Country> + '_>> {
        if flows.iter().any(|f| unmap_addr(f.remote.ip()).is_ipv6()) {
            if let Some(v6) = self.v6_file.take() {
                self.names.push(v6.display().to_string());
                self.maps[1] = Slot::load(vec![v6]);
            }
        }
        let given = self.given;
        let [a, b] = &mut self.maps;
        let (a, b) = (a.ready()?, b.ready()?);
        if a.is_none() && b.is_none() {
            return Ok(None);
        }
        Ok(Some(move |ip: IpAddr| {
            let map = if given || ip.is_ipv4() { a } else { b };
            map.and_then(|m| m.get(ip).copied())
        }))
    }

    /// The files read so far, for the report.
    fn names(&self) -> Option<String> {
        let loaded =
            matches!(self.maps[0], Slot::Ready(_)) || matches!(self.maps[1], Slot::Ready(_));
        (loaded && !self.names.is_empty()).then(|| self.names.join(", "))
    }
}

fn print(args: &TopArgs, report: &Report, geo: Option<&str>, clear: bool) -> Result<()> {
    let source = if args.conntrack {
        "conntrack"
    } else {
        "sockets"
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = Output {
            source,
            countries_from: geo,
            report,
        };
        if args.watch {
            serde_json::to_writer(&mut out, &doc)?;
        } else {
            serde_json::to_writer_pretty(&mut out, &doc)?;
        }
        writeln!(out)?;
        out.flush()?;
        return Ok(());
    }
    // One write per frame: a refresh never shows half a report.
    let mut frame = String::new();
    if clear {
        frame.push_str("\x1b[H\x1b[2J");
    } else if args.watch {
        frame.push('\n');
    }
    render(
        &mut frame,
        report,
        source,
        args.conntrack,
        geo.is_some(),
        args.no_geo,
    );
    out.write_all(frame.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn counts_text(c: &Counts) -> String {
    let s = if c.total == 1 { "" } else { "s" };
    format!(
        "{} connection{s}: {} established, {} syn_recv, {} time_wait",
        c.total, c.established, c.syn_recv, c.time_wait
    )
}

fn render(out: &mut String, r: &Report, source: &str, conntrack: bool, geo: bool, no_geo: bool) {
    let _ = writeln!(out, "rampart top ({source}): {}", counts_text(&r.total));
    if conntrack && r.nat > 0 {
        let _ = writeln!(out, "{} flows NATed", r.nat);
    }
    let mut sections = vec![("incoming", &r.incoming), ("outgoing", &r.outgoing)];
    if conntrack {
        sections.push(("forwarded", &r.forwarded));
    }
    for (name, s) in sections {
        let _ = writeln!(out, "\n{name}: {}", counts_text(&s.total));
        if s.total.total == 0 {
            continue;
        }
        section(out, s, geo);
    }
    if !geo && !no_geo && r.total.total > 0 {
        let _ = writeln!(
            out,
            "\n(no country database: apt-get install tor-geoipdb, or --db FILE)"
        );
    }
}

fn section(out: &mut String, s: &Section, geo: bool) {
    // One key column width for the whole section, so its tables line up.
    let mut rows: Vec<(&str, Rendered, usize)> = Vec::new();
    let mut add = |title, keys: Vec<(String, Counts)>, distinct| rows.push((title, keys, distinct));
    add(
        "source address",
        keyed(&s.addresses, |k| k.to_string()),
        s.addresses.distinct,
    );
    add(
        "IPv4 /24",
        keyed(&s.nets24, |k| k.to_string()),
        s.nets24.distinct,
    );
    add(
        "IPv4 /16",
        keyed(&s.nets16, |k| k.to_string()),
        s.nets16.distinct,
    );
    add(
        "IPv6 /64",
        keyed(&s.nets64, |k| k.to_string()),
        s.nets64.distinct,
    );
    add(
        "IPv6 /48",
        keyed(&s.nets48, |k| k.to_string()),
        s.nets48.distinct,
    );
    if geo {
        let name = |k: &Option<Country>| k.map_or_else(|| "--".to_string(), |c| c.to_string());
        add("country", keyed(&s.countries, name), s.countries.distinct);
    }
    add("port", keyed(&s.ports, |k| k.to_string()), s.ports.distinct);
    add(
        "state",
        keyed(&s.states, |k| k.name().to_string()),
        s.states.distinct,
    );
    let w = rows
        .iter()
        .flat_map(|(title, keys, _)| keys.iter().map(|k| k.0.len()).chain([title.len()]))
        .max()
        .unwrap_or(0);
    for (title, keys, distinct) in rows {
        table(out, title, &keys, distinct, w);
    }
}

/// A table's rows with their keys as text.
type Rendered = Vec<(String, Counts)>;

fn keyed<K>(t: &Table<K>, key: impl Fn(&K) -> String) -> Rendered {
    t.rows.iter().map(|r| (key(&r.key), r.counts)).collect()
}

fn table(out: &mut String, title: &str, keys: &[(String, Counts)], distinct: usize, w: usize) {
    if keys.is_empty() {
        return;
    }
    let more = if distinct > keys.len() {
        format!(" (top {} of {distinct})", keys.len())
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "  {:w$}  {:>7} {:>7} {:>8} {:>9}{more}",
        title, "conns", "estab", "syn_recv", "time_wait"
    );
    for (k, c) in keys {
        let _ = writeln!(
            out,
            "  {k:w$}  {:>7} {:>7} {:>8} {:>9}",
            c.total, c.established, c.syn_recv, c.time_wait
        );
    }
}
