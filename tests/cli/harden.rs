//! `rampart harden` on a fake proc tree (`--proc`, hidden): the host's kernel is
//! only read by the netns test, never written from here.

use std::fs;
use std::path::Path;

use crate::util::rampart_env;

/// A proc tree: settings, 8 GiB of memory, and the initial namespace (the
/// thread's namespace link and pid 1's are the same file).
fn tree(dir: &Path, values: &[(&str, &str)]) {
    for (key, v) in values {
        let p = dir.join("sys").join(key.replace('.', "/"));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("{v}\n")).unwrap();
    }
    fs::write(dir.join("meminfo"), "MemTotal:       8388608 kB\n").unwrap();
    fs::create_dir_all(dir.join("thread-self/ns")).unwrap();
    fs::create_dir_all(dir.join("1/ns")).unwrap();
    fs::write(dir.join("thread-self/ns/net"), "").unwrap();
    std::os::unix::fs::symlink(dir.join("thread-self/ns/net"), dir.join("1/ns/net")).unwrap();
}

fn value(dir: &Path, key: &str) -> String {
    fs::read_to_string(dir.join("sys").join(key.replace('.', "/")))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn harden_reports_applies_and_persists() {
    let proc = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    tree(
        proc.path(),
        &[
            ("net.ipv4.tcp_syncookies", "0"),
            ("net.core.somaxconn", "128"),
            ("net.ipv4.tcp_synack_retries", "1"),
            ("net.netfilter.nf_conntrack_max", "65536"),
        ],
    );
    let p = proc.path().to_str().unwrap();
    let c = conf.path().to_str().unwrap();

    let show = rampart_env(&["harden", "--proc", p], &[]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout
            .contains("fix net.ipv4.tcp_syncookies = 0 (recommended 1) -> --apply sets 1"),
        "{}",
        show.stdout
    );
    assert!(show
        .stdout
        .contains("ok  net.ipv4.tcp_synack_retries = 1 (recommended <= 2)"));
    assert!(show.stdout.contains("SYN flood"), "the reasons are shown");
    assert!(show.stdout.contains("net.ipv4.conf.all.rp_filter = absent"));
    assert_eq!(
        value(proc.path(), "net.ipv4.tcp_syncookies"),
        "0",
        "no change without --apply"
    );

    let json = rampart_env(&["harden", "--proc", p, "--json"], &[]);
    let j: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(j["initial_netns"], true);
    assert_eq!(j["mem_bytes"], 8u64 << 30);
    let max = j["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "net.netfilter.nf_conntrack_max")
        .unwrap();
    assert_eq!(max["recommended"], ">= 262144", "{max}");
    assert_eq!(max["status"], "change");
    assert_eq!(max["scope"], "host");

    let apply = rampart_env(&["harden", "--proc", p, "--apply", "--sysctl-dir", c], &[]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(value(proc.path(), "net.ipv4.tcp_syncookies"), "1");
    assert_eq!(value(proc.path(), "net.core.somaxconn"), "4096");
    assert_eq!(
        value(proc.path(), "net.ipv4.tcp_synack_retries"),
        "1",
        "below the ceiling: kept"
    );
    assert_eq!(
        value(proc.path(), "net.netfilter.nf_conntrack_max"),
        "262144"
    );
    let text = fs::read_to_string(conf.path().join("90-rampart.conf")).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        [
            "net.ipv4.tcp_syncookies = 1",
            "net.core.somaxconn = 4096",
            "net.ipv4.tcp_synack_retries = 1",
            "-net.netfilter.nf_conntrack_max = 262144",
        ]
    );
    assert!(
        apply.stdout.contains("changed 3 settings"),
        "{}",
        apply.stdout
    );

    let bad = rampart_env(
        &[
            "harden",
            "--proc",
            p,
            "--apply",
            "--sysctl-dir",
            "/nonexistent/sysctl.d",
        ],
        &[],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("--sysctl-dir /nonexistent/sysctl.d: not a directory"),
        "{}",
        bad.stderr
    );
}
