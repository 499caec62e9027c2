//! `rampart trace`: a packet's path through the ruleset, or a batch with a summary.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rampart_enforce::{BlockModel, Store};
use rampart_kernel::StateDir;
use rampart_ruleset::lex::{self, LexOptions};
use rampart_ruleset::{MacAddr, Protocol, Ruleset, TableKind, TcpFlags};
use rampart_sim::{CtState, Fate, Host, HostInterface, IfAddr, Packet, Simulator, Trace};
use serde::Serialize;

use crate::flags::{CtStateArg, PacketArgs, TraceArgs};
use crate::input::{load_ruleset_args, read_source};

/// Traces one packet or a batch.
pub fn run(args: TraceArgs) -> Result<ExitCode> {
    let (mut ruleset, _) = load_ruleset_args(&args.ruleset, crate::input::Trust::Anyone)?;
    let (packets, mut notes) = match &args.packets {
        Some(path) => (read_batch(path)?, Vec::new()),
        None => {
            let (packet, notes) = build_packet(&args.packet)?;
            (vec![packet], notes)
        }
    };
    if !args.no_block_lists {
        let state = super::apply::state_dir(&args.store)?;
        let sources: Vec<std::net::IpAddr> = packets.iter().map(|p| p.src).collect();
        match add_block_lists(&mut ruleset, &state, &sources) {
            Ok(Some(m)) => notes.push(format!(
                "{}, traced first as the kernel runs them; --no-block-lists leaves them out",
                block_summary(&m)
            )),
            Ok(None) => {}
            // Tracing is offline work a user without root does too: unreadable lists
            // are said, not fatal.
            Err(e) if permission_denied(&e) => {
                let detail = e.chain().nth(1).map_or(e.to_string(), |c| c.to_string());
                notes.push(format!(
                    "block lists left out: {detail} (run as root, or give --state-dir)"
                ));
            }
            Err(e) => bail!("{e:#}\n  remedy: --no-block-lists traces without them"),
        }
    }
    let host = match &args.host {
        Some(path) => {
            let source = read_source(path)?;
            Host::parse(source.text()).map_err(|e| anyhow::anyhow!("{}: {e}", source.name()))?
        }
        None => {
            notes.push(
                "no --host given: each destination is taken to be this host's own address".into(),
            );
            implied_host(&packets)
        }
    };
    let mut sim = Simulator::new(&ruleset, host);
    sim.set_explain(args.explain);
    if args.packets.is_some() {
        // The summary shows no traces, so no hints; --json shows them whole.
        sim.set_classifier(!args.walk);
        sim.set_hints(args.json);
        return batch(&mut sim, &packets, &notes, args.json);
    }
    let packet = &packets[0];
    let trace = sim.run(packet);
    let mut out = std::io::stdout().lock();
    if args.json {
        #[derive(Serialize)]
        struct Out<'a> {
            packet: &'a Packet,
            notes: &'a [String],
            trace: &'a Trace,
        }
        let json = Out {
            packet,
            notes: &notes,
            trace: &trace,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        for note in &notes {
            writeln!(out, "note: {note}")?;
        }
        writeln!(out, "packet: {packet}")?;
        write!(out, "{trace}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds the block lists and the bans running now of `state` to `ruleset`, as the kernel
/// enforces them (chains `block_input`/`block_forward` before the policy), with the list
/// entries that hold one of `sources` (the traced packets' sources); `None` when nothing
/// was ever blocked there.
pub fn add_block_lists(
    ruleset: &mut Ruleset,
    state: &StateDir,
    sources: &[std::net::IpAddr],
) -> Result<Option<BlockModel>> {
    let store = Store::new(state.clone());
    rampart_enforce::add_block_lists(ruleset, &store, super::unix_now(), sources)
        .with_context(|| format!("the block lists of {}", state.root().display()))
}

/// `block lists included: 2 lists (4 prefixes), 1 timed ban`.
pub fn block_summary(m: &BlockModel) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "block lists included: {} ({}), {}",
        plural(m.list_count(), "list", "lists"),
        plural(m.prefix_count(), "prefix", "prefixes"),
        plural(m.ban_count(), "timed ban", "timed bans")
    )
}

fn permission_denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    })
}

/// Without a host description: a host that owns every destination, on the interface the
/// packet arrives by (so `-i` tests and local delivery behave as on a single-homed server).
fn implied_host(packets: &[Packet]) -> Host {
    let mut host = Host::new();
    for p in packets {
        let name = p.in_iface.clone().unwrap_or_else(|| "eth0".into());
        let addr = IfAddr {
            addr: p.dst,
            len: rampart_prefix::width(p.dst),
        };
        match host.interfaces.iter_mut().find(|i| i.name == name) {
            Some(iface) if !iface.addrs.contains(&addr) => iface.addrs.push(addr),
            Some(_) => {}
            None => host.interfaces.push(HostInterface {
                name,
                addrs: vec![addr],
            }),
        }
    }
    host
}

/// Builds a packet from flags, returning it with notes on the defaults that were chosen.
pub fn build_packet(args: &PacketArgs) -> Result<(Packet, Vec<String>)> {
    let mut notes = Vec::new();
    let src = parse_ip("--src", args.src.as_deref())?;
    let dst = parse_ip("--dst", args.dst.as_deref())?;
    if src.is_ipv4() != dst.is_ipv4() {
        bail!("--src {src} and --dst {dst} are of different families");
    }
    let protocol = Protocol::from_name(&args.proto).with_context(|| {
        format!(
            "-p {}: not a protocol (use tcp, udp, icmp, icmpv6 or a number 1-255)",
            args.proto
        )
    })?;
    let mut packet = Packet::new(protocol, src, dst);
    packet.sport = args.sport;
    packet.dport = args.dport;
    packet.in_iface = args.in_iface.clone();
    packet.ct_state = args.state.map(|s| match s {
        CtStateArg::New => CtState::New,
        CtStateArg::Established => CtState::Established,
        CtStateArg::Related => CtState::Related,
        CtStateArg::Invalid => CtState::Invalid,
        CtStateArg::Untracked => CtState::Untracked,
    });
    packet.mark = parse_u32("--mark", &args.mark)?;
    packet.length = args.length;
    packet.fragment = args.fragment;
    packet.time = args.time;
    if let Some(mac) = &args.mac_src {
        packet.mac_src = Some(parse_mac(mac)?);
    }
    if let Some(when) = &args.clock {
        packet.clock = Some(rampart_sim::parse_clock(when).with_context(|| {
            format!("--clock {when}: write YYYY-MM-DDTHH:MM[:SS] (UTC) or Unix seconds")
        })?);
    }
    packet.utc_offset_min = args.utc_offset;
    packet.uid = args.uid;
    packet.gid = args.gid;
    if let Some(t) = &args.pkttype {
        packet.pkttype = Some(rampart_ruleset::PktType::from_name(t).with_context(|| {
            format!("--pkttype {t}: write unicast, broadcast, multicast or otherhost")
        })?);
    }
    if let Some(tos) = &args.tos {
        let v = parse_u32("--tos", tos)?;
        packet.tos = Some(u8::try_from(v).map_err(|_| anyhow::anyhow!("--tos {tos}: 0 to 255"))?);
    }
    if let Some(d) = args.dscp {
        if d > 63 {
            bail!("--dscp {d}: a DSCP is 0 to 63");
        }
        packet.tos = Some(d << 2);
    }
    packet.ttl = args.ttl;
    packet.mss = args.mss;
    packet.payload = args.payload.clone();
    packet.ipsec = match args.ipsec.as_deref() {
        None => None,
        Some("yes") => Some(true),
        Some("no") => Some(false),
        Some(other) => bail!("--ipsec {other}: write yes or no"),
    };
    packet.physdev_in = args.physdev_in.clone();
    packet.physdev_out = args.physdev_out.clone();
    if args.not_bridged {
        packet.bridged = Some(false);
    }
    if let Some(list) = &args.ext_headers {
        if !dst.is_ipv6() {
            bail!("--ext-headers: IPv6 extension headers need IPv6 addresses");
        }
        packet.ext_headers = rampart_sim::ExtHeader::parse_list(list)
            .map_err(|e| anyhow::anyhow!("--ext-headers: {e}"))?;
    }
    if protocol == Protocol::TCP {
        packet.tcp_flags = Some(match &args.flags {
            Some(flags) => parse_flags(flags)?,
            None => {
                let first = matches!(packet.ct_state, None | Some(CtState::New));
                let (bits, name) = if first {
                    (TcpFlags::SYN, "SYN")
                } else {
                    (TcpFlags::ACK, "ACK")
                };
                notes.push(format!("TCP flags taken as {name}; pass --flags to change"));
                TcpFlags(bits)
            }
        });
    } else if args.flags.is_some() {
        bail!("--flags applies to -p tcp only");
    }
    if protocol == Protocol::ICMP || protocol == Protocol::ICMPV6 {
        let v6 = protocol == Protocol::ICMPV6;
        let (ty, code) = match &args.icmp_type {
            Some(t) => parse_icmp(t, v6)?,
            None => {
                notes.push("ICMP type taken as echo-request; pass --icmp-type to change".into());
                (if v6 { 128 } else { 8 }, Some(0))
            }
        };
        packet.icmp_type = Some(ty);
        packet.icmp_code = code;
    } else if args.icmp_type.is_some() {
        bail!("--icmp-type applies to -p icmp or icmpv6 only");
    }
    Ok((packet, notes))
}

fn parse_ip(flag: &str, text: Option<&str>) -> Result<IpAddr> {
    let text = text.with_context(|| format!("{flag} is required"))?;
    text.parse().map_err(|_| {
        anyhow::anyhow!("{flag} {text}: not an IP address (host names are not resolved)")
    })
}

fn parse_u32(flag: &str, text: &str) -> Result<u32> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| anyhow::anyhow!("{flag} {text}: not a number (decimal or 0x hex)"))
}

fn parse_mac(text: &str) -> Result<MacAddr> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--mac-src {text}: write six hex bytes, aa:bb:cc:dd:ee:ff"))?;
    let arr: [u8; 6] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("--mac-src {text}: write six hex bytes, aa:bb:cc:dd:ee:ff"))?;
    Ok(MacAddr(arr))
}

fn parse_flags(text: &str) -> Result<TcpFlags> {
    let mut bits = 0;
    for name in text.split(',') {
        let upper = name.trim().to_ascii_uppercase();
        match TcpFlags::NAMES.iter().find(|(n, _)| *n == upper) {
            Some((_, b)) => bits |= b,
            None if upper == "NONE" => {}
            None => {
                bail!("--flags {text}: `{name}` is not a TCP flag (FIN, SYN, RST, PSH, ACK, URG)")
            }
        }
    }
    Ok(TcpFlags(bits))
}

/// ICMP types people ask about, by name: (name, ICMPv4 type, ICMPv6 type).
const ICMP_NAMES: [(&str, u8, u8); 6] = [
    ("echo-request", 8, 128),
    ("echo-reply", 0, 129),
    ("destination-unreachable", 3, 1),
    ("time-exceeded", 11, 3),
    ("parameter-problem", 12, 4),
    ("packet-too-big", 3, 2),
];

fn parse_icmp(text: &str, v6: bool) -> Result<(u8, Option<u8>)> {
    if let Some((_, t4, t6)) = ICMP_NAMES.iter().find(|(n, _, _)| *n == text) {
        let code = if *t4 == 3 && !v6 && text == "packet-too-big" {
            Some(4)
        } else {
            None
        };
        return Ok((if v6 { *t6 } else { *t4 }, code));
    }
    let (ty, code) = text
        .split_once('/')
        .map_or((text, None), |(t, c)| (t, Some(c)));
    let bad = || {
        anyhow::anyhow!(
            "--icmp-type {text}: write TYPE[/CODE] as numbers, or one of {}",
            ICMP_NAMES.map(|n| n.0).join(", ")
        )
    };
    let ty = ty.parse().map_err(|_| bad())?;
    let code = code.map(|c| c.parse()).transpose().map_err(|_| bad())?;
    Ok((ty, code))
}

/// One line of a `--packets` file: the packet flags of `rampart trace`.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct PacketLine {
    #[command(flatten)]
    packet: PacketArgs,
}

/// Reads a `--packets` file: one packet per line, in the flags of `rampart trace`.
fn read_batch(path: &Path) -> Result<Vec<Packet>> {
    let source = read_source(path)?;
    let lexed = lex::split(&source, LexOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut packets = Vec::with_capacity(lexed.commands.len());
    for line in &lexed.commands {
        let place = format!("{}:{}", source.name(), line.words[0].span.line);
        let words = line.words.iter().map(|w| w.text.as_str());
        let parsed = PacketLine::try_parse_from(words).map_err(|e| {
            let rendered = e.render().to_string();
            anyhow::anyhow!("{place}: {}", rendered.lines().next().unwrap_or_default())
        })?;
        let (packet, _) = build_packet(&parsed.packet).with_context(|| place.clone())?;
        packets.push(packet);
    }
    Ok(packets)
}

/// Runs every packet in order and prints a summary per fate and per rule hit.
fn batch(
    sim: &mut Simulator,
    packets: &[Packet],
    notes: &[String],
    json: bool,
) -> Result<ExitCode> {
    let started = Instant::now();
    // Counted by values moved out of each trace and named once at the end: a string per
    // packet would cost more than classifying it.
    let mut by_fate: HashMap<FateClass, usize> = HashMap::new();
    let mut by_rule: HashMap<(TableKind, String, usize), usize> = HashMap::new();
    let mut per_packet = Vec::with_capacity(if json { packets.len() } else { 0 });
    for packet in packets {
        let mut trace = sim.run(packet);
        let branch = if json {
            trace.branches[trace.committed_branch].clone()
        } else {
            trace.branches.swap_remove(trace.committed_branch)
        };
        *by_fate.entry(FateClass::of(branch.fate)).or_default() += 1;
        for hit in branch.hits {
            *by_rule.entry((hit.table, hit.chain, hit.rule)).or_default() += 1;
        }
        if json {
            per_packet.push(trace);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut fates: BTreeMap<String, usize> = BTreeMap::new();
    for (class, n) in by_fate {
        *fates.entry(class.to_string()).or_default() += n;
    }
    let hits: BTreeMap<String, usize> = by_rule
        .into_iter()
        .map(|((table, chain, rule), n)| (format!("{table}:{chain}:{rule}"), n))
        .collect();
    let pps = packets.len() as f64 / elapsed.max(1e-9);
    let mut out = std::io::stdout().lock();
    if json {
        #[derive(Serialize)]
        struct Summary<'a> {
            notes: &'a [String],
            packets: usize,
            seconds: f64,
            packets_per_second: f64,
            fates: &'a BTreeMap<String, usize>,
            rule_hits: &'a BTreeMap<String, usize>,
            traces: &'a [Trace],
        }
        let summary = Summary {
            notes,
            packets: packets.len(),
            seconds: elapsed,
            packets_per_second: pps,
            fates: &fates,
            rule_hits: &hits,
            traces: &per_packet,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        for note in notes {
            writeln!(out, "note: {note}")?;
        }
        writeln!(
            out,
            "{} packets simulated in {:.3} s ({:.0} packets/s)",
            packets.len(),
            elapsed,
            pps
        )?;
        writeln!(out, "\nfates:")?;
        for (fate, n) in &fates {
            writeln!(out, "  {n:>8}  {fate}")?;
        }
        writeln!(out, "\nrule hits:")?;
        let mut by_count: Vec<_> = hits.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (rule, n) in by_count {
            writeln!(out, "  {n:>8}  {rule}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A fate without its per-packet addresses, to count alike fates together.
#[derive(PartialEq, Eq, Hash)]
enum FateClass {
    Delivered,
    Forwarded(String),
    SentOut(String),
    Other(Fate),
}

impl FateClass {
    fn of(fate: Fate) -> FateClass {
        match fate {
            Fate::DeliveredLocally { .. } => FateClass::Delivered,
            Fate::Forwarded { out_iface, .. } => FateClass::Forwarded(out_iface),
            Fate::SentOut { out_iface, .. } => FateClass::SentOut(out_iface),
            other => FateClass::Other(other),
        }
    }
}

impl std::fmt::Display for FateClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FateClass::Delivered => f.write_str("delivered locally"),
            FateClass::Forwarded(out) => write!(f, "forwarded out {out}"),
            FateClass::SentOut(out) => write!(f, "sent out {out}"),
            FateClass::Other(fate) => write!(f, "{fate}"),
        }
    }
}
