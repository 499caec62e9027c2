//! Single rules against what iptables 1.8.9 does with them (`testdata/rules/*.rules`, whose
//! expectations `scripts/rules-expect` takes from the real iptables; `tests/netns/rules.rs`
//! checks them against the kernel again). Without root: rampart must print each rule the
//! kernel loads exactly as `iptables-save` prints it, and refuse each rule it refuses.

use rampart_ruleset::{parse_save, to_save, Family, ParseOptions, Source};
use rampart_testkit::{read_rules, Expect, RuleCase};

/// What rampart makes of one rule: the `-A` line it prints, or its error.
fn rampart(case: &RuleCase) -> Result<String, String> {
    let family = if case.family == "ipv6" {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let source = Source::new(case.at.clone(), case.save_text());
    let opts = ParseOptions {
        family: Some(family),
        ..ParseOptions::default()
    };
    let parsed = parse_save(&source, opts).map_err(|e| e.to_string())?;
    let save = to_save(&parsed.ruleset, family, false);
    let rules: Vec<&str> = save.lines().filter(|l| l.starts_with("-A ")).collect();
    Ok(rules.join("\n"))
}

/// Every rule of `name`: the differences, and how many rules there were. Known gaps
/// (`~` lines) are listed on standard error, and must still differ (a fixed gap loses its
/// `~` line).
fn differences(name: &str) -> (Vec<String>, usize) {
    let cases = read_rules(name);
    let mut out = Vec::new();
    let mut gaps = 0;
    for case in &cases {
        let got = rampart(case);
        if let Some(gap) = &case.gap {
            gaps += 1;
            eprintln!("{} known gap: {gap}", case.at);
            let fixed = match (&case.expect, &got) {
                (Expect::Printed(want), Ok(p)) => p == want,
                (Expect::Refused(_), Err(_)) => true,
                _ => false,
            };
            if fixed {
                out.push(format!(
                    "{} `{}`: works now: remove its `~` line",
                    case.at, case.rule
                ));
            }
            continue;
        }
        let wrong = match (&case.expect, &got) {
            (Expect::Printed(want), Ok(p)) if p == want => None,
            (Expect::Unavailable(_), Ok(p)) if *p == case.rule => None,
            (Expect::Refused(_), Err(_)) => None,
            (Expect::Printed(want), _) => Some(format!("iptables-save prints `{want}`")),
            (Expect::Unavailable(_), _) => Some(format!("printed as written: `{}`", case.rule)),
            (Expect::Refused(msg), _) => Some(format!("refused by iptables ({msg})")),
        };
        if let Some(want) = wrong {
            let got = match got {
                Ok(p) => format!("rampart prints `{p}`"),
                Err(e) => format!("rampart refuses it: {}", e.lines().next().unwrap_or("")),
            };
            out.push(format!("{} `{}`: {want}; {got}", case.at, case.rule));
        }
    }
    eprintln!(
        "{name}: {} rules, {} as iptables, {gaps} known gaps",
        cases.len(),
        cases.len() - gaps - out.len()
    );
    (out, cases.len())
}

/// Issue 14, items 1 to 3: the targets (and NAT options) as iptables 1.8.9 reads and prints them.
#[test]
fn targets_read_and_print_as_iptables_does() {
    let (wrong, total) = differences("targets.rules");
    assert!(
        wrong.is_empty(),
        "{} of {total} rules differ from iptables:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Issue 14, items 2 and 3: options of supported modules, abbreviations, counters and the
/// printing details, as iptables 1.8.9 reads and prints them.
#[test]
fn options_read_and_print_as_iptables_does() {
    let (wrong, total) = differences("options.rules");
    assert!(
        wrong.is_empty(),
        "{} of {total} rules differ from iptables:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Every target and option of the tables goes through JSON (`rampart show --json`) and
/// back unchanged: a tagged enum holding a bare value cannot be serialized (issue 14, 4).
#[test]
fn every_rule_of_the_tables_survives_json() {
    for name in ["targets.rules", "options.rules"] {
        for case in read_rules(name) {
            let family = if case.family == "ipv6" {
                Family::Ipv6
            } else {
                Family::Ipv4
            };
            let source = Source::new(case.at.clone(), case.save_text());
            let opts = ParseOptions {
                family: Some(family),
                ..ParseOptions::default()
            };
            let Ok(parsed) = parse_save(&source, opts) else {
                continue;
            };
            let json = serde_json::to_string(&parsed.ruleset)
                .unwrap_or_else(|e| panic!("{} `{}`: {e}", case.at, case.rule));
            let back: rampart_ruleset::Ruleset = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{} `{}`: {e}\n{json}", case.at, case.rule));
            assert_eq!(back, parsed.ruleset, "{} `{}`: {json}", case.at, case.rule);
        }
    }
}
