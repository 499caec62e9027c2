//! The printer checked against the real kernel: our `iptables-save` (and `ipset save`) text
//! for a ruleset is loaded with `ipset restore` / `iptables-restore -c` / `ip6tables-restore
//! -c` in a private network namespace, the kernel dumps it back with `iptables-save -c`, and
//!
//! * the dump must read back to our model (tables, counters and sets), and
//! * every table's dump must be, line for line, the text we printed for it.
//!
//! Needs root, iptables (nft backend), ipset and ip; skipped with a message otherwise,
//! except under CI (`CI` set), where a skip would hide a regression.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rampart_ruleset::{
    parse_save, parse_script, print_sets, to_save, Counters, Family, IpSet, ParseOptions, Ruleset,
    SetEntry, Source,
};

mod common;

use common::COMMANDS;
use rampart_testkit::{require, Need, Netns};

/// Rules the canonical corpus does not reach: sets, quoting, counters' extremes, names.
const EXTRA: &str = r#"
ipset create allow hash:net counters comment
ipset add allow 192.0.2.0/24 comment "office net"
ipset add allow 198.51.100.7 packets 5 bytes 300
ipset create svc hash:ip,port timeout 600
ipset add svc 192.0.2.1,tcp:22
ipset add svc 192.0.2.1,udp:53 timeout 30
ipset create six hash:ip family inet6
ipset add six 2001:db8::1
ipset create ports bitmap:port range 0-1024
ipset add ports 22
iptables -N zeta
iptables -N alpha
iptables -N Mid-1
iptables -A INPUT -m set --match-set allow src -j alpha
iptables -A INPUT -p tcp -m set ! --match-set svc dst,dst -j zeta
iptables -A INPUT -p tcp -m set --match-set ports dst -g Mid-1
ip6tables -A INPUT -m set --match-set six src -j DROP
iptables -A zeta -m comment --comment plain_word-1 -j RETURN
iptables -A zeta -m comment --comment 'it'"'"'s "quoted" \ back' -j RETURN
iptables -A zeta -m comment --comment 'a;b|c$d' -j LOG --log-prefix 'x "y" ' --log-level 7
iptables -A alpha -j LOG --log-prefix plain
iptables -A alpha -j LOG --log-level emerg
iptables -A Mid-1 -p udp -m udp ! --sport 0:1 ! --dport 65535 -j ACCEPT
iptables -A Mid-1 -p tcp -m tcp --tcp-flags NONE NONE -j ACCEPT
iptables -A Mid-1 -p tcp ! --tcp-flags SYN,FIN SYN,FIN -j ACCEPT
iptables -A Mid-1 -m mark --mark 0xffffffff -j MARK --set-xmark 0x0/0xffffffff
iptables -A Mid-1 -m recent --set --name a --mask 255.255.0.0
iptables -A Mid-1 ! -i eth0.100 ! -o br+ ! -p udp ! -f -j ACCEPT
iptables -A Mid-1 -m connlimit --connlimit-upto 1 --connlimit-saddr
iptables -A Mid-1 -m conntrack ! --ctstate NEW --ctproto 132 -j ACCEPT
iptables -A Mid-1 -m addrtype ! --src-type LOCAL ! --dst-type UNSPEC,XRESOLVE --limit-iface-out
iptables -A Mid-1 -m length ! --length 0:65535 -m mac ! --mac-source aa:bb:cc:dd:ee:ff
iptables -A Mid-1 -m iprange --dst-range 192.0.2.1-192.0.2.1 -m limit --limit 4/hour
iptables -t mangle -A OUTPUT -j CONNMARK --set-xmark 0x0/0xffffffff
iptables -t mangle -A OUTPUT -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff00
iptables -t nat -A OUTPUT -p udp -j DNAT --to-destination :53
iptables -t nat -A OUTPUT -p tcp -j DNAT --to-destination 192.0.2.1-192.0.2.9:1000-2000 --random --persistent
iptables -t nat -A POSTROUTING -j SNAT --to-source 192.0.2.1 --random
iptables -t nat -A PREROUTING -p tcp -j REDIRECT --to-ports 8000-8080 --random
iptables -t security -A INPUT -j ACCEPT
ip6tables -N six-chain
ip6tables -A INPUT -j six-chain
ip6tables -A six-chain ! -s 2001:db8::/32 -d ::1 -p 103 -j ACCEPT
ip6tables -A six-chain -m recent --rcheck --mask ffff:ffff:ffff:ff00:: --rdest
ip6tables -A six-chain -m hashlimit --hashlimit-above 2/day --hashlimit-name v6 --hashlimit-srcmask 48 --hashlimit-dstmask 0 --hashlimit-mode srcip,dstip,dstport
ip6tables -A six-chain -m iprange --src-range 2001:db8::1-2001:db8::ff -j ACCEPT
ip6tables -A six-chain -p ipv6-icmp -m icmp6 --icmpv6-type 128/0 -j REJECT --reject-with icmp6-no-route
ip6tables -t nat -A POSTROUTING -j SNAT --to-source 2001:db8::1-2001:db8::9
ip6tables -t nat -A POSTROUTING -p tcp -j MASQUERADE --to-ports 9
ip6tables -t nat -A PREROUTING -p tcp -j DNAT --to-destination [2001:db8::2]:80-90
ip6tables -t raw -A PREROUTING -j CT --notrack
ip6tables -t mangle -A PREROUTING -j MARK --set-xmark 0x1/0x0
"#;

/// The corpus: the kernel-canonical commands, the extra rules above, and every example
/// script of the repository.
fn corpus() -> Vec<(String, String)> {
    let mut out = vec![
        ("kernel_canonical".to_string(), COMMANDS.join("\n")),
        ("extra".to_string(), EXTRA.to_string()),
    ];
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("examples directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "no examples in {}", examples.display());
    for path in scripts {
        let text = std::fs::read_to_string(&path).expect("example readable");
        out.push((path.display().to_string(), text));
    }
    out
}

/// Distinct counters on every rule and built-in chain, so that the printer's counters are
/// checked too (a script gives none).
fn with_counters(mut rs: Ruleset) -> Ruleset {
    let mut n = 0u64;
    for chain in rs.tables.iter_mut().flat_map(|t| &mut t.chains) {
        n += 1;
        if chain.is_builtin() {
            chain.counters = Counters {
                packets: n,
                bytes: n * 1000,
            };
        }
        for rule in &mut chain.rules {
            n += 1;
            rule.counters = Counters {
                packets: n,
                bytes: n * 60 + u64::from(u32::MAX),
            };
        }
    }
    rs
}

/// Loads the printed texts in a fresh network namespace (never the host's firewall) and
/// returns the kernel's dump: `iptables-save -c`, `ip6tables-save -c`, `ipset save`.
fn kernel_round_trip(dir: &Path, sets: &str, v4: &str, v6: &str) -> String {
    std::fs::create_dir_all(dir).expect("temp dir");
    for (name, text) in [("sets", sets), ("v4", v4), ("v6", v6)] {
        std::fs::write(dir.join(name), text).expect("temp file");
    }
    let shell = "set -e\n\
                 ipset restore < sets\n\
                 iptables-restore -c < v4\n\
                 ip6tables-restore -c < v6\n\
                 iptables-save -c\n\
                 ip6tables-save -c\n\
                 ipset save\n";
    let out = Netns::fresh("print-kernel")
        .command("sh")
        .args(["-c", shell])
        .current_dir(dir)
        .output()
        .expect("ip netns exec runs");
    assert!(
        out.status.success(),
        "the kernel refused our text: {}\n--- sets\n{sets}--- v4\n{v4}--- v6\n{v6}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 save output")
}

/// `*table` → its lines up to COMMIT, comments dropped: iptables-save prints the tables in
/// its own order.
fn table_blocks(save: &str) -> BTreeMap<String, Vec<String>> {
    let mut blocks = BTreeMap::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in save.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            current = Some((name.to_string(), Vec::new()));
        } else if line == "COMMIT" {
            let (name, lines) = current.take().expect("COMMIT after a table");
            blocks.insert(name, lines);
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line.to_string());
        }
    }
    blocks
}

/// The IPv4 or IPv6 part of the kernel's dump (each begins with its `# Generated by`).
fn family_part(dump: &str, family: Family) -> String {
    let v6 = dump.find("# Generated by ip6tables-save");
    let sets = dump.find("create ").unwrap_or(dump.len());
    match (family, v6) {
        (Family::Ipv4, Some(i)) => dump[..i].to_string(),
        (Family::Ipv4, None) => dump[..sets].to_string(),
        (Family::Ipv6, Some(i)) => dump[i..sets.max(i)].to_string(),
        (Family::Ipv6, None) => String::new(),
    }
}

/// Whether the IPv6 part of the dump has rule counters, or has no rules to tell.
fn v6_rule_counters_kept(dump: &str) -> bool {
    let part = family_part(dump, Family::Ipv6);
    let mut lines = part.lines().filter(|l| l.starts_with('[')).peekable();
    lines.peek().is_none() || lines.any(|l| !l.starts_with("[0:0] "))
}

/// A set with its entries as a set (the kernel prints them in hash order) and entry timeouts
/// reduced to present/absent (they count down while the test runs).
fn comparable(set: &IpSet) -> (IpSet, BTreeSet<String>) {
    let entries = set
        .entries
        .iter()
        .map(|e| {
            format!(
                "{:?}",
                SetEntry {
                    timeout: e.timeout.map(|_| 0),
                    ..e.clone()
                }
            )
        })
        .collect();
    let header = IpSet {
        entries: Vec::new(),
        ..set.clone()
    };
    (header, entries)
}

fn sorted_tables(mut rs: Ruleset) -> Ruleset {
    rs.tables.sort_by_key(|t| (t.family, t.kind));
    rs
}

#[test]
fn kernel_dump_of_our_text_is_our_text_and_our_model() {
    if !require(&[
        Need::Root,
        Need::Tool("ip"),
        Need::Tool("iptables"),
        Need::Tool("ipset"),
    ]) {
        return;
    }
    let opts = ParseOptions::default();
    for (i, (name, script)) in corpus().into_iter().enumerate() {
        let parsed = parse_script(&Source::new(name.as_str(), script.as_str()), opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = with_counters(parsed.ruleset);
        let sets = print_sets(&ours);
        let v4 = to_save(&ours, Family::Ipv4, true);
        let mut v6 = to_save(&ours, Family::Ipv6, true);
        let dir =
            std::env::temp_dir().join(format!("rampart-print-kernel-{}-{i}", std::process::id()));
        let dump = kernel_round_trip(&dir, &sets, &v4, &v6);
        let _ = std::fs::remove_dir_all(&dir);
        // ip6tables-restore 1.8.9 (nft) loads chain counters but leaves every rule's at
        // zero; when it does, compare the IPv6 rules without their counters.
        let mut ours = ours;
        if !v6_rule_counters_kept(&dump) {
            eprintln!("{name}: ip6tables-restore dropped the rule counters; not compared");
            for table in ours.tables.iter_mut().filter(|t| t.family == Family::Ipv6) {
                for rule in table.chains.iter_mut().flat_map(|c| &mut c.rules) {
                    rule.counters = Counters::default();
                }
            }
            v6 = to_save(&ours, Family::Ipv6, true);
        }

        // Text: each table exactly as the kernel prints it.
        for (family, text) in [(Family::Ipv4, &v4), (Family::Ipv6, &v6)] {
            let kernel = table_blocks(&family_part(&dump, family));
            let printed = table_blocks(text);
            for (table, lines) in &printed {
                let Some(klines) = kernel.get(table) else {
                    panic!("{name}: {family:?} table {table} missing from the dump:\n{dump}");
                };
                for (ours, theirs) in lines.iter().zip(klines) {
                    assert_eq!(ours, theirs, "{name}: {family:?} {table}");
                }
                assert_eq!(lines, klines, "{name}: {family:?} {table}");
            }
        }

        // Model: the dump reads back to what we printed.
        let back = parse_save(&Source::new("kernel dump", dump.as_str()), opts)
            .unwrap_or_else(|e| panic!("{name}: dump does not parse: {e}\n{dump}"))
            .ruleset;
        let (a, b) = (sorted_tables(ours.clone()), sorted_tables(back.clone()));
        assert_eq!(a.tables, b.tables, "{name}:\n{dump}");
        let names = |r: &Ruleset| r.sets.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&back), names(&ours), "{name}: sets");
        for (k, e) in back.sets.iter().zip(&ours.sets) {
            assert_eq!(comparable(k), comparable(e), "{name}: set {}", k.name);
        }
    }
}
