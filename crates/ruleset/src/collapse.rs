//! Collapsing runs of per-address DROP/REJECT rules into one set and one rule
//! (`rampart import --collapse`).
//!
//! A blog-post firewall holds thousands of `-A INPUT -s X -j DROP` lines; every packet
//! walks all of them. [`collapse`] rewrites each chain so that a run of such rules becomes
//! one `hash:net` [`IpSet`] (the sources aggregated with [`PrefixSet`]) and ONE rule
//! `-m set --match-set NAME src -j DROP` at the position of the run's first rule.
//!
//! # Which rules are collapsed
//!
//! A *member* is a rule whose source is a plain (not negated) prefix, whose action is
//! `-j DROP` or `-j REJECT`, and whose matches are all stateless (no `limit`, `hashlimit`,
//! `recent`, `connlimit`: those keep per-rule state that sharing one rule would change).
//! Its *key* is everything but the source (protocol, ports, interfaces, other matches, the
//! target with its `--reject-with`): members of one run have equal keys.
//!
//! Scanning a chain from a member `m₁` (position `i₁`), a later member `mⱼ` with the same
//! key joins the run unless a rule between `i₁` and `mⱼ` *conflicts* with it. A rule `r`
//! in between is harmless when
//!
//! 1. `r` is a stateless rule whose action is the run's very verdict (`DROP`, or `REJECT`
//!    with the same answer) — a member of the same key left in place is such a rule; or
//! 2. no packet matches both `r` and `mⱼ`, decided on the header tests alone: their
//!    protocols differ (`-p tcp` against `-p udp`), their exact interfaces differ, or `r`'s
//!    source coverage (its `-s`, the complement of its `! -s`, everything when it has no
//!    `-s` or tests a set) does not overlap `mⱼ`'s prefix.
//!
//! Any other rule in between (an `ACCEPT`, a jump to a user chain, `RETURN`, a `LOG`, a
//! different verdict, a counting rule) conflicts with the members it may share a packet
//! with: those stay where they are, the run goes on with the others, and the ones left
//! behind may start a later run of their own (in a set named `NAME-2`, ...).
//!
//! # Why the verdicts cannot change
//!
//! Let the run's members be `m₁ … mₖ` at `i₁ < … < iₖ` and `R` the new rule at `i₁`:
//! `R` matches a packet `x` iff `x` matches the key and its source is in
//! `⋃ prefix(mⱼ)` — iff `x` matches some member (aggregation keeps the union exactly).
//! Take any packet `x` entering the chain, with whatever walk state (marks, conntrack) the
//! rules before `i₁` left; those rules are unchanged, so both chains reach `i₁` alike.
//!
//! * `x` matches no member. Then `R` does not match, the removed members did not match
//!   (so ran no target), and the remaining rules are the same in the same order.
//! * Otherwise let `mⱼ` be the first member `x` matches. The new chain stops at `R` with
//!   verdict `V`. The old chain walks the rules strictly between `i₁` and `iⱼ`: the
//!   members among them do not match `x` (`mⱼ` is the first), and each other rule there is
//!   harmless for `mⱼ` (the run's condition): under (2) it cannot match `x` (the tests
//!   used read only the packet's header, which filter rules never rewrite); under (1) it
//!   either does not match or ends the walk with the same verdict `V` without side
//!   effects. No rule with a side effect (target or stateful match) ran in between, so the
//!   old chain ends with `V` too, at `mⱼ` or earlier.
//!
//! So every packet gets the same verdict, with the same side effects, in both chains.
//! What does change: the rule numbers a trace reports, and the per-rule counters (the new
//! rule carries the members' sum). Runs are collapsed one at a time, in the order of
//! their first member, each on the chain the previous ones left; as each step preserves
//! every verdict, so does the whole. The simulator test
//! (`crates/sim/tests/sim/collapse.rs`) traces random packets from the listed addresses,
//! their neighbours and the conflicting rules' sources through both and compares fates.
//!
//! ```
//! use rampart_ruleset::{collapse, parse_script, to_save_all, CollapseOptions, ParseOptions, Source};
//! let text = "iptables -A INPUT -s 192.0.2.1 -j DROP\n\
//!             iptables -A INPUT -s 192.0.2.0 -j DROP\n\
//!             iptables -A INPUT -s 198.51.100.7 -j DROP\n";
//! let mut rs = parse_script(&Source::new("fw.sh", text), ParseOptions::default())?.ruleset;
//! let report = collapse(&mut rs, &CollapseOptions::default())?;
//! assert_eq!(report.runs[0].rules, 3);
//! assert_eq!(report.runs[0].prefixes, 2); // 192.0.2.0/31 and 198.51.100.7/32
//! assert!(to_save_all(&rs, false).contains("-A INPUT -m set --match-set collapsed src -j DROP"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

use rampart_prefix::{Prefix, PrefixSet};

use crate::model::{
    Action, Counters, Family, IpSet, Match, Neg, Rule, RuleSpec, Ruleset, SetDir, SetEntry,
    SetKind, SetMatch, TableKind, Target,
};
use crate::span::Span;

/// ipset's limit on set names (`IPSET_MAXNAMELEN` 32, with the terminating NUL).
const MAX_SET_NAME: usize = 31;

/// Rule visits one [`collapse`] call may make beyond 20 per rule of the ruleset.
///
/// DoS warning: every member that a conflict holds back may start a scan of the rest of
/// its chain, so an adversarial chain (`ACCEPT X/30` before every `DROP X`) costs O(n²)
/// visits. A blog-post script (few conflicts) needs one scan per run, about n visits; this
/// bounds the rest to a fraction of a second.
pub const MAX_VISITS: usize = 10_000_000;

/// ipset's default `maxelem`; a larger set gets a `maxelem` that fits it.
const DEFAULT_MAXELEM: usize = 65_536;

/// Options of [`collapse`].
#[derive(Debug, Clone)]
pub struct CollapseOptions {
    /// Name of the first set; later ones are `NAME-2`, `NAME-3`, ...
    pub set_name: String,
    /// Shortest run worth a set (at least 2: one rule gains nothing from a set).
    pub min_rules: usize,
    /// Work budget: rule visits beyond 20 per rule (default [`MAX_VISITS`]).
    pub max_visits: usize,
}

impl Default for CollapseOptions {
    fn default() -> CollapseOptions {
        CollapseOptions {
            set_name: "collapsed".to_string(),
            min_rules: 2,
            max_visits: MAX_VISITS,
        }
    }
}

/// Why collapsing was refused (the ruleset is left unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CollapseError {
    /// The set name is not one ipset accepts.
    #[error("set name `{0}` is not valid for ipset (1-31 characters, no spaces or quotes)")]
    BadSetName(String),
    /// A set of that name is already defined by the input.
    #[error("the input already defines a set named `{0}`; choose another with --set-name")]
    SetExists(String),
}

/// One collapsed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollapsedRun {
    /// The table's family.
    pub family: Family,
    /// The table.
    pub table: TableKind,
    /// The chain.
    pub chain: String,
    /// The set created for it.
    pub set: String,
    /// How many rules it replaced.
    pub rules: usize,
    /// How many prefixes the set holds after aggregation.
    pub prefixes: usize,
    /// 1-based position of the new rule in the chain (as transformed).
    pub position: usize,
    /// Where the first collapsed rule was written.
    pub span: Option<Span>,
}

/// What [`collapse`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollapseReport {
    /// Runs collapsed, in chain order.
    pub runs: Vec<CollapsedRun>,
    /// Members that stayed in place because a conflicting rule stood between them and
    /// their run's first rule, and no later run took them.
    pub kept: usize,
    /// Chains where collapsing stopped early, `(family, table, chain)`: the work budget
    /// ([`CollapseOptions::max_visits`] plus 20 per rule) ran out because many held-back rules each
    /// started a scan of their own. Runs collapsed before stopping stand; the rest of
    /// the chain is unchanged.
    pub stopped: Vec<(Family, TableKind, String)>,
}

impl CollapseReport {
    /// Rules removed in all (a run of n rules becomes one).
    pub fn rules_removed(&self) -> usize {
        self.runs.iter().map(|r| r.rules - 1).sum()
    }
}

/// Collapses every run of per-address DROP/REJECT rules of every chain into one set and
/// one rule, preserving every packet's verdict (see the module doc for the condition and
/// its proof). Adds the sets to `ruleset.sets`.
///
/// Work is O(n log n) in the chain per run; runs started by held-back members make it
/// quadratic in adversarial chains, which the [`CollapseOptions::max_visits`] budget
/// bounds (the chain is then left partly collapsed, listed in
/// [`CollapseReport::stopped`]). A collapse is always all-or-nothing per run.
pub fn collapse(
    ruleset: &mut Ruleset,
    opts: &CollapseOptions,
) -> Result<CollapseReport, CollapseError> {
    check_name(&opts.set_name)?;
    if ruleset.set(&opts.set_name).is_some() {
        return Err(CollapseError::SetExists(opts.set_name.clone()));
    }
    let min_rules = opts.min_rules.max(2);
    let mut names = Names {
        base: &opts.set_name,
        next: 1,
    };
    let mut report = CollapseReport::default();
    let mut budget = opts.max_visits + 20 * ruleset.rule_count();
    let mut new_sets = Vec::new();
    for table in &mut ruleset.tables {
        let (family, kind) = (table.family, table.kind);
        for chain in &mut table.chains {
            // Members a conflict held back from some run (parallel to `chain.rules`).
            let mut held = vec![false; chain.rules.len()];
            let mut i = 0;
            while i < chain.rules.len() {
                let Some(first) = member_prefix(&chain.rules[i].spec) else {
                    i += 1;
                    continue;
                };
                let Some((run, blocked)) = scan_run(&chain.rules, i, first, &mut budget) else {
                    report.stopped.push((family, kind, chain.name.clone()));
                    break;
                };
                if run.len() < min_rules {
                    i += 1;
                    continue;
                }
                for k in blocked {
                    held[k] = true;
                }
                let name = names.next(ruleset.sets.iter().chain(&new_sets));
                let (rule, set, prefixes) = build(&chain.rules, &run, &name, family);
                let span = chain.rules[i].span;
                let mut absorbed = run.iter().skip(1).copied().peekable();
                let keep: Vec<bool> = (0..chain.rules.len())
                    .map(|k| absorbed.next_if_eq(&k).is_none())
                    .collect();
                let mut flags = keep.iter();
                chain
                    .rules
                    .retain(|_| *flags.next().expect("one flag per rule"));
                let mut flags = keep.iter();
                held.retain(|_| *flags.next().expect("one flag per rule"));
                chain.rules[i] = rule;
                new_sets.push(set);
                report.runs.push(CollapsedRun {
                    family,
                    table: kind,
                    chain: chain.name.clone(),
                    set: name,
                    rules: run.len(),
                    prefixes,
                    position: i + 1,
                    span,
                });
                i += 1;
            }
            report.kept += chain
                .rules
                .iter()
                .zip(&held)
                .filter(|(r, held)| **held && member_prefix(&r.spec).is_some())
                .count();
        }
    }
    ruleset.sets.extend(new_sets);
    Ok(report)
}

/// The indices of the run starting at member `start` (ascending, `start` first), and of
/// the members with its key that a conflicting rule held back.
/// `None` when `budget` (rule visits) runs out first.
fn scan_run(
    rules: &[Rule],
    start: usize,
    first: Prefix,
    budget: &mut usize,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let key = &rules[start].spec;
    let mut run = vec![start];
    let mut held = Vec::new();
    // Sources of the conflicting rules seen so far: a member overlapping them must stay.
    let mut blocked = Blocked::default();
    for (k, rule) in rules.iter().enumerate().skip(start + 1) {
        *budget = budget.checked_sub(1)?;
        let spec = &rule.spec;
        if let Some(prefix) = member_prefix(spec) {
            if same_key(key, spec) {
                if blocked.overlaps(prefix) {
                    held.push(k);
                } else {
                    run.push(k);
                }
                // A same-key member left in place is harmless (condition 1).
                continue;
            }
        }
        if same_verdict(key, spec) || disjoint_headers(spec, key) {
            continue;
        }
        blocked.add(spec, first);
        if blocked.everything() {
            held.extend((k + 1..rules.len()).filter(|&m| {
                member_prefix(&rules[m].spec).is_some() && same_key(key, &rules[m].spec)
            }));
            break;
        }
    }
    Some((run, held))
}

/// The source prefix of a rule that can be collapsed, or `None`.
fn member_prefix(spec: &RuleSpec) -> Option<Prefix> {
    let Some(Neg {
        negated: false,
        value: prefix,
    }) = spec.source
    else {
        return None;
    };
    let verdict = matches!(
        spec.action,
        Some(Action::Jump(Target::Drop | Target::Reject(_)))
    );
    (verdict && !prefix.is_empty() && spec.matches.iter().all(stateless)).then_some(prefix)
}

/// Whether a match keeps no state of its own (so which rule evaluates it does not matter).
fn stateless(m: &Match) -> bool {
    !matches!(
        m,
        Match::Limit(_) | Match::Hashlimit(_) | Match::Recent(_) | Match::Connlimit(_)
    )
}

/// Whether two rules are equal but for their source.
fn same_key(a: &RuleSpec, b: &RuleSpec) -> bool {
    let RuleSpec {
        source: _,
        destination,
        in_interface,
        out_interface,
        protocol,
        fragment,
        matches,
        action,
    } = a;
    *destination == b.destination
        && *in_interface == b.in_interface
        && *out_interface == b.out_interface
        && *protocol == b.protocol
        && *fragment == b.fragment
        && *matches == b.matches
        && *action == b.action
}

/// Condition 1: `rule` ends the walk with the run's verdict and has no side effect.
fn same_verdict(key: &RuleSpec, rule: &RuleSpec) -> bool {
    rule.action == key.action && rule.matches.iter().all(stateless)
}

/// Condition 2 on the header tests shared by the whole run: no packet matching the key
/// can match `rule` (whatever its source).
fn disjoint_headers(rule: &RuleSpec, key: &RuleSpec) -> bool {
    let protocols = match (&rule.protocol, &key.protocol) {
        (Some(a), Some(b)) => match (a.negated, b.negated) {
            (false, false) => a.value != b.value,
            (false, true) | (true, false) => a.value == b.value,
            (true, true) => false,
        },
        _ => false,
    };
    let exact = |a: &Option<Neg<crate::model::Interface>>,
                 b: &Option<Neg<crate::model::Interface>>| match (a, b) {
        (Some(a), Some(b)) if !a.negated && !b.negated => {
            !a.value.0.ends_with('+') && !b.value.0.ends_with('+') && a.value != b.value
        }
        _ => false,
    };
    protocols
        || exact(&rule.in_interface, &key.in_interface)
        || exact(&rule.out_interface, &key.out_interface)
}

/// The sources the conflicting rules seen so far may match (condition 2's source part),
/// as disjoint, non-adjacent inclusive ranges of one family keyed by their start: adding
/// and testing a prefix are O(log n), so one scan is O(n log n) in the chain's length.
#[derive(Default)]
struct Blocked {
    ranges: BTreeMap<u128, u128>,
    /// The family's last address, once a rule was added.
    max: u128,
}

impl Blocked {
    /// Adds the sources `rule` may match: its `-s`, the complement of its `! -s`, or the
    /// whole family of `like` when it has no `-s`.
    fn add(&mut self, rule: &RuleSpec, like: Prefix) {
        let max = if like.is_ipv4() {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        match rule.source {
            Some(Neg {
                negated: false,
                value,
            }) => {
                let (s, e) = bounds(value);
                self.insert(s, e);
            }
            Some(Neg {
                negated: true,
                value,
            }) => {
                let (s, e) = bounds(value);
                if s > 0 {
                    self.insert(0, s - 1);
                }
                if e < max {
                    self.insert(e + 1, max);
                }
            }
            None => self.insert(0, max),
        }
        self.max = max;
    }

    fn insert(&mut self, mut s: u128, mut e: u128) {
        // Merge every range overlapping or adjacent to [s, e].
        while let Some((&rs, &re)) = self.ranges.range(..=e.saturating_add(1)).next_back() {
            if re.saturating_add(1) < s {
                break;
            }
            self.ranges.remove(&rs);
            s = s.min(rs);
            e = e.max(re);
        }
        self.ranges.insert(s, e);
    }

    fn overlaps(&self, prefix: Prefix) -> bool {
        let (s, e) = bounds(prefix);
        // The range starting last at or before `e` is the only candidate: every earlier
        // one ends before it starts.
        self.ranges
            .range(..=e)
            .next_back()
            .is_some_and(|(_, &re)| re >= s)
    }

    fn everything(&self) -> bool {
        self.ranges.get(&0).is_some_and(|&e| e == self.max) && self.max > 0
    }
}

/// A prefix's first and last address as integers (IPv4 in the low 32 bits).
fn bounds(prefix: Prefix) -> (u128, u128) {
    let int = |ip: IpAddr| match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    (int(prefix.addr()), int(prefix.last()))
}

/// The new rule, its set and the number of prefixes in it.
fn build(rules: &[Rule], run: &[usize], name: &str, family: Family) -> (Rule, IpSet, usize) {
    let members: PrefixSet = run
        .iter()
        .filter_map(|&k| member_prefix(&rules[k].spec))
        .collect();
    // hash:net takes /1 to /32 (/128): a /0 becomes its two halves.
    let prefixes: Vec<Prefix> = members
        .prefixes()
        .into_iter()
        .flat_map(|p| {
            if p.is_empty() {
                let half = |a| Prefix::new(a, 1).expect("a /1");
                let high = match p.addr() {
                    std::net::IpAddr::V4(_) => std::net::IpAddr::from([128u8, 0, 0, 0]),
                    std::net::IpAddr::V6(_) => std::net::IpAddr::from([
                        0x80u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    ]),
                };
                vec![half(p.addr()), half(high)]
            } else {
                vec![p]
            }
        })
        .collect();
    let count = prefixes.len();
    let set = IpSet {
        name: name.to_string(),
        kind: SetKind::HashNet,
        family,
        timeout: None,
        // Never silently full: ipset's default of 65536 would drop the rest.
        maxelem: (count > DEFAULT_MAXELEM).then(|| count.next_power_of_two() as u32),
        hashsize: None,
        port_range: None,
        flags: Vec::new(),
        entries: prefixes
            .into_iter()
            .map(|p| SetEntry {
                addr: Some(p),
                ..SetEntry::default()
            })
            .collect(),
        span: None,
    };
    let first = &rules[run[0]];
    let mut spec = first.spec.clone();
    spec.source = None;
    // The set match goes before the others, where `-s` was.
    spec.matches.insert(
        0,
        Match::Set(SetMatch {
            name: name.to_string(),
            dirs: vec![SetDir::Src],
            negated: false,
        }),
    );
    let counters = run.iter().fold(Counters::default(), |acc, &k| Counters {
        packets: acc.packets + rules[k].counters.packets,
        bytes: acc.bytes + rules[k].counters.bytes,
    });
    let rule = Rule {
        spec,
        counters,
        span: first.span,
    };
    (rule, set, count)
}

fn check_name(name: &str) -> Result<(), CollapseError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SET_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'');
    if ok {
        Ok(())
    } else {
        Err(CollapseError::BadSetName(name.to_string()))
    }
}

/// Hands out `NAME`, `NAME-2`, ... skipping names already taken.
struct Names<'a> {
    base: &'a str,
    next: usize,
}

impl Names<'_> {
    fn next<'s>(&mut self, taken: impl Iterator<Item = &'s IpSet> + Clone) -> String {
        loop {
            let name = match self.next {
                1 => self.base.to_string(),
                n => {
                    let suffix = format!("-{n}");
                    let keep = self.base.len().min(MAX_SET_NAME - suffix.len());
                    format!("{}{suffix}", &self.base[..keep])
                }
            };
            self.next += 1;
            if !taken.clone().any(|s| s.name == name) {
                return name;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_script, to_save_all, ParseOptions, Source};

    fn run(text: &str) -> (Ruleset, CollapseReport) {
        let mut rs = parse_script(&Source::new("fw.sh", text), ParseOptions::default())
            .unwrap()
            .ruleset;
        let report = collapse(&mut rs, &CollapseOptions::default()).unwrap();
        (rs, report)
    }

    fn rules(rs: &Ruleset) -> Vec<String> {
        to_save_all(rs, false)
            .lines()
            .filter(|l| l.starts_with("-A "))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn consecutive_drops_become_one_rule_at_the_first_position() {
        let (rs, report) = run("iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n\
             iptables -A INPUT -s 192.0.2.1 -j DROP\n\
             iptables -A INPUT -s 192.0.2.2 -j DROP\n\
             iptables -A INPUT -s 192.0.2.3 -j DROP\n\
             iptables -A INPUT -s 198.51.100.0/24 -j DROP\n\
             iptables -A INPUT -p tcp --dport 80 -j ACCEPT\n");
        assert_eq!(
            rules(&rs),
            [
                "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
                "-A INPUT -m set --match-set collapsed src -j DROP",
                "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT",
            ]
        );
        let set = rs.set("collapsed").unwrap();
        let entries: Vec<String> = set
            .entries
            .iter()
            .map(|e| e.addr.unwrap().to_string())
            .collect();
        assert_eq!(entries, ["192.0.2.1/32", "192.0.2.2/31", "198.51.100.0/24"]);
        assert_eq!(report.runs[0].rules, 4);
        assert_eq!(report.runs[0].prefixes, 3);
        assert_eq!(report.runs[0].position, 2);
        assert_eq!(report.kept, 0);
    }

    #[test]
    fn an_accept_for_an_overlapping_source_keeps_that_member_in_place() {
        let (rs, report) = run("iptables -A INPUT -s 192.0.2.1 -j DROP\n\
             iptables -A INPUT -s 192.0.2.0/28 -p tcp --dport 22 -j ACCEPT\n\
             iptables -A INPUT -s 192.0.2.5 -j DROP\n\
             iptables -A INPUT -s 203.0.113.9 -j DROP\n\
             iptables -A INPUT -s 203.0.113.10 -j DROP\n");
        assert_eq!(
            rules(&rs),
            [
                "-A INPUT -m set --match-set collapsed src -j DROP",
                "-A INPUT -s 192.0.2.0/28 -p tcp -m tcp --dport 22 -j ACCEPT",
                "-A INPUT -s 192.0.2.5/32 -j DROP",
            ]
        );
        assert_eq!(report.runs.len(), 1);
        assert_eq!(report.runs[0].rules, 3);
        assert_eq!(report.kept, 1);
    }

    #[test]
    fn an_unconditional_accept_ends_the_run_and_a_second_set_follows() {
        let (rs, report) = run("iptables -A INPUT -s 192.0.2.1 -j DROP\n\
             iptables -A INPUT -s 192.0.2.7 -j DROP\n\
             iptables -A INPUT -j LOG\n\
             iptables -A INPUT -s 203.0.113.9 -j DROP\n\
             iptables -A INPUT -s 203.0.113.10 -j DROP\n");
        assert_eq!(
            rules(&rs),
            [
                "-A INPUT -m set --match-set collapsed src -j DROP",
                "-A INPUT -j LOG",
                "-A INPUT -m set --match-set collapsed-2 src -j DROP",
            ]
        );
        assert_eq!(report.runs.len(), 2);
        assert_eq!(report.kept, 0);
    }

    #[test]
    fn different_keys_protocols_and_targets_are_separate_runs() {
        let (rs, report) = run("iptables -A INPUT -s 192.0.2.1 -j DROP\n\
             iptables -A INPUT -s 192.0.2.9 -j REJECT\n\
             iptables -A INPUT -s 192.0.2.2 -j DROP\n\
             iptables -A INPUT -s 192.0.2.10 -j REJECT\n\
             iptables -A INPUT -p udp -j ACCEPT\n\
             iptables -A INPUT -s 192.0.2.3 -p tcp -j DROP\n\
             iptables -A INPUT -s 192.0.2.4 -p tcp -j DROP\n");
        // The REJECT of .9 sits between the DROPs of .1 and .2 but shares no source with
        // .2; the udp ACCEPT cannot meet a tcp packet.
        assert_eq!(
            rules(&rs),
            [
                "-A INPUT -m set --match-set collapsed src -j DROP",
                "-A INPUT -m set --match-set collapsed-2 src -j REJECT --reject-with icmp-port-unreachable",
                "-A INPUT -p udp -j ACCEPT",
                "-A INPUT -p tcp -m set --match-set collapsed-3 src -j DROP",
            ]
        );
        assert_eq!(report.runs.len(), 3);
    }

    #[test]
    fn stateful_rules_are_not_members_and_counters_are_summed() {
        let mut rs = crate::parse_save(
            &Source::new(
                "fw.save",
                "*filter\n:INPUT ACCEPT [0:0]\n\
                 [3:180] -A INPUT -s 192.0.2.1/32 -j DROP\n\
                 [4:240] -A INPUT -s 192.0.2.2/32 -j DROP\n\
                 [1:60] -A INPUT -s 192.0.2.3/32 -m limit --limit 1/sec -j DROP\n\
                 COMMIT\n",
            ),
            ParseOptions::default(),
        )
        .unwrap()
        .ruleset;
        let report = collapse(&mut rs, &CollapseOptions::default()).unwrap();
        assert_eq!(report.runs[0].rules, 2);
        let chain = rs
            .table(Family::Ipv4, TableKind::Filter)
            .unwrap()
            .chain("INPUT")
            .unwrap();
        assert_eq!(chain.rules.len(), 2);
        assert_eq!(chain.rules[0].counters.packets, 7);
        assert_eq!(chain.rules[0].counters.bytes, 420);
    }

    #[test]
    fn an_adversarial_chain_stops_at_the_budget_and_keeps_what_it_did() {
        // DROP a, DROP b (a run), then ACCEPT x/30 before every DROP x: each DROP is held
        // back by the ACCEPT for its own /30 and restarts a scan.
        let mut text = String::from(
            "iptables -A INPUT -s 198.51.100.1 -j DROP\niptables -A INPUT -s 198.51.100.2 -j DROP\n",
        );
        for i in 0..40 {
            let a = format!("203.0.113.{}", i * 4 % 256);
            text += &format!("iptables -A INPUT -s {a}/30 -p tcp --dport 22 -j ACCEPT\n");
            text += &format!("iptables -A INPUT -s {a} -j DROP\n");
        }
        let mut rs = parse_script(&Source::new("fw.sh", text), ParseOptions::default())
            .unwrap()
            .ruleset;
        let opts = CollapseOptions {
            max_visits: 0,
            ..CollapseOptions::default()
        };
        let report = collapse(&mut rs, &opts).unwrap();
        // 82 rules: a budget of 20 per rule allows the first scans, not one per member.
        assert!(!report.runs.is_empty());
        assert_eq!(
            report.stopped,
            [(Family::Ipv4, TableKind::Filter, "INPUT".to_string())]
        );
    }

    #[test]
    fn names_are_checked() {
        let mut rs = Ruleset::default();
        let long = CollapseOptions {
            set_name: "x".repeat(32),
            ..CollapseOptions::default()
        };
        assert_eq!(
            collapse(&mut rs, &long).unwrap_err().to_string(),
            format!(
                "set name `{}` is not valid for ipset (1-31 characters, no spaces or quotes)",
                "x".repeat(32)
            )
        );
    }
}
