//! `rampart harden` inside a fresh network namespace: `--apply` changes that
//! namespace's settings, leaves the host's (read before and after in the test's
//! own namespace) and the host-wide conntrack size alone, and writes its
//! sysctl.d file only in the directory it is given.

use std::path::Path;
use std::process::Command;

use rampart_testkit::{require, Need, Netns};

/// Per-namespace settings a fresh namespace starts with, and what `--apply`
/// makes of them (a fresh namespace has the kernel defaults; the lab's
/// rp_filter is set to 0 explicitly so the change is visible whatever the
/// host's default).
const CHANGED: &[(&str, &str, &str)] = &[
    ("net/ipv4/conf/all/rp_filter", "0", "1"),
    ("net/ipv4/tcp_synack_retries", "5", "2"),
    ("net/ipv4/conf/all/accept_redirects", "1", "0"),
    ("net/ipv4/conf/all/log_martians", "0", "1"),
];

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new("/proc/sys").join(path))
        .unwrap_or_else(|e| panic!("/proc/sys/{path}: {e}"))
        .trim()
        .to_owned()
}

fn read_in(ns: &Netns, path: &str) -> String {
    ns.exec(&["cat", &format!("/proc/sys/{path}")])
        .trim()
        .to_owned()
}

fn harden_in(ns: &Netns, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            env!("CARGO_BIN_EXE_rampart"),
            "harden",
            "--json",
        ])
        .args(args)
        .output()
        .expect("ip netns exec runs");
    assert!(
        out.status.success(),
        "rampart harden {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("harden --json")
}

fn status_of<'a>(report: &'a serde_json::Value, key: &str) -> &'a str {
    report["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {report}"))["status"]
        .as_str()
        .unwrap()
}

#[test]
fn harden_applies_in_its_namespace_only() {
    if !require(&[Need::Root, Need::Tool("ip")]) {
        return;
    }
    let ns = Netns::fresh("harden");
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0"]);
    let conntrack = Path::new("/proc/sys/net/netfilter/nf_conntrack_max").exists();
    let mut watched: Vec<&str> = CHANGED.iter().map(|(p, _, _)| *p).collect();
    if conntrack {
        watched.extend([
            "net/netfilter/nf_conntrack_max",
            "net/netfilter/nf_conntrack_tcp_timeout_syn_recv",
        ]);
    }
    let host_before: Vec<String> = watched.iter().map(|p| read(p)).collect();
    for (path, fresh, _) in CHANGED {
        assert_eq!(read_in(&ns, path), *fresh, "{path} in a fresh namespace");
    }

    // Without --apply: a report, nothing changes.
    let report = harden_in(&ns, &[]);
    assert_eq!(report["initial_netns"], false, "{report}");
    assert_eq!(status_of(&report, "net.ipv4.tcp_synack_retries"), "change");
    assert_eq!(read_in(&ns, "net/ipv4/tcp_synack_retries"), "5");

    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("sysctl.d");
    std::fs::create_dir(&conf_dir).unwrap();
    let report = harden_in(
        &ns,
        &["--apply", "--sysctl-dir", conf_dir.to_str().unwrap()],
    );
    let applied = &report["applied"];
    assert_eq!(applied["failed"].as_array().unwrap().len(), 0, "{report}");
    for (path, _, hardened) in CHANGED {
        assert_eq!(
            read_in(&ns, path),
            *hardened,
            "{path} in the namespace after --apply"
        );
    }
    if conntrack {
        assert_eq!(
            read_in(&ns, "net/netfilter/nf_conntrack_tcp_timeout_syn_recv"),
            "20",
            "conntrack timeouts are per namespace"
        );
        let left: Vec<&str> = applied["left_alone"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        // Host-wide: listed as left alone when they would change, never written.
        for key in &left {
            assert!(key.starts_with("net.netfilter.nf_conntrack_"), "{key}");
        }
        assert_eq!(
            status_of(&report, "net.netfilter.nf_conntrack_max") == "host-wide",
            left.contains(&"net.netfilter.nf_conntrack_max")
        );
    }

    // The host's values did not move.
    let host_after: Vec<String> = watched.iter().map(|p| read(p)).collect();
    assert_eq!(
        host_before, host_after,
        "the host's settings changed: {watched:?}"
    );

    // The conf file, and nothing else, in the directory given.
    let names: Vec<String> = std::fs::read_dir(&conf_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["90-rampart.conf"]);
    let text = std::fs::read_to_string(conf_dir.join("90-rampart.conf")).unwrap();
    assert!(text.contains("net.ipv4.tcp_synack_retries = 2\n"), "{text}");
    assert!(text.contains("net.ipv4.conf.all.rp_filter = 1\n"), "{text}");
    assert!(
        !text.contains("nf_conntrack_max"),
        "host-wide settings persisted in a namespace:\n{text}"
    );

    // A second run finds nothing to change in the namespace.
    let report = harden_in(&ns, &[]);
    for (path, _, _) in CHANGED {
        let key = format!("net.{}", path.trim_start_matches("net/").replace('/', "."));
        assert_eq!(status_of(&report, &key), "ok", "{key}");
    }
}
