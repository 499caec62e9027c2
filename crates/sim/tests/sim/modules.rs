//! The match modules of issue 14: each decided from the packet field it reads, and traced
//! both ways when the packet leaves that field out.

use rampart_ruleset::{parse_save, ParseOptions, Ruleset, Source, TableKind};
use rampart_sim::{Fate, Packet, Simulator};

use crate::util::*;

fn rules(save: &str) -> Ruleset {
    parse_save(&Source::new("test", save), ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

fn input_drop(m: &str) -> Ruleset {
    rules(&format!(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {m} -j DROP\nCOMMIT\n"
    ))
}

fn inbound() -> Packet {
    Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
        .on("eth0")
        .syn()
}

fn is_dropped(rs: &Ruleset, p: &Packet) -> bool {
    let t = Simulator::new(rs, server()).run(p);
    matches!(fate(&t), Fate::Dropped { .. })
}

fn branches(rs: &Ruleset, p: &Packet) -> usize {
    Simulator::new(rs, server()).run(p).branches.len()
}

#[test]
fn owner_reads_the_sending_socket() {
    let rs = rules(
        "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m owner --uid-owner 1000-1999 -j DROP\nCOMMIT\n",
    );
    let mut out = Packet::tcp("203.0.113.2", 40000, "198.51.100.7", 80).syn();
    assert_eq!(branches(&rs, &out), 2, "uid unknown: both outcomes");
    out.uid = Some(1500);
    assert!(is_dropped(&rs, &out));
    out.uid = Some(0);
    assert!(!is_dropped(&rs, &out));
}

#[test]
fn ttl_dscp_and_pkttype() {
    let rs = input_drop("-m ttl --ttl-lt 5");
    let mut p = inbound();
    assert_eq!(branches(&rs, &p), 2);
    p.ttl = Some(3);
    assert!(is_dropped(&rs, &p));
    p.ttl = Some(64);
    assert!(!is_dropped(&rs, &p));

    let rs = input_drop("-m dscp --dscp-class EF");
    p.tos = Some(0xb8);
    assert!(is_dropped(&rs, &p));
    p.tos = Some(0);
    assert!(!is_dropped(&rs, &p));

    let rs = input_drop("-m pkttype --pkt-type broadcast");
    assert!(!is_dropped(&rs, &p), "a unicast destination is unicast");
    let bcast = Packet::udp("203.0.113.9", 68, "203.0.113.255", 67).on("eth0");
    assert!(is_dropped(&rs, &bcast), "the subnet broadcast is broadcast");
}

#[test]
fn time_follows_the_packet_clock() {
    let rs = input_drop("-m time --timestart 08:00 --timestop 17:00 --weekdays Mon");
    let mut p = inbound();
    assert_eq!(branches(&rs, &p), 2, "no clock: both outcomes");
    // 2024-01-01 was a Monday: 09:00 UTC inside, 18:00 outside.
    let monday = 1_704_067_200;
    p.clock = Some(monday + 9 * 3600);
    assert!(is_dropped(&rs, &p));
    p.clock = Some(monday + 18 * 3600);
    assert!(!is_dropped(&rs, &p));
    p.clock = Some(monday + 86_400 + 9 * 3600);
    assert!(!is_dropped(&rs, &p), "Tuesday");
}

#[test]
fn string_searches_the_payload() {
    let rs = input_drop("-m string --string \"CF-Connecting-IP: 192.0.2.9\" --algo bm");
    let mut p = inbound();
    assert_eq!(branches(&rs, &p), 2);
    p.payload = Some("GET / HTTP/1.1\r\nCF-Connecting-IP: 192.0.2.9\r\n".into());
    assert!(is_dropped(&rs, &p));
    p.payload = Some("GET / HTTP/1.1\r\nCF-Connecting-IP: 192.0.2.8\r\n".into());
    assert!(!is_dropped(&rs, &p));
}

#[test]
fn connmark_reads_the_connection_mark_set_earlier() {
    let rs = rules(
        "*mangle\n:PREROUTING ACCEPT [0:0]\n\
         -A PREROUTING -p tcp -m tcp --dport 80 -j CONNMARK --set-xmark 0x1/0xffffffff\nCOMMIT\n\
         *filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m connmark --mark 0x1 -j DROP\nCOMMIT\n",
    );
    assert!(is_dropped(&rs, &inbound()));
    let other = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22)
        .on("eth0")
        .syn();
    assert!(!is_dropped(&rs, &other));
}

#[test]
fn physdev_and_rpfilter() {
    let rs = input_drop("-m physdev --physdev-in veth0");
    let mut p = inbound();
    assert_eq!(branches(&rs, &p), 2, "bridging unknown");
    p.physdev_in = Some("veth0".into());
    assert!(is_dropped(&rs, &p));
    p.physdev_in = None;
    p.bridged = Some(false);
    assert!(!is_dropped(&rs, &p));

    let rs = rules(
        "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m rpfilter --invert -j DROP\nCOMMIT\n",
    );
    assert!(
        !is_dropped(&rs, &inbound()),
        "the default route leads back by eth0"
    );
    let spoofed = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
        .on("eth1")
        .syn();
    let t = Simulator::new(&rs, server()).run(&spoofed);
    assert_eq!(
        fate(&t),
        &dropped(TableKind::Raw, "PREROUTING", Some(1)),
        "the route back does not use eth1"
    );
}

#[test]
fn tcpmss_without_a_syn_has_no_option() {
    let rs = input_drop("-p tcp -m tcpmss --mss 1:500");
    let mut p = inbound();
    assert_eq!(branches(&rs, &p), 2);
    p.mss = Some(400);
    assert!(is_dropped(&rs, &p));
    let ack = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 80)
        .on("eth0")
        .flags(rampart_ruleset::TcpFlags::ACK);
    assert!(!is_dropped(&rs, &ack));
}

#[test]
fn statistic_nth_counts_packets_per_rule() {
    let rs = input_drop("-m statistic --mode nth --every 3 --packet 1");
    let mut sim = Simulator::new(&rs, server());
    let drops: Vec<bool> = (0..7)
        .map(|i| {
            let p = Packet::tcp("198.51.100.7", 40000 + i, "203.0.113.2", 80)
                .on("eth0")
                .syn();
            matches!(fate(&sim.run(&p)), Fate::Dropped { .. })
        })
        .collect();
    // As the kernel: packets 1, 4, 7, ... (from 0: 1, 4) of every 3.
    assert_eq!(drops, [false, true, false, false, true, false, false]);
}

#[test]
fn conntrack_direction_and_original_ports() {
    let rs = input_drop("-m conntrack --ctdir REPLY");
    assert!(!is_dropped(&rs, &inbound()), "a first packet is ORIGINAL");
    let rs = input_drop("-m conntrack --ctorigdstport 80");
    assert!(is_dropped(&rs, &inbound()));
    let rs = input_drop("-m conntrack ! --ctorigdstport 80");
    assert!(!is_dropped(&rs, &inbound()));
    let rs = rules(
        "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m conntrack --ctdir REPLY -j DROP\nCOMMIT\n",
    );
    let mut sim = Simulator::new(&rs, server());
    sim.run(&inbound());
    let reply = Packet::tcp("203.0.113.2", 80, "198.51.100.7", 40000)
        .flags(rampart_ruleset::TcpFlags::SYN | rampart_ruleset::TcpFlags::ACK);
    assert!(
        matches!(fate(&sim.run(&reply)), Fate::Dropped { .. }),
        "the SYN-ACK answers the SYN: REPLY"
    );
    let rs = input_drop("-m conntrack --ctstatus ASSURED");
    assert_eq!(branches(&rs, &inbound()), 2, "status is not modelled");
}

/// Issue 14: a netmask that is no prefix compares `addr & mask`, as the kernel does.
#[test]
fn non_contiguous_netmask_masks_the_address() {
    let rs = input_drop("-s 192.0.2.13/255.0.255.0");
    let from = |src: &str| Packet::tcp(src, 40000, "203.0.113.2", 80).on("eth0").syn();
    assert!(is_dropped(&rs, &from("192.7.2.99")), "192.x.2.x is in it");
    assert!(!is_dropped(&rs, &from("192.7.3.99")));
    let rs = input_drop("! -d 192.0.2.13/255.0.255.0");
    assert!(is_dropped(&rs, &inbound()), "203.0.113.2 is not 192.x.2.x");
}

/// Issue 14: a hashlimit byte rate and a measured rate depend on the traffic before the
/// trace: both outcomes are traced.
#[test]
fn hashlimit_byte_rates_and_rate_match_may_match() {
    let rs = input_drop("-m hashlimit --hashlimit-above 4kb/s --hashlimit-name b");
    assert_eq!(branches(&rs, &inbound()), 2);
    let rs = input_drop(
        "-m hashlimit --hashlimit-above 10/sec --hashlimit-name r --hashlimit-rate-match",
    );
    assert_eq!(branches(&rs, &inbound()), 2);
}

/// Issue 14: `--icmp-type 3/1:2` matches codes 1 and 2, though iptables-save prints `3/1`.
#[test]
fn icmp_code_ranges_match_every_code_of_the_range() {
    let rs = input_drop("-p icmp --icmp-type 3/1:2");
    let unreachable = |code| {
        Packet::new(
            rampart_ruleset::Protocol::ICMP,
            "198.51.100.7".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
        )
        .on("eth0")
        .icmp(3, code, 0)
    };
    assert!(is_dropped(&rs, &unreachable(1)));
    assert!(is_dropped(&rs, &unreachable(2)));
    assert!(!is_dropped(&rs, &unreachable(3)));
}
