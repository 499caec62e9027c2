//! Checks the ipset model against the real kernel: the same commands run by `ipset` inside a
//! fresh network namespace (`rampart_testkit::Netns`, so the host's sets are never touched)
//! must give, once `ipset save` is read back, the sets rampart builds from the commands
//! themselves.
use std::collections::HashSet;

use rampart_ruleset::lex::{split, LexOptions};
use rampart_ruleset::{parse_ipset_args, IpSet, Ruleset, SetEntry, Source};
use rampart_testkit::{require, skip, Need, Netns};

/// Commands covering every type, expansion and extension rampart models. No `forceadd`:
/// the kernel accepts it but `ipset save` does not print it back.
const COMMANDS: &str = "\
create ips hash:ip timeout 300 comment
add ips 192.0.2.1 comment \"first host\"
add ips 192.0.2.8-192.0.2.10 timeout 100
add ips 198.51.100.4/30
create nets hash:net counters
add nets 10.0.0.1-10.0.0.6
add nets 10.9.9.9
add nets 203.0.113.77/24
create six hash:net family inet6 hashsize 100 maxelem 1000
add six 2001:db8::/32
add six 2001:db8:1::1
create ports hash:ip,port
add ports 192.0.2.1,80
add ports 192.0.2.2,udp:53
add ports 192.0.2.3,tcp:8000-8002
add ports 192.0.2.4,sctp:9
add ports 192.0.2.5,gre:0
create netports hash:net,port
add netports 10.0.0.0/8,tcp:22
add netports 10.1.0.0/16,udp:53
create bp bitmap:port range 1000-2000
add bp 1000-1003
add bp tcp:1500
create gone hash:ip
add gone 192.0.2.99
del ips 192.0.2.9
destroy gone
create swapped hash:ip timeout 60
add swapped 192.0.2.50
swap ips swapped
";

/// Each line applied to a ruleset, as `ipset restore` would apply it.
fn model(text: &str) -> Ruleset {
    let src = Source::new("cmds", text);
    let lexed = split(&src, LexOptions::default()).expect("lexes");
    let mut ruleset = Ruleset::default();
    for cmd in lexed.commands {
        let (command, _) = parse_ipset_args(&src, &cmd.words).unwrap_or_else(|e| panic!("{e}"));
        ruleset.apply_set(command).unwrap_or_else(|e| panic!("{e}"));
    }
    ruleset
}

/// A set with its entries as a set (the kernel prints them in hash order) and entry timeouts
/// reduced to present/absent (they count down while the test runs).
fn comparable(set: &IpSet) -> (IpSet, HashSet<SetEntry>) {
    let entries = set
        .entries
        .iter()
        .map(|e| SetEntry {
            timeout: e.timeout.map(|_| 0),
            ..e.clone()
        })
        .collect();
    let header = IpSet {
        entries: Vec::new(),
        ..set.clone()
    };
    (header, entries)
}

#[test]
fn kernel_agrees_with_the_model() {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("ipset")]) {
        return;
    }
    let script = format!(
        "set -e\n{}ipset save\n",
        COMMANDS
            .lines()
            .map(|l| format!("ipset {l}\n"))
            .collect::<String>()
    );
    let out = Netns::fresh("ipset-kernel")
        .command("sh")
        .args(["-c", &script])
        .output()
        .expect("ip netns exec runs");
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("Kernel error") {
            return skip(&format!("no ipset kernel support: {stderr}"));
        }
        panic!("ipset failed: {stderr}");
    }
    let saved = String::from_utf8(out.stdout).expect("utf-8");
    let kernel = model(&saved);
    let expected = model(COMMANDS);
    let names = |r: &Ruleset| r.sets.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&kernel), names(&expected), "{saved}");
    for (k, e) in kernel.sets.iter().zip(&expected.sets) {
        assert_eq!(comparable(k), comparable(e), "set {}\n{saved}", k.name);
    }
}
