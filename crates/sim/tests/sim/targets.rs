//! Issue 14's targets in a walk: effects that let the packet go on, and the ones that end
//! it (NFQUEUE, SYNPROXY, TPROXY), NETMAP and NAT port shifts. Rulesets are read from
//! iptables text, as users write them.

use rampart_ruleset::{parse_script, ParseOptions, Ruleset, Source, TableKind};
use rampart_sim::{Event, Fate, Packet, Simulator, Trace};

use crate::util::*;

fn rules(script: &str) -> Ruleset {
    parse_script(&Source::new("test", script), ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

fn effects(t: &Trace) -> Vec<String> {
    t.branches[0]
        .steps
        .iter()
        .filter_map(|s| match &s.event {
            Event::Effect { target, .. } => Some(target.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn mangle_effects_let_the_packet_go_on() {
    let rs = rules(
        "iptables -t mangle -A PREROUTING -j TTL --ttl-set 64\n\
         iptables -t mangle -A PREROUTING -j DSCP --set-dscp-class EF\n\
         iptables -t mangle -A PREROUTING -p tcp -j TCPMSS --set-mss 1400\n\
         iptables -t mangle -A PREROUTING -j TOS --and-tos 0x0f\n\
         iptables -A INPUT -p tcp --dport 80 -j DROP\n",
    );
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(
        &Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
            .on("eth0")
            .syn(),
    );
    assert_eq!(
        fate(&t),
        &dropped(TableKind::Filter, "INPUT", Some(1)),
        "{t}"
    );
    assert_eq!(effects(&t), ["TTL", "DSCP", "TCPMSS", "TOS"], "{t}");
    assert!(t.to_string().contains("MSS option lowered to 1400"), "{t}");
}

#[test]
fn nfqueue_hands_the_packet_to_user_space() {
    let rs = rules("iptables -A INPUT -p tcp --dport 80 -j NFQUEUE --queue-num 3 --queue-bypass\n");
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(
        &Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
            .on("eth0")
            .syn(),
    );
    assert_eq!(
        fate(&t),
        &Fate::Queued {
            table: TableKind::Filter,
            chain: "INPUT".into(),
            rule: 1,
            queue: 3,
            bypass: true
        }
    );
    assert!(t.to_string().contains("queue 3"), "{t}");
}

#[test]
fn synproxy_consumes_syns_and_passes_the_rest() {
    let rs = rules(
        "iptables -A INPUT -p tcp --dport 80 -m conntrack --ctstate INVALID,UNTRACKED -j SYNPROXY --mss 1460\n\
         iptables -t raw -A PREROUTING -p tcp --dport 80 --syn -j CT --notrack\n",
    );
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(
        &Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
            .on("eth0")
            .syn(),
    );
    assert_eq!(
        fate(&t),
        &dropped(TableKind::Filter, "INPUT", Some(1)),
        "{t}"
    );
    assert!(t.to_string().contains("SYN-ACK cookie"), "{t}");
}

#[test]
fn netmap_maps_the_network_keeping_the_host_part() {
    let rs =
        rules("iptables -t nat -A PREROUTING -d 203.0.113.0/24 -j NETMAP --to 198.51.100.0/24\n");
    let mut sim = Simulator::new(&rs, router());
    let t = sim.run(
        &Packet::tcp("192.0.2.50", 40000, "203.0.113.77", 80)
            .on("eth0")
            .syn(),
    );
    let to = t.branches[0].steps.iter().find_map(|s| match &s.event {
        Event::Nat { to, .. } => Some(to.addr),
        _ => None,
    });
    assert_eq!(to, Some(ip("198.51.100.77")), "{t}");
}

#[test]
fn dnat_port_shift_moves_the_port_by_its_distance_from_the_base() {
    let rs = rules(
        "iptables -t nat -A PREROUTING -p tcp -j DNAT --to-destination 192.0.2.9:1000-1999/0\n",
    );
    let mut sim = Simulator::new(&rs, router());
    let t = sim.run(
        &Packet::tcp("203.0.113.50", 40000, "203.0.113.2", 80)
            .on("ppp0")
            .syn(),
    );
    let to = t.branches[0].steps.iter().find_map(|s| match &s.event {
        Event::Nat { to, .. } => Some((to.addr, to.port)),
        _ => None,
    });
    assert_eq!(to, Some((ip("192.0.2.9"), Some(1080))), "{t}");
}

#[test]
fn ct_options_and_the_notrack_alias() {
    let rs = rules(
        "iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp\n\
         iptables -t raw -A PREROUTING -p udp -j NOTRACK\n",
    );
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(
        &Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 21)
            .on("eth0")
            .syn(),
    );
    assert!(t.to_string().contains("helper ftp attached"), "{t}");
    let u = sim.run(&Packet::udp("198.51.100.7", 40000, "203.0.113.2", 53).on("eth0"));
    assert!(
        u.branches[0]
            .steps
            .iter()
            .any(|s| matches!(s.event, Event::Notrack)),
        "{u}"
    );
}
