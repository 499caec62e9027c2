//! `lint`: dead, shadowed, redundant and contradictory rules, unreachable chains, unused
//! sets and rules that never matched.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rampart_ruleset::{Action, Family, Match, Ruleset, TableKind, Target};
use serde::Serialize;

use crate::partition::{rewriters, Space};
use crate::program::{compile_with, universe, Act, AnalysisError, Compiled, Locals, RuleRef};
use crate::space::{Cube, Ranges, Universe};
use crate::walk::{Placed, Stats};

/// Most pairwise findings (generalisation, correlation) reported: a ruleset of per-address
/// accepts and drops can overlap pairwise by the thousand, and the first ones already say
/// what to fix.
pub const MAX_PAIR_FINDINGS: usize = 200;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The ruleset does not do what a rule says (exit status 1).
    Error,
    /// Dead weight or a likely mistake.
    Warning,
    /// Worth knowing.
    Info,
}

/// What kind of finding (Al-Shaer and Hamed's taxonomy, plus the structural ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FindingKind {
    /// Every packet the rule matches is decided by earlier rules (their union), with a
    /// different verdict.
    Shadowed,
    /// Every packet the rule matches is decided earlier with the same verdict, or
    /// removing it changes no packet's fate.
    Redundant,
    /// A rule after one that decides every packet reaching it.
    AfterUnconditional,
    /// No packet can reach the rule (its chain's jumps never match, or it tests
    /// contradictory things).
    Unreachable,
    /// A nat rule no packet reaches.
    NatUnreachable,
    /// A later rule with another verdict matches a superset of an earlier one (the earlier
    /// one is an exception: fine if meant).
    Generalisation,
    /// Two rules with different verdicts overlap partly: their order decides the overlap.
    Correlation,
    /// A user chain no built-in chain reaches.
    UnreachableChain,
    /// The counters say the rule never matched.
    NeverMatched,
    /// A set no rule uses.
    UnusedSet,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// What kind.
    pub kind: FindingKind,
    /// The rules concerned, the subject first.
    pub rules: Vec<RuleRef>,
    /// Chain or set named by the finding, when it is not about a rule.
    pub object: Option<String>,
    /// Why, in words.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// The result of [`lint`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct LintReport {
    /// Findings, errors first, then by place.
    pub findings: Vec<Finding>,
    /// Rules analysed.
    pub rules: usize,
    /// Pairwise findings left out beyond [`MAX_PAIR_FINDINGS`].
    pub more_pairs: usize,
}

impl LintReport {
    /// True when a finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// What a terminal rule does, for comparing verdicts.
fn verdict_kind(a: &Act) -> Option<&'static str> {
    match a {
        Act::Accept { .. } => Some("ACCEPT"),
        Act::Final(v) => Some(match v {
            crate::program::Verdict::Drop | crate::program::Verdict::Reject => "DROP",
            crate::program::Verdict::Accept => "ACCEPT",
        }),
        Act::Return { .. } => Some("RETURN"),
        Act::Nat { what, .. } => Some(
            if what.starts_with("DNAT") || what.starts_with("REDIRECT") {
                "DNAT"
            } else {
                "SNAT"
            },
        ),
        Act::Continue | Act::Route { .. } | Act::Skip { .. } => None,
    }
}

/// Per rule: what the walks found, over every program and every copy of it.
#[derive(Default, Clone)]
struct RuleFacts {
    instrs: usize,
    live: bool,
    needed: bool,
    terminal: bool,
    verdict: Option<&'static str>,
    shadowers: BTreeSet<u32>,
    /// The first copy's condition and "may" flag.
    cube: Option<(Cube, bool)>,
    empty: bool,
}

fn fast_overlap(a: &Cube, b: &Cube) -> bool {
    let mut j = 0;
    for (d, r) in &a.0 {
        while j < b.0.len() && b.0[j].0 < *d {
            j += 1;
        }
        if j < b.0.len() && b.0[j].0 == *d && !ranges_meet(r, &b.0[j].1) {
            return false;
        }
    }
    true
}

fn ranges_meet(a: &Ranges, b: &Ranges) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.0.len() && j < b.0.len() {
        if a.0[i].1 < b.0[j].0 {
            i += 1;
        } else if b.0[j].1 < a.0[i].0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}

fn analyse(c: &Compiled, u: &Universe) -> Vec<RuleFacts> {
    let mut facts = vec![RuleFacts::default(); c.rules.len()];
    let dims = u.dims();
    let root: Vec<Ranges> = dims.iter().map(|d| u.full(*d)).collect();
    for p in &c.programs {
        // Instructions that only go on (LOG, a jump's own rule) cannot change a fate: the
        // partition leaves them out (else every `-d X -j LOG` would multiply the classes
        // by the sources), and each walk's path says which of them it passed.
        let goes_on = |i: &crate::program::Instr| i.act == Act::Continue;
        let cubes: Vec<Option<&Cube>> = p
            .instrs
            .iter()
            .map(|i| (!goes_on(i)).then_some(&i.cube))
            .collect();
        let space = Space::new(u, &cubes).with_rewriters(rewriters(&p.instrs));
        let placed = Placed {
            program: p,
            offset: 0,
        };
        let index: HashMap<crate::space::Dim, usize> =
            dims.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let mut pending: BTreeSet<u32> = p
            .instrs
            .iter()
            .enumerate()
            .filter(|(_, i)| goes_on(i) && !i.cube.is_empty())
            .map(|(n, _)| n as u32)
            .collect();
        let mut stats = Stats::new(p.instrs.len());
        space.partition(&root, &mut |leaf| {
            stats.scanned.clear();
            stats.skipped.clear();
            placed.walk(leaf, &dims, 0, None, Some(&mut stats));
            if pending.is_empty() {
                return;
            }
            let holds = |n: u32| {
                p.instrs[n as usize]
                    .cube
                    .0
                    .iter()
                    .all(|(d, r)| ranges_meet(r, &leaf.cube[index[d]]))
            };
            let mut now_live = Vec::new();
            for &(lo, hi) in &stats.scanned {
                now_live.extend(pending.range(lo..=hi).copied().filter(|n| holds(*n)));
            }
            for n in now_live {
                pending.remove(&n);
                stats.live[n as usize] = true;
            }
            for &(by, lo, hi) in &stats.skipped {
                for &n in pending.range(lo..=hi) {
                    let list = &mut stats.shadowers[n as usize];
                    if list.len() < 4 && !list.contains(&by) && holds(n) {
                        list.push(by);
                    }
                }
            }
        });
        for (i, ins) in p.instrs.iter().enumerate() {
            let Some(r) = ins.rule else { continue };
            let f = &mut facts[r as usize];
            f.instrs += 1;
            f.live |= stats.live[i];
            f.needed |= stats.needed[i];
            f.terminal = ins.terminal;
            f.verdict = verdict_kind(&ins.act).filter(|_| ins.terminal);
            if f.cube.is_none() {
                f.cube = Some((ins.cube.clone(), ins.may));
                f.empty = ins.cube.is_empty();
            } else {
                f.empty &= ins.cube.is_empty();
            }
            for s in &stats.shadowers[i] {
                if let Some(sr) = p.instrs[*s as usize].rule {
                    f.shadowers.insert(sr);
                }
            }
        }
    }
    facts
}

/// How [`lint_with`] reads the ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintOptions {
    /// The rules' counters are real even when all are 0 (the kernel's, put on the rules
    /// by `rampart_enforce::put_kernel_counters`): every rule at 0 never matched. By
    /// default counters count only when one is not 0 (a file without `-c` has none).
    pub counters_known: bool,
    /// The host's addresses (where a DNAT delivers locally); `None`: inferred from the
    /// ruleset ([`Locals::infer`]).
    pub locals: Option<Locals>,
}

/// Finds the anomalies of `ruleset`, in both families.
pub fn lint(ruleset: &Ruleset) -> Result<LintReport, AnalysisError> {
    lint_with(ruleset, &LintOptions::default())
}

/// [`lint`] with options.
pub fn lint_with(ruleset: &Ruleset, options: &LintOptions) -> Result<LintReport, AnalysisError> {
    let mut report = LintReport {
        rules: ruleset.rule_count(),
        ..LintReport::default()
    };
    let locals = options
        .locals
        .clone()
        .unwrap_or_else(|| Locals::infer(&[ruleset]));
    let counted = options.counters_known
        || ruleset
            .tables
            .iter()
            .flat_map(|t| &t.chains)
            .any(|c| c.counters.packets > 0 || c.rules.iter().any(|r| r.counters.packets > 0));
    let mut pairs = 0usize;
    for family in [Family::Ipv4, Family::Ipv6] {
        if !ruleset.tables.iter().any(|t| t.family == family) {
            continue;
        }
        let mut u = universe(&[ruleset], family);
        let c = compile_with(ruleset, family, &mut u, &locals)?;
        let facts = analyse(&c, &u);
        let spec_of = |r: &RuleRef| {
            ruleset
                .table(r.family, r.table)
                .and_then(|t| t.chain(&r.chain))
                .and_then(|ch| ch.rules.get(r.number - 1))
        };
        for (id, f) in facts.iter().enumerate() {
            let rule = &c.rules[id];
            if f.instrs == 0 {
                continue; // in a chain nothing reaches: reported once for the chain
            }
            let names = |ids: &BTreeSet<u32>| -> Vec<RuleRef> {
                ids.iter().map(|i| c.rules[*i as usize].clone()).collect()
            };
            if !f.live {
                let nat = rule.table == TableKind::Nat;
                let mut named = BTreeSet::new();
                let (kind, severity, message, fix) = if f.empty {
                    (
                        if nat {
                            FindingKind::NatUnreachable
                        } else {
                            FindingKind::Unreachable
                        },
                        Severity::Error,
                        "its conditions contradict each other (or its chain is only reached by \
                         packets it cannot match): no packet matches it"
                            .to_string(),
                        "fix the conditions or remove the rule".to_string(),
                    )
                } else if f.shadowers.is_empty() {
                    (
                        if nat {
                            FindingKind::NatUnreachable
                        } else {
                            FindingKind::Unreachable
                        },
                        Severity::Warning,
                        if nat {
                            "no packet reaches it: the nat table sees only the first packet of a \
                             connection, and those it matches are decided before it"
                                .to_string()
                        } else {
                            "no packet reaches it".to_string()
                        },
                        "remove it, or move it where packets reach it".to_string(),
                    )
                } else {
                    // Shadowed (an error) when every rule deciding its packets decides
                    // otherwise: its verdict is never applied. When some decide as it
                    // would, the others are exceptions before a catch-all (firewalld's
                    // REJECT after its zones' own): removing it changes nothing.
                    let differs = |s: &u32| facts[*s as usize].verdict != f.verdict;
                    let conflicting = f.shadowers.iter().all(differs);
                    let some_differ = f.shadowers.iter().any(differs);
                    let unconditional_by: BTreeSet<u32> = f
                        .shadowers
                        .iter()
                        .copied()
                        .filter(|s| {
                            let r = &c.rules[*s as usize];
                            r.chain == rule.chain
                                && r.table == rule.table
                                && r.number < rule.number
                                && spec_of(r).is_some_and(|r| is_unconditional(&r.spec))
                        })
                        .collect();
                    let unconditional = !unconditional_by.is_empty();
                    let shadowers = if unconditional {
                        &unconditional_by
                    } else {
                        &f.shadowers
                    };
                    named = shadowers.clone();
                    let by: Vec<String> = shadowers
                        .iter()
                        .map(|s| c.rules[*s as usize].to_string())
                        .collect();
                    if unconditional {
                        (
                            FindingKind::AfterUnconditional,
                            Severity::Error,
                            format!(
                                "it comes after {} which decides every packet reaching it",
                                by.join(", ")
                            ),
                            "move the rule before the unconditional one, or remove it".to_string(),
                        )
                    } else if rule.table == TableKind::Nat {
                        (
                            FindingKind::NatUnreachable,
                            // A jump nobody reaches loses nothing of its own.
                            if f.terminal {
                                Severity::Error
                            } else {
                                Severity::Warning
                            },
                            format!(
                                "every packet it matches is translated or decided first by {}",
                                by.join(", ")
                            ),
                            "move it before them, or remove it".to_string(),
                        )
                    } else if conflicting && f.verdict.is_some() {
                        (
                            FindingKind::Shadowed,
                            Severity::Error,
                            format!(
                                "every packet it matches is decided earlier, differently, by {} (together)",
                                by.join(", ")
                            ),
                            "move it before them if its verdict is meant, else remove it".to_string(),
                        )
                    } else {
                        (
                            FindingKind::Redundant,
                            Severity::Warning,
                            format!(
                                "every packet it matches is decided earlier by {}{}",
                                by.join(", "),
                                if some_differ {
                                    " (together, some of them differently): removing it \
                                     changes no packet's fate"
                                } else {
                                    ""
                                }
                            ),
                            "remove it".to_string(),
                        )
                    }
                };
                let mut rules = vec![rule.clone()];
                rules.extend(names(&named));
                report.findings.push(Finding {
                    severity,
                    kind,
                    rules,
                    object: None,
                    message,
                    fix,
                });
                continue;
            }
            if f.terminal && !f.needed && f.verdict.is_some() {
                report.findings.push(Finding {
                    severity: Severity::Warning,
                    kind: FindingKind::Redundant,
                    rules: vec![rule.clone()],
                    object: None,
                    message: "removing it changes no packet's fate: the rules after it (or the \
                              policy) decide the same"
                        .into(),
                    fix: "remove it".into(),
                });
            }
            if counted {
                if let Some(r) = spec_of(rule) {
                    if r.counters.packets == 0 {
                        report.findings.push(Finding {
                            severity: Severity::Info,
                            kind: FindingKind::NeverMatched,
                            rules: vec![rule.clone()],
                            object: None,
                            message: "its counter is 0: no packet matched it since the counters \
                                      were last zeroed"
                                .into(),
                            fix: "if the traffic it is for no longer exists, remove it".into(),
                        });
                    }
                }
            }
        }
        // Pairs: a terminal rule and a later one of the same chain with another verdict.
        let mut by_chain: BTreeMap<(TableKind, &str), Vec<usize>> = BTreeMap::new();
        for (id, r) in c.rules.iter().enumerate() {
            let f = &facts[id];
            if f.live && f.verdict.is_some() && f.cube.as_ref().is_some_and(|(_, may)| !may) {
                by_chain
                    .entry((r.table, r.chain.as_str()))
                    .or_default()
                    .push(id);
            }
        }
        for ids in by_chain.values() {
            for (k, &i) in ids.iter().enumerate() {
                let (ci, _) = facts[i].cube.as_ref().expect("checked");
                for &j in &ids[k + 1..] {
                    // A later rule already reported as removable needs no pair finding.
                    if facts[i].verdict == facts[j].verdict || !facts[j].needed {
                        continue;
                    }
                    let (cj, _) = facts[j].cube.as_ref().expect("checked");
                    if !fast_overlap(ci, cj) {
                        continue;
                    }
                    let general = ci.is_subset(cj, &u);
                    // A catch-all (no condition) generalises every rule before it by
                    // design: the default written as a rule, not an anomaly.
                    if general && (cj.0.is_empty() || !facts[j].needed) {
                        continue;
                    }
                    if !general && cj.is_subset(ci, &u) {
                        continue; // j is partly shadowed at most; its liveness said the rest
                    }
                    pairs += 1;
                    if pairs > MAX_PAIR_FINDINGS {
                        report.more_pairs += 1;
                        continue;
                    }
                    let (a, b) = (&c.rules[i], &c.rules[j]);
                    report.findings.push(if general {
                        Finding {
                            severity: Severity::Info,
                            kind: FindingKind::Generalisation,
                            rules: vec![b.clone(), a.clone()],
                            object: None,
                            message: format!(
                                "it matches every packet of {a} with another verdict: {a} is an \
                                 exception to it"
                            ),
                            fix: "nothing if the exception is meant".into(),
                        }
                    } else {
                        Finding {
                            severity: Severity::Warning,
                            kind: FindingKind::Correlation,
                            rules: vec![b.clone(), a.clone()],
                            object: None,
                            message: format!(
                                "it overlaps {a} partly with another verdict: the packets of both \
                                 get {a}'s verdict because it comes first"
                            ),
                            fix: "split the overlap into a rule of its own so the intent is \
                                  written down"
                                .into(),
                        }
                    });
                }
            }
        }
    }
    chains_and_sets(ruleset, &mut report);
    report.findings.sort_by_key(|f| (f.severity, rule_key(f)));
    Ok(report)
}

fn rule_key(
    f: &Finding,
) -> (
    Option<u32>,
    Option<Family>,
    Option<TableKind>,
    String,
    usize,
) {
    match f.rules.first() {
        Some(r) => (
            r.line,
            Some(r.family),
            Some(r.table),
            r.chain.clone(),
            r.number,
        ),
        None => (None, None, None, f.object.clone().unwrap_or_default(), 0),
    }
}

/// True for a rule that matches every packet (comments aside).
fn is_unconditional(s: &rampart_ruleset::RuleSpec) -> bool {
    s.source.is_none()
        && s.destination.is_none()
        && s.protocol.is_none()
        && s.in_interface.is_none()
        && s.out_interface.is_none()
        && s.fragment.is_none()
        && s.matches.iter().all(|m| matches!(m, Match::Comment(_)))
}

/// Unreachable user chains and unused sets.
fn chains_and_sets(ruleset: &Ruleset, report: &mut LintReport) {
    for t in &ruleset.tables {
        let mut targets: HashMap<&str, Vec<&str>> = HashMap::new();
        for ch in &t.chains {
            for r in &ch.rules {
                let to = match &r.spec.action {
                    Some(Action::Jump(Target::Chain(n))) | Some(Action::Goto(n)) => n.as_str(),
                    _ => continue,
                };
                targets.entry(ch.name.as_str()).or_default().push(to);
            }
        }
        let mut reached: BTreeSet<&str> = BTreeSet::new();
        let mut todo: Vec<&str> = t
            .chains
            .iter()
            .filter(|c| c.is_builtin())
            .map(|c| c.name.as_str())
            .collect();
        while let Some(c) = todo.pop() {
            if reached.insert(c) {
                todo.extend(targets.get(c).into_iter().flatten());
            }
        }
        for ch in t.chains.iter().filter(|c| !c.is_builtin()) {
            if !reached.contains(ch.name.as_str()) {
                report.findings.push(Finding {
                    severity: Severity::Warning,
                    kind: FindingKind::UnreachableChain,
                    rules: Vec::new(),
                    object: Some(format!("{}:{}", t.kind, ch.name)),
                    message: format!(
                        "no built-in chain jumps to it (directly or through other chains): its {} \
                         rule(s) never run",
                        ch.rules.len()
                    ),
                    fix: format!("add a jump to it (-j {}) or remove it", ch.name),
                });
            }
        }
    }
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for r in ruleset
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
    {
        for m in &r.spec.matches {
            if let Match::Set(s) = m {
                used.insert(&s.name);
            }
        }
        if let Some(Action::Jump(Target::Set(s))) = &r.spec.action {
            used.insert(&s.set);
        }
    }
    for s in &ruleset.sets {
        if !used.contains(s.name.as_str()) {
            report.findings.push(Finding {
                severity: Severity::Warning,
                kind: FindingKind::UnusedSet,
                rules: Vec::new(),
                object: Some(format!("set {}", s.name)),
                message: format!("no rule uses it ({} member(s))", s.entries.len()),
                fix: "use it in a rule (-m set --match-set) or remove it".into(),
            });
        }
    }
}
