//! `SetClient::table_shape` against the kernel: chains, sets, rules, counters,
//! fingerprints, other tables left out, a missing table, a big interval set, and readings
//! taken while another process commits.

use std::net::{Ipv4Addr, UdpSocket};
use std::process::Command;

use rampart_nfnl::{Element, Family, RuleShape, SetClient, SetRef, TableShape};

use crate::util::{in_netns, nft, nft_stdin};

/// The table under test, and two neighbours whose chains, sets and rules must not show:
/// another `inet` table with the same chain and set names, and an `ip` table named
/// `rampart`.
const RULESET: &str = r#"table inet rampart {}
delete table inet rampart
table inet rampart {
    set s { type ipv4_addr; flags interval; }
    set bans { type ipv4_addr; flags timeout; timeout 1h; }
    chain input {
        type filter hook input priority 0; policy accept;
        ip saddr @s counter drop comment "block"
        tcp dport 22 counter accept comment "ssh"
        jump sub
    }
    chain sub {
        udp dport 53 accept
    }
    chain output {
        type filter hook output priority -150; policy drop;
        ip daddr 127.0.0.1 counter accept comment "lo out"
        counter accept
    }
}
table inet other {
    set s { type ipv6_addr; }
    chain input {
        type filter hook input priority 10; policy accept;
        tcp dport 80 counter accept comment "other"
    }
}
table ip rampart {
    chain x { type filter hook forward priority 0; policy drop; }
}
"#;

fn shape() -> TableShape {
    SetClient::open()
        .unwrap()
        .table_shape(Family::Inet, "rampart")
        .unwrap()
        .expect("table inet rampart exists")
}

fn rules<'a>(shape: &'a TableShape, chain: &'a str) -> Vec<&'a RuleShape> {
    shape.rules_of(chain).collect()
}

/// Handles of a chain's rules as `nft -j list chain` gives them, in order.
fn nft_handles(chain: &str) -> Vec<u64> {
    let json: serde_json::Value =
        serde_json::from_str(&nft(&["-j", "list", "chain", "inet", "rampart", chain])).unwrap();
    json["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .map(|r| r["handle"].as_u64().unwrap())
        .collect()
}

#[test]
fn shape_has_chains_hooks_sets_and_rules_in_order() {
    in_netns(|| {
        nft_stdin(RULESET);
        let shape = shape();
        assert_eq!(shape.family, Family::Inet);
        assert_eq!(shape.name, "rampart");
        assert!(shape.generation.is_some());

        let names: Vec<&str> = shape.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["input", "sub", "output"]);
        let input = shape.chain("input").unwrap().hook.clone().unwrap();
        assert_eq!(
            (
                input.hook,
                input.priority,
                input.kind.as_str(),
                input.policy
            ),
            (1, 0, "filter", Some(1))
        );
        let output = shape.chain("output").unwrap().hook.clone().unwrap();
        assert_eq!(
            (output.hook, output.priority, output.policy),
            (3, -150, Some(0))
        );
        assert_eq!(shape.chain("sub").unwrap().hook, None);

        let sets: Vec<&str> = shape.sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(sets, ["s", "bans"]);
        let s = shape.set("s").unwrap();
        assert!(s.is_interval() && !s.has_timeout() && !s.is_map());
        assert_eq!((s.key_type, s.key_len, s.timeout_ms), (7, 4, None));
        let bans = shape.set("bans").unwrap();
        assert!(bans.has_timeout() && !bans.is_interval());
        assert_eq!(bans.timeout_ms, Some(3_600_000));

        let input_rules = rules(&shape, "input");
        let got: Vec<(usize, Option<&str>, Option<u64>)> = input_rules
            .iter()
            .map(|r| (r.position, r.comment.as_deref(), r.packets))
            .collect();
        assert_eq!(
            got,
            [
                (0, Some("block"), Some(0)),
                (1, Some("ssh"), Some(0)),
                (2, None, None)
            ]
        );
        assert_eq!(
            input_rules.iter().map(|r| r.handle).collect::<Vec<_>>(),
            nft_handles("input")
        );
        assert_eq!(rules(&shape, "sub").len(), 1);
        assert_eq!(rules(&shape, "sub")[0].position, 0);
        assert_eq!(
            rules(&shape, "output")
                .iter()
                .map(|r| (r.position, r.comment.as_deref()))
                .collect::<Vec<_>>(),
            [(0, Some("lo out")), (1, None)]
        );
        // Nothing of `inet other` or `ip rampart`.
        assert_eq!(shape.rules.len(), 6);
        assert!(shape
            .rules
            .iter()
            .all(|r| r.comment.as_deref() != Some("other")));
        assert!(shape.chain("x").is_none());
    });
}

#[test]
fn counters_count_and_fingerprints_stay() {
    in_netns(|| {
        nft_stdin(RULESET);
        let before = shape();
        let lo_out = |s: &TableShape| (*rules(s, "output")[0]).clone();
        assert_eq!(
            (lo_out(&before).packets, lo_out(&before).bytes),
            (Some(0), Some(0))
        );

        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip runs");
        assert!(up.success());
        // One local datagram: it leaves through the output hook to 127.0.0.1.
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.send_to(b"rampart", (Ipv4Addr::LOCALHOST, 9)).unwrap();

        let after = shape();
        let counted = lo_out(&after);
        assert!(counted.packets.unwrap() >= 1, "{counted:?}");
        assert!(counted.bytes.unwrap() >= 28 + 7, "{counted:?}");
        // The same rules, the same fingerprints, though the counters moved.
        let prints = |s: &TableShape| {
            s.rules
                .iter()
                .map(|r| (r.handle, r.fingerprint))
                .collect::<Vec<_>>()
        };
        assert_eq!(prints(&before), prints(&after));
        assert_eq!(after.generation, before.generation);
    });
}

#[test]
fn fingerprint_tells_rules_apart_by_match_verdict_counter_and_comment() {
    in_netns(|| {
        nft_stdin(
            r#"table inet rampart {}
delete table inet rampart
table inet rampart {
    chain c {
        tcp dport 22 counter accept comment "ssh"
        tcp dport 22 counter accept comment "ssh"
        tcp dport 22 counter accept comment "sshd"
        tcp dport 23 counter accept comment "ssh"
        tcp dport 22 counter drop comment "ssh"
        tcp dport 22 accept comment "ssh"
        tcp dport 22 counter accept
    }
}
"#,
        );
        let shape = shape();
        let f: Vec<u64> = shape.rules.iter().map(|r| r.fingerprint).collect();
        assert_eq!(f.len(), 7);
        assert_eq!(f[0], f[1], "the same rule twice");
        for (i, other) in f.iter().enumerate().skip(2) {
            assert_ne!(f[0], *other, "rule {i} differs from rule 0");
        }
        let mut distinct = f[1..].to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 6);
        // Handles differ, positions count up.
        assert_eq!(
            shape.rules.iter().map(|r| r.position).collect::<Vec<_>>(),
            (0..7).collect::<Vec<_>>()
        );
    });
}

#[test]
fn a_missing_table_is_none() {
    in_netns(|| {
        nft_stdin(RULESET);
        let mut c = SetClient::open().unwrap();
        assert_eq!(c.table_shape(Family::Inet, "nope").unwrap(), None);
        assert_eq!(c.table_shape(Family::Ip6, "rampart").unwrap(), None);
        // An empty table exists, with nothing in it.
        nft(&["add", "table", "inet", "empty"]);
        let empty = c.table_shape(Family::Inet, "empty").unwrap().unwrap();
        assert!(empty.chains.is_empty() && empty.sets.is_empty() && empty.rules.is_empty());
        // The `ip` table of the same name is its own table.
        let ip = c.table_shape(Family::Ip, "rampart").unwrap().unwrap();
        assert_eq!(ip.chains.len(), 1);
        assert_eq!(ip.chains[0].hook.as_ref().map(|h| h.hook), Some(2));
    });
}

#[test]
fn a_big_interval_set_still_gives_the_shape() {
    in_netns(|| {
        nft_stdin(RULESET);
        let mut c = SetClient::open().unwrap();
        // 200,000 separate /32s (every other address from 10.0.0.0): 400,000 kernel keys.
        let elements: Vec<Element> = (0..200_000u32)
            .map(|i| std::net::IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 2 * i)).into())
            .collect();
        c.replace(&SetRef::inet("rampart", "s"), &elements).unwrap();
        let shape = c.table_shape(Family::Inet, "rampart").unwrap().unwrap();
        assert_eq!(shape.rules.len(), 6);
        assert_eq!(shape.chains.len(), 3);
        let s = shape.set("s").unwrap();
        assert!(s.is_interval());
        // Kernels that report NFTA_SET_COUNT count ranges, not keys.
        if let Some(n) = s.elements {
            assert_eq!(n, 200_000);
        }
    });
}

#[test]
fn readings_during_commits_are_each_one_generation() {
    in_netns(|| {
        nft_stdin(RULESET);
        // Another thread of this namespace (threads inherit it) replaces chain `sub` 200
        // times, each time with n rules all commented "gen-n"; every reading must show one
        // such state whole: n rules, all "gen-n", and the rest of the table intact.
        let writer = std::thread::spawn(|| {
            for n in 1..=200usize {
                let mut script = String::from("flush chain inet rampart sub\n");
                for _ in 0..(n % 7 + 1) {
                    script.push_str(&format!(
                        "add rule inet rampart sub udp dport {n} accept comment \"gen-{n}\"\n"
                    ));
                }
                nft_stdin(&script);
            }
        });
        let mut c = SetClient::open().unwrap();
        let mut readings = 0;
        while !writer.is_finished() || readings == 0 {
            let shape = c.table_shape(Family::Inet, "rampart").unwrap().unwrap();
            readings += 1;
            assert_eq!(shape.chains.len(), 3);
            assert_eq!(rules(&shape, "input").len(), 3);
            let sub = rules(&shape, "sub");
            let comments: Vec<Option<&str>> = sub.iter().map(|r| r.comment.as_deref()).collect();
            match comments.first().copied().flatten() {
                None => assert_eq!(comments, [None], "the initial rule"),
                Some(first) => {
                    let n: usize = first.strip_prefix("gen-").unwrap().parse().unwrap();
                    assert_eq!(sub.len(), n % 7 + 1, "{comments:?}");
                    assert!(comments.iter().all(|c| *c == Some(first)), "{comments:?}");
                }
            }
            assert_eq!(
                sub.iter().map(|r| r.position).collect::<Vec<_>>(),
                (0..sub.len()).collect::<Vec<_>>()
            );
        }
        writer.join().unwrap();
        eprintln!("{readings} readings during 200 commits");
    });
}
