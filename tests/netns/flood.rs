//! `[flood]` end to end: policies with per-source meters, lowered by rampart-policy,
//! compiled by rampart-nft and loaded into a namespace; scripted sequences of real UDP
//! packets (each a new flow) from many sources; the kernel's deliveries against the
//! simulator's fates for the same sequence, packet by packet.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rampart_nft::{compile, CompileOptions};
use rampart_policy::Policy;
use rampart_ruleset::{Ruleset, Source};
use rampart_sim::{Fate as SimFate, Host, Packet, Simulator};
use rampart_testkit::{require, Need, Netns};

const SERVER: &str = "192.0.2.1";
const ATTACKER: &str = "192.0.2.10";
const CLIENT: &str = "192.0.2.11";
const PORT: u16 = 9000;
/// Milliseconds between two packets of a sequence: small beside the meters' refill
/// (one token per 200 ms or more), so the kernel and the simulator count the same tokens.
const GAP_MS: u64 = 2;

/// A server namespace holding a policy and a client namespace with `sources` addresses.
struct Bench {
    ruleset: Ruleset,
    script: String,
    server: Netns,
    client: Netns,
    /// The state directory `rampart` runs on the server use (removed on drop).
    state: PathBuf,
    /// A policy file for `rampart up` on the server (removed on drop).
    policy: PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
        let _ = std::fs::remove_file(&self.policy);
    }
}

impl Bench {
    fn new(tag: &str, policy: &str, sources: &[IpAddr]) -> Bench {
        let ruleset = Policy::parse(&Source::new("flood.toml", policy))
            .expect("policy parses")
            .to_ruleset(|p| panic!("unexpected import {p}"))
            .expect("policy lowers")
            .ruleset;
        let script = compile(&ruleset, &CompileOptions::default())
            .expect("compiles")
            .text()
            .to_string();
        let server = Netns::fresh(&format!("{tag}-server"));
        let client = Netns::fresh(&format!("{tag}-client"));
        server.veth("eth0", &client, "eth0");
        server.exec(&["ip", "addr", "add", &format!("{SERVER}/24"), "dev", "eth0"]);
        for a in sources {
            client.exec(&["ip", "addr", "add", &format!("{a}/24"), "dev", "eth0"]);
        }
        server.nft(&script);
        let state = std::env::temp_dir().join(format!("{}-state", server.name()));
        let policy = state.with_extension("toml");
        Bench {
            ruleset,
            script,
            server,
            client,
            state,
            policy,
        }
    }

    /// The indices of `sequence` (one packet per entry, from that source) the simulator
    /// delivers.
    fn predict(&self, sequence: &[IpAddr]) -> BTreeSet<usize> {
        let host = Host::parse(&format!("interface eth0 {SERVER}/24\n")).expect("host");
        let mut sim = Simulator::new(&self.ruleset, host);
        sequence
            .iter()
            .enumerate()
            .filter(|(i, from)| {
                let packet = Packet::udp(&from.to_string(), sport(*i), SERVER, PORT)
                    .on("eth0")
                    .at(1.0 + (*i as f64) * GAP_MS as f64 / 1000.0);
                matches!(
                    sim.run(&packet).fate(),
                    Some(SimFate::DeliveredLocally { .. })
                )
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Sends `sequence` for real and returns the indices the server's socket received.
    fn send(&self, sequence: &[IpAddr]) -> BTreeSet<usize> {
        let listener = self
            .server
            .run_in(|| UdpSocket::bind((SERVER, PORT)).expect("bind"));
        self.client.run_in(|| {
            // Neighbour discovery first (a packet to a closed port), so no packet of the
            // sequence waits on ARP.
            let warm = UdpSocket::bind((sequence[0], 0)).expect("bind");
            warm.send_to(b"arp", (SERVER, 9)).expect("send");
            std::thread::sleep(Duration::from_millis(50));
            for (i, from) in sequence.iter().enumerate() {
                let socket = UdpSocket::bind(SocketAddr::new(*from, sport(i))).expect("bind");
                let tag = u16::try_from(i).unwrap().to_be_bytes();
                socket.send_to(&tag, (SERVER, PORT)).expect("send");
                std::thread::sleep(Duration::from_millis(GAP_MS));
            }
        });
        listener
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut delivered = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 16];
        while Instant::now() < deadline {
            match listener.recv_from(&mut buf) {
                Ok((2, _)) => {
                    delivered.insert(usize::from(u16::from_be_bytes([buf[0], buf[1]])));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        delivered
    }

    /// `rampart ARGS --state-dir DIR` inside the server namespace: exit code and stdout.
    fn rampart(&self, args: &[&str]) -> (Option<i32>, String) {
        self.rampart_env(args, &[])
    }

    /// `rampart up --policy FILE --no-confirm` with `policy` written to the bench's file.
    fn up(&self, policy: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
        std::fs::write(&self.policy, policy).unwrap();
        let file = self.policy.to_str().unwrap();
        self.rampart_env(&["up", "--policy", file, "--no-confirm"], env)
    }

    /// [`Bench::rampart`] with environment variables.
    fn rampart_env(&self, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
        let out = self
            .server
            .command(env!("CARGO_BIN_EXE_rampart"))
            .envs(env.iter().copied())
            .args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .output()
            .expect("run rampart");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

/// Each packet from a port of its own: a new flow (conntrack NEW) every time.
fn sport(i: usize) -> u16 {
    40000 + u16::try_from(i).unwrap()
}

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn the_packet_over_a_meter_bans_its_source_in_kernel_and_simulator() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let policy = r#"
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
    let (a, c) = (addr(ATTACKER), addr(CLIENT));
    let sequence = [a, a, c, a, a, a, c, a, a, c];
    let bench = Bench::new("flood-ban", policy, &[a, c]);
    let predicted = bench.predict(&sequence);
    // The kernel reports each ban it makes to NFLOG group 5, for the guard.
    let mut nflog = bench
        .server
        .run_in(|| rampart_nfnl::NflogListener::bind(5).expect("bind NFLOG group 5"));
    let delivered = bench.send(&sequence);
    let reported = nflog.recv(Duration::from_secs(1)).expect("NFLOG");
    assert_eq!(reported.len(), 1, "one ban reported: {reported:?}");
    assert_eq!(reported[0].prefix, "rampart-ban udp9000");
    assert_eq!(reported[0].src, a);
    assert_eq!(reported[0].dst_port, Some(PORT));

    // The attacker's first three packets pass (burst 3), the fourth crosses the limit and
    // bans it, and nothing it sends afterwards passes; the other client is untouched.
    let expected: BTreeSet<usize> = [0, 1, 2, 3, 6, 9].into_iter().collect();
    assert_eq!(delivered, expected, "kernel deliveries\n{}", bench.script);
    assert_eq!(predicted, expected, "simulator deliveries");
    let bans = bench
        .server
        .exec(&["nft", "list", "set", "inet", "rampart", "flood_udp9000_4"]);
    assert!(bans.contains(ATTACKER), "the attacker is banned:\n{bans}");
    assert!(!bans.contains(CLIENT), "the client is not:\n{bans}");

    // The admin sees the kernel's ban, and why, and can lift it.
    let (code, list) = bench.rampart(&["block", "list"]);
    assert_eq!(code, Some(0), "block list: {list}");
    assert!(
        list.lines().any(|l| l.starts_with("flood:udp9000")
            && l.contains(ATTACKER)
            && l.contains("banned by the kernel (flood limit udp9000)")),
        "{list}"
    );
    assert!(!list.contains(CLIENT), "{list}");
    let (code, json) = bench.rampart(&["block", "list", "--json"]);
    assert_eq!(code, Some(0), "block list --json: {json}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["kernel_bans"][0]["addr"], ATTACKER, "{json}");
    assert_eq!(v["kernel_bans"][0]["limit"], "udp9000", "{json}");
    let (code, test) = bench.rampart(&["block", "test", ATTACKER]);
    assert_eq!(code, Some(0), "block test: {test}");
    assert!(
        test.contains("banned by the kernel: flood limit udp9000"),
        "{test}"
    );
    let (code, test) = bench.rampart(&["block", "test", CLIENT]);
    assert_eq!(code, Some(1), "block test of the client: {test}");
    let (code, del) = bench.rampart(&["block", "del", ATTACKER]);
    assert_eq!(code, Some(0), "block del: {del}");
    let bans = bench
        .server
        .exec(&["nft", "list", "set", "inet", "rampart", "flood_udp9000_4"]);
    assert!(!bans.contains(ATTACKER), "the ban is lifted:\n{bans}");
}

#[test]
fn sources_a_full_meter_cannot_track_fall_under_the_shared_limit() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    // The meter tracks 16 sources, each allowed one new flow per second; all sources
    // share 30 (then one a second).
    let policy = r#"
profile = "webserver"
[input]
udp = [9000]
[flood]
meter_size = 16
[[flood.limit]]
name = "udp9000"
udp = [9000]
new = "1/second"
burst = 1
total = "1/second"
total_burst = 30
"#;
    let sources: Vec<IpAddr> = (100..140u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
        .collect();
    // Two packets from each source in turn: s1 s1 s2 s2 ...
    let sequence: Vec<IpAddr> = sources.iter().flat_map(|s| [*s, *s]).collect();
    let bench = Bench::new("flood-full", policy, &sources);
    let predicted = bench.predict(&sequence);
    let delivered = bench.send(&sequence);

    // Sources 1-16 fill the meter: their first packet passes (one shared token each),
    // their second is over their own limit. The 24 others are not tracked: both their
    // packets go to the shared limit, whose 14 remaining tokens let sources 17-23 through
    // twice; everything after is dropped.
    let mut expected: BTreeSet<usize> = (0..16).map(|s| 2 * s).collect();
    expected.extend(32..46);
    assert_eq!(delivered, expected, "kernel deliveries\n{}", bench.script);
    assert_eq!(predicted, expected, "simulator deliveries");
}

#[test]
fn early_drop_stops_blocked_sources_at_ingress_before_input() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let (a, c) = (addr(ATTACKER), addr(CLIENT));
    let bench = Bench::new("flood-early", "profile = \"webserver\"\n", &[a, c]);
    let (code, out) = bench.rampart(&["block", "add", ATTACKER]);
    assert_eq!(code, Some(0), "block add: {out}");
    let (code, out) = bench.up(
        "profile = \"webserver\"\n[input]\nudp = [9000]\n[flood]\nearly_drop = [\"eth0\", \"nosuch0\"]\n",
        &[],
    );
    assert_eq!(code, Some(0), "up: {out}");
    assert!(out.contains("no interface nosuch0 here"), "{out}");

    let sequence: Vec<IpAddr> = (0..20).map(|i| if i % 4 == 3 { c } else { a }).collect();
    let delivered = bench.send(&sequence);
    let expected: BTreeSet<usize> = (0..20).filter(|i| i % 4 == 3).collect();
    assert_eq!(delivered, expected, "only the client is served");

    // The attacker's 15 packets (and the ARP warm-up's UDP packet) died at ingress: the
    // input chain's drop rule never saw one.
    let ingress = bench.server.exec(&[
        "nft",
        "list",
        "chain",
        "inet",
        "rampart_bl_manual",
        "ingress_eth0",
    ]);
    let input = bench
        .server
        .exec(&["nft", "list", "chain", "inet", "rampart_bl_manual", "input"]);
    let packets = |text: &str| -> u64 {
        text.lines()
            .filter(|l| l.contains("ip saddr @bl_manual_4h"))
            .filter_map(|l| {
                l.split("packets ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    assert_eq!(packets(&ingress), 16, "ingress:\n{ingress}");
    assert_eq!(packets(&input), 0, "input:\n{input}");

    // Without early_drop, the next `up` takes the ingress chains away.
    let (code, out) = bench.up("profile = \"webserver\"\n[input]\nudp = [9000]\n", &[]);
    assert_eq!(code, Some(0), "up: {out}");
    let table = bench
        .server
        .exec(&["nft", "list", "table", "inet", "rampart_bl_manual"]);
    assert!(!table.contains("ingress"), "{table}");
}

#[test]
fn the_admins_ssh_source_is_never_limited() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let policy = r#"
profile = "webserver"
[input]
udp = [9000]
[[flood.limit]]
name = "udp9000"
udp = [9000]
new = "5/second"
burst = 3
action = "ban"
"#;
    let (a, c) = (addr(ATTACKER), addr(CLIENT));
    let bench = Bench::new("flood-admin", policy, &[a, c]);
    // `up` from the attacker's address's SSH session: that source is the admin's.
    let session = format!("{ATTACKER} 50022 {SERVER} 22");
    let (code, out) = bench.up(policy, &[("SSH_CONNECTION", &session)]);
    assert_eq!(code, Some(0), "up: {out}");
    assert!(
        out.contains(&format!("never count the admin's SSH sources: {ATTACKER}")),
        "{out}"
    );
    let sequence = [a, a, a, a, a, a, c, c, c, c, c];
    let delivered = bench.send(&sequence);
    let expected: BTreeSet<usize> = [0, 1, 2, 3, 4, 5, 6, 7, 8].into_iter().collect();
    assert_eq!(
        delivered, expected,
        "the admin is never limited; the client is"
    );
    let bans = bench
        .server
        .exec(&["nft", "list", "set", "inet", "rampart", "flood_udp9000_4"]);
    assert!(!bans.contains(ATTACKER), "{bans}");
    assert!(bans.contains(CLIENT), "{bans}");
}

#[test]
fn connection_counts_per_source_agree_in_kernel_and_simulator() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    // At most 3 flows open at once per source (UDP flows stay in conntrack for 30 s).
    let policy = r#"
profile = "webserver"
[input]
udp = [9000]
[[flood.limit]]
name = "udp9000"
udp = [9000]
connections = 3
"#;
    let (a, c) = (addr(ATTACKER), addr(CLIENT));
    let sequence = [a, a, c, a, a, a, c, a, c, c];
    let bench = Bench::new("flood-count", policy, &[a, c]);
    let predicted = bench.predict(&sequence);
    let delivered = bench.send(&sequence);
    let expected: BTreeSet<usize> = [0, 1, 2, 3, 6, 8].into_iter().collect();
    assert_eq!(delivered, expected, "kernel deliveries\n{}", bench.script);
    assert_eq!(predicted, expected, "simulator deliveries");
}
