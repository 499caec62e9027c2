//! The lab's flood generator and HTTP probe, in a real `rampart lab`
//! topology (server, clients, attackers on one bridge): floods arrive at the
//! server as many as were sent, with valid checksums, from spoofed sources
//! inside the range asked for; a connect flood holds its connections; the
//! generator refuses to run outside the lab's namespaces; the HTTP probe
//! counts what a legit client gets.
//!
//! Each test builds its own lab, `rampart-t<pid>-<n>-*`, so it never meets
//! a real `rampart-lab-*` lab on the machine.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use rampart_lab::flood::{flood_here, FloodKind, FloodSpec, Spoof};
use rampart_lab::http::HttpLoad;
use rampart_lab::{topology, Lab};
use rampart_prefix::Prefix;
use rampart_testkit::{require, Need, Netns};

use crate::lab;

/// A full lab topology under a test prefix, removed on drop.
pub(crate) fn lab_up(tag: &str) -> Lab {
    let prefix = format!("{}{}-{tag}", lab::NS_PREFIX, std::process::id());
    let _ = lab::remove_lab(&prefix);
    topology::up(&prefix).unwrap_or_else(|e| panic!("building the lab {prefix}: {e}"))
}

/// A counter and a set of the sources seen, for packets to `proto dport`
/// arriving at the server (prerouting: before any socket or checksum check).
fn watch_server(lab: &Lab, family: &str, proto: &str, dport: u16) {
    let (ty, saddr) = if family == "ip" {
        ("ipv4_addr", "ip saddr")
    } else {
        ("ipv6_addr", "ip6 saddr")
    };
    lab.load_nft(
        "server",
        &format!(
            "table inet watch {{
               set seen {{ type {ty}; flags dynamic; size 65536; }}
               chain pre {{
                 type filter hook prerouting priority -300;
                 meta nfproto {} {proto} dport {dport} counter add @seen {{ {saddr} }}
               }}
             }}",
            if family == "ip" { "ipv4" } else { "ipv6" }
        ),
    )
    .unwrap();
}

/// (packets counted, sources seen) at the server.
fn server_saw(lab: &Lab) -> (u64, BTreeSet<IpAddr>) {
    let out = lab
        .exec("server", &["nft", "-j", "list", "table", "inet", "watch"])
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut packets = None;
    let mut seen = BTreeSet::new();
    for item in v["nftables"].as_array().unwrap() {
        if let Some(rule) = item.get("rule") {
            for e in rule["expr"].as_array().unwrap() {
                if let Some(c) = e.get("counter") {
                    packets = c["packets"].as_u64();
                }
            }
        }
        if let Some(set) = item.get("set") {
            for el in set["elem"].as_array().into_iter().flatten() {
                let text = el
                    .as_str()
                    .or_else(|| el["elem"]["val"].as_str())
                    .unwrap_or_else(|| panic!("set element {el}"));
                seen.insert(text.parse().unwrap());
            }
        }
    }
    (packets.expect("a counter"), seen)
}

/// `Tcp:`/`Udp:` InCsumErrors of the server (IPv4), and Udp6InCsumErrors.
fn checksum_errors(lab: &Lab) -> u64 {
    let snmp = lab.exec("server", &["cat", "/proc/net/snmp"]).unwrap();
    let mut total = 0;
    let lines: Vec<&str> = snmp.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let n: Vec<&str> = names.split_whitespace().collect();
        let v: Vec<&str> = values.split_whitespace().collect();
        if let Some(i) = n.iter().position(|x| *x == "InCsumErrors") {
            total += v[i].parse::<u64>().unwrap();
        }
    }
    let snmp6 = lab.exec("server", &["cat", "/proc/net/snmp6"]).unwrap();
    for l in snmp6.lines() {
        let mut f = l.split_whitespace();
        if let (Some("Udp6InCsumErrors" | "Tcp6InCsumErrors"), Some(v)) = (f.next(), f.next()) {
            total += v.parse::<u64>().unwrap();
        }
    }
    total
}

fn rampart(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .output()
        .expect("the rampart binary runs");
    assert!(
        out.status.success(),
        "rampart {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rampart lab flood syn --count 500 --spoof 192.0.2.0/26`: 500 SYNs reach
/// the server, none with a bad checksum, every source inside 192.0.2.0/26:
/// its 62 host addresses but the attackers' own .31 and .32 (the lab's
/// addresses are never spoofed, so their replies stay out of the way).
#[test]
fn flood_syn_arrives_from_spoofed_sources() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("fsyn");
    watch_server(&lab, "ip", "tcp", 80);
    let out = rampart(&[
        "lab",
        "--prefix",
        lab.id(),
        "flood",
        "syn",
        "--from",
        "attacker1",
        "--to",
        "server:80",
        "--rate",
        "5000",
        "--duration",
        "5",
        "--count",
        "500",
        "--spoof",
        "192.0.2.0/26",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["sent"], 500, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["sources"], 60, "{report}");
    std::thread::sleep(Duration::from_millis(200));
    let (packets, seen) = server_saw(&lab);
    assert_eq!(packets, 500, "SYNs counted at the server");
    let range: Prefix = "192.0.2.0/26".parse().unwrap();
    assert_eq!(seen.len(), 60, "{seen:?}");
    assert!(seen.iter().all(|ip| range.contains(*ip)), "{seen:?}");
    for host in ["192.0.2.31", "192.0.2.32"] {
        assert!(!seen.contains(&host.parse().unwrap()), "{host} spoofed");
    }
    assert_eq!(checksum_errors(&lab), 0, "the server saw bad checksums");
}

/// An IPv6 UDP flood with 40 spoofed sources from 2001:db8::/32 (the
/// default range of the family), through the library.
#[test]
fn flood_udp6_spoofed_sources() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("fudp");
    watch_server(&lab, "ip6", "udp", 53);
    let server = topology::host("server").unwrap();
    let spec = FloodSpec {
        kind: FloodKind::Udp,
        dst: (server.ip6(), 53).into(),
        rate: 10_000,
        duration: Duration::from_secs(5),
        count: Some(400),
        spoof: Some(Spoof {
            prefixes: vec![],
            count: Some(40),
        }),
        seed: 7,
    };
    let report = lab.flood("attacker2", &spec).unwrap();
    assert_eq!((report.sent, report.errors), (400, 0), "{report:?}");
    std::thread::sleep(Duration::from_millis(200));
    let (packets, seen) = server_saw(&lab);
    assert_eq!(packets, 400);
    assert_eq!(seen.len(), 40, "{seen:?}");
    assert!(seen.iter().all(|ip| lab::is_documentation(*ip)), "{seen:?}");
    assert_eq!(checksum_errors(&lab), 0, "the server saw bad checksums");
}

/// A namespace that is not the lab's (a fresh test namespace, and this
/// test's own thread): refused before anything is sent.
#[test]
fn flood_refuses_outside_the_lab() {
    if !require(&[Need::Root]) {
        return;
    }
    let lab = lab_up("fref");
    let spec = FloodSpec {
        kind: FloodKind::Syn,
        dst: "203.0.113.10:80".parse().unwrap(),
        rate: 10,
        duration: Duration::from_secs(1),
        count: Some(1),
        spoof: None,
        seed: 1,
    };
    let stranger = Netns::fresh("not-a-lab");
    let e = stranger
        .run_in(|| flood_here(lab.id(), &spec, &[]))
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("refusing to flood"), "{e}");
    let e = flood_here(lab.id(), &spec, &[]).unwrap_err();
    assert!(e.to_string().contains("refusing to flood"), "{e}");
    // The same call from inside the lab goes through.
    assert_eq!(lab.flood("attacker1", &spec).unwrap().sent, 1);
}

/// `flood connect --count 150` holds 150 established connections at the
/// server (counted there with `ss`) until the flood ends; a legit client's
/// probe is served meanwhile.
#[test]
fn flood_connect_holds_connections() {
    if !require(&[Need::Root, Need::Tool("ss")]) {
        return;
    }
    let lab = lab_up("fcon");
    let server = lab.serve_http("server", 80).unwrap();
    let spec = FloodSpec {
        kind: FloodKind::Connect,
        dst: "203.0.113.10:80".parse().unwrap(),
        rate: 1000,
        duration: Duration::from_secs(3),
        count: Some(150),
        spoof: None,
        seed: 1,
    };
    let (report, held, probe) = std::thread::scope(|s| {
        let flood = s.spawn(|| lab.flood("attacker1", &spec));
        std::thread::sleep(Duration::from_millis(1500));
        let ss = lab
            .exec(
                "server",
                &[
                    "ss",
                    "-Htn",
                    "state",
                    "established",
                    "( sport = :80 and dst 192.0.2.31 )",
                ],
            )
            .unwrap();
        let load = HttpLoad {
            dst: spec.dst,
            rate: 20,
            duration: Duration::from_millis(500),
            count: None,
            timeout: Duration::from_secs(1),
        };
        let probe = lab.http_load("client1", &load).unwrap();
        (flood.join().unwrap().unwrap(), ss.lines().count(), probe)
    });
    assert_eq!(held, 150, "connections held at the server");
    let c = report.connections.expect("connect stats");
    assert_eq!((c.opened, c.established), (150, 150), "{report:?}");
    assert_eq!((probe.requests, probe.ok), (10, 10), "{probe:?}");
    assert!(server.served() >= 10);
}

/// The HTTP probe counts successes, and failures by kind: served, then the
/// server drops client2's packets (timeouts), then rejects them (refused).
#[test]
fn probe_counts_successes_and_failures() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("fprb");
    let _server = lab.serve_http("server", 80).unwrap();
    let load = HttpLoad {
        dst: "203.0.113.10:80".parse().unwrap(),
        rate: 20,
        duration: Duration::from_secs(1),
        count: None,
        timeout: Duration::from_millis(300),
    };
    let r = lab.http_load("client2", &load).unwrap();
    assert_eq!((r.requests, r.ok, r.failed), (20, 20, 0), "{r:?}");
    assert_eq!(r.success_rate, 1.0);
    assert!(r.latency_ms.p50 > 0.0 && r.latency_ms.p50 <= r.latency_ms.max);

    lab.load_nft(
        "server",
        "table inet t {\n chain input {\n type filter hook input priority 0\n \
         ip saddr 198.51.100.22 drop\n }\n }\n",
    )
    .unwrap();
    let r = lab.http_load("client2", &load).unwrap();
    assert_eq!((r.requests, r.ok), (20, 0), "{r:?}");
    assert_eq!(r.failures.get("timeout"), Some(&20), "{r:?}");

    lab.load_nft(
        "server",
        "delete table inet t\ntable inet t {\n chain input {\n type filter hook input \
         priority 0\n ip saddr 198.51.100.22 reject with tcp reset\n }\n }\n",
    )
    .unwrap();
    let out = rampart(&[
        "lab",
        "--prefix",
        lab.id(),
        "probe",
        "--from",
        "client2",
        "--to",
        "server:80",
        "--rate",
        "20",
        "--duration",
        "1",
        "--timeout",
        "300",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["requests"], 20, "{j}");
    assert_eq!(j["ok"], 0, "{j}");
    assert_eq!(j["failures"]["refused"], 20, "{j}");
    // client1 is not affected.
    let r = lab.http_load("client1", &load).unwrap();
    assert_eq!(r.ok, 20, "{r:?}");
}
