//! The policy file's public API: the shipped example, errors, profiles in the simulator.

use rampart_policy::{Policy, PolicyErrorKind, Profile};
use rampart_ruleset::{to_save_all, Family, Match, Ruleset, Source, TableKind};
use rampart_sim::{Fate, Host, Packet, Simulator};

fn parse(text: &str) -> Policy {
    Policy::parse(&Source::new("rampart.toml", text)).unwrap_or_else(|e| panic!("{e}"))
}

fn compile(text: &str) -> Ruleset {
    parse(text)
        .to_ruleset(|p| panic!("unexpected import {p}"))
        .unwrap()
        .ruleset
}

fn errors(text: &str) -> Vec<rampart_policy::PolicyError> {
    Policy::parse(&Source::new("rampart.toml", text))
        .expect_err("should fail")
        .0
}

const SERVER: &str = "interface eth0 203.0.113.10/24 2001:db8::10/64\n\
                      route default via 203.0.113.1 dev eth0\n\
                      route ::/0 via 2001:db8::1 dev eth0\n";

fn fate(rs: &Ruleset, host: &str, p: Packet) -> Fate {
    let mut sim = Simulator::new(rs, Host::parse(host).unwrap());
    sim.run(&p).fate().cloned().expect("no fork")
}

fn delivered(rs: &Ruleset, p: Packet) -> bool {
    matches!(fate(rs, SERVER, p), Fate::DeliveredLocally { .. })
}

#[test]
fn shipped_example_parses_and_equals_the_webserver_profile() {
    let text = include_str!("../../../dist/rampart.toml");
    let policy = Policy::parse(&Source::new("dist/rampart.toml", text)).unwrap_or_else(|e| {
        panic!("dist/rampart.toml no longer parses:\n{e}");
    });
    assert_eq!(policy.profile, Profile::Webserver);
    let ours = policy.to_ruleset(|_| unreachable!()).unwrap().ruleset;
    let builtin = Policy::builtin(Profile::Webserver)
        .to_ruleset(|_| unreachable!())
        .unwrap()
        .ruleset;
    // Same rules; only the comments differ (keys written in the file say "policy").
    let strip =
        |rs: &Ruleset| to_save_all(rs, false).replace("rampart: webserver:", "rampart: policy:");
    assert_eq!(strip(&ours), strip(&builtin));
}

#[test]
fn every_rule_says_why() {
    for (name, _) in Profile::NAMES {
        let text = format!("profile = \"{name}\"\n[router]\nlan = \"eth1\"\nwan = \"eth0\"\n");
        let rs = compile(&text);
        for table in &rs.tables {
            for chain in &table.chains {
                for rule in &chain.rules {
                    let comment = rule.spec.matches.iter().find_map(|m| match m {
                        Match::Comment(c) => Some(c),
                        _ => None,
                    });
                    assert!(
                        comment.is_some_and(|c| c.starts_with("rampart: ")),
                        "{name}: {} {} rule without a why: {rule:?}",
                        table.kind,
                        chain.name
                    );
                }
            }
        }
    }
}

#[test]
fn webserver_comments_name_the_service() {
    let save = to_save_all(&compile(""), false);
    assert!(save.contains(
        "-A INPUT -p tcp -m tcp --dport 22 -m comment --comment \"rampart: webserver: ssh in\" -j ACCEPT"
    ));
    assert!(save.contains(":INPUT DROP") && save.contains(":OUTPUT ACCEPT"));
}

#[test]
fn webserver_in_the_simulator() {
    let rs = compile("profile = \"webserver\"");
    for port in [22, 80, 443] {
        assert!(delivered(
            &rs,
            Packet::tcp("198.51.100.7", 40000, "203.0.113.10", port)
                .on("eth0")
                .syn()
        ));
        assert!(delivered(
            &rs,
            Packet::tcp("2001:db8:9::7", 40000, "2001:db8::10", port)
                .on("eth0")
                .syn()
        ));
    }
    assert!(!delivered(
        &rs,
        Packet::tcp("198.51.100.7", 40000, "203.0.113.10", 8080)
            .on("eth0")
            .syn()
    ));
    assert!(!delivered(
        &rs,
        Packet::udp("198.51.100.7", 40000, "203.0.113.10", 53).on("eth0")
    ));
    // Ping answered; IPv6 neighbour solicitation accepted so IPv6 keeps working.
    let mut ping = Packet::new(
        rampart_ruleset::Protocol::ICMP,
        "198.51.100.7".parse().unwrap(),
        "203.0.113.10".parse().unwrap(),
    )
    .on("eth0")
    .icmp(8, 0, 1);
    ping.time = 1.0;
    assert!(delivered(&rs, ping));
    let ns = Packet::new(
        rampart_ruleset::Protocol::ICMPV6,
        "2001:db8::1".parse().unwrap(),
        "2001:db8::10".parse().unwrap(),
    )
    .on("eth0")
    .icmp(135, 0, 0);
    assert!(delivered(&rs, ns));
    // Outbound: anything goes.
    let out = fate(
        &rs,
        SERVER,
        Packet::tcp("203.0.113.10", 40000, "198.51.100.9", 25).syn(),
    );
    assert!(matches!(out, Fate::SentOut { .. }), "{out}");
}

#[test]
fn hardened_denies_outbound_except_dns_web_ntp() {
    let rs = compile("profile = \"hardened\"");
    let out = |p: Packet| fate(&rs, SERVER, p);
    assert!(matches!(
        out(Packet::tcp("203.0.113.10", 40000, "198.51.100.9", 443).syn()),
        Fate::SentOut { .. }
    ));
    assert!(matches!(
        out(Packet::udp("203.0.113.10", 40000, "198.51.100.9", 53)),
        Fate::SentOut { .. }
    ));
    assert!(matches!(
        out(Packet::udp("203.0.113.10", 40000, "198.51.100.9", 123)),
        Fate::SentOut { .. }
    ));
    assert!(matches!(
        out(Packet::tcp("203.0.113.10", 40000, "198.51.100.9", 25).syn()),
        Fate::Dropped { .. }
    ));
    assert!(delivered(
        &rs,
        Packet::tcp("198.51.100.7", 40000, "203.0.113.10", 22)
            .on("eth0")
            .syn()
    ));
    assert!(!delivered(
        &rs,
        Packet::tcp("198.51.100.7", 40000, "203.0.113.10", 80)
            .on("eth0")
            .syn()
    ));
    let filter = rs.table(Family::Ipv4, TableKind::Filter).unwrap();
    assert_eq!(
        filter.chain("FORWARD").unwrap().policy,
        Some(rampart_ruleset::Policy::Drop)
    );
}

#[test]
fn router_masquerades_the_lan() {
    let rs = compile("profile = \"router\"\n[router]\nlan = \"eth1\"\nwan = \"eth0\"\n");
    let host = "interface eth0 203.0.113.10/24\ninterface eth1 192.0.2.1/24\n\
                route default via 203.0.113.1 dev eth0\nforwarding yes\n";
    let f = fate(
        &rs,
        host,
        Packet::tcp("192.0.2.50", 40000, "198.51.100.9", 80)
            .on("eth1")
            .syn(),
    );
    match f {
        Fate::Forwarded { out_iface, src, .. } => {
            assert_eq!(out_iface, "eth0");
            assert_eq!(src.to_string(), "203.0.113.10");
        }
        other => panic!("{other}"),
    }
    // WAN to LAN is not forwarded.
    let f = fate(
        &rs,
        host,
        Packet::tcp("198.51.100.9", 40000, "192.0.2.50", 22)
            .on("eth0")
            .syn(),
    );
    assert!(matches!(f, Fate::Dropped { .. }), "{f}");
    // SNAT to a static address.
    let rs = compile(
        "profile = \"router\"\n[router]\nlan = \"eth1\"\nwan = \"eth0\"\nsnat = \"203.0.113.2\"\n",
    );
    let save = to_save_all(&rs, false);
    assert!(save.contains("-j SNAT --to-source 203.0.113.2"), "{save}");
}

#[test]
fn keys_override_profile_defaults_and_keep_the_admins_why() {
    let rs = compile(
        "[input]\npolicy = \"reject\"\ntcp = [22, { port = 8443, comment = \"admin UI\" }, \"60000-61000\"]\n\
         ping = false\nallow_from = [\"192.0.2.0/24\"]\n",
    );
    let save = to_save_all(&rs, false);
    assert!(
        save.contains("--dport 8443 -m comment --comment \"rampart: admin UI\""),
        "{save}"
    );
    assert!(save.contains("--dport 60000:61000 -m comment --comment \"rampart: policy: tcp ports 60000-61000 in\""), "{save}");
    assert!(!save.contains("--dport 80 "));
    assert!(!save.contains("icmp-type 8"));
    assert!(save.contains("-s 192.0.2.0/24 -m comment --comment \"rampart: policy: allow from 192.0.2.0/24\" -j ACCEPT"));
    assert!(save.contains("-j REJECT --reject-with tcp-reset"), "{save}");
    let f = fate(
        &rs,
        SERVER,
        Packet::tcp("198.51.100.7", 40000, "203.0.113.10", 80)
            .on("eth0")
            .syn(),
    );
    assert!(matches!(f, Fate::Rejected { .. }), "{f}");
    // Rules from the file carry the key's line.
    let input = &rs
        .table(Family::Ipv4, TableKind::Filter)
        .unwrap()
        .chain("INPUT")
        .unwrap()
        .rules;
    let admin = input
        .iter()
        .find(|r| format!("{:?}", r.spec).contains("admin UI"))
        .unwrap();
    assert_eq!(admin.span.map(|s| s.line), Some(3));
}

#[test]
fn unknown_key_names_file_line_column_key_and_hint() {
    let e = errors("profile = \"webserver\"\n[input]\ntcp = [22]\nallow_form = [\"192.0.2.1\"]\n");
    assert_eq!(e.len(), 1);
    let e = &e[0];
    assert_eq!((e.line, e.column), (4, 1));
    assert_eq!(e.key.as_deref(), Some("input.allow_form"));
    assert_eq!(e.kind, PolicyErrorKind::UnknownKey("allow_form".into()));
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `allow_from`?"),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("rampart.toml:4:1: `input.allow_form`: unknown key `allow_form`"),
        "{text}"
    );
    assert!(text.contains("^^^^^^^^^^"), "{text}");
}

#[test]
fn unknown_top_level_key() {
    let e = errors("profil = \"webserver\"\n");
    assert_eq!(e[0].key.as_deref(), Some("profil"));
    assert!(e[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("did you mean `profile`?"));
}

#[test]
fn bad_values_are_all_reported_with_positions() {
    let e = errors(
        "profile = \"webservr\"\n[input]\ntcp = [22, 70000, \"http\", \"x-y\"]\nallow_from = [\"192.0.2.300\"]\nping = { rate = \"5/fortnight\" }\n",
    );
    let got: Vec<(u32, Option<&str>)> = e.iter().map(|e| (e.line, e.key.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (1, Some("profile")),
            (3, Some("input.tcp")),
            (3, Some("input.tcp")),
            (4, Some("input.allow_from")),
            (5, Some("input.ping")),
        ],
        "{e:#?}"
    );
    assert!(e[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("did you mean `webserver`?"));
    assert_eq!(e[1].column, 12);
}

#[test]
fn wrong_type_is_a_toml_error_with_position() {
    let e = errors("[input]\ntcp = 22\n");
    assert_eq!((e[0].line, e[0].key.as_deref()), (2, Some("input.tcp")));
    assert!(matches!(e[0].kind, PolicyErrorKind::Toml(_)));
}

#[test]
fn router_needs_its_interfaces() {
    let e = errors("profile = \"router\"\n");
    assert_eq!(e[0].kind, PolicyErrorKind::Missing("router".into()));
    let e = errors("profile = \"router\"\n[router]\nlan = \"eth0\"\nwan = \"eth0\"\nnat = \"masquerade\"\nsnat = \"203.0.113.2\"\n");
    assert_eq!(e.len(), 2, "{e:#?}");
}

#[test]
fn import_appends_legacy_rules_through_the_ruleset_engine() {
    let policy = parse("[import]\nfiles = [\"legacy.rules\"]\n");
    let compiled = policy
        .to_ruleset(|path| {
            assert_eq!(path, "legacy.rules");
            Ok("iptables -N LEGACY\niptables -A LEGACY -s 198.51.100.0/24 -j DROP\niptables -A INPUT -p tcp --dport 25 -j LEGACY\niptables -A INPUT -p tcp --dport 25 -j ACCEPT\n".into())
        })
        .unwrap();
    let save = to_save_all(&compiled.ruleset, false);
    assert!(save.contains(":LEGACY - [0:0]"), "{save}");
    assert!(save.ends_with("-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\nCOMMIT\n# Generated by ip6tables-save (rampart)\n*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n") || save.contains("--dport 25 -j LEGACY"), "{save}");
    assert!(delivered(
        &compiled.ruleset,
        Packet::tcp("192.0.2.9", 4000, "203.0.113.10", 25)
            .on("eth0")
            .syn()
    ));
    assert!(!delivered(
        &compiled.ruleset,
        Packet::tcp("198.51.100.9", 4000, "203.0.113.10", 25)
            .on("eth0")
            .syn()
    ));

    // A bad imported line is an error at the import, showing the imported file's line.
    let e = policy
        .to_ruleset(|_| Ok("iptables -A INPUT -m recentt -j DROP\n".into()))
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(
            "rampart.toml:2:10: `import.files`: imported file `legacy.rules` does not load"
        ),
        "{text}"
    );
    assert!(text.contains("legacy.rules:1:"), "{text}");
    let e = policy
        .to_ruleset(|_| Err(std::io::Error::from(std::io::ErrorKind::NotFound)))
        .unwrap_err();
    assert!(matches!(e.0[0].kind, PolicyErrorKind::ImportRead { .. }));
}

#[test]
fn profile_none_with_import_is_the_import() {
    let policy = parse("profile = \"none\"\n[import]\nfiles = [\"a\"]\n");
    let rs = policy
        .to_ruleset(|_| Ok("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 23 -j DROP\nCOMMIT\n".into()))
        .unwrap()
        .ruleset;
    assert!(!delivered(
        &rs,
        Packet::tcp("192.0.2.9", 4000, "203.0.113.10", 23)
            .on("eth0")
            .syn()
    ));
    assert!(delivered(
        &rs,
        Packet::tcp("192.0.2.9", 4000, "203.0.113.10", 24)
            .on("eth0")
            .syn()
    ));
}

#[test]
fn every_unknown_key_is_reported_at_once() {
    let e = errors(
        "profil = \"webserver\"\n[input]\ntcp = [22, { port = 80, coment = \"web\" }]\nping = { rate = \"1/s\", bursts = 3 }\n[outpt]\npolicy = \"drop\"\n",
    );
    let got: Vec<(u32, u32, Option<&str>)> = e
        .iter()
        .map(|e| (e.line, e.column, e.key.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, Some("profil")),
            (3, 25, Some("input.tcp.coment")),
            (4, 24, Some("input.ping.bursts")),
            (5, 2, Some("outpt")),
        ],
        "{e:#?}"
    );
    assert!(e[1]
        .hint
        .as_deref()
        .unwrap()
        .starts_with("did you mean `comment`?"));
    assert!(e[3]
        .hint
        .as_deref()
        .unwrap()
        .starts_with("did you mean `output`?"));
}

#[test]
fn syntax_errors_point_at_the_line() {
    let e = errors("[input]\ntcp = [22,\nudp = 5\n");
    assert!(matches!(e[0].kind, PolicyErrorKind::Toml(_)), "{e:#?}");
    assert!(e[0].line >= 2, "{e:#?}");
}

/// Issue 15: a policy of 80,000 lines, each with an escape sequence (a TOML syntax error,
/// two per line) and an unknown key:
/// the first MAX_ERRORS are shown, escaped and short, the rest counted, in linear time
/// (each error used to count the newlines before it).
#[test]
fn issue15_hostile_policy_errors_are_bounded_and_escaped() {
    let mut text = String::from("profile = \"webserver\"\n");
    for i in 0..80_000 {
        text.push_str(&format!(
            "k{i} = \"\u{1b}]0;pwned\u{7}{}\"\n",
            "x".repeat(200)
        ));
    }
    let e = Policy::parse(&Source::new("p\u{1b}.toml", text)).unwrap_err();
    assert_eq!(e.0.len(), rampart_safeio::MAX_ERRORS);
    assert_eq!(e.total(), 160_000);
    let shown = e.to_string();
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown}"
    );
    assert!(shown.ends_with("\n\n... and 159980 more"), "{shown}");
    assert!(shown.starts_with("p\\u{1b}.toml:2:"), "{shown}");
    assert!(shown.contains("\\u{1b}]0;pwned\\u{7}"), "{shown}");
    for line in shown.lines() {
        assert!(line.chars().count() < 200, "{line}");
    }

    // Valid TOML, 80,000 unknown keys: twenty errors built, every one counted.
    let mut text = String::from("profile = \"webserver\"\n");
    for i in 0..80_000 {
        text.push_str(&format!("k{i} = \"{}\"\n", "x".repeat(200)));
    }
    let e = Policy::parse(&Source::new("p.toml", text)).unwrap_err();
    assert_eq!((e.0.len(), e.total()), (rampart_safeio::MAX_ERRORS, 80_000));
    assert!(
        e.to_string()
            .starts_with("p.toml:2:1: `k0`: unknown key `k0`"),
        "{e}"
    );
}
