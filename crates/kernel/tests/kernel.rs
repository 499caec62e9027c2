//! rampart-kernel against the real kernel, each test in a fresh network namespace of its
//! own (`rampart_testkit::Netns`, removed on drop). Never the machine's own namespace.
//!
//! Needs root, ip, nft and iptables: without them a test prints "skipped TEST: needs …"
//! and passes, unless `CI` is set, then it fails.

use rampart_kernel::{
    apply, down, parse_table, plan, restore, save, ApplyOptions, Nft, Outcome, StateDir,
};
use rampart_testkit::{require, Need, Netns};

/// What every test here needs (`iptables` for the table another tool owns).
const NEEDS: &[Need] = &[
    Need::Root,
    Need::Tool("ip"),
    Need::Tool("nft"),
    Need::Tool("iptables"),
];

const V1: &str = "table inet rampart {
\tset bans {
\t\ttype ipv4_addr
\t\tflags timeout
\t}
\tset blocklist {
\t\ttype ipv4_addr
\t\tflags interval
\t}
\tset gone {
\t\ttype ipv4_addr
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip saddr @bans drop
\t\tip saddr @blocklist drop
\t\tjump extra
\t\ttcp dport 22 counter accept comment \"ssh\"
\t}
\tchain extra {
\t\tip saddr @gone drop
\t}
}
";

const V2: &str = "table inet rampart {
\tset bans {
\t\ttype ipv4_addr
\t\tflags timeout
\t}
\tset blocklist {
\t\ttype ipv4_addr
\t\tflags interval
\t}
\tset allow {
\t\ttype ipv4_addr
\t\telements = { 198.51.100.1 }
\t}
\tchain input {
\t\ttype filter hook input priority filter + 10; policy drop;
\t\tip saddr @bans drop
\t\tip saddr @blocklist drop
\t\tip saddr @allow accept
\t\ttcp dport { 22, 443 } counter accept comment \"ssh, https\"
\t}
}
";

fn fill_sets(ns: &Netns) {
    ns.exec(&[
        "nft",
        "add",
        "element",
        "inet",
        "rampart",
        "bans",
        "{ 192.0.2.7 timeout 1h }",
    ]);
    ns.exec(&[
        "nft",
        "add",
        "element",
        "inet",
        "rampart",
        "blocklist",
        "{ 203.0.113.0/24 }",
    ]);
}

#[test]
fn reapply_keeps_set_elements_and_replaces_chains() {
    if !require(NEEDS) {
        return;
    }
    let ns = Netns::fresh("kernel");
    let nft = Nft::in_netns(ns.name());
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    fill_sets(&ns);
    let (outcome, _) = apply(&nft, V2, &ApplyOptions::default()).unwrap();
    assert_eq!(
        outcome,
        Outcome::Applied {
            recreated_sets: vec![]
        }
    );
    let l = nft.list_table().unwrap().unwrap();
    assert!(l.contains("192.0.2.7 timeout 1h"), "{l}");
    assert!(l.contains("203.0.113.0/24"), "{l}");
    assert!(l.contains("priority filter + 10"), "{l}");
    assert!(!l.contains("chain extra"), "{l}");
    assert!(!l.contains("set gone"), "{l}");
    assert!(l.contains("comment \"ssh, https\""), "{l}");
    // Back to V1: the policy-owned set `allow` goes, the runtime sets still keep theirs.
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    let l = nft.list_table().unwrap().unwrap();
    assert!(
        l.contains("192.0.2.7") && l.contains("203.0.113.0/24"),
        "{l}"
    );
    assert!(!l.contains("set allow"), "{l}");
}

#[test]
fn policy_owned_elements_are_replaced_and_incompatible_sets_recreated() {
    if !require(NEEDS) {
        return;
    }
    let ns = Netns::fresh("kernel");
    let nft = Nft::in_netns(ns.name());
    apply(&nft, V2, &ApplyOptions::default()).unwrap();
    let v3 = V2.replace("198.51.100.1 }", "198.51.100.2 }").replace(
        "\t\ttype ipv4_addr\n\t\tflags interval\n",
        "\t\ttype ipv4_addr\n\t\tflags interval,timeout\n",
    );
    let (outcome, _) = apply(&nft, &v3, &ApplyOptions::default()).unwrap();
    assert_eq!(
        outcome,
        Outcome::Applied {
            recreated_sets: vec!["blocklist".into()]
        }
    );
    let l = nft.list_table().unwrap().unwrap();
    assert!(
        l.contains("198.51.100.2") && !l.contains("198.51.100.1"),
        "{l}"
    );
    assert!(l.contains("flags interval,timeout"), "{l}");
}

#[test]
fn unchanged_reapply_does_not_touch_the_kernel() {
    if !require(NEEDS) {
        return;
    }
    let ns = Netns::fresh("kernel");
    let nft = Nft::in_netns(ns.name());
    let (_, rec) = apply(&nft, V1, &ApplyOptions::default()).unwrap();
    fill_sets(&ns);
    let opts = ApplyOptions {
        force: false,
        previous: Some(rec.clone()),
    };
    let (outcome, _) = apply(&nft, V1, &opts).unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    // Someone edits our table by hand: no longer unchanged.
    ns.exec(&[
        "nft", "add", "rule", "inet", "rampart", "input", "udp", "dport", "53", "accept",
    ]);
    let (outcome, _) = apply(&nft, V1, &opts).unwrap();
    assert!(matches!(outcome, Outcome::Applied { .. }));
    assert!(!nft.list_table().unwrap().unwrap().contains("dport 53"));
}

#[test]
fn a_failure_half_way_leaves_the_previous_table() {
    if !require(NEEDS) {
        return;
    }
    let ns = Netns::fresh("kernel");
    let nft = Nft::in_netns(ns.name());
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    fill_sets(&ns);
    let before = nft.list_table().unwrap().unwrap();
    let handles = || strip_expires(&ns.exec(&["nft", "-a", "list", "table", "inet", "rampart"]));
    let before_handles = handles();
    // The real transaction with a statement that fails in the kernel injected after
    // the flush and the chain deletions, run without the `nft -c` step.
    let cur = parse_table(&before).unwrap();
    let new = parse_table(V2).unwrap();
    let text = plan(Some(&cur), &new, V2, &[]);
    let (head, tail) = text.split_at(text.find("table inet rampart {").unwrap());
    let broken = format!("{head}delete chain inet rampart no_such_chain\n{tail}");
    assert!(nft.load(&broken).is_err());
    // Same rules, same elements, same handles: nothing was replaced.
    assert_eq!(handles(), before_handles, "table changed");
    // And through `apply`: a script the kernel rejects (unknown set) fails in the check.
    let bad = V2.replace("@allow accept", "@nonexistent accept");
    let err = apply(&nft, &bad, &ApplyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("script line"), "{err}");
    assert_eq!(
        strip_expires(&nft.list_table().unwrap().unwrap()),
        strip_expires(&before)
    );
}

/// `expires` counts down between two listings.
fn strip_expires(s: &str) -> String {
    s.lines()
        .map(|l| match l.find(" expires ") {
            Some(i) => {
                let rest = &l[i + 9..];
                let end = rest.find([',', ' ']).map_or(rest.len(), |e| e);
                format!("{}{}", &l[..i], &rest[end..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn other_tables_are_untouched_by_apply_and_down() {
    if !require(NEEDS) {
        return;
    }
    let ns = Netns::fresh("kernel");
    let nft = Nft::in_netns(ns.name());
    ns.exec(&[
        "iptables",
        "-A",
        "INPUT",
        "-s",
        "192.0.2.9",
        "-p",
        "tcp",
        "--dport",
        "25",
        "-j",
        "DROP",
    ]);
    ns.exec(&["nft", "add", "table", "inet", "other"]);
    ns.exec(&[
        "nft",
        "add",
        "set",
        "inet",
        "other",
        "s",
        "{ type ipv4_addr; }",
    ]);
    ns.exec(&[
        "nft",
        "add",
        "element",
        "inet",
        "other",
        "s",
        "{ 198.51.100.9 }",
    ]);
    ns.exec(&[
        "nft",
        "add",
        "chain",
        "inet",
        "other",
        "in",
        "{ type filter hook input priority 5; }",
    ]);
    ns.exec(&[
        "nft",
        "add",
        "rule",
        "inet",
        "other",
        "in",
        "ip saddr @s counter drop",
    ]);
    let theirs = |ns: &Netns| {
        (
            ns.exec(&["nft", "list", "table", "ip", "filter"]),
            ns.exec(&["nft", "list", "table", "inet", "other"]),
            ns.exec(&["iptables-save"])
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    };
    let before = theirs(&ns);
    assert!(before.0.contains("192.0.2.9"), "{}", before.0);
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    apply(&nft, V2, &ApplyOptions::default()).unwrap();
    assert!(down(&nft).unwrap());
    assert!(!down(&nft).unwrap(), "down is idempotent");
    assert_eq!(theirs(&ns), before);
    assert_eq!(nft.list_table().unwrap(), None);
}

#[test]
fn save_then_restore_brings_back_rules_and_set_elements() {
    if !require(NEEDS) {
        return;
    }
    let ns = Netns::fresh("kernel");
    let nft = Nft::in_netns(ns.name());
    let dir = std::env::temp_dir().join(format!("{}-state", ns.name()));
    let state = StateDir::new(&dir);
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    fill_sets(&ns);
    assert!(save(&nft, &state).unwrap());
    let before = nft.list_table().unwrap().unwrap();
    ns.exec(&["nft", "delete", "table", "inet", "rampart"]);
    assert_eq!(nft.list_table().unwrap(), None);
    restore(&nft, &state).unwrap();
    let after = nft.list_table().unwrap().unwrap();
    assert_eq!(strip_expires(&after), strip_expires(&before));
    assert!(after.contains("192.0.2.7") && after.contains("203.0.113.0/24"));
    // Restoring over a present table is fine too.
    restore(&nft, &state).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
