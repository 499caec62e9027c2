//! Filtering: policies, states, REJECT, user chains, sets, IPv6, local output.

use rampart_ruleset::{
    CtStates, Family, IpSet, Match, MultiportMatch, Neg, Policy, PortRange, PortSide, Protocol,
    RejectWith, Ruleset, SetDir, SetEntry, SetKind, SetMatch, TableKind, Target, TcpFlags,
};
use rampart_sim::{CtState, Event, Fate, Packet, Simulator, Stage};

use crate::util::*;

const F: TableKind = TableKind::Filter;

fn web_server() -> Ruleset {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(&mut rs, F, "INPUT", spec().in_if("lo").j(Target::Accept));
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .state(CtStates::ESTABLISHED | CtStates::RELATED)
            .j(Target::Accept),
    );
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .proto(Protocol::TCP)
            .m(Match::Multiport(MultiportMatch {
                side: PortSide::Destination,
                ports: Neg::plain(vec![
                    PortRange::single(22),
                    PortRange::single(80),
                    PortRange::single(443),
                ]),
            }))
            .state(CtStates::NEW)
            .j(Target::Accept),
    );
    rs
}

#[test]
fn web_server_accepts_services_and_established_drops_the_rest() {
    let rs = web_server();
    let mut sim = Simulator::new(&rs, server());
    let syn = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
        .on("eth0")
        .syn();
    let t = sim.run(&syn);
    assert_eq!(
        fate(&t),
        &Fate::DeliveredLocally {
            addr: ip("203.0.113.2"),
            port: Some(80)
        }
    );
    assert_eq!(t.branches[0].hits.last().unwrap().rule, 3);
    assert_eq!(sim.flow_count(), 1);

    // The server's SYN-ACK leaves through OUTPUT (policy ACCEPT) and marks the flow replied.
    let reply =
        Packet::tcp("203.0.113.2", 80, "198.51.100.7", 40000).flags(TcpFlags::SYN | TcpFlags::ACK);
    let t = sim.run(&reply);
    assert!(matches!(fate(&t), Fate::SentOut { out_iface, .. } if out_iface == "eth0"));
    let ct = t.branches[0].steps.iter().find_map(|s| match &s.event {
        Event::Conntrack { state, .. } => Some(*state),
        _ => None,
    });
    assert_eq!(ct, Some(CtState::Established));

    // Now the client's ACK is ESTABLISHED and hits rule 2.
    let ack = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
        .on("eth0")
        .flags(TcpFlags::ACK);
    let t = sim.run(&ack);
    assert!(fate(&t).passed());
    assert_eq!(t.branches[0].hits[0].rule, 2);

    let telnet = Packet::tcp("198.51.100.7", 40001, "203.0.113.2", 23)
        .on("eth0")
        .syn();
    assert_eq!(fate(&sim.run(&telnet)), &dropped(F, "INPUT", None));

    // Loopback traffic is accepted by rule 1 whatever the port.
    let local = Packet::tcp("127.0.0.1", 5000, "127.0.0.1", 5432).on("lo");
    let t = sim.run(&local);
    assert_eq!(t.branches[0].hits[0].rule, 1);
}

#[test]
fn forced_state_overrides_the_conntrack_model() {
    let rs = web_server();
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::udp("198.51.100.7", 53, "203.0.113.2", 33000)
        .on("eth0")
        .state(CtState::Established);
    assert!(fate(&sim.run(&p)).passed());
}

#[test]
fn original_direction_stays_new_until_a_reply() {
    let rs = web_server();
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22).on("eth0");
    sim.run(&p.clone().syn());
    // A retransmitted SYN is still NEW (nf_conntrack sets IP_CT_NEW until SEEN_REPLY).
    let t = sim.run(&p.syn());
    assert_eq!(t.branches[0].hits[0].rule, 3);
}

#[test]
fn default_deny_with_reject() {
    let mut rs = web_server();
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .proto(Protocol::TCP)
            .j(Target::Reject(RejectWith::TcpReset)),
    );
    add4(
        &mut rs,
        F,
        "INPUT",
        spec().j(Target::Reject(RejectWith::IcmpPortUnreachable)),
    );
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 25)
        .on("eth0")
        .syn();
    assert_eq!(
        fate(&sim.run(&p)),
        &Fate::Rejected {
            table: F,
            chain: "INPUT".into(),
            rule: Some(4),
            with: RejectWith::TcpReset
        }
    );
    let p = Packet::udp("198.51.100.7", 40000, "203.0.113.2", 161).on("eth0");
    assert!(matches!(
        fate(&sim.run(&p)),
        Fate::Rejected {
            rule: Some(5),
            with: RejectWith::IcmpPortUnreachable,
            ..
        }
    ));
}

#[test]
fn user_chains_jump_return_and_goto() {
    let mut rs = Ruleset::default();
    add4(&mut rs, F, "INPUT", spec().j(Target::Chain("A".into())));
    add4(&mut rs, F, "INPUT", spec().tcp_dport(80).j(Target::Drop));
    add4(&mut rs, F, "A", spec().tcp_dport(22).j(Target::Return));
    add4(&mut rs, F, "A", spec().goto("B"));
    add4(
        &mut rs,
        F,
        "B",
        spec()
            .tcp_dport(443)
            .j(Target::Reject(RejectWith::TcpReset)),
    );
    let mut sim = Simulator::new(&rs, server());
    let to = |port| Packet::tcp("198.51.100.7", 40000, "203.0.113.2", port).on("eth0");

    let t = sim.run(&to(22));
    assert!(fate(&t).passed());
    let events: Vec<&Event> = t.branches[0].steps.iter().map(|s| &s.event).collect();
    assert!(events.contains(&&Event::Jump { chain: "A".into() }));
    assert!(events.contains(&&Event::Return { to: "INPUT".into() }));

    // A goes to B; B ends, and control returns to INPUT (A's caller), not to A.
    let t = sim.run(&to(80));
    assert_eq!(fate(&t), &dropped(F, "INPUT", Some(2)));
    assert!(t.branches[0]
        .steps
        .iter()
        .any(|s| s.event == Event::Goto { chain: "B".into() }));

    let t = sim.run(&to(443));
    assert!(matches!(fate(&t), Fate::Rejected { chain, rule: Some(1), .. } if chain == "B"));
}

#[test]
fn return_in_a_builtin_chain_applies_the_policy() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(&mut rs, F, "INPUT", spec().j(Target::Return));
    add4(&mut rs, F, "INPUT", spec().j(Target::Accept));
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22).on("eth0");
    assert_eq!(fate(&sim.run(&p)), &dropped(F, "INPUT", None));
}

fn blocklist(rs: &mut Ruleset) {
    rs.sets.push(IpSet {
        name: "blocklist".into(),
        kind: SetKind::HashNet,
        family: Family::Ipv4,
        timeout: None,
        maxelem: None,
        hashsize: None,
        port_range: None,
        flags: Vec::new(),
        entries: vec![
            SetEntry {
                addr: Some("198.51.100.0/24".parse().unwrap()),
                ..SetEntry::default()
            },
            SetEntry {
                addr: Some("192.0.2.66/32".parse().unwrap()),
                ..SetEntry::default()
            },
        ],
        span: None,
    });
}

#[test]
fn set_membership() {
    let mut rs = Ruleset::default();
    blocklist(&mut rs);
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .m(Match::Set(SetMatch {
                name: "blocklist".into(),
                dirs: vec![SetDir::Src],
                negated: false,
            }))
            .j(Target::Drop),
    );
    let mut sim = Simulator::new(&rs, server());
    let from = |src: &str| Packet::tcp(src, 40000, "203.0.113.2", 22).on("eth0");
    assert_eq!(
        fate(&sim.run(&from("198.51.100.7"))),
        &dropped(F, "INPUT", Some(1))
    );
    assert_eq!(
        fate(&sim.run(&from("192.0.2.66"))),
        &dropped(F, "INPUT", Some(1))
    );
    assert!(fate(&sim.run(&from("192.0.2.67"))).passed());
    assert!(fate(&sim.run(&from("203.0.113.9"))).passed());
}

#[test]
fn ipv6_packets_see_only_ip6_tables() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    policy(&mut rs, Family::Ipv6, F, "INPUT", Policy::Drop);
    add(
        &mut rs,
        Family::Ipv6,
        F,
        "INPUT",
        spec().tcp_dport(22).j(Target::Accept),
    );
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("2001:db8:9::7", 40000, "2001:db8:1::2", 22).on("eth0");
    let t = sim.run(&p);
    assert!(fate(&t).passed());
    assert!(t.branches[0].hits.iter().all(|h| h.family == Family::Ipv6));
    let v4 = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22).on("eth0");
    assert_eq!(fate(&sim.run(&v4)), &dropped(F, "INPUT", None));
}

#[test]
fn locally_generated_packets_take_output() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "OUTPUT", Policy::Drop);
    add4(&mut rs, F, "OUTPUT", spec().out_if("lo").j(Target::Accept));
    add4(
        &mut rs,
        F,
        "OUTPUT",
        spec().out_if("eth0").tcp_dport(443).j(Target::Accept),
    );
    let mut sim = Simulator::new(&rs, server());
    let out = Packet::tcp("203.0.113.2", 50000, "198.51.100.7", 443);
    let t = sim.run(&out);
    assert_eq!(
        fate(&t),
        &Fate::SentOut {
            out_iface: "eth0".into(),
            src: ip("203.0.113.2"),
            dst: ip("198.51.100.7"),
            sport: Some(50000),
            dport: Some(443)
        }
    );
    assert!(t.branches[0]
        .steps
        .iter()
        .all(|s| !matches!(s.stage, Stage::Hook(rampart_sim::Hook::Prerouting))));
    let smtp = Packet::tcp("203.0.113.2", 50001, "198.51.100.7", 25);
    assert_eq!(fate(&sim.run(&smtp)), &dropped(F, "OUTPUT", None));

    // To itself: out lo, then back in on lo to INPUT.
    let me = Packet::tcp("127.0.0.1", 50002, "127.0.0.1", 5432);
    assert_eq!(
        fate(&sim.run(&me)),
        &Fate::DeliveredLocally {
            addr: ip("127.0.0.1"),
            port: Some(5432)
        }
    );
}

#[test]
fn batch_hit_counts_and_state_in_raw() {
    let mut rs = web_server();
    // In raw, before conntrack, `-m state` sees INVALID.
    add4(
        &mut rs,
        TableKind::Raw,
        "PREROUTING",
        spec()
            .state(CtStates::INVALID)
            .j(Target::Log(Default::default())),
    );
    let mut sim = Simulator::new(&rs, server());
    let traces: Vec<_> = (0..3)
        .map(|i| {
            sim.run(
                &Packet::tcp("198.51.100.7", 40000 + i, "203.0.113.2", 443)
                    .on("eth0")
                    .syn(),
            )
        })
        .collect();
    let counts = rampart_sim::count_hits(&traces);
    let per_rule: Vec<(TableKind, usize, u64)> =
        counts.iter().map(|(h, n)| (h.table, h.rule, *n)).collect();
    assert_eq!(per_rule, [(TableKind::Raw, 1, 3), (F, 3, 3)]);
}

#[test]
fn notrack_skips_conntrack_and_nat() {
    let mut rs = Ruleset::default();
    add4(
        &mut rs,
        TableKind::Raw,
        "PREROUTING",
        spec().tcp_dport(80).j(Target::Notrack),
    );
    add4(
        &mut rs,
        F,
        "INPUT",
        spec().state(CtStates::UNTRACKED).j(Target::Accept),
    );
    add4(&mut rs, F, "INPUT", spec().j(Target::Drop));
    add4(
        &mut rs,
        TableKind::Nat,
        "PREROUTING",
        spec().j(Target::Redirect(Default::default())),
    );
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80).on("eth0");
    let t = sim.run(&p);
    assert!(fate(&t).passed(), "{t}");
    assert!(t.branches[0].hits.iter().all(|h| h.table != TableKind::Nat));
    assert_eq!(sim.flow_count(), 0);
}

#[test]
fn marks_and_connmarks() {
    use rampart_ruleset::{ConnmarkTarget, MarkValue, XMark};
    let mut rs = Ruleset::default();
    let m = TableKind::Mangle;
    add4(
        &mut rs,
        m,
        "PREROUTING",
        spec().j(Target::Connmark(ConnmarkTarget::Restore {
            nfmask: !0,
            ctmask: !0,
        })),
    );
    add4(
        &mut rs,
        m,
        "PREROUTING",
        spec().tcp_dport(22).j(Target::Mark(XMark {
            value: 0x2,
            mask: 0xffff_ffff,
        })),
    );
    add4(
        &mut rs,
        m,
        "PREROUTING",
        spec().j(Target::Connmark(ConnmarkTarget::Save {
            nfmask: !0,
            ctmask: !0,
        })),
    );
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .m(Match::Mark(Neg::plain(MarkValue { value: 2, mask: !0 })))
            .j(Target::Accept),
    );
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22).on("eth0");
    let t = sim.run(&p);
    assert!(fate(&t).passed(), "{t}");
    assert!(t.branches[0]
        .steps
        .iter()
        .any(|s| s.event == Event::Mark { from: 0, to: 2 }));
    // The next packet of the flow gets the mark back from the connection.
    let t = sim.run(&p.at(1.0));
    assert!(t.branches[0]
        .steps
        .iter()
        .any(|s| s.event == Event::Mark { from: 0, to: 2 } && s.rule == Some(1)));
}

#[test]
fn routing_fates() {
    let rs = Ruleset::default();
    let mut sim = Simulator::new(&rs, server());
    // Not for this host and forwarding is off.
    let p = Packet::tcp("198.51.100.7", 1, "198.51.100.9", 80).on("eth0");
    assert_eq!(
        fate(&sim.run(&p)),
        &Fate::NotForwarded {
            dst: ip("198.51.100.9")
        }
    );
    // No IPv6 default route.
    let p = Packet::tcp("2001:db8:1::2", 1, "2001:db8:9::9", 80);
    assert_eq!(
        fate(&sim.run(&p)),
        &Fate::NoRoute {
            dst: ip("2001:db8:9::9")
        }
    );
}

#[test]
fn first_pure_ack_is_new_under_tcp_loose() {
    let rs = web_server();
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 443)
        .on("eth0")
        .flags(TcpFlags::ACK);
    let t = sim.run(&p);
    assert_eq!(t.branches[0].hits[0].rule, 3);
    assert!(t.to_string().contains("nf_conntrack_tcp_loose=1"));
}

#[test]
fn flows_time_out() {
    let rs = web_server();
    let mut sim = Simulator::new(&rs, server());
    let query = Packet::udp("203.0.113.2", 33000, "198.51.100.53", 53);
    sim.run(&query);
    let answer = |t: f64| {
        Packet::udp("198.51.100.53", 53, "203.0.113.2", 33000)
            .on("eth0")
            .at(t)
    };
    // Within the 30 s UDP timeout the answer is ESTABLISHED and gets in.
    assert!(fate(&sim.run(&answer(29.0))).passed());
    // Now answered, the flow lives 120 s from its latest packet.
    assert!(fate(&sim.run(&answer(148.0))).passed());
    assert_eq!(sim.flow_count(), 1);
    assert_eq!(fate(&sim.run(&answer(269.0))), &dropped(F, "INPUT", None));
    assert_eq!(sim.flow_count(), 0);
}
