//! The compiled classifier: per chain, per packet field, lookup tables that narrow a
//! chain's rules to the candidates that may match the packet, so the walk evaluates only
//! those, in order, and skips the rest.
//!
//! ```text
//!   ruleset ──build(known fields)──▶ Index: per table, per chain, one table per field
//!                                     (src, dst, proto, sport, dport, -i, -o, ct state)
//!   walk at chain C, rule n ──▶ AND of the field lookups = candidate bitset of C
//!                           ──▶ next candidate ≥ n: evaluated by the walk as before
//! ```
//!
//! Decisions and their reasons:
//! - **Narrow, never decide.** The classifier only proves that a rule cannot match; the
//!   walk still evaluates every candidate with the reference matcher, so verdicts, jumps,
//!   RETURN, NAT, marks and all state effects (conntrack, limit, hashlimit, recent, `-j
//!   SET`) are the walk's own. A skipped rule is one the walk would have failed without
//!   any effect; answers are the walk's exactly (the property test in `tests/sim/classify.rs`
//!   compares whole traces).
//! - **Only effect-free tests narrow.** The matcher tests the IP header, then the modules
//!   in order, and stops at the first miss. A module can have effects: limit, hashlimit and
//!   recent change state, a module not simulated or a set not defined warns and forks, and
//!   a test on a field the packet leaves unset forks. So a rule's tables use its header
//!   tests and the modules *before* its first module that can have an effect for this
//!   packet; a miss there is a miss the walk makes before anything happens.
//! - **One index per set of known fields.** Whether a module can fork depends on which
//!   fields the packet gives (ports, TCP flags, ICMP type and code, MAC, length): the
//!   [`Known`] fields key the index, built on first use (a batch has one or two kinds).
//! - **Negations do not narrow.** `! -s X` puts the rule in every lookup (`any`): the walk
//!   decides it. Likewise `--ports` (either side), `-m mark`, `-m iprange`, `-m addrtype`,
//!   sets and ICMP types are left to the walk; they pass (they have no effect) but do not
//!   narrow.
//! - **Where the walk records misses, nothing is skipped:** under explain (every miss is a
//!   step) and in the nat table's POSTROUTING chain (misses feed the hints).
//! - **Bounds as the walk counts them.** Skipped rules still count as evaluations, so
//!   [`crate::MAX_RULE_EVALUATIONS`] stops a looping ruleset at the same point.

mod dims;

use std::net::IpAddr;

use rampart_prefix::Prefix;
use rampart_ruleset::{
    Interface, Match, Neg, PortRange, PortSide, Protocol, RuleSpec, Ruleset, SetKind,
};

use crate::matcher::{test_count, Sets};
use crate::packet::Packet;
pub(crate) use dims::{next_set, word_count, Words};
use dims::{
    AddrBuilder, AddrTable, BitsBuilder, BitsTable, IfaceBuilder, IfaceTable, PortBuilder,
    PortTable, ProtoBuilder, ProtoTable,
};

/// Which optional packet fields are given: what decides whether a test can fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Known {
    pub sport: bool,
    pub dport: bool,
    pub tcp_flags: bool,
    pub icmp_type: bool,
    pub icmp_code: bool,
    pub mac: bool,
    pub length: bool,
}

impl Known {
    pub fn of(p: &Packet) -> Known {
        Known {
            sport: p.sport.is_some(),
            dport: p.dport.is_some(),
            tcp_flags: p.tcp_flags.is_some(),
            icmp_type: p.icmp_type.is_some(),
            icmp_code: p.icmp_code.is_some(),
            mac: p.mac_src.is_some(),
            length: p.length.is_some(),
        }
    }
}

/// The packet's fields at the point of the walk where a chain is entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query<'q> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Protocol,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub in_iface: &'q str,
    pub out_iface: &'q str,
    pub ct_bits: u8,
}

/// The classifier of one ruleset: an [`Index`] per kind of packet, built on first use.
#[derive(Debug, Default)]
pub(crate) struct Classifier {
    indexes: Vec<Index>,
}

/// Kinds of packet (sets of known fields) indexed at most: each kind costs a build
/// linear in the ruleset, and there are 2^7 kinds at worst; past this, packets of a new
/// kind are walked rule by rule.
const MAX_INDEXES: usize = 8;

impl Classifier {
    /// The index for packets like `packet`, built if needed; `None` once
    /// [`MAX_INDEXES`] kinds are indexed.
    pub fn index(&mut self, ruleset: &Ruleset, sets: &Sets, packet: &Packet) -> Option<&Index> {
        let known = Known::of(packet);
        let at = match self.indexes.iter().position(|i| i.known == known) {
            Some(at) => at,
            None if self.indexes.len() < MAX_INDEXES => {
                self.indexes.push(Index::build(ruleset, sets, known));
                self.indexes.len() - 1
            }
            None => return None,
        };
        self.indexes.get(at)
    }
}

/// Lookup tables for every chain of a ruleset, for packets with the given known fields.
#[derive(Debug)]
pub(crate) struct Index {
    known: Known,
    /// Per table, per chain (the ruleset's order).
    chains: Vec<Vec<ChainIndex>>,
}

/// One chain's tables; a field no rule of the chain constrains has none.
#[derive(Debug)]
struct ChainIndex {
    rules: usize,
    /// Per rule, the tests `matcher::failing_tests` can count (for the nearest-miss
    /// hint's bound, kept here so the bound reads no rule).
    tests: Vec<u32>,
    src: Option<AddrTable>,
    dst: Option<AddrTable>,
    proto: Option<ProtoTable>,
    sport: Option<PortTable>,
    dport: Option<PortTable>,
    in_iface: Option<IfaceTable>,
    out_iface: Option<IfaceTable>,
    ct: Option<BitsTable>,
}

impl Index {
    /// Builds the tables of every chain of `ruleset` for packets whose known fields are
    /// `known`.
    pub fn build(ruleset: &Ruleset, sets: &Sets, known: Known) -> Index {
        let chains = ruleset
            .tables
            .iter()
            .map(|t| {
                t.chains
                    .iter()
                    .map(|c| ChainIndex::build(c.rules.iter().map(|r| &r.spec), sets, known))
                    .collect()
            })
            .collect();
        Index { known, chains }
    }

    /// Whether the index applies to a packet whose ports are now `sport`, `dport` (NAT
    /// can set a port the packet did not give; then the walk decides alone).
    pub fn fits(&self, sport: Option<u16>, dport: Option<u16>) -> bool {
        self.known.sport == sport.is_some() && self.known.dport == dport.is_some()
    }

    /// The candidate rules of chain `chain` of table `table` for `q`, into `out`.
    pub fn candidates(
        &self,
        table: usize,
        chain: usize,
        q: &Query,
        out: &mut Words,
        scratch: &mut Words,
    ) {
        let c = &self.chains[table][chain];
        out.clear();
        out.resize(word_count(c.rules), !0);
        // No candidates past the chain's end.
        if let Some(last) = out.last_mut() {
            if c.rules % 64 != 0 {
                *last = (1u64 << (c.rules % 64)) - 1;
            }
        }
        // Addresses first: they are what rulesets mostly differ by, and an empty set
        // ends the lookups early.
        let none = |out: &Words| out.iter().all(|w| *w == 0);
        if let Some(t) = &c.src {
            t.narrow(q.src, out, scratch);
        }
        if let Some(t) = &c.dst {
            t.narrow(q.dst, out, scratch);
        }
        if none(out) {
            return;
        }
        if let Some(t) = &c.proto {
            t.narrow(q.proto.0, out, scratch);
        }
        if let (Some(t), Some(p)) = (&c.dport, q.dport) {
            t.narrow(p, out, scratch);
        }
        if let (Some(t), Some(p)) = (&c.sport, q.sport) {
            t.narrow(p, out, scratch);
        }
        if none(out) {
            return;
        }
        if let Some(t) = &c.in_iface {
            t.narrow(q.in_iface, out, scratch);
        }
        if let Some(t) = &c.out_iface {
            t.narrow(q.out_iface, out, scratch);
        }
        if let Some(t) = &c.ct {
            t.narrow(q.ct_bits, out, scratch);
        }
    }

    /// How many tests `matcher::failing_tests` can count for rule `rule` of chain `chain`
    /// of table `table`.
    pub fn test_count(&self, table: usize, chain: usize, rule: usize) -> usize {
        self.chains[table][chain].tests[rule] as usize
    }

    /// The rules of chain `chain` of table `table` by a lower bound on how many of their
    /// tests fail for `q`, as `matcher::failing_tests` counts them: `levels[k]` holds the
    /// rules whose bound is `k`, for `k` up to `max` (rules above it are left out). The
    /// bound is one per field whose table rules the rule out, each field standing for a
    /// test of its own (source, destination, protocol, the port module, `-i`, `-o`, the
    /// state module); the ports count once for both sides (one module may test both) and
    /// not at all when the protocol fails (a port test of another protocol is counted as
    /// the protocol). The DROP policy's nearest-miss hint evaluates rules level by level
    /// and stops when no rule left can tie: a few rules instead of every ACCEPT rule.
    pub fn miss_levels(&self, table: usize, chain: usize, q: &Query, max: usize) -> Vec<Words> {
        let c = &self.chains[table][chain];
        let words = word_count(c.rules);
        let mut scratch = Words::new();
        // The rules each field rules out, as a bitset; `None` when no rule tests it.
        let mut failing = |narrow: &dyn Fn(&mut [u64], &mut Words)| {
            let mut out = vec![!0; words];
            narrow(&mut out, &mut scratch);
            out.iter_mut().for_each(|w| *w = !*w);
            out
        };
        let proto = (c.proto.as_ref()).map(|t| failing(&|o, s| t.narrow(q.proto.0, o, s)));
        let sport =
            (c.sport.as_ref().zip(q.sport)).map(|(t, p)| failing(&|o, s| t.narrow(p, o, s)));
        let dport =
            (c.dport.as_ref().zip(q.dport)).map(|(t, p)| failing(&|o, s| t.narrow(p, o, s)));
        let ports = match (sport, dport) {
            (Some(a), Some(b)) => Some(a.iter().zip(&b).map(|(a, b)| a | b).collect()),
            (a, b) => a.or(b),
        };
        let ports = match (ports, &proto) {
            (Some(ports), Some(proto)) => {
                Some(ports.iter().zip(proto).map(|(p, x)| p & !x).collect())
            }
            (ports, _) => ports,
        };
        let fields = [
            c.src
                .as_ref()
                .map(|t| failing(&|o, s| t.narrow(q.src, o, s))),
            c.dst
                .as_ref()
                .map(|t| failing(&|o, s| t.narrow(q.dst, o, s))),
            proto,
            ports,
            (c.in_iface.as_ref()).map(|t| failing(&|o, s| t.narrow(q.in_iface, o, s))),
            (c.out_iface.as_ref()).map(|t| failing(&|o, s| t.narrow(q.out_iface, o, s))),
            c.ct.as_ref()
                .map(|t| failing(&|o, s| t.narrow(q.ct_bits, o, s))),
        ];
        // Bit-sliced counters: bit i of count[b] is bit b of rule i's count (seven fields
        // count to seven at most: three bits).
        let mut count = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
        for field in fields.iter().flatten() {
            for (w, x) in field.iter().enumerate() {
                let carry0 = count[0][w] & x;
                count[0][w] ^= x;
                let carry1 = count[1][w] & carry0;
                count[1][w] ^= carry0;
                count[2][w] ^= carry1;
            }
        }
        let live = |w: usize| match c.rules % 64 {
            r if r != 0 && w + 1 == words => (1u64 << r) - 1,
            _ => !0,
        };
        (0..=max.min(7))
            .map(|k| {
                (0..words)
                    .map(|w| {
                        let bit = |b: usize| {
                            if k >> b & 1 == 1 {
                                count[b][w]
                            } else {
                                !count[b][w]
                            }
                        };
                        bit(0) & bit(1) & bit(2) & live(w)
                    })
                    .collect()
            })
            .collect()
    }
}

impl ChainIndex {
    fn build<'s>(
        specs: impl ExactSizeIterator<Item = &'s RuleSpec>,
        sets: &Sets,
        known: Known,
    ) -> ChainIndex {
        let rules = specs.len();
        let mut src = AddrBuilder::new(rules);
        let mut dst = AddrBuilder::new(rules);
        let mut proto = ProtoBuilder::new(rules);
        let mut sport = PortBuilder::new(rules);
        let mut dport = PortBuilder::new(rules);
        let mut in_iface = IfaceBuilder::new(rules);
        let mut out_iface = IfaceBuilder::new(rules);
        let mut ct = BitsBuilder::new(rules);
        let mut tests = Vec::with_capacity(rules);
        for (i, spec) in specs.enumerate() {
            tests.push(u32::try_from(test_count(spec)).unwrap_or(u32::MAX));
            let c = Constraints::of(spec, sets, known);
            // Chains are bounded far below 2^32 rules by the parser's input limits.
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            src.add(i, c.src);
            dst.add(i, c.dst);
            proto.add(i, c.proto.map(|p| p.0));
            sport.add(i, c.sport.as_deref());
            dport.add(i, c.dport.as_deref());
            in_iface.add(i, c.in_iface);
            out_iface.add(i, c.out_iface);
            ct.add(i, c.ct);
        }
        ChainIndex {
            rules,
            tests,
            src: src.finish(),
            dst: dst.finish(),
            proto: proto.finish(),
            sport: sport.finish(),
            dport: dport.finish(),
            in_iface: in_iface.finish(),
            out_iface: out_iface.finish(),
            ct: ct.finish(),
        }
    }
}

/// What one rule requires of each field, as far as the classifier narrows by it; `None`
/// is no requirement. A rule that constrains a field twice keeps the first (narrowing
/// less than it could, never wrongly).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Constraints<'s> {
    pub src: Option<Prefix>,
    pub dst: Option<Prefix>,
    pub proto: Option<Protocol>,
    pub sport: Option<Vec<PortRange>>,
    pub dport: Option<Vec<PortRange>>,
    pub in_iface: Option<&'s Interface>,
    pub out_iface: Option<&'s Interface>,
    /// Conntrack bits of which the packet's must meet at least one.
    pub ct: Option<u8>,
}

impl<'s> Constraints<'s> {
    /// The requirements of `spec` that the matcher tests before anything with an effect.
    pub fn of(spec: &'s RuleSpec, sets: &Sets, known: Known) -> Constraints<'s> {
        let one = |r: Option<&'s PortRange>| r.map(std::slice::from_ref);
        let mut c = Constraints {
            src: plain(&spec.source).copied(),
            dst: plain(&spec.destination).copied(),
            proto: plain(&spec.protocol).copied(),
            in_iface: plain(&spec.in_interface),
            out_iface: plain(&spec.out_interface),
            ..Constraints::default()
        };
        for m in &spec.matches {
            if !effect_free(m, sets, known) {
                break;
            }
            match m {
                Match::Tcp(t) => {
                    c.proto.get_or_insert(Protocol::TCP);
                    c.ports(one(plain(&t.sport)), one(plain(&t.dport)));
                }
                Match::Udp(u) => {
                    c.proto.get_or_insert(Protocol::UDP);
                    c.ports(one(plain(&u.sport)), one(plain(&u.dport)));
                }
                Match::Multiport(mp) if !mp.ports.negated => {
                    let ranges = &mp.ports.value;
                    match mp.side {
                        PortSide::Source => c.ports(Some(ranges), None),
                        PortSide::Destination => c.ports(None, Some(ranges)),
                        PortSide::Either => {}
                    }
                }
                Match::State(s) if !s.negated => {
                    // xt_state sees the state bits only, not SNAT/DNAT.
                    c.ct.get_or_insert(s.value.0 & 0x1f);
                }
                Match::Conntrack(ct) => {
                    if let Some(s) = ct.state.as_ref().filter(|s| !s.negated) {
                        c.ct.get_or_insert(s.value.0);
                    }
                }
                _ => {}
            }
        }
        c
    }

    fn ports(&mut self, sport: Option<&[PortRange]>, dport: Option<&[PortRange]>) {
        if self.sport.is_none() {
            self.sport = sport.map(<[PortRange]>::to_vec);
        }
        if self.dport.is_none() {
            self.dport = dport.map(<[PortRange]>::to_vec);
        }
    }
}

/// The value of a test written without `!`.
fn plain<T>(n: &Option<Neg<T>>) -> Option<&T> {
    n.as_ref().filter(|n| !n.negated).map(|n| &n.value)
}

/// Whether the matcher can evaluate `m` with no effect for a packet with `known` fields:
/// no state change, no warning, no fork. Mirrors `matcher::match_one`; a module this
/// does not know (a variant added to [`Match`] later) counts as having effects.
pub(crate) fn effect_free(m: &Match, sets: &Sets, known: Known) -> bool {
    let port = |t: &Option<Neg<PortRange>>, known: bool| t.is_none() || known;
    match m {
        Match::Tcp(t) => {
            port(&t.sport, known.sport)
                && port(&t.dport, known.dport)
                && (t.flags.is_none() || known.tcp_flags)
        }
        Match::Udp(u) => port(&u.sport, known.sport) && port(&u.dport, known.dport),
        Match::Icmp(t) | Match::Icmp6(t) => {
            t.value.ty.is_none() || (known.icmp_type && (t.value.code.is_none() || known.icmp_code))
        }
        Match::Multiport(mp) => match mp.side {
            PortSide::Source => known.sport,
            PortSide::Destination => known.dport,
            PortSide::Either => known.sport && known.dport,
        },
        // The rarer conntrack options (direction, original ports, reply tuple, status,
        // expiry) can be unknown and fork.
        Match::Conntrack(c) => c.more.is_none(),
        Match::State(_)
        | Match::Connlimit(_)
        | Match::Comment(_)
        | Match::Iprange(_)
        | Match::Addrtype(_)
        | Match::Mark(_) => true,
        Match::Mac(_) => known.mac,
        Match::Length(_) => known.length,
        // Address sets are looked up (and the walk's own additions read), never changed;
        // sets with ports read a field that may be unset; an undefined set warns.
        Match::Set(s) => sets
            .get(&s.name)
            .is_some_and(|set| matches!(set.kind(), SetKind::HashIp | SetKind::HashNet)),
        Match::Limit(_) | Match::Hashlimit(_) | Match::Recent(_) => false,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use rampart_ruleset::{parse_script, ParseOptions, Source};

    use super::*;

    const ALL: Known = Known {
        sport: true,
        dport: true,
        tcp_flags: true,
        icmp_type: true,
        icmp_code: true,
        mac: true,
        length: true,
    };

    /// The constraints of `iptables -A INPUT <args>` under `known`.
    fn of(args: &str, known: Known) -> (Option<u8>, Option<Vec<PortRange>>, Option<u8>) {
        let text = format!("ipset create blk hash:ip\niptables -A INPUT {args}\n");
        let rs = parse_script(&Source::new("t.sh", text), ParseOptions::default())
            .unwrap()
            .ruleset;
        let sets = Sets::new(&rs.sets);
        let spec = &rs.tables[0].chain("INPUT").unwrap().rules[0].spec;
        let c = Constraints::of(spec, &sets, known);
        (c.proto.map(|p| p.0), c.dport, c.ct)
    }

    fn port(p: u16) -> Option<Vec<PortRange>> {
        Some(vec![PortRange::single(p)])
    }

    #[test]
    fn header_and_plain_modules_narrow() {
        assert_eq!(
            of(
                "-p tcp -m tcp --dport 22 -m state --state NEW -j ACCEPT",
                ALL
            ),
            (Some(6), port(22), Some(CtStatesBits::NEW))
        );
        assert_eq!(
            of("-m udp -p udp --dport 53 -j ACCEPT", ALL),
            (Some(17), port(53), None)
        );
        assert_eq!(
            of("-p tcp -m multiport --dports 80,443 -j ACCEPT", ALL).1,
            Some(vec![PortRange::single(80), PortRange::single(443)])
        );
    }

    #[test]
    fn negations_do_not_narrow() {
        assert_eq!(
            of("! -p tcp -m state ! --state NEW -j DROP", ALL),
            (None, None, None)
        );
        assert_eq!(of("-p tcp -m tcp ! --dport 22 -j DROP", ALL).1, None);
        assert_eq!(of("-p tcp -m multiport ! --dports 22 -j DROP", ALL).1, None);
    }

    #[test]
    fn modules_after_one_with_effects_do_not_narrow() {
        // The limit would consume a token before the port test fails.
        let limited = "-p tcp -m limit --limit 1/sec -m tcp --dport 22 -j ACCEPT";
        assert_eq!(of(limited, ALL), (Some(6), None, None));
        let recent = "-m recent --name r --set -m state --state NEW -j DROP";
        assert_eq!(of(recent, ALL).2, None);
        // An undefined set warns; a defined address set only reads.
        let undefined = "-m set --match-set nosuch src -m state --state NEW -j DROP";
        assert_eq!(of(undefined, ALL).2, None);
        let defined = "-m set --match-set blk src -m state --state NEW -j DROP";
        assert_eq!(of(defined, ALL).2, Some(CtStatesBits::NEW));
        // --ctdir is unknown before conntrack (raw) and forks there.
        let ctdir = "-m conntrack --ctdir ORIGINAL -m state --state NEW -j DROP";
        assert_eq!(of(ctdir, ALL).2, None);
    }

    #[test]
    fn tests_on_unset_fields_fork_so_they_stop_narrowing() {
        let no_sport = Known {
            sport: false,
            ..ALL
        };
        // --sport forks before --dport is tested: neither narrows, nor what follows.
        let rule = "-p tcp -m tcp --sport 1024:65535 --dport 22 -m state --state NEW -j ACCEPT";
        assert_eq!(of(rule, no_sport), (Some(6), None, None));
        assert_eq!(of(rule, ALL), (Some(6), port(22), Some(CtStatesBits::NEW)));
        let no_mac = Known { mac: false, ..ALL };
        let mac = "-m mac --mac-source aa:bb:cc:dd:ee:ff -m state --state NEW -j DROP";
        assert_eq!(of(mac, no_mac).2, None);
        assert_eq!(of(mac, ALL).2, Some(CtStatesBits::NEW));
    }

    use rampart_ruleset::CtStates as CtStatesBits;
}
