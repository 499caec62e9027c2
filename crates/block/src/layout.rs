//! The nft sets and chains of the block lists (their contents go over netlink).

use rampart_nft::ir::{BaseChain, Chain, ChainType, Hook, Op, Priority, Rule, Set, Stmt, Verdict};
use rampart_nft::{emit, CompileOptions, Table};

use crate::list::ListName;

/// Timed bans, IPv4 (`flags timeout`).
pub const BAN_SET_V4: &str = "ban_4";
/// Timed bans, IPv6 (`flags timeout`).
pub const BAN_SET_V6: &str = "ban_6";
/// The base chains and their hooks.
pub const CHAINS: [(&str, Hook); 2] = [
    ("block_input", Hook::Input),
    ("block_forward", Hook::Forward),
];
/// Before the policy's filter chains (priority `filter`, 0).
pub const CHAIN_PRIORITY: Priority = Priority {
    value: -10,
    name: "filter - 10",
};

/// The comment of the first rule of `block_input`, which accepts loopback traffic.
pub const LOOPBACK_COMMENT: &str = "rampart: loopback is never blocked";

/// The comment of the rules dropping timed bans.
pub const BAN_COMMENT: &str = "rampart: timed ban";

/// The comment of the rules dropping list `name`'s sources.
pub fn list_comment(name: &ListName) -> String {
    format!("rampart: block list {name}")
}

/// What one drop rule of the block chains tests: a packet whose source is in `set` is
/// dropped. The nft chains ([`Layout::chains`]) and the ruleset model the simulator walks
/// (`rampart_enforce::BlockModel`) are both made from these, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRule {
    /// The set's name (`ban_4`, `bl_NAME_6`).
    pub set: String,
    /// IPv4 (`ip saddr`) or IPv6 (`ip6 saddr`).
    pub v4: bool,
    /// The list, or `None` for the timed bans.
    pub list: Option<ListName>,
    /// The rule's comment.
    pub comment: String,
}

/// The nft set holding list `name`'s IPv4 (`v4`) or IPv6 prefixes.
pub fn set_name(name: &ListName, v4: bool) -> String {
    // nft identifiers take `-` after the first character, so the name is used as is.
    format!("bl_{name}_{}", if v4 { 4 } else { 6 })
}

/// The lists that have sets and rules in the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The list names, sorted, without duplicates.
    pub lists: Vec<ListName>,
}

fn set(name: String, v4: bool, interval: bool, note: String) -> Set {
    Set {
        name,
        key: if v4 { "ipv4_addr" } else { "ipv6_addr" }.into(),
        interval,
        timeout_flag: !interval,
        dynamic: false,
        timeout_ms: None,
        size: None,
        elements: Vec::new(),
        note,
    }
}

fn drop_from(d: DropRule) -> Rule {
    Rule {
        stmts: vec![
            Stmt::Match {
                left: if d.v4 { "ip saddr" } else { "ip6 saddr" }.into(),
                op: Op::Implicit,
                right: format!("@{}", d.set),
            },
            Stmt::Counter,
            Stmt::Verdict(Verdict::Drop),
        ],
        comment: Some(d.comment),
        origin: None,
    }
}

impl Layout {
    /// The layout for these lists.
    pub fn new(lists: impl IntoIterator<Item = ListName>) -> Layout {
        let mut lists: Vec<ListName> = lists.into_iter().collect();
        lists.sort();
        lists.dedup();
        Layout { lists }
    }

    /// Every set the layout declares.
    pub fn set_names(&self) -> Vec<String> {
        self.sets().into_iter().map(|s| s.name).collect()
    }

    /// The sets: two timed-ban sets, then two interval sets per list. Declared empty:
    /// their contents go over netlink.
    pub fn sets(&self) -> Vec<Set> {
        let mut out = vec![
            set(
                BAN_SET_V4.into(),
                true,
                false,
                "rampart timed bans, IPv4".into(),
            ),
            set(
                BAN_SET_V6.into(),
                false,
                false,
                "rampart timed bans, IPv6".into(),
            ),
        ];
        for l in &self.lists {
            for v4 in [true, false] {
                out.push(set(
                    set_name(l, v4),
                    v4,
                    true,
                    format!("rampart block list {l}"),
                ));
            }
        }
        out
    }

    /// The drop rules of both chains, in order: the timed bans, then each list; IPv4
    /// before IPv6.
    pub fn drop_rules(&self) -> Vec<DropRule> {
        let mut out = Vec::with_capacity(2 + 2 * self.lists.len());
        for (set, v4) in [(BAN_SET_V4, true), (BAN_SET_V6, false)] {
            out.push(DropRule {
                set: set.into(),
                v4,
                list: None,
                comment: BAN_COMMENT.into(),
            });
        }
        for l in &self.lists {
            for v4 in [true, false] {
                out.push(DropRule {
                    set: set_name(l, v4),
                    v4,
                    list: Some(l.clone()),
                    comment: list_comment(l),
                });
            }
        }
        out
    }

    /// The base chains `block_input` and `block_forward`. On input, traffic on `lo` is
    /// accepted first: a list or ban never cuts a host off from itself (a web
    /// application's connection to its database on 127.0.0.1), whatever was loaded or
    /// forced.
    pub fn chains(&self) -> Vec<Chain> {
        CHAINS
            .iter()
            .map(|(name, hook)| {
                let mut rules = Vec::new();
                if *hook == Hook::Input {
                    rules.push(Rule {
                        stmts: vec![
                            Stmt::Match {
                                left: "iif".into(),
                                op: Op::Implicit,
                                right: "\"lo\"".into(),
                            },
                            Stmt::Verdict(Verdict::Accept),
                        ],
                        comment: Some(LOOPBACK_COMMENT.into()),
                        origin: None,
                    });
                }
                rules.extend(self.drop_rules().into_iter().map(drop_from));
                Chain {
                    name: (*name).into(),
                    base: Some(BaseChain {
                        kind: ChainType::Filter,
                        hook: *hook,
                        priority: CHAIN_PRIORITY,
                    }),
                    rules,
                }
            })
            .collect()
    }

    /// Adds the sets and chains to a compiled table (`up`, `apply`).
    pub fn add_to(&self, table: &mut Table) {
        table.sets.extend(self.sets());
        table.chains.extend(self.chains());
    }

    /// The sets and chains as one `table inet TABLE { ... }` block, to load after a
    /// policy script given as nft text (nft merges two blocks of one table).
    pub fn table_block(&self, table: &str) -> String {
        let t = Table {
            name: table.into(),
            sets: self.sets(),
            chains: self.chains(),
        };
        emit(&t, &CompileOptions::new(table, false))
            .text()
            .to_string()
    }

    /// One nft transaction that makes `table inet TABLE` hold exactly these sets and
    /// block chains, keeping every set's elements and the policy's chains: for
    /// `rampart block` on a host where the table lacks a list (or does not exist).
    pub fn ensure_script(&self, table: &str) -> String {
        let opts = CompileOptions::new(table, false);
        let bare: Vec<Chain> = self
            .chains()
            .into_iter()
            .map(|c| Chain {
                rules: Vec::new(),
                ..c
            })
            .collect();
        let declare = Table {
            name: table.into(),
            sets: self.sets(),
            chains: bare,
        };
        let mut out = emit(&declare, &opts).text().to_string();
        for (chain, _) in CHAINS {
            out.push_str(&format!("flush chain inet {table} {chain}\n"));
        }
        let rules = Table {
            name: table.into(),
            sets: Vec::new(),
            chains: self.chains(),
        };
        out.push_str(emit(&rules, &opts).text());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_in_ir_and_as_nft_text() {
        let l = Layout::new([
            ListName::new("country-cn").unwrap(),
            ListName::new("manual").unwrap(),
        ]);
        assert_eq!(
            l.set_names(),
            [
                "ban_4",
                "ban_6",
                "bl_country-cn_4",
                "bl_country-cn_6",
                "bl_manual_4",
                "bl_manual_6"
            ]
        );
        let chains = l.chains();
        assert_eq!(chains[0].rules.len(), 1 + 2 + 4);
        assert_eq!(chains[1].rules.len(), 2 + 4);
        let text = l.ensure_script("rampart");
        assert!(text.contains("\tset bl_country-cn_4 {\n\t\t# rampart block list country-cn\n\t\ttype ipv4_addr\n\t\tflags interval\n"), "{text}");
        assert!(text.contains("\tset ban_6 {\n\t\t# rampart timed bans, IPv6\n\t\ttype ipv6_addr\n\t\tflags timeout\n"), "{text}");
        assert!(text.contains(
            "flush chain inet rampart block_input\nflush chain inet rampart block_forward\n"
        ));
        assert!(text.contains("\t\ttype filter hook input priority filter - 10; policy accept;\n\t\tiif \"lo\" accept comment \"rampart: loopback is never blocked\"\n\t\tip saddr @ban_4 counter drop comment \"rampart: timed ban\"\n"), "{text}");
        assert!(!text.contains("size"));
        let mut table = Table {
            name: "rampart".into(),
            sets: Vec::new(),
            chains: Vec::new(),
        };
        l.add_to(&mut table);
        assert_eq!(table.sets.len(), 6);
        assert_eq!(table.chain("block_forward").unwrap().rules.len(), 6);
    }
}
