//! `rampart trace`: golden traces of the examples, JSON, and batches.

use crate::util::{golden, rampart};

/// `rampart trace` of `examples/NAME.sh` on `examples/NAME.host`.
fn trace_example(name: &str, packet: &[&str]) -> String {
    let script = format!("examples/{name}.sh");
    let host = format!("examples/{name}.host");
    let mut args = vec!["trace", "--script", &script, "--host", &host];
    args.extend_from_slice(packet);
    let out = rampart(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

const LAN_TO_WEB: &[&str] = &[
    "--in",
    "eth0",
    "--src",
    "192.0.2.10",
    "--dst",
    "198.51.100.7",
    "-p",
    "tcp",
    "--sport",
    "40000",
    "--dport",
    "80",
];

#[test]
fn router_snats_the_lan() {
    golden("router.txt", &trace_example("router", LAN_TO_WEB));
}

#[test]
fn router_fault_dropped() {
    golden(
        "router-fault-dropped.txt",
        &trace_example("router-fault-dropped", LAN_TO_WEB),
    );
}

#[test]
fn router_fault_not_natted() {
    golden(
        "router-fault-not-natted.txt",
        &trace_example("router-fault-not-natted", LAN_TO_WEB),
    );
}

#[test]
fn router_fault_not_natted_explained() {
    let mut args = vec!["--explain"];
    args.extend_from_slice(LAN_TO_WEB);
    golden(
        "router-fault-not-natted-explain.txt",
        &trace_example("router-fault-not-natted", &args),
    );
}

#[test]
fn router_fault_wrong_address() {
    golden(
        "router-fault-wrong-address.txt",
        &trace_example("router-fault-wrong-address", LAN_TO_WEB),
    );
}

#[test]
fn webserver_ssh_in_and_smtp_dropped() {
    let ssh = [
        "--in",
        "eth0",
        "--src",
        "198.51.100.7",
        "--dst",
        "203.0.113.5",
        "--dport",
        "22",
    ];
    golden("webserver-ssh.txt", &trace_example("webserver", &ssh));
    let smtp = [
        "--in",
        "eth0",
        "--src",
        "198.51.100.7",
        "--dst",
        "203.0.113.5",
        "--dport",
        "25",
    ];
    golden("webserver-smtp.txt", &trace_example("webserver", &smtp));
}

#[test]
fn unknown_fields_fork_the_trace() {
    // No --dport: the port rules cannot be decided, so every outcome is traced.
    let out = trace_example(
        "webserver",
        &[
            "--in",
            "eth0",
            "--src",
            "198.51.100.7",
            "--dst",
            "203.0.113.5",
        ],
    );
    golden("webserver-unknown-port.txt", &out);
    assert!(out.contains("assumed"), "{out}");
}

#[test]
fn json_trace_has_fate_and_steps() {
    let mut args = vec![
        "trace",
        "--script",
        "examples/router-fault-wrong-address.sh",
        "--host",
        "examples/router-fault-wrong-address.host",
        "--json",
    ];
    args.extend_from_slice(LAN_TO_WEB);
    let out = rampart(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let branch = &v["trace"]["branches"][0];
    assert_eq!(branch["fate"]["fate"], "forwarded");
    assert_eq!(branch["fate"]["src"], "203.0.113.20");
    assert!(branch["steps"].as_array().unwrap().len() >= 4);
}

#[test]
fn without_a_host_the_destination_is_local_and_said_so() {
    let out = rampart(&[
        "trace",
        "--script",
        "examples/webserver.sh",
        "--in",
        "eth0",
        "--src",
        "198.51.100.7",
        "--dst",
        "203.0.113.5",
        "-p",
        "icmp",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("note: no --host given"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ICMP type taken as echo-request"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("fate: delivered locally"),
        "{}",
        out.stdout
    );
}

#[test]
fn batch_counts_the_syn_flood_limit() {
    // 200 SYNs from different sources in the same instant: the syn_flood chain's
    // limit (burst 150) lets 150 through, the other 50 are logged and dropped.
    let dir = std::env::temp_dir().join(format!("rampart-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let packets = dir.join("syn.packets");
    let lines: String = (0..200)
        .map(|i| {
            format!(
                "--in eth0 --src 198.51.100.{} --sport {} --dst 203.0.113.5 --dport 80 --time 1\n",
                i % 250,
                10_000 + i
            )
        })
        .collect();
    std::fs::write(&packets, lines).unwrap();
    let out = rampart(&[
        "trace",
        "--script",
        "examples/syn-flood.sh",
        "--host",
        "examples/syn-flood.host",
        "--packets",
        packets.to_str().unwrap(),
        "--json",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["packets"], 200);
    assert_eq!(v["fates"]["delivered locally"], 150, "{}", v["fates"]);
    assert_eq!(
        v["fates"]["dropped by filter:syn_flood:3"], 50,
        "{}",
        v["fates"]
    );
    assert_eq!(v["rule_hits"]["filter:syn_flood:1"], 150);
    assert_eq!(v["rule_hits"]["filter:syn_flood:2"], 50);
}

#[test]
fn bad_packet_flags_are_explained() {
    let out = rampart(&[
        "trace",
        "--script",
        "examples/webserver.sh",
        "--src",
        "example.com",
        "--dst",
        "203.0.113.5",
    ]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "rampart: --src example.com: not an IP address (host names are not resolved)\n"
    );
}

/// A state directory holding list `manual` (a network with a comment, an IPv6 network),
/// list `drop` and a timed ban, written in the stored formats.
fn block_state(tag: &str) -> std::path::PathBuf {
    use rampart_block::{Ban, Bans, List, ListName};
    let dir = std::env::temp_dir().join(format!("rampart-cli-trace-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let lists = dir.join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    let mut manual = List::new(ListName::new("manual").unwrap());
    manual.insert("198.51.100.0/24".parse().unwrap(), Some("scanner".into()));
    manual.insert("2001:db8:bad::/48".parse().unwrap(), None);
    std::fs::write(lists.join("manual.list"), manual.to_text()).unwrap();
    let mut drop = List::new(ListName::new("drop").unwrap());
    drop.insert("192.0.2.128/25".parse().unwrap(), None);
    std::fs::write(lists.join("drop.list"), drop.to_text()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Two days, three and a half hours: printed as `2d 3h` for the next half hour.
    let ban = Ban {
        addr: "192.0.2.9".parse().unwrap(),
        expires: now + 2 * 86_400 + 3 * 3_600 + 1_800,
        list: "manual".into(),
        comment: Some("ssh brute force".into()),
    };
    let lifted = Ban {
        addr: "192.0.2.10".parse().unwrap(),
        expires: 0,
        list: "manual".into(),
        comment: None,
    };
    let mut journal = Bans::default().to_text(now);
    journal.push_str(&Bans::line(&Ban {
        expires: now + 60,
        ..lifted.clone()
    }));
    journal.push_str(&Bans::line(&ban));
    journal.push_str(&Bans::line(&lifted));
    std::fs::write(lists.join("bans"), journal).unwrap();
    dir
}

/// `rampart trace` of the webserver example, ssh from `src`, with `--state-dir`.
fn trace_blocked(state: &std::path::Path, src: &str, extra: &[&str]) -> String {
    let state = state.display().to_string();
    let mut args = vec![
        "trace",
        "--script",
        "examples/webserver.sh",
        "--host",
        "examples/webserver.host",
        "--state-dir",
        &state,
        "--in",
        "eth0",
        "--src",
        src,
        "--dst",
        if src.contains(':') {
            "2001:db8:5::5"
        } else {
            "203.0.113.5"
        },
        "--dport",
        "22",
    ];
    args.extend_from_slice(extra);
    let out = rampart(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

#[test]
fn blocked_sources_name_their_list_and_stored_prefix() {
    let state = block_state("blocked");
    golden(
        "webserver-blocked-list.txt",
        &trace_blocked(&state, "198.51.100.9", &[]),
    );
    golden(
        "webserver-blocked-ban.txt",
        &trace_blocked(&state, "192.0.2.9", &[]),
    );
    let v6 = trace_blocked(&state, "2001:db8:bad::7", &[]);
    assert!(
        v6.contains("hint: rampart: block list manual: source 2001:db8:bad::7 is in set bl_manual_6 as 2001:db8:bad::/48\n"),
        "{v6}"
    );
    // A lifted ban (a later journal line with expiry 0) is not traced.
    let lifted = trace_blocked(&state, "192.0.2.10", &[]);
    assert!(lifted.contains("fate: delivered locally"), "{lifted}");
    // The policy alone: no block chains, no note, ssh accepted.
    let open = trace_blocked(&state, "198.51.100.9", &["--no-block-lists"]);
    assert!(!open.contains("block"), "{open}");
    assert!(open.contains("fate: delivered locally"), "{open}");
    // The environment names the state directory too.
    let out = crate::util::rampart_env(
        &[
            "trace",
            "--script",
            "examples/webserver.sh",
            "--in",
            "eth0",
            "--src",
            "198.51.100.9",
            "--dst",
            "203.0.113.5",
            "--dport",
            "22",
        ],
        &[("RAMPART_STATE_DIR", state.to_str().unwrap())],
    );
    assert!(
        out.stdout.contains("fate: dropped by filter:block_input:4"),
        "{}",
        out.stdout
    );
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn a_bad_stored_list_fails_the_trace_and_names_the_way_around() {
    let state = block_state("bad");
    std::fs::write(state.join("lists/hand.list"), "198.51.100.0/33\n").unwrap();
    let state_arg = state.display().to_string();
    let args = [
        "trace",
        "--script",
        "examples/webserver.sh",
        "--state-dir",
        &state_arg,
        "--in",
        "eth0",
        "--src",
        "192.0.2.200",
        "--dst",
        "203.0.113.5",
        "--dport",
        "22",
    ];
    let out = rampart(&args);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("hand.list:1: not a CIDR")
            && out
                .stderr
                .contains("remedy: --no-block-lists traces without them"),
        "{}",
        out.stderr
    );
    let mut without = args.to_vec();
    without.push("--no-block-lists");
    assert_eq!(rampart(&without).code, 0);
    let _ = std::fs::remove_dir_all(&state);
}

/// Issue 15, finding 2: INPUT calls a 20,000-rule chain ten times (no loop, so it loads);
/// `--explain` stops at the simulator's bound instead of printing 200,000 misses.
#[test]
fn issue_15_trace_explain_of_a_huge_fan_out_is_bounded() {
    let mut script = String::from("iptables -N big\n");
    for _ in 0..10 {
        script.push_str("iptables -A INPUT -j big\n");
    }
    for _ in 0..20_000 {
        script.push_str("iptables -A big -s 192.0.2.0/24 -j DROP\n");
    }
    let file = crate::util::root().join("target/cli-tests-issue-15-fan-out.sh");
    std::fs::write(&file, script).unwrap();
    let out = rampart(&[
        "trace",
        "--script",
        file.to_str().unwrap(),
        "--explain",
        "--in",
        "eth0",
        "--src",
        "198.51.100.9",
        "--dst",
        "203.0.113.5",
        "-p",
        "tcp",
        "--dport",
        "22",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("stopped: more than 65536 rule evaluations (a loop?)"),
        "{}",
        &out.stdout[out.stdout.len().saturating_sub(2000)..]
    );
    // A run of rules that miss for the same reason is one entry: 10 MB of output before,
    // now a few lines per entry of the chain.
    assert!(
        out.stdout.contains(
            "INPUT       filter:big:1-20000      -s 192.0.2.0/24 -j DROP\n                                    \
             · not matched: source is 198.51.100.9, rule wants 192.0.2.0/24   (20000 rules alike)"
        ),
        "{}",
        &out.stdout[..out.stdout.len().min(3000)]
    );
    let lines = out.stdout.lines().count();
    assert!(lines <= 40, "{lines} lines");
}

/// Issue 15: a rule comment holding an escape sequence (`ESC]0;…` retitles the terminal)
/// reaches the terminal escaped through `trace`.
#[test]
fn issue_15_trace_escapes_control_characters_from_the_ruleset() {
    let file = crate::util::root().join("target/cli-tests-issue-15-escape.sh");
    std::fs::write(
        &file,
        "iptables -A INPUT -s 192.0.2.0/24 -m comment --comment \"\u{1b}]0;pwned\u{7}\" -j DROP\n",
    )
    .unwrap();
    let out = rampart(&[
        "trace",
        "--script",
        file.to_str().unwrap(),
        "--explain",
        "--in",
        "eth0",
        "--src",
        "192.0.2.9",
        "--dst",
        "203.0.113.5",
        "-p",
        "tcp",
        "--dport",
        "22",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("--comment \"\\u{1b}]0;pwned\\u{7}\" -j DROP"),
        "{}",
        out.stdout
    );
}

/// Issue 14: a place as long as its column (`mangle:PREROUTING_direct`, 24 characters)
/// keeps a space before the event.
#[test]
fn issue_14_a_long_place_does_not_run_into_the_event() {
    let file = crate::util::root().join("target/cli-tests-issue-14-long-place.save");
    std::fs::write(
        &file,
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
         :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:PREROUTING_direct - [0:0]\n\
         -A PREROUTING -j PREROUTING_direct\nCOMMIT\n",
    )
    .unwrap();
    let out = rampart(&[
        "trace",
        "--rules",
        file.to_str().unwrap(),
        "--in",
        "eth0",
        "--src",
        "192.0.2.9",
        "--dst",
        "203.0.113.5",
        "-p",
        "tcp",
        "--dport",
        "22",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("mangle:PREROUTING_direct return to PREROUTING"),
        "{}",
        out.stdout
    );
}

/// A trace of a corpus dump (what ufw loads) for one packet, as JSON.
fn trace_corpus(dump: &str, host: &str, packet: &[&str]) -> serde_json::Value {
    let mut args = vec!["trace", "--rules", dump, "--host", host, "--json"];
    args.extend_from_slice(packet);
    let out = rampart(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// A first FIN+ACK is INVALID in the kernel's conntrack (ufw drops INVALID early); a
/// pure ACK is picked up under nf_conntrack_tcp_loose=1, and INVALID with 0.
#[test]
fn first_packet_flags_decide_the_conntrack_state() {
    let packet = |flags| {
        [
            "--in",
            "eth0",
            "--src",
            "198.51.100.7",
            "--dst",
            "203.0.113.2",
            "-p",
            "tcp",
            "--sport",
            "40000",
            "--dport",
            "80",
            "--flags",
            flags,
        ]
    };
    let state = |v: &serde_json::Value| {
        v["trace"]["branches"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["event"]["event"] == "conntrack")
            .map(|s| s["event"]["state"].clone())
            .unwrap()
    };
    let dump = "testdata/corpus/ufw-web.v4";
    let v = trace_corpus(dump, "testdata/corpus/web.host", &packet("FIN,ACK"));
    assert_eq!(state(&v), "INVALID", "{v}");
    assert_eq!(v["trace"]["branches"][0]["fate"]["fate"], "dropped", "{v}");
    let v = trace_corpus(dump, "testdata/corpus/web.host", &packet("ACK"));
    assert_eq!(state(&v), "NEW", "{v}");
    assert_eq!(
        v["trace"]["branches"][0]["fate"]["fate"], "delivered_locally",
        "{v}"
    );
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("strict.host");
    let text = std::fs::read_to_string("testdata/corpus/web.host").unwrap()
        + "sysctl net.netfilter.nf_conntrack_tcp_loose 0\n";
    std::fs::write(&strict, text).unwrap();
    let v = trace_corpus(dump, strict.to_str().unwrap(), &packet("ACK"));
    assert_eq!(state(&v), "INVALID", "{v}");
}

/// A multicast source is dropped by routing, before INPUT; so is a source rp_filter
/// finds no route back to.
#[test]
fn martian_sources_are_dropped_before_input() {
    let packet = |src| {
        [
            "--in",
            "eth0",
            "--src",
            src,
            "--dst",
            "203.0.113.2",
            "-p",
            "tcp",
            "--sport",
            "40000",
            "--dport",
            "80",
            "--flags",
            "SYN",
        ]
    };
    let dump = "testdata/corpus/ufw-web.v4";
    let v = trace_corpus(dump, "testdata/corpus/web.host", &packet("224.0.0.5"));
    let fate = &v["trace"]["branches"][0]["fate"];
    assert_eq!(fate["fate"], "martian", "{v}");
    assert!(
        fate["reason"].as_str().unwrap().contains("multicast"),
        "{v}"
    );
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("lan-only.host");
    std::fs::write(
        &host,
        "interface eth0 203.0.113.2/24\nsysctl net.ipv4.conf.eth0.rp_filter 1\n",
    )
    .unwrap();
    let v = trace_corpus(dump, host.to_str().unwrap(), &packet("198.51.100.7"));
    assert_eq!(v["trace"]["branches"][0]["fate"]["fate"], "martian", "{v}");
    let v = trace_corpus(dump, host.to_str().unwrap(), &packet("203.0.113.7"));
    assert_eq!(
        v["trace"]["branches"][0]["fate"]["fate"], "delivered_locally",
        "{v}"
    );
}

/// `trace --packets` with the classifier (the default) and with `--walk` gives the same
/// fates, rule hits and whole traces, on every example ruleset with a mixed batch
/// (LAN and WAN sources, local and forwarded, replies, SYN bursts against limits).
#[test]
fn batch_classifier_agrees_with_the_walk_on_the_examples() {
    let dir = std::env::temp_dir().join(format!("rampart-cli-walk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let packets = dir.join("mixed.packets");
    let mut lines = String::new();
    for i in 0..120u32 {
        let (iface, src) = match i % 4 {
            0 => ("eth0", format!("192.0.2.{}", 10 + i % 5)),
            1 => ("ppp0", format!("198.51.100.{}", i % 7)),
            2 => ("eth0", format!("198.51.100.{}", i % 3)),
            _ => ("ppp0", "203.0.113.9".to_string()),
        };
        let dst = ["203.0.113.5", "198.51.100.7", "203.0.113.2", "192.0.2.1"][i as usize % 4];
        let (proto, ports) = match i % 5 {
            0 | 1 => (
                "tcp",
                format!(
                    "--sport {} --dport {}",
                    40000 + i % 9,
                    [22, 80, 443][i as usize % 3]
                ),
            ),
            2 => ("udp", format!("--sport {} --dport 53", 5000 + i % 4)),
            3 => (
                "tcp",
                format!("--sport {} --dport 25 --flags ACK", 40000 + i % 9),
            ),
            _ => ("icmp", String::new()),
        };
        lines.push_str(&format!(
            "--in {iface} --src {src} --dst {dst} -p {proto} {ports} --time {}\n",
            f64::from(i) * 0.05
        ));
    }
    std::fs::write(&packets, lines).unwrap();
    for name in [
        "webserver",
        "router",
        "syn-flood",
        "port80-limit",
        "default-deny",
    ] {
        let script = format!("examples/{name}.sh");
        let host = format!("examples/{name}.host");
        let run = |walk: bool| {
            let mut args = vec![
                "trace",
                "--no-block-lists",
                "--script",
                &script,
                "--host",
                &host,
                "--packets",
                packets.to_str().unwrap(),
                "--json",
            ];
            if walk {
                args.push("--walk");
            }
            let out = rampart(&args);
            assert_eq!(out.code, 0, "{name}: {}", out.stderr);
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(v["packets"], 120, "{name}");
            v
        };
        let (fast, walk) = (run(false), run(true));
        for key in ["fates", "rule_hits", "traces"] {
            assert_eq!(fast[key], walk[key], "{name}: {key} differ");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
