//! The nft tables, sets and chains of the block lists, as nft IR (their contents go over
//! netlink).

use rampart_nft::ir::{BaseChain, Chain, ChainType, Hook, Op, Priority, Rule, Set, Stmt, Verdict};
use rampart_nft::{emit, CompileOptions, Table};

use crate::list::ListName;

/// The table of the timed bans.
pub const BANS_TABLE: &str = "rampart_bans";
/// Every block list's table is named this, then the list's name.
pub const LIST_TABLE_PREFIX: &str = "rampart_bl_";
/// Timed bans, IPv4 (`flags timeout`).
pub const BAN_SET_V4: &str = "ban_4";
/// Timed bans, IPv6 (`flags timeout`).
pub const BAN_SET_V6: &str = "ban_6";
/// The base chains of every block table and their hooks.
pub const CHAINS: [(&str, Hook); 2] = [("input", Hook::Input), ("forward", Hook::Forward)];
/// Before the policy's filter chains (priority `filter`, 0).
pub const CHAIN_PRIORITY: Priority = Priority {
    value: -10,
    name: "filter - 10",
};

/// The policy's table (`rampart apply`), which holds the sets `[flood]` limits ban into.
pub const POLICY_TABLE: &str = "rampart";
/// Every `[flood]` ban set is named this, the limit's name, then `_4` or `_6`.
pub const FLOOD_BAN_PREFIX: &str = "flood_";

/// The policy-table set the kernel bans into for `[flood]` limit `limit`, per family:
/// `flood_web_4`.
pub fn flood_ban_set(limit: &str, v4: bool) -> String {
    format!("{FLOOD_BAN_PREFIX}{limit}_{}", if v4 { 4 } else { 6 })
}

/// The policy-table set of the admin's SSH sources, which `[flood]` limits never count
/// (filled by `rampart up` from the live sessions), per family: `rampart_admin_4`.
pub fn flood_admin_set(v4: bool) -> String {
    format!("rampart_admin_{}", if v4 { 4 } else { 6 })
}

/// The limit and family of a `[flood]` ban set's name ([`flood_ban_set`]'s inverse);
/// `None` for other names.
pub fn flood_ban_limit(set: &str) -> Option<(&str, bool)> {
    let rest = set.strip_prefix(FLOOD_BAN_PREFIX)?;
    let (limit, fam) = rest.rsplit_once('_')?;
    let v4 = match fam {
        "4" => true,
        "6" => false,
        _ => return None,
    };
    (!limit.is_empty()).then_some((limit, v4))
}

/// The comment of the first rule of every block table's input chain, which accepts
/// loopback traffic.
pub const LOOPBACK_COMMENT: &str = "rampart: loopback is never blocked";

/// The comment of the rules dropping timed bans.
pub const BAN_COMMENT: &str = "rampart: timed ban";

/// The comment of the rules dropping list `name`'s sources.
pub fn list_comment(name: &ListName) -> String {
    format!("rampart: block list {name}")
}

/// What the block tables drop, one rule per list (or the bans) and family, for the ruleset
/// model the simulator walks (`rampart_enforce::BlockModel`): a packet whose source is in
/// `set` is dropped. The kernel holds a list in two sets per family (single addresses,
/// networks) for loading speed; for verdicts they are one set, named as the networks'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRule {
    /// The set's name (`ban_4`, `bl_NAME_6`).
    pub set: String,
    /// IPv4 (`ip saddr`) or IPv6 (`ip6 saddr`).
    pub v4: bool,
    /// The list, or `None` for the timed bans.
    pub list: Option<ListName>,
    /// The rule's comment, as in the kernel.
    pub comment: String,
}

/// A set of one of the block tables (family `inet`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetId {
    /// The table.
    pub table: String,
    /// The set.
    pub set: String,
}

impl std::fmt::Display for SetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "inet {} {}", self.table, self.set)
    }
}

/// The table holding list `name`.
pub fn list_table(name: &ListName) -> String {
    // nft identifiers take `-` after the first character, so the name is used as is.
    format!("{LIST_TABLE_PREFIX}{name}")
}

/// The nft set holding list `name`'s IPv4 (`v4`) or IPv6 prefixes.
pub fn set_name(name: &ListName, v4: bool) -> String {
    format!("bl_{name}_{}", if v4 { 4 } else { 6 })
}

/// The nft set holding list `name`'s single IPv4 (`v4`) or IPv6 addresses.
pub fn host_set_name(name: &ListName, v4: bool) -> String {
    format!("bl_{name}_{}h", if v4 { 4 } else { 6 })
}

/// List `name`'s interval set (networks and ranges) for one family.
pub fn list_set(name: &ListName, v4: bool) -> SetId {
    SetId {
        table: list_table(name),
        set: set_name(name, v4),
    }
}

/// List `name`'s hash set (single addresses) for one family.
pub fn list_host_set(name: &ListName, v4: bool) -> SetId {
    SetId {
        table: list_table(name),
        set: host_set_name(name, v4),
    }
}

/// The timed-ban set for one family.
pub fn ban_set(v4: bool) -> SetId {
    SetId {
        table: BANS_TABLE.into(),
        set: if v4 { BAN_SET_V4 } else { BAN_SET_V6 }.into(),
    }
}

/// Whether `table` (family inet) is one of the block tables.
pub fn is_block_table(table: &str) -> bool {
    table == BANS_TABLE || table.starts_with(LIST_TABLE_PREFIX)
}

/// The lists that have tables in the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The list names, sorted, without duplicates.
    pub lists: Vec<ListName>,
    /// Interfaces whose ingress hook also drops every list's and ban's sources, before
    /// conntrack and routing (`[flood] early_drop`), sorted.
    pub ingress: Vec<String>,
}

/// What a block set holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Networks and ranges: `flags interval`.
    Networks,
    /// Single addresses: a plain hash set.
    Hosts,
    /// Timed bans: `flags timeout`.
    Bans,
}

fn set(name: String, v4: bool, kind: Kind, note: String) -> Set {
    Set {
        name,
        key: if v4 { "ipv4_addr" } else { "ipv6_addr" }.into(),
        interval: kind == Kind::Networks,
        timeout_flag: kind == Kind::Bans,
        dynamic: false,
        // Filled over netlink; auto-merge would make nft read every table's elements.
        auto_merge: false,
        timeout_ms: None,
        size: None,
        elements: Vec::new(),
        note,
    }
}

fn drop_from(set: &str, v4: bool, comment: &str) -> Rule {
    Rule {
        stmts: vec![
            Stmt::Match {
                left: if v4 { "ip saddr" } else { "ip6 saddr" }.into(),
                op: Op::Implicit,
                right: format!("@{set}"),
            },
            Stmt::Counter,
            Stmt::Verdict(Verdict::Drop),
        ],
        comment: Some(comment.into()),
        origin: None,
    }
}

/// The ingress chain of interface `device` in every block table: `ingress_eth0`.
pub fn ingress_chain(device: &str) -> String {
    let safe: String = device
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{INGRESS_PREFIX}{safe}")
}

/// Every block table's ingress chains are named this, then the interface.
pub const INGRESS_PREFIX: &str = "ingress_";

/// Ingress chains run before everything (the kernel's defragmentation hook is -400, at
/// ingress there is none): the lowest value nft's `filter` chains commonly use.
pub const INGRESS_PRIORITY: Priority = Priority {
    value: -500,
    name: "-500",
};

/// A block table: its sets and base chains that drop their sources, input first
/// accepting loopback, then one ingress chain per interface of `ingress`.
fn block_table(name: String, sets: Vec<Set>, comment: &str, ingress: &[String]) -> Table {
    let mut chains: Vec<Chain> = CHAINS
        .iter()
        .map(|(chain, hook)| {
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
            for s in &sets {
                rules.push(drop_from(&s.name, s.key == "ipv4_addr", comment));
            }
            Chain {
                name: (*chain).into(),
                base: Some(BaseChain {
                    kind: ChainType::Filter,
                    hook: *hook,
                    priority: CHAIN_PRIORITY,
                    device: None,
                }),
                rules,
            }
        })
        .collect();
    for device in ingress {
        chains.push(Chain {
            name: ingress_chain(device),
            base: Some(BaseChain {
                kind: ChainType::Filter,
                hook: Hook::Ingress,
                priority: INGRESS_PRIORITY,
                device: Some(device.clone()),
            }),
            rules: sets
                .iter()
                .map(|s| drop_from(&s.name, s.key == "ipv4_addr", comment))
                .collect(),
        });
    }
    Table {
        name,
        sets,
        chains,
        helpers: Vec::new(),
    }
}

impl Layout {
    /// The layout for these lists.
    pub fn new(lists: impl IntoIterator<Item = ListName>) -> Layout {
        let mut lists: Vec<ListName> = lists.into_iter().collect();
        lists.sort();
        lists.dedup();
        Layout {
            lists,
            ingress: Vec::new(),
        }
    }

    /// The same, also dropping at the ingress hook of `devices`.
    pub fn with_ingress(mut self, devices: impl IntoIterator<Item = String>) -> Layout {
        self.ingress = devices.into_iter().collect();
        self.ingress.sort();
        self.ingress.dedup();
        self
    }

    /// The bans' table: sets `ban_4`/`ban_6` with `flags timeout`, declared empty.
    pub fn bans_table(&self) -> Table {
        let note = |f| format!("rampart timed bans, {f}");
        block_table(
            BANS_TABLE.into(),
            vec![
                set(BAN_SET_V4.into(), true, Kind::Bans, note("IPv4")),
                set(BAN_SET_V6.into(), false, Kind::Bans, note("IPv6")),
            ],
            BAN_COMMENT,
            &self.ingress,
        )
    }

    /// List `name`'s table: per family a hash set of single addresses (`bl_NAME_4h`)
    /// and an interval set of networks and ranges (`bl_NAME_4`), declared empty (their
    /// contents go over netlink). The split is for loading: a million keys go into a hash
    /// set 20–30 % faster than into the kernel's interval rbtree (BENCHMARKS.md), and most
    /// entries of real lists are single addresses.
    pub fn list_table(&self, name: &ListName) -> Table {
        let hosts = format!("rampart block list {name}: single addresses");
        let nets = format!("rampart block list {name}: networks and ranges");
        block_table(
            list_table(name),
            vec![
                set(host_set_name(name, true), true, Kind::Hosts, hosts.clone()),
                set(set_name(name, true), true, Kind::Networks, nets.clone()),
                set(host_set_name(name, false), false, Kind::Hosts, hosts),
                set(set_name(name, false), false, Kind::Networks, nets),
            ],
            &list_comment(name),
            &self.ingress,
        )
    }

    /// Every table: the bans', then one per list.
    pub fn tables(&self) -> Vec<Table> {
        let mut out = vec![self.bans_table()];
        out.extend(self.lists.iter().map(|l| self.list_table(l)));
        out
    }

    /// The drop rules, in the kernel's order: the timed bans, then each list; IPv4 before
    /// IPv6 (see [`DropRule`]).
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

    /// Every set, with its table.
    pub fn sets(&self) -> Vec<SetId> {
        let mut out = vec![ban_set(true), ban_set(false)];
        for l in &self.lists {
            for v4 in [true, false] {
                out.push(list_host_set(l, v4));
                out.push(list_set(l, v4));
            }
        }
        out
    }

    /// nft text creating `tables` afresh, in one transaction, empty sets declared. A table
    /// named in `existing` (half-made: a set missing) is deleted and declared again; the
    /// others are only declared. `delete table` makes nft read every set of every table
    /// first (1.4 s beside a million-entry list, measured), so it is said only when needed.
    pub fn create_script(tables: &[Table], existing: &[String]) -> String {
        tables
            .iter()
            .map(|t| {
                let replace = existing.contains(&t.name);
                emit(t, &CompileOptions::new(&t.name, replace))
                    .text()
                    .to_string()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_per_list_and_one_for_bans() {
        let l = Layout::new([
            ListName::new("country-cn").unwrap(),
            ListName::new("manual").unwrap(),
        ]);
        let names: Vec<String> = l.tables().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            ["rampart_bans", "rampart_bl_country-cn", "rampart_bl_manual"]
        );
        assert!(names.iter().all(|n| is_block_table(n)));
        assert!(!is_block_table("rampart"));
        assert_eq!(
            list_set(&ListName::new("manual").unwrap(), false).to_string(),
            "inet rampart_bl_manual bl_manual_6"
        );
        let text = Layout::create_script(&l.tables()[1..2], &["rampart_bl_country-cn".into()]);
        assert!(
            text.contains(
                "table inet rampart_bl_country-cn {}\ndelete table inet rampart_bl_country-cn\n"
            ),
            "{text}"
        );
        assert!(text.contains("\tset bl_country-cn_4 {\n\t\t# rampart block list country-cn: networks and ranges\n\t\ttype ipv4_addr\n\t\tflags interval\n"), "{text}");
        assert!(text.contains("\tset bl_country-cn_4h {\n\t\t# rampart block list country-cn: single addresses\n\t\ttype ipv4_addr\n\t}\n"), "{text}");
        assert!(text.contains("\t\ttype filter hook input priority filter - 10; policy accept;\n\t\tiif \"lo\" accept comment \"rampart: loopback is never blocked\"\n\t\tip saddr @bl_country-cn_4h counter drop comment \"rampart: block list country-cn\"\n\t\tip saddr @bl_country-cn_4 counter drop"), "{text}");
        assert!(!text.contains("size"));
        let bans = Layout::create_script(&[Layout::default().bans_table()], &[]);
        assert!(!bans.contains("delete table"), "{bans}");
        assert!(
            bans.contains("\t\ttype ipv6_addr\n\t\tflags timeout\n"),
            "{bans}"
        );
        assert_eq!(
            Layout::default()
                .bans_table()
                .chain("forward")
                .unwrap()
                .rules
                .len(),
            2
        );
    }
}
