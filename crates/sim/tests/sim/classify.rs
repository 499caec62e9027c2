//! The compiled classifier gives exactly the reference walk's traces: random rulesets
//! (every table, user chains with jump/goto/RETURN, negations, interfaces, ports,
//! conntrack states, rate limits, `recent`, sets defined and not, marks, NAT, NOTRACK)
//! and random packet sequences (some with unset fields that fork) go through two
//! simulators, one walking every rule and one with the classifier, and every trace (as
//! JSON: branches, steps, hits, hints, fates) and the flow count must be equal; state
//! carries from packet to packet, so a state effect the classifier lost would show up in
//! a later packet. The synthetic 5,000-rule shape is checked the same way.

use proptest::prelude::*;
use rampart_ruleset::synthetic::synthetic_save;
use rampart_ruleset::{parse_save, parse_script, ParseOptions, Protocol, Ruleset, Source};
use rampart_sim::{CtState, Host, Packet, Simulator};

const ADDRS: [&str; 9] = [
    "203.0.113.1",
    "203.0.113.5",
    "203.0.113.0/29",
    "198.51.100.0/24",
    "198.51.100.7",
    "192.0.2.1",
    "192.0.2.0/25",
    "0.0.0.0/0",
    "203.0.113.200",
];

/// One test of a rule (written for the chain kinds where iptables allows it).
fn piece(kind: u8, n: u8, chain: &str) -> String {
    let a = ADDRS[n as usize % ADDRS.len()];
    let port = [22, 80, 443, 1000, 53][n as usize % 5];
    let inbound = matches!(chain, "INPUT" | "FORWARD" | "PREROUTING");
    let outbound = matches!(chain, "OUTPUT" | "FORWARD" | "POSTROUTING");
    match kind % 30 {
        0 | 1 => format!("-s {a}"),
        2 => format!("! -s {a}"),
        3 | 4 => format!("-d {a}"),
        5 => format!("! -d {a}"),
        6 if inbound => ["-i eth0", "-i eth+", "! -i eth1", "-i lo"][n as usize % 4].into(),
        7 if outbound => ["-o eth1", "-o +", "! -o eth0", "-o lo"][n as usize % 4].into(),
        8 => ["-p tcp", "-p udp", "-p icmp", "! -p tcp"][n as usize % 4].into(),
        9 | 10 => format!("-p tcp -m tcp --dport {port}"),
        11 => format!("-p tcp -m tcp --sport {port}:{}", port + 100),
        12 => format!("-p tcp -m tcp ! --dport {port}"),
        13 => "-p tcp -m tcp --tcp-flags SYN,ACK SYN".into(),
        14 => format!("-p udp -m udp --dport {port}"),
        15 => format!("-p tcp -m multiport --dports 22,80,{port}:{}", port + 5),
        16 => format!("-p udp -m multiport --sports {port}"),
        17 => format!("-p tcp -m multiport --ports {port}"),
        18 => ["-m state --state NEW", "-m state --state ESTABLISHED,RELATED"][n as usize % 2]
            .into(),
        19 => [
            "-m conntrack --ctstate NEW,DNAT",
            "-m conntrack --ctstate INVALID",
            "-m conntrack ! --ctstate NEW",
            "-m state ! --state ESTABLISHED",
            "-m conntrack --ctstate NEW --ctdir ORIGINAL",
            "-m conntrack --ctorigdstport 22",
        ][n as usize % 6]
            .into(),
        20 => "-m limit --limit 2/sec --limit-burst 1".into(),
        21 => ["-m recent --name r --set", "-m recent --name r --rcheck --seconds 5"]
            [n as usize % 2]
            .into(),
        22 => "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-name h".into(),
        23 => "-m mark --mark 0x1".into(),
        24 if inbound => "-m mac --mac-source aa:bb:cc:dd:ee:ff".into(),
        25 => "-m length --length 0:100".into(),
        26 => ["-m set --match-set blk src", "-m set --match-set nosuch dst", "-m set ! --match-set blk src"]
            [n as usize % 3]
            .into(),
        27 => "-p icmp -m icmp --icmp-type 8".into(),
        28 => "-m iprange --src-range 203.0.113.1-203.0.113.5".into(),
        _ => "-m comment --comment x".into(),
    }
}

fn target(kind: u8, table: &str, chain: &str) -> String {
    let user_ok = chain != "U2";
    match (kind % 12, table) {
        (0 | 1, _) if table == "filter" => " -j ACCEPT".into(),
        (2 | 3, "filter") => " -j DROP".into(),
        (4, "filter") => " -j REJECT".into(),
        (5, _) => " -j LOG --log-prefix t".into(),
        (6, _) if chain.starts_with('U') => " -j RETURN".into(),
        (7, "filter") if user_ok => " -j U2".into(),
        (8, "filter") if user_ok && chain != "U1" => " -j U1".into(),
        (9, "filter") if user_ok => " -g U2".into(),
        (10, "mangle") => " -j MARK --set-mark 0x1".into(),
        (10, "raw") => " -j CT --notrack".into(),
        (10 | 11, "nat") if chain == "PREROUTING" => {
            " -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.1:80".into()
        }
        (10 | 11, "nat") if chain == "POSTROUTING" => " -o eth1 -j MASQUERADE".into(),
        (11, "filter") => " -j SET --add-set blk src".into(),
        _ => String::new(),
    }
}

/// Where a generated rule goes.
const PLACES: [(&str, &str); 11] = [
    ("filter", "INPUT"),
    ("filter", "INPUT"),
    ("filter", "INPUT"),
    ("filter", "FORWARD"),
    ("filter", "OUTPUT"),
    ("filter", "U1"),
    ("filter", "U2"),
    ("mangle", "PREROUTING"),
    ("raw", "PREROUTING"),
    ("nat", "PREROUTING"),
    ("nat", "POSTROUTING"),
];

/// A rule's tests: each header option once (the first wins), modules needing another
/// protocol than the rule's left out, as iptables would refuse them.
fn tests(pieces: &[(u8, u8)], chain: &str) -> String {
    let mut proto: Option<String> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (k, n) in pieces {
        let text = piece(*k, *n, chain);
        let words: Vec<&str> = text.split(' ').collect();
        let (neg, flag_at) = if words[0] == "!" {
            (true, 1)
        } else {
            (false, 0)
        };
        let flag = words[flag_at];
        if flag == "-p" {
            let want = format!("{}{}", if neg { "! " } else { "" }, words[flag_at + 1]);
            match &proto {
                None => proto = Some(want),
                Some(p) if *p == want => {}
                Some(_) => continue,
            }
            let rest = words[flag_at + 2..].join(" ");
            if !rest.is_empty() {
                out.push(rest);
            }
        } else if flag.starts_with("-m") || !seen.iter().any(|f| f == flag) {
            seen.push(flag.to_string());
            out.push(text.clone());
        }
    }
    let mut all: Vec<String> = proto.map(|p| format!("-p {p}")).into_iter().collect();
    all.extend(out);
    all.join(" ")
}

type RuleGen = (u8, Vec<(u8, u8)>, u8);

fn script(rules: &[RuleGen]) -> String {
    let mut text = String::from(
        "ipset create blk hash:ip\nipset add blk 203.0.113.5\n\
         iptables -N U1\niptables -N U2\niptables -P FORWARD DROP\niptables -P INPUT DROP\n",
    );
    for (place, pieces, tgt) in rules {
        let (table, chain) = PLACES[*place as usize % PLACES.len()];
        let line = format!(
            "iptables -t {table} -A {chain} {}{}\n",
            tests(pieces, chain),
            target(*tgt, table, chain)
        );
        text.push_str(&line);
    }
    text
}

type PacketGen = (u8, u8, u8, u8, u8, u8);

fn packet(g: &PacketGen, i: usize) -> Packet {
    let (proto, src, dst, port, iface, extra) = *g;
    let src = [
        "203.0.113.1",
        "203.0.113.5",
        "203.0.113.3",
        "198.51.100.7",
        "192.0.2.9",
    ][src as usize % 5];
    let dst = ["192.0.2.1", "198.51.100.7", "192.0.2.200"][dst as usize % 3];
    let dport = [22, 80, 443, 1000, 8080, 53][port as usize % 6];
    let sport = 1000 + u16::from(port) * 7;
    let mut p = match proto % 4 {
        0 | 1 => Packet::tcp(src, sport, dst, dport).syn(),
        2 => Packet::udp(src, sport, dst, dport),
        _ => Packet::new(Protocol::ICMP, src.parse().unwrap(), dst.parse().unwrap()).icmp(8, 0, 1),
    };
    match iface % 4 {
        0 | 1 => p = p.on("eth0"),
        2 => p = p.on("eth1"),
        _ => {}
    }
    // Unset fields (forks), marks, lengths, MACs, forced states and replies.
    match extra % 10 {
        0 => p.sport = None,
        1 => p.dport = None,
        2 => p.tcp_flags = None,
        3 => p.mark = 1,
        4 => p.length = Some(60),
        5 => {
            p.mac_src = Some(rampart_ruleset::MacAddr([
                0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
            ]))
        }
        6 => p = p.state(CtState::Established),
        7 if p.protocol == Protocol::TCP => p = p.flags(rampart_ruleset::TcpFlags::ACK),
        _ => {}
    }
    p.at(i as f64 * 0.3)
}

fn host() -> Host {
    Host::parse("interface eth0 192.0.2.1/24\ninterface eth1 198.51.100.1/24\nforwarding yes\n")
        .unwrap()
}

/// Runs `packets` through a walking and a classifying simulator; the traces must agree.
fn agree(ruleset: &Ruleset, packets: &[Packet]) -> Result<(), TestCaseError> {
    let mut walk = Simulator::new(ruleset, host());
    let mut fast = Simulator::new(ruleset, host());
    fast.set_classifier(true);
    for p in packets {
        let a = walk.run(p);
        let b = fast.run(p);
        let (ja, jb) = (
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap(),
        );
        prop_assert!(ja == jb, "packet {p}\nwalk:\n{a}\nclassifier:\n{b}");
        prop_assert_eq!(walk.flow_count(), fast.flow_count());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn classifier_agrees_with_the_walk(
        rules in prop::collection::vec(
            (any::<u8>(), prop::collection::vec((any::<u8>(), any::<u8>()), 0..4), any::<u8>()),
            0..40,
        ),
        packets in prop::collection::vec(
            (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
            1..30,
        ),
    ) {
        let text = script(&rules);
        let parsed = parse_script(&Source::new("fw.sh", text.clone()), ParseOptions::default());
        // Combinations iptables refuses (a parse error) say nothing about the classifier.
        prop_assume!(parsed.is_ok());
        let ruleset = parsed.unwrap().ruleset;
        let packets: Vec<Packet> = packets.iter().enumerate().map(|(i, g)| packet(g, i)).collect();
        agree(&ruleset, &packets)?;
    }

    #[test]
    fn classifier_agrees_on_the_synthetic_ruleset(
        rules in 1usize..600,
        packets in prop::collection::vec((0u8..3, 0u16..210, 0u16..12, any::<bool>()), 1..40),
    ) {
        let ruleset = parse_save(&Source::new("s.rules", synthetic_save(rules)), ParseOptions::default())
            .unwrap()
            .ruleset;
        const NETS: [&str; 3] = ["192.0.2", "198.51.100", "203.0.113"];
        let packets: Vec<Packet> = packets
            .iter()
            .enumerate()
            .map(|(i, (net, host, port, udp))| {
                let src = format!("{}.{host}", NETS[*net as usize]);
                let dport = 1000 + port;
                let p = if *udp {
                    Packet::udp(&src, 40000, "192.0.2.1", dport)
                } else {
                    Packet::tcp(&src, 40000, "192.0.2.1", dport).syn()
                };
                p.on("eth0").at(i as f64)
            })
            .collect();
        agree(&ruleset, &packets)?;
    }
}

/// Looping chains hit the evaluation bound at the same point either way.
#[test]
fn classifier_stops_where_the_walk_stops() {
    let mut text = String::from("iptables -N A\niptables -N B\n");
    for _ in 0..300 {
        text.push_str("iptables -A A -s 198.51.100.9 -j DROP\n");
        text.push_str("iptables -A B -s 198.51.100.9 -j DROP\n");
    }
    for _ in 0..200 {
        text.push_str("iptables -A INPUT -j A\niptables -A INPUT -j B\n");
    }
    let ruleset = parse_script(&Source::new("fw.sh", text), ParseOptions::default())
        .unwrap()
        .ruleset;
    let p = Packet::tcp("203.0.113.1", 4000, "192.0.2.1", 22)
        .syn()
        .on("eth0");
    agree(&ruleset, &[p]).unwrap();
}

/// Every match module of `testdata/rules/matches.rules` (the printing test's catalogue,
/// one rule per line), each with a narrowing test before and after it, ACCEPT or DROP:
/// the classifier and the walk agree on packets with and without the optional fields.
#[test]
fn classifier_agrees_on_every_module_of_the_catalogue() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/rules/matches.rules"
    );
    let catalogue = std::fs::read_to_string(path).unwrap();
    let mut text =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    let mut used = 0;
    for line in catalogue.lines().filter(|l| !l.starts_with('#')) {
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        let [family, table, chain, options] = words[..] else {
            continue;
        };
        if family != "4" || table != "filter" {
            continue;
        }
        let candidate = [
            format!("-A {chain} -p tcp -m tcp --dport 22 {options} -j ACCEPT\n"),
            format!("-A {chain} {options} -m state --state NEW -s 203.0.113.0/29 -j DROP\n"),
        ];
        let alone = format!("*filter\n{}{}COMMIT\n", candidate[0], candidate[1]);
        if parse_save(&Source::new("one.rules", alone), ParseOptions::default()).is_ok() {
            text.push_str(&candidate[0]);
            text.push_str(&candidate[1]);
            used += 1;
        }
    }
    text.push_str("COMMIT\n");
    assert!(used > 20, "only {used} catalogue rules parsed");
    let ruleset = parse_save(
        &Source::new("catalogue.rules", text),
        ParseOptions::default(),
    )
    .unwrap()
    .ruleset;
    let mut packets = Vec::new();
    for i in 0..60u8 {
        let g = (i % 4, i % 5, i % 3, i % 6, i % 4, i % 10);
        packets.push(packet(&g, usize::from(i)));
    }
    agree(&ruleset, &packets).unwrap();
}
