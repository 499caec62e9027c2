//! rampart-kernel against the real kernel, each test in a network namespace it creates
//! (`rampart-t<pid>-k<n>`) and removes on drop. Never the machine's own namespace.
//!
//! Needs root: without it a test prints "skipped: needs root" and passes, unless `CI` is
//! set, then it fails.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use rampart_kernel::{
    apply, down, parse_table, plan, restore, save, ApplyOptions, Nft, Outcome, StateDir,
};

static N: AtomicUsize = AtomicUsize::new(0);

fn have_root() -> bool {
    if Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
    {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("kernel tests need root, and skipping is not allowed when CI is set");
    }
    eprintln!("skipped: needs root");
    false
}

/// A network namespace, removed on drop.
struct Ns {
    name: String,
    state: std::path::PathBuf,
}

impl Ns {
    fn new() -> Ns {
        let name = format!(
            "rampart-t{}-k{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        run(&["ip", "netns", "add", &name]);
        let state = std::env::temp_dir().join(format!("{name}-state"));
        Ns { name, state }
    }
    fn nft(&self) -> Nft {
        Nft::in_netns(&self.name)
    }
    fn exec(&self, args: &[&str]) -> String {
        let mut a = vec!["ip", "netns", "exec", &self.name];
        a.extend_from_slice(args);
        run(&a)
    }
    fn listing(&self) -> Option<String> {
        self.nft().list_table().unwrap()
    }
    fn state(&self) -> StateDir {
        StateDir::new(&self.state)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("20")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

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

fn fill_sets(ns: &Ns) {
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
    if !have_root() {
        return;
    }
    let ns = Ns::new();
    let nft = ns.nft();
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    fill_sets(&ns);
    let (outcome, _) = apply(&nft, V2, &ApplyOptions::default()).unwrap();
    assert_eq!(
        outcome,
        Outcome::Applied {
            recreated_sets: vec![]
        }
    );
    let l = ns.listing().unwrap();
    assert!(l.contains("192.0.2.7 timeout 1h"), "{l}");
    assert!(l.contains("203.0.113.0/24"), "{l}");
    assert!(l.contains("priority filter + 10"), "{l}");
    assert!(!l.contains("chain extra"), "{l}");
    assert!(!l.contains("set gone"), "{l}");
    assert!(l.contains("comment \"ssh, https\""), "{l}");
    // Back to V1: the policy-owned set `allow` goes, the runtime sets still keep theirs.
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    let l = ns.listing().unwrap();
    assert!(
        l.contains("192.0.2.7") && l.contains("203.0.113.0/24"),
        "{l}"
    );
    assert!(!l.contains("set allow"), "{l}");
}

#[test]
fn policy_owned_elements_are_replaced_and_incompatible_sets_recreated() {
    if !have_root() {
        return;
    }
    let ns = Ns::new();
    let nft = ns.nft();
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
    let l = ns.listing().unwrap();
    assert!(
        l.contains("198.51.100.2") && !l.contains("198.51.100.1"),
        "{l}"
    );
    assert!(l.contains("flags interval,timeout"), "{l}");
}

#[test]
fn unchanged_reapply_does_not_touch_the_kernel() {
    if !have_root() {
        return;
    }
    let ns = Ns::new();
    let nft = ns.nft();
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
    assert!(!ns.listing().unwrap().contains("dport 53"));
}

#[test]
fn a_failure_half_way_leaves_the_previous_table() {
    if !have_root() {
        return;
    }
    let ns = Ns::new();
    let nft = ns.nft();
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    fill_sets(&ns);
    let before = ns.listing().unwrap();
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
        strip_expires(&ns.listing().unwrap()),
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
    if !have_root() {
        return;
    }
    let ns = Ns::new();
    let nft = ns.nft();
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
    let theirs = |ns: &Ns| {
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
    assert_eq!(ns.listing(), None);
}

#[test]
fn save_then_restore_brings_back_rules_and_set_elements() {
    if !have_root() {
        return;
    }
    let ns = Ns::new();
    let nft = ns.nft();
    let state = ns.state();
    apply(&nft, V1, &ApplyOptions::default()).unwrap();
    fill_sets(&ns);
    assert!(save(&nft, &state).unwrap());
    let before = ns.listing().unwrap();
    ns.exec(&["nft", "delete", "table", "inet", "rampart"]);
    assert_eq!(ns.listing(), None);
    restore(&nft, &state).unwrap();
    let after = ns.listing().unwrap();
    assert_eq!(strip_expires(&after), strip_expires(&before));
    assert!(after.contains("192.0.2.7") && after.contains("203.0.113.0/24"));
    // Restoring over a present table is fine too.
    restore(&nft, &state).unwrap();
}
