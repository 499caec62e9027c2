//! `rampart bans` on a guard database in a temporary state directory: listing, explaining,
//! JSON shapes, and unbans that match nothing (an unban that matches writes to the kernel:
//! tests/netns covers it).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_guard::{
    Decision, DecisionStore, Evidence, Origin, Reason, SqliteStore, Target, DB_FILE,
};

use crate::util::rampart;

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-cli-bans-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn decision(target: &str, detector: &str, origin: Origin, start: u64, until: u64) -> Decision {
    Decision {
        target: target.parse::<Target>().unwrap(),
        reason: Reason {
            detector: detector.into(),
            summary: format!("{detector} crossed (limit 5)"),
            offence: 1,
        },
        evidence: Evidence {
            count: 5,
            window_secs: 600,
            samples: vec![
                "Dec  6 18:00:00 web1 sshd[812]: Failed password for root from 198.51.100.9 port 4711 ssh2".into(),
                "Dec  6 18:00:09 web1 sshd[812]: Failed password for \\x1b[31mroot from 198.51.100.9 port 4712 ssh2".into(),
            ],
        },
        origin,
        start,
        until,
        fleet: None,
    }
}

/// A state directory whose guard database holds: a running sshd ban, a running roll-up
/// of its /24, a running kernel ban, an ended ban and a lifted one.
fn populated(tag: &str) -> (PathBuf, u64, Vec<i64>) {
    let dir = tempdir(tag);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let t = now();
    let mut store = SqliteStore::open(&state.join(DB_FILE)).unwrap();
    let ids = store
        .record_batch(&[
            decision("198.51.100.9", "sshd", Origin::Detector, t - 10, t + 2_390),
            decision(
                "198.51.100.0/24",
                "rollup",
                Origin::Detector,
                t - 5,
                t + 595,
            ),
            decision("2001:db8::66", "kernel:http", Origin::Kernel, t - 3, t + 57),
            decision(
                "198.51.100.9",
                "connections",
                Origin::Detector,
                t - 9_000,
                t - 8_400,
            ),
            decision(
                "203.0.113.5",
                "http-errors",
                Origin::Detector,
                t - 100,
                t + 500,
            ),
        ])
        .unwrap();
    store.lift(&[ids[4]], t - 50).unwrap();
    (state, t, ids)
}

fn bans(state: &Path, args: &[&str]) -> crate::util::Output {
    let state = state.display().to_string();
    let mut a = vec!["bans"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--state-dir", &state]);
    rampart(&a)
}

#[test]
fn list_without_a_database() {
    let dir = tempdir("none");
    let state = dir.join("state");
    let out = bans(&state, &["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("no bans: the guard has recorded none ("),
        "{}",
        out.stdout
    );
    assert!(!state.join(DB_FILE).exists(), "a read creates no database");
    let out = bans(&state, &["list", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "[]");
    let out = bans(&state, &["explain", "198.51.100.9"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("198.51.100.9: never banned (the guard has recorded nothing"),
        "{}",
        out.stdout
    );
    let out = bans(&state, &["unban", "--all"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("nothing to unban: the guard has recorded no ban"),
        "{}",
        out.stderr
    );
}

#[test]
fn list_running_bans() {
    let (state, _, ids) = populated("list");
    let out = bans(&state, &["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(lines[0].starts_with("TARGET"), "{}", lines[0]);
    // Oldest first; ended and lifted ones left out.
    assert!(
        lines[1].starts_with("198.51.100.9 ") && lines[1].contains("sshd"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("  39m") && lines[1].contains("   2  sshd crossed (limit 5)"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("198.51.100.0/24 ") && lines[2].contains("rollup"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("2001:db8::66 ") && lines[3].contains("kernel:http"),
        "{}",
        lines[3]
    );
    assert_eq!(
        lines[4],
        "3 bans running (rampart bans explain ADDR for the evidence)"
    );

    let out = bans(&state, &["list", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["id"], ids[0]);
    assert_eq!(items[0]["target"], "198.51.100.9");
    assert_eq!(items[0]["reason"]["detector"], "sshd");
    assert_eq!(items[0]["reason"]["offence"], 1);
    assert_eq!(items[0]["evidence"]["count"], 5);
    assert_eq!(items[0]["origin"], "detector");
    assert_eq!(items[0]["lifted"], serde_json::Value::Null);
    assert_eq!(items[1]["target"], "198.51.100.0/24");
    assert_eq!(items[2]["origin"], "kernel");
}

#[test]
fn explain_an_address() {
    let (state, t, ids) = populated("explain");
    let out = bans(&state, &["explain", "198.51.100.9"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = &out.stdout;
    let until = rampart_guard::format_utc(t + 2_390);
    assert!(
        text.starts_with(&format!("198.51.100.9: banned until {until} (39m")),
        "{text}"
    );
    // Newest first: the roll-up holding it, its sshd ban, its ended ban.
    let a = text
        .find(&format!(
            "#{} detector rollup 198.51.100.0/24: running",
            ids[1]
        ))
        .expect(text);
    let b = text
        .find(&format!(
            "#{} detector sshd: running, ban 2 of this target",
            ids[0]
        ))
        .expect(text);
    let c = text
        .find(&format!("#{} detector connections: ended", ids[3]))
        .expect(text);
    assert!(a < b && b < c, "{text}");
    assert!(text.contains("    why:   sshd crossed (limit 5)"), "{text}");
    assert!(text.contains("    seen:  5 in 10m"), "{text}");
    assert!(
        text.contains("    first  Dec  6 18:00:00 web1 sshd[812]: Failed password for root"),
        "{text}"
    );
    // Escaped as stored: no terminal escape reaches the screen.
    assert!(
        text.contains(
            "    last   Dec  6 18:00:09 web1 sshd[812]: Failed password for \\x1b[31mroot"
        ),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'));

    let out = bans(&state, &["explain", "198.51.100.9", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["target"], "198.51.100.9");
    assert_eq!(v["until"], t + 2_390);
    assert_eq!(v["banned_by"], serde_json::json!([ids[1], ids[0]]));
    assert_eq!(v["decisions"].as_array().unwrap().len(), 3);

    // Lifted: not banned now, the history kept.
    let out = bans(&state, &["explain", "203.0.113.5"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("203.0.113.5: not banned now\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(": lifted "), "{}", out.stdout);

    let out = bans(&state, &["explain", "192.0.2.1"]);
    assert_eq!(out.stdout, "192.0.2.1: never banned\n");

    let out = bans(&state, &["explain", "192.0.2.300"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "rampart: `192.0.2.300` is not an address or a network (192.0.2.0/24)\n"
    );
}

/// Unbans that match nothing change nothing and say so; the flags are checked.
#[test]
fn unban_that_matches_nothing() {
    let (state, _, _) = populated("unban");
    let before = bans(&state, &["list", "--json"]).stdout;
    for (args, message) in [
        (
            &["unban", "192.0.2.77"][..],
            "no running ban matches `192.0.2.77`",
        ),
        (
            &["unban", "203.0.113.5"][..],
            "no running ban matches `203.0.113.5`",
        ),
        (
            &["unban", "--reason", "sshd-typo"][..],
            "no running ban matches reason `sshd-typo`",
        ),
        (
            &["unban", "192.0.2.0/24"][..],
            "no running ban matches `192.0.2.0/24`",
        ),
    ] {
        let out = bans(&state, args);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
    let out = bans(&state, &["unban"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("required"), "{}", out.stderr);
    let out = bans(&state, &["unban", "198.51.100.9", "--all"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
    assert_eq!(bans(&state, &["list", "--json"]).stdout, before);
}

#[test]
fn help() {
    let out = rampart(&["bans", "--help"]);
    assert_eq!(out.code, 0);
    for word in ["list", "explain", "unban"] {
        assert!(out.stdout.contains(word), "{}", out.stdout);
    }
    let out = rampart(&["bans", "unban", "--help"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("rampart bans unban --reason sshd"),
        "{}",
        out.stdout
    );
}
