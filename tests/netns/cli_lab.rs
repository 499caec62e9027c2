//! `rampart lab` through the binary: up, status, exec, demo, down, with
//! namespaces checked in the kernel after each step.
//!
//! The test's lab is named `rampart-t<pid>-cli-*` (the hidden `--prefix`),
//! so it never touches a real `rampart-lab-*` lab on the machine, and a
//! test killed half-way leaves namespaces that the next test run's
//! leftover cleaning removes (their pid is dead).

use std::process::Command;

use rampart_testkit::{require, Need};

use crate::lab;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn rampart(prefix: &str, args: &[&str]) -> Run {
    let mut full = vec!["lab", "--prefix", prefix];
    full.extend_from_slice(args);
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(&full)
        .output()
        .expect("the rampart binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(prefix: &str, args: &[&str]) -> String {
    let r = rampart(prefix, args);
    assert_eq!(
        r.code,
        0,
        "rampart lab {}: exit {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        r.code,
        r.stdout,
        r.stderr
    );
    r.stdout
}

/// Removes the test's namespaces however the test ends.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = lab::remove_lab(&self.0);
    }
}

fn live(prefix: &str) -> Vec<String> {
    let mut v = lab::live_namespaces(&format!("{prefix}-")).unwrap();
    v.sort();
    v
}

#[test]
fn lab_cli_up_status_exec_demo_down() {
    if !require(&[Need::Root]) {
        return;
    }
    let prefix = format!("{}{}-cli", lab::NS_PREFIX, std::process::id());
    let _down = Down(prefix.clone());
    let roles = [
        "attacker1",
        "attacker2",
        "client1",
        "client2",
        "server",
        "switch",
    ];
    let want: Vec<String> = roles.iter().map(|r| format!("{prefix}-{r}")).collect();

    // up, then up again: says so.
    assert!(live(&prefix).is_empty());
    ok(&prefix, &["up"]);
    assert_eq!(live(&prefix), want);
    let again = ok(&prefix, &["up"]);
    assert!(again.contains("already up"), "{again}");

    // status --json: every role with its documentation addresses.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&prefix, &["status", "--json"])).expect("status JSON");
    assert_eq!(json["complete"], true, "{json}");
    let nss = json["namespaces"].as_array().expect("namespaces");
    assert_eq!(nss.len(), roles.len(), "{json}");
    let server = nss
        .iter()
        .find(|n| n["role"] == "server")
        .expect("a server");
    assert_eq!(server["namespace"], format!("{prefix}-server"));
    let addrs: Vec<&str> = server["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert!(addrs.contains(&"203.0.113.10"), "{addrs:?}");
    for n in nss {
        for a in n["addresses"].as_array().unwrap() {
            let ip = a["addr"].as_str().unwrap().parse().unwrap();
            assert!(lab::is_documentation(ip), "{ip} in {}", n["role"]);
        }
    }

    // exec: runs inside the role's namespace, exit code passed on.
    let addr = ok(&prefix, &["exec", "client1", "--", "ip", "-br", "addr"]);
    assert!(addr.contains("198.51.100.21/24"), "{addr}");
    assert!(!addr.contains("203.0.113.10"), "{addr}");
    assert_eq!(rampart(&prefix, &["exec", "server", "--", "false"]).code, 1);
    let bad = rampart(&prefix, &["exec", "nope", "--", "true"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("no role \"nope\""), "{}", bad.stderr);

    // demo on the lab that is up: served, refused, and the lab stays up.
    let report = ok(&prefix, &["demo"]);
    check_report(&report);
    assert_eq!(
        live(&prefix),
        want,
        "the demo removed a lab it did not build"
    );

    // down: everything goes; down again: nothing to do.
    ok(&prefix, &["down"]);
    assert!(live(&prefix).is_empty(), "namespaces left after lab down");
    let again = ok(&prefix, &["down"]);
    assert!(again.contains("nothing to remove"), "{again}");
    let status = ok(&prefix, &["status"]);
    assert!(status.contains("not up"), "{status}");

    // demo from nothing: builds the lab and leaves nothing behind.
    let report = ok(&prefix, &["demo"]);
    check_report(&report);
    assert!(
        live(&prefix).is_empty(),
        "the demo left namespaces behind:\n{report}"
    );
}

fn check_report(report: &str) {
    assert!(
        report.contains("client served: yes; closed port refused: yes"),
        "{report}"
    );
    // The guard step: both attackers banned within a second, the client served.
    assert!(
        report.contains("flooders banned within a second: yes"),
        "{report}"
    );
    assert!(
        report.contains("rampart bans explain 192.0.2.31:"),
        "{report}"
    );
    let line = |needle: &str| {
        report
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` line in:\n{report}"))
    };
    for served in ["tcp/22 ", "tcp/80 ", "(outbound)"] {
        let l = line(served);
        assert!(l.contains('✔') && l.contains("served"), "{l}");
    }
    let l = line("tcp/8080");
    assert!(l.contains('✔') && l.contains("closed"), "{l}");
    assert!(!report.contains('✘'), "{report}");
}
