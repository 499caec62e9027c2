//! Bounded work however the ruleset loops or fans out (issue 15, finding 2). The parsers
//! refuse chain loops, so these models are built directly, as a model that skipped
//! validation would be.

use rampart_ruleset::{Ruleset, TableKind, Target};
use rampart_sim::{Fate, Packet, Simulator, MAX_RULE_EVALUATIONS};

use crate::util::*;

const F: TableKind = TableKind::Filter;

fn packet() -> Packet {
    Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22)
        .on("eth0")
        .syn()
}

/// `n` rules that do not match the packet.
fn misses(rs: &mut Ruleset, chain: &str, n: usize) {
    for _ in 0..n {
        add4(rs, F, chain, spec().src("192.0.2.0/24").j(Target::Drop));
    }
}

#[test]
fn issue_15_goto_loop_through_a_long_chain_stops_under_explain() {
    // INPUT → a; a: 1,000 misses, then `-g a`. The chain-entry bound alone let this run
    // four million evaluations, each a step under --explain.
    let mut rs = Ruleset::default();
    add4(&mut rs, F, "INPUT", spec().j(Target::Chain("a".into())));
    misses(&mut rs, "a", 1000);
    add4(&mut rs, F, "a", spec().goto("a"));
    let mut sim = Simulator::new(&rs, server());
    sim.set_explain(true);
    let trace = sim.run(&packet());
    assert_eq!(
        fate(&trace),
        &Fate::Stopped {
            limit: MAX_RULE_EVALUATIONS
        }
    );
    assert_eq!(
        fate(&trace).to_string(),
        "stopped: more than 65536 rule evaluations (a loop?)"
    );
    let steps = trace.branches[0].steps.len();
    assert!(steps <= MAX_RULE_EVALUATIONS + 100, "{steps} steps");
}

#[test]
fn issue_15_a_short_jump_loop_still_stops() {
    let mut rs = Ruleset::default();
    add4(&mut rs, F, "INPUT", spec().j(Target::Chain("a".into())));
    add4(&mut rs, F, "a", spec().goto("b"));
    add4(&mut rs, F, "b", spec().goto("a"));
    let mut sim = Simulator::new(&rs, server());
    sim.set_explain(true);
    let trace = sim.run(&packet());
    assert!(
        matches!(fate(&trace), Fate::Aborted { .. } | Fate::Stopped { .. }),
        "{trace}"
    );
}

#[test]
fn twenty_thousand_rules_are_walked_to_the_end() {
    let mut rs = Ruleset::default();
    misses(&mut rs, "INPUT", 20_000);
    let mut sim = Simulator::new(&rs, server());
    sim.set_explain(true);
    let trace = sim.run(&packet());
    assert!(
        trace.branches[0].fate.passed(),
        "{}",
        trace.branches[0].fate
    );
}

#[test]
fn issue_15_a_long_chain_called_again_and_again_stops() {
    // No loop (validation passes): INPUT jumps ten times to a 20,000-rule chain.
    let mut rs = Ruleset::default();
    for _ in 0..10 {
        add4(&mut rs, F, "INPUT", spec().j(Target::Chain("big".into())));
    }
    misses(&mut rs, "big", 20_000);
    assert!(rampart_ruleset::validate(&rs).is_empty());
    let mut sim = Simulator::new(&rs, server());
    sim.set_explain(true);
    let trace = sim.run(&packet());
    assert_eq!(
        fate(&trace),
        &Fate::Stopped {
            limit: MAX_RULE_EVALUATIONS
        }
    );
}
