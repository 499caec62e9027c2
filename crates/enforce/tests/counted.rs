//! `put_kernel_counters` without a kernel: the record `apply` keeps of a ruleset compiles
//! to the very script that was applied (else `lint --kernel` could not trace the kernel's
//! rules back), and counts land on the source rules they were compiled from.

use rampart_enforce::{compile_for_apply, put_kernel_counters, CountedError};
use rampart_kernel::{Applied, KernelShape};
use rampart_nfnl::{RuleShape, TableShape};
use rampart_policy::{Policy, Profile};
use rampart_ruleset::{parse_any, print_sets, to_save_all, ParseOptions, Ruleset, Source};

/// What `rampart apply` records and `lint --kernel` reads back.
fn recorded(rs: &Ruleset) -> Ruleset {
    let mut text = to_save_all(rs, false);
    text.push_str(&print_sets(rs));
    parse_any(&Source::new("applied.rules", text), ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

#[test]
fn the_recorded_ruleset_of_every_profile_compiles_to_the_applied_script() {
    for profile in [
        Profile::Webserver,
        Profile::Hardened,
        Profile::Router,
        Profile::None,
    ] {
        let rs = Policy::builtin(profile)
            .to_ruleset(|p| Err(std::io::Error::other(format!("no import {p} in a test"))))
            .unwrap_or_else(|e| panic!("{profile:?}: {e}"))
            .ruleset;
        let applied = compile_for_apply(&rs).unwrap();
        let again = compile_for_apply(&recorded(&rs)).unwrap();
        assert_eq!(applied.text(), again.text(), "{profile:?}");
    }
}

const RULES: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
COMMIT
";

fn parse(text: &str) -> Ruleset {
    parse_any(&Source::new("fw.rules", text), ParseOptions::default())
        .unwrap()
        .ruleset
}

/// The table as the kernel would list it after applying `rs`: one rule per compiled rule,
/// `count(source rule number)` packets each, and its record.
fn kernel(rs: &Ruleset, count: impl Fn(usize) -> u64) -> (TableShape, Applied) {
    let script = compile_for_apply(rs).unwrap();
    let rules = script
        .provenance()
        .iter()
        .enumerate()
        .map(|(i, p)| RuleShape {
            chain: p.chain.clone(),
            handle: i as u64 + 10,
            position: p.position,
            fingerprint: i as u64,
            packets: Some(count(p.origin.index)),
            bytes: Some(count(p.origin.index) * 60),
            comment: None,
        })
        .collect();
    let shape = TableShape {
        family: rampart_nfnl::Family::Inet,
        name: "rampart".into(),
        generation: None,
        chains: Vec::new(),
        sets: Vec::new(),
        rules,
    };
    let applied = Applied {
        script: script.text().to_string(),
        shape: rampart_kernel::digest(&shape),
        generation: None,
        input: None,
    };
    (shape, applied)
}

#[test]
fn kernel_counts_land_on_the_source_rules_and_a_mismatch_is_refused() {
    let rs = parse(RULES);
    let (shape, applied) = kernel(&rs, |n| if n == 2 { 0 } else { n as u64 * 3 });
    let shape: &KernelShape = &shape;
    let mut counted = rs.clone();
    let c = put_kernel_counters(&mut counted, Some(&applied), Some(shape)).unwrap();
    assert_eq!(c.rules, 3);
    let input = &counted
        .table(
            rampart_ruleset::Family::Ipv4,
            rampart_ruleset::TableKind::Filter,
        )
        .unwrap()
        .chain("INPUT")
        .unwrap()
        .rules;
    let packets: Vec<u64> = input.iter().map(|r| r.counters.packets).collect();
    assert_eq!(packets, [3, 0, 9]);
    assert_eq!(input[2].counters.bytes, 540);

    // Another ruleset than the applied one.
    let mut other = parse(&RULES.replace("--dport 53", "--dport 54"));
    assert!(matches!(
        put_kernel_counters(&mut other, Some(&applied), Some(shape)),
        Err(CountedError::NotWhatWasApplied)
    ));
    // The table changed since the apply (a rule more).
    let mut moved = shape.clone();
    moved.rules.push(RuleShape {
        fingerprint: 99,
        position: 9,
        ..moved.rules[0].clone()
    });
    assert!(matches!(
        put_kernel_counters(&mut rs.clone(), Some(&applied), Some(&moved)),
        Err(CountedError::Moved)
    ));
    // No table, no record.
    assert!(matches!(
        put_kernel_counters(&mut rs.clone(), Some(&applied), None),
        Err(CountedError::NoTable)
    ));
    assert!(matches!(
        put_kernel_counters(&mut rs.clone(), None, Some(shape)),
        Err(CountedError::NotApplied)
    ));
}
