//! Stage 3: the policy lowered to the ruleset model, both families, every rule commented.
//!
//! Chains, in order (per family; `F` marks IPv6-only rules):
//!
//! ```text
//! INPUT   lo accept · established,related accept · invalid drop · deny_from drop ·
//!         allow_from accept · F ICMPv6 errors + neighbour discovery · ping (limit) ·
//!         router: LAN accept · tcp/udp ports · imported rules · reject (policy = reject)
//!         policy DROP/ACCEPT
//! OUTPUT  (when it denies) lo · established,related · F ICMPv6 ND + errors · tcp/udp ports
//!         · imported · reject
//! FORWARD (router) established,related · invalid drop · LAN→WAN · imported · reject
//! nat POSTROUTING (router, IPv4) -o WAN MASQUERADE | SNAT
//! ```
//!
//! Imported rules are appended to the chains they name, after the policy's own rules; the
//! policy file decides the built-in chains' policies.

use std::io;

use rampart_prefix::AddrRange;
use rampart_ruleset::{
    parse_any, Action, ConntrackMatch, CtStates, Family, IcmpType, Interface, LimitMatch,
    MasqueradeTarget, Match, NatTarget, Neg, ParseOptions, Policy as ChainVerdict, Protocol,
    RejectWith, Rule, RuleSpec, Ruleset, Source, TableKind, Target, TcpMatch, UdpMatch,
};
use serde::Serialize;

use crate::error::{PolicyError, PolicyErrorKind, PolicyErrors};
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
    let t = Neg::plain(IcmpType {
        ty: Some(ty),
        code: None,
    });
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
                        // User chains keep the kernel's listing order: by name.
                        let at = ours
                            .chains
                            .iter()
                            .position(|c| !c.is_builtin() && c.name > chain.name)
                            .unwrap_or(ours.chains.len());
                        ours.chains.insert(at, chain);
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
