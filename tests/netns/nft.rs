//! The nft differential: each example's ruleset is compiled by rampart-nft and loaded with
//! `nft -f` (no iptables at all) into the lab's host namespace; every probe must meet the
//! fate the `.probes` file pins from the kernel running the original iptables script.

use std::time::Instant;

use rampart_nft::{compile, CompileOptions};
use rampart_testkit::{require, Need};

use super::spec::Origin;
use super::{build_lab, describe, load_example, peer_role, HOST, TIMEOUT};

/// Compiles `examples/NAME.sh`, loads it with nft in a fresh lab and runs every probe.
fn run_compiled(name: &'static str) {
    if !require(&[Need::Root]) {
        return;
    }
    let started = Instant::now();
    let ex = load_example(name);
    let script = compile(&ex.ruleset, &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{name}.sh does not compile: {e}"));
    let probes = &ex.probes;
    let lab = build_lab(&ex.topo).unwrap_or_else(|e| panic!("{name}: building the lab: {e}"));
    let file = std::env::temp_dir().join(format!("{}-{name}.nft", lab.id()));
    std::fs::write(&file, script.text()).unwrap();
    let loaded = lab.exec(HOST, &["nft", "-f", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    loaded.unwrap_or_else(|e| panic!("{name}: nft -f of the compiled script: {e}"));
    let mut failures = Vec::new();
    for p in probes {
        let from = match &p.origin {
            Origin::In(i) => peer_role(i),
            Origin::Local => HOST.to_owned(),
        };
        match lab.probe(&from, &p.probe, TIMEOUT) {
            Ok(got) if Some(got) == p.expect => {}
            Ok(got) => failures.push(format!(
                "{name}.probes line {}: `{}`: kernel with compiled nft says {}",
                p.line,
                p.text,
                describe(&got)
            )),
            Err(err) => failures.push(format!(
                "{name}.probes line {}: `{}`: probe failed: {err}",
                p.line, p.text
            )),
        }
    }
    eprintln!(
        "{name} (nft): {} probes in {:?}",
        probes.len(),
        started.elapsed()
    );
    if !failures.is_empty() {
        let listing = lab
            .exec(HOST, &["nft", "list", "table", "inet", "rampart"])
            .unwrap_or_else(|e| e.to_string());
        panic!(
            "{} of {} probes differ:\n{}\n--- nft list table inet rampart:\n{listing}",
            failures.len(),
            probes.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn nft_webserver() {
    run_compiled("webserver");
}

#[test]
fn nft_default_deny() {
    run_compiled("default-deny");
}

#[test]
fn nft_syn_flood() {
    run_compiled("syn-flood");
}

#[test]
fn nft_port80_limit() {
    run_compiled("port80-limit");
}

#[test]
fn nft_router() {
    run_compiled("router");
}

#[test]
fn nft_router_fault_dropped() {
    run_compiled("router-fault-dropped");
}

#[test]
fn nft_router_fault_not_natted() {
    run_compiled("router-fault-not-natted");
}

#[test]
fn nft_router_fault_wrong_address() {
    run_compiled("router-fault-wrong-address");
}

/// Every example is covered here as it is by the iptables tests.
#[test]
fn nft_covers_every_example() {
    let me = include_str!("nft.rs");
    for name in super::EXAMPLES {
        assert!(
            me.contains(&format!("run_compiled(\"{name}\")")),
            "examples/{name}.sh has no nft differential test"
        );
    }
}
