//! Block lists and bans through both code paths: loaded into a real kernel by `rampart
//! block` beside a policy applied by `rampart apply`, and added to the ruleset model by
//! `rampart_enforce::BlockModel` for the simulator. One table of probes, one expected fate
//! each, checked against both; then the lockout check and `up` see a list that holds the
//! admin's address.

use std::net::IpAddr;
use std::time::SystemTime;

use rampart_enforce::{BlockModel, Store};
use rampart_kernel::StateDir;
use rampart_ruleset::{parse_script, ParseOptions, Source};
use rampart_sim::{Fate as SimFate, Host, Packet, Simulator};

use crate::block::{Setup, HOST_IP, HOST_IP6};
use crate::lab::Fate;

const OPEN_PORT: u16 = 8080;
const CLOSED_PORT: u16 = 9090;

/// The policy: default deny in, loopback, replies, ICMPv6 (neighbour discovery), and one
/// open port; both families.
const POLICY: &str = "\
iptables -P INPUT DROP
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp --dport 8080 -j ACCEPT
ip6tables -P INPUT DROP
ip6tables -A INPUT -i lo -j ACCEPT
ip6tables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
ip6tables -A INPUT -p icmpv6 -j ACCEPT
ip6tables -A INPUT -p tcp --dport 8080 -j ACCEPT
";

/// What the kernel and the simulator must both do: (source, port, fate, the list or ban
/// the simulator's hint must name).
const PROBES: &[(&str, u16, Expect)] = &[
    ("192.0.2.2", OPEN_PORT, Expect::Delivered),
    ("192.0.2.2", CLOSED_PORT, Expect::Dropped(None)),
    (
        "192.0.2.3",
        OPEN_PORT,
        Expect::Dropped(Some("rampart: timed ban: source 192.0.2.3 is in set ban_4")),
    ),
    (
        "192.0.2.40",
        OPEN_PORT,
        Expect::Dropped(Some(
            "rampart: block list manual: source 192.0.2.40 is in set bl_manual_4 as 192.0.2.32/27  # scanners",
        )),
    ),
    (
        "192.0.2.70",
        OPEN_PORT,
        Expect::Dropped(Some(
            "rampart: block list drop: source 192.0.2.70 is in set bl_drop_4 as 192.0.2.64/28",
        )),
    ),
    ("192.0.2.90", OPEN_PORT, Expect::Delivered),
    ("2001:db8::2", OPEN_PORT, Expect::Delivered),
    (
        "2001:db8::107",
        OPEN_PORT,
        Expect::Dropped(Some(
            "rampart: block list manual: source 2001:db8::107 is in set bl_manual_6 as 2001:db8::100/120",
        )),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Delivered,
    /// Dropped; by a set entry when the hint is given (its start), else by the policy.
    Dropped(Option<&'static str>),
}

fn setup() -> Setup {
    let sources: Vec<&str> = PROBES.iter().map(|p| p.0).collect();
    let s = Setup::with_sources(&sources);
    std::fs::write(s.dir.join("policy.sh"), POLICY).unwrap();
    std::fs::write(s.dir.join("rampart.toml"), "profile = \"webserver\"\n").unwrap();
    s
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn kernel_and_simulator_agree_on_blocked_sources() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    s.ok(&["apply", "--script", "policy.sh"]);
    s.ok(&[
        "block",
        "add",
        "192.0.2.32/27",
        "2001:db8::100/120",
        "--comment",
        "scanners",
    ]);
    let drop = s.dir.join("drop.txt");
    std::fs::write(&drop, "192.0.2.64/28\n").unwrap();
    s.ok(&["block", "import", drop.to_str().unwrap(), "--list", "drop"]);
    s.ok(&[
        "block",
        "add",
        "192.0.2.3",
        "--timeout",
        "1h",
        "--comment",
        "brute",
    ]);
    // A re-apply keeps the sets' elements: the policy and the lists stand together.
    s.ok(&["apply", "--script", "policy.sh"]);

    // The simulator's side: the same policy file, plus the model of the same store.
    let mut ruleset = parse_script(
        &Source::new("policy.sh", POLICY.to_string()),
        ParseOptions::default(),
    )
    .unwrap()
    .ruleset;
    let store = Store::new(StateDir::new(s.state.clone()));
    let model = BlockModel::load(&store, unix_now()).unwrap().unwrap();
    assert_eq!((model.list_count(), model.ban_count()), (2, 1));
    model.add_to(&mut ruleset).unwrap();
    let host = Host::parse(&format!("interface eth0 {HOST_IP}/24 {HOST_IP6}/64")).unwrap();

    let mut wrong = Vec::new();
    for (i, &(src, port, expect)) in PROBES.iter().enumerate() {
        let ip: IpAddr = src.parse().unwrap();
        let dst = if ip.is_ipv4() { HOST_IP } else { HOST_IP6 };
        // A fresh simulator per probe: each kernel probe is a new connection.
        let mut sim = Simulator::new(&ruleset, host.clone());
        let trace = sim.run(&Packet::tcp(src, 40000 + i as u16, dst, port).on("eth0"));
        let branch = &trace.branches[0];
        let simulated = match (&branch.fate, expect) {
            (SimFate::DeliveredLocally { .. }, Expect::Delivered) => true,
            (SimFate::Dropped { rule: None, .. }, Expect::Dropped(None)) => true,
            (SimFate::Dropped { rule: Some(_), .. }, Expect::Dropped(Some(want))) => {
                branch.hints.iter().any(|h| h.text.starts_with(want))
            }
            _ => false,
        };
        let kernel = match s.probe(ip, port) {
            Fate::Delivered { seen_src } if seen_src == ip => Expect::Delivered,
            Fate::Dropped => Expect::Dropped(None),
            other => panic!("{src}:{port}: kernel fate {other:?}"),
        };
        let kernel_agrees = matches!(
            (kernel, expect),
            (Expect::Delivered, Expect::Delivered) | (Expect::Dropped(_), Expect::Dropped(_))
        );
        if !simulated || !kernel_agrees {
            wrong.push(format!(
                "{src}:{port}: expected {expect:?}, kernel {kernel:?}, simulator:\n{trace}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n{}",
        wrong.join("\n"),
        s.lab
            .exec("host", &["nft", "list", "ruleset"])
            .unwrap_or_default()
    );
}

#[test]
fn a_list_holding_the_admin_is_a_lockout() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    s.ok(&["block", "add", "192.0.2.32/27", "--comment", "scanners"]);
    let admin = format!("192.0.2.40 50000 {HOST_IP} 22");
    let out = s.run_as_admin(&["lockout-check", "--policy", "rampart.toml"], &admin);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("LOCKOUT")
            && text.contains("block lists included: 1 list (1 prefix), 0 timed bans"),
        "{text}"
    );
    assert!(
        text.contains("hint: rampart: block list manual: source 192.0.2.40 is in set bl_manual_4 as 192.0.2.32/27  # scanners"),
        "{text}"
    );
    // `up` refuses the same, and applies nothing.
    let out = s.run_as_admin(&["up", "--policy", "rampart.toml", "--no-confirm"], &admin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("LOCKOUT"), "{err}");
    // Another admin address is fine.
    let out = s.run_as_admin(
        &["lockout-check", "--policy", "rampart.toml"],
        &format!("192.0.2.2 50000 {HOST_IP} 22"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
