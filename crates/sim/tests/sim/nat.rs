//! NAT: SNAT/MASQUERADE routers, DNAT port forwards, bindings and the classic faults.

use rampart_ruleset::{
    ConntrackMatch, CtStates, Family, MasqueradeTarget, Match, NatTarget, Neg, Policy, PortRange,
    Ruleset, TableKind, Target,
};
use rampart_sim::{Event, Fate, NatKind, Packet, Simulator, Stage};

use crate::util::*;

const NAT: TableKind = TableKind::Nat;
const F: TableKind = TableKind::Filter;

fn snat_to(addr: &str) -> Target {
    Target::Snat(NatTarget {
        port_offset: None,
        addrs: Some(addr.parse().unwrap()),
        ports: None,
        random: false,
        persistent: false,
    })
}

/// A router whose FORWARD chain lets LAN traffic out and replies back in.
fn router_filter(rs: &mut Ruleset) {
    policy(rs, Family::Ipv4, F, "FORWARD", Policy::Drop);
    add4(
        rs,
        F,
        "FORWARD",
        spec()
            .state(CtStates::ESTABLISHED | CtStates::RELATED)
            .j(Target::Accept),
    );
    add4(
        rs,
        F,
        "FORWARD",
        spec().in_if("eth0").out_if("ppp0").j(Target::Accept),
    );
}

fn lan_out() -> Packet {
    Packet::tcp("192.0.2.50", 40000, "198.51.100.7", 80)
        .on("eth0")
        .syn()
}

#[test]
fn router_snat_and_reply_translation() {
    let mut rs = Ruleset::default();
    router_filter(&mut rs);
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec().out_if("ppp0").j(snat_to("203.0.113.2")),
    );
    let mut sim = Simulator::new(&rs, router());
    let t = sim.run(&lan_out());
    assert_eq!(
        fate(&t),
        &Fate::Forwarded {
            out_iface: "ppp0".into(),
            src: ip("203.0.113.2"),
            dst: ip("198.51.100.7"),
            sport: Some(40000),
            dport: Some(80)
        }
    );
    // The reply comes back to the router's address and is un-NATed to the LAN host.
    let reply = Packet::tcp("198.51.100.7", 80, "203.0.113.2", 40000).on("ppp0");
    let t = sim.run(&reply);
    assert_eq!(
        fate(&t),
        &Fate::Forwarded {
            out_iface: "eth0".into(),
            src: ip("198.51.100.7"),
            dst: ip("192.0.2.50"),
            sport: Some(80),
            dport: Some(40000)
        }
    );
    assert_eq!(t.branches[0].hits[0].rule, 1, "reply is ESTABLISHED:\n{t}");
}

#[test]
fn router_masquerade_uses_the_out_interface_address() {
    let mut rs = Ruleset::default();
    router_filter(&mut rs);
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec()
            .out_if("ppp0")
            .j(Target::Masquerade(MasqueradeTarget::default())),
    );
    let mut sim = Simulator::new(&rs, router());
    let t = sim.run(&lan_out());
    assert!(matches!(fate(&t), Fate::Forwarded { src, .. } if *src == ip("203.0.113.2")));
    assert!(t.branches[0].steps.iter().any(|s| matches!(
        s.event,
        Event::Nat {
            kind: NatKind::Masquerade,
            binding: false,
            ..
        }
    )));
}

fn port_forward(rs: &mut Ruleset) {
    add4(
        rs,
        NAT,
        "PREROUTING",
        spec()
            .in_if("ppp0")
            .tcp_dport(80)
            .j(Target::Dnat(NatTarget {
                port_offset: None,
                addrs: Some("192.0.2.10".parse().unwrap()),
                ports: Some(PortRange::single(8080)),
                random: false,
                persistent: false,
            })),
    );
}

#[test]
fn dnat_port_forward_turns_input_into_forward() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "FORWARD", Policy::Drop);
    add4(
        &mut rs,
        F,
        "FORWARD",
        spec()
            .m(Match::Conntrack(ConntrackMatch {
                state: Some(Neg::plain(rampart_ruleset::CtStates(CtStates::DNAT))),
                ..ConntrackMatch::default()
            }))
            .j(Target::Accept),
    );
    port_forward(&mut rs);
    let mut sim = Simulator::new(&rs, router());
    let inbound = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
        .on("ppp0")
        .syn();
    let t = sim.run(&inbound);
    assert_eq!(
        fate(&t),
        &Fate::Forwarded {
            out_iface: "eth0".into(),
            src: ip("198.51.100.7"),
            dst: ip("192.0.2.10"),
            sport: Some(40000),
            dport: Some(8080)
        },
        "{t}"
    );
    let routing: Vec<_> = t.branches[0]
        .steps
        .iter()
        .filter(|s| s.stage == Stage::Routing)
        .map(|s| s.event.to_string())
        .collect();
    assert_eq!(routing, ["forward out eth0"]);
    let text = t.to_string();
    assert!(
        text.contains("DNAT 203.0.113.2:80 → 192.0.2.10:8080"),
        "{text}"
    );
    assert!(text.contains("fate: forwarded out eth0 as 198.51.100.7:40000 → 192.0.2.10:8080"));

    // Without the DNAT rule the same packet is for the router itself.
    let plain = Ruleset::default();
    let mut sim = Simulator::new(&plain, router());
    assert!(matches!(
        fate(&sim.run(&inbound)),
        Fate::DeliveredLocally { .. }
    ));
}

#[test]
fn nat_table_only_sees_the_first_packet() {
    let mut rs = Ruleset::default();
    port_forward(&mut rs);
    let mut sim = Simulator::new(&rs, router());
    let first = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80).on("ppp0");
    let t1 = sim.run(&first.clone().syn());
    assert!(t1.branches[0].hits.iter().any(|h| h.table == NAT));
    let t2 = sim.run(&first.at(1.0));
    assert!(t2.branches[0].hits.iter().all(|h| h.table != NAT), "{t2}");
    assert!(t2.branches[0].steps.iter().any(|s| matches!(
        s.event,
        Event::Nat {
            kind: NatKind::Dnat,
            binding: true,
            ..
        }
    )));
    assert!(matches!(
        fate(&t2),
        Fate::Forwarded {
            dport: Some(8080),
            ..
        }
    ));
    // The server's reply is un-DNATed on the way out.
    let reply = Packet::tcp("192.0.2.10", 8080, "198.51.100.7", 40000).on("eth0");
    let t3 = sim.run(&reply);
    assert!(matches!(
        fate(&t3),
        Fate::Forwarded { src, sport: Some(80), .. } if *src == ip("203.0.113.2")
    ));
}

#[test]
fn fault_forward_policy_drop_without_accept_rule() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "FORWARD", Policy::Drop);
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec()
            .out_if("ppp0")
            .j(Target::Masquerade(MasqueradeTarget::default())),
    );
    let mut sim = Simulator::new(&rs, router());
    assert_eq!(fate(&sim.run(&lan_out())), &dropped(F, "FORWARD", None));
}

#[test]
fn fault_missing_postrouting_rule_forwards_un_natted() {
    let mut rs = Ruleset::default();
    router_filter(&mut rs);
    let mut sim = Simulator::new(&rs, router());
    assert!(matches!(
        fate(&sim.run(&lan_out())),
        Fate::Forwarded { src, .. } if *src == ip("192.0.2.50")
    ));
}

#[test]
fn fault_snat_to_wrong_address() {
    let mut rs = Ruleset::default();
    router_filter(&mut rs);
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec().out_if("ppp0").j(snat_to("203.0.113.99")),
    );
    let mut sim = Simulator::new(&rs, router());
    assert!(matches!(
        fate(&sim.run(&lan_out())),
        Fate::Forwarded { src, .. } if *src == ip("203.0.113.99")
    ));
}

#[test]
fn local_output_masquerade_and_redirect() {
    let mut rs = Ruleset::default();
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec()
            .out_if("ppp0")
            .j(Target::Masquerade(MasqueradeTarget::default())),
    );
    add4(
        &mut rs,
        NAT,
        "OUTPUT",
        spec().tcp_dport(25).j(Target::Redirect(MasqueradeTarget {
            ports: Some(PortRange::single(2525)),
            random: false,
        })),
    );
    let mut sim = Simulator::new(&rs, router());
    // A packet with the LAN source leaving by ppp0 is masqueraded.
    let out = Packet::udp("192.0.2.1", 5353, "198.51.100.7", 53);
    let t = sim.run(&out);
    assert!(matches!(
        fate(&t),
        Fate::SentOut { out_iface, src, .. } if out_iface == "ppp0" && *src == ip("203.0.113.2")
    ));
    let hooks: Vec<String> = t.branches[0]
        .steps
        .iter()
        .map(|s| s.stage.to_string())
        .collect();
    assert!(hooks.contains(&"POSTROUTING".to_string()));
    // REDIRECT in OUTPUT sends the packet to 127.0.0.1 and it comes back in on lo.
    let smtp = Packet::tcp("192.0.2.1", 40000, "198.51.100.7", 25);
    assert_eq!(
        fate(&sim.run(&smtp)),
        &Fate::DeliveredLocally {
            addr: ip("127.0.0.1"),
            port: Some(2525)
        }
    );
}

#[test]
#[ignore = "prints traces for eyeballing: cargo test -- --ignored --nocapture"]
fn show_traces() {
    let mut rs = Ruleset::default();
    rs.table_mut(Family::Ipv4, TableKind::Raw);
    router_filter(&mut rs);
    port_forward(&mut rs);
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec()
            .out_if("ppp0")
            .src("192.0.2.0/24")
            .j(snat_to("203.0.113.2")),
    );
    add4(
        &mut rs,
        F,
        "FORWARD",
        spec()
            .dst("192.0.2.10/32")
            .tcp_dport(8080)
            .j(Target::Accept),
    );
    let mut sim = Simulator::new(&rs, router());
    let inbound = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
        .on("ppp0")
        .syn();
    println!("{}", sim.run(&inbound));
    println!("{}", sim.run(&inbound.at(1.0)));
    println!("{}", sim.run(&lan_out()));
    let np = Packet::new(
        rampart_ruleset::Protocol::TCP,
        ip("198.51.100.7"),
        ip("203.0.113.2"),
    )
    .on("ppp0");
    println!("{}", sim.run(&np));
}

#[test]
fn snat_picks_another_port_when_the_tuple_is_taken() {
    let mut rs = Ruleset::default();
    router_filter(&mut rs);
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec().out_if("ppp0").j(snat_to("203.0.113.2")),
    );
    let mut sim = Simulator::new(&rs, router());
    sim.run(&lan_out());
    let other = Packet::tcp("192.0.2.51", 40000, "198.51.100.7", 80)
        .on("eth0")
        .syn();
    assert!(matches!(
        fate(&sim.run(&other)),
        Fate::Forwarded {
            sport: Some(40001),
            ..
        }
    ));
    assert_eq!(sim.flow_count(), 2);
    // Each reply finds its own LAN host.
    let back = |port| Packet::tcp("198.51.100.7", 80, "203.0.113.2", port).on("ppp0");
    assert!(
        matches!(fate(&sim.run(&back(40000))), Fate::Forwarded { dst, .. } if *dst == ip("192.0.2.50"))
    );
    assert!(
        matches!(fate(&sim.run(&back(40001))), Fate::Forwarded { dst, dport: Some(40000), .. } if *dst == ip("192.0.2.51"))
    );
}

/// The conntrack state the walk decided.
fn ct_state(t: &rampart_sim::Trace) -> rampart_sim::CtState {
    t.branches[0]
        .steps
        .iter()
        .find_map(|s| match &s.event {
            Event::Conntrack { state, .. } => Some(*state),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no conntrack step:\n{t}"))
}

/// router.probes lines 6 and 15: a LAN ping out through SNAT, then the remote host
/// pinging the router's WAN address. The second is an echo request, not the reply of
/// the first: NEW, delivered locally, not un-NATed into the LAN.
#[test]
fn echo_flows_are_keyed_on_icmp_type_and_id() {
    use rampart_sim::CtState;
    let mut rs = Ruleset::default();
    router_filter(&mut rs);
    add4(
        &mut rs,
        NAT,
        "POSTROUTING",
        spec().out_if("ppp0").j(snat_to("203.0.113.2")),
    );
    let mut sim = Simulator::new(&rs, router());
    let icmp = |src: &str, dst: &str| {
        Packet::new(rampart_ruleset::Protocol::ICMP, ip(src), ip(dst)).on("ppp0")
    };
    let ping = Packet::new(
        rampart_ruleset::Protocol::ICMP,
        ip("192.0.2.10"),
        ip("198.51.100.7"),
    )
    .on("eth0")
    .icmp(8, 0, 7);
    let t = sim.run(&ping);
    assert_eq!(ct_state(&t), CtState::New);
    assert!(matches!(fate(&t), Fate::Forwarded { src, .. } if *src == ip("203.0.113.2")));

    // An echo request from the remote host to the WAN address: NEW, delivered.
    let t = sim.run(&icmp("198.51.100.7", "203.0.113.2").icmp(8, 0, 7));
    assert_eq!(ct_state(&t), CtState::New, "{t}");
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");

    // An echo reply with another id answers nothing: INVALID (addressed to the router,
    // whose INPUT accepts everything here).
    let t = sim.run(&icmp("198.51.100.7", "203.0.113.2").icmp(0, 0, 8));
    assert_eq!(ct_state(&t), CtState::Invalid, "{t}");
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");

    // The echo reply with the same id: ESTABLISHED, un-NATed to the LAN host.
    let t = sim.run(&icmp("198.51.100.7", "203.0.113.2").icmp(0, 0, 7));
    assert_eq!(ct_state(&t), CtState::Established, "{t}");
    assert!(
        matches!(fate(&t), Fate::Forwarded { out_iface, dst, .. }
            if out_iface == "eth0" && *dst == ip("192.0.2.10")),
        "{t}"
    );

    // A port unreachable from the remote host is RELATED to the flow and un-NATed too.
    let mut unreachable = icmp("198.51.100.7", "203.0.113.2");
    unreachable.icmp_type = Some(3);
    unreachable.icmp_code = Some(3);
    let t = sim.run(&unreachable);
    assert_eq!(ct_state(&t), CtState::Related, "{t}");
    assert!(
        matches!(fate(&t), Fate::Forwarded { dst, sport: None, dport: None, .. }
            if *dst == ip("192.0.2.10")),
        "{t}"
    );
    // From a router on the path it quotes no flow the simulator can find: INVALID.
    let mut exceeded = icmp("203.0.113.1", "203.0.113.2");
    exceeded.icmp_type = Some(11);
    let t = sim.run(&exceeded);
    assert_eq!(ct_state(&t), CtState::Invalid, "{t}");
}

/// Packets that set no echo id share one: a request and its reply still pair up.
#[test]
fn unset_echo_ids_count_as_one_id() {
    use rampart_sim::CtState;
    let rs = Ruleset::default();
    let mut sim = Simulator::new(&rs, router());
    let mut ping = Packet::new(
        rampart_ruleset::Protocol::ICMP,
        ip("192.0.2.10"),
        ip("198.51.100.7"),
    )
    .on("eth0");
    ping.icmp_type = Some(8);
    assert_eq!(ct_state(&sim.run(&ping)), CtState::New);
    let mut pong = Packet::new(
        rampart_ruleset::Protocol::ICMP,
        ip("198.51.100.7"),
        ip("192.0.2.10"),
    )
    .on("ppp0");
    pong.icmp_type = Some(0);
    assert_eq!(ct_state(&sim.run(&pong)), CtState::Established);
    assert_eq!(
        ct_state(&sim.run(&pong.clone().icmp(0, 0, 1))),
        CtState::Invalid
    );
}

/// A locally generated packet's route reads `out ppp0 via ...`, not `out out ppp0`.
#[test]
fn local_route_text_names_out_once() {
    let rs = Ruleset::default();
    let mut sim = Simulator::new(&rs, router());
    let t = sim.run(&Packet::tcp("203.0.113.2", 40000, "198.51.100.7", 80));
    let text = t.to_string();
    assert!(text.contains("out ppp0 via 203.0.113.1"), "{text}");
    assert!(!text.contains("out out"), "{text}");
}
