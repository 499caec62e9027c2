//! Hand-made rulesets with known anomalies and diffs, and property tests of `diff` against
//! the simulator (the reference walk).

use std::net::IpAddr;

use proptest::prelude::*;
use rampart_analysis::{
    diff, diff_with, exposure, lint, reaches, Access, FindingKind, Locals, PathKind, Point,
    Severity,
};
use rampart_ruleset::{parse_any, ParseOptions, Ruleset, Source};
use rampart_sim::{CtState, Fate, Host, Packet, Simulator};

fn parse(text: &str) -> Ruleset {
    parse_any(&Source::new("test.rules", text), ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

fn kinds_at(report: &rampart_analysis::LintReport, number: usize) -> Vec<FindingKind> {
    report
        .findings
        .iter()
        .filter(|f| {
            f.rules
                .first()
                .is_some_and(|r| r.number == number && r.chain == "INPUT")
        })
        .map(|f| f.kind)
        .collect()
}

const ANOMALIES: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:unused - [0:0]
-A INPUT -s 192.0.2.0/25 -j ACCEPT
-A INPUT -s 192.0.2.128/25 -j ACCEPT
-A INPUT -s 192.0.2.0/24 -j DROP
-A INPUT -s 192.0.2.7/32 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -m limit --limit 3/min -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j DROP
-A INPUT -s 198.51.100.0/24 -p tcp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset
-A INPUT -s 203.0.113.0/24 -j DROP
-A INPUT -s 203.0.113.9/32 -p udp -j ACCEPT
-A INPUT -j DROP
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
-A unused -j ACCEPT
COMMIT
";

#[test]
fn lint_finds_the_known_anomalies() {
    let r = lint(&parse(ANOMALIES)).unwrap();
    // Rule 3 is shadowed by the union of rules 1 and 2 (neither alone covers it).
    assert_eq!(kinds_at(&r, 3), [FindingKind::Shadowed]);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Shadowed)
        .unwrap();
    let by: Vec<usize> = f.rules[1..].iter().map(|r| r.number).collect();
    assert_eq!(by, [1, 2], "{f:?}");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.rules[0].line, Some(8));
    // Rule 4 is redundant with rule 1 (same verdict).
    assert_eq!(kinds_at(&r, 4), [FindingKind::Redundant]);
    // The DROP after the limit rule is not shadowed: the limit may not match.
    assert!(
        !kinds_at(&r, 6)
            .iter()
            .any(|k| matches!(k, FindingKind::Shadowed | FindingKind::Redundant)),
        "{:?}",
        kinds_at(&r, 6)
    );
    // 7 (accept tcp from 198.51.100.0/24) and 8 (reject tcp 80) overlap partly.
    assert!(r.findings.iter().any(|f| f.kind == FindingKind::Correlation
        && f.rules[0].number == 8
        && f.rules[1].number == 7));
    // 10 (udp from 203.0.113.9) is shadowed by 9's DROP of 203.0.113.0/24.
    assert_eq!(kinds_at(&r, 10), [FindingKind::Shadowed]);
    // 12 comes after the unconditional DROP of 11 (which is needed: without it, 12 would
    // accept; and a catch-all is no generalisation finding).
    assert_eq!(kinds_at(&r, 12), [FindingKind::AfterUnconditional]);
    assert_eq!(kinds_at(&r, 11), []);
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::UnreachableChain
            && f.object.as_deref() == Some("filter:unused")));
    assert!(r.has_errors());
}

#[test]
fn lint_generalisation_unused_set_nat_and_counters() {
    let text = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.5:80
-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.6:80
-A PREROUTING -m state --state ESTABLISHED -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [10:1000]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
[5:300] -A INPUT -s 192.0.2.1/32 -j ACCEPT
[0:0] -A INPUT -s 192.0.2.0/24 -j DROP
COMMIT
";
    let mut rs = parse(text);
    rs.sets.push(rampart_ruleset::IpSet {
        name: "spare".into(),
        kind: rampart_ruleset::SetKind::HashNet,
        family: rampart_ruleset::Family::Ipv4,
        timeout: None,
        maxelem: None,
        hashsize: None,
        port_range: None,
        flags: vec![],
        entries: vec![],
        span: None,
    });
    let r = lint(&rs).unwrap();
    let has = |k: FindingKind, chain: &str, n: usize| {
        r.findings.iter().any(|f| {
            f.kind == k
                && f.rules
                    .first()
                    .is_some_and(|r| r.chain == chain && r.number == n)
        })
    };
    assert!(
        has(FindingKind::NatUnreachable, "PREROUTING", 2),
        "{:#?}",
        r.findings
    );
    assert!(
        has(FindingKind::NatUnreachable, "PREROUTING", 3),
        "{:#?}",
        r.findings
    );
    assert!(
        has(FindingKind::Generalisation, "INPUT", 2),
        "{:#?}",
        r.findings
    );
    assert!(has(FindingKind::NeverMatched, "INPUT", 2));
    assert!(!has(FindingKind::NeverMatched, "INPUT", 1));
    assert!(r.findings.iter().any(|f| f.kind == FindingKind::UnusedSet));
}

#[test]
fn user_chains_return_and_goto_are_unfolded() {
    let text = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:web - [0:0]
:admin - [0:0]
-A INPUT -p tcp -j web
-A INPUT -s 192.0.2.0/24 -g admin
-A INPUT -p udp -j ACCEPT
-A web -s 203.0.113.0/24 -j RETURN
-A web -m tcp -p tcp --dport 80 -j ACCEPT
-A admin -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
";
    let old = parse(text);
    let new = parse(&text.replace("-A web -s 203.0.113.0/24 -j RETURN\n", ""));
    let d = diff(&old, &new).unwrap();
    let lines: Vec<String> = d.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        ["ipv4 input: tcp from 203.0.113.0/24 to port 80: DROP → ACCEPT"],
        "{lines:#?}"
    );
    // A udp packet from 192.0.2.0/24 goes to admin and its goto never comes back.
    let e = exposure(&old).unwrap();
    let udp: Vec<_> = e.services.iter().filter(|s| s.proto == "udp").collect();
    assert_eq!(udp.len(), 1, "{udp:#?}");
    assert!(
        udp[0].from.contains("not 192.0.2.0/24") || udp[0].from.contains("0.0.0.0/1"),
        "{udp:#?}"
    );
}

#[test]
fn diff_reports_nat_changes_and_opened_ports() {
    let old = parse(
        "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.5:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
",
    );
    let new = parse(
        "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.6:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
",
    );
    // The DNATed connections go through FORWARD (192.0.2.5 is not this host's), which
    // accepts them: the new target is the change.
    let d = diff(&old, &new).unwrap();
    let text: Vec<String> = d.changes.iter().map(|c| c.to_string()).collect();
    assert!(
        text.iter().any(|l| l.contains("to port 8080")
            && l.contains("DNAT to 192.0.2.5:80")
            && l.contains("DNAT to 192.0.2.6:80")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(
            |l| l.starts_with("ipv4 input: tcp from anywhere to port 80")
                && l.ends_with("DROP → ACCEPT")
        ),
        "{text:#?}"
    );
    assert!(diff(&new, &new).unwrap().is_empty());
}

#[test]
fn exposure_and_the_lockout_question() {
    let rs = parse(
        "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
-A INPUT -p udp -m udp --dport 53 -m limit --limit 10/s -j ACCEPT
COMMIT
",
    );
    let e = exposure(&rs).unwrap();
    let rows: Vec<(String, String, String, Access)> = e
        .services
        .iter()
        .filter(|s| s.family == rampart_ruleset::Family::Ipv4)
        .map(|s| (s.proto.clone(), s.ports.clone(), s.from.clone(), s.access))
        .collect();
    assert_eq!(
        rows,
        [
            (
                "tcp".into(),
                "22".into(),
                "198.51.100.0/24".into(),
                Access::Open
            ),
            (
                "tcp".into(),
                "80,443".into(),
                "anywhere".into(),
                Access::Open
            ),
            ("udp".into(), "53".into(), "anywhere".into(), Access::Maybe),
        ],
        "{:#?}",
        e.services
    );
    let admin: IpAddr = "198.51.100.7".parse().unwrap();
    let stranger: IpAddr = "203.0.113.7".parse().unwrap();
    assert_eq!(reaches(&rs, admin, 22).unwrap(), Access::Open);
    assert_eq!(reaches(&rs, stranger, 22).unwrap(), Access::Closed);
}

/// Every ruleset in the repository: lint runs, and no rule right after a limit rule is
/// called shadowed because of it.
#[test]
fn lint_every_example_and_no_false_shadow_after_a_limit() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut files = Vec::new();
    for dir in [
        "examples",
        "tests/netns/dumps",
        "testdata",
        "testdata/rules",
        "testdata/analysis",
        "crates/ruleset/tests/roundtrip",
    ] {
        let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.display().to_string();
            if name.ends_with(".sh")
                || name.ends_with(".rules")
                || name.ends_with(".save")
                || name.ends_with(".txt")
            {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    let mut linted = 0;
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        let Ok(parsed) = parse_any(
            &Source::new(p.display().to_string(), text),
            ParseOptions::default(),
        ) else {
            continue;
        };
        let rs = parsed.ruleset;
        let report = lint(&rs).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        linted += 1;
        for f in &report.findings {
            if f.kind != FindingKind::Shadowed && f.kind != FindingKind::Redundant {
                continue;
            }
            for by in &f.rules[1..] {
                let rule = &rs
                    .table(by.family, by.table)
                    .unwrap()
                    .chain(&by.chain)
                    .unwrap()
                    .rules[by.number - 1];
                let limited = rule.spec.matches.iter().any(|m| {
                    matches!(
                        m,
                        rampart_ruleset::Match::Limit(_)
                            | rampart_ruleset::Match::Hashlimit(_)
                            | rampart_ruleset::Match::Recent(_)
                            | rampart_ruleset::Match::Connlimit(_)
                    )
                });
                assert!(!limited, "{}: {f:?}", p.display());
            }
        }
    }
    assert!(linted >= 8);
}

/// The built-in policy profiles, lowered as `rampart up` lowers them: lint finds no error
/// in them (a limit rule shadows nothing), and each says what it exposes.
#[test]
fn lint_and_exposure_of_every_builtin_profile() {
    use rampart_policy::{Policy, Profile};
    for profile in [
        Profile::Webserver,
        Profile::Hardened,
        Profile::Router,
        Profile::None,
    ] {
        let compiled = Policy::builtin(profile)
            .to_ruleset(|p| Err(std::io::Error::other(format!("no import {p} in a test"))))
            .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
        let rs = compiled.ruleset;
        let report = lint(&rs).unwrap();
        let errors: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{:?} {}: {}", f.kind, f.rules[0], f.message))
            .collect();
        assert!(errors.is_empty(), "{profile:?}: {errors:#?}");
        let e = exposure(&rs).unwrap();
        if profile != Profile::None {
            // ssh open to anyone in the profiles.
            assert!(
                e.services.iter().any(|s| s.proto == "tcp"
                    && s.ports.split(',').any(|p| p == "22")
                    && s.from == "anywhere"),
                "{profile:?}: {:#?}",
                e.services
            );
        }
    }
}

// ---- property tests against the simulator ----

const SRCS: [&str; 4] = [
    "192.0.2.0/24",
    "192.0.2.128/25",
    "198.51.100.0/24",
    "198.51.100.7/32",
];
const PORTS: [u16; 4] = [22, 80, 443, 8080];

fn rule_text(kind: u8, a: usize, b: usize, verdict: usize) -> String {
    let v = ["ACCEPT", "DROP", "REJECT", "RETURN", "sub"][verdict % 5];
    let s = SRCS[a % SRCS.len()];
    let p = PORTS[b % PORTS.len()];
    match kind % 6 {
        0 => format!("-s {s} -j {v}"),
        1 => format!("-p tcp -m tcp --dport {p} -j {v}"),
        2 => format!("! -s {s} -p udp -m udp --dport {p} -j {v}"),
        3 => format!("-m state --state ESTABLISHED,RELATED -j {v}"),
        4 => format!(
            "-i eth{} -p tcp -m multiport --dports {p},{} -j {v}",
            a % 2,
            p + 1
        ),
        _ => format!("-p tcp -m tcp ! --dport {p} -m conntrack --ctstate NEW -j {v}"),
    }
}

fn ruleset_text(
    policy: bool,
    input: &[(u8, usize, usize, usize)],
    sub: &[(u8, usize, usize, usize)],
) -> String {
    let mut t = format!(
        "*filter\n:INPUT {} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:sub - [0:0]\n",
        if policy { "ACCEPT" } else { "DROP" }
    );
    for &(k, a, b, v) in input {
        // RETURN in a built-in chain is the policy; keep it.
        t += &format!("-A INPUT {}\n", rule_text(k, a, b, v));
    }
    for &(k, a, b, v) in sub {
        // No jumps from sub to itself.
        t += &format!("-A sub {}\n", rule_text(k, a, b, v % 4));
    }
    t + "COMMIT\n"
}

fn arb_rules(n: usize) -> impl Strategy<Value = Vec<(u8, usize, usize, usize)>> {
    prop::collection::vec((0u8..6, 0usize..4, 0usize..4, 0usize..5), 0..n)
}

fn sim_verdict(rs: &Ruleset, p: &Packet) -> &'static str {
    let host =
        Host::parse("interface eth0 192.0.2.1/24 2001:db8::1/64\ninterface eth1 203.0.113.1/24")
            .unwrap();
    let mut sim = Simulator::new(rs, host);
    match sim.run(p).fate() {
        Some(Fate::DeliveredLocally { .. }) => "ACCEPT",
        Some(Fate::Dropped { .. }) => "DROP",
        Some(Fate::Rejected { .. }) => "REJECT",
        other => panic!("{other:?}"),
    }
}

fn arb_packet() -> impl Strategy<Value = (Packet, Point)> {
    (
        0usize..6,
        0u16..4,
        prop::bool::ANY,
        0usize..3,
        0usize..2,
        0u16..3,
    )
        .prop_map(|(s, port, tcp, st, iface, off)| {
            let src = [
                "192.0.2.9",
                "192.0.2.200",
                "198.51.100.7",
                "198.51.100.9",
                "203.0.113.5",
                "10.0.0.1",
            ][s];
            let dport = PORTS[port as usize] + off % 2;
            let state = [CtState::New, CtState::Established, CtState::Invalid][st];
            let iface = ["eth0", "eth1"][iface];
            let mut p = if tcp {
                Packet::tcp(src, 40000, "192.0.2.1", dport).syn()
            } else {
                Packet::udp(src, 40000, "192.0.2.1", dport)
            };
            p = p.on(iface).state(state);
            let point = Point {
                proto: if tcp { 6 } else { 17 },
                src: src.parse().unwrap(),
                dst: "192.0.2.1".parse().unwrap(),
                sport: 40000,
                dport,
                ct: [0, 1, 3][st],
                in_iface: Some(iface.into()),
                out_iface: None,
                tcp_flags: if tcp { 0x02 } else { 0 },
                icmp: (0, 0),
                length: 60,
                mark: 0,
                fragment: false,
                members: vec![],
            };
            (p, point)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// `diff A A` is empty.
    #[test]
    fn diff_of_a_ruleset_with_itself_is_empty(pol in any::<bool>(), input in arb_rules(12), sub in arb_rules(6)) {
        let rs = parse(&ruleset_text(pol, &input, &sub));
        let d = diff(&rs, &rs).unwrap();
        prop_assert!(d.is_empty(), "{:?}", d.changes);
    }

    /// A packet's fate differs between A and B in the simulator exactly when it lies in a
    /// class `diff` reports, with the simulator's verdicts on each side.
    #[test]
    fn diff_agrees_with_the_simulator(
        pa in any::<bool>(), ia in arb_rules(10), sa in arb_rules(5),
        pb in any::<bool>(), ib in arb_rules(10), sb in arb_rules(5),
        packets in prop::collection::vec(arb_packet(), 1..24),
    ) {
        let a = parse(&ruleset_text(pa, &ia, &sa));
        let b = parse(&ruleset_text(pb, &ib, &sb));
        let d = diff(&a, &b).unwrap();
        for (packet, point) in &packets {
            let (x, y) = (sim_verdict(&a, packet), sim_verdict(&b, packet));
            let change = d.change_for(PathKind::Input, point);
            if x == y {
                prop_assert!(change.is_none(), "{packet}: {x} both, but diff says {:?}", change.map(|c| c.to_string()));
            } else {
                let c = change.unwrap_or_else(|| panic!("{packet}: {x} → {y} missing from diff {:#?}", d.changes));
                prop_assert_eq!(&c.before, &vec![x.to_string()]);
                prop_assert_eq!(&c.after, &vec![y.to_string()]);
            }
        }
    }
}

/// A random rule like those of the benchmark's `MIXED=1` rulesets, at a small size:
/// overlapping /24 to /32 sources, sometimes a destination, a port or a range, tcp or
/// udp, sometimes NEW only, any verdict; a third of them in user chains.
type MixedRule = (
    usize,
    usize,
    usize,
    usize,
    usize,
    bool,
    u16,
    u16,
    bool,
    usize,
);

const NETS: [&str; 3] = ["192.0.2", "198.51.100", "203.0.113"];

/// A destination rewrite in the nat table: (port, new port, kind, net).
type NatRule = (u16, u16, usize, usize);

fn nat_text(nat: &[NatRule]) -> String {
    if nat.is_empty() {
        return String::new();
    }
    let mut t = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :POSTROUTING ACCEPT [0:0]\n",
    );
    for &(port, to, kind, net) in nat {
        t += &match kind % 4 {
            0 => format!("-A PREROUTING -p tcp -m tcp --dport {port} -j REDIRECT --to-ports {to}\n"),
            1 => format!(
                "-A PREROUTING -p tcp -m tcp --dport {port} -j DNAT --to-destination 192.0.2.2:{to}\n"
            ),
            // Address only: the port stays, the later rules see the old one.
            2 => format!(
                "-A PREROUTING -s {}.0/24 -p udp -m udp --dport {port} -j DNAT --to-destination 192.0.2.1\n",
                NETS[net % 3]
            ),
            _ => "-A PREROUTING -d 192.0.2.2/32 -p tcp -j DNAT --to-destination 192.0.2.1\n".into(),
        };
    }
    t + "COMMIT\n"
}

fn mixed_text(policy: bool, rules: &[MixedRule], nat: &[NatRule]) -> String {
    let mut t = format!(
        "*filter\n:INPUT {} [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:c0 - [0:0]\n:c1 - [0:0]\n",
        if policy { "ACCEPT" } else { "DROP" }
    );
    for &(chain, net, host, len, dst, tcp, lo, span, new, verdict) in rules {
        let chain = ["INPUT", "INPUT", "c0", "c1"][chain % 4];
        let len = [24, 25, 26, 28, 30, 32][len % 6];
        let host = host & !((1usize << (32 - len)) - 1) & 255;
        let mut r = format!("-A {chain} -s {}.{host}/{len}", NETS[net % 3]);
        if dst < 2 {
            r += &format!(" -d 192.0.2.{}/32", dst + 1);
        }
        let proto = if tcp { "tcp" } else { "udp" };
        r += &format!(" -p {proto} -m {proto} --dport {lo}");
        if span > 0 {
            r += &format!(":{}", lo + span);
        }
        if new {
            r += " -m conntrack --ctstate NEW";
        }
        // c0 may jump on to c1; RETURN in INPUT is the policy.
        let v = match (chain, verdict % 5) {
            ("c0", 4) => "c1",
            (_, v) => ["ACCEPT", "DROP", "REJECT", "RETURN", "DROP"][v],
        };
        t += &format!("{r} -j {v}\n");
    }
    t + "-A INPUT -p tcp -j c0\n-A INPUT -j c1\nCOMMIT\n" + &nat_text(nat)
}

fn arb_nat(n: usize) -> impl Strategy<Value = Vec<NatRule>> {
    prop::collection::vec((1u16..16, 1u16..18, 0usize..4, 0usize..3), 0..n)
}

/// The verdict of a diff's outcome (`ACCEPT (DNAT to 192.0.2.1)` → `ACCEPT`).
fn verdict_of(outcome: &str) -> &str {
    outcome.split(" (").next().unwrap_or(outcome)
}

fn arb_mixed(n: usize) -> impl Strategy<Value = Vec<MixedRule>> {
    prop::collection::vec(
        (
            0usize..4,
            0usize..3,
            0usize..256,
            0usize..6,
            0usize..6,
            any::<bool>(),
            1u16..16,
            prop_oneof![Just(0u16), 1u16..4],
            any::<bool>(),
            0usize..5,
        ),
        0..n,
    )
}

const MIXED_HOST: &str = "interface eth0 192.0.2.1/24 192.0.2.2/24";

/// A packet from the mixed rules' nets (not from the host's own addresses) to one of the
/// host's addresses.
fn arb_mixed_packet() -> impl Strategy<Value = (Packet, Point)> {
    (
        0usize..3,
        3u16..256,
        0usize..2,
        1u16..20,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(net, host, dst, dport, tcp, new)| {
            let src = format!("{}.{host}", NETS[net]);
            let dst = format!("192.0.2.{}", dst + 1);
            let state = if new {
                CtState::New
            } else {
                CtState::Established
            };
            let p = if tcp {
                Packet::tcp(&src, 40000, &dst, dport).syn()
            } else {
                Packet::udp(&src, 40000, &dst, dport)
            };
            let point = Point {
                proto: if tcp { 6 } else { 17 },
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                sport: 40000,
                dport,
                ct: if new { 0 } else { 1 },
                in_iface: Some("eth0".into()),
                out_iface: None,
                tcp_flags: if tcp { 0x02 } else { 0 },
                icmp: (0, 0),
                length: 60,
                mark: 0,
                fragment: false,
                members: vec![],
            };
            (p.on("eth0").state(state), point)
        })
}

fn mixed_verdict(rs: &Ruleset, p: &Packet) -> &'static str {
    let mut sim = Simulator::new(rs, Host::parse(MIXED_HOST).unwrap());
    match sim.run(p).fate() {
        Some(Fate::DeliveredLocally { .. }) => "ACCEPT",
        Some(Fate::Dropped { .. }) => "DROP",
        Some(Fate::Rejected { .. }) => "REJECT",
        other => panic!("{p}: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, .. ProptestConfig::default() })]

    /// The random overlapping rulesets of the benchmark (`MIXED=1`), small, sometimes
    /// after destination rewrites (the same in both, so fates differ by verdict only):
    /// `diff` agrees with the simulator packet by packet, `diff A A` is empty.
    #[test]
    fn diff_of_random_overlapping_rulesets_agrees_with_the_simulator(
        pa in any::<bool>(), ra in arb_mixed(24),
        pb in any::<bool>(), rb in arb_mixed(24),
        nat in arb_nat(4),
        packets in prop::collection::vec(arb_mixed_packet(), 1..32),
    ) {
        let a = parse(&mixed_text(pa, &ra, &nat));
        let b = parse(&mixed_text(pb, &rb, &nat));
        // The simulator's host: a DNAT to either address delivers locally.
        let locals = Locals::loopback().with(["192.0.2.1", "192.0.2.2"].map(|a| a.parse().unwrap()));
        prop_assert!(diff_with(&a, &a, &locals).unwrap().is_empty());
        let d = diff_with(&a, &b, &locals).unwrap();
        prop_assert_eq!(d.more, 0);
        for (packet, point) in &packets {
            let (x, y) = (mixed_verdict(&a, packet), mixed_verdict(&b, packet));
            let change = d.change_for(PathKind::Input, point);
            if x == y {
                prop_assert!(change.is_none(), "{packet}: {x} both, but diff says {:?}", change.map(|c| c.to_string()));
            } else {
                let c = change.unwrap_or_else(|| panic!("{packet}: {x} → {y} missing from diff {:#?}", d.changes));
                prop_assert_eq!(c.before.iter().map(|o| verdict_of(o)).collect::<Vec<_>>(), vec![x]);
                prop_assert_eq!(c.after.iter().map(|o| verdict_of(o)).collect::<Vec<_>>(), vec![y]);
            }
        }
    }

    /// On the same rulesets, the lockout question (the service matrix's partition with a
    /// point for a root) agrees with the simulator: open means every NEW SYN from the
    /// source to the port is accepted, whichever local address it goes to; closed, none.
    #[test]
    fn reaches_on_random_overlapping_rulesets_agrees_with_the_simulator(
        pa in any::<bool>(), ra in arb_mixed(24),
        packets in prop::collection::vec(arb_mixed_packet(), 1..16),
    ) {
        let a = parse(&mixed_text(pa, &ra, &[]));
        for (packet, point) in &packets {
            if point.proto != 6 || point.ct != 0 {
                continue;
            }
            let access = reaches(&a, point.src, point.dport).unwrap();
            let fates: Vec<&str> = ["192.0.2.1", "192.0.2.2"]
                .iter()
                .map(|dst| {
                    let p = Packet::tcp(&point.src.to_string(), 40000, dst, point.dport)
                        .syn()
                        .on("eth0")
                        .state(CtState::New);
                    mixed_verdict(&a, &p)
                })
                .collect();
            match access {
                Access::Open => prop_assert!(fates.iter().all(|f| *f == "ACCEPT"), "{packet}: open, but {fates:?}"),
                Access::Closed => prop_assert!(fates.iter().all(|f| *f != "ACCEPT"), "{packet}: closed, but {fates:?}"),
                Access::Maybe => {}
            }
        }
    }
}

/// The firewalls real tools generate (testdata/corpus: ufw, firewalld, shorewall, ferm)
/// lint without an error: their belt-and-braces catch-alls (firewalld's REJECT after its
/// zones' own), their jumps to empty chains and ferm's `--ctstate DNAT` accept for
/// Docker's forwarded ports are no mistakes.
#[test]
fn lint_the_corpus_without_a_false_error() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/corpus");
    let mut linted = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = p.display().to_string();
        if !(name.ends_with(".v4") || name.ends_with(".v6")) {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let rs = parse_any(&Source::new(name.clone(), text), ParseOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .ruleset;
        let report = lint(&rs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let errors: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == rampart_analysis::Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        linted += 1;
    }
    assert!(linted >= 19, "{linted} dumps");
}

/// The verdict the partition gives each of `points` on the input path of `rs`, splitting
/// its dimensions in the order each node finds best even at small nodes
/// (`reorder_from(0)`; `diff` and friends only reorder nodes of hundreds of instructions).
fn reordered_verdicts(rs: &Ruleset, locals: &Locals, points: &[Point]) -> Vec<String> {
    use rampart_analysis::{compile_with, conditions, rewriters, universe, Placed, Space};
    let mut u = universe(&[rs], rampart_ruleset::Family::Ipv4);
    let c = compile_with(rs, rampart_ruleset::Family::Ipv4, &mut u, locals).unwrap();
    let p = &c.programs[0];
    let cubes = conditions(&p.instrs);
    let space = Space::new(&u, &cubes)
        .with_cutoffs(p.instrs.iter().map(|i| i.cutoff()).collect())
        .with_rewriters(rewriters(&p.instrs))
        .reorder_from(0);
    let dims = u.dims();
    let root: Vec<_> = dims.iter().map(|d| u.full(*d)).collect();
    let at: Vec<Vec<u128>> = points.iter().map(|p| u.coords(p)).collect();
    let placed = Placed {
        program: p,
        offset: 0,
    };
    let mut out = vec![String::new(); points.len()];
    space.partition(&root, &mut |leaf| {
        for (k, xs) in at.iter().enumerate() {
            if leaf.cube.iter().zip(xs).all(|(r, v)| r.contains(*v)) {
                let o = placed.walk(leaf, &dims, 0, None, None);
                let v: Vec<String> = o.iter().map(|x| x.verdict.to_string()).collect();
                out[k] = v.join(" or ");
            }
        }
    });
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, .. ProptestConfig::default() })]

    /// With every node free to split another dimension first, the partition's classes
    /// still decide each packet as the simulator does (the random overlapping rulesets
    /// and nat rewrites above).
    #[test]
    fn reordering_every_node_keeps_the_fates(
        pa in any::<bool>(), ra in arb_mixed(24),
        nat in arb_nat(4),
        packets in prop::collection::vec(arb_mixed_packet(), 1..24),
    ) {
        let a = parse(&mixed_text(pa, &ra, &nat));
        let locals = Locals::loopback().with(["192.0.2.1", "192.0.2.2"].map(|a| a.parse().unwrap()));
        let points: Vec<Point> = packets.iter().map(|(_, p)| p.clone()).collect();
        let got = reordered_verdicts(&a, &locals, &points);
        for ((packet, _), v) in packets.iter().zip(&got) {
            prop_assert_eq!(v.as_str(), mixed_verdict(&a, packet), "{}", packet);
        }
    }
}

/// `--icmp-type 3/1:2` matches codes 1 and 2 (the kernel's range; iptables-save prints
/// `3/1`): narrowing it to `3/1` changes code 2 only.
#[test]
fn icmp_code_ranges_are_every_code_of_the_range() {
    let text = |codes: &str| {
        format!(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A INPUT -p icmp -m icmp --icmp-type {codes} -j ACCEPT\nCOMMIT\n"
        )
    };
    let d = diff(&parse(&text("3/1:2")), &parse(&text("3/1"))).unwrap();
    let at = |code: u8| Point {
        proto: 1,
        src: "203.0.113.5".parse().unwrap(),
        dst: "192.0.2.1".parse().unwrap(),
        sport: 0,
        dport: 0,
        ct: 0,
        in_iface: Some("eth0".into()),
        out_iface: None,
        tcp_flags: 0,
        icmp: (3, code),
        length: 60,
        mark: 0,
        fragment: false,
        members: vec![],
    };
    assert!(d.change_for(PathKind::Input, &at(1)).is_none());
    assert!(d.change_for(PathKind::Input, &at(3)).is_none());
    let c = d
        .change_for(PathKind::Input, &at(2))
        .expect("code 2 changes");
    assert_eq!(c.to_string().matches("ACCEPT → DROP").count(), 1, "{c}");
}
