//! `[flood]` in the lab, under real floods from the lab's generator: a policy applied on
//! the server with `rampart up`, attackers flooding its HTTP server while a legit client
//! is measured.

use std::time::Duration;

use rampart_lab::flood::{FloodKind, FloodReport, FloodSpec, Spoof};
use rampart_lab::http::{HttpLoad, HttpReport};
use rampart_lab::Lab;
use rampart_testkit::{require, Need};

use crate::guard::{rampart, Files};
use crate::lab_flood::lab_up;

const SERVER_HTTP: &str = "203.0.113.10:80";
const ATTACKER1: &str = "192.0.2.31";
const ATTACKER2: &str = "192.0.2.32";
const CLIENT1: &str = "198.51.100.21";

/// Writes `policy` and applies it on the lab's server with `rampart up`.
fn up(lab: &Lab, policy: &str) -> Files {
    let files = Files::new(lab.id(), policy);
    let file = files.policy.display().to_string();
    rampart(lab, &files, &["up", "--policy", &file, "--no-confirm"]);
    files
}

fn connect(rate: u64, secs: f64, count: u64) -> FloodSpec {
    FloodSpec {
        kind: FloodKind::Connect,
        dst: SERVER_HTTP.parse().unwrap(),
        rate,
        duration: Duration::from_secs_f64(secs),
        count: Some(count),
        spoof: None,
        seed: 1,
    }
}

fn http(rate: u64, secs: f64) -> HttpLoad {
    HttpLoad {
        dst: SERVER_HTTP.parse().unwrap(),
        rate,
        duration: Duration::from_secs_f64(secs),
        count: None,
        timeout: Duration::from_secs(1),
    }
}

/// Runs floods from the attackers and a legit client's load at once.
fn under_attack(
    lab: &Lab,
    floods: &[(&str, FloodSpec)],
    client: &HttpLoad,
) -> (Vec<FloodReport>, HttpReport) {
    std::thread::scope(|s| {
        let running: Vec<_> = floods
            .iter()
            .map(|(from, spec)| s.spawn(move || lab.flood(from, spec).unwrap()))
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let probe = lab.http_load("client1", client).unwrap();
        let reports = running.into_iter().map(|t| t.join().unwrap()).collect();
        (reports, probe)
    })
}

/// A connection flood from attacker1 over its per-source limit gets it banned by the
/// kernel (visible in `rampart block list` with the limit that banned it); attacker2,
/// under the limit, and the legit client are untouched.
#[test]
fn connection_flood_bans_only_the_source_over_the_limit() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("fdban");
    let _http = lab.serve_http("server", 80).unwrap();
    let server = up(
        &lab,
        "profile = \"webserver\"\n[[flood.limit]]\nname = \"web\"\ntcp = [80]\n\
         new = \"10/second\"\nburst = 20\naction = \"ban\"\n",
    );
    let (reports, probe) = under_attack(
        &lab,
        &[
            ("attacker1", connect(300, 1.5, 300)),
            ("attacker2", connect(5, 1.5, 7)),
        ],
        &http(5, 1.0),
    );
    let a1 = reports[0].connections.expect("connect stats");
    let a2 = reports[1].connections.expect("connect stats");
    // Burst 20, then about 10/s while the flood lasts; after the crossing packet the
    // kernel drops everything attacker1 sends.
    assert!(
        (20..=24).contains(&a1.established),
        "attacker1 established {} of {}: {a1:?}",
        a1.established,
        a1.opened
    );
    assert_eq!(a2.established, 7, "attacker2 is under the limit: {a2:?}");
    assert_eq!(
        (probe.requests, probe.ok),
        (5, 5),
        "legit client: {probe:?}"
    );
    let list = rampart(&lab, &server, &["block", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("flood:web") && l.contains(ATTACKER1)),
        "{list}"
    );
    assert!(!list.contains(ATTACKER2), "{list}");
    assert!(!list.contains(CLIENT1), "{list}");
}

/// The guides' port-80 rules (`http = true`: 50 new connections a minute, burst 200, per
/// source): the 201st new connection within the minute is dropped, the 200 established
/// ones stay open, and another source is served.
#[test]
fn guides_port_80_rules_drop_the_201st_new_connection() {
    if !require(&[Need::Root, Need::Tool("nft"), Need::Tool("ss")]) {
        return;
    }
    let lab = lab_up("fd80");
    let _http = lab.serve_http("server", 80).unwrap();
    let _server = up(&lab, "profile = \"webserver\"\n[flood]\nhttp = true\n");
    let (reports, probe) = under_attack(
        &lab,
        &[("attacker1", connect(250, 2.0, 250))],
        &http(5, 1.0),
    );
    let a1 = reports[0].connections.expect("connect stats");
    // 50/minute adds less than one token in the two seconds.
    assert!(
        (200..=201).contains(&a1.established),
        "established {} of {}: {a1:?}",
        a1.established,
        a1.opened
    );
    assert_eq!(
        a1.pending + a1.refused,
        a1.opened - a1.established,
        "{a1:?}"
    );
    assert_eq!(
        (probe.requests, probe.ok),
        (5, 5),
        "another source: {probe:?}"
    );
}

/// A SYN flood from spoofed sources at the generator's rate, many more sources than the
/// meter tracks: with `rampart harden` applied in the server's namespace (SYN cookies,
/// backlog) and a per-source meter on port 80, the legit client's success rate stays at
/// 99 % or more; without the hardening the figure is printed beside it.
#[test]
fn spoofed_syn_flood_leaves_the_server_serving() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("fdsyn");
    let _http = lab.serve_http("server", 80).unwrap();
    let _server = up(
        &lab,
        "profile = \"webserver\"\n[flood]\nmeter_size = 16\n[[flood.limit]]\nname = \"web\"\n\
         tcp = [80]\nnew = \"20/second\"\nburst = 40\ntotal = \"100000/second\"\ntotal_burst = 10000\n",
    );
    let flood = || FloodSpec {
        kind: FloodKind::Syn,
        dst: SERVER_HTTP.parse().unwrap(),
        rate: 20_000,
        duration: Duration::from_secs(3),
        count: None,
        spoof: Some(Spoof {
            prefixes: vec!["192.0.2.0/24".parse().unwrap()],
            count: Some(200),
        }),
        seed: 3,
    };
    // Unprotected: no SYN cookies, a small backlog.
    lab.sysctls(
        "server",
        &[
            ("net.ipv4.tcp_syncookies", "0"),
            ("net.ipv4.tcp_max_syn_backlog", "128"),
        ],
    )
    .unwrap();
    let (_, off) = under_attack(&lab, &[("attacker1", flood())], &http(10, 2.0));
    // Protected: `rampart harden --apply` inside the server's namespace.
    let out = lab
        .command(
            "server",
            env!("CARGO_BIN_EXE_rampart"),
            // Inside a namespace it writes no file unless told to.
            &["harden".to_string(), "--apply".to_string()],
        )
        .unwrap()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "harden --apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (reports, on) = under_attack(&lab, &[("attacker1", flood())], &http(10, 2.0));
    eprintln!(
        "SYN flood at {:.0}/s from 200 spoofed sources: legit success {:.1} % unprotected, {:.1} % protected",
        reports[0].rate_achieved,
        off.success_rate * 100.0,
        on.success_rate * 100.0
    );
    assert!(on.success_rate >= 0.99, "protected: {on:?}");
}
