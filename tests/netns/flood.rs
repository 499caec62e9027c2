//! `[flood]` end to end: a policy with a per-source meter that bans, lowered by
//! rampart-policy, compiled by rampart-nft and loaded into a namespace; a scripted
//! sequence of real packets from two sources, one over the limit; the kernel's deliveries
//! and its ban set against the simulator's fates for the same sequence.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rampart_nft::{compile, CompileOptions};
use rampart_policy::Policy;
use rampart_ruleset::Source;
use rampart_sim::{Fate as SimFate, Host, Packet, Simulator};
use rampart_testkit::{require, Need, Netns};

const SERVER: &str = "192.0.2.1";
const ATTACKER: &str = "192.0.2.10";
const CLIENT: &str = "192.0.2.11";
const PORT: u16 = 9000;
/// Milliseconds between two packets of the sequence (the meter refills one token per
/// 200 ms: the gaps add none).
const GAP_MS: u64 = 2;

const POLICY: &str = r#"
profile = "webserver"
[input]
udp = [9000]
[flood]
ban_time = "10m"
[[flood.limit]]
name = "udp9000"
udp = [9000]
new = "5/second"
burst = 3
action = "ban"
"#;

/// Who sends each packet of the sequence, in order.
const SEQUENCE: [&str; 10] = [
    ATTACKER, ATTACKER, CLIENT, ATTACKER, ATTACKER, ATTACKER, CLIENT, ATTACKER, ATTACKER, CLIENT,
];

#[test]
fn the_packet_over_a_meter_bans_its_source_in_kernel_and_simulator() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let ruleset = Policy::parse(&Source::new("flood.toml", POLICY))
        .expect("policy parses")
        .to_ruleset(|p| panic!("unexpected import {p}"))
        .expect("policy lowers")
        .ruleset;

    // The simulator: the same packets, each a new UDP flow (its own source port).
    let host = Host::parse(&format!("interface eth0 {SERVER}/24\n")).expect("host");
    let mut sim = Simulator::new(&ruleset, host);
    let predicted: BTreeSet<usize> = SEQUENCE
        .iter()
        .enumerate()
        .filter(|(i, from)| {
            let packet = Packet::udp(from, 40000 + *i as u16, SERVER, PORT)
                .on("eth0")
                .at(1.0 + (*i as f64) * GAP_MS as f64 / 1000.0);
            let trace = sim.run(&packet);
            matches!(trace.fate(), Some(SimFate::DeliveredLocally { .. }))
        })
        .map(|(i, _)| i)
        .collect();

    // The kernel.
    let script = compile(&ruleset, &CompileOptions::default()).expect("compiles");
    let server = Netns::fresh("flood-server");
    let client = Netns::fresh("flood-client");
    server.veth("eth0", &client, "eth0");
    server.exec(&["ip", "addr", "add", &format!("{SERVER}/24"), "dev", "eth0"]);
    for a in [ATTACKER, CLIENT] {
        client.exec(&["ip", "addr", "add", &format!("{a}/24"), "dev", "eth0"]);
    }
    server.nft(script.text());
    let listener = server.run_in(|| UdpSocket::bind((SERVER, PORT)).expect("bind"));
    client.run_in(|| {
        // Neighbour discovery before the sequence (a packet to a closed port), so no
        // packet of it waits on ARP.
        let warm = UdpSocket::bind((CLIENT, 0)).expect("bind");
        warm.send_to(b"arp", (SERVER, 9)).expect("send");
        std::thread::sleep(Duration::from_millis(50));
        for (i, from) in SEQUENCE.iter().enumerate() {
            let from: IpAddr = from.parse().unwrap();
            let socket = UdpSocket::bind(SocketAddr::new(from, 40000 + i as u16)).expect("bind");
            socket.send_to(&[i as u8], (SERVER, PORT)).expect("send");
            std::thread::sleep(Duration::from_millis(GAP_MS));
        }
    });
    listener
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut delivered = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 16];
    while Instant::now() < deadline {
        match listener.recv_from(&mut buf) {
            Ok((1, _)) => {
                delivered.insert(usize::from(buf[0]));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }

    // The attacker's first three packets pass (burst 3), the fourth crosses the limit and
    // bans it, and nothing it sends afterwards passes; the other client is untouched.
    let expected: BTreeSet<usize> = [0, 1, 2, 3, 6, 9].into_iter().collect();
    assert_eq!(delivered, expected, "kernel deliveries\n{}", script.text());
    assert_eq!(predicted, expected, "simulator deliveries");
    let bans = server.exec(&["nft", "list", "set", "inet", "rampart", "flood_udp9000_4"]);
    assert!(bans.contains(ATTACKER), "the attacker is banned:\n{bans}");
    assert!(!bans.contains(CLIENT), "the client is not:\n{bans}");
}
