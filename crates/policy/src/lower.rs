//! Stage 3: the policy lowered to the ruleset model, both families, every rule commented.
//!
//! Chains, in order (per family; `F` marks IPv6-only rules):
//!
//! ```text
//! INPUT   lo accept · flood bans drop · established,related accept · invalid drop ·
//!         deny_from drop · allow_from accept · F ICMPv6 errors + neighbour discovery ·
//!         jump flood · ping (limit) ·
//!         router: LAN accept · tcp/udp ports · imported rules · reject (policy = reject)
//!         policy DROP/ACCEPT
//! OUTPUT  (when it denies) lo · established,related · F ICMPv6 ND + errors · tcp/udp ports
//!         · imported · reject
//! FORWARD (router) established,related · invalid drop · LAN→WAN · imported · reject
//! nat POSTROUTING (router, IPv4) -o WAN MASQUERADE | SNAT
//! flood   this host return · jump syn_flood (SYNs) · ICMP/UDP over limit · each
//!         [[flood.limit]]: over its meter → drop, or jump flood_NAME (log, NFLOG, SET
//!         add to flood_NAME_4/6, drop)
//! ```
//!
//! Imported rules are appended to the chains they name, after the policy's own rules; the
//! policy file decides the built-in chains' policies.

use std::io;

use rampart_prefix::AddrRange;
use rampart_ruleset::{
    parse_any, Action, AddrTypes, AddrtypeMatch, Chain, ConnlimitMatch, ConntrackMatch, CtStates,
    Family, HashlimitKey, HashlimitLimit, HashlimitMatch, IcmpType, Interface, IpSet, LimitMatch,
    LimitMode, LogTarget, MasqueradeTarget, Match, NatTarget, Neg, NflogTarget, ParseOptions,
    Policy as ChainVerdict, Protocol, Rate, RateUnit, RejectWith, Rule, RuleSpec, Ruleset, SetDir,
    SetKind, SetMatch, SetOp, SetTarget, Source, TableKind, Target, TcpFlagsMatch, TcpMatch,
    UdpMatch,
};
use serde::Serialize;

use crate::error::{PolicyError, PolicyErrorKind, PolicyErrors};
use crate::flood::{Flood, Measure, OverAction, Per, SourceLimit, BAN_LOG_PREFIX};
use crate::policy::{ChainPolicy, Nat, Policy, PortRule, Why};

/// A policy lowered to a ruleset.
#[derive(Debug, Clone, Serialize)]
pub struct Compiled {
    /// The ruleset: filter (and for a router, nat) tables of both families.
    pub ruleset: Ruleset,
    /// Things worth telling the admin (imported notes, settings the kernel needs).
    pub notes: Vec<String>,
}

/// ICMPv6 messages IPv6 cannot work without: errors (path MTU discovery needs
/// packet-too-big) and neighbour discovery (router/neighbour solicitation and
/// advertisement), which conntrack does not mark RELATED or ESTABLISHED.
const ICMPV6_NEEDED: [(u8, &str); 8] = [
    (1, "ICMPv6 destination unreachable"),
    (2, "ICMPv6 packet too big (path MTU)"),
    (3, "ICMPv6 time exceeded"),
    (4, "ICMPv6 parameter problem"),
    (133, "IPv6 router solicitation"),
    (134, "IPv6 router advertisement"),
    (135, "IPv6 neighbour solicitation"),
    (136, "IPv6 neighbour advertisement"),
];

const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

struct Builder {
    ruleset: Ruleset,
}

impl Builder {
    fn push(
        &mut self,
        family: Family,
        table: TableKind,
        chain: &str,
        mut spec: RuleSpec,
        why: &Why,
        what: &str,
    ) {
        spec.matches.push(Match::Comment(why.comment(what)));
        self.ruleset
            .table_mut(family, table)
            .chain_mut(chain)
            .expect("built-in chain")
            .rules
            .push(Rule {
                spec,
                counters: Default::default(),
                span: why.span(),
            });
    }

    fn filter(&mut self, family: Family, chain: &str, spec: RuleSpec, why: &Why, what: &str) {
        self.push(family, TableKind::Filter, chain, spec, why, what);
    }

    /// Accepts packets of known connections (replies and related traffic) in `chain`.
    fn replies(&mut self, family: Family, chain: &str, why: &Why, what: &str) {
        let spec = RuleSpec {
            matches: vec![ct(CtStates::RELATED | CtStates::ESTABLISHED)],
            action: accept(),
            ..Default::default()
        };
        self.filter(family, chain, spec, why, what);
    }

    /// Drops packets conntrack calls INVALID in `chain`.
    fn drop_invalid(&mut self, family: Family, chain: &str, why: &Why) {
        let spec = RuleSpec {
            matches: vec![ct(CtStates::INVALID)],
            action: Some(Action::Jump(Target::Drop)),
            ..Default::default()
        };
        self.filter(family, chain, spec, why, "invalid packets");
    }

    fn set_policy(&mut self, family: Family, chain: &str, policy: ChainPolicy) {
        let verdict = match policy {
            ChainPolicy::Accept => ChainVerdict::Accept,
            ChainPolicy::Drop | ChainPolicy::Reject => ChainVerdict::Drop,
        };
        self.ruleset
            .table_mut(family, TableKind::Filter)
            .chain_mut(chain)
            .expect("built-in chain")
            .policy = Some(verdict);
    }
}

fn accept() -> Option<Action> {
    Some(Action::Jump(Target::Accept))
}

fn ct(states: u8) -> Match {
    Match::Conntrack(ConntrackMatch {
        state: Some(Neg::plain(CtStates(states))),
        ..Default::default()
    })
}

fn iface(name: &str) -> Option<Neg<Interface>> {
    Some(Neg::plain(Interface(name.to_string())))
}

fn proto(p: Protocol) -> Option<Neg<Protocol>> {
    Some(Neg::plain(p))
}

fn icmp_type(family: Family, ty: u8) -> (Option<Neg<Protocol>>, Match) {
    let t = Neg::plain(IcmpType::of_type(Some(ty)));
    match family {
        Family::Ipv4 => (proto(Protocol::ICMP), Match::Icmp(t)),
        Family::Ipv6 => (proto(Protocol::ICMPV6), Match::Icmp6(t)),
    }
}

/// One accept rule per open port of `lists` (tcp, then udp) in `chain`, each labelled with
/// the port's own words (`ssh in`, `tcp port 8443 out`).
fn open_ports(b: &mut Builder, family: Family, chain: &str, lists: [&Vec<PortRule>; 2]) {
    let direction = if chain == "INPUT" { "in" } else { "out" };
    for ((protocol, name), list) in [(Protocol::TCP, "tcp"), (Protocol::UDP, "udp")]
        .into_iter()
        .zip(lists)
    {
        for port in list {
            let label = match port.label() {
                l if l.starts_with("port") => format!("{name} {l} {direction}"),
                l => format!("{l} {direction}"),
            };
            b.filter(family, chain, port_spec(protocol, port), &port.why, &label);
        }
    }
}

fn port_spec(protocol: Protocol, port: &PortRule) -> RuleSpec {
    let dport = Some(Neg::plain(port.ports));
    let m = if protocol == Protocol::TCP {
        Match::Tcp(TcpMatch {
            dport,
            ..Default::default()
        })
    } else {
        Match::Udp(UdpMatch {
            dport,
            ..Default::default()
        })
    };
    RuleSpec {
        protocol: proto(protocol),
        matches: vec![m],
        action: accept(),
        ..Default::default()
    }
}

impl Policy {
    /// Lowers the policy to a ruleset. `read` returns the text of an imported file (the
    /// caller does the I/O, so this crate stays pure); it is called once per import, in
    /// order.
    pub fn to_ruleset(
        &self,
        mut read: impl FnMut(&str) -> io::Result<String>,
    ) -> Result<Compiled, PolicyErrors> {
        let mut b = Builder {
            ruleset: Ruleset::default(),
        };
        let mut notes = Vec::new();
        for family in FAMILIES {
            self.input(&mut b, family);
            self.output(&mut b, family);
            self.forward(&mut b, family);
        }
        self.nat(&mut b);
        if self.router.is_some() {
            notes.push(
                "the router profile needs forwarding on: sysctl net.ipv4.ip_forward=1 \
                 (and net.ipv6.conf.all.forwarding=1 for IPv6)"
                    .to_string(),
            );
        }
        let mut errors = Vec::new();
        for import in &self.imports {
            match self.import(&mut b, import, &mut read) {
                Ok(mut n) => notes.append(&mut n),
                Err(e) => errors.push(e),
            }
        }
        // Reject rules go last, after imported rules, just before the policy.
        for family in FAMILIES {
            for (chain, policy, why) in [
                ("INPUT", self.input_policy, &self.policy_why[0]),
                ("OUTPUT", self.output_policy, &self.policy_why[1]),
                ("FORWARD", self.forward_policy, &self.policy_why[2]),
            ] {
                if policy == ChainPolicy::Reject {
                    reject_rules(&mut b, family, chain, why);
                }
            }
        }
        if errors.is_empty() {
            Ok(Compiled {
                ruleset: b.ruleset,
                notes,
            })
        } else {
            Err(PolicyErrors(errors, 0))
        }
    }

    fn input(&self, b: &mut Builder, family: Family) {
        let why = &self.policy_why[0];
        b.set_policy(family, "INPUT", self.input_policy);
        b.filter(
            family,
            "INPUT",
            RuleSpec {
                in_interface: iface("lo"),
                action: accept(),
                ..Default::default()
            },
            why,
            "loopback",
        );
        self.flood_bans(b, family);
        b.replies(family, "INPUT", why, "replies and related traffic");
        b.drop_invalid(family, "INPUT", why);
        for a in self
            .deny_from
            .iter()
            .filter(|a| Family::of(a.prefix.addr()) == family)
        {
            b.filter(
                family,
                "INPUT",
                RuleSpec {
                    source: Some(Neg::plain(a.prefix)),
                    action: Some(Action::Jump(Target::Drop)),
                    ..Default::default()
                },
                &a.why,
                &format!("deny from {}", a.prefix),
            );
        }
        for a in self
            .allow_from
            .iter()
            .filter(|a| Family::of(a.prefix.addr()) == family)
        {
            b.filter(
                family,
                "INPUT",
                RuleSpec {
                    source: Some(Neg::plain(a.prefix)),
                    action: accept(),
                    ..Default::default()
                },
                &a.why,
                &format!("allow from {}", a.prefix),
            );
        }
        if family == Family::Ipv6 {
            icmpv6_needed(b, "INPUT", why);
        }
        self.flood_chain(b, family);
        if let Some(ping) = &self.ping {
            let ty = match family {
                Family::Ipv4 => 8,
                Family::Ipv6 => 128,
            };
            let (protocol, m) = icmp_type(family, ty);
            b.filter(
                family,
                "INPUT",
                RuleSpec {
                    protocol,
                    matches: vec![
                        m,
                        Match::Limit(LimitMatch {
                            rate: ping.rate,
                            burst: ping.burst,
                            negated: false,
                        }),
                    ],
                    action: accept(),
                    ..Default::default()
                },
                &ping.why,
                "ping (rate-limited)",
            );
        }
        if let Some(router) = &self.router {
            b.filter(
                family,
                "INPUT",
                RuleSpec {
                    in_interface: iface(&router.lan),
                    action: accept(),
                    ..Default::default()
                },
                &router.why,
                &format!("LAN {} to the router", router.lan),
            );
        }
        open_ports(b, family, "INPUT", [&self.input_tcp, &self.input_udp]);
    }

    fn output(&self, b: &mut Builder, family: Family) {
        b.set_policy(family, "OUTPUT", self.output_policy);
        if !self.output_policy.denies() {
            return;
        }
        let why = &self.policy_why[1];
        b.filter(
            family,
            "OUTPUT",
            RuleSpec {
                out_interface: iface("lo"),
                action: accept(),
                ..Default::default()
            },
            why,
            "loopback",
        );
        b.replies(family, "OUTPUT", why, "replies and related traffic");
        if family == Family::Ipv6 {
            icmpv6_needed(b, "OUTPUT", why);
        }
        open_ports(b, family, "OUTPUT", [&self.output_tcp, &self.output_udp]);
    }

    fn forward(&self, b: &mut Builder, family: Family) {
        b.set_policy(family, "FORWARD", self.forward_policy);
        let Some(router) = &self.router else {
            return;
        };
        let why = &router.why;
        b.replies(family, "FORWARD", why, "replies to the LAN");
        b.drop_invalid(family, "FORWARD", why);
        b.filter(
            family,
            "FORWARD",
            RuleSpec {
                in_interface: iface(&router.lan),
                out_interface: iface(&router.wan),
                action: accept(),
                ..Default::default()
            },
            why,
            &format!("LAN {} to WAN {}", router.lan, router.wan),
        );
    }

    fn nat(&self, b: &mut Builder) {
        let Some(router) = &self.router else {
            return;
        };
        let (target, what) = match router.nat {
            Nat::None => return,
            Nat::Masquerade => (
                Target::Masquerade(MasqueradeTarget::default()),
                format!("LAN masqueraded out {}", router.wan),
            ),
            Nat::Snat { to } => (
                Target::Snat(NatTarget {
                    port_offset: None,
                    addrs: AddrRange::new(to, to),
                    ports: None,
                    random: false,
                    persistent: false,
                }),
                format!("LAN translated to {to} out {}", router.wan),
            ),
        };
        b.push(
            Family::Ipv4,
            TableKind::Nat,
            "POSTROUTING",
            RuleSpec {
                out_interface: iface(&router.wan),
                action: Some(Action::Jump(target)),
                ..Default::default()
            },
            &router.why,
            &what,
        );
    }

    fn import(
        &self,
        b: &mut Builder,
        import: &crate::policy::ImportFile,
        read: &mut impl FnMut(&str) -> io::Result<String>,
    ) -> Result<Vec<String>, PolicyError> {
        let policy_source = self
            .source
            .clone()
            .unwrap_or_else(|| Source::new(self.source_name(), ""));
        let at = |kind| PolicyError::at(&policy_source, import.span.clone(), kind);
        let text = read(&import.path).map_err(|e| {
            at(PolicyErrorKind::ImportRead {
                path: import.path.clone(),
                reason: e.to_string(),
            })
            .with_hint("check the path in [import] files; paths are read as written")
        })?;
        let source = Source::new(import.path.as_str(), text);
        let parsed = parse_any(&source, ParseOptions::default()).map_err(|e| {
            at(PolicyErrorKind::Import {
                path: import.path.clone(),
                errors: e.to_string(),
            })
            .with_hint("fix the imported file, or test it alone with `rampart check FILE`")
        })?;
        let clash = |reason: String| {
            at(PolicyErrorKind::ImportClash {
                path: import.path.clone(),
                reason,
            })
        };
        for set in parsed.ruleset.sets {
            if b.ruleset.set(&set.name).is_some() {
                return Err(clash(format!("set `{}` is defined twice", set.name))
                    .with_hint("rename the set in one of the imported files"));
            }
            b.ruleset.sets.push(set);
        }
        let mut notes = parsed.notes;
        for table in parsed.ruleset.tables {
            for chain in table.chains {
                let ours = b.ruleset.table_mut(table.family, table.kind);
                match ours.chain_mut(&chain.name) {
                    Some(existing) if chain.is_builtin() => {
                        if chain.policy != existing.policy && !chain.rules.is_empty() {
                            notes.push(format!(
                                "{}: policy {} of {} {} {} ignored: the policy file decides it",
                                import.path,
                                chain.policy.map_or("-", |p| p.name()),
                                table.family.command(),
                                table.kind,
                                chain.name
                            ));
                        }
                        existing.rules.extend(chain.rules);
                    }
                    Some(_) => {
                        return Err(clash(format!(
                            "chain `{}` of {} table {} is defined twice",
                            chain.name,
                            table.family.command(),
                            table.kind
                        ))
                        .with_hint("rename the chain in one of the imported files"));
                    }
                    None => {
                        ours.add_chain(chain);
                    }
                }
            }
        }
        Ok(notes)
    }
}

fn icmpv6_needed(b: &mut Builder, chain: &str, why: &Why) {
    for (ty, what) in ICMPV6_NEEDED {
        let (protocol, m) = icmp_type(Family::Ipv6, ty);
        b.filter(
            Family::Ipv6,
            chain,
            RuleSpec {
                protocol,
                matches: vec![m],
                action: accept(),
                ..Default::default()
            },
            why,
            what,
        );
    }
}

fn reject_rules(b: &mut Builder, family: Family, chain: &str, why: &Why) {
    b.filter(
        family,
        chain,
        RuleSpec {
            protocol: proto(Protocol::TCP),
            action: Some(Action::Jump(Target::Reject(RejectWith::TcpReset))),
            ..Default::default()
        },
        why,
        "refuse other tcp",
    );
    b.filter(
        family,
        chain,
        RuleSpec {
            action: Some(Action::Jump(Target::Reject(RejectWith::default_for(
                family,
            )))),
            ..Default::default()
        },
        why,
        "refuse the rest",
    );
}

/// The user chain every limit of `[flood]` lives in, jumped to from INPUT.
pub const FLOOD_CHAIN: &str = "flood";
/// Where the guides' syn-flood limit lives.
const SYN_FLOOD_CHAIN: &str = "syn_flood";
/// Drop-logging is itself rate-limited: a flood must not become a log flood.
const LOG_RATE: Rate = Rate {
    count: 1,
    unit: RateUnit::Second,
};
/// The admin's SSH sources `up` can record for the meters to skip.
const ADMIN_SET_SIZE: u32 = 1024;
/// Meter entries live at most an hour idle.
const MAX_METER_EXPIRE_MS: u64 = 3_600_000;

impl Builder {
    /// Creates user chain `name` in the filter table of `family` (kept in name order, as
    /// the kernel lists chains).
    fn user_chain(&mut self, family: Family, name: &str) {
        self.ruleset
            .table_mut(family, TableKind::Filter)
            .add_chain(Chain {
                name: name.to_string(),
                policy: None,
                counters: Default::default(),
                rules: Vec::new(),
            });
    }
}

fn jump(chain: &str) -> Option<Action> {
    Some(Action::Jump(Target::Chain(chain.to_string())))
}

fn drop_action() -> Option<Action> {
    Some(Action::Jump(Target::Drop))
}

/// `-m limit --limit RATE --limit-burst B`: the packets within a rate shared by all.
fn within(rate: Rate, burst: u32) -> Match {
    Match::Limit(LimitMatch {
        rate,
        burst,
        negated: false,
    })
}

/// How long an idle meter entry is kept: until its bucket would be full again (burst
/// tokens at `rate`), at least one rate unit, so forgetting a source never lets it burst
/// earlier than the kernel's bucket would.
fn meter_expire_ms(rate: Rate, burst: u32) -> u32 {
    let unit_ms = u64::from(rate.unit.seconds()) * 1000;
    let refill_ms = unit_ms * u64::from(burst) / u64::from(rate.count.max(1));
    refill_ms.max(unit_ms).min(MAX_METER_EXPIRE_MS) as u32
}

impl Policy {
    /// INPUT's first rules after loopback: sources a `[flood]` limit banned, dropped
    /// whatever they send, established connections included.
    fn flood_bans(&self, b: &mut Builder, family: Family) {
        let Some(flood) = &self.flood else {
            return;
        };
        let v4 = family == Family::Ipv4;
        for l in flood.limits.iter().filter(|l| l.action == OverAction::Ban) {
            let set = l.ban_set(v4);
            if b.ruleset.set(&set).is_none() {
                b.ruleset.sets.push(IpSet {
                    name: set.clone(),
                    kind: SetKind::HashIp,
                    family,
                    timeout: Some(flood.ban_time),
                    maxelem: Some(flood.meter_size),
                    hashsize: None,
                    port_range: None,
                    flags: Vec::new(),
                    entries: Vec::new(),
                    span: None,
                });
            }
            b.filter(
                family,
                "INPUT",
                RuleSpec {
                    matches: vec![Match::Set(SetMatch {
                        name: set,
                        dirs: vec![SetDir::Src],
                        negated: false,
                    })],
                    action: drop_action(),
                    ..Default::default()
                },
                &l.why,
                &format!("flood: banned by {}", l.name),
            );
        }
    }

    /// The `flood` chain (and its helpers) and INPUT's jump to it, placed after the
    /// allowlist: loopback, replies, `allow_from` and this host's own addresses are
    /// accepted before any meter counts them, so they are never limited or banned.
    fn flood_chain(&self, b: &mut Builder, family: Family) {
        let Some(flood) = &self.flood else {
            return;
        };
        if flood.syn_flood.is_none()
            && flood.icmp.is_none()
            && flood.udp.is_none()
            && flood.limits.is_empty()
        {
            return;
        }
        let why = &flood.why;
        b.user_chain(family, FLOOD_CHAIN);
        b.filter(
            family,
            "INPUT",
            RuleSpec {
                action: jump(FLOOD_CHAIN),
                ..Default::default()
            },
            why,
            "flood defence",
        );
        b.filter(
            family,
            FLOOD_CHAIN,
            RuleSpec {
                matches: vec![Match::Addrtype(AddrtypeMatch {
                    src: Some(Neg::plain(AddrTypes(1 << 2))),
                    dst: None,
                    limit_iface_in: false,
                    limit_iface_out: false,
                })],
                action: Some(Action::Jump(Target::Return)),
                ..Default::default()
            },
            why,
            "this host is never limited",
        );
        let admins = rampart_block::flood_admin_set(family == Family::Ipv4);
        if b.ruleset.set(&admins).is_none() {
            b.ruleset.sets.push(IpSet {
                name: admins.clone(),
                kind: SetKind::HashIp,
                family,
                timeout: None,
                maxelem: Some(ADMIN_SET_SIZE),
                hashsize: None,
                port_range: None,
                flags: Vec::new(),
                entries: Vec::new(),
                span: None,
            });
        }
        b.filter(
            family,
            FLOOD_CHAIN,
            RuleSpec {
                matches: vec![Match::Set(SetMatch {
                    name: admins,
                    dirs: vec![SetDir::Src],
                    negated: false,
                })],
                action: Some(Action::Jump(Target::Return)),
                ..Default::default()
            },
            why,
            "the admin's SSH sources are never limited (filled by rampart up)",
        );
        if let Some(syn) = &flood.syn_flood {
            let spec = RuleSpec {
                protocol: proto(Protocol::TCP),
                matches: vec![Match::Tcp(TcpMatch {
                    flags: Some(Neg::plain(TcpFlagsMatch::SYN)),
                    ..Default::default()
                })],
                ..Default::default()
            };
            let over = Over {
                chain: SYN_FLOOD_CHAIN.to_string(),
                within: Some(within(syn.rate, syn.burst)),
                log: syn.log.as_deref(),
                ban: None,
            };
            over_limit(b, family, spec, over, &syn.why, "SYN flood");
        }
        for (limit, protocol, label) in [
            (&flood.icmp, Protocol::ICMP, "ICMP flood"),
            (&flood.udp, Protocol::UDP, "UDP flood"),
        ] {
            let Some(limit) = limit else {
                continue;
            };
            let protocol = match (protocol, family) {
                (Protocol::ICMP, Family::Ipv6) => Protocol::ICMPV6,
                (p, _) => p,
            };
            let name = if protocol == Protocol::UDP {
                "udp"
            } else {
                "icmp"
            };
            let spec = RuleSpec {
                protocol: proto(protocol),
                ..Default::default()
            };
            let over = Over {
                chain: format!("flood_{name}"),
                within: Some(within(limit.rate, limit.burst)),
                log: limit.log.as_deref(),
                ban: None,
            };
            over_limit(b, family, spec, over, &limit.why, label);
        }
        for l in &flood.limits {
            self.source_limit(b, family, flood, l);
        }
    }

    /// A `[[flood.limit]]`: one rule per port range (TCP, then UDP; one rule when no port
    /// is given), all sharing one meter.
    fn source_limit(&self, b: &mut Builder, family: Family, flood: &Flood, l: &SourceLimit) {
        let v6_mask =
            (family == Family::Ipv6 && flood.ipv6_prefix < 128).then_some(flood.ipv6_prefix);
        let mut shared = None;
        let limiter = match (l.measure, l.per) {
            (Measure::New { rate, burst } | Measure::Packets { rate, burst }, Per::All) => {
                shared = Some(within(rate, burst));
                None
            }
            (Measure::New { rate, burst } | Measure::Packets { rate, burst }, per) => {
                Some(Match::Hashlimit(Box::new(HashlimitMatch {
                    name: format!("flood_{}", l.name),
                    mode: LimitMode::Above,
                    limit: HashlimitLimit::Packets { rate, burst },
                    key: HashlimitKey {
                        src_ip: true,
                        dst_port: per == Per::SourcePort,
                        ..Default::default()
                    },
                    src_mask: v6_mask,
                    dst_mask: None,
                    expire_ms: Some(meter_expire_ms(rate, burst)),
                    max: Some(flood.meter_size),
                    size: None,
                    gc_interval_ms: None,
                    rate_match: None,
                })))
            }
            (Measure::Connections { max }, per) => Some(Match::Connlimit(ConnlimitMatch {
                mode: LimitMode::Above,
                count: max,
                mask: if per == Per::All { Some(0) } else { v6_mask },
                by_destination: false,
            })),
        };
        let mut matches = Vec::new();
        if matches!(l.measure, Measure::New { .. }) {
            matches.push(ct(CtStates::NEW));
        }
        let ban = (l.action == OverAction::Ban).then(|| {
            (
                l.ban_set(family == Family::Ipv4),
                flood.log_group,
                format!("{BAN_LOG_PREFIX}{}", l.name),
            )
        });
        let mut specs = Vec::new();
        for (protocol, ports) in [(Protocol::TCP, &l.tcp), (Protocol::UDP, &l.udp)] {
            for range in ports.iter() {
                let m = if protocol == Protocol::TCP {
                    Match::Tcp(TcpMatch {
                        dport: Some(Neg::plain(*range)),
                        ..Default::default()
                    })
                } else {
                    Match::Udp(UdpMatch {
                        dport: Some(Neg::plain(*range)),
                        ..Default::default()
                    })
                };
                let mut all = vec![m];
                all.extend(matches.iter().cloned());
                all.extend(limiter.clone());
                specs.push(RuleSpec {
                    protocol: proto(protocol),
                    matches: all,
                    ..Default::default()
                });
            }
        }
        if specs.is_empty() {
            let mut all = matches;
            all.extend(limiter);
            specs.push(RuleSpec {
                matches: all,
                ..Default::default()
            });
        }
        let label = format!("flood limit {}", l.name);
        for spec in specs {
            let total = l.total.map(|(rate, burst)| {
                let mut spec = spec.clone();
                spec.matches.pop();
                (spec, within(rate, burst))
            });
            let over = Over {
                chain: format!("flood_{}", l.name),
                within: shared.clone(),
                log: l.log.as_deref(),
                ban: ban.clone(),
            };
            over_limit(b, family, spec, over, &l.why, &label);
            // Past the meter (within it, or not tracked because it is full): the rate all
            // sources share.
            if let Some((spec, shared)) = total {
                let over = Over {
                    chain: format!("flood_{}_all", l.name),
                    within: Some(shared),
                    log: l.log.as_deref(),
                    ban: None,
                };
                over_limit(
                    b,
                    family,
                    spec,
                    over,
                    &l.why,
                    &format!("{label}, all sources"),
                );
            }
        }
    }
}

/// What happens past a limit: in `chain`, unless it is a plain drop.
struct Over<'a> {
    chain: String,
    /// A limit shared by all sources: packets within it return from `chain`.
    within: Option<Match>,
    /// Log prefix.
    log: Option<&'a str>,
    /// Ban set, NFLOG group and prefix.
    ban: Option<(String, u16, String)>,
}

/// A rule in `flood` sending the packets over a limit to a plain drop, or to a chain that
/// lets the packets within a shared limit return, then logs (at most once a second),
/// reports and bans the source (NFLOG, `-j SET`), and drops. Rules sharing a chain share
/// its limit.
fn over_limit(
    b: &mut Builder,
    family: Family,
    mut spec: RuleSpec,
    over: Over,
    why: &Why,
    what: &str,
) {
    if over.within.is_none() && over.log.is_none() && over.ban.is_none() {
        spec.action = drop_action();
        b.filter(family, FLOOD_CHAIN, spec, why, what);
        return;
    }
    spec.action = jump(&over.chain);
    b.filter(family, FLOOD_CHAIN, spec, why, what);
    let exists = b
        .ruleset
        .table(family, TableKind::Filter)
        .and_then(|t| t.chain(&over.chain))
        .is_some();
    if exists {
        return;
    }
    let chain = over.chain.as_str();
    b.user_chain(family, chain);
    if let Some(m) = over.within {
        b.filter(
            family,
            chain,
            RuleSpec {
                matches: vec![m],
                action: Some(Action::Jump(Target::Return)),
                ..Default::default()
            },
            why,
            &format!("{what}: within the limit"),
        );
    }
    if let Some(prefix) = over.log {
        b.filter(
            family,
            chain,
            RuleSpec {
                matches: vec![Match::Limit(LimitMatch {
                    rate: LOG_RATE,
                    burst: 5,
                    negated: false,
                })],
                action: Some(Action::Jump(Target::Log(LogTarget {
                    prefix: Some(prefix.to_string()),
                    level: None,
                    flags: Default::default(),
                }))),
                ..Default::default()
            },
            why,
            &format!("{what}: log"),
        );
    }
    if let Some((set, group, prefix)) = over.ban {
        b.filter(
            family,
            chain,
            RuleSpec {
                action: Some(Action::Jump(Target::Nflog(NflogTarget {
                    group,
                    prefix: Some(prefix),
                    size: None,
                    threshold: None,
                }))),
                ..Default::default()
            },
            why,
            &format!("{what}: report the ban"),
        );
        b.filter(
            family,
            chain,
            RuleSpec {
                action: Some(Action::Jump(Target::Set(SetTarget {
                    op: SetOp::Add,
                    set,
                    dirs: vec![SetDir::Src],
                    timeout: None,
                    exist: false,
                }))),
                ..Default::default()
            },
            why,
            &format!("{what}: ban the source"),
        );
    }
    b.filter(
        family,
        chain,
        RuleSpec {
            action: drop_action(),
            ..Default::default()
        },
        why,
        &format!("{what}: drop"),
    );
}
