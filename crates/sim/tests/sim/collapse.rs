//! `rampart_ruleset::collapse` preserves every packet's fate: random chains of per-address
//! DROP/REJECT rules mixed with conflicting rules (ACCEPTs for overlapping sources, jumps,
//! LOG, RETURN, other verdicts, rate limits), traced before and after with random packets
//! from the listed addresses, their neighbours and the conflicting rules' sources.

use proptest::prelude::*;
use rampart_ruleset::{collapse, parse_script, CollapseOptions, ParseOptions, Ruleset, Source};
use rampart_sim::{Fate, Host, Packet, Simulator};

/// Sources: hosts and small prefixes of two documentation /24s, so rules overlap often.
fn source(i: u8) -> String {
    match i % 8 {
        0..=3 => format!("203.0.113.{}", i % 32),
        4 => format!("203.0.113.{}/30", (i % 32) & !3),
        5 => format!("203.0.113.{}/29", (i % 32) & !7),
        6 => format!("198.51.100.{}", i % 16),
        _ => format!("198.51.100.{}/28", 0),
    }
}

/// One rule of the chain under test, from a random choice and a random source.
fn rule(kind: u8, src: u8) -> String {
    let s = source(src);
    match kind % 20 {
        // Members of three keys, most often the blog post's.
        0..=7 => format!("-A INPUT -s {s} -j DROP"),
        8 | 9 => format!("-A INPUT -s {s} -j REJECT"),
        10 => format!("-A INPUT -s {s} -p tcp --dport 80 -j DROP"),
        // Conflicts and harmless neighbours.
        11 => format!("-A INPUT -s {s} -p tcp --dport 22 -j ACCEPT"),
        12 => format!("-A INPUT -s {s} -j ACCEPT"),
        13 => "-A INPUT -p udp -j ACCEPT".to_string(),
        14 => "-A INPUT -j LOG".to_string(),
        15 => format!("-A INPUT -s {s} -j CHK"),
        16 => format!("-A INPUT -s {s} -j RETURN"),
        17 => format!("-A INPUT ! -s {s} -p tcp --dport 443 -j ACCEPT"),
        18 => format!("-A INPUT -s {s} -m limit --limit 1/sec --limit-burst 1 -j DROP"),
        _ => "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT".to_string(),
    }
}

fn ruleset(rules: &[(u8, u8)]) -> Ruleset {
    let mut text = String::from("iptables -N CHK\niptables -A CHK -s 203.0.113.8/29 -j ACCEPT\n");
    for (kind, src) in rules {
        text.push_str("iptables ");
        text.push_str(&rule(*kind, *src));
        text.push('\n');
    }
    parse_script(&Source::new("fw.sh", text), ParseOptions::default())
        .unwrap()
        .ruleset
}

/// A fate without the rule number (which collapsing changes by design).
fn verdict(fate: Option<&Fate>) -> String {
    match fate {
        Some(Fate::Dropped { table, chain, rule }) => {
            format!("dropped {table}:{chain} rule={}", rule.is_some())
        }
        Some(Fate::Rejected {
            table, chain, with, ..
        }) => format!("rejected {table}:{chain} {}", with.name()),
        Some(other) => other.to_string(),
        None => "no fate".to_string(),
    }
}

fn packet(src: u8, proto: u8, dport: u8, sport: u16, t: f64) -> Packet {
    let src = if src % 4 == 3 {
        format!("198.51.100.{}", src % 20)
    } else {
        format!("203.0.113.{}", src % 40)
    };
    let dport = [22, 80, 443, 53][dport as usize % 4];
    let p = if proto % 3 == 0 {
        Packet::udp(&src, sport, "192.0.2.1", dport)
    } else {
        Packet::tcp(&src, sport, "192.0.2.1", dport).syn()
    };
    p.on("eth0").at(t)
}

/// Runs `packets` through both rulesets (each with its own state) and compares fates.
fn same_fates(before: &Ruleset, after: &Ruleset, packets: &[Packet]) -> Result<(), String> {
    let host = || Host::parse("interface eth0 192.0.2.1/24").unwrap();
    let mut a = Simulator::new(before, host());
    let mut b = Simulator::new(after, host());
    for p in packets {
        let (ta, tb) = (a.run(p), b.run(p));
        let (va, vb) = (verdict(ta.fate()), verdict(tb.fate()));
        if va != vb {
            return Err(format!("{} → before: {va}, after: {vb}", p.src));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn collapse_keeps_every_fate(
        rules in prop::collection::vec((any::<u8>(), any::<u8>()), 1..40),
        packets in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 1024u16..65535), 1..60),
    ) {
        let before = ruleset(&rules);
        let mut after = before.clone();
        collapse(&mut after, &CollapseOptions::default()).unwrap();
        let packets: Vec<Packet> = packets
            .iter()
            .enumerate()
            .map(|(i, (s, pr, d, sp))| packet(*s, *pr, *d, *sp, i as f64 * 0.3))
            .collect();
        if let Err(e) = same_fates(&before, &after, &packets) {
            let text = rules.iter().map(|(k, s)| rule(*k, *s)).collect::<Vec<_>>().join("\n");
            prop_assert!(false, "{e}\nrules:\n{text}");
        }
    }
}

#[test]
fn an_accept_between_keeps_its_source_accepted() {
    let before = ruleset(&[(0, 1), (11, 4), (0, 5), (0, 8), (0, 9)]);
    // -s .1 DROP; -s .4/30 tcp 22 ACCEPT; -s .0/29 DROP; -s .8 DROP; -s .9 DROP
    let mut after = before.clone();
    let report = collapse(&mut after, &CollapseOptions::default()).unwrap();
    assert_eq!(report.runs[0].rules, 3);
    assert_eq!(report.kept, 1);
    let ssh = |src: &str| Packet::tcp(src, 40000, "192.0.2.1", 22).syn().on("eth0");
    let web = |src: &str| Packet::tcp(src, 40000, "192.0.2.1", 80).syn().on("eth0");
    let packets = [
        ssh("203.0.113.5"),
        web("203.0.113.5"),
        ssh("203.0.113.1"),
        ssh("203.0.113.8"),
        web("203.0.113.3"),
    ];
    same_fates(&before, &after, &packets).unwrap();
    let host = Host::parse("interface eth0 192.0.2.1/24").unwrap();
    let mut sim = Simulator::new(&after, host);
    assert!(sim.run(&ssh("203.0.113.5")).fate().unwrap().passed());
    assert!(!sim.run(&web("203.0.113.5")).fate().unwrap().passed());
}

#[test]
fn twenty_thousand_rules_trace_alike() {
    // The documentation ranges cannot hold 20,000 distinct sources: these are 10.0.0.0/8
    // addresses as data only, traced in the simulator (no packet is sent anywhere).
    let mut text = String::new();
    for i in 0..20_000u32 {
        let a = 0x0a00_0000 + i * 3;
        let ip = std::net::Ipv4Addr::from(a);
        text.push_str(&format!("iptables -A INPUT -s {ip} -j DROP\n"));
    }
    let before = parse_script(&Source::new("fw.sh", text), ParseOptions::default())
        .unwrap()
        .ruleset;
    let mut after = before.clone();
    let report = collapse(&mut after, &CollapseOptions::default()).unwrap();
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].rules, 20_000);
    assert_eq!(after.rule_count(), 1);
    let packets: Vec<Packet> = (0..200u32)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i * 7);
            Packet::tcp(&ip.to_string(), 40000, "192.0.2.1", 80)
                .syn()
                .on("eth0")
        })
        .collect();
    same_fates(&before, &after, &packets).unwrap();
}
