//! `rampart import --collapse` in the kernel: the original per-address rules and the
//! collapsed set + rule, each loaded into a fresh namespace (iptables-restore, ipset
//! restore), must give every probe the same fate; the simulator must agree with both.

use std::net::IpAddr;

use rampart_ruleset::{
    collapse, parse_script, print_sets, to_save, CollapseOptions, Family, ParseOptions, Ruleset,
    Source,
};
use rampart_sim::{Fate as SimFate, Host, Packet, Simulator};
use rampart_testkit::{require, Need};

use super::lab::{Fate, Lab, Probe, Proto};
use super::TIMEOUT;

const HOST_ADDR: &str = "203.0.113.254";
/// Sources the peer holds: members, held-back members, a REJECT run and an outsider.
const SOURCES: [&str; 7] = [
    "203.0.113.1",
    "203.0.113.2",
    "203.0.113.3",
    "203.0.113.9",
    "203.0.113.10",
    "203.0.113.17",
    "203.0.113.20",
];

const SCRIPT: &str = "\
iptables -A INPUT -s 203.0.113.1 -j DROP
iptables -A INPUT -s 203.0.113.0/29 -p tcp --dport 22 -j ACCEPT
iptables -A INPUT -s 203.0.113.2 -j DROP
iptables -A INPUT -s 203.0.113.9 -j REJECT
iptables -A INPUT -s 203.0.113.3 -j DROP
iptables -A INPUT -s 203.0.113.10 -j REJECT
iptables -A INPUT -s 203.0.113.17 -j DROP
";

/// Probes TCP 22 and 80 from every source in a fresh lab holding `ruleset`.
fn kernel_fates(ruleset: &Ruleset) -> Vec<(String, Fate)> {
    let mut lab = Lab::new().unwrap();
    lab.add_ns("host").unwrap();
    lab.add_ns("peer").unwrap();
    lab.veth("peer", "link0", "host", "eth0").unwrap();
    lab.addr("host", "eth0", &format!("{HOST_ADDR}/24"))
        .unwrap();
    for s in SOURCES {
        lab.addr("peer", "link0", &format!("{s}/24")).unwrap();
    }
    if !ruleset.sets.is_empty() {
        lab.exec_stdin("host", &["ipset", "restore"], Some(&print_sets(ruleset)))
            .unwrap();
    }
    lab.load_save("host", &to_save(ruleset, Family::Ipv4, false))
        .unwrap();
    let mut fates = Vec::new();
    for s in SOURCES {
        for port in [22, 80] {
            let probe = Probe {
                proto: Proto::Tcp,
                src: s.parse().unwrap(),
                dst: HOST_ADDR.parse().unwrap(),
                port,
            };
            let fate = lab.probe("peer", &probe, TIMEOUT).unwrap();
            fates.push((format!("{s} → :{port}"), fate));
        }
    }
    fates
}

/// The simulator's fate in the lab's terms.
fn sim_fates(ruleset: &Ruleset) -> Vec<(String, Fate)> {
    let host = Host::parse(&format!("interface eth0 {HOST_ADDR}/24")).unwrap();
    let mut sim = Simulator::new(ruleset, host);
    let mut fates = Vec::new();
    for s in SOURCES {
        for port in [22, 80] {
            let p = Packet::tcp(s, 40000, HOST_ADDR, port).syn().on("eth0");
            let fate = match sim.run(&p).fate() {
                Some(f) if f.passed() => Fate::Delivered {
                    seen_src: s.parse::<IpAddr>().unwrap(),
                },
                Some(SimFate::Rejected { .. }) => Fate::Rejected,
                _ => Fate::Dropped,
            };
            fates.push((format!("{s} → :{port}"), fate));
        }
    }
    fates
}

#[test]
fn collapsed_rules_give_every_probe_the_same_fate_in_the_kernel() {
    if !require(&[Need::Root]) {
        return;
    }
    let before = parse_script(&Source::new("fw.sh", SCRIPT), ParseOptions::default())
        .unwrap()
        .ruleset;
    let mut after = before.clone();
    let report = collapse(&mut after, &CollapseOptions::default()).unwrap();
    // .1 and .17 (DROP), .9 and .10 (REJECT) collapse; .2 and .3 are held back by the
    // port-22 ACCEPT for 203.0.113.0/29 and form a run of their own after it.
    let runs: Vec<usize> = report.runs.iter().map(|r| r.rules).collect();
    assert_eq!(runs, [2, 2, 2]);
    let (k_before, k_after) = (kernel_fates(&before), kernel_fates(&after));
    assert_eq!(k_before, k_after, "kernel fates changed by collapsing");
    assert_eq!(sim_fates(&before), k_before, "simulator vs kernel, before");
    assert_eq!(sim_fates(&after), k_after, "simulator vs kernel, after");
    // The ACCEPT in between still lets .2 reach port 22 and nothing else.
    assert!(k_after.contains(&(
        "203.0.113.2 → :22".to_string(),
        Fate::Delivered {
            seen_src: "203.0.113.2".parse().unwrap()
        }
    )));
    assert!(k_after.contains(&("203.0.113.2 → :80".to_string(), Fate::Dropped)));
    assert!(k_after.contains(&("203.0.113.9 → :80".to_string(), Fate::Rejected)));
}
