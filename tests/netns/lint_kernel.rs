//! `rampart lint --kernel`: a ruleset applied inside a lab namespace, real TCP connections
//! that match some of its rules, and the rules the kernel counted nothing for reported as
//! never matched, at the lines of the file applied.

use std::process::Output;

use rampart_testkit::{require, Need};

use crate::host_client::HostAndClient;
use crate::lab::Fate;

/// Lines 5 and 6 match the probes (and 10 the host's answers); 7, 8, 9 and 11 match
/// nothing the test sends.
const RULES: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8081 -j REJECT --reject-with tcp-reset
-A INPUT -s 203.0.113.0/24 -p tcp -j ACCEPT
-A INPUT -p udp -m udp --dport 9999 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8082 -j REJECT --reject-with tcp-reset
-A OUTPUT -p tcp -m tcp --sport 8080 -j ACCEPT
-A OUTPUT -p udp -m udp --dport 9999 -j ACCEPT
COMMIT
";

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The (line, chain, number) of every never-matched finding of a `lint --json` report.
fn never_matched(o: &Output) -> Vec<(u64, String, u64)> {
    // Exit 0, or 1 for error findings: either way a report was printed.
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(o));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
    let mut out: Vec<(u64, String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "never-matched")
        .map(|f| {
            let r = &f["rules"][0];
            (
                r["line"].as_u64().unwrap_or(0),
                r["chain"].as_str().unwrap().to_string(),
                r["number"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn lint_with_the_kernels_counters_names_the_rules_no_packet_matched() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let other = RULES.replace("--dport 8082", "--dport 8083");
    let s = HostAndClient::new(
        "lint-kernel",
        &[("fw.rules", RULES), ("other.rules", &other)],
    );
    let applied = s.rampart_output(&["apply", "--rules", "fw.rules"]);
    assert!(applied.status.success(), "{}", text(&applied));

    // Before any packet, every rule is at 0.
    let fresh = never_matched(&s.rampart_output(&["lint", "--kernel", "fw.rules", "--json"]));
    assert_eq!(fresh.len(), 7, "{fresh:?}");

    assert!(matches!(s.connect_to(8080), Fate::Delivered { .. }));
    assert_eq!(s.connect_to(8081), Fate::Rejected);

    let want = vec![
        (7, "INPUT".to_string(), 3),
        (8, "INPUT".to_string(), 4),
        (9, "INPUT".to_string(), 5),
        (11, "OUTPUT".to_string(), 2),
    ];
    let out = s.rampart_output(&["lint", "--kernel", "fw.rules", "--json"]);
    assert_eq!(never_matched(&out), want, "{}", text(&out));

    // Without the file: the ruleset the state directory recorded at the apply (its lines
    // are those of that record), same rules.
    let out = s.rampart_output(&["lint", "--kernel", "--json"]);
    let recorded: Vec<(String, u64)> = never_matched(&out)
        .into_iter()
        .map(|(_, c, n)| (c, n))
        .collect();
    let names: Vec<(String, u64)> = want.iter().map(|(_, c, n)| (c.clone(), *n)).collect();
    assert_eq!(recorded, names, "{}", text(&out));

    // The text names the file and line of each.
    let out = s.rampart_output(&["lint", "--kernel", "fw.rules"]);
    let t = text(&out);
    for line in [7, 8, 9, 11] {
        assert!(
            t.contains(&format!("fw.rules:{line}: "))
                && t.lines()
                    .any(|l| l.starts_with(&format!("fw.rules:{line}: "))
                        && l.contains("never-matched")),
            "line {line}: {t}"
        );
    }
    assert!(t.contains("counters: the kernel's"), "{t}");

    // Another ruleset than the one applied: refused, nothing is guessed.
    let out = s.rampart_output(&["lint", "--kernel", "other.rules"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not the one applied last"),
        "{}",
        text(&out)
    );

    // A change to the table behind rampart's back: refused too.
    s.lab
        .exec(
            "host",
            &["nft", "add", "chain", "inet", "rampart", "added_by_hand"],
        )
        .unwrap();
    let out = s.rampart_output(&["lint", "--kernel", "fw.rules"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed since the last apply"),
        "{}",
        text(&out)
    );
}
