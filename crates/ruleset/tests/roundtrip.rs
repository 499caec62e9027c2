//! Property: parse → print → parse is the identity.
//!
//! Rulesets are generated in the canonical form the parsers produce (defaults stored as
//! `None`, rates normalised, protocol options only under their `-p`, user chains in name
//! order, ...), printed with `print_sets` + `to_save_all`, and must read back equal, counters
//! and sets included. The same ruleset written as an `ipset`/`iptables -N/-P/-A` script must
//! read back equal too, counters aside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use proptest::prelude::*;
use rampart_prefix::{AddrRange, Prefix};
use rampart_ruleset::lex::{split, LexOptions};
use rampart_ruleset::*;

// ---------------------------------------------------------------- values

fn addr(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::Ipv4 => any::<u32>()
            .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            .boxed(),
        Family::Ipv6 => any::<u128>()
            .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            .boxed(),
    }
}

fn width(family: Family) -> u8 {
    match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

fn prefix(family: Family) -> impl Strategy<Value = Prefix> {
    (addr(family), 0..=width(family)).prop_map(|(a, len)| Prefix::new(a, len).unwrap())
}

fn range(family: Family) -> impl Strategy<Value = AddrRange> {
    (addr(family), addr(family)).prop_map(|(a, b)| AddrRange::new(a.min(b), a.max(b)).unwrap())
}

fn neg<T: std::fmt::Debug + Clone>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Neg<T>> {
    (any::<bool>(), s).prop_map(|(negated, value)| Neg { negated, value })
}

/// A prefix length other than the full width (which is stored as `None`).
fn mask(family: Family) -> impl Strategy<Value = Option<u8>> {
    proptest::option::of(0..width(family))
}

fn port_range() -> impl Strategy<Value = PortRange> {
    prop_oneof![
        any::<u16>().prop_map(PortRange::single),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortRange {
            lo: a.min(b),
            hi: a.max(b)
        }),
    ]
}

/// A tcp/udp port condition in the kernel's form: never the full range, never `! 0:N`.
fn port_cond() -> impl Strategy<Value = Option<Neg<PortRange>>> {
    proptest::option::of(neg(port_range())).prop_map(|p| {
        p.filter(|p| {
            let (lo, hi) = (p.value.lo, p.value.hi);
            !(lo == 0 && hi == u16::MAX && !p.negated)
                && !(p.negated && lo == 0 && hi > 0 && hi < u16::MAX)
        })
    })
}

/// Names that need no quoting and none that do, for comments and log prefixes.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex(&format!("[a-zA-Z0-9_-]{{1,{max}}}")).unwrap(),
        proptest::string::string_regex(&format!("[a-z \"'\\\\$;:!.,/()*?`=-]{{1,{max}}}")).unwrap(),
    ]
    .prop_map(|s| s.trim_start_matches('!').to_string())
    .prop_filter("non-empty", |s| !s.is_empty())
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,7}"
}

/// Rates as the parser normalises them (libxt_limit's printing), taken from the parser.
fn canonical_rates() -> &'static [Rate] {
    static RATES: OnceLock<Vec<Rate>> = OnceLock::new();
    RATES.get_or_init(|| {
        let written = [
            "1/sec",
            "3/sec",
            "7/sec",
            "10000/sec",
            "60/min",
            "5/min",
            "7/min",
            "120/min",
            "3/hour",
            "13/hour",
            "90/hour",
            "1/day",
            "2/day",
            "3/day",
            "100/day",
            "25/sec",
        ];
        let script: String = written
            .iter()
            .map(|r| format!("iptables -A INPUT -m limit --limit {r}\n"))
            .collect();
        let rs = parse_script(&Source::new("rates", script), ParseOptions::default())
            .expect("rates parse")
            .ruleset;
        rs.tables[0].chains[0]
            .rules
            .iter()
            .map(|r| match &r.spec.matches[0] {
                Match::Limit(l) => l.rate,
                other => panic!("{other:?}"),
            })
            .collect()
    })
}

fn rate() -> impl Strategy<Value = Rate> {
    proptest::sample::select(canonical_rates().to_vec())
}

// ---------------------------------------------------------------- matches

/// What a rule generator needs to know about where the rule goes.
#[derive(Debug, Clone)]
struct Place {
    family: Family,
    table: TableKind,
    chain: String,
    builtin: bool,
    /// User chains this rule may jump to (later in name order: no loops).
    jumpable: Vec<String>,
    /// Sets and their dimensions.
    sets: Vec<(String, usize)>,
}

impl Place {
    fn chain_in(&self, chains: &[&str]) -> bool {
        !self.builtin || chains.contains(&self.chain.as_str())
    }
}

fn tcp_match() -> impl Strategy<Value = Match> {
    let flags = (0u8..=0x3f, 0u8..=0x3f).prop_map(|(m, c)| TcpFlagsMatch {
        mask: TcpFlags(m),
        comp: TcpFlags(c & m),
    });
    (
        port_cond(),
        port_cond(),
        proptest::option::of(neg(flags))
            .prop_map(|f| f.filter(|f| f.negated || f.value.mask.0 != 0)),
    )
        .prop_map(|(sport, dport, flags)| {
            Match::Tcp(TcpMatch {
                sport,
                dport,
                flags,
            })
        })
}

fn udp_match() -> impl Strategy<Value = Match> {
    (port_cond(), port_cond()).prop_map(|(sport, dport)| Match::Udp(UdpMatch { sport, dport }))
}

fn icmp_type(any_allowed: bool) -> BoxedStrategy<IcmpType> {
    let typed = (0u8..=254, proptest::option::of(any::<u8>())).prop_map(|(ty, code)| IcmpType {
        ty: Some(ty),
        code,
        code_max: None,
    });
    if any_allowed {
        prop_oneof![1 => Just(IcmpType::of_type(None)), 4 => typed].boxed()
    } else {
        typed.boxed()
    }
}

fn multiport() -> impl Strategy<Value = Match> {
    (
        prop_oneof![
            Just(PortSide::Source),
            Just(PortSide::Destination),
            Just(PortSide::Either)
        ],
        neg(proptest::collection::vec(port_range(), 1..=7)),
    )
        .prop_map(|(side, ports)| Match::Multiport(MultiportMatch { side, ports }))
}

fn states(bits: u8) -> impl Strategy<Value = CtStates> {
    (1u8..=bits).prop_map(CtStates)
}

fn conntrack(family: Family) -> impl Strategy<Value = Match> {
    (
        proptest::option::of(neg(states(0x7f))),
        proptest::option::of(neg((1u8..=255).prop_map(Protocol))),
        proptest::option::of(neg(prefix(family))),
        proptest::option::of(neg(prefix(family))),
    )
        .prop_filter("one option", |(a, b, c, d)| {
            a.is_some() || b.is_some() || c.is_some() || d.is_some()
        })
        .prop_map(|(state, proto, orig_src, orig_dst)| {
            Match::Conntrack(ConntrackMatch {
                state,
                proto,
                orig_src,
                orig_dst,
                ..ConntrackMatch::default()
            })
        })
}

fn limit() -> impl Strategy<Value = Match> {
    (rate(), 1u32..=10_000).prop_map(|(rate, burst)| {
        Match::Limit(LimitMatch {
            rate,
            burst,
            negated: false,
        })
    })
}

fn hashlimit(family: Family) -> impl Strategy<Value = Match> {
    (
        name(),
        prop_oneof![Just(LimitMode::Upto), Just(LimitMode::Above)],
        rate(),
        1u32..=100,
        any::<[bool; 4]>(),
        mask(family),
        mask(family),
        proptest::option::of(1u32..=10_000_000),
    )
        .prop_filter("the kernel refuses the burst", |(_, _, rate, burst, ..)| {
            HashlimitMatch::burst_fits(*rate, *burst)
        })
        .prop_map(|(name, mode, rate, burst, k, src_mask, dst_mask, expire)| {
            let unit_ms = rate.unit.seconds() * 1000;
            Match::Hashlimit(Box::new(HashlimitMatch {
                name,
                mode,
                limit: HashlimitLimit::Packets { rate, burst },
                key: HashlimitKey {
                    src_ip: k[0],
                    src_port: k[1],
                    dst_ip: k[2],
                    dst_port: k[3],
                },
                src_mask,
                dst_mask,
                expire_ms: expire.filter(|e| *e != unit_ms),
                max: None,
                size: None,
                gc_interval_ms: None,
                rate_match: None,
            }))
        })
}

fn connlimit(family: Family) -> impl Strategy<Value = Match> {
    (
        prop_oneof![Just(LimitMode::Upto), Just(LimitMode::Above)],
        0u32..=1000,
        mask(family),
        any::<bool>(),
    )
        .prop_map(|(mode, count, mask, by_destination)| {
            Match::Connlimit(ConnlimitMatch {
                mode,
                count,
                mask,
                by_destination,
            })
        })
}

fn recent(family: Family) -> impl Strategy<Value = Match> {
    (
        name(),
        prop_oneof![
            Just(RecentCommand::Set),
            Just(RecentCommand::Rcheck),
            Just(RecentCommand::Update),
            Just(RecentCommand::Remove)
        ],
        any::<bool>(),
        proptest::option::of(1u32..=100_000),
        proptest::option::of(1u32..=20),
        any::<[bool; 3]>(),
        mask(family),
    )
        .prop_map(|(name, command, negated, seconds, hitcount, f, mask)| {
            // The kernel: --set/--remove take no modifiers; --reap needs --seconds.
            let checks = matches!(command, RecentCommand::Rcheck | RecentCommand::Update);
            let seconds = seconds.filter(|_| checks);
            Match::Recent(RecentMatch {
                name,
                command,
                negated,
                seconds,
                hitcount: hitcount.filter(|_| checks),
                rttl: f[0] && checks,
                reap: f[1] && seconds.is_some(),
                by_destination: f[2],
                mask,
            })
        })
}

fn set_match(sets: Vec<(String, usize)>) -> BoxedStrategy<Match> {
    if sets.is_empty() {
        return Just(Match::Comment("no sets".into())).boxed();
    }
    (
        proptest::sample::select(sets),
        any::<bool>(),
        any::<[bool; 2]>(),
    )
        .prop_flat_map(|((name, dims), negated, d)| {
            (1..=dims).prop_map(move |n| {
                let dirs = d[..n]
                    .iter()
                    .map(|src| if *src { SetDir::Src } else { SetDir::Dst })
                    .collect();
                Match::Set(SetMatch {
                    name: name.clone(),
                    dirs,
                    negated,
                })
            })
        })
        .boxed()
}

fn iprange(family: Family) -> impl Strategy<Value = Match> {
    (
        proptest::option::of(neg(range(family))),
        proptest::option::of(neg(range(family))),
    )
        .prop_filter("one range", |(s, d)| s.is_some() || d.is_some())
        .prop_map(|(src, dst)| Match::Iprange(IprangeMatch { src, dst }))
}

fn addrtype(place: &Place) -> impl Strategy<Value = Match> {
    let types = (1u16..0x1000).prop_map(AddrTypes);
    let in_ok = place.chain_in(&["PREROUTING", "INPUT", "FORWARD"]) && place.builtin;
    let out_ok = place.chain_in(&["OUTPUT", "POSTROUTING", "FORWARD"]) && place.builtin;
    (
        proptest::option::of(neg(types.clone())),
        proptest::option::of(neg(types)),
        0u8..3,
    )
        .prop_filter("one type", |(s, d, _)| s.is_some() || d.is_some())
        .prop_map(move |(src, dst, lim)| {
            Match::Addrtype(AddrtypeMatch {
                src,
                dst,
                limit_iface_in: lim == 1 && in_ok,
                limit_iface_out: lim == 2 && out_ok && !(lim == 1 && in_ok),
            })
        })
}

/// The modules a rule may use at `place` with protocol `proto` (plain, not negated).
fn module(place: &Place, proto: Option<Protocol>) -> BoxedStrategy<Match> {
    let f = place.family;
    let mut options: Vec<BoxedStrategy<Match>> = vec![
        neg(states(0x1f)).prop_map(Match::State).boxed(),
        conntrack(f).boxed(),
        limit().boxed(),
        hashlimit(f).boxed(),
        connlimit(f).boxed(),
        recent(f).boxed(),
        text(40).prop_map(Match::Comment).boxed(),
        set_match(place.sets.clone()),
        iprange(f).boxed(),
        neg(
            (0u16..=u16::MAX, 0u16..=u16::MAX).prop_map(|(a, b)| LengthRange {
                lo: a.min(b),
                hi: a.max(b),
            }),
        )
        .prop_map(Match::Length)
        .boxed(),
        addrtype(place).boxed(),
        neg((any::<u32>(), any::<u32>()).prop_map(|(value, mask)| MarkValue { value, mask }))
            .prop_map(Match::Mark)
            .boxed(),
    ];
    if place.builtin && place.chain_in(&["PREROUTING", "INPUT", "FORWARD"]) {
        options.push(
            neg(any::<[u8; 6]>().prop_map(MacAddr))
                .prop_map(Match::Mac)
                .boxed(),
        );
    }
    match proto {
        Some(Protocol::TCP) => {
            options.push(tcp_match().boxed());
            options.push(multiport().boxed());
        }
        Some(Protocol::UDP) => {
            options.push(udp_match().boxed());
            options.push(multiport().boxed());
        }
        Some(Protocol::ICMP) if f == Family::Ipv4 => {
            options.push(neg(icmp_type(true)).prop_map(Match::Icmp).boxed())
        }
        Some(Protocol::ICMPV6) if f == Family::Ipv6 => {
            options.push(neg(icmp_type(false)).prop_map(Match::Icmp6).boxed())
        }
        Some(p) if p.has_ports() => options.push(multiport().boxed()),
        _ => {}
    }
    proptest::strategy::Union::new(options).boxed()
}

// ---------------------------------------------------------------- targets

fn log() -> impl Strategy<Value = Target> {
    (
        proptest::option::of(text(29)),
        proptest::option::of((0u8..=7).prop_filter("4 is the default", |l| *l != 4)),
    )
        .prop_map(|(prefix, level)| {
            Target::Log(LogTarget {
                prefix,
                level,
                flags: Default::default(),
            })
        })
}

fn xmark() -> impl Strategy<Value = XMark> {
    (any::<u32>(), any::<u32>()).prop_map(|(value, mask)| XMark { value, mask })
}

fn nat(family: Family, ported: bool, need_addr: bool) -> impl Strategy<Value = NatTarget> {
    (
        proptest::option::of(range(family)),
        proptest::option::of(port_range().prop_filter("no port 0", |p| p.lo > 0)),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(addrs, ports, random, persistent)| {
            let ports = ports.filter(|_| ported);
            NatTarget {
                port_offset: None,
                addrs: if need_addr || ports.is_none() {
                    addrs.or(Some(AddrRange::new(host(family), host(family)).unwrap()))
                } else {
                    addrs
                },
                ports,
                random,
                persistent,
            }
        })
}

fn host(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => "192.0.2.1".parse().unwrap(),
        Family::Ipv6 => "2001:db8::1".parse().unwrap(),
    }
}

fn masq(ported: bool) -> impl Strategy<Value = MasqueradeTarget> {
    (
        proptest::option::of(port_range().prop_filter("no port 0", |p| p.lo > 0)),
        any::<bool>(),
    )
        .prop_map(move |(ports, random)| MasqueradeTarget {
            ports: ports.filter(|_| ported),
            random,
        })
}

fn action(place: &Place, proto: Option<Protocol>) -> BoxedStrategy<Option<Action>> {
    let f = place.family;
    let ported = matches!(proto, Some(Protocol::TCP | Protocol::UDP));
    let mut targets: Vec<BoxedStrategy<Target>> = vec![
        Just(Target::Accept).boxed(),
        Just(Target::Drop).boxed(),
        Just(Target::Return).boxed(),
        log().boxed(),
    ];
    let builtin_in = |chains: &[&str]| place.builtin && chains.contains(&place.chain.as_str());
    match place.table {
        TableKind::Filter => {
            let mut rejects: Vec<RejectWith> = RejectWith::NAMES
                .iter()
                .map(|(_, r)| *r)
                .filter(|r| {
                    let v6 = format!("{r:?}").starts_with("Icmp6");
                    *r != RejectWith::TcpReset && v6 == (f == Family::Ipv6)
                })
                .collect();
            if proto == Some(Protocol::TCP) {
                rejects.push(RejectWith::TcpReset);
            }
            targets.push(
                proptest::sample::select(rejects)
                    .prop_map(Target::Reject)
                    .boxed(),
            );
        }
        TableKind::Mangle => {
            targets.push(xmark().prop_map(Target::Mark).boxed());
            targets.push(
                prop_oneof![
                    xmark().prop_map(ConnmarkTarget::Set),
                    (any::<u32>(), any::<u32>())
                        .prop_map(|(nfmask, ctmask)| ConnmarkTarget::Save { nfmask, ctmask }),
                    (any::<u32>(), any::<u32>())
                        .prop_map(|(nfmask, ctmask)| ConnmarkTarget::Restore { nfmask, ctmask }),
                ]
                .prop_map(Target::Connmark)
                .boxed(),
            );
        }
        TableKind::Nat => {
            if builtin_in(&["POSTROUTING", "INPUT"]) {
                targets.push(nat(f, ported, true).prop_map(Target::Snat).boxed());
            }
            if builtin_in(&["POSTROUTING"]) {
                targets.push(masq(ported).prop_map(Target::Masquerade).boxed());
            }
            if builtin_in(&["PREROUTING", "OUTPUT"]) {
                targets.push(nat(f, ported, false).prop_map(Target::Dnat).boxed());
                targets.push(masq(ported).prop_map(Target::Redirect).boxed());
            }
        }
        TableKind::Raw => {
            if builtin_in(&["PREROUTING", "OUTPUT"]) {
                targets.push(Just(Target::Notrack).boxed());
                targets.push(Just(Target::Trace).boxed());
            }
        }
        TableKind::Security => {}
    }
    let jump = proptest::strategy::Union::new(targets).prop_map(|t| Some(Action::Jump(t)));
    if place.jumpable.is_empty() {
        return prop_oneof![1 => Just(None), 6 => jump].boxed();
    }
    let chains = proptest::sample::select(place.jumpable.clone());
    prop_oneof![
        1 => Just(None),
        6 => jump,
        2 => chains.clone().prop_map(|c| Some(Action::Jump(Target::Chain(c)))),
        1 => chains.prop_map(|c| Some(Action::Goto(c))),
    ]
    .boxed()
}

// ---------------------------------------------------------------- rules and rulesets

fn interface() -> impl Strategy<Value = Interface> {
    "[a-z][a-z0-9.]{0,10}\\+?".prop_map(Interface)
}

fn protocol(family: Family) -> impl Strategy<Value = Option<Neg<Protocol>>> {
    let icmp = match family {
        Family::Ipv4 => Protocol::ICMP,
        Family::Ipv6 => Protocol::ICMPV6,
    };
    proptest::option::of(neg(prop_oneof![
        3 => Just(Protocol::TCP),
        2 => Just(Protocol::UDP),
        1 => Just(icmp),
        1 => (1u8..=255).prop_map(Protocol),
    ]))
}

fn rule(place: Place) -> impl Strategy<Value = Rule> {
    let f = place.family;
    let in_ok = place.chain_in(&["PREROUTING", "INPUT", "FORWARD"]);
    let out_ok = place.chain_in(&["FORWARD", "OUTPUT", "POSTROUTING"]);
    (
        proptest::option::of(neg(prefix(f))),
        proptest::option::of(neg(prefix(f))),
        proptest::option::of(neg(interface())),
        proptest::option::of(neg(interface())),
        protocol(f),
        proptest::option::of(any::<bool>()),
        (any::<u64>(), any::<u64>()),
    )
        .prop_flat_map(move |(source, destination, i, o, protocol, frag, (p, b))| {
            let plain = protocol.as_ref().filter(|p| !p.negated).map(|p| p.value);
            let modules = proptest::collection::vec(module(&place, plain), 0..=3);
            (modules, action(&place, plain)).prop_map(move |(matches, action)| {
                // One match per module, as iptables merges repeated ones.
                let mut seen = Vec::new();
                let matches = matches
                    .into_iter()
                    .filter(|m| {
                        let n = m.module_name();
                        let new = !seen.contains(&n);
                        seen.push(n);
                        new
                    })
                    .collect();
                Rule {
                    spec: RuleSpec {
                        // `-s ADDR/0` is no test: iptables keeps none (and refuses `!`).
                        source: source.clone().filter(|p| !p.value.is_empty()),
                        destination: destination.clone().filter(|p| !p.value.is_empty()),
                        in_interface: i.clone().filter(|_| in_ok),
                        out_interface: o.clone().filter(|_| out_ok),
                        protocol: protocol.clone(),
                        fragment: frag.filter(|_| f == Family::Ipv4),
                        matches,
                        action,
                    },
                    counters: Counters {
                        packets: p,
                        bytes: b,
                    },
                    span: None,
                }
            })
        })
}

const USER_CHAINS: [&str; 4] = ["Mid-1", "_x", "alpha", "zeta"];

fn table(family: Family, kind: TableKind, sets: Vec<(String, usize)>) -> BoxedStrategy<Table> {
    let builtins = kind.builtin_chains();
    (
        proptest::sample::subsequence(USER_CHAINS.to_vec(), 0..=2),
        proptest::collection::vec((any::<bool>(), any::<u32>(), any::<u32>()), builtins.len()),
    )
        .prop_flat_map(move |(users, policies)| {
            let mut chains: Vec<(Place, Option<Policy>, Counters)> = Vec::new();
            for (name, (drop, p, b)) in builtins.iter().zip(policies) {
                chains.push((
                    Place {
                        family,
                        table: kind,
                        chain: name.to_string(),
                        builtin: true,
                        jumpable: users.iter().map(|s| s.to_string()).collect(),
                        sets: sets.clone(),
                    },
                    Some(if drop { Policy::Drop } else { Policy::Accept }),
                    Counters {
                        packets: p.into(),
                        bytes: b.into(),
                    },
                ));
            }
            for (i, name) in users.iter().enumerate() {
                chains.push((
                    Place {
                        family,
                        table: kind,
                        chain: name.to_string(),
                        builtin: false,
                        jumpable: users[i + 1..].iter().map(|s| s.to_string()).collect(),
                        sets: sets.clone(),
                    },
                    None,
                    Counters::default(),
                ));
            }
            chains
                .into_iter()
                .map(|(place, policy, counters)| {
                    let name = place.chain.clone();
                    proptest::collection::vec(rule(place), 0..=3).prop_map(move |rules| Chain {
                        name: name.clone(),
                        policy,
                        counters,
                        rules,
                    })
                })
                .collect::<Vec<_>>()
        })
        .prop_map(move |chains| Table {
            family,
            kind,
            chains,
        })
        .boxed()
}

/// Sets generated as `ipset` commands and read by the ipset parser, which fills in the
/// kernel's defaults (its canonical form).
fn sets() -> impl Strategy<Value = Vec<IpSet>> {
    let set = (
        0usize..5,
        any::<bool>(),
        proptest::option::of(1u32..=100_000),
        any::<[bool; 2]>(),
        proptest::collection::vec((any::<u32>(), 8u8..=32, any::<u16>(), any::<bool>()), 0..=4),
    );
    proptest::collection::vec(set, 0..=3).prop_map(|sets| {
        let mut script = String::new();
        for (i, (kind, v6, timeout, flags, entries)) in sets.into_iter().enumerate() {
            let kind = [
                "hash:ip",
                "hash:net",
                "hash:ip,port",
                "hash:net,port",
                "bitmap:port",
            ][kind];
            let v6 = v6 && kind != "bitmap:port";
            let mut create = format!("ipset create s{i} {kind}");
            if kind == "bitmap:port" {
                create += " range 0-65535";
            } else if v6 {
                create += " family inet6";
            }
            if let Some(t) = timeout {
                create += &format!(" timeout {t}");
            }
            if flags[0] {
                create += " counters";
            }
            if flags[1] {
                create += " comment";
            }
            script += &create;
            script.push('\n');
            let mut seen = std::collections::HashSet::new();
            for (a, len, port, udp) in entries {
                let ip = if v6 {
                    IpAddr::V6(Ipv6Addr::from(u128::from(a) << 64))
                } else {
                    IpAddr::V4(Ipv4Addr::from(a))
                };
                let elem = match kind {
                    "hash:ip" => ip.to_string(),
                    "hash:net" => Prefix::new(ip, len).unwrap().to_string(),
                    "hash:ip,port" => format!("{ip},{}:{port}", if udp { "udp" } else { "tcp" }),
                    "hash:net,port" => format!(
                        "{},{}:{port}",
                        Prefix::new(ip, len).unwrap(),
                        if udp { "udp" } else { "tcp" }
                    ),
                    _ => port.to_string(),
                };
                if !seen.insert(elem.clone()) {
                    continue;
                }
                let mut add = format!("ipset add s{i} {elem}");
                if timeout.is_some() && udp {
                    add += &format!(" timeout {}", port % 1000);
                }
                if flags[0] && udp {
                    add += &format!(" packets {a} bytes {}", u64::from(a) * 3);
                }
                if flags[1] && !udp {
                    add += &format!(" comment \"entry {port}\"");
                }
                script += &add;
                script.push('\n');
            }
        }
        parse_script(
            &Source::new("sets", script.as_str()),
            ParseOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{script}"))
        .ruleset
        .sets
    })
}

fn dims(set: &IpSet) -> usize {
    match set.kind {
        SetKind::HashIpPort | SetKind::HashNetPort => 2,
        _ => 1,
    }
}

fn ruleset() -> impl Strategy<Value = Ruleset> {
    (
        sets(),
        proptest::sample::subsequence(
            [Family::Ipv4, Family::Ipv6]
                .iter()
                .flat_map(|f| TableKind::ALL.map(|k| (*f, k)))
                .collect::<Vec<_>>(),
            1..=4,
        ),
    )
        .prop_flat_map(|(sets, tables)| {
            let names: Vec<(String, usize)> =
                sets.iter().map(|s| (s.name.clone(), dims(s))).collect();
            let tables: Vec<_> = tables
                .into_iter()
                .map(|(f, k)| table(f, k, names.clone()))
                .collect();
            (Just(sets), tables)
        })
        .prop_map(|(sets, tables)| Ruleset { tables, sets })
}

// ---------------------------------------------------------------- scripts

/// Single-quotes a word for the shell.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/+!".contains(c))
    {
        return w.to_string();
    }
    format!("'{}'", w.replace('\'', r"'\''"))
}

/// The ruleset as commands: `ipset` lines, then per table `-P` for each built-in chain,
/// `-N` for each user chain, and `-A` for every rule.
fn script(rs: &Ruleset) -> String {
    let mut out: String = print_sets(rs)
        .lines()
        .map(|l| {
            let src = Source::new("set line", l);
            let words = &split(&src, LexOptions::default()).unwrap().commands[0].words;
            let quoted: Vec<String> = words.iter().map(|w| shell_word(&w.text)).collect();
            format!("ipset {}\n", quoted.join(" "))
        })
        .collect();
    for t in &rs.tables {
        let cmd = format!("{} -t {}", t.family.command(), t.kind);
        for c in &t.chains {
            match c.policy {
                Some(p) => out += &format!("{cmd} -P {} {}\n", c.name, p.name()),
                None => out += &format!("{cmd} -N {}\n", shell_word(&c.name)),
            }
        }
        for c in &t.chains {
            for r in &c.rules {
                let args = rule_args_in(&r.spec, t.family);
                let src = Source::new("rule", args.as_str());
                let lexed = split(
                    &src,
                    LexOptions {
                        shell: false,
                        lenient: false,
                        all_errors: false,
                    },
                )
                .unwrap();
                let words: Vec<String> = lexed
                    .commands
                    .iter()
                    .flat_map(|c| &c.words)
                    .map(|w| shell_word(&w.text))
                    .collect();
                out += &format!("{cmd} -A {} {}\n", shell_word(&c.name), words.join(" "));
            }
        }
    }
    out
}

fn sorted(mut rs: Ruleset) -> Ruleset {
    rs.tables.sort_by_key(|t| (t.family, t.kind));
    rs
}

fn without_counters(mut rs: Ruleset) -> Ruleset {
    for c in rs.tables.iter_mut().flat_map(|t| &mut t.chains) {
        c.counters = Counters::default();
        for r in &mut c.rules {
            r.counters = Counters::default();
        }
    }
    rs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn save_text_reads_back_to_the_same_ruleset(rs in ruleset()) {
        let rs = sorted(rs);
        let text = print_sets(&rs) + &to_save_all(&rs, true);
        let back = parse_save(&Source::new("printed", text.as_str()), ParseOptions::default())
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .ruleset;
        prop_assert_eq!(&sorted(back.clone()).tables, &rs.tables, "{}", text);
        prop_assert_eq!(&back.sets, &rs.sets, "{}", text);
        // And printing again gives the same text.
        prop_assert_eq!(print_sets(&back) + &to_save_all(&sorted(back), true), text);
    }

    #[test]
    fn script_reads_back_to_the_same_ruleset(rs in ruleset()) {
        let rs = without_counters(sorted(rs));
        let text = script(&rs);
        let back = parse_script(&Source::new("script", text.as_str()), ParseOptions::default())
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .ruleset;
        let rs_sets = rs.sets.clone();
        prop_assert_eq!(sorted(back.clone()).tables, rs.tables, "{}", text);
        prop_assert_eq!(back.sets, rs_sets, "{}", text);
    }
}
