//! Deciding whether a rule matches a packet.
//!
//! Components are tested in the kernel's order (IP header fields, then each `-m` module
//! as written) and testing stops at the first miss, so stateful modules (limit, hashlimit,
//! recent) only change state when every earlier component matched, as in the kernel.
//!
//! A component that needs a field the packet leaves unset is an [`Atom`]: the [`Decider`]
//! answers it from the branch's assumptions, or assumes it matches and records a fork in
//! which it does not.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use rampart_prefix::Prefix;
use rampart_ruleset::{
    ConnlimitMatch, Family, HashlimitLimit, HashlimitMatch, IcmpType, IpSet, LimitMode, Match, Neg,
    PortRange, PortSide, Protocol, RuleSpec, SetDir, SetKind, SetMatch, TcpFlags,
};

use crate::host::Host;
use crate::limit::Bucket;
use crate::packet::Packet;
use crate::state::{BucketKey, HashKey, View};

/// Which port a port test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Src,
    Dst,
}

/// An undecidable test, in its un-negated form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Atom {
    /// The port is in one of the ranges; structured so that assumptions imply answers for
    /// other port tests (`--dport 22` assumed true makes `--dport 80` false).
    Port { side: Side, ranges: Vec<PortRange> },
    /// Any other test, compared by its text.
    Other(String),
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Port { side, ranges } => {
                let flag = match side {
                    Side::Src => "--sport",
                    Side::Dst => "--dport",
                };
                let list: Vec<String> = ranges.iter().map(|r| r.to_string()).collect();
                write!(f, "{flag} {}", list.join(","))
            }
            Atom::Other(text) => f.write_str(text),
        }
    }
}

fn covered(inner: &[PortRange], outer: &[PortRange]) -> bool {
    inner
        .iter()
        .all(|i| outer.iter().any(|o| o.lo <= i.lo && i.hi <= o.hi))
}

fn disjoint(a: &[PortRange], b: &[PortRange]) -> bool {
    a.iter()
        .all(|x| b.iter().all(|y| x.hi < y.lo || y.hi < x.lo))
}

/// Answers an atom from earlier assumptions, directly or by port-range implication.
fn implied(assumptions: &[(Atom, bool)], atom: &Atom) -> Option<bool> {
    for (known, holds) in assumptions {
        if known == atom {
            return Some(*holds);
        }
        if let (
            Atom::Port {
                side: s1,
                ranges: a,
            },
            Atom::Port {
                side: s2,
                ranges: b,
            },
        ) = (known, atom)
        {
            if s1 != s2 {
                continue;
            }
            match holds {
                true if covered(a, b) => return Some(true),
                true if disjoint(a, b) => return Some(false),
                false if covered(b, a) => return Some(false),
                _ => {}
            }
        }
    }
    None
}

/// Resolves undecidable tests for one branch and collects the forks it creates.
pub(crate) struct Decider<'a> {
    /// This branch's assumptions so far.
    pub assumptions: &'a mut Vec<(Atom, bool)>,
    /// Assumption lists of branches still to run.
    pub forks: &'a mut Vec<Vec<(Atom, bool)>>,
}

impl Decider<'_> {
    /// The answer for an undecidable atom (before negation).
    pub(crate) fn unknown(&mut self, atom: Atom) -> bool {
        if let Some(holds) = implied(self.assumptions, &atom) {
            return holds;
        }
        let mut other = self.assumptions.clone();
        other.push((atom.clone(), false));
        self.forks.push(other);
        self.assumptions.push((atom, true));
        true
    }

    pub(crate) fn port(&mut self, side: Side, ranges: &[PortRange], value: Option<u16>) -> bool {
        match value {
            Some(p) => ranges.iter().any(|r| r.contains(p)),
            None => self.unknown(Atom::Port {
                side,
                ranges: ranges.to_vec(),
            }),
        }
    }

    pub(crate) fn field<T>(
        &mut self,
        value: Option<T>,
        test: impl FnOnce(T) -> bool,
        text: impl FnOnce() -> String,
    ) -> bool {
        match value {
            Some(v) => test(v),
            None => self.unknown(Atom::Other(text())),
        }
    }
}

/// A set prepared for lookups.
#[derive(Debug)]
pub(crate) struct PreparedSet {
    family: Family,
    kind: SetKind,
    /// Address-only kinds: masked networks grouped by prefix length, longest first, each
    /// with its index in the set's entries: a lookup is a longest-prefix match costing one
    /// hash probe per distinct length (at most 129), never a scan of (possibly a million)
    /// entries.
    by_len: Vec<(u8, HashMap<IpAddr, usize>)>,
    /// Kinds with ports: scanned.
    with_ports: Vec<PortEntry>,
    /// Default entry timeout in seconds (`-j SET --add-set` without `--timeout`).
    pub timeout: Option<u32>,
    /// Entries it may hold (`maxelem`; nft's dynamic sets default to 65535).
    pub maxelem: u32,
    /// Entries declared in the ruleset.
    pub declared: usize,
}

/// A member of a set kind with ports: network (absent for bitmap:port) and protocol/port.
type PortEntry = (Option<Prefix>, Option<(Protocol, PortRange)>);

impl PreparedSet {
    fn new(set: &IpSet) -> PreparedSet {
        let mut by_len: HashMap<u8, HashMap<IpAddr, usize>> = HashMap::new();
        let mut with_ports = Vec::new();
        for (i, entry) in set.entries.iter().enumerate() {
            match (set.kind, entry.addr) {
                (SetKind::HashIp | SetKind::HashNet, Some(p)) => {
                    by_len
                        .entry(p.len())
                        .or_default()
                        .entry(p.addr())
                        .or_insert(i);
                }
                _ => with_ports.push((entry.addr, entry.port)),
            }
        }
        let mut by_len: Vec<_> = by_len.into_iter().collect();
        by_len.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        PreparedSet {
            family: set.family,
            kind: set.kind,
            by_len,
            with_ports,
            timeout: set.timeout.filter(|t| *t > 0),
            maxelem: set.maxelem.unwrap_or(65535),
            declared: set.entries.len(),
        }
    }

    /// An address-only set (`hash:ip`, `hash:net`) of `family`, which `-j SET` can fill.
    pub(crate) fn holds_addresses(&self, family: Family) -> bool {
        matches!(self.kind, SetKind::HashIp | SetKind::HashNet) && self.family == family
    }

    /// The set's type.
    pub(crate) fn kind(&self) -> SetKind {
        self.kind
    }

    pub(crate) fn has_addr(&self, addr: IpAddr) -> bool {
        self.entry_of(addr).is_some()
    }

    /// The index (in the set's entries) of the most specific network holding `addr`, for
    /// address-only kinds of the address's family.
    pub(crate) fn entry_of(&self, addr: IpAddr) -> Option<usize> {
        if Family::of(addr) != self.family {
            return None;
        }
        self.by_len.iter().find_map(|(len, nets)| {
            Prefix::new(addr, *len).and_then(|p| nets.get(&p.addr()).copied())
        })
    }

    /// bitmap:port: the port alone, whatever the protocol (ipset ignores it there).
    fn has_port(&self, port: u16) -> bool {
        self.with_ports
            .iter()
            .any(|(_, p)| p.is_some_and(|(_, range)| range.contains(port)))
    }

    fn has_pair(&self, addr: Option<IpAddr>, proto: Protocol, port: u16) -> bool {
        self.with_ports.iter().any(|(net, p)| {
            let addr_ok = match (net, addr) {
                (Some(net), Some(a)) => net.contains(a),
                (None, None) => true,
                _ => false,
            };
            let port_ok = match p {
                Some((pp, range)) => *pp == proto && range.contains(port),
                None => false,
            };
            addr_ok && port_ok
        })
    }
}

/// All sets of a ruleset by name.
#[derive(Debug, Default)]
pub(crate) struct Sets(HashMap<String, PreparedSet>);

impl Sets {
    /// The prepared set called `name`.
    pub fn get(&self, name: &str) -> Option<&PreparedSet> {
        self.0.get(name)
    }
}

impl Sets {
    pub fn new(sets: &[IpSet]) -> Sets {
        Sets(
            sets.iter()
                .map(|s| (s.name.clone(), PreparedSet::new(s)))
                .collect(),
        )
    }
}

/// Everything about the packet at the current point of the walk.
pub(crate) struct Ctx<'a> {
    pub pkt: &'a Packet,
    pub family: Family,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub mark: u32,
    /// The connection's mark (`-m connmark`).
    pub ct_mark: u32,
    /// Ports of the connection's original tuple (`--ctorigsrcport`, `--ctorigdstport`).
    pub ct_orig_ports: (Option<u16>, Option<u16>),
    /// Whether the packet travels in the reply direction; `None` when untracked or
    /// before conntrack (`--ctdir`).
    pub ct_reply_dir: Option<bool>,
    /// Empty for a locally generated packet.
    pub in_iface: &'a str,
    /// Empty before the routing decision.
    pub out_iface: &'a str,
    /// The conntrack state bit plus the SNAT/DNAT bits.
    pub ct_bits: u8,
    pub orig_src: IpAddr,
    pub orig_dst: IpAddr,
    /// Whether the packet's connection is not yet in the table (connlimit counts it).
    pub ct_pending: bool,
    pub host: &'a Host,
    pub sets: &'a Sets,
    pub now_us: u64,
    /// A packet the kernel sends itself (a REJECT's answer): `Some(true)` from its ICMP
    /// socket, which has no file and so no owner, `Some(false)` from no socket (a reset).
    pub kernel_socket: Option<bool>,
    /// (table, chain, rule) indices, keying `-m limit` buckets.
    pub rule_at: (usize, usize, usize),
}

/// Mutable things a match may touch.
pub(crate) struct Env<'a, 's> {
    pub view: &'a mut View<'s>,
    pub decide: Decider<'a>,
    pub warnings: &'a mut Vec<String>,
}

fn neg<T>(n: &Neg<T>, test: impl FnOnce(&T) -> bool) -> bool {
    n.apply(test(&n.value))
}

fn masked(addr: IpAddr, len: Option<u8>) -> IpAddr {
    match len {
        Some(len) => Prefix::new(addr, len).map_or(addr, |p| p.addr()),
        None => addr,
    }
}

/// A component of a rule: one of the IP header tests or the `index`-th `-m` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    Source,
    Destination,
    InIface,
    OutIface,
    Protocol,
    Fragment,
    Module(usize),
}

const HEADER_TESTS: [Test; 6] = [
    Test::Source,
    Test::Destination,
    Test::InIface,
    Test::OutIface,
    Test::Protocol,
    Test::Fragment,
];

/// Whether one IP header test holds (`true` when the rule does not test it).
pub(crate) fn header_holds(spec: &RuleSpec, test: Test, ctx: &Ctx) -> bool {
    match test {
        Test::Source => spec
            .source
            .as_ref()
            .is_none_or(|s| neg(s, |p| p.contains(ctx.src))),
        Test::Destination => spec
            .destination
            .as_ref()
            .is_none_or(|d| neg(d, |p| p.contains(ctx.dst))),
        Test::InIface => spec
            .in_interface
            .as_ref()
            .is_none_or(|i| neg(i, |i| i.matches(ctx.in_iface))),
        Test::OutIface => spec
            .out_interface
            .as_ref()
            .is_none_or(|o| neg(o, |o| o.matches(ctx.out_iface))),
        Test::Protocol => spec
            .protocol
            .as_ref()
            .is_none_or(|p| neg(p, |p| *p == ctx.pkt.protocol)),
        Test::Fragment => spec.fragment.is_none_or(|f| f == ctx.pkt.fragment),
        Test::Module(_) => true,
    }
}

/// Whether the whole rule matches; `Err` names the first component that does not, in
/// the kernel's order (later components are not evaluated, so their state is untouched).
pub(crate) fn rule_matches(spec: &RuleSpec, ctx: &Ctx, env: &mut Env) -> Result<(), Test> {
    if let Some(t) = HEADER_TESTS
        .into_iter()
        .find(|t| !header_holds(spec, *t, ctx))
    {
        return Err(t);
    }
    for (i, m) in spec.matches.iter().enumerate() {
        if !match_one(m, i, ctx, env) {
            return Err(Test::Module(i));
        }
    }
    Ok(())
}

/// How many tests [`failing_tests`] can count for a rule, failing or passing: the header
/// tests it makes and its modules but comments. Less the failing ones, a bound on the
/// passing ones that needs no evaluation.
pub(crate) fn test_count(spec: &RuleSpec) -> usize {
    let modules = spec
        .matches
        .iter()
        .filter(|m| !matches!(m, Match::Comment(_)));
    header_tests_made(spec).into_iter().filter(|p| *p).count() + modules.count()
}

/// Which of [`HEADER_TESTS`] the rule makes.
fn header_tests_made(spec: &RuleSpec) -> [bool; HEADER_TESTS.len()] {
    [
        spec.source.is_some(),
        spec.destination.is_some(),
        spec.in_interface.is_some(),
        spec.out_interface.is_some(),
        spec.protocol.is_some(),
        spec.fragment.is_some(),
    ]
}

/// Every component that does not match, evaluated one by one, and the number of tests the
/// rule makes that do match (for "nearest miss" hints; `env` should be a scratch one, as
/// stateful modules are evaluated too).
pub(crate) fn failing_tests(spec: &RuleSpec, ctx: &Ctx, env: &mut Env) -> (Vec<Test>, usize) {
    let present = header_tests_made(spec);
    let mut failing = Vec::new();
    let mut passed = 0;
    for (t, present) in HEADER_TESTS.into_iter().zip(present) {
        if !present {
            continue;
        }
        if header_holds(spec, t, ctx) {
            passed += 1;
        } else {
            failing.push(t);
        }
    }
    let wrong_proto = failing.contains(&Test::Protocol);
    for (i, m) in spec.matches.iter().enumerate() {
        // A protocol module cannot match another protocol: counted once, as the protocol.
        let proto_module = matches!(
            m,
            Match::Tcp(_) | Match::Udp(_) | Match::Icmp(_) | Match::Icmp6(_) | Match::Multiport(_)
        );
        if (wrong_proto && proto_module) || matches!(m, Match::Comment(_)) {
            continue;
        }
        if match_one(m, i, ctx, env) {
            passed += 1;
        } else {
            failing.push(Test::Module(i));
        }
    }
    (failing, passed)
}

fn match_one(m: &Match, index: usize, ctx: &Ctx, env: &mut Env) -> bool {
    let pkt = ctx.pkt;
    // Port-carrying modules see nothing in a non-first fragment, as in the kernel.
    let has_l4 = !pkt.fragment;
    match m {
        Match::Tcp(t) => {
            has_l4
                && pkt.protocol == Protocol::TCP
                && ports(&t.sport, Side::Src, ctx.sport, env)
                && ports(&t.dport, Side::Dst, ctx.dport, env)
                && t.flags.as_ref().is_none_or(|f| {
                    let (mask, comp) = (f.value.mask.0, f.value.comp.0);
                    f.apply(env.decide.field(
                        pkt.tcp_flags,
                        |got: TcpFlags| got.0 & mask == comp,
                        || format!("--tcp-flags {} {}", TcpFlags(mask), TcpFlags(comp)),
                    ))
                })
        }
        Match::Udp(u) => {
            has_l4
                && pkt.protocol == Protocol::UDP
                && ports(&u.sport, Side::Src, ctx.sport, env)
                && ports(&u.dport, Side::Dst, ctx.dport, env)
        }
        Match::Icmp(t) => pkt.protocol == Protocol::ICMP && icmp(t, "--icmp-type", pkt, env),
        Match::Icmp6(t) => pkt.protocol == Protocol::ICMPV6 && icmp(t, "--icmpv6-type", pkt, env),
        Match::Multiport(mp) => {
            if !has_l4 || !pkt.protocol.has_ports() {
                return false;
            }
            let ranges = &mp.ports.value;
            let hit = match mp.side {
                PortSide::Source => env.decide.port(Side::Src, ranges, ctx.sport),
                PortSide::Destination => env.decide.port(Side::Dst, ranges, ctx.dport),
                PortSide::Either => {
                    let known = [ctx.sport, ctx.dport]
                        .into_iter()
                        .flatten()
                        .any(|p| ranges.iter().any(|r| r.contains(p)));
                    known
                        || match (ctx.sport, ctx.dport) {
                            (Some(_), Some(_)) => false,
                            _ => env.decide.unknown(Atom::Other(format!(
                                "--ports {}",
                                ranges
                                    .iter()
                                    .map(|r| r.to_string())
                                    .collect::<Vec<_>>()
                                    .join(",")
                            ))),
                        }
                }
            };
            mp.ports.apply(hit)
        }
        Match::State(s) => neg(s, |st| st.0 & ctx.ct_bits & 0x1f != 0),
        Match::Conntrack(c) => {
            c.state
                .as_ref()
                .is_none_or(|s| neg(s, |st| st.0 & ctx.ct_bits != 0))
                && c.proto
                    .as_ref()
                    .is_none_or(|p| neg(p, |p| *p == pkt.protocol))
                && c.orig_src
                    .as_ref()
                    .is_none_or(|p| neg(p, |p| p.contains(ctx.orig_src)))
                && c.orig_dst
                    .as_ref()
                    .is_none_or(|p| neg(p, |p| p.contains(ctx.orig_dst)))
                && c.more
                    .as_ref()
                    .is_none_or(|x| crate::modules::conntrack_more(x, ctx, env))
        }
        Match::Limit(l) => {
            let (table, chain, rule) = ctx.rule_at;
            let key = BucketKey::Limit {
                table,
                chain,
                rule,
                index,
            };
            let now = ctx.now_us;
            let within = env
                .view
                .bucket(key, || Bucket::full(l.rate, l.burst, now))
                .take(l.rate, l.burst, now);
            within != l.negated
        }
        Match::Hashlimit(h) => hashlimit(h, ctx, env),
        Match::Connlimit(c) => connlimit(c, ctx, env),
        Match::Recent(r) => {
            let addr = if r.by_destination { ctx.dst } else { ctx.src };
            env.view.recent(r, masked(addr, r.mask), ctx.now_us)
        }
        Match::Comment(_) => true,
        Match::Set(s) => set_match(s, ctx, env),
        Match::Iprange(r) => {
            r.src
                .as_ref()
                .is_none_or(|n| neg(n, |r| r.contains(ctx.src)))
                && r.dst
                    .as_ref()
                    .is_none_or(|n| neg(n, |r| r.contains(ctx.dst)))
        }
        // Locally generated packets have no source MAC: the kernel only allows the match
        // where one exists, and it never matches in OUTPUT.
        Match::Mac(mac) => {
            !ctx.in_iface.is_empty()
                && mac.apply(env.decide.field(
                    pkt.mac_src,
                    |got| got == mac.value,
                    || format!("--mac-source {}", mac.value),
                ))
        }
        Match::Length(len) => len.apply(env.decide.field(
            pkt.length,
            |l| len.value.lo <= l && l <= len.value.hi,
            || format!("--length {}:{}", len.value.lo, len.value.hi),
        )),
        Match::Addrtype(a) => {
            let iface = |limit: bool| {
                let name = if a.limit_iface_in {
                    ctx.in_iface
                } else {
                    ctx.out_iface
                };
                (limit && !name.is_empty()).then_some(name)
            };
            let limit = iface(a.limit_iface_in || a.limit_iface_out);
            a.src
                .as_ref()
                .is_none_or(|t| neg(t, |t| ctx.host.addr_type(ctx.src, limit) & t.0 != 0))
                && a.dst
                    .as_ref()
                    .is_none_or(|t| neg(t, |t| ctx.host.addr_type(ctx.dst, limit) & t.0 != 0))
        }
        Match::Mark(mk) => neg(mk, |v| ctx.mark & v.mask == v.value),
        Match::AddrMask(a) => {
            let addr = if a.destination { ctx.dst } else { ctx.src };
            a.contains(addr) != a.negated
        }
        other => {
            if let Some(hit) = crate::modules::match_one(other, index, ctx, env) {
                return hit;
            }
            let name = other.module_name();
            env.warnings
                .push(format!("match module `{name}` is not simulated"));
            env.decide
                .unknown(Atom::Other(format!("-m {name} (not simulated)")))
        }
    }
}

fn ports(test: &Option<Neg<PortRange>>, side: Side, value: Option<u16>, env: &mut Env) -> bool {
    test.as_ref()
        .is_none_or(|t| t.apply(env.decide.port(side, std::slice::from_ref(&t.value), value)))
}

fn icmp(t: &Neg<IcmpType>, flag: &str, pkt: &Packet, env: &mut Env) -> bool {
    let want = t.value;
    let Some(ty) = want.ty else {
        return t.apply(true);
    };
    let (lo, hi) = want.codes();
    let text = || match want.code {
        Some(_) if lo != hi => format!("{flag} {ty}/{lo}:{hi}"),
        Some(c) => format!("{flag} {ty}/{c}"),
        None => format!("{flag} {ty}"),
    };
    let got = match (pkt.icmp_type, want.code, pkt.icmp_code) {
        (Some(got_ty), None, _) => Some(got_ty == ty),
        (Some(got_ty), Some(_), Some(got_c)) => Some(got_ty == ty && (lo..=hi).contains(&got_c)),
        (Some(got_ty), Some(_), None) if got_ty != ty => Some(false),
        _ => None,
    };
    t.apply(env.decide.field(got, |b| b, text))
}

fn hashlimit(h: &HashlimitMatch, ctx: &Ctx, env: &mut Env) -> bool {
    // Packets carry no byte count worth a bucket here, and a measured rate depends on the
    // traffic before the trace: both outcomes are traced.
    let (rate, burst) = match h.limit {
        HashlimitLimit::Packets { rate, burst } if h.rate_match.is_none() => (rate, burst),
        _ => {
            let what = match h.limit {
                HashlimitLimit::Bytes(_) => "byte rate",
                HashlimitLimit::Packets { .. } => "measured rate",
            };
            return env.decide.unknown(Atom::Other(format!(
                "hashlimit {} {what} (depends on earlier traffic)",
                h.name
            )));
        }
    };
    // A missing port keys its own bucket instead of forking: the rate decision does not
    // depend on which port it is, only on which packets share it.
    let key = HashKey {
        src: h.key.src_ip.then(|| masked(ctx.src, h.src_mask)),
        sport: if h.key.src_port { ctx.sport } else { None },
        dst: h.key.dst_ip.then(|| masked(ctx.dst, h.dst_mask)),
        dport: if h.key.dst_port { ctx.dport } else { None },
    };
    let key = BucketKey::Hash {
        family: ctx.family,
        name: h.name.clone(),
        key,
    };
    let now = ctx.now_us;
    let expire_us = u64::from(h.expire_ms()) * 1000;
    if let Some(max) = h.max {
        // nftables: a key that finds the meter's set full is not added, and the rule
        // matches nothing (upto and above alike); the packet goes on to the next rule.
        let BucketKey::Hash { family, name, .. } = &key else {
            unreachable!("built above")
        };
        let tracked = env.view.bucket_live(&key, now, expire_us);
        if !tracked && env.view.hash_entries_live(*family, name, now, expire_us) >= max as usize {
            return false;
        }
    }
    let fresh = Bucket::full(rate, burst, now);
    let bucket = env.view.bucket(key, || fresh);
    // The kernel's garbage collector forgets idle entries; a forgotten entry comes back
    // full.
    if now.saturating_sub(bucket.prev_us()) > expire_us {
        *bucket = fresh;
    }
    let within = bucket.take(rate, burst, now);
    match h.mode {
        LimitMode::Upto => within,
        LimitMode::Above => !within,
    }
}

fn connlimit(c: &ConnlimitMatch, ctx: &Ctx, env: &mut Env) -> bool {
    let pick = |src: IpAddr, dst: IpAddr| {
        let addr = if c.by_destination { dst } else { src };
        masked(addr, c.mask)
    };
    let me = pick(ctx.orig_src, ctx.orig_dst);
    let existing = env
        .view
        .base
        .conntrack
        .live(ctx.now_us)
        .filter(|f| Family::of(f.orig.src) == ctx.family && pick(f.orig.src, f.orig.dst) == me)
        .count();
    // nf_conncount adds the packet's own connection before comparing.
    let count = existing + usize::from(ctx.ct_pending);
    let over = count > c.count as usize;
    match c.mode {
        LimitMode::Above => over,
        LimitMode::Upto => !over,
    }
}

fn set_match(s: &SetMatch, ctx: &Ctx, env: &mut Env) -> bool {
    let dirs: Vec<&str> = s
        .dirs
        .iter()
        .map(|d| match d {
            SetDir::Src => "src",
            SetDir::Dst => "dst",
        })
        .collect();
    let text = format!("--match-set {} {}", s.name, dirs.join(","));
    let Some(set) = ctx.sets.0.get(&s.name) else {
        env.warnings.push(format!(
            "set `{}` is not defined in the ruleset: membership unknown",
            s.name
        ));
        return s.negated
            != env
                .decide
                .unknown(Atom::Other(format!("{text} (set not defined)")));
    };
    let addr_of = |d: &SetDir| match d {
        SetDir::Src => ctx.src,
        SetDir::Dst => ctx.dst,
    };
    let port_of = |d: &SetDir| {
        if ctx.pkt.protocol == Protocol::ICMP || ctx.pkt.protocol == Protocol::ICMPV6 {
            // ipset stores ICMP type/code in the port field.
            ctx.pkt
                .icmp_type
                .map(|t| u16::from(t) << 8 | u16::from(ctx.pkt.icmp_code.unwrap_or(0)))
        } else {
            match d {
                SetDir::Src => ctx.sport,
                SetDir::Dst => ctx.dport,
            }
        }
    };
    let hit = match set.kind {
        _ if set.kind != SetKind::BitmapPort && set.family != ctx.family => false,
        SetKind::HashIp | SetKind::HashNet => s.dirs.first().is_some_and(|d| {
            let addr = addr_of(d);
            match env.view.member(&s.name, addr) {
                Some(m) => m.at(ctx.now_us),
                None => set.has_addr(addr),
            }
        }),
        SetKind::BitmapPort => {
            let port = s.dirs.first().and_then(&port_of);
            env.decide.field(port, |p| set.has_port(p), || text.clone())
        }
        _ => {
            let addr = s.dirs.first().map(addr_of);
            let port = s.dirs.get(1).and_then(&port_of);
            let proto = ctx.pkt.protocol;
            env.decide
                .field(port, |p| set.has_pair(addr, proto, p), || text.clone())
        }
    };
    hit != s.negated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(side: Side, ranges: &[(u16, u16)]) -> Atom {
        Atom::Port {
            side,
            ranges: ranges
                .iter()
                .map(|&(lo, hi)| PortRange { lo, hi })
                .collect(),
        }
    }

    #[test]
    fn port_assumptions_imply() {
        let a = vec![(port(Side::Dst, &[(22, 22)]), true)];
        assert_eq!(implied(&a, &port(Side::Dst, &[(1, 1024)])), Some(true));
        assert_eq!(
            implied(&a, &port(Side::Dst, &[(80, 80), (443, 443)])),
            Some(false)
        );
        assert_eq!(implied(&a, &port(Side::Src, &[(22, 22)])), None);
        let not = vec![(port(Side::Dst, &[(1, 1024)]), false)];
        assert_eq!(implied(&not, &port(Side::Dst, &[(22, 22)])), Some(false));
        assert_eq!(implied(&not, &port(Side::Dst, &[(1000, 2000)])), None);
        let other = vec![(Atom::Other("--length 0:64".into()), false)];
        assert_eq!(
            implied(&other, &Atom::Other("--length 0:64".into())),
            Some(false)
        );
    }

    #[test]
    fn atoms_print_as_iptables_options() {
        assert_eq!(
            port(Side::Dst, &[(22, 22), (8000, 8080)]).to_string(),
            "--dport 22,8000:8080"
        );
        assert_eq!(
            TcpFlags(TcpFlags::SYN | TcpFlags::ACK).to_string(),
            "SYN,ACK"
        );
        assert_eq!(
            TcpFlags(TcpFlags::ALL).to_string(),
            "FIN,SYN,RST,PSH,ACK,URG"
        );
    }
}
