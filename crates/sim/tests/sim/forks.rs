//! Undecidable tests fork the walk; traces print and serialise.

use rampart_ruleset::{
    Family, LengthRange, Match, Neg, Policy, Protocol, Ruleset, SetDir, SetMatch, TableKind, Target,
};
use rampart_sim::{Event, Fate, Packet, Simulator, MAX_BRANCHES};

use crate::util::*;

const F: TableKind = TableKind::Filter;

fn no_ports() -> Packet {
    Packet::new(Protocol::TCP, ip("198.51.100.7"), ip("203.0.113.2")).on("eth0")
}

#[test]
fn unknown_port_forks_with_assumptions() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(&mut rs, F, "INPUT", spec().tcp_dport(22).j(Target::Accept));
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(&no_ports());
    assert_eq!(t.branches.len(), 2);
    assert_eq!(t.fate(), None);
    assert_eq!(
        t.branches[0].assumptions[0].to_string(),
        "assumed --dport 22 matches"
    );
    assert!(t.branches[0].fate.passed());
    assert_eq!(
        t.branches[1].assumptions[0].to_string(),
        "assumed --dport 22 does not match"
    );
    assert_eq!(t.branches[1].fate, dropped(F, "INPUT", None));
    let text = t.to_string();
    assert!(text.contains("branch 2 of 2:"), "{text}");
}

#[test]
fn port_assumptions_imply_other_port_tests() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(&mut rs, F, "INPUT", spec().tcp_dport(22).j(Target::Accept));
    add4(&mut rs, F, "INPUT", spec().tcp_dport(80).j(Target::Accept));
    add4(
        &mut rs,
        F,
        "INPUT",
        spec().tcp_dport(22).j(Target::Log(Default::default())),
    );
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(&no_ports());
    // 22; not 22 but 80; neither. Never "22 and 80".
    assert_eq!(t.branches.len(), 3, "{t}");
    assert_eq!(t.branches[2].assumptions.len(), 2);
}

#[test]
fn forks_are_bounded() {
    let mut rs = Ruleset::default();
    for i in 0..10u16 {
        add4(
            &mut rs,
            F,
            "INPUT",
            spec()
                .m(Match::Length(Neg::plain(LengthRange { lo: i, hi: i })))
                .j(Target::Log(Default::default())),
        );
    }
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(&no_ports());
    assert_eq!(t.branches.len(), MAX_BRANCHES);
    assert!(t.truncated);
    assert!(t.to_string().contains("more branches not explored"));
}

#[test]
fn missing_set_forks_and_warns() {
    let mut rs = Ruleset::default();
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .m(Match::Set(SetMatch {
                name: "nosuch".into(),
                dirs: vec![SetDir::Src],
                negated: false,
            }))
            .j(Target::Drop),
    );
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(&Packet::tcp("198.51.100.7", 1, "203.0.113.2", 22).on("eth0"));
    assert_eq!(t.branches.len(), 2);
    assert!(matches!(t.branches[0].fate, Fate::Dropped { .. }));
    assert!(t.branches[1].fate.passed());
    assert!(t.branches[0]
        .steps
        .iter()
        .any(|s| matches!(&s.event, Event::Warning { message } if message.contains("nosuch"))));
}

#[test]
fn only_the_first_branch_changes_state() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(&mut rs, F, "INPUT", spec().tcp_dport(22).j(Target::Accept));
    let mut sim = Simulator::new(&rs, server());
    let t = sim.run(&no_ports());
    assert_eq!(t.committed_branch, 0);
    assert_eq!(sim.flow_count(), 1);
}

#[test]
fn trace_display_and_json() {
    let mut rs = Ruleset::default();
    rs.table_mut(Family::Ipv4, TableKind::Raw);
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(&mut rs, F, "INPUT", spec().tcp_dport(22).j(Target::Accept));
    let mut sim = Simulator::new(&rs, server());
    let p = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22)
        .on("eth0")
        .syn();
    let json = serde_json::to_string(&p).unwrap();
    let back: Packet = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    // Unset fields may be left out of JSON.
    let short: Packet = serde_json::from_str(
        r#"{"protocol":6,"src":"198.51.100.7","dst":"203.0.113.2","in_iface":"eth0"}"#,
    )
    .unwrap();
    assert_eq!(short.dport, None);

    let t = sim.run(&p);
    let text = t.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "PREROUTING  raw:PREROUTING          (no rules, policy ACCEPT)"
    );
    assert!(lines[1].starts_with("conntrack"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("INPUT       filter:INPUT:1")),
        "{text}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "fate: delivered locally to 203.0.113.2:22"
    );
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["branches"][0]["fate"]["fate"], "delivered_locally");
}
