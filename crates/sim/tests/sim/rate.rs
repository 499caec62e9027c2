//! Stateful matches: limit, hashlimit, recent, connlimit.

use rampart_ruleset::{
    ConnlimitMatch, CtStates, Family, HashlimitKey, HashlimitLimit, HashlimitMatch, LimitMatch,
    LimitMode, Match, Policy, Rate, RateUnit, RecentCommand, RecentMatch, Ruleset, TableKind,
    Target,
};
use rampart_sim::{Packet, Simulator};

use crate::util::*;

const F: TableKind = TableKind::Filter;

fn limit(count: u32, unit: RateUnit, burst: u32) -> Match {
    Match::Limit(LimitMatch {
        rate: Rate { count, unit },
        burst,
        negated: false,
    })
}

fn syn(sport: u16, t: f64) -> Packet {
    Packet::tcp("198.51.100.7", sport, "203.0.113.2", 80)
        .on("eth0")
        .syn()
        .at(t)
}

#[test]
fn syn_flood_chain_limits_to_rate_and_burst() {
    let mut rs = Ruleset::default();
    add4(
        &mut rs,
        F,
        "INPUT",
        spec().syn().j(Target::Chain("syn_flood".into())),
    );
    add4(&mut rs, F, "INPUT", spec().tcp_dport(80).j(Target::Accept));
    add4(
        &mut rs,
        F,
        "syn_flood",
        spec()
            .m(limit(100, RateUnit::Second, 150))
            .j(Target::Return),
    );
    add4(&mut rs, F, "syn_flood", spec().j(Target::Drop));
    let mut sim = Simulator::new(&rs, server());
    for i in 0..150 {
        assert!(fate(&sim.run(&syn(10_000 + i, 0.0))).passed(), "SYN {i}");
    }
    assert_eq!(
        fate(&sim.run(&syn(20_000, 0.0))),
        &dropped(F, "syn_flood", Some(2))
    );
    // 10 ms later one token (1/100 s) has come back, and only one.
    assert!(fate(&sim.run(&syn(20_001, 0.01))).passed());
    assert_eq!(
        fate(&sim.run(&syn(20_002, 0.01))),
        &dropped(F, "syn_flood", Some(2))
    );
    // After a long pause the full burst is back.
    for i in 0..150 {
        assert!(fate(&sim.run(&syn(30_000 + i, 100.0))).passed());
    }
    assert!(!fate(&sim.run(&syn(40_000, 100.0))).passed());
}

#[test]
fn new_http_connections_limited_per_minute() {
    let mut rs = Ruleset::default();
    policy(&mut rs, Family::Ipv4, F, "INPUT", Policy::Drop);
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .tcp_dport(80)
            .state(CtStates::NEW)
            .m(limit(50, RateUnit::Minute, 200))
            .j(Target::Accept),
    );
    let mut sim = Simulator::new(&rs, server());
    for i in 0..200 {
        assert!(fate(&sim.run(&syn(10_000 + i, 0.0))).passed());
    }
    assert!(!fate(&sim.run(&syn(20_000, 0.5))).passed());
    // One connection costs 60/50 = 1.2 s.
    assert!(fate(&sim.run(&syn(20_001, 1.2))).passed());
    assert!(!fate(&sim.run(&syn(20_002, 1.3))).passed());
}

#[test]
fn hashlimit_keeps_one_bucket_per_source() {
    let mut rs = Ruleset::default();
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .tcp_dport(80)
            .m(Match::Hashlimit(Box::new(HashlimitMatch {
                name: "http".into(),
                mode: LimitMode::Above,
                limit: HashlimitLimit::Packets {
                    rate: Rate {
                        count: 1,
                        unit: RateUnit::Second,
                    },
                    burst: 2,
                },
                key: HashlimitKey {
                    src_ip: true,
                    ..HashlimitKey::default()
                },
                src_mask: None,
                dst_mask: None,
                expire_ms: None,
                max: None,
                size: None,
                gc_interval_ms: None,
                rate_match: None,
            })))
            .j(Target::Drop),
    );
    let mut sim = Simulator::new(&rs, server());
    let from = |src: &str, sport| {
        Packet::tcp(src, sport, "203.0.113.2", 80)
            .on("eth0")
            .at(0.0)
    };
    assert!(fate(&sim.run(&from("198.51.100.7", 1))).passed());
    assert!(fate(&sim.run(&from("198.51.100.7", 2))).passed());
    assert!(!fate(&sim.run(&from("198.51.100.7", 3))).passed());
    assert!(fate(&sim.run(&from("198.51.100.8", 1))).passed());
}

#[test]
fn recent_blocks_the_fourth_ssh_attempt_within_a_minute() {
    let recent = |command, seconds, hitcount| {
        Match::Recent(RecentMatch {
            name: "SSH".into(),
            command,
            negated: false,
            seconds,
            hitcount,
            rttl: false,
            reap: false,
            by_destination: false,
            mask: None,
        })
    };
    let mut rs = Ruleset::default();
    let ssh = || spec().tcp_dport(22).state(CtStates::NEW);
    add4(
        &mut rs,
        F,
        "INPUT",
        ssh().m(recent(RecentCommand::Set, None, None)),
    );
    add4(
        &mut rs,
        F,
        "INPUT",
        ssh()
            .m(recent(RecentCommand::Update, Some(60), Some(4)))
            .j(Target::Drop),
    );
    let mut sim = Simulator::new(&rs, server());
    let attempt = |sport: u16, t: f64| {
        Packet::tcp("198.51.100.7", sport, "203.0.113.2", 22)
            .on("eth0")
            .syn()
            .at(t)
    };
    for (i, t) in [0.0, 10.0, 20.0].into_iter().enumerate() {
        assert!(fate(&sim.run(&attempt(50_000 + i as u16, t))).passed());
    }
    assert_eq!(
        fate(&sim.run(&attempt(50_010, 30.0))),
        &dropped(F, "INPUT", Some(2))
    );
    // Another address is not affected.
    let other = Packet::tcp("198.51.100.8", 1, "203.0.113.2", 22)
        .on("eth0")
        .at(30.0);
    assert!(fate(&sim.run(&other)).passed());
    // Every attempt refreshes the list: a fifth one later in the window is dropped too,
    // and after a quiet minute the address is let in again.
    assert!(!fate(&sim.run(&attempt(50_011, 80.0))).passed());
    assert!(fate(&sim.run(&attempt(50_012, 200.0))).passed());
}

#[test]
fn connlimit_counts_tracked_connections_per_source() {
    let mut rs = Ruleset::default();
    add4(
        &mut rs,
        F,
        "INPUT",
        spec()
            .tcp_dport(80)
            .m(Match::Connlimit(ConnlimitMatch {
                mode: LimitMode::Above,
                count: 2,
                mask: Some(32),
                by_destination: false,
            }))
            .j(Target::Drop),
    );
    let mut sim = Simulator::new(&rs, server());
    assert!(fate(&sim.run(&syn(1, 0.0))).passed());
    assert!(fate(&sim.run(&syn(2, 0.0))).passed());
    assert!(!fate(&sim.run(&syn(3, 0.0))).passed());
    assert_eq!(sim.flow_count(), 2);
}

/// 5,000 `-s X -j DROP` rules that a packet walks past: the batch-mode shape.
#[test]
fn large_ruleset_walks_without_copying() {
    let mut rs = Ruleset::default();
    for i in 0..5000u32 {
        let net = std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8));
        add4(
            &mut rs,
            F,
            "INPUT",
            spec().src(&format!("{net}/24")).j(Target::Drop),
        );
    }
    add4(
        &mut rs,
        F,
        "INPUT",
        spec().dst("203.0.113.2/32").tcp_dport(80).j(Target::Accept),
    );
    let mut sim = Simulator::new(&rs, server());
    let start = std::time::Instant::now();
    let packets = 200u16;
    for i in 0..packets {
        let t = sim.run(&syn(1000 + i, f64::from(i)));
        assert_eq!(t.branches[0].hits[0].rule, 5001);
    }
    let per_packet = start.elapsed() / u32::from(packets);
    eprintln!("5,001 rules: {per_packet:?} per packet");
}
