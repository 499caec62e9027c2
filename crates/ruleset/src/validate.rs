//! Checks on the whole model that the kernel makes only when the ruleset is loaded: chain
//! loops and jump depth.
//!
//! Per-command checks live in `Ruleset::apply`; these need every chain's rules at once. The
//! parsers run [`validate`] after the last command (so `rampart check`, `compile`, `apply`
//! and `trace` all refuse such a file), and the nft compiler runs it again on models that
//! were not parsed from text, before anything reaches nft.
//!
//! # What the kernel refuses (checked on Linux 6.18, nftables 1.0.6)
//!
//! nf_tables validates a table by walking from each base chain (`nft_table_validate` →
//! `nft_chain_validate`): every jump *or goto* raises the level by one, and a chain reached
//! at level `NFT_JUMP_STACK_SIZE` (16, `include/net/netfilter/nf_tables.h`) fails the
//! whole transaction with `EMLINK` ("Too many links"). A loop therefore fails the same way
//! as a chain nested too deep. Chains no base chain reaches are never walked: a loop among
//! them loads. Measured with `unshare -n nft -f` (a throwaway namespace):
//!
//! - base → c1 → … → c15 loads; base → c1 → … → c16 is refused, for `jump` and `goto`;
//! - base → a → b → a and base → a → a are refused;
//! - a → b → a and a → a, reached from no base chain, load.
//!
//! (`nft -c` of the same files says nothing: check mode skips this validation, so only a
//! real load in a namespace proves it.) We match the kernel: loops and depth count only for
//! chains reachable from a built-in chain. An unreachable loop is dead code, and becomes an
//! error as soon as a rule jumps into it.
//!
//! rampart's compiled table spends one level itself: its hook chain (`filter_input`)
//! jumps to the iptables built-in chain (`ip_filter_INPUT`, level 1). A user chain at
//! depth `d` below the built-in chain sits at level `d + 1`, so the deepest allowed is
//! [`MAX_JUMP_DEPTH`] = 16 − 2 = 14. (iptables-nft's own tables, without that hop,
//! allow 15; iptables-legacy's xtables has its own limits and is not rampart's target.)

use std::collections::{HashMap, HashSet};

use crate::error::ErrorKind;
use crate::model::{Action, Family, Ruleset, Table, TableKind, Target};
use crate::span::Span;

/// nf_tables' `NFT_JUMP_STACK_SIZE`: a chain reached at this level is refused.
const NFT_JUMP_STACK_SIZE: usize = 16;

/// Deepest user chain nesting below an iptables built-in chain that rampart's compiled
/// table still loads: one level goes to the hook chain's dispatch, and level
/// `NFT_JUMP_STACK_SIZE` itself is refused.
pub const MAX_JUMP_DEPTH: usize = NFT_JUMP_STACK_SIZE - 2;

/// A rule the kernel would refuse once the whole ruleset is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    /// IPv4 or IPv6.
    pub family: Family,
    /// The table.
    pub table: TableKind,
    /// The chain holding the rule.
    pub chain: String,
    /// 1-based rule number in the chain.
    pub index: usize,
    /// Where the rule was written, when known.
    pub span: Option<Span>,
    /// [`ErrorKind::ChainLoop`] or [`ErrorKind::JumpTooDeep`].
    pub kind: ErrorKind,
}

impl ChainError {
    /// How to fix it.
    pub fn hint(&self) -> String {
        match self.kind {
            ErrorKind::JumpTooDeep { .. } => format!(
                "flatten the chains: rampart's nft table allows {MAX_JUMP_DEPTH} nested \
                 jumps or gotos below a built-in chain"
            ),
            _ => "a match or RETURN before the jump does not help: the kernel refuses any \
                  loop a packet could follow; jump to a chain that does not lead back"
                .to_string(),
        }
    }
}

/// Every jump or goto that closes a chain loop or nests deeper than [`MAX_JUMP_DEPTH`],
/// among the chains reachable from a built-in chain, each rule reported once, in table
/// order then walk order.
///
/// Work is bounded: a chain is explored again only when reached at a greater depth than
/// before, and depth stops at [`MAX_JUMP_DEPTH`], so the cost is
/// O(`MAX_JUMP_DEPTH` × rules).
pub fn validate(ruleset: &Ruleset) -> Vec<ChainError> {
    let mut out = Vec::new();
    for table in &ruleset.tables {
        let mut walk = TableWalk {
            table,
            index: table
                .chains
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.as_str(), i))
                .collect(),
            explored: vec![None; table.chains.len()],
            path: Vec::new(),
            reported: HashSet::new(),
            out: &mut out,
        };
        for (i, chain) in table.chains.iter().enumerate() {
            if chain.is_builtin() {
                walk.visit(i, 0);
            }
        }
    }
    out
}

struct TableWalk<'a> {
    table: &'a Table,
    index: HashMap<&'a str, usize>,
    /// The greatest depth each chain was fully explored at.
    explored: Vec<Option<usize>>,
    /// Chains from the built-in chain to the one being explored.
    path: Vec<usize>,
    /// (chain, rule) already reported.
    reported: HashSet<(usize, usize)>,
    out: &'a mut Vec<ChainError>,
}

impl TableWalk<'_> {
    fn visit(&mut self, chain: usize, depth: usize) {
        if self.explored[chain].is_some_and(|d| d >= depth) {
            return;
        }
        self.path.push(chain);
        let table = self.table;
        for (r, rule) in table.chains[chain].rules.iter().enumerate() {
            let name = match &rule.spec.action {
                Some(Action::Jump(Target::Chain(name))) | Some(Action::Goto(name)) => name,
                _ => continue,
            };
            let Some(&target) = self.index.get(name.as_str()) else {
                continue;
            };
            let kind = if let Some(at) = self.path.iter().position(|&c| c == target) {
                ErrorKind::ChainLoop {
                    path: self.names(&self.path[at..], name),
                }
            } else if depth + 1 > MAX_JUMP_DEPTH {
                ErrorKind::JumpTooDeep {
                    path: self.names(&self.path, name),
                    depth: depth + 1,
                    limit: MAX_JUMP_DEPTH,
                }
            } else {
                self.visit(target, depth + 1);
                continue;
            };
            if self.reported.insert((chain, r)) {
                self.out.push(ChainError {
                    family: table.family,
                    table: table.kind,
                    chain: table.chains[chain].name.clone(),
                    index: r + 1,
                    span: rule.span,
                    kind,
                });
            }
        }
        self.path.pop();
        self.explored[chain] = Some(self.explored[chain].map_or(depth, |d| d.max(depth)));
    }

    fn names(&self, chains: &[usize], last: &str) -> Vec<String> {
        chains
            .iter()
            .map(|&c| self.table.chains[c].name.clone())
            .chain([last.to_string()])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_script, ParseOptions};
    use crate::span::Source;

    /// The model of `text` (`-N chain`, `-A chain -j|-g target` lines, other words
    /// ignored), built without the parser's own validation.
    fn model(text: &str) -> Ruleset {
        let mut ruleset = Ruleset::default();
        let table = ruleset.table_mut(Family::Ipv4, TableKind::Filter);
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[1] {
                "-N" => {
                    table.add_chain(crate::model::Chain {
                        name: words[2].to_string(),
                        policy: None,
                        counters: Default::default(),
                        rules: Vec::new(),
                    });
                }
                "-A" => {
                    let target = words[words.len() - 1].to_string();
                    let action = match words[words.len() - 2] {
                        "-g" => Action::Goto(target),
                        _ => Action::Jump(Target::Chain(target)),
                    };
                    let rule = crate::model::Rule {
                        spec: crate::model::RuleSpec {
                            action: Some(action),
                            ..Default::default()
                        },
                        counters: Default::default(),
                        span: None,
                    };
                    table.chain_mut(words[2]).expect(line).rules.push(rule);
                }
                _ => panic!("{line}"),
            }
        }
        ruleset
    }

    fn kinds(text: &str) -> Vec<String> {
        validate(&model(text))
            .iter()
            .map(|e| format!("{}:{} {}", e.chain, e.index, e.kind))
            .collect()
    }

    #[test]
    fn loop_through_two_chains_names_the_path() {
        let text = "iptables -N alpha\niptables -N beta\niptables -A INPUT -j alpha\n\
                    iptables -A alpha -j beta\niptables -A beta -s 192.0.2.0/24 -j alpha";
        assert_eq!(
            kinds(text),
            [
                "beta:1 chain loop alpha → beta → alpha: the kernel refuses a chain that can \
              reach itself"
            ]
        );
    }

    #[test]
    fn self_jump_and_goto_loops_are_loops() {
        let text = "iptables -N a\niptables -A INPUT -j a\niptables -A a -j a";
        assert_eq!(
            kinds(text),
            ["a:1 chain loop a → a: the kernel refuses a chain that can reach itself"]
        );
        let text = "iptables -N a\niptables -N b\niptables -A INPUT -g a\n\
                    iptables -A a -g b\niptables -A b -g a";
        assert_eq!(
            kinds(text),
            ["b:1 chain loop a → b → a: the kernel refuses a chain that can reach itself"]
        );
    }

    #[test]
    fn unreachable_loop_loads_as_in_the_kernel() {
        let text = "iptables -N a\niptables -N b\niptables -A a -j b\niptables -A b -j a";
        assert!(kinds(text).is_empty());
    }

    /// INPUT → c1 → … → c`n`.
    fn nest(n: usize) -> String {
        let mut text: Vec<String> = (1..=n).map(|i| format!("iptables -N c{i}")).collect();
        text.push("iptables -A INPUT -j c1".into());
        for i in 1..n {
            text.push(format!("iptables -A c{i} -g c{}", i + 1));
        }
        text.join("\n")
    }

    #[test]
    fn depth_limit_is_the_kernels_minus_rampart_dispatch() {
        assert!(kinds(&nest(MAX_JUMP_DEPTH)).is_empty());
        assert_eq!(
            kinds(&nest(MAX_JUMP_DEPTH + 1)),
            ["c14:1 jump to `c15` nests 15 chains below INPUT; the kernel allows 14"]
        );
    }

    #[test]
    fn diamonds_are_explored_in_bounded_time() {
        // Each of 14 levels jumps twice to the next: 2^14 paths, explored once per depth.
        let mut text: Vec<String> = (1..=14).map(|i| format!("iptables -N c{i}")).collect();
        text.push("iptables -A INPUT -j c1".into());
        for i in 1..14 {
            text.push(format!("iptables -A c{i} -j c{}", i + 1));
            text.push(format!("iptables -A c{i} -p tcp -j c{}", i + 1));
        }
        assert!(kinds(&text.join("\n")).is_empty());
    }

    #[test]
    fn parser_reports_the_loop_at_the_rule_with_its_line() {
        let source = Source::new(
            "loop.sh",
            "iptables -N alpha\niptables -N beta\niptables -A INPUT -j alpha\n\
             iptables -A alpha -j beta\niptables -A beta -s 192.0.2.0/24 -j alpha\n",
        );
        let errors = parse_script(&source, ParseOptions::default()).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "loop.sh:5:1: chain loop alpha → beta → alpha: the kernel refuses a chain that \
             can reach itself\n  \
             | iptables -A beta -s 192.0.2.0/24 -j alpha\n  \
             | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n  \
             = hint: a match or RETURN before the jump does not help: the kernel refuses any \
             loop a packet could follow; jump to a chain that does not lead back"
        );
    }
}
