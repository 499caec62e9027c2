//! `rampart lint`, `rampart diff`, `rampart exposure` on hand-made rulesets.

use crate::util::rampart;

#[test]
fn lint_names_the_shadowed_rule_and_its_shadowers_and_exits_1() {
    let out = rampart(&["lint", "testdata/analysis/anomalies.rules"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "testdata/analysis/anomalies.rules:9: filter:INPUT rule 3: error: shadowed: every packet \
         it matches is decided earlier, differently, by filter:INPUT rule 1, filter:INPUT rule 2 \
         (together)"
    );
    assert_eq!(
        lines[1],
        "  = see testdata/analysis/anomalies.rules:7: filter:INPUT rule 1"
    );
    assert!(out.stdout.contains(
        "testdata/analysis/anomalies.rules:13: filter:INPUT rule 7: error: after-unconditional"
    ));
    assert!(out
        .stdout
        .contains("filter:leftover: warning: unreachable-chain"));
    // The DROP after the rate-limited ACCEPT is redundant (the catch-all DROP decides
    // alike), never shadowed by the limit.
    assert!(!out.stdout.contains("rule 5: error"));
    assert!(out.stdout.ends_with(
        "testdata/analysis/anomalies.rules: 8 rules, 2 error(s), 2 warning(s), 0 note(s)\n"
    ));
}

#[test]
fn lint_json_lists_findings_and_a_clean_example_exits_0() {
    let out = rampart(&["lint", "testdata/analysis/anomalies.rules", "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let first = &v["findings"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["kind"], "shadowed");
    assert_eq!(first["rules"][0]["line"], 9);
    assert_eq!(first["rules"][0]["chain"], "INPUT");
    let out = rampart(&["lint", "examples/webserver.sh"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "examples/webserver.sh: 6 rules, 0 error(s), 0 warning(s), 0 note(s)\n"
    );
}

#[test]
fn diff_lists_the_packet_classes_that_change_fate() {
    let out = rampart(&[
        "diff",
        "testdata/analysis/old.rules",
        "testdata/analysis/new.rules",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "packets whose fate changes from testdata/analysis/old.rules to testdata/analysis/new.rules:\n  \
         ipv4 input: tcp from not 198.51.100.0/24 to port 22 (state not ESTABLISHED,RELATED): ACCEPT → DROP\n  \
         ipv4 input: tcp from not 203.0.113.0/24 to port 443 (state not ESTABLISHED,RELATED): DROP → ACCEPT\n  \
         ipv4 input: tcp from anywhere to port 8080 (state not ESTABLISHED,RELATED): DROP → ACCEPT\n"
    );
    let same = rampart(&[
        "diff",
        "testdata/analysis/old.rules",
        "testdata/analysis/old.rules",
    ]);
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert!(same.stdout.starts_with("no packet changes fate"));
    let json = rampart(&[
        "diff",
        "testdata/analysis/old.rules",
        "testdata/analysis/new.rules",
        "--json",
    ]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let c = &v["changes"][2];
    assert_eq!(c["class"]["dport"], "8080");
    assert_eq!(c["before"][0], "DROP");
    assert_eq!(c["after"][0], "ACCEPT");
}

#[test]
fn exposure_is_a_service_matrix_with_the_lockout_check() {
    let out = rampart(&[
        "exposure",
        "testdata/analysis/new.rules",
        "--admin",
        "198.51.100.20",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "new connections to this host allowed by testdata/analysis/new.rules:\n  \
         ipv4 tcp 22           from 198.51.100.0/24\n  \
         ipv4 tcp 443,8080     from anywhere\n\
         lockout check: new SSH connection from 198.51.100.20 to port 22: ok\n"
    );
    let out = rampart(&[
        "exposure",
        "testdata/analysis/new.rules",
        "--admin",
        "203.0.113.9",
        "--json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["lockout_check"][0]["access"], "closed");
    assert_eq!(v["services"][0]["from"], "198.51.100.0/24");
}

#[test]
fn a_missing_chain_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.rules");
    std::fs::write(
        &p,
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j nowhere\nCOMMIT\n",
    )
    .unwrap();
    let out = rampart(&["lint", p.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("nowhere"), "{}", out.stderr);
}

/// The block lists of the state directory are before the policy, as in the kernel: a
/// blocked network is an address class of its own, and a blocked admin is a lockout.
#[test]
fn exposure_includes_the_block_lists_of_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = rampart_kernel::StateDir::new(dir.path().join("state"));
    let store = rampart_enforce::Store::new(state.clone());
    let mut list = rampart_block::List::new(rampart_block::ListName::new("abusers").unwrap());
    list.insert("198.51.100.0/25".parse().unwrap(), Some("abuse".into()));
    store.save(&list).unwrap();
    let out = rampart(&[
        "exposure",
        "testdata/analysis/new.rules",
        "--admin",
        "198.51.100.20",
        "--state-dir",
        state.root().to_str().unwrap(),
    ]);
    assert_eq!(
        out.code, 1,
        "the admin's /25 is blocked: {}{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout
            .contains("block lists included: 1 list (1 prefix), 0 timed bans"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("from 198.51.100.0/24\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("lockout check: new SSH connection from 198.51.100.20 to port 22"),
        "{}",
        out.stdout
    );
}

/// A DNAT to an inner host: the connections go through FORWARD (as the kernel routes
/// them), `exposure` lists the forwarded port with its target, `diff` shows it opening.
#[test]
fn a_port_forward_is_exposed_and_diffed_through_forward() {
    let out = rampart(&[
        "exposure",
        "testdata/analysis/portforward.sh",
        "--admin",
        "192.0.2.7",
    ]);
    assert!(matches!(out.code, 0 | 1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "\n  ipv4 tcp 8080 → 192.0.2.10:80 (forwarded) from anywhere when in ppp0, out eth0\n"
        ),
        "{}",
        out.stdout
    );
    let out = rampart(&[
        "diff",
        "examples/router.sh",
        "testdata/analysis/portforward.sh",
        "--host",
        "examples/router.host",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "  ipv4 input: tcp from anywhere to port 8080 (state NEW, in ppp0, out eth0): \
             DROP → ACCEPT (DNAT to 192.0.2.10:80) (forwarded)\n"
        ),
        "{}",
        out.stdout
    );
    // A host description that does not parse is said, with where.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.host");
    std::fs::write(&bad, "interface eth0 not-an-address\n").unwrap();
    let out = rampart(&[
        "diff",
        "examples/router.sh",
        "testdata/analysis/portforward.sh",
        "--host",
        bad.to_str().unwrap(),
    ]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("bad.host"), "{}", out.stderr);
    // A DNAT to the router's own LAN address: with the host description it reaches
    // INPUT's port 22 (so the DNAT matters); without, the address is not known to be the
    // router's, the translated packets meet FORWARD's DROP as untranslated ones would, and
    // the DNAT is redundant.
    let local = dir.path().join("local.sh");
    std::fs::write(
        &local,
        "iptables -P INPUT DROP
iptables -P FORWARD DROP
         iptables -A INPUT -p tcp --dport 22 -j ACCEPT
         iptables -t nat -A PREROUTING -i ppp0 -p tcp --dport 2222 -j DNAT --to-destination 192.0.2.1:22
",
    )
    .unwrap();
    let out = rampart(&["lint", local.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("nat:PREROUTING rule 1: warning: redundant"),
        "{}",
        out.stdout
    );
    let out = rampart(&[
        "lint",
        local.to_str().unwrap(),
        "--host",
        "examples/router.host",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("redundant"), "{}", out.stdout);
    assert!(out.stdout.contains(" 0 warning(s)"), "{}", out.stdout);
    // lint needs a file unless it reads the kernel's counters.
    let out = rampart(&["lint"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("<FILE>"), "{}", out.stderr);
}
