//! What the kernel decides outside the ruleset: conntrack's classification of a first
//! TCP packet by its flags (nf_conntrack_proto_tcp.c: `tcp_error`, `tcp_new`) and
//! routing's martian checks (`ip_route_input_slow`, `fib_validate_source`), with the
//! sysctls that govern them read from the host description.

use rampart_ruleset::{parse_script, ParseOptions, Ruleset, Source, TcpFlags};
use rampart_sim::{CtState, Fate, Host, HostErrorKind, Packet, Simulator, Trace};

use crate::util::fate;

/// The common guide ruleset: NEW accepted on port 80 without `--syn`, INVALID dropped
/// first, a DNAT of port 8080 to a LAN server, forwarding to it accepted.
const SCRIPT: &str = "\
iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A INPUT -p tcp --dport 80 -m conntrack --ctstate NEW -j ACCEPT
iptables -A INPUT -p tcp --dport 81 -j ACCEPT
iptables -A FORWARD -p tcp -d 192.0.2.10 --dport 80 -j ACCEPT
iptables -t nat -A PREROUTING -i ppp0 -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
";

const HOST: &str = "\
interface eth0 192.0.2.1/24
interface ppp0 203.0.113.2/24
route default via 203.0.113.1 dev ppp0
forwarding yes
";

fn ruleset() -> Ruleset {
    parse_script(&Source::new("fw.sh", SCRIPT), ParseOptions::default())
        .unwrap()
        .ruleset
}

fn host(extra: &str) -> Host {
    Host::parse(&format!("{HOST}{extra}")).unwrap()
}

fn tcp(flags: u8, dport: u16) -> Packet {
    Packet::tcp("198.51.100.7", 40000, "203.0.113.2", dport)
        .on("ppp0")
        .flags(flags)
}

fn ct_state(t: &Trace) -> CtState {
    t.branches[0]
        .steps
        .iter()
        .find_map(|s| match &s.event {
            rampart_sim::Event::Conntrack { state, .. } => Some(*state),
            _ => None,
        })
        .expect("a conntrack step")
}

const F: u8 = TcpFlags::FIN;
const S: u8 = TcpFlags::SYN;
const R: u8 = TcpFlags::RST;
const P: u8 = TcpFlags::PSH;
const A: u8 = TcpFlags::ACK;
const U: u8 = TcpFlags::URG;

#[test]
fn first_tcp_packet_state_follows_the_kernel_flag_by_flag() {
    let rs = ruleset();
    let cases: &[(u8, CtState)] = &[
        (S, CtState::New),
        (S | U, CtState::New),
        (A, CtState::New),
        (A | P, CtState::New),
        (A | U, CtState::New),
        (F, CtState::Invalid),
        (F | A, CtState::Invalid),
        (F | A | P, CtState::Invalid),
        (R, CtState::Invalid),
        (R | A, CtState::Invalid),
        (S | A, CtState::Invalid),
        (S | F, CtState::Invalid),
        (S | R, CtState::Invalid),
        (0, CtState::Invalid),
        (F | P | U, CtState::Invalid),
    ];
    for &(flags, want) in cases {
        let mut sim = Simulator::new(&rs, host(""));
        let t = sim.run(&tcp(flags, 80));
        assert_eq!(ct_state(&t), want, "flags {flags:#x}:\n{t}");
        let f = fate(&t);
        match want {
            CtState::New => assert!(matches!(f, Fate::DeliveredLocally { .. }), "{t}"),
            _ => assert!(
                matches!(f, Fate::Dropped { rule: Some(1), .. }),
                "flags {flags:#x} must be dropped by the INVALID rule:\n{t}"
            ),
        }
    }
}

#[test]
fn tcp_loose_off_leaves_a_first_ack_invalid() {
    let rs = ruleset();
    let mut sim = Simulator::new(&rs, host("sysctl net.netfilter.nf_conntrack_tcp_loose 0\n"));
    let t = sim.run(&tcp(A, 80));
    assert_eq!(ct_state(&t), CtState::Invalid, "{t}");
    assert!(t.to_string().contains("nf_conntrack_tcp_loose=0"), "{t}");
    // A SYN still opens a flow.
    let t = sim.run(&tcp(S, 80));
    assert_eq!(ct_state(&t), CtState::New, "{t}");
}

#[test]
fn invalid_first_packets_skip_nat_and_open_no_flow() {
    let rs = ruleset();
    let mut sim = Simulator::new(&rs, host(""));
    // A FIN to the DNATed port: not translated (INVALID skips nat), so it stays
    // addressed to the router, where nothing accepts port 8080.
    let t = sim.run(&tcp(F | A, 8080));
    assert_eq!(ct_state(&t), CtState::Invalid, "{t}");
    assert!(matches!(fate(&t), Fate::Dropped { .. }), "{t}");
    assert!(!t.to_string().contains("DNAT"), "{t}");
    assert_eq!(sim.flow_count(), 0);
    // A pure ACK is picked up and DNATed like a SYN.
    let t = sim.run(&tcp(A, 8080));
    assert!(matches!(fate(&t), Fate::Forwarded { .. }), "{t}");
    assert_eq!(sim.flow_count(), 1);
}

#[test]
fn invalid_flags_are_invalid_even_on_a_known_flow() {
    let rs = ruleset();
    let mut sim = Simulator::new(&rs, host(""));
    let t = sim.run(&tcp(S, 81).at(1.0));
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");
    let t = sim.run(&tcp(S | F, 81).at(1.1));
    assert_eq!(ct_state(&t), CtState::Invalid, "{t}");
    assert!(
        t.to_string().contains("invalid TCP flag combination"),
        "{t}"
    );
}

fn udp_from(src: &str, dst: &str, iface: &str) -> Packet {
    Packet::udp(src, 5000, dst, 53).on(iface)
}

fn open_ruleset() -> Ruleset {
    Ruleset::default()
}

#[test]
fn martian_sources_are_dropped_in_routing() {
    let rs = open_ruleset();
    let mut sim = Simulator::new(&rs, host(""));
    for src in [
        "224.0.0.5",
        "239.1.2.3",
        "255.255.255.255",
        "0.0.0.0",
        "127.0.0.1",
        "192.0.2.1", // the host's own address, arriving from outside
    ] {
        let t = sim.run(&udp_from(src, "203.0.113.2", "ppp0"));
        assert!(
            matches!(fate(&t), Fate::Martian { .. }),
            "{src} must be a martian:\n{t}"
        );
        let t = sim.run(&udp_from(src, "192.0.2.10", "ppp0"));
        assert!(
            matches!(fate(&t), Fate::Martian { .. }),
            "{src} (forwarded) must be a martian:\n{t}"
        );
    }
    // Class E, the rest of 0.0.0.0/8 (unicast since Linux 5.3), a subnet broadcast and a
    // source with no route back pass without rp_filter.
    for src in ["240.0.0.1", "0.1.2.3", "192.0.2.255", "198.51.100.7"] {
        let t = sim.run(&udp_from(src, "203.0.113.2", "ppp0"));
        assert!(
            matches!(fate(&t), Fate::DeliveredLocally { .. }),
            "{src}:\n{t}"
        );
    }
    // A loopback destination from outside is a martian destination.
    let t = sim.run(&udp_from("198.51.100.7", "127.0.0.1", "ppp0"));
    assert!(matches!(fate(&t), Fate::Martian { .. }), "{t}");
}

#[test]
fn route_localnet_and_accept_local_lift_their_checks() {
    let rs = open_ruleset();
    let h = host(
        "sysctl net.ipv4.conf.ppp0.route_localnet 1\nsysctl net.ipv4.conf.all.accept_local=1\n",
    );
    let mut sim = Simulator::new(&rs, h);
    let t = sim.run(&udp_from("127.0.0.9", "203.0.113.2", "ppp0"));
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");
    let t = sim.run(&udp_from("192.0.2.1", "203.0.113.2", "ppp0"));
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");
    // eth0 has no route_localnet of its own.
    let t = sim.run(&udp_from("127.0.0.9", "192.0.2.1", "eth0"));
    assert!(matches!(fate(&t), Fate::Martian { .. }), "{t}");
}

#[test]
fn rp_filter_strict_and_loose() {
    let rs = open_ruleset();
    // A source on the LAN arriving on the WAN: strict mode drops it (the route back
    // leaves by eth0), loose mode accepts it (a route back exists).
    let strict = host("sysctl net.ipv4.conf.all.rp_filter 1\n");
    let mut sim = Simulator::new(&rs, strict);
    let t = sim.run(&udp_from("192.0.2.10", "203.0.113.2", "ppp0"));
    assert!(matches!(fate(&t), Fate::Martian { .. }), "{t}");
    let t = sim.run(&udp_from("198.51.100.7", "203.0.113.2", "ppp0"));
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");
    // The larger of all and the interface's value is in force.
    let loose =
        host("sysctl net.ipv4.conf.all.rp_filter 0\nsysctl net.ipv4.conf.ppp0.rp_filter 2\n");
    let mut sim = Simulator::new(&rs, loose);
    let t = sim.run(&udp_from("192.0.2.10", "203.0.113.2", "ppp0"));
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");
    // Without a default route, loose mode has no route back to an Internet source.
    let lan_only =
        Host::parse("interface eth0 192.0.2.1/24\nsysctl net.ipv4.conf.eth0.rp_filter 2\n")
            .unwrap();
    let mut sim = Simulator::new(&rs, lan_only);
    let t = sim.run(&udp_from("198.51.100.7", "192.0.2.1", "eth0"));
    assert!(matches!(fate(&t), Fate::Martian { .. }), "{t}");
    // A subnet broadcast source fails the full check.
    let t = sim.run(&udp_from("192.0.2.255", "192.0.2.1", "eth0"));
    assert!(matches!(fate(&t), Fate::Martian { .. }), "{t}");
}

#[test]
fn martian_counts_prerouting_but_not_input() {
    let text = "\
iptables -t mangle -A PREROUTING -j ACCEPT
iptables -A INPUT -j ACCEPT
";
    let rs = parse_script(&Source::new("fw.sh", text), ParseOptions::default())
        .unwrap()
        .ruleset;
    let mut sim = Simulator::new(&rs, host(""));
    let t = sim.run(&udp_from("224.0.0.5", "203.0.113.2", "ppp0"));
    let hits = &t.branches[0].hits;
    assert_eq!(hits.len(), 1, "{t}");
    assert_eq!(hits[0].chain, "PREROUTING");
}

#[test]
fn ipv6_multicast_and_loopback_sources_are_dropped_before_prerouting() {
    let text = "ip6tables -t mangle -A PREROUTING -j ACCEPT\n";
    let rs = parse_script(&Source::new("fw.sh", text), ParseOptions::default())
        .unwrap()
        .ruleset;
    let h = Host::parse("interface eth0 2001:db8:1::1/64\n").unwrap();
    let mut sim = Simulator::new(&rs, h);
    for src in ["ff02::1", "::1", "::ffff:192.0.2.7"] {
        let t = sim.run(&udp_from(src, "2001:db8:1::1", "eth0"));
        assert!(matches!(fate(&t), Fate::Martian { .. }), "{src}:\n{t}");
        assert!(t.branches[0].hits.is_empty(), "{t}");
    }
    let t = sim.run(&udp_from("2001:db8:1::7", "2001:db8:1::1", "eth0"));
    assert!(matches!(fate(&t), Fate::DeliveredLocally { .. }), "{t}");
}

#[test]
fn sysctl_lines_are_checked() {
    let h = host(
        "sysctl net.netfilter.nf_conntrack_tcp_be_liberal 1\nsysctl net.ipv4.conf.default.rp_filter 2\n",
    );
    assert!(h.sysctls.tcp_be_liberal && h.sysctls.tcp_loose);
    assert_eq!(h.sysctls.rp_filter("eth0"), 2);
    let keys: Vec<String> = h
        .sysctls
        .assignments()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(keys.contains(&"net.ipv4.conf.default.rp_filter".to_string()));
    let err = |text: &str| Host::parse(&format!("{HOST}{text}")).unwrap_err().kind;
    assert!(matches!(
        err("sysctl net.ipv4.ip_forward 1\n"),
        HostErrorKind::UnknownSysctl(_)
    ));
    assert!(matches!(
        err("sysctl net.ipv4.conf.all.rp_filter 3\n"),
        HostErrorKind::BadSysctl(_)
    ));
    assert!(matches!(
        err("sysctl net.ipv4.conf.wlan0.rp_filter 1\n"),
        HostErrorKind::UnknownDevice(_)
    ));
    assert!(matches!(
        err("sysctl net.netfilter.nf_conntrack_tcp_loose\n"),
        HostErrorKind::BadSysctl(_)
    ));
}
