//! Ruleset → [`Program`]: the tables a packet meets on one path, with user chains
//! unfolded into one instruction list.
//!
//! Each instruction carries its path condition (its own matches AND those of every jump
//! that leads to it) as one [`Cube`], plus a "may" flag for tests no cube can express (rate
//! limits, `recent`, `connlimit`, MAC, address types...). A `RETURN` is a jump to the end of
//! the unfolded body, a `-g` body ends with an unconditional return to its caller's caller,
//! and ACCEPT jumps to the end of its table's chain: so one linear walk, skipping the
//! instructions whose condition is false, is the kernel's traversal.

use std::collections::BTreeSet;
use std::fmt;

use rampart_prefix::{AddrRange, Prefix};
use rampart_ruleset::{
    Action, Chain, ConnmarkTarget, CtStates, Family, IpSet, Match, Policy, PortRange, PortSide,
    Rule, Ruleset, SetDir, SetKind, Span, TableKind, Target,
};
use serde::Serialize;

use crate::space::{Cube, Dim, Ranges, Universe, CT_NEW};

/// Instructions one program may hold after unfolding: a chain jumped to from many places
/// is copied for each, so this bounds what a pathological fan-out of jumps costs.
pub const MAX_INSTRUCTIONS: usize = 2_000_000;

/// Sets with more members than this are looked up as a class rather than expanded into
/// address boundaries (a country list of 400k ranges would make every source split
/// 800k ways).
pub const MAX_EXPANDED_MEMBERS: usize = 100_000;

/// The way through the host a packet takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// Arriving for this host: PREROUTING then INPUT.
    Input,
    /// Routed through: PREROUTING, FORWARD, POSTROUTING.
    Forward,
    /// Sent by this host: OUTPUT then POSTROUTING.
    Output,
}

impl PathKind {
    /// All paths.
    pub const ALL: [PathKind; 3] = [PathKind::Input, PathKind::Forward, PathKind::Output];

    /// The (chain, table) pairs in the kernel's order.
    pub fn stages(self) -> &'static [(&'static str, TableKind)] {
        use TableKind::*;
        match self {
            PathKind::Input => &[
                ("PREROUTING", Raw),
                ("PREROUTING", Mangle),
                ("PREROUTING", Nat),
                ("INPUT", Mangle),
                ("INPUT", Filter),
                ("INPUT", Security),
                ("INPUT", Nat),
            ],
            PathKind::Forward => &[
                ("PREROUTING", Raw),
                ("PREROUTING", Mangle),
                ("PREROUTING", Nat),
                ("FORWARD", Mangle),
                ("FORWARD", Filter),
                ("FORWARD", Security),
                ("POSTROUTING", Mangle),
                ("POSTROUTING", Nat),
            ],
            PathKind::Output => &[
                ("OUTPUT", Raw),
                ("OUTPUT", Mangle),
                ("OUTPUT", Nat),
                ("OUTPUT", Filter),
                ("OUTPUT", Security),
                ("POSTROUTING", Mangle),
                ("POSTROUTING", Nat),
            ],
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            PathKind::Input => "input",
            PathKind::Forward => "forward",
            PathKind::Output => "output",
        }
    }
}

/// A rule of the ruleset, as findings and diffs name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// The family of its table.
    pub family: Family,
    /// Its table.
    pub table: TableKind,
    /// Its chain.
    pub chain: String,
    /// 1-based position in the chain (as `iptables -L --line-numbers`).
    pub number: usize,
    /// The line it was written on, when known.
    pub line: Option<u32>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} rule {}", self.table, self.chain, self.number)
    }
}

/// What a final verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Passed every table on the path.
    Accept,
    /// Dropped silently.
    Drop,
    /// Dropped with an error answer.
    Reject,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accept => "ACCEPT",
            Verdict::Drop => "DROP",
            Verdict::Reject => "REJECT",
        })
    }
}

/// A destination rewrite (DNAT, REDIRECT) as the later tables see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rewrite {
    /// New destination address, `None` to keep it (REDIRECT, port-only DNAT).
    pub dst: Option<u128>,
    /// New destination port, `None` to keep it.
    pub dport: Option<u128>,
    /// Whether the new destination is one of the host's addresses ([`Locals`]): the
    /// routing decision after PREROUTING. `None` when the address is kept (port-only DNAT):
    /// the path decides.
    pub local: Option<bool>,
}

/// The host's own addresses, for the routing decision after a DNAT: a packet whose new
/// destination is local goes to INPUT, any other through FORWARD and POSTROUTING (as the
/// kernel routes it, and as `rampart_sim` does with its host description).
///
/// Without a host description the ruleset says which addresses are the host's: loopback,
/// the single addresses SNAT translates to, and the single addresses the built-in INPUT
/// chains accept or drop as destination (`-d 192.0.2.1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locals {
    /// The addresses (or networks) that are the host's own.
    pub addrs: Vec<Prefix>,
}

impl Locals {
    /// Loopback only: with [`Locals::with`], a host description's addresses.
    pub fn loopback() -> Locals {
        Locals {
            addrs: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
        }
    }

    /// Loopback and the addresses the rulesets name as the host's own (see the type).
    pub fn infer(rulesets: &[&Ruleset]) -> Locals {
        let mut addrs = Locals::loopback().addrs;
        let single = |p: &Prefix| p.len() == host_len(p.addr());
        for rs in rulesets {
            for t in &rs.tables {
                for c in &t.chains {
                    for r in &c.rules {
                        let spec = &r.spec;
                        if t.kind == TableKind::Nat {
                            if let Some(Action::Jump(Target::Snat(n))) = &spec.action {
                                if let Some(a) = n.addrs.as_ref().filter(|a| a.start() == a.end()) {
                                    addrs.extend(Prefix::new(a.start(), host_len(a.start())));
                                }
                            }
                        }
                        if t.kind == TableKind::Filter && c.name == "INPUT" {
                            if let Some(d) = spec.destination.as_ref() {
                                if !d.negated && single(&d.value) {
                                    addrs.push(d.value);
                                }
                            }
                        }
                    }
                }
            }
        }
        addrs.sort_by_key(|p| (p.addr(), p.len()));
        addrs.dedup();
        Locals { addrs }
    }

    /// These and the given addresses of the host (from its description).
    pub fn with(mut self, host: impl IntoIterator<Item = std::net::IpAddr>) -> Locals {
        for a in host {
            self.addrs.extend(Prefix::new(a, host_len(a)));
        }
        self.addrs.sort_by_key(|p| (p.addr(), p.len()));
        self.addrs.dedup();
        self
    }

    /// Whether `addr` (as the analysis numbers it in `family`) is local.
    pub fn contains(&self, family: Family, addr: u128) -> bool {
        self.addrs.iter().any(|p| {
            Family::of(p.addr()) == family && {
                let r = prefix_ranges(p);
                r.contains(addr)
            }
        })
    }
}

/// What an instruction does when its condition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Log, mark, count, a jump's own rule: go on with the next instruction.
    Continue,
    /// ACCEPT: go on with the next table (`to`: the end of this table's chain).
    Accept {
        /// First instruction of the next table.
        to: u32,
    },
    /// DROP or REJECT: the packet's fate.
    Final(Verdict),
    /// RETURN (or the end of a `-g` body): continue at `to`.
    Return {
        /// Where the caller continues.
        to: u32,
    },
    /// The routing decision after PREROUTING: on to the next instruction (the INPUT
    /// tables) when the destination is local, else to `forward` (FORWARD, POSTROUTING).
    /// Only where a DNAT may send the packet off its path's usual way.
    Route {
        /// First instruction of the FORWARD tables.
        forward: u32,
    },
    /// The end of the INPUT tables when FORWARD's follow: continue at `to` (the end).
    Skip {
        /// Where the walk continues.
        to: u32,
    },
    /// SNAT, MASQUERADE, DNAT, REDIRECT: note the translation and leave the nat chain.
    Nat {
        /// In words: `DNAT to 192.0.2.5:8080`.
        what: String,
        /// The destination rewrite later tables match against.
        rewrite: Option<Rewrite>,
        /// First instruction of the next table.
        to: u32,
    },
}

/// One unfolded rule (or a chain policy).
#[derive(Debug, Clone)]
pub struct Instr {
    /// The path condition.
    pub cube: Cube,
    /// True when a test outside the cube (rate, history, unknown) may or may not hold.
    pub may: bool,
    /// What happens when it holds.
    pub act: Act,
    /// The rule, `None` for a chain policy.
    pub rule: Option<u32>,
    /// Tests of the connection's NAT status (`--ctstate SNAT/DNAT`), all of which must
    /// hold besides the cube; only on a connection's first packet, where the walk knows
    /// the translations made so far.
    pub nat_status: Vec<NatNeed>,
    /// The instruction's rule is terminal (ACCEPT/DROP/REJECT/RETURN/NAT).
    pub terminal: bool,
    /// Written in the built-in chain itself, not unfolded from a user chain.
    pub top: bool,
    /// First instruction after its table's chain (and its policy).
    pub seg_end: u32,
}

/// A test of a connection's NAT status bits, as `-m conntrack --ctstate SNAT,DNAT` makes
/// it: whether the connection was source-translated (`snat` asked) or
/// destination-translated (`dnat` asked) must be `want`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatNeed {
    /// The test asks for the SNAT bit.
    pub snat: bool,
    /// The test asks for the DNAT bit.
    pub dnat: bool,
    /// Whether one of the asked bits must be set (`false` for `! --ctstate`).
    pub want: bool,
}

impl NatNeed {
    /// Whether the test holds for a packet whose connection has these translations.
    pub fn holds(&self, snat: bool, dnat: bool) -> bool {
        ((self.snat && snat) || (self.dnat && dnat)) == self.want
    }
}

/// A rule's test of conntrack states that names SNAT or DNAT: what [`MatchCompiler::ct`]
/// leaves to [`nat_variants`].
#[derive(Debug, Clone, Copy)]
struct NatTest {
    /// The plain states named (NEW, ESTABLISHED, ...), as [`Dim::Ct`] values.
    states: u8,
    need: NatNeed,
}

/// A rule whose state test names SNAT or DNAT, split by conntrack state into
/// instructions the cube can say: (states, "may" flag, NAT status test). The status
/// bits are known on a connection's first packet (the walk's own translations), never
/// set on INVALID and UNTRACKED packets (no connection), and unknown on the packets of
/// an established connection ("may").
fn nat_variants(t: NatTest) -> Vec<(Ranges, bool, Option<NatNeed>)> {
    let named = |v: u128| t.states >> v & 1 == 1;
    let of = |vals: &[u128], pick: bool| {
        let parts: Vec<(u128, u128)> = vals
            .iter()
            .filter(|v| named(**v) == pick)
            .map(|v| (*v, *v))
            .collect();
        Ranges::from_parts(parts)
    };
    let (new, est, none) = ([CT_NEW], [1, 2], [3, 4]);
    if t.need.want {
        // state in the named ones, or a NAT bit set.
        vec![
            (of(&[0, 1, 2, 3, 4], true), false, None),
            (of(&new, false), false, Some(t.need)),
            (of(&est, false), true, None),
        ]
    } else {
        // state in none of the named ones, and no NAT bit set.
        vec![
            (of(&new, false), false, Some(t.need)),
            (of(&est, false), true, None),
            (of(&none, false), false, None),
        ]
    }
}

impl Instr {
    /// When this instruction decides every packet reaching it (no "may", a verdict or a
    /// jump to the next table, in the built-in chain itself), the end of the stretch it
    /// makes unreachable: its chain's policy. No jump lands in between: jumps only go
    /// forward, a RETURN ends the body holding it or (from a `-g` body) goes to the
    /// policy, an ACCEPT goes past the policy.
    pub fn cutoff(&self) -> Option<u32> {
        let decides = matches!(
            self.act,
            Act::Accept { .. } | Act::Final(_) | Act::Nat { .. }
        );
        let certain = !self.may && self.nat_status.is_empty();
        (decides && self.top && certain && self.rule.is_some()).then(|| self.seg_end - 1)
    }
}

/// The tables of one path for one family, unfolded.
#[derive(Debug, Clone)]
pub struct Program {
    /// The family.
    pub family: Family,
    /// The path.
    pub path: PathKind,
    /// The instructions, in walk order.
    pub instrs: Vec<Instr>,
}

/// Why a ruleset cannot be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// A jump names a chain the table does not have.
    #[error("{table}:{chain}: rule {number} jumps to chain `{target}`, which does not exist")]
    NoSuchChain {
        /// Table.
        table: TableKind,
        /// Chain holding the jump.
        chain: String,
        /// 1-based rule number.
        number: usize,
        /// The missing chain.
        target: String,
    },
    /// Jumps nest deeper than the kernel allows (or loop).
    #[error("{table}:{chain}: jumps nest deeper than {max} (a loop?); flatten the chains")]
    TooDeep {
        /// Table.
        table: TableKind,
        /// Chain where the depth ran out.
        chain: String,
        /// The limit.
        max: usize,
    },
    /// Unfolding made too many instructions.
    #[error(
        "unfolding the user chains makes more than {max} rules (chains jumped to from many \
         places are copied for each); analyse a smaller ruleset"
    )]
    TooLarge {
        /// The limit.
        max: usize,
    },
}

/// The rules and universe of one ruleset for one family, and its programs.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Every rule of the family, by id.
    pub rules: Vec<RuleRef>,
    /// The programs, in [`PathKind::ALL`] order.
    pub programs: Vec<Program>,
}

/// Collects the interface names and set classes `rulesets` need in `family`.
pub fn universe(rulesets: &[&Ruleset], family: Family) -> Universe {
    let mut u = Universe {
        ipv6: family == Family::Ipv6,
        ..Universe::default()
    };
    let mut names = BTreeSet::new();
    for rs in rulesets {
        for rule in rules_of(rs, family) {
            for i in [&rule.spec.in_interface, &rule.spec.out_interface]
                .into_iter()
                .flatten()
            {
                names.insert(i.value.0.clone());
            }
            for m in &rule.spec.matches {
                if let Match::Set(s) = m {
                    if expandable(rulesets, &s.name, family).is_none() {
                        u.class(&s.name, &s.dirs);
                    }
                }
            }
        }
    }
    u.add_iface_names(names.iter().map(String::as_str));
    u
}

fn rules_of(rs: &Ruleset, family: Family) -> impl Iterator<Item = &Rule> {
    rs.tables
        .iter()
        .filter(move |t| t.family == family)
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
}

/// The set's members as address ranges, when every ruleset defines it the same static way
/// (no timeouts, addresses only, not too large): then it is matched exactly.
fn expandable<'a>(rulesets: &[&'a Ruleset], name: &str, family: Family) -> Option<&'a IpSet> {
    let mut found: Option<&IpSet> = None;
    for rs in rulesets {
        let s = rs.set(name)?;
        if s.timeout.is_some()
            || !matches!(s.kind, SetKind::HashIp | SetKind::HashNet)
            || s.entries.len() > MAX_EXPANDED_MEMBERS
            || s.family != family
        {
            return None;
        }
        if found.is_none() {
            found = Some(s);
        }
    }
    // Two rulesets with different members: each gets its own expansion (diff then sees
    // the member change), which `expandable` allows since both are static.
    found
}

fn host_len(ip: std::net::IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn addr_u128(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

fn prefix_ranges(p: &Prefix) -> Ranges {
    let r = p.range();
    Ranges::span(addr_u128(r.start()), addr_u128(r.end()))
}

fn range_ranges(r: &AddrRange) -> Ranges {
    Ranges::span(addr_u128(r.start()), addr_u128(r.end()))
}

fn port_ranges(ps: &[PortRange]) -> Ranges {
    Ranges::from_parts(
        ps.iter()
            .map(|p| (u128::from(p.lo), u128::from(p.hi)))
            .collect(),
    )
}

/// Compiles one rule's matches to a cube and a "may" flag.
struct MatchCompiler<'a> {
    u: &'a mut Universe,
    ruleset: &'a Ruleset,
    family: Family,
}

impl MatchCompiler<'_> {
    fn neg(&self, dim: Dim, r: Ranges, negated: bool) -> (Dim, Ranges) {
        if negated {
            (dim, r.complement(self.u.max(dim)))
        } else {
            (dim, r)
        }
    }

    /// The rule's tests as a cube, whether a test outside it may or may not hold, and a
    /// state test naming SNAT/DNAT (see [`nat_variants`]).
    fn compile(&mut self, rule: &Rule) -> (Cube, bool, Option<NatTest>) {
        let spec = &rule.spec;
        let mut nat = None;
        let mut c = Cube::default();
        let mut may = false;
        if let Some(s) = &spec.source {
            let (d, r) = self.neg(Dim::Src, prefix_ranges(&s.value), s.negated);
            c.and(d, r);
        }
        if let Some(s) = &spec.destination {
            let (d, r) = self.neg(Dim::Dst, prefix_ranges(&s.value), s.negated);
            c.and(d, r);
        }
        for (dim, i) in [
            (Dim::InIface, &spec.in_interface),
            (Dim::OutIface, &spec.out_interface),
        ] {
            if let Some(i) = i {
                let r = self.u.iface_ranges(&i.value.0);
                let (d, r) = self.neg(dim, r, i.negated);
                c.and(d, r);
            }
        }
        if let Some(p) = &spec.protocol {
            let (d, r) = self.neg(Dim::Proto, Ranges::one(u128::from(p.value.0)), p.negated);
            c.and(d, r);
        }
        if let Some(f) = spec.fragment {
            c.and(Dim::Fragment, Ranges::one(u128::from(f)));
        }
        for m in &spec.matches {
            may |= self.add_match(&mut c, m, &mut nat);
        }
        (c, may, nat)
    }

    /// Adds one match; true when it can only be "may". A state test naming SNAT/DNAT goes
    /// to `nat`; a second one in the same rule is "may".
    fn add_match(&mut self, c: &mut Cube, m: &Match, nat: &mut Option<NatTest>) -> bool {
        let mut nat_test = |t: Option<NatTest>| match t {
            Some(t) if nat.is_none() => {
                *nat = Some(t);
                false
            }
            Some(_) => true,
            None => false,
        };
        let ports =
            |c: &mut Cube, dim: Dim, p: &Option<rampart_ruleset::Neg<PortRange>>, me: &Self| {
                if let Some(p) = p {
                    let (d, r) = me.neg(dim, port_ranges(&[p.value]), p.negated);
                    c.and(d, r);
                }
            };
        match m {
            Match::Tcp(t) => {
                c.and(Dim::Proto, Ranges::one(6));
                c.and(Dim::Fragment, Ranges::one(0));
                ports(c, Dim::Sport, &t.sport, self);
                ports(c, Dim::Dport, &t.dport, self);
                if let Some(f) = &t.flags {
                    let vals = (0u128..=255)
                        .filter(|v| {
                            let hit = (*v as u8) & f.value.mask.0 == f.value.comp.0;
                            hit != f.negated
                        })
                        .map(|v| (v, v))
                        .collect();
                    c.and(Dim::TcpFlags, Ranges::from_parts(vals));
                }
                false
            }
            Match::Udp(t) => {
                c.and(Dim::Proto, Ranges::one(17));
                c.and(Dim::Fragment, Ranges::one(0));
                ports(c, Dim::Sport, &t.sport, self);
                ports(c, Dim::Dport, &t.dport, self);
                false
            }
            Match::Icmp(t) | Match::Icmp6(t) => {
                let proto = if matches!(m, Match::Icmp(_)) { 1 } else { 58 };
                c.and(Dim::Proto, Ranges::one(proto));
                let r = match t.value.ty {
                    None => Ranges::span(0, 65535),
                    Some(ty) => {
                        let (lo, hi) = t.value.codes();
                        let at = |code: u8| (u128::from(ty) << 8) | u128::from(code);
                        Ranges::span(at(lo), at(hi))
                    }
                };
                let (d, r) = self.neg(Dim::Icmp, r, t.negated);
                c.and(d, r);
                false
            }
            Match::Multiport(mp) => {
                c.and(Dim::Fragment, Ranges::one(0));
                let r = port_ranges(&mp.ports.value);
                match mp.side {
                    PortSide::Source | PortSide::Destination => {
                        let dim = if mp.side == PortSide::Source {
                            Dim::Sport
                        } else {
                            Dim::Dport
                        };
                        let (d, r) = self.neg(dim, r, mp.ports.negated);
                        c.and(d, r);
                        false
                    }
                    // Either port: not one cube.
                    PortSide::Either => true,
                }
            }
            Match::State(s) => nat_test(self.ct(c, s.value, s.negated)),
            Match::Conntrack(ct) => {
                // Every field named: a field added to the model must be decided here.
                let rampart_ruleset::ConntrackMatch {
                    state,
                    proto,
                    orig_src,
                    orig_dst,
                    more,
                } = ct;
                let mut may = false;
                if let Some(s) = state {
                    may |= nat_test(self.ct(c, s.value, s.negated));
                }
                if let Some(p) = proto {
                    let (d, r) =
                        self.neg(Dim::Proto, Ranges::one(u128::from(p.value.0)), p.negated);
                    c.and(d, r);
                }
                // Original/reply tuples after NAT, status, expiry, direction: may.
                may | orig_src.is_some() | orig_dst.is_some() | more.is_some()
            }
            Match::Recent(r) => {
                // `--set` adds the address and always matches.
                r.command != rampart_ruleset::RecentCommand::Set || r.negated
            }
            Match::Limit(_) | Match::Hashlimit(_) | Match::Connlimit(_) => true,
            Match::Comment(_) => false,
            Match::Set(s) => {
                let addr_dim = match s.dirs.first() {
                    Some(SetDir::Dst) => Dim::Dst,
                    _ => Dim::Src,
                };
                let set = expandable(&[self.ruleset], &s.name, self.family)
                    .filter(|_| self.u.classes.iter().all(|(n, _)| *n != s.name));
                match set {
                    Some(set) => {
                        let r = Ranges::from_parts(
                            set.entries
                                .iter()
                                .filter_map(|e| e.addr.as_ref())
                                .flat_map(|p| prefix_ranges(p).0)
                                .collect(),
                        );
                        let (d, r) = self.neg(addr_dim, r, s.negated);
                        c.and(d, r);
                    }
                    None => {
                        let i = self.u.class(&s.name, &s.dirs);
                        c.and(Dim::Member(i), Ranges::one(u128::from(!s.negated)));
                    }
                }
                false
            }
            Match::Iprange(r) => {
                if let Some(s) = &r.src {
                    let (d, rr) = self.neg(Dim::Src, range_ranges(&s.value), s.negated);
                    c.and(d, rr);
                }
                if let Some(s) = &r.dst {
                    let (d, rr) = self.neg(Dim::Dst, range_ranges(&s.value), s.negated);
                    c.and(d, rr);
                }
                false
            }
            Match::Length(l) => {
                let r = Ranges::span(u128::from(l.value.lo), u128::from(l.value.hi));
                let (d, r) = self.neg(Dim::Length, r, l.negated);
                c.and(d, r);
                false
            }
            Match::Mark(mk) => {
                let mask = mk.value.mask;
                // `mark & mask == value` is an interval when the mask is high bits only.
                if mask.leading_ones() + mask.trailing_zeros() == 32 {
                    let r = if mk.value.value & !mask != 0 {
                        Ranges::empty()
                    } else {
                        let lo = u128::from(mk.value.value & mask);
                        Ranges::span(lo, lo | u128::from(!mask))
                    };
                    let (d, r) = self.neg(Dim::Mark, r, mk.negated);
                    c.and(d, r);
                    false
                } else {
                    true
                }
            }
            // MAC, address types and whatever comes later depend on the host or the link.
            _ => true,
        }
    }

    /// Narrows `c` to the states named; a test naming SNAT or DNAT is returned instead,
    /// for [`nat_variants`] (the status bits are no field of the cube).
    fn ct(&self, c: &mut Cube, states: CtStates, negated: bool) -> Option<NatTest> {
        let bits = [
            CtStates::NEW,
            CtStates::ESTABLISHED,
            CtStates::RELATED,
            CtStates::INVALID,
            CtStates::UNTRACKED,
        ];
        let named = bits
            .iter()
            .enumerate()
            .filter(|(_, b)| states.0 & **b != 0)
            .fold(0u8, |acc, (i, _)| acc | 1 << i);
        let (snat, dnat) = (
            states.0 & CtStates::SNAT != 0,
            states.0 & CtStates::DNAT != 0,
        );
        if snat || dnat {
            return Some(NatTest {
                states: named,
                need: NatNeed {
                    snat,
                    dnat,
                    want: !negated,
                },
            });
        }
        let r = Ranges::from_parts(
            (0..bits.len() as u128)
                .filter(|i| named >> i & 1 == 1)
                .map(|i| (i, i))
                .collect(),
        );
        let (d, r) = self.neg(Dim::Ct, r, negated);
        c.and(d, r);
        None
    }
}

/// Compiles `ruleset`'s tables of `family` into one program per path, over `u` (from
/// [`universe`] over every ruleset compared with this one), with the host's addresses
/// inferred from the ruleset ([`Locals::infer`]).
pub fn compile(
    ruleset: &Ruleset,
    family: Family,
    u: &mut Universe,
) -> Result<Compiled, AnalysisError> {
    compile_with(ruleset, family, u, &Locals::infer(&[ruleset]))
}

/// [`compile`] with the host's addresses given: a DNAT to one of them goes to INPUT, to
/// any other address through FORWARD and POSTROUTING.
pub fn compile_with(
    ruleset: &Ruleset,
    family: Family,
    u: &mut Universe,
    locals: &Locals,
) -> Result<Compiled, AnalysisError> {
    let mut rules = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for t in ruleset.tables.iter().filter(|t| t.family == family) {
        for c in &t.chains {
            for (i, r) in c.rules.iter().enumerate() {
                ids.insert((t.kind, c.name.as_str(), i), rules.len() as u32);
                rules.push(RuleRef {
                    family,
                    table: t.kind,
                    chain: c.name.clone(),
                    number: i + 1,
                    line: r.span.map(|s: Span| s.line),
                });
            }
        }
    }
    let mut programs = Vec::new();
    for path in PathKind::ALL {
        let mut b = Builder {
            mc: MatchCompiler {
                u: &mut *u,
                ruleset,
                family,
            },
            instrs: Vec::new(),
            returns: Vec::new(),
            ids: &ids,
            mark_changed: false,
            sets_changed: BTreeSet::new(),
            locals,
        };
        b.stages(ruleset, family, path)?;
        let mut instrs = b.instrs;
        let (mark_changed, sets_changed) = (b.mark_changed, b.sets_changed);
        if mark_changed || !sets_changed.is_empty() {
            for ins in &mut instrs {
                if mark_changed && ins.cube.get(Dim::Mark).is_some() {
                    ins.may = true;
                }
                for (d, _) in &ins.cube.0 {
                    if let Dim::Member(i) = d {
                        if sets_changed.contains(&u.classes[*i as usize].0) {
                            ins.may = true;
                        }
                    }
                }
            }
        }
        programs.push(Program {
            family,
            path,
            instrs,
        });
    }
    Ok(Compiled { rules, programs })
}

struct Builder<'a> {
    mc: MatchCompiler<'a>,
    instrs: Vec<Instr>,
    /// Per unfolded body, the RETURN instructions to point at its end.
    returns: Vec<Vec<usize>>,
    ids: &'a std::collections::HashMap<(TableKind, &'a str, usize), u32>,
    mark_changed: bool,
    sets_changed: BTreeSet<String>,
    locals: &'a Locals,
}

impl Builder<'_> {
    /// The tables of `path` in the kernel's order. On an arriving path, when a DNAT in
    /// PREROUTING may send a packet the other way (an address for this host translated to
    /// an inner host's, or the reverse), a routing decision follows PREROUTING with both
    /// ways after it: INPUT, then FORWARD and POSTROUTING.
    fn stages(
        &mut self,
        ruleset: &Ruleset,
        family: Family,
        path: PathKind,
    ) -> Result<(), AnalysisError> {
        let each = |b: &mut Self, stages: &[(&str, TableKind)]| {
            for (chain, kind) in stages {
                let Some(table) = ruleset.table(family, *kind) else {
                    continue;
                };
                let Some(c) = table.chain(chain) else {
                    continue;
                };
                b.segment(table, c)?;
            }
            Ok::<_, AnalysisError>(())
        };
        if path == PathKind::Output {
            return each(self, path.stages());
        }
        let (pre, own) = path.stages().split_at(3);
        each(self, pre)?;
        let elsewhere = match path {
            PathKind::Input => Some(false),
            _ => Some(true),
        };
        let rerouted = self
            .instrs
            .iter()
            .any(|i| matches!(&i.act, Act::Nat { rewrite: Some(r), .. } if r.local == elsewhere));
        if !rerouted {
            return each(self, own);
        }
        let (_, input) = PathKind::Input.stages().split_at(3);
        let (_, forward) = PathKind::Forward.stages().split_at(3);
        let lone = |b: &Self, act: Act| Instr {
            cube: Cube::default(),
            may: false,
            nat_status: Vec::new(),
            act,
            rule: None,
            terminal: false,
            top: false,
            seg_end: b.instrs.len() as u32 + 1,
        };
        let route = self.push(lone(self, Act::Route { forward: u32::MAX }))?;
        each(self, input)?;
        let skip = self.push(lone(self, Act::Skip { to: u32::MAX }))?;
        let at = self.instrs.len() as u32;
        self.instrs[route].act = Act::Route { forward: at };
        each(self, forward)?;
        let end = self.instrs.len() as u32;
        self.instrs[skip].act = Act::Skip { to: end };
        Ok(())
    }

    fn push(&mut self, ins: Instr) -> Result<usize, AnalysisError> {
        if self.instrs.len() >= MAX_INSTRUCTIONS {
            return Err(AnalysisError::TooLarge {
                max: MAX_INSTRUCTIONS,
            });
        }
        self.instrs.push(ins);
        Ok(self.instrs.len() - 1)
    }

    /// One built-in chain of one table: its rules, unfolded, then its policy.
    fn segment(
        &mut self,
        table: &rampart_ruleset::Table,
        chain: &Chain,
    ) -> Result<(), AnalysisError> {
        let mut base = Cube::default();
        if table.kind == TableKind::Nat {
            // The nat table sees a connection's first packet only.
            base.and(Dim::Ct, Ranges::one(CT_NEW));
        }
        let start = self.instrs.len();
        self.returns.push(Vec::new());
        self.body(table, chain, &base, false, &[], 0)?;
        let here = self.instrs.len() as u32;
        for i in self.returns.pop().unwrap_or_default() {
            self.instrs[i].act = Act::Return { to: here };
        }
        let policy = chain.policy.unwrap_or(Policy::Accept);
        let end = self.instrs.len() as u32 + 1;
        self.push(Instr {
            cube: base,
            may: false,
            nat_status: Vec::new(),
            act: match policy {
                Policy::Accept => Act::Accept { to: end },
                Policy::Drop => Act::Final(Verdict::Drop),
            },
            rule: None,
            terminal: true,
            top: true,
            seg_end: u32::MAX,
        })?;
        for ins in &mut self.instrs[start..] {
            ins.seg_end = end;
            match &mut ins.act {
                Act::Accept { to } | Act::Nat { to, .. } if *to == u32::MAX => *to = end,
                _ => {}
            }
        }
        Ok(())
    }

    fn body(
        &mut self,
        table: &rampart_ruleset::Table,
        chain: &Chain,
        cond: &Cube,
        may_cond: bool,
        nat_cond: &[NatNeed],
        depth: usize,
    ) -> Result<(), AnalysisError> {
        if depth > rampart_ruleset::MAX_JUMP_DEPTH + 1 {
            return Err(AnalysisError::TooDeep {
                table: table.kind,
                chain: chain.name.clone(),
                max: rampart_ruleset::MAX_JUMP_DEPTH,
            });
        }
        for (i, rule) in chain.rules.iter().enumerate() {
            let id = self.ids.get(&(table.kind, chain.name.as_str(), i)).copied();
            let (own, may_own, nat) = self.mc.compile(rule);
            let own = cond.meet(&own);
            // Most rules are one instruction; a state test naming SNAT/DNAT makes one per
            // kind of state (see `nat_variants`), each with the rule's action.
            let variants = match nat {
                None => vec![(own, may_own, None)],
                Some(t) => nat_variants(t)
                    .into_iter()
                    .filter(|(states, ..)| !states.is_empty())
                    .map(|(states, may, need)| {
                        let mut cube = own.clone();
                        cube.and(Dim::Ct, states);
                        (cube, may_own || may, need)
                    })
                    .collect(),
            };
            for (cube, may_own, need) in variants {
                let mut nat_status = nat_cond.to_vec();
                nat_status.extend(need);
                self.rule(
                    table,
                    chain,
                    i,
                    rule,
                    id,
                    (cube, may_cond || may_own, nat_status),
                    depth,
                )?;
            }
        }
        Ok(())
    }

    /// One instruction (or an unfolded user chain) for rule `i` of `chain`, under the
    /// condition (cube, may, NAT status tests) that holds when it matches.
    #[allow(clippy::too_many_arguments)]
    fn rule(
        &mut self,
        table: &rampart_ruleset::Table,
        chain: &Chain,
        i: usize,
        rule: &Rule,
        id: Option<u32>,
        (cube, may, nat_status): (Cube, bool, Vec<NatNeed>),
        depth: usize,
    ) -> Result<(), AnalysisError> {
        let ins = |act: Act, terminal: bool| Instr {
            cube: cube.clone(),
            may,
            nat_status: nat_status.clone(),
            act,
            rule: id,
            terminal,
            top: depth == 0,
            seg_end: u32::MAX,
        };
        let missing = |target: &str| AnalysisError::NoSuchChain {
            table: table.kind,
            chain: chain.name.clone(),
            number: i + 1,
            target: target.to_string(),
        };
        match &rule.spec.action {
            None => {
                self.push(ins(Act::Continue, false))?;
            }
            Some(Action::Jump(t)) => match t {
                Target::Accept => {
                    self.push(ins(Act::Accept { to: u32::MAX }, true))?;
                }
                Target::Drop => {
                    self.push(ins(Act::Final(Verdict::Drop), true))?;
                }
                Target::Reject(_) => {
                    self.push(ins(Act::Final(Verdict::Reject), true))?;
                }
                Target::Return => {
                    let at = self.push(ins(Act::Return { to: u32::MAX }, true))?;
                    if let Some(r) = self.returns.last_mut() {
                        r.push(at);
                    }
                }
                Target::Chain(name) => {
                    let callee = table.chain(name).ok_or_else(|| missing(name))?;
                    self.push(ins(Act::Continue, false))?;
                    self.returns.push(Vec::new());
                    self.body(table, callee, &cube, may, &nat_status, depth + 1)?;
                    let here = self.instrs.len() as u32;
                    for at in self.returns.pop().unwrap_or_default() {
                        self.instrs[at].act = Act::Return { to: here };
                    }
                }
                Target::Snat(n) | Target::Dnat(n) => {
                    let dnat = matches!(t, Target::Dnat(_));
                    let mut what = String::from(if dnat { "DNAT to " } else { "SNAT to " });
                    if let Some(a) = &n.addrs {
                        what.push_str(&if a.start() == a.end() {
                            a.start().to_string()
                        } else {
                            format!("{}-{}", a.start(), a.end())
                        });
                    }
                    if let Some(p) = &n.ports {
                        what.push_str(&format!(":{p}"));
                    }
                    let dst = n.addrs.as_ref().map(|a| addr_u128(a.start()));
                    let family = self.mc.family;
                    let rewrite = dnat.then(|| Rewrite {
                        dst,
                        dport: n.ports.map(|p| u128::from(p.lo)),
                        local: dst.map(|d| self.locals.contains(family, d)),
                    });
                    self.push(ins(
                        Act::Nat {
                            what,
                            rewrite,
                            to: u32::MAX,
                        },
                        true,
                    ))?;
                }
                Target::Masquerade(m) | Target::Redirect(m) => {
                    let redirect = matches!(t, Target::Redirect(_));
                    let mut what = String::from(if redirect { "REDIRECT" } else { "MASQUERADE" });
                    if let Some(p) = &m.ports {
                        what.push_str(&format!(" to port {p}"));
                    }
                    let rewrite = redirect.then_some(Rewrite {
                        dst: None,
                        dport: m.ports.map(|p| u128::from(p.lo)),
                        local: Some(true),
                    });
                    self.push(ins(
                        Act::Nat {
                            what,
                            rewrite,
                            to: u32::MAX,
                        },
                        true,
                    ))?;
                }
                Target::Mark(_) | Target::Connmark(ConnmarkTarget::Restore { .. }) => {
                    self.mark_changed = true;
                    self.push(ins(Act::Continue, false))?;
                }
                Target::Set(s) => {
                    self.sets_changed.insert(s.set.clone());
                    self.push(ins(Act::Continue, false))?;
                }
                _ => {
                    self.push(ins(Act::Continue, false))?;
                }
            },
            Some(Action::Goto(name)) => {
                let callee = table.chain(name).ok_or_else(|| missing(name))?;
                self.push(ins(Act::Continue, false))?;
                // The callee's RETURNs go where this body's would.
                self.body(table, callee, &cube, may, &nat_status, depth + 1)?;
                let at = self.push(ins(Act::Return { to: u32::MAX }, true))?;
                self.instrs[at].rule = None;
                if let Some(r) = self.returns.last_mut() {
                    r.push(at);
                }
            }
        }
        Ok(())
    }
}
