//! The built-in profiles end to end: each policy is lowered by rampart-policy, compiled by
//! rampart-nft, loaded with `nft -f` into a fresh lab's host namespace, and real probes must
//! meet the fates written here; the simulator, given the same ruleset and host, must
//! predict the same fates (one expectation through both paths).

use std::time::Instant;

use rampart_nft::{compile, CompileOptions};
use rampart_policy::Policy;
use rampart_ruleset::Source;
use rampart_sim::{Host, Simulator};
use rampart_testkit::{require, Need};

use super::spec::{parse_probes, Origin};
use super::{build_lab, describe, diff, peer_role, Topology, HOST, TIMEOUT};

const WEBSERVER_HOST: &str = "interface eth0 203.0.113.5/24 2001:db8:5::5/64
route default via 203.0.113.1 dev eth0
forwarding no
";

const ROUTER_HOST: &str = "interface eth0 192.0.2.1/24
interface ppp0 203.0.113.2/24
route default via 203.0.113.1 dev ppp0
forwarding yes
";

/// Runs one profile: the probes' fates in the kernel (nft) and in the simulator must equal
/// the expected ones.
fn run_profile(name: &str, policy: &str, host_text: &str, probes_text: &str) {
    if !require(&[Need::Root]) {
        return;
    }
    let started = Instant::now();
    let ruleset = Policy::parse(&Source::new(format!("{name}.toml"), policy))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_ruleset(|p| panic!("{name}: unexpected import {p}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .ruleset;
    let host = Host::parse(host_text).unwrap_or_else(|e| panic!("{name} host: {e}"));
    let probes = parse_probes(probes_text).unwrap_or_else(|e| panic!("{name} probes: {e}"));
    let topo = Topology::plan(&host, &probes).unwrap_or_else(|e| panic!("{name}: {e}"));

    // The simulator's predictions, one simulator across the probes as in the kernel.
    let mut sim = Simulator::new(&ruleset, host);
    let predictions: Vec<diff::Prediction> = probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            diff::predict(
                &mut sim,
                &topo,
                p,
                1.0 + i as f64 * diff::PROBE_INTERVAL,
                40000 + i as u16,
            )
        })
        .collect();

    // The kernel, through the nft compiler.
    let script = compile(&ruleset, &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{name}: the profile does not compile to nft: {e}"));
    let lab = build_lab(&topo).unwrap_or_else(|e| panic!("{name}: building the lab: {e}"));
    let file = std::env::temp_dir().join(format!("{}-profile-{name}.nft", lab.id()));
    std::fs::write(&file, script.text()).unwrap();
    let loaded = lab.exec(HOST, &["nft", "-f", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    loaded.unwrap_or_else(|e| panic!("{name}: nft -f: {e}\n{}", script.text()));

    let mut failures = Vec::new();
    for (p, predicted) in probes.iter().zip(&predictions) {
        let from = match &p.origin {
            Origin::In(i) => peer_role(i),
            Origin::Local => HOST.to_owned(),
        };
        match lab.probe(&from, &p.probe, TIMEOUT) {
            Ok(got) if Some(got) == p.expect => {}
            Ok(got) => failures.push(format!(
                "{name} line {}: `{}`: kernel (nft) says {}",
                p.line,
                p.text,
                describe(&got)
            )),
            Err(e) => failures.push(format!(
                "{name} line {}: `{}`: probe failed: {e}",
                p.line, p.text
            )),
        }
        if Some(predicted.fate) != p.expect {
            failures.push(format!(
                "{name} line {}: `{}`: simulator says {}\n{}",
                p.line,
                p.text,
                describe(&predicted.fate),
                predicted.log
            ));
        }
    }
    eprintln!(
        "profile {name}: {} probes in {:?}",
        probes.len(),
        started.elapsed()
    );
    if !failures.is_empty() {
        let listing = lab
            .exec(HOST, &["nft", "list", "table", "inet", "rampart"])
            .unwrap_or_else(|e| e.to_string());
        panic!(
            "{} failures:\n{}\n--- nft list table inet rampart:\n{listing}",
            failures.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn webserver_profile_in_the_kernel() {
    run_profile(
        "webserver",
        "profile = \"webserver\"\n",
        WEBSERVER_HOST,
        "tcp 203.0.113.5:22 from 198.51.100.7 in eth0 => delivered
tcp 203.0.113.5:80 from 198.51.100.7 in eth0 => delivered
tcp 203.0.113.5:443 from 198.51.100.7 in eth0 => delivered
tcp 203.0.113.5:25 from 198.51.100.7 in eth0 => dropped
udp 203.0.113.5:53 from 198.51.100.7 in eth0 => dropped
icmp 203.0.113.5 from 198.51.100.7 in eth0 => delivered
tcp 198.51.100.7:80 from 203.0.113.5 local => delivered
udp 198.51.100.7:53 from 203.0.113.5 local => delivered
icmp 198.51.100.7 from 203.0.113.5 local => delivered
tcp [2001:db8:5::5]:22 from 2001:db8:5::7 in eth0 => delivered
tcp [2001:db8:5::5]:443 from 2001:db8:5::7 in eth0 => delivered
tcp [2001:db8:5::5]:25 from 2001:db8:5::7 in eth0 => dropped
icmp 2001:db8:5::5 from 2001:db8:5::7 in eth0 => delivered
",
    );
}

#[test]
fn webserver_reject_refuses_closed_ports() {
    run_profile(
        "webserver-reject",
        "[input]\npolicy = \"reject\"\n",
        WEBSERVER_HOST,
        "tcp 203.0.113.5:22 from 198.51.100.7 in eth0 => delivered
tcp 203.0.113.5:25 from 198.51.100.7 in eth0 => rejected
udp 203.0.113.5:53 from 198.51.100.7 in eth0 => rejected
tcp [2001:db8:5::5]:25 from 2001:db8:5::7 in eth0 => rejected
",
    );
}

#[test]
fn hardened_profile_in_the_kernel() {
    run_profile(
        "hardened",
        "profile = \"hardened\"\n",
        WEBSERVER_HOST,
        "tcp 203.0.113.5:22 from 198.51.100.7 in eth0 => delivered
tcp 203.0.113.5:80 from 198.51.100.7 in eth0 => dropped
icmp 203.0.113.5 from 198.51.100.7 in eth0 => dropped
tcp 198.51.100.7:443 from 203.0.113.5 local => delivered
udp 198.51.100.7:53 from 203.0.113.5 local => delivered
udp 198.51.100.7:123 from 203.0.113.5 local => delivered
tcp [2001:db8:5::5]:22 from 2001:db8:5::7 in eth0 => delivered
tcp [2001:db8:5::7]:80 from 2001:db8:5::5 local => delivered
",
    );
}

#[test]
fn router_profile_in_the_kernel() {
    run_profile(
        "router",
        "profile = \"router\"\n[router]\nlan = \"eth0\"\nwan = \"ppp0\"\n",
        ROUTER_HOST,
        "tcp 198.51.100.7:80 from 192.0.2.10 in eth0 => delivered seen 203.0.113.2
tcp 198.51.100.7:443 from 192.0.2.10 in eth0 => delivered seen 203.0.113.2
udp 198.51.100.7:53 from 192.0.2.10 in eth0 => delivered seen 203.0.113.2
icmp 198.51.100.7 from 192.0.2.10 in eth0 => delivered seen 203.0.113.2
tcp 192.0.2.10:22 from 198.51.100.7 in ppp0 => dropped
icmp 192.0.2.10 from 198.51.100.7 in ppp0 => dropped
tcp 192.0.2.1:22 from 192.0.2.10 in eth0 => delivered
tcp 203.0.113.2:22 from 198.51.100.7 in ppp0 => delivered
tcp 203.0.113.2:80 from 198.51.100.7 in ppp0 => dropped
tcp 198.51.100.7:80 from 203.0.113.2 local => delivered
",
    );
}

#[test]
fn router_snat_in_the_kernel() {
    run_profile(
        "router-snat",
        "profile = \"router\"\n[router]\nlan = \"eth0\"\nwan = \"ppp0\"\nsnat = \"203.0.113.2\"\n",
        ROUTER_HOST,
        "tcp 198.51.100.7:80 from 192.0.2.10 in eth0 => delivered seen 203.0.113.2
tcp 192.0.2.10:22 from 198.51.100.7 in ppp0 => dropped
",
    );
}

/// `rampart up` through the binary in the lab's host namespace: it refuses a policy that
/// would drop the admin's SSH source (nothing applied), applies the shipped example, and
/// `rampart down` removes the table again.
#[test]
fn up_refuses_a_lockout_then_applies_and_down_removes() {
    if !require(&[Need::Root]) {
        return;
    }
    let probes = parse_probes(
        "tcp 203.0.113.5:22 from 198.51.100.7 in eth0 => delivered
tcp 203.0.113.5:25 from 198.51.100.7 in eth0 => dropped
",
    )
    .unwrap();
    let host = Host::parse(WEBSERVER_HOST).unwrap();
    let topo = Topology::plan(&host, &probes).unwrap();
    let lab = build_lab(&topo).unwrap_or_else(|e| panic!("building the lab: {e}"));
    let dir = std::env::temp_dir().join(format!("{}-up", lab.id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("no-ssh.toml");
    std::fs::write(&bad, "[input]\ntcp = [80, 443]\n").unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/rampart.toml");
    let up = |policy: &str| {
        let args: Vec<String> = [
            "up",
            "--policy",
            policy,
            "--no-confirm",
            "--state-dir",
            dir.join("state").to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        lab.command(HOST, env!("CARGO_BIN_EXE_rampart"), &args)
            .unwrap()
            .env("SSH_CONNECTION", "198.51.100.7 50000 203.0.113.5 22")
            .output()
            .unwrap()
    };
    let tables = || lab.exec(HOST, &["nft", "list", "tables"]).unwrap();

    let out = up(bad.to_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up applied a lockout policy");
    assert!(
        stderr.contains(
            "LOCKOUT new SSH connection 198.51.100.7 → 203.0.113.5:22 (in eth0): dropped by filter:INPUT policy"
        ),
        "{stderr}"
    );
    assert!(!tables().contains("rampart"), "nothing may be applied");

    let out = up(example);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tables().contains("table inet rampart"));
    for p in &probes {
        let got = lab.probe(&peer_role("eth0"), &p.probe, TIMEOUT).unwrap();
        assert_eq!(Some(got), p.expect, "{}", p.text);
    }

    let down = lab
        .command(
            HOST,
            env!("CARGO_BIN_EXE_rampart"),
            &[
                "down".to_string(),
                "--state-dir".to_string(),
                dir.join("state").display().to_string(),
            ],
        )
        .unwrap()
        .output()
        .unwrap();
    assert!(down.status.success());
    assert!(!tables().contains("rampart"));
    let _ = std::fs::remove_dir_all(&dir);
}
