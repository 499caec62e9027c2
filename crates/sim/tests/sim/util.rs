//! Builders for test rulesets and hosts.

use rampart_ruleset::{
    Action, Chain, Counters, CtStates, Family, Interface, Match, Neg, Policy, PortRange, Protocol,
    Rule, RuleSpec, Ruleset, TableKind, Target, TcpFlagsMatch, TcpMatch,
};
use rampart_sim::{Fate, Host, Trace};

/// A rule spec under construction.
#[derive(Default, Clone)]
pub struct Spec(pub RuleSpec);

pub fn spec() -> Spec {
    Spec::default()
}

impl Spec {
    pub fn proto(mut self, p: Protocol) -> Spec {
        self.0.protocol = Some(Neg::plain(p));
        self
    }

    pub fn src(mut self, p: &str) -> Spec {
        self.0.source = Some(Neg::plain(p.parse().unwrap()));
        self
    }

    pub fn dst(mut self, p: &str) -> Spec {
        self.0.destination = Some(Neg::plain(p.parse().unwrap()));
        self
    }

    pub fn in_if(mut self, name: &str) -> Spec {
        self.0.in_interface = Some(Neg::plain(Interface(name.to_string())));
        self
    }

    pub fn out_if(mut self, name: &str) -> Spec {
        self.0.out_interface = Some(Neg::plain(Interface(name.to_string())));
        self
    }

    pub fn m(mut self, m: Match) -> Spec {
        self.0.matches.push(m);
        self
    }

    /// `-p tcp -m tcp --dport PORT`.
    pub fn tcp_dport(self, port: u16) -> Spec {
        self.proto(Protocol::TCP).m(Match::Tcp(TcpMatch {
            dport: Some(Neg::plain(PortRange::single(port))),
            ..TcpMatch::default()
        }))
    }

    /// `-p tcp -m tcp --syn`.
    pub fn syn(self) -> Spec {
        self.proto(Protocol::TCP).m(Match::Tcp(TcpMatch {
            flags: Some(Neg::plain(TcpFlagsMatch::SYN)),
            ..TcpMatch::default()
        }))
    }

    /// `-m state --state ...`.
    pub fn state(self, bits: u8) -> Spec {
        self.m(Match::State(Neg::plain(CtStates(bits))))
    }

    pub fn j(mut self, t: Target) -> Spec {
        self.0.action = Some(Action::Jump(t));
        self
    }

    pub fn goto(mut self, chain: &str) -> Spec {
        self.0.action = Some(Action::Goto(chain.to_string()));
        self
    }
}

/// Appends a rule, creating the table and (user) chain when needed.
pub fn add(rs: &mut Ruleset, family: Family, table: TableKind, chain: &str, spec: Spec) {
    let t = rs.table_mut(family, table);
    if t.chain(chain).is_none() {
        t.add_chain(Chain {
            name: chain.to_string(),
            policy: None,
            counters: Counters::default(),
            rules: Vec::new(),
        });
    }
    t.chain_mut(chain).unwrap().rules.push(Rule {
        spec: spec.0,
        counters: Counters::default(),
        span: None,
    });
}

/// IPv4 shorthand for [`add`].
pub fn add4(rs: &mut Ruleset, table: TableKind, chain: &str, spec: Spec) {
    add(rs, Family::Ipv4, table, chain, spec);
}

pub fn policy(rs: &mut Ruleset, family: Family, table: TableKind, chain: &str, p: Policy) {
    rs.table_mut(family, table).chain_mut(chain).unwrap().policy = Some(p);
}

/// A server: one public interface.
pub fn server() -> Host {
    Host::parse(
        "interface eth0 203.0.113.2/24 2001:db8:1::2/64\nroute default via 203.0.113.1 dev eth0\n",
    )
    .unwrap()
}

/// A router: LAN on eth0, uplink on ppp0, forwarding on.
pub fn router() -> Host {
    Host::parse(
        "interface eth0 192.0.2.1/24\n\
         interface ppp0 203.0.113.2/24\n\
         route default via 203.0.113.1 dev ppp0\n\
         forwarding yes\n",
    )
    .unwrap()
}

/// The single fate of a trace (panics with the trace when it forked).
pub fn fate(trace: &Trace) -> &Fate {
    assert_eq!(trace.branches.len(), 1, "unexpected fork:\n{trace}");
    &trace.branches[0].fate
}

pub fn dropped(table: TableKind, chain: &str, rule: Option<usize>) -> Fate {
    Fate::Dropped {
        table,
        chain: chain.to_string(),
        rule,
    }
}

pub fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}
