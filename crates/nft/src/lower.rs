//! Stage 1: the ruleset model → the lowered IR ([`Table`]).
//!
//! Each model rule becomes one nft rule, except `-m multiport --ports` (either side), which
//! becomes two rules made mutually exclusive: `dport {..}` ... then `sport != {..} dport
//! {..}`... so that a packet meets the rule's target at most once, as in iptables.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_prefix::Prefix;
use rampart_ruleset::{
    Action, AddrTypes, AddrtypeMatch, ConnlimitMatch, ConnmarkTarget, CtStates, CtTarget, Family,
    HashlimitLimit, HashlimitMatch, IcmpType, Interface, LimitMode, LogTarget, Match,
    MultiportMatch, NatTarget, Neg, NflogTarget, PortRange, PortSide, Protocol, Rate,
    RecentCommand, RecentMatch, RejectWith, Rule, RuleSpec, Ruleset, SetDir, SetKind, SetMatch,
    SetOp, SetTarget, TableKind, Target, TcpFlags, TcpFlagsMatch, XMark,
};

use crate::error::{CompileError, CompileErrors, RulePlace};
use crate::ir::{
    BaseChain, Chain, ChainType, CtHelper, Hook, Op, Priority, Rule as IrRule, Set, Stmt, Table,
    Verdict,
};
use crate::sets::lower_ipset;
use crate::CompileOptions;

/// Size of the sets rules fill from the packet path (hashlimit, connlimit, recent). It
/// bounds kernel memory per set under a flood from spoofed sources; 65535 is nft's usual
/// meter size and above iptables' defaults (hashlimit 8192 buckets, recent 200 entries).
const DYNAMIC_SET_SIZE: u32 = 65535;

/// Lowers a ruleset to the IR, reporting every untranslatable construct.
pub fn lower(ruleset: &Ruleset, opts: &CompileOptions) -> Result<Table, CompileErrors> {
    let mut l = Lowerer {
        ruleset,
        errors: Vec::new(),
        sets: Vec::new(),
        names: BTreeMap::new(),
        recent: BTreeMap::new(),
        hashlimit: BTreeMap::new(),
        connlimits: 0,
        helpers: BTreeMap::new(),
        raw: RawOrder::of(ruleset),
    };
    let filled = filled_from_rules(ruleset);
    for set in &ruleset.sets {
        let name = nft_ident(&set.name);
        if !l.claim(&name, format!("ipset {}", set.name)) {
            continue;
        }
        match lower_ipset(set, name) {
            // Declared as the kernel holds it once a rule adds to it (nft adds `dynamic`
            // and a size itself), so the applied table matches its script.
            Ok(mut s) if filled.contains(set.name.as_str()) => {
                s.dynamic = true;
                s.size = Some(set.maxelem.unwrap_or(DYNAMIC_SET_SIZE));
                l.sets.push(s)
            }
            Ok(s) => l.sets.push(s),
            Err(e) => l.errors.push(e),
        }
    }
    // Refused by the kernel at load time ("Too many links"), and the parsers already
    // refuse it; checked again for models built without a parser.
    for e in rampart_ruleset::validate(ruleset) {
        l.errors.push(CompileError::ChainGraph {
            at: RulePlace {
                family: e.family,
                table: e.table,
                chain: e.chain,
                index: e.index,
                span: e.span,
            },
            kind: e.kind,
        });
    }
    l.recent_lists();
    let mut chains = Vec::new();
    let mut family_chains = Vec::new();
    for kind in TableKind::ALL {
        for builtin in kind.builtin_chains() {
            let hook = Hook::of_builtin(builtin).expect("built-in chain names are hooks");
            let mut base = Chain {
                name: format!("{}_{}", kind.name(), hook.name()),
                base: Some(base_chain(kind, hook, l.raw == RawOrder::AfterConntrack)),
                rules: Vec::new(),
            };
            for family in [Family::Ipv4, Family::Ipv6] {
                let Some(table) = ruleset.table(family, kind) else {
                    continue;
                };
                let Some(chain) = table.chain(builtin) else {
                    continue;
                };
                let drop = chain.policy == Some(rampart_ruleset::Policy::Drop);
                if chain.rules.is_empty() && !drop {
                    continue;
                }
                let nfproto = Stmt::Match {
                    left: "meta nfproto".into(),
                    op: Op::Implicit,
                    right: nfproto(family).into(),
                };
                base.rules.push(IrRule {
                    stmts: vec![
                        nfproto.clone(),
                        Stmt::Verdict(Verdict::Jump(chain_name(family, kind, builtin))),
                    ],
                    comment: None,
                    origin: None,
                });
                if drop {
                    base.rules.push(IrRule {
                        stmts: vec![nfproto, Stmt::Counter, Stmt::Verdict(Verdict::Drop)],
                        comment: Some(format!(
                            "{} -t {} -P {} DROP",
                            family.command(),
                            kind.name(),
                            builtin
                        )),
                        origin: None,
                    });
                }
            }
            if !base.rules.is_empty() {
                l.claim(&base.name, format!("the {} {} hook", kind, hook.name()));
                chains.push(base);
            }
        }
    }
    for table in &ruleset.tables {
        let active = table
            .chains
            .iter()
            .any(|c| !c.rules.is_empty() || c.policy == Some(rampart_ruleset::Policy::Drop));
        if !active {
            continue;
        }
        for chain in &table.chains {
            let drop = chain.policy == Some(rampart_ruleset::Policy::Drop);
            if chain.is_builtin() && chain.rules.is_empty() && !drop {
                continue;
            }
            let name = chain_name(table.family, table.kind, &chain.name);
            l.claim(
                &name,
                format!(
                    "{} -t {} chain {}",
                    table.family.command(),
                    table.kind,
                    chain.name
                ),
            );
            let mut rules = Vec::new();
            for (i, rule) in chain.rules.iter().enumerate() {
                let at = RulePlace {
                    family: table.family,
                    table: table.kind,
                    chain: chain.name.clone(),
                    index: i + 1,
                    span: rule.span,
                };
                match l.lower_rule(&at, rule) {
                    Ok(mut r) => rules.append(&mut r),
                    Err(e) => l.errors.push(e),
                }
            }
            family_chains.push(Chain {
                name,
                base: None,
                rules,
            });
        }
    }
    chains.append(&mut family_chains);
    if !l.errors.is_empty() {
        return Err(CompileErrors(l.errors));
    }
    Ok(Table {
        name: opts.table.clone(),
        sets: l.sets,
        chains,
        helpers: l.helpers.into_values().collect(),
    })
}

/// The base chain of an iptables (table, hook): type and standard priority (raw just
/// after conntrack when it assigns helpers, see [`RawOrder`]).
fn base_chain(kind: TableKind, hook: Hook, raw_after_conntrack: bool) -> BaseChain {
    let (value, name) = match (kind, hook) {
        (TableKind::Raw, _) if raw_after_conntrack => (-190, ""),
        (TableKind::Raw, _) => (-300, "raw"),
        (TableKind::Mangle, _) => (-150, "mangle"),
        (TableKind::Nat, Hook::Prerouting | Hook::Output) => (-100, "dstnat"),
        (TableKind::Nat, _) => (100, "srcnat"),
        (TableKind::Filter, _) => (0, "filter"),
        (TableKind::Security, _) => (50, "security"),
    };
    let chain_type = match (kind, hook) {
        (TableKind::Nat, _) => ChainType::Nat,
        (TableKind::Mangle, Hook::Output) => ChainType::Route,
        _ => ChainType::Filter,
    };
    BaseChain {
        kind: chain_type,
        hook,
        priority: Priority { value, name },
        device: None,
    }
}

/// The nft name of an iptables chain: `ip_filter_INPUT`, `ip6_nat_mychain`.
pub fn chain_name(family: Family, kind: TableKind, chain: &str) -> String {
    format!(
        "{}_{}_{}",
        fam_prefix(family),
        kind.name(),
        nft_ident(chain)
    )
}

/// `ip` or `ip6`: the nft payload keyword and our name prefix.
fn fam_prefix(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    }
}

fn nfproto(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// `ipv4_addr` or `ipv6_addr`.
pub(crate) fn addr_type(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4_addr",
        Family::Ipv6 => "ipv6_addr",
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

/// An nft identifier: letters, digits, `_`, `-`, `.` kept; anything else becomes `_`; a
/// leading non-letter gets `x` in front.
fn nft_ident(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'x');
    }
    out
}

/// A prefix as nft writes it: a host address bare, a network with its length.
pub(crate) fn prefix_text(p: Prefix) -> String {
    if p.is_host() {
        p.addr().to_string()
    } else {
        format!("{}/{}", p.addr(), p.len())
    }
}

/// A protocol as nft reads it (names nft resolves, else the number).
pub(crate) fn proto_text(p: Protocol) -> String {
    match p.name() {
        Some(n) => n.to_string(),
        None => p.0.to_string(),
    }
}

fn mask_of(family: Family, len: u8) -> IpAddr {
    let any = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Prefix::new(any, len)
        .expect("mask length checked")
        .netmask()
}

fn width(family: Family) -> u8 {
    match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

/// `ip saddr` with `and MASK` when the mask is narrower than the address.
fn masked(family: Family, field: &str, mask: Option<u8>) -> String {
    let base = format!("{} {field}", fam_prefix(family));
    match mask {
        Some(m) if m < width(family) => format!("{base} and {}", mask_of(family, m)),
        _ => base,
    }
}

fn op(negated: bool) -> Op {
    if negated {
        Op::Ne
    } else {
        Op::Implicit
    }
}

fn m(left: impl Into<String>, op: Op, right: impl Into<String>) -> Stmt {
    Stmt::Match {
        left: left.into(),
        op,
        right: right.into(),
    }
}

/// `left lo-hi` (or `!=`); a reversed range (which iptables 1.8.9 loads for udp ports and
/// lengths) matches nothing, or everything when negated: nft refuses it as written.
fn range_match(left: &str, negated: bool, lo: u16, hi: u16) -> Vec<Stmt> {
    match (lo.cmp(&hi), negated) {
        (std::cmp::Ordering::Equal, _) => vec![m(left, op(negated), lo.to_string())],
        (std::cmp::Ordering::Less, _) => vec![m(left, op(negated), format!("{lo}-{hi}"))],
        (std::cmp::Ordering::Greater, false) => vec![
            m(left, Op::Implicit, format!(">= {lo}")),
            m(left, Op::Implicit, format!("<= {hi}")),
        ],
        (std::cmp::Ordering::Greater, true) => Vec::new(),
    }
}

fn port_text(r: PortRange) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}-{}", r.lo, r.hi)
    }
}

fn port_list(ports: &[PortRange]) -> String {
    if let [one] = ports {
        return port_text(*one);
    }
    let items: Vec<String> = ports.iter().map(|p| port_text(*p)).collect();
    format!("{{ {} }}", items.join(", "))
}

fn tcp_flag_names(bits: u8) -> String {
    let names: Vec<String> = TcpFlags::NAMES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    if names.is_empty() {
        "0x0".into()
    } else {
        names.join("|")
    }
}

fn rate_text(rate: Rate) -> String {
    let unit = match rate.unit {
        rampart_ruleset::RateUnit::Second => "second",
        rampart_ruleset::RateUnit::Minute => "minute",
        rampart_ruleset::RateUnit::Hour => "hour",
        rampart_ruleset::RateUnit::Day => "day",
    };
    format!("{}/{unit}", rate.count)
}

fn limit_text(over: bool, rate: Rate, burst: u32) -> String {
    let over = if over { "over " } else { "" };
    format!("limit rate {over}{} burst {burst} packets", rate_text(rate))
}

/// A hashlimit's `limit` statement: packets as `limit`'s, bytes in the largest of
/// nft's units that holds the amount exactly (`4 kbytes/second burst 16 kbytes`).
fn hashlimit_text(over: bool, limit: HashlimitLimit) -> String {
    let b = match limit {
        HashlimitLimit::Packets { rate, burst } => return limit_text(over, rate, burst),
        HashlimitLimit::Bytes(b) => b,
    };
    let amount = |n: u64| {
        [(1024 * 1024, "mbytes"), (1024, "kbytes")]
            .iter()
            .find(|(unit, _)| n % unit == 0)
            .map_or_else(
                || format!("{n} bytes"),
                |(unit, name)| format!("{} {name}", n / unit),
            )
    };
    let over = if over { "over " } else { "" };
    let mut text = format!("limit rate {over}{}/second", amount(b.bytes_per_second()));
    if let Some(burst) = b.burst_bytes() {
        text.push_str(&format!(" burst {}", amount(burst)));
    }
    text
}

/// nft names of ICMP types (the rest are written as numbers).
const ICMP_TYPES: [(u8, &str); 11] = [
    (0, "echo-reply"),
    (3, "destination-unreachable"),
    (4, "source-quench"),
    (5, "redirect"),
    (8, "echo-request"),
    (9, "router-advertisement"),
    (10, "router-solicitation"),
    (11, "time-exceeded"),
    (12, "parameter-problem"),
    (13, "timestamp-request"),
    (14, "timestamp-reply"),
];

/// nft names of ICMPv6 types.
const ICMPV6_TYPES: [(u8, &str); 12] = [
    (1, "destination-unreachable"),
    (2, "packet-too-big"),
    (3, "time-exceeded"),
    (4, "parameter-problem"),
    (128, "echo-request"),
    (129, "echo-reply"),
    (133, "nd-router-solicit"),
    (134, "nd-router-advert"),
    (135, "nd-neighbor-solicit"),
    (136, "nd-neighbor-advert"),
    (137, "nd-redirect"),
    (143, "mld2-listener-report"),
];

fn icmp_type_text(v6: bool, ty: u8) -> String {
    let table: &[(u8, &str)] = if v6 { &ICMPV6_TYPES } else { &ICMP_TYPES };
    table
        .iter()
        .find(|(n, _)| *n == ty)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| ty.to_string())
}

fn ct_state_names(bits: u8) -> Vec<&'static str> {
    [
        (CtStates::INVALID, "invalid"),
        (CtStates::NEW, "new"),
        (CtStates::ESTABLISHED, "established"),
        (CtStates::RELATED, "related"),
        (CtStates::UNTRACKED, "untracked"),
    ]
    .into_iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, n)| n)
    .collect()
}

/// A flag-set match: `key a,b` (any of), or `key & (a|b) == 0` (none of).
fn flag_match(key: &str, names: &[&str], negated: bool) -> Stmt {
    if negated && names.len() == 1 {
        m(format!("{key} & {}", names[0]), Op::Eq, "0")
    } else if negated {
        m(format!("{key} & ({})", names.join("|")), Op::Eq, "0")
    } else {
        m(key, Op::Implicit, names.join(","))
    }
}

/// A dynamic set some rules fill, described by its key and timeout.
struct DynSet {
    name: String,
    key_type: String,
    first: RulePlace,
}

/// The sets `-j SET --add-set` rules fill from the packet path.
fn filled_from_rules(ruleset: &Ruleset) -> std::collections::BTreeSet<&str> {
    ruleset
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .filter_map(|r| match &r.spec.action {
            Some(Action::Jump(Target::Set(t))) if t.op == SetOp::Add => Some(t.set.as_str()),
            Some(Action::Jump(Target::SetCombined(c))) => c.add.as_ref().map(|a| a.set.as_str()),
            _ => None,
        })
        .collect()
}

struct Lowerer<'a> {
    ruleset: &'a Ruleset,
    errors: Vec<CompileError>,
    sets: Vec<Set>,
    /// nft name → what uses it, to catch two things sanitised to one name.
    names: BTreeMap<String, String>,
    /// (family, recent list) → nft set name.
    recent: BTreeMap<(Family, String), String>,
    /// (family, hashlimit name) → its set.
    hashlimit: BTreeMap<(Family, String), DynSet>,
    connlimits: usize,
    /// `ct helper` objects by name.
    helpers: BTreeMap<String, CtHelper>,
    /// Whether the raw table assigns conntrack helpers, and if so the first raw rule
    /// whose effect must come before conntrack (see [`RawOrder`]).
    raw: RawOrder,
}

/// Where the raw table's base chains run. iptables' `CT --helper` attaches a template
/// that conntrack reads when it creates the connection, so it works in raw, before
/// conntrack (priority -300). nft's `ct helper set` needs the connection itself, so it
/// does nothing before conntrack: a raw table that assigns helpers runs at -190, just
/// after conntrack (-200) and before mangle (-150). That keeps every raw rule's effect
/// except those that must precede conntrack (`--notrack`, zones, conntrack timeouts) or
/// read its state; with one of those the helper is refused, naming the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RawOrder {
    /// No helper: raw at -300.
    BeforeConntrack,
    /// Helpers and nothing that needs -300: raw at -190.
    AfterConntrack,
    /// Helpers, and this rule (place and what) needs -300.
    Conflict(String),
}

impl RawOrder {
    /// How the ruleset's raw tables must be placed.
    fn of(ruleset: &Ruleset) -> RawOrder {
        let mut helpers = false;
        let mut conflict = None;
        for table in ruleset.tables.iter().filter(|t| t.kind == TableKind::Raw) {
            for chain in &table.chains {
                for (i, rule) in chain.rules.iter().enumerate() {
                    let target = match &rule.spec.action {
                        Some(Action::Jump(t)) => Some(t),
                        _ => None,
                    };
                    if let Some(Target::Ct(c)) = target {
                        if c.helper.is_some() && !c.notrack {
                            helpers = true;
                        }
                    }
                    let why = match target {
                        Some(Target::Notrack | Target::NotrackAlias) => Some("--notrack"),
                        Some(Target::Ct(c)) if c.notrack => Some("--notrack"),
                        Some(Target::Ct(c)) if c.zone != 0 || c.zone_mark => Some("a zone"),
                        Some(Target::Ct(c)) if c.timeout.is_some() => Some("--timeout"),
                        _ => None,
                    }
                    .or_else(|| {
                        rule.spec
                            .matches
                            .iter()
                            .any(|m| {
                                matches!(
                                    m,
                                    Match::State(_)
                                        | Match::Conntrack(_)
                                        | Match::Connmark(_)
                                        | Match::Helper(_)
                                        | Match::Connlimit(_)
                                )
                            })
                            .then_some("a conntrack match")
                    });
                    if let (Some(why), None) = (why, &conflict) {
                        conflict = Some(format!(
                            "{} -t raw {} rule {} ({why})",
                            table.family.command(),
                            chain.name,
                            i + 1
                        ));
                    }
                }
            }
        }
        match (helpers, conflict) {
            (false, _) => RawOrder::BeforeConntrack,
            (true, None) => RawOrder::AfterConntrack,
            (true, Some(c)) => RawOrder::Conflict(c),
        }
    }
}

impl Lowerer<'_> {
    /// Records that `what` uses nft name `name`; false (and an error) if something else did.
    fn claim(&mut self, name: &str, what: String) -> bool {
        match self.names.get(name) {
            Some(first) if *first != what => {
                self.errors.push(CompileError::NameClash {
                    name: name.to_string(),
                    first: first.clone(),
                    second: what,
                });
                false
            }
            Some(_) => true,
            None => {
                self.names.insert(name.to_string(), what);
                true
            }
        }
    }

    /// One set per (family, recent list), with the timeout every check of it agrees on.
    fn recent_lists(&mut self) {
        // (family, list) → the --seconds of the first check of the list, and where it was.
        type FirstCheck = Option<(Option<u32>, RulePlace)>;
        let mut lists: BTreeMap<(Family, String), FirstCheck> = BTreeMap::new();
        for table in &self.ruleset.tables {
            for chain in &table.chains {
                for (i, rule) in chain.rules.iter().enumerate() {
                    for r in rule.spec.matches.iter().filter_map(|m| match m {
                        Match::Recent(r) => Some(r),
                        _ => None,
                    }) {
                        let at = RulePlace {
                            family: table.family,
                            table: table.kind,
                            chain: chain.name.clone(),
                            index: i + 1,
                            span: rule.span,
                        };
                        let entry = lists.entry((table.family, r.name.clone())).or_default();
                        if r.command == RecentCommand::Set {
                            continue;
                        }
                        match entry {
                            None => *entry = Some((r.seconds, at)),
                            Some((seconds, _)) if *seconds != r.seconds => {
                                let show = |s: Option<u32>| {
                                    s.map_or("none".to_string(), |s| s.to_string())
                                };
                                self.errors.push(CompileError::RecentSecondsConflict {
                                    at,
                                    name: r.name.clone(),
                                    seconds: show(r.seconds),
                                    other: show(*seconds),
                                });
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        for ((family, list), check) in lists {
            let name = format!("recent_{}_{}", fam_prefix(family), nft_ident(&list));
            if !self.claim(&name, format!("recent list {list}")) {
                continue;
            }
            let timeout = check.and_then(|(s, _)| s);
            self.sets.push(Set {
                name: name.clone(),
                key: addr_type(family).into(),
                interval: false,
                timeout_flag: timeout.is_some(),
                dynamic: true,
                auto_merge: false,
                timeout_ms: timeout.map(|s| u64::from(s) * 1000),
                size: Some(DYNAMIC_SET_SIZE),
                elements: Vec::new(),
                note: format!("{} -m recent --name {list}", family.command()),
            });
            self.recent.insert((family, list), name);
        }
    }

    fn lower_rule(&mut self, at: &RulePlace, rule: &Rule) -> Result<Vec<IrRule>, CompileError> {
        let spec = &rule.spec;
        let fam = at.family;
        let ip = fam_prefix(fam);
        // Alternatives: the rule becomes one nft rule per entry (all but one empty for any
        // packet).
        let mut alts: Vec<Vec<Stmt>> = vec![Vec::new()];
        let push = |alts: &mut Vec<Vec<Stmt>>, s: Stmt| {
            for a in alts.iter_mut() {
                a.push(s.clone());
            }
        };
        if let Some(src) = &spec.source {
            if !src.value.is_empty() || src.negated {
                push(
                    &mut alts,
                    m(
                        format!("{ip} saddr"),
                        op(src.negated),
                        prefix_text(src.value),
                    ),
                );
            }
        }
        if let Some(dst) = &spec.destination {
            if !dst.value.is_empty() || dst.negated {
                push(
                    &mut alts,
                    m(
                        format!("{ip} daddr"),
                        op(dst.negated),
                        prefix_text(dst.value),
                    ),
                );
            }
        }
        for (key, iface) in [
            ("iifname", &spec.in_interface),
            ("oifname", &spec.out_interface),
        ] {
            if let Some(Neg { negated, value }) = iface {
                if let Some(s) = iface_match(key, *negated, value) {
                    push(&mut alts, s);
                }
            }
        }
        let proto = spec.protocol.as_ref();
        if let Some(p) = proto {
            if p.negated || !protocol_implied(p.value, &spec.matches) {
                push(
                    &mut alts,
                    m("meta l4proto", op(p.negated), proto_text(p.value)),
                );
            }
        }
        if let Some(frag) = spec.fragment {
            if fam == Family::Ipv6 {
                return Err(CompileError::Ipv6Fragment { at: at.clone() });
            }
            push(
                &mut alts,
                m(
                    "ip frag-off & 0x1fff",
                    if frag { Op::Ne } else { Op::Eq },
                    "0",
                ),
            );
        }
        let l4 = proto
            .filter(|p| !p.negated)
            .map(|p| p.value)
            .and_then(|p| match p.0 {
                6 => Some("tcp"),
                17 => Some("udp"),
                132 => Some("sctp"),
                33 => Some("dccp"),
                136 => Some("udplite"),
                _ => None,
            })
            .unwrap_or("th");
        let mut comments = Vec::new();
        let mut has_limit = false;
        for mt in &spec.matches {
            match mt {
                Match::Tcp(t) => {
                    for (field, port) in [("sport", &t.sport), ("dport", &t.dport)] {
                        if let Some(p) = port {
                            push(
                                &mut alts,
                                m(format!("tcp {field}"), op(p.negated), port_text(p.value)),
                            );
                        }
                    }
                    if let Some(f) = &t.flags {
                        push(&mut alts, tcp_flags(f.negated, f.value));
                    }
                }
                Match::Udp(u) => {
                    for (field, port) in [("sport", &u.sport), ("dport", &u.dport)] {
                        if let Some(p) = port {
                            let left = format!("udp {field}");
                            for s in range_match(&left, p.negated, p.value.lo, p.value.hi) {
                                push(&mut alts, s);
                            }
                            if p.negated && p.value.lo > p.value.hi {
                                push(&mut alts, m("meta l4proto", Op::Implicit, "udp"));
                            }
                        }
                    }
                }
                Match::Icmp(t) => {
                    for s in icmp(at, false, t)? {
                        push(&mut alts, s);
                    }
                }
                Match::Icmp6(t) => {
                    for s in icmp(at, true, t)? {
                        push(&mut alts, s);
                    }
                }
                Match::Multiport(mp) => alts = cross(alts, multiport(l4, mp)),
                Match::State(s) => alts = cross(alts, ct_state(s.negated, s.value)),
                Match::Conntrack(c) => {
                    if let Some(s) = &c.state {
                        alts = cross(alts, ct_state(s.negated, s.value));
                    }
                    if let Some(p) = &c.proto {
                        push(
                            &mut alts,
                            m("ct original protocol", op(p.negated), proto_text(p.value)),
                        );
                    }
                    for (field, pfx) in [("saddr", &c.orig_src), ("daddr", &c.orig_dst)] {
                        if let Some(p) = pfx {
                            push(
                                &mut alts,
                                m(
                                    format!("ct original {ip} {field}"),
                                    op(p.negated),
                                    prefix_text(p.value),
                                ),
                            );
                        }
                    }
                    if let Some(x) = &c.more {
                        for s in crate::lower_modules::conntrack_more(
                            at,
                            fam,
                            x,
                            spec.protocol
                                .as_ref()
                                .is_some_and(|p| !p.negated && p.value.has_ports()),
                        )? {
                            push(&mut alts, s);
                        }
                    }
                }
                Match::Limit(lim) => {
                    has_limit = true;
                    push(
                        &mut alts,
                        Stmt::Stateful(limit_text(lim.negated, lim.rate, lim.burst)),
                    );
                }
                Match::Hashlimit(h) => {
                    let s = self.hashlimit(at, h)?;
                    has_limit |= !s.1;
                    push(&mut alts, s.0);
                }
                Match::Connlimit(c) => {
                    let s = self.connlimit(fam, c);
                    push(&mut alts, s);
                }
                Match::Recent(r) => {
                    for s in self.recent_match(at, r)? {
                        push(&mut alts, s);
                    }
                }
                Match::Comment(c) => comments.push(c.clone()),
                Match::Set(s) => push(&mut alts, self.set_match(at, s)?),
                Match::Iprange(r) => {
                    for (field, range) in [("saddr", &r.src), ("daddr", &r.dst)] {
                        if let Some(x) = range {
                            push(
                                &mut alts,
                                m(format!("{ip} {field}"), op(x.negated), x.value.to_string()),
                            );
                        }
                    }
                }
                Match::Mac(mac) => {
                    push(
                        &mut alts,
                        m("ether saddr", op(mac.negated), mac.value.to_string()),
                    );
                }
                Match::Length(len) => {
                    let r = len.value;
                    for s in range_match("meta length", len.negated, r.lo, r.hi) {
                        push(&mut alts, s);
                    }
                }
                Match::Addrtype(a) => {
                    for s in addrtype(a) {
                        push(&mut alts, s);
                    }
                }
                Match::AddrMask(a) => {
                    let side = if a.destination { "daddr" } else { "saddr" };
                    push(
                        &mut alts,
                        m(
                            format!("{ip} {side} & {}", a.mask),
                            if a.negated { Op::Ne } else { Op::Eq },
                            a.addr.to_string(),
                        ),
                    );
                }
                Match::Mark(mk) => {
                    let v = mk.value;
                    let s = if v.mask == u32::MAX {
                        m("meta mark", op(mk.negated), format!("{:#x}", v.value))
                    } else {
                        m(
                            format!("meta mark and {:#x}", v.mask),
                            if mk.negated { Op::Ne } else { Op::Eq },
                            format!("{:#x}", v.value),
                        )
                    };
                    push(&mut alts, s);
                }
                other => match crate::lower_modules::lower(at, fam, other) {
                    Some(stmts) => {
                        for s in stmts? {
                            push(&mut alts, s);
                        }
                    }
                    None => {
                        return Err(CompileError::UnsupportedMatch {
                            at: at.clone(),
                            module: other.module_name(),
                        })
                    }
                },
            }
        }
        if alts.len() > 1 && has_limit {
            let by_ports = spec.matches.iter().any(|mt| {
                matches!(mt, Match::Multiport(mp) if mp.side == PortSide::Either && !mp.ports.negated)
            });
            return Err(if by_ports {
                CompileError::SplitLimit { at: at.clone() }
            } else {
                CompileError::CtStateMixed { at: at.clone() }
            });
        }
        let (actions, verdict, family_context) = match &spec.action {
            None => (Vec::new(), None, false),
            Some(Action::Goto(chain)) => (
                Vec::new(),
                Some(Verdict::Goto(chain_name(fam, at.table, chain))),
                false,
            ),
            Some(Action::Jump(Target::Ct(c))) if c.helper.is_some() && !c.notrack => {
                self.ct_helper(at, spec, c)?
            }
            Some(Action::Jump(t)) => self.target(at, t)?,
        };
        let comment = (!comments.is_empty()).then(|| comments.join("; "));
        Ok(alts
            .into_iter()
            .map(|mut stmts| {
                if family_context {
                    stmts.insert(0, m("meta nfproto", Op::Implicit, nfproto(fam)));
                }
                stmts.push(Stmt::Counter);
                stmts.extend(actions.iter().cloned());
                if let Some(v) = &verdict {
                    stmts.push(Stmt::Verdict(v.clone()));
                }
                IrRule {
                    stmts,
                    comment: comment.clone(),
                    origin: Some(at.clone()),
                }
            })
            .collect())
    }

    /// `update @hashlimit_ip_NAME { KEY limit rate ... }`; the bool says whether the
    /// bucket lives in a set (true) or is the rule's own anonymous `limit` (false).
    fn hashlimit(
        &mut self,
        at: &RulePlace,
        h: &HashlimitMatch,
    ) -> Result<(Stmt, bool), CompileError> {
        let fam = at.family;
        let over = h.mode == LimitMode::Above;
        if h.rate_match.is_some() {
            return Err(CompileError::Refused {
                at: at.clone(),
                module: "hashlimit",
                reason: "--hashlimit-rate-match measures each flow's rate over an interval and limits nothing; an nft limit stops counting packets over the rate, so it cannot test a measured rate",
            });
        }
        if matches!(h.limit, HashlimitLimit::Bytes(b) if b.bytes_per_second() == 0) {
            return Err(CompileError::Refused {
                at: at.clone(),
                module: "hashlimit",
                reason: "the byte rate is 0 bytes/second (hashlimit counts in 16-byte units, and reads an uppercase K or M as plain bytes), which nft refuses; write at least 16b/s",
            });
        }
        let limit = hashlimit_text(over, h.limit);
        let mut parts = Vec::new();
        let mut types = Vec::new();
        if h.key.src_ip {
            parts.push(masked(fam, "saddr", h.src_mask));
            types.push(addr_type(fam));
        }
        if h.key.dst_ip {
            parts.push(masked(fam, "daddr", h.dst_mask));
            types.push(addr_type(fam));
        }
        if h.key.src_port {
            parts.push("th sport".into());
            types.push("inet_service");
        }
        if h.key.dst_port {
            parts.push("th dport".into());
            types.push("inet_service");
        }
        if parts.is_empty() {
            return Ok((Stmt::Stateful(limit), false));
        }
        let key_type = types.join(" . ");
        let name = match self.hashlimit.get(&(fam, h.name.clone())) {
            Some(d) if d.key_type != key_type => {
                return Err(CompileError::HashlimitConflict {
                    at: at.clone(),
                    name: h.name.clone(),
                    key: key_type,
                    other: format!("{} ({})", d.key_type, d.first),
                })
            }
            Some(d) => d.name.clone(),
            None => {
                let name = format!("hashlimit_{}_{}", fam_prefix(fam), nft_ident(&h.name));
                self.claim(&name, format!("hashlimit {}", h.name));
                self.sets.push(Set {
                    name: name.clone(),
                    key: key_type.clone(),
                    interval: false,
                    timeout_flag: true,
                    dynamic: true,
                    auto_merge: false,
                    timeout_ms: Some(u64::from(h.expire_ms())),
                    size: Some(h.max.unwrap_or(DYNAMIC_SET_SIZE)),
                    elements: Vec::new(),
                    note: format!("{} -m hashlimit --hashlimit-name {}", fam.command(), h.name),
                });
                self.hashlimit.insert(
                    (fam, h.name.clone()),
                    DynSet {
                        name: name.clone(),
                        key_type,
                        first: at.clone(),
                    },
                );
                name
            }
        };
        Ok((
            Stmt::Stateful(format!(
                "update @{name} {{ {} {} }}",
                parts.join(" . "),
                limit
            )),
            true,
        ))
    }

    /// `add @connlimit_ip_N { ip saddr and MASK ct count over N }`: one set per rule, as
    /// each connlimit rule counts on its own.
    fn connlimit(&mut self, fam: Family, c: &ConnlimitMatch) -> Stmt {
        self.connlimits += 1;
        let name = format!("connlimit_{}_{}", fam_prefix(fam), self.connlimits);
        self.claim(&name, format!("connlimit rule {}", self.connlimits));
        self.sets.push(Set {
            name: name.clone(),
            key: addr_type(fam).into(),
            interval: false,
            timeout_flag: false,
            dynamic: true,
            auto_merge: false,
            timeout_ms: None,
            size: Some(DYNAMIC_SET_SIZE),
            elements: Vec::new(),
            note: format!("{} -m connlimit", fam.command()),
        });
        let field = if c.by_destination { "daddr" } else { "saddr" };
        let over = if c.mode == LimitMode::Above {
            "over "
        } else {
            ""
        };
        Stmt::Stateful(format!(
            "add @{name} {{ {} ct count {over}{} }}",
            masked(fam, field, c.mask),
            c.count
        ))
    }

    fn recent_match(&mut self, at: &RulePlace, r: &RecentMatch) -> Result<Vec<Stmt>, CompileError> {
        if r.hitcount.is_some() {
            return Err(CompileError::RecentHitcount { at: at.clone() });
        }
        if r.rttl {
            return Err(CompileError::RecentRttl { at: at.clone() });
        }
        let fam = at.family;
        let set = self
            .recent
            .get(&(fam, r.name.clone()))
            .cloned()
            .unwrap_or_default();
        let field = if r.by_destination { "daddr" } else { "saddr" };
        let key = masked(fam, field, r.mask);
        let command = match r.command {
            RecentCommand::Set => "set",
            RecentCommand::Rcheck => "rcheck",
            RecentCommand::Update => "update",
            RecentCommand::Remove => "remove",
        };
        if r.negated && r.command != RecentCommand::Rcheck {
            return Err(CompileError::RecentNegatedUpdate {
                at: at.clone(),
                command,
            });
        }
        let member = m(key.clone(), op(r.negated), format!("@{set}"));
        Ok(match r.command {
            RecentCommand::Set => vec![Stmt::Stateful(format!("update @{set} {{ {key} }}"))],
            RecentCommand::Rcheck => vec![member],
            RecentCommand::Update => {
                vec![member, Stmt::Stateful(format!("update @{set} {{ {key} }}"))]
            }
            RecentCommand::Remove => {
                vec![member, Stmt::Stateful(format!("delete @{set} {{ {key} }}"))]
            }
        })
    }

    fn set_match(&self, at: &RulePlace, s: &SetMatch) -> Result<Stmt, CompileError> {
        let (key, name) = self.set_key(at, &s.name, &s.dirs)?;
        Ok(m(key, op(s.negated), format!("@{name}")))
    }

    /// The packet fields that look up (or fill) set `name` in directions `dirs`, and the
    /// set's nft name.
    fn set_key(
        &self,
        at: &RulePlace,
        name: &str,
        dirs: &[SetDir],
    ) -> Result<(String, String), CompileError> {
        let s = SetRef { name, dirs };
        let Some(set) = self.ruleset.set(s.name) else {
            return Err(CompileError::UnknownSet {
                at: at.clone(),
                name: s.name.to_string(),
            });
        };
        let fam = at.family;
        let ip = fam_prefix(fam);
        if set.kind != SetKind::BitmapPort && set.family != fam {
            return Err(CompileError::SetFamily {
                at: at.clone(),
                name: s.name.to_string(),
                set_family: family_name(set.family),
                rule_family: family_name(fam),
            });
        }
        let needed = match set.kind {
            SetKind::HashIpPort | SetKind::HashNetPort => 2,
            _ => 1,
        };
        if s.dirs.len() < needed {
            return Err(CompileError::SetDimensions {
                at: at.clone(),
                name: s.name.to_string(),
                kind: set.kind.name(),
                given: s.dirs.len(),
                needed,
            });
        }
        let addr = |d: SetDir| match d {
            SetDir::Src => format!("{ip} saddr"),
            SetDir::Dst => format!("{ip} daddr"),
        };
        let port = |d: SetDir| match d {
            SetDir::Src => "th sport".to_string(),
            SetDir::Dst => "th dport".to_string(),
        };
        let key = match set.kind {
            SetKind::BitmapPort => port(s.dirs[0]),
            SetKind::HashIpPort | SetKind::HashNetPort => {
                format!("{} . meta l4proto . {}", addr(s.dirs[0]), port(s.dirs[1]))
            }
            _ => addr(s.dirs[0]),
        };
        Ok((key, nft_ident(&set.name)))
    }

    /// `add @SET { KEY [timeout Ns] }` (`update` with `--exist`, which restarts a running
    /// entry's timeout as ipset's does), or `delete @SET { KEY }`.
    fn set_target(&self, at: &RulePlace, t: &SetTarget) -> Result<String, CompileError> {
        let (key, name) = self.set_key(at, &t.set, &t.dirs)?;
        let refuse = |reason| {
            Err(CompileError::SetTargetSet {
                at: at.clone(),
                name: t.set.clone(),
                reason,
            })
        };
        let set = self.ruleset.set(&t.set).expect("set_key found it");
        if matches!(set.kind, SetKind::HashNet | SetKind::HashNetPort) {
            return refuse("a rule can only add to a hash:ip or hash:ip,port set (nft cannot update interval sets from the packet path)");
        }
        match t.op {
            SetOp::Del => Ok(format!("delete @{name} {{ {key} }}")),
            SetOp::Add => {
                let timeout = match t.timeout {
                    Some(_) if set.timeout.unwrap_or(0) == 0 => {
                        return refuse("--timeout needs a set created with a timeout (ipset create NAME hash:ip timeout N)")
                    }
                    Some(secs) => format!(" timeout {secs}s"),
                    None => String::new(),
                };
                let verb = if t.exist { "update" } else { "add" };
                Ok(format!("{verb} @{name} {{ {key}{timeout} }}"))
            }
        }
    }

    /// `CT --helper NAME` (with its other settings): `ct helper set "NAME-PROTO"` and the
    /// `ct helper` object it names, declared once.
    #[allow(clippy::type_complexity)]
    fn ct_helper(
        &mut self,
        at: &RulePlace,
        spec: &RuleSpec,
        c: &CtTarget,
    ) -> Result<(Vec<Stmt>, Option<Verdict>, bool), CompileError> {
        let refuse = |reason: String| CompileError::NoNftEquivalent {
            at: at.clone(),
            target: "CT".into(),
            reason,
        };
        if let RawOrder::Conflict(rule) = &self.raw {
            return Err(refuse(format!(
                "`--helper` becomes `ct helper set`, which acts only after conntrack, but {rule} must act before conntrack; move the helper assignment to a separate ruleset or drop that rule"
            )));
        }
        let protocol = match &spec.protocol {
            Some(Neg {
                negated: false,
                value,
            }) if *value == Protocol::TCP => "tcp",
            Some(Neg {
                negated: false,
                value,
            }) if *value == Protocol::UDP => "udp",
            _ => return Err(refuse(
                "an nft ct helper object is for one protocol: give the rule `-p tcp` or `-p udp`"
                    .into(),
            )),
        };
        let helper = c.helper.clone().expect("called for --helper");
        let name = nft_ident(&format!("{helper}-{protocol}"));
        if !self.helpers.contains_key(&name) {
            self.claim(&name, format!("ct helper {helper} ({protocol})"));
            self.helpers.insert(
                name.clone(),
                CtHelper {
                    name: name.clone(),
                    helper,
                    protocol,
                },
            );
        }
        let rest = CtTarget {
            helper: None,
            ..c.clone()
        };
        let mut stmts = if rest == CtTarget::default() {
            Vec::new()
        } else {
            self.target(at, &Target::Ct(Box::new(rest)))?.0
        };
        stmts.push(Stmt::Action(format!("ct helper set {}", quoted(&name))));
        Ok((stmts, None, false))
    }

    /// Actions, verdict, and whether the rule needs `meta nfproto` in front (REJECT).
    #[allow(clippy::type_complexity)]
    fn target(
        &self,
        at: &RulePlace,
        t: &Target,
    ) -> Result<(Vec<Stmt>, Option<Verdict>, bool), CompileError> {
        let fam = at.family;
        let act = |s: String| Ok((vec![Stmt::Action(s)], None, false));
        match t {
            Target::Accept => Ok((Vec::new(), Some(Verdict::Accept), false)),
            Target::Drop => Ok((Vec::new(), Some(Verdict::Drop), false)),
            Target::Return => Ok((Vec::new(), Some(Verdict::Return), false)),
            Target::Chain(c) => Ok((
                Vec::new(),
                Some(Verdict::Jump(chain_name(fam, at.table, c))),
                false,
            )),
            Target::Reject(with) => {
                Ok((Vec::new(), Some(Verdict::Reject(reject_with(*with))), true))
            }
            Target::Log(l) => act(log_text(l)),
            Target::Snat(n) => {
                crate::lower_targets::check_nat_offset(at, n, "SNAT")?;
                act(nat_text(at, "snat", n)?)
            }
            Target::Dnat(n) => {
                crate::lower_targets::check_nat_offset(at, n, "DNAT")?;
                act(nat_text(at, "dnat", n)?)
            }
            Target::Masquerade(mq) => act(port_action("masquerade", mq.ports, mq.random)),
            Target::Redirect(r) => act(port_action("redirect", r.ports, r.random)),
            Target::Mark(x) => act(format!("meta mark set {}", xmark("meta mark", *x))),
            Target::Connmark(c) => act(connmark(at, *c)?),
            Target::Notrack => act("notrack".into()),
            Target::Trace => act("meta nftrace set 1".into()),
            Target::Set(st) => act(self.set_target(at, st)?),
            Target::SetCombined(c) => {
                if let Some(m) = &c.map {
                    return Err(CompileError::SetTargetSet {
                        at: at.clone(),
                        name: m.set.clone(),
                        reason: "--map-set copies the matching element's skbinfo (mark, priority, queue) to the packet; rampart's nft sets carry no such data (an nft map, `meta mark set ip saddr map @m`, would)",
                    });
                }
                // Add, then delete, as xt_set does.
                let mut stmts = Vec::new();
                if let Some(a) = &c.add {
                    stmts.push(Stmt::Action(self.set_target(
                        at,
                        &SetTarget {
                            op: SetOp::Add,
                            set: a.set.clone(),
                            dirs: a.dirs.clone(),
                            timeout: c.timeout,
                            exist: c.exist,
                        },
                    )?));
                }
                if let Some(d) = &c.del {
                    stmts.push(Stmt::Action(self.set_target(
                        at,
                        &SetTarget {
                            op: SetOp::Del,
                            set: d.set.clone(),
                            dirs: d.dirs.clone(),
                            timeout: None,
                            exist: false,
                        },
                    )?));
                }
                Ok((stmts, None, false))
            }
            Target::Nflog(n) => act(nflog_text(n)),
            other => match crate::lower_targets::lower_ext(at, other) {
                Some(Ok(l)) => Ok((l.stmts.into_iter().map(Stmt::Action).collect(), None, false)),
                Some(Err(e)) => Err(e),
                None => Err(CompileError::UnsupportedTarget {
                    at: at.clone(),
                    target: rampart_ruleset::target_name(other).to_string(),
                }),
            },
        }
    }
}

/// `iifname "eth*"`; `None` for `+` (every interface).
fn iface_match(key: &str, negated: bool, iface: &Interface) -> Option<Stmt> {
    let name = &iface.0;
    let text = match name.strip_suffix('+') {
        Some("") if !negated => return None,
        // `! -i +`: no interface name matches; nft refuses an all-wildcard name, and
        // index 0 is no interface.
        Some("") => {
            let index = if key.starts_with('i') {
                "meta iif"
            } else {
                "meta oif"
            };
            return Some(m(index, Op::Implicit, "0"));
        }
        Some(stem) => format!("\"{stem}*\""),
        None => format!("\"{name}\""),
    };
    Some(m(key, op(negated), text))
}

/// Whether a later match already implies `meta l4proto P` (`tcp dport 22` does).
fn protocol_implied(p: Protocol, matches: &[Match]) -> bool {
    matches.iter().any(|mt| match (p.0, mt) {
        (6, Match::Tcp(t)) => t.sport.is_some() || t.dport.is_some() || t.flags.is_some(),
        (17, Match::Udp(u)) => u.sport.is_some() || u.dport.is_some(),
        (1, Match::Icmp(t)) | (58, Match::Icmp6(t)) => t.value.ty.is_some(),
        (6 | 17, Match::Multiport(_)) => true,
        _ => false,
    })
}

fn tcp_flags(negated: bool, f: TcpFlagsMatch) -> Stmt {
    let mask = tcp_flag_names(f.mask.0);
    let mask = if f.mask.0.count_ones() > 1 {
        format!("({mask})")
    } else {
        mask
    };
    m(
        format!("tcp flags & {mask}"),
        if negated { Op::Ne } else { Op::Eq },
        tcp_flag_names(f.comp.0),
    )
}

fn icmp(at: &RulePlace, v6: bool, t: &Neg<IcmpType>) -> Result<Vec<Stmt>, CompileError> {
    let kw = if v6 { "icmpv6" } else { "icmp" };
    let IcmpType { ty, code, .. } = t.value;
    let Some(ty) = ty else {
        if t.negated {
            return Err(CompileError::IcmpAnyNegated { at: at.clone() });
        }
        // `any`: the rule's `-p icmp` (which iptables requires) already says it all.
        return Ok(Vec::new());
    };
    // A code range `TYPE/MIN:MAX` is written `MIN-MAX`.
    let codes = match t.value.codes() {
        (lo, hi) if lo == hi => lo.to_string(),
        (lo, hi) if lo > hi => {
            return Err(CompileError::Refused {
                at: at.clone(),
                module: if v6 { "icmp6" } else { "icmp" },
                reason: "a code range whose first code is above its last matches no packet (negated: every packet of the type), which nft cannot write as a range; swap the codes or remove the rule",
            })
        }
        (lo, hi) => format!("{lo}-{hi}"),
    };
    Ok(match (code, t.negated) {
        (None, n) => vec![m(format!("{kw} type"), op(n), icmp_type_text(v6, ty))],
        (Some(_), false) => vec![
            m(format!("{kw} type"), Op::Implicit, icmp_type_text(v6, ty)),
            m(format!("{kw} code"), Op::Implicit, codes),
        ],
        (Some(_), true) => vec![m(
            format!("{kw} type . {kw} code"),
            Op::Ne,
            format!("{{ {ty} . {codes} }}"),
        )],
    })
}

/// One alternative, or two for `--ports` (either side): `sport {P}`, then
/// `sport != {P} dport {P}`.
fn multiport(l4: &str, mp: &MultiportMatch) -> Vec<Vec<Stmt>> {
    let list = port_list(&mp.ports.value);
    let neg = mp.ports.negated;
    match mp.side {
        PortSide::Source => vec![vec![m(format!("{l4} sport"), op(neg), list)]],
        PortSide::Destination => vec![vec![m(format!("{l4} dport"), op(neg), list)]],
        PortSide::Either if neg => vec![vec![
            m(format!("{l4} sport"), Op::Ne, list.clone()),
            m(format!("{l4} dport"), Op::Ne, list),
        ]],
        PortSide::Either => vec![
            vec![m(format!("{l4} sport"), Op::Implicit, list.clone())],
            vec![
                m(format!("{l4} sport"), Op::Ne, list.clone()),
                m(format!("{l4} dport"), Op::Implicit, list),
            ],
        ],
    }
}

/// `--ctstate`: nftables keeps NEW, ESTABLISHED, ... in `ct state` and SNAT/DNAT in
/// `ct status`. A list mixing both is an OR across the two keys: two alternatives that
/// exclude each other (`ct state {S}`, then `ct state != {S} ct status {N}`), as
/// `--ports` is split; negated, both must differ, in one rule.
fn ct_state(negated: bool, states: CtStates) -> Vec<Vec<Stmt>> {
    let plain = ct_state_names(states.0);
    let mut status = Vec::new();
    if states.0 & CtStates::SNAT != 0 {
        status.push("snat");
    }
    if states.0 & CtStates::DNAT != 0 {
        status.push("dnat");
    }
    match (plain.is_empty(), status.is_empty()) {
        (false, true) => vec![vec![flag_match("ct state", &plain, negated)]],
        (true, false) => vec![vec![flag_match("ct status", &status, negated)]],
        _ if negated => vec![vec![
            flag_match("ct state", &plain, true),
            flag_match("ct status", &status, true),
        ]],
        _ => vec![
            vec![flag_match("ct state", &plain, false)],
            vec![
                flag_match("ct state", &plain, true),
                flag_match("ct status", &status, false),
            ],
        ],
    }
}

/// Every alternative so far extended by every one of `split`.
fn cross(alts: Vec<Vec<Stmt>>, split: Vec<Vec<Stmt>>) -> Vec<Vec<Stmt>> {
    let mut next = Vec::with_capacity(alts.len() * split.len());
    for a in &alts {
        for extra in &split {
            let mut a = a.clone();
            a.extend(extra.iter().cloned());
            next.push(a);
        }
    }
    next
}

fn addrtype(a: &AddrtypeMatch) -> Vec<Stmt> {
    let iface = if a.limit_iface_in {
        " . iif"
    } else if a.limit_iface_out {
        " . oif"
    } else {
        ""
    };
    let mut out = Vec::new();
    for (field, types) in [("saddr", &a.src), ("daddr", &a.dst)] {
        let Some(t) = types else { continue };
        let names: Vec<String> = AddrTypes::NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| t.value.0 & (1 << i) != 0)
            .map(|(_, n)| n.to_ascii_lowercase())
            .collect();
        let right = if names.len() == 1 {
            names[0].clone()
        } else {
            format!("{{ {} }}", names.join(", "))
        };
        out.push(m(format!("fib {field}{iface} type"), op(t.negated), right));
    }
    out
}

fn reject_with(with: RejectWith) -> String {
    let v4 = |t: &str| format!("with icmp type {t}");
    let v6 = |t: &str| format!("with icmpv6 type {t}");
    match with {
        RejectWith::IcmpNetUnreachable => v4("net-unreachable"),
        RejectWith::IcmpHostUnreachable => v4("host-unreachable"),
        RejectWith::IcmpPortUnreachable => v4("port-unreachable"),
        RejectWith::IcmpProtoUnreachable => v4("prot-unreachable"),
        RejectWith::IcmpNetProhibited => v4("net-prohibited"),
        RejectWith::IcmpHostProhibited => v4("host-prohibited"),
        RejectWith::IcmpAdminProhibited => v4("admin-prohibited"),
        RejectWith::Icmp6NoRoute => v6("no-route"),
        RejectWith::Icmp6AdmProhibited => v6("admin-prohibited"),
        RejectWith::Icmp6AddrUnreachable => v6("addr-unreachable"),
        RejectWith::Icmp6PortUnreachable => v6("port-unreachable"),
        RejectWith::TcpReset => "with tcp reset".into(),
        RejectWith::Icmp6PolicyFail => v6("policy-fail"),
        RejectWith::Icmp6RejectRoute => v6("reject-route"),
        _ => v4("port-unreachable"),
    }
}

/// A string nft can read between double quotes: `"` and control characters are replaced.
pub(crate) fn quoted(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("\"{clean}\"")
}

fn log_text(l: &LogTarget) -> String {
    const LEVELS: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
    ];
    let level = LEVELS[usize::from(l.level.unwrap_or(4).min(7))];
    let mut text = match &l.prefix {
        Some(p) => format!("log prefix {} level {level}", quoted(p)),
        None => format!("log level {level}"),
    };
    let f = l.flags;
    let tcp: Vec<&str> = [(f.tcp_sequence, "sequence"), (f.tcp_options, "options")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    if !tcp.is_empty() {
        text.push_str(&format!(" flags tcp {}", tcp.join(",")));
    }
    for (on, flag) in [
        (f.ip_options, " flags ip options"),
        (f.uid, " flags skuid"),
        (f.macdecode, " flags ether"),
    ] {
        if on {
            text.push_str(flag);
        }
    }
    text
}

/// `log group N [prefix "P"] [snaplen S] [queue-threshold T]`.
fn nflog_text(n: &NflogTarget) -> String {
    let mut text = format!("log group {}", n.group);
    if let Some(p) = &n.prefix {
        text.push_str(&format!(" prefix {}", quoted(p)));
    }
    if let Some(size) = n.size {
        text.push_str(&format!(" snaplen {size}"));
    }
    if let Some(t) = n.threshold {
        text.push_str(&format!(" queue-threshold {t}"));
    }
    text
}

/// A set named by `-m set` or `-j SET`, with its directions.
struct SetRef<'a> {
    name: &'a str,
    dirs: &'a [SetDir],
}

fn nat_text(at: &RulePlace, verb: &'static str, n: &NatTarget) -> Result<String, CompileError> {
    let target = if verb == "snat" { "SNAT" } else { "DNAT" };
    let Some(addrs) = n.addrs else {
        return Err(CompileError::PortOnlyNat {
            at: at.clone(),
            target,
        });
    };
    let v6 = addrs.start().is_ipv6();
    let mut text = match (v6, n.ports) {
        (false, None) => format!("{verb} ip to {addrs}"),
        (false, Some(p)) => format!("{verb} ip to {addrs}:{}", port_text(p)),
        (true, None) => format!("{verb} ip6 to {addrs}"),
        (true, Some(p)) if addrs.start() == addrs.end() => {
            format!("{verb} ip6 to [{}]:{}", addrs.start(), port_text(p))
        }
        (true, Some(_)) => {
            return Err(CompileError::Ipv6NatRangeWithPorts {
                at: at.clone(),
                target,
            })
        }
    };
    let mut flags = Vec::new();
    if n.random {
        flags.push("random");
    }
    if n.persistent {
        flags.push("persistent");
    }
    if !flags.is_empty() {
        text.push(' ');
        text.push_str(&flags.join(","));
    }
    Ok(text)
}

fn port_action(verb: &str, ports: Option<PortRange>, random: bool) -> String {
    let mut text = verb.to_string();
    if let Some(p) = ports {
        text.push_str(&format!(" to :{}", port_text(p)));
    }
    if random {
        text.push_str(" random");
    }
    text
}

/// The value of `(reg & !mask) ^ value` as an nft expression over `reg`.
fn xmark(reg: &str, x: XMark) -> String {
    match x.mask {
        u32::MAX => format!("{:#x}", x.value),
        0 => format!("{reg} xor {:#x}", x.value),
        mask => format!("{reg} and {:#x} xor {:#x}", !mask, x.value),
    }
}

fn connmark(at: &RulePlace, c: ConnmarkTarget) -> Result<String, CompileError> {
    let masked = |reg: &str, mask: u32| {
        if mask == u32::MAX {
            reg.to_string()
        } else {
            format!("{reg} and {mask:#x}")
        }
    };
    match c {
        ConnmarkTarget::Set(x) => Ok(format!("ct mark set {}", xmark("ct mark", x))),
        ConnmarkTarget::Save { nfmask, ctmask } if ctmask == u32::MAX => {
            Ok(format!("ct mark set {}", masked("meta mark", nfmask)))
        }
        ConnmarkTarget::Restore { nfmask, ctmask } if nfmask == u32::MAX => {
            Ok(format!("meta mark set {}", masked("ct mark", ctmask)))
        }
        ConnmarkTarget::Save { nfmask, ctmask } => Err(CompileError::ConnmarkMask {
            at: at.clone(),
            op: "save-mark",
            nfmask,
            ctmask,
        }),
        ConnmarkTarget::Restore { nfmask, ctmask } => Err(CompileError::ConnmarkMask {
            at: at.clone(),
            op: "restore-mark",
            nfmask,
            ctmask,
        }),
    }
}

#[cfg(test)]
mod tests {
    use rampart_ruleset::{parse_script, Action, Family, ParseOptions, Source, TableKind, Target};

    use crate::{compile, rule_text, CompileOptions};

    /// The nft rules one script line (plus setup lines) lowers to.
    fn lowered(setup: &str, line: &str) -> Vec<String> {
        let text = format!("{setup}{line}\n");
        let src = Source::new("<t>", text);
        let rs = parse_script(&src, ParseOptions::default())
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .ruleset;
        let script = compile(&rs, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let last = setup.lines().count() as u32 + 1;
        let mut out = Vec::new();
        for chain in &script.table().chains {
            for r in &chain.rules {
                if r.origin.as_ref().and_then(|o| o.span).map(|s| s.line) == Some(last) {
                    out.push(rule_text(r));
                }
            }
        }
        out
    }

    /// A loop the parser would refuse, built behind its back (as a policy or import
    /// could), is still refused before any nft text exists (issue 15, finding 1).
    #[test]
    fn chain_loop_is_refused_before_nft() {
        let src = Source::new(
            "<t>",
            "iptables -N alpha\niptables -N beta\niptables -A INPUT -j alpha\n\
             iptables -A alpha -j beta\niptables -A beta -s 192.0.2.0/24 -j RETURN\n",
        );
        let mut rs = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
        let beta = rs
            .table_mut(Family::Ipv4, TableKind::Filter)
            .chain_mut("beta")
            .unwrap();
        beta.rules[0].spec.action = Some(Action::Jump(Target::Chain("alpha".into())));
        let errors = compile(&rs, &CompileOptions::default()).unwrap_err();
        let text: Vec<String> = errors.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "iptables -t filter beta rule 1 (line 5:1): chain loop alpha → beta → alpha: \
              the kernel refuses a chain that can reach itself"
            ]
        );
    }

    /// Table-driven: iptables rule; the nft rule(s) it becomes.
    #[test]
    fn lowering_table() {
        let cases: &[(&str, &str, &[&str])] = &[
            // addresses
            ("", "iptables -A INPUT -s 192.0.2.1 -j ACCEPT", &["ip saddr 192.0.2.1 counter accept"]),
            ("", "iptables -A INPUT -s 192.0.2.13/255.0.255.0 -j ACCEPT", &["ip saddr & 255.0.255.0 == 192.0.2.0 counter accept"]),
            ("", "ip6tables -A INPUT ! -d 2001:db8::1/ffff::ffff -j DROP", &["ip6 daddr & ffff::ffff != 2001::1 counter drop"]),
            ("", "iptables -A INPUT ! -d 192.0.2.0/24 -j DROP", &["ip daddr != 192.0.2.0/24 counter drop"]),
            ("", "ip6tables -A INPUT -s 2001:db8::/32 -j ACCEPT", &["ip6 saddr 2001:db8::/32 counter accept"]),
            // interfaces
            ("", "iptables -A FORWARD -i eth+ ! -o ppp0 -j ACCEPT", &["iifname \"eth*\" oifname != \"ppp0\" counter accept"]),
            ("", "iptables -A INPUT -i + -j ACCEPT", &["counter accept"]),
            // protocol, fragments
            ("", "iptables -A INPUT -p 99 -j ACCEPT", &["meta l4proto 99 counter accept"]),
            ("", "iptables -A INPUT -f -j DROP", &["ip frag-off & 0x1fff != 0 counter drop"]),
            // ports, flags
            ("", "iptables -A INPUT -p tcp --dport 1000:2000 -j ACCEPT", &["tcp dport 1000-2000 counter accept"]),
            ("", "iptables -A INPUT -p tcp --syn -j ACCEPT", &["tcp flags & (fin|syn|rst|ack) == syn counter accept"]),
            ("", "iptables -A INPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -j DROP", &["tcp flags & (syn|ack) == syn|ack counter drop"]),
            ("", "iptables -A INPUT -p udp ! --sport 53 -j ACCEPT", &["udp sport != 53 counter accept"]),
            // icmp
            ("", "iptables -A INPUT -p icmp --icmp-type 3/4 -j ACCEPT", &["icmp type destination-unreachable icmp code 4 counter accept"]),
            ("", "ip6tables -A INPUT -p icmpv6 --icmpv6-type 135 -j ACCEPT", &["icmpv6 type nd-neighbor-solicit counter accept"]),
            ("", "iptables -A INPUT -p icmp --icmp-type any -j ACCEPT", &["meta l4proto icmp counter accept"]),
            ("", "iptables -A INPUT -p icmp --icmp-type 3/1:2 -j ACCEPT", &["icmp type destination-unreachable icmp code 1-2 counter accept"]),
            ("", "iptables -A INPUT -p icmp ! --icmp-type 3/1:2 -j ACCEPT", &["icmp type . icmp code != { 3 . 1-2 } counter accept"]),
            // multiport
            ("", "iptables -A INPUT -p tcp -m multiport --ports 22,80 -j LOG", &[
                "tcp sport { 22, 80 } counter log level warn",
                "tcp sport != { 22, 80 } tcp dport { 22, 80 } counter log level warn",
            ]),
            ("", "iptables -A INPUT -p tcp -m multiport ! --dports 22,80 -j DROP", &["tcp dport != { 22, 80 } counter drop"]),
            // conntrack
            ("", "iptables -A INPUT -m conntrack ! --ctstate NEW,INVALID -j ACCEPT", &["ct state & (invalid|new) == 0 counter accept"]),
            ("", "iptables -A FORWARD -m conntrack --ctstate DNAT -j ACCEPT", &["ct status dnat counter accept"]),
            ("", "iptables -A FORWARD -m conntrack --ctorigdst 192.0.2.1 -j ACCEPT", &["ct original ip daddr 192.0.2.1 counter accept"]),
            // limits
            ("", "iptables -A INPUT -m limit --limit 3/hour -j LOG", &["limit rate 3/hour burst 5 packets counter log level warn"]),
            ("", "iptables -A INPUT -m hashlimit --hashlimit-above 10/s --hashlimit-mode srcip,srcport --hashlimit-name a -j DROP", &[
                "update @hashlimit_ip_a { ip saddr . th sport limit rate over 10/second burst 5 packets } counter drop",
            ]),
            ("", "iptables -A INPUT -m hashlimit --hashlimit-above 4kb/s --hashlimit-burst 16kb --hashlimit-mode srcip --hashlimit-name b -j DROP", &[
                "update @hashlimit_ip_b { ip saddr limit rate over 4 kbytes/second burst 16 kbytes } counter drop",
            ]),
            ("", "iptables -A INPUT -m hashlimit --hashlimit-upto 3000b/s --hashlimit-name c -j ACCEPT", &[
                "limit rate 2992 bytes/second counter accept",
            ]),
            ("", "iptables -A INPUT -m hashlimit --hashlimit-upto 1000000/sec --hashlimit-name d -j ACCEPT", &[
                "limit rate 1000000/second burst 5 packets counter accept",
            ]),
            ("", "iptables -A INPUT -m connlimit --connlimit-above 2 --connlimit-daddr -j DROP", &[
                "add @connlimit_ip_1 { ip daddr ct count over 2 } counter drop",
            ]),
            ("", "iptables -A INPUT -m recent --name r --set", &["update @recent_ip_r { ip saddr } counter"]),
            ("", "iptables -A INPUT -m recent --name r --remove -j ACCEPT", &["ip saddr @recent_ip_r delete @recent_ip_r { ip saddr } counter accept"]),
            // comment, sets, iprange, mac, length, addrtype, mark
            ("", "iptables -A INPUT -m comment --comment \"allow \\\"x\\\"\" -j ACCEPT", &["counter accept comment \"allow 'x'\""]),
            ("ipset create s hash:ip,port\n", "iptables -A INPUT -m set --match-set s src,src -j DROP", &["ip saddr . meta l4proto . th sport @s counter drop"]),
            ("", "iptables -A INPUT -m iprange ! --src-range 192.0.2.1-192.0.2.5 -j DROP", &["ip saddr != 192.0.2.1-192.0.2.5 counter drop"]),
            ("", "iptables -A INPUT -m mac --mac-source AA:BB:CC:DD:EE:FF -j DROP", &["ether saddr aa:bb:cc:dd:ee:ff counter drop"]),
            ("", "iptables -A INPUT -m length --length 0:63 -j DROP", &["meta length 0-63 counter drop"]),
            ("", "iptables -A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT", &["fib daddr . iif type local counter accept"]),
            ("", "iptables -A INPUT -m mark --mark 0x1/0x1 -j ACCEPT", &["meta mark and 0x1 == 0x1 counter accept"]),
            // targets
            ("", "iptables -A INPUT -j REJECT --reject-with icmp-proto-unreachable", &["meta nfproto ipv4 counter reject with icmp type prot-unreachable"]),
            ("", "ip6tables -A INPUT -j REJECT --reject-with icmp6-addr-unreachable", &["meta nfproto ipv6 counter reject with icmpv6 type addr-unreachable"]),
            ("", "iptables -A INPUT -j LOG --log-prefix \"x: \" --log-level 7", &["counter log prefix \"x: \" level debug"]),
            ("iptables -N c\n", "iptables -A INPUT -g c", &["counter goto ip_filter_c"]),
            ("", "iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 203.0.113.1:1024-2048 --persistent", &[
                "meta l4proto tcp counter snat ip to 203.0.113.1:1024-2048 persistent",
            ]),
            ("", "ip6tables -t nat -A PREROUTING -p tcp -j DNAT --to-destination [2001:db8::1]:80", &[
                "meta l4proto tcp counter dnat ip6 to [2001:db8::1]:80",
            ]),
            ("", "iptables -t nat -A PREROUTING -p tcp -j REDIRECT --to-ports 8080", &["meta l4proto tcp counter redirect to :8080"]),
            ("", "iptables -t mangle -A PREROUTING -j MARK --and-mark 0xf", &["counter meta mark set meta mark and 0xf xor 0x0"]),
            ("", "iptables -t mangle -A PREROUTING -j CONNMARK --set-xmark 0x1/0x1", &["counter ct mark set ct mark and 0xfffffffe xor 0x1"]),
            ("", "iptables -t raw -A PREROUTING -j NOTRACK", &["counter notrack"]),
            ("", "iptables -t raw -A OUTPUT -j TRACE", &["counter meta nftrace set 1"]),
            ("", "iptables -t raw -A PREROUTING -p udp --dport 137 -j CT --helper netbios-ns", &[
                "udp dport 137 counter ct helper set \"netbios-ns-udp\"",
            ]),
        ];
        let mut failures = Vec::new();
        for (setup, line, want) in cases {
            let got = lowered(setup, line);
            if got != *want {
                failures.push(format!("{line}\n  want {want:?}\n  got  {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// `CT --helper`: one `ct helper` object per helper and protocol, and the raw table
    /// moved after conntrack, where `ct helper set` acts; refused, naming the rule, when
    /// the raw table also holds something that must act before conntrack.
    #[test]
    fn ct_helper_objects_and_raw_order() {
        let src = Source::new(
            "<t>",
            "iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp\n\
             ip6tables -t raw -A PREROUTING -p tcp --dport 2121 -j CT --helper ftp\n",
        );
        let rs = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
        let script = compile(&rs, &CompileOptions::default()).unwrap();
        let text = script.text();
        assert_eq!(text.matches("ct helper ftp-tcp {").count(), 1, "{text}");
        assert!(text.contains("type \"ftp\" protocol tcp;"), "{text}");
        assert!(text.contains("hook prerouting priority -190;"), "{text}");
        let src = Source::new(
            "<t>",
            "iptables -t raw -A PREROUTING -p tcp -j CT --helper ftp\n\
             iptables -t raw -A OUTPUT -p udp --dport 53 -j CT --notrack\n",
        );
        let rs = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
        let err = compile(&rs, &CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("iptables -t raw OUTPUT rule 1 (--notrack) must act before conntrack"),
            "{err}"
        );
        let src = Source::new(
            "<t>",
            "iptables -t raw -A PREROUTING -p tcp -j CT --helper ftp\n",
        );
        let rs = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
        let text = compile(&rs, &CompileOptions::default())
            .unwrap()
            .text()
            .to_string();
        assert!(
            text.contains("meta l4proto tcp counter ct helper set \"ftp-tcp\""),
            "{text}"
        );
    }

    /// The base chain layout: dispatch per family, the DROP policy right after the jump.
    #[test]
    fn dispatch_and_policy() {
        let src = Source::new(
            "<t>",
            "iptables -P INPUT DROP\nip6tables -A INPUT -j ACCEPT\n\
             iptables -t nat -A OUTPUT -p tcp -j REDIRECT\n",
        );
        let rs = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
        let script = compile(&rs, &CompileOptions::default()).unwrap();
        let t = script.text();
        assert!(
            t.contains(
                "\tchain filter_input {\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\tmeta nfproto ipv4 jump ip_filter_INPUT\n\
             \t\tmeta nfproto ipv4 counter drop comment \"iptables -t filter -P INPUT DROP\"\n\
             \t\tmeta nfproto ipv6 jump ip6_filter_INPUT\n\t}\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("type nat hook output priority -100; policy accept;"),
            "{t}"
        );
        assert!(!t.contains("flush ruleset"));
        // No other table is named.
        for line in t
            .lines()
            .filter(|l| l.starts_with("table") || l.starts_with("delete"))
        {
            assert!(line.contains("inet rampart"), "{line}");
        }
    }
}
