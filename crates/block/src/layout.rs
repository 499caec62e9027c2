//! The nft sets and chains of the block lists (their contents go over netlink).

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

/// The comment of the first rule of every block table's input chain, which accepts
/// loopback traffic.
pub const LOOPBACK_COMMENT: &str = "rampart: loopback is never blocked";

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

/// List `name`'s set for one family.
pub fn list_set(name: &ListName, v4: bool) -> SetId {
    SetId {
        table: list_table(name),
        set: set_name(name, v4),
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

/// A block table: its two sets (IPv4, IPv6) and base chains that drop their sources,
/// input first accepting loopback.
fn block_table(name: String, sets: [Set; 2], comment: &str) -> Table {
    let chains = CHAINS
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
            rules.push(drop_from(&sets[0].name, true, comment));
            rules.push(drop_from(&sets[1].name, false, comment));
            Chain {
                name: (*chain).into(),
                base: Some(BaseChain {
                    kind: ChainType::Filter,
                    hook: *hook,
                    priority: CHAIN_PRIORITY,
                }),
                rules,
            }
        })
        .collect();
    Table {
        name,
        sets: sets.into(),
        chains,
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

    /// The bans' table: sets `ban_4`/`ban_6` with `flags timeout`, declared empty.
    pub fn bans_table() -> Table {
        block_table(
            BANS_TABLE.into(),
            [
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
            ],
            "rampart: timed ban",
        )
    }

    /// List `name`'s table: interval sets `bl_NAME_4`/`bl_NAME_6`, declared empty (their
    /// contents go over netlink).
    pub fn list_table(name: &ListName) -> Table {
        let note = format!("rampart block list {name}");
        block_table(
            list_table(name),
            [
                set(set_name(name, true), true, true, note.clone()),
                set(set_name(name, false), false, true, note),
            ],
            &format!("rampart: block list {name}"),
        )
    }

    /// Every table: the bans', then one per list.
    pub fn tables(&self) -> Vec<Table> {
        let mut out = vec![Layout::bans_table()];
        out.extend(self.lists.iter().map(Layout::list_table));
        out
    }

    /// Every set, with its table.
    pub fn sets(&self) -> Vec<SetId> {
        let mut out = vec![ban_set(true), ban_set(false)];
        for l in &self.lists {
            out.push(list_set(l, true));
            out.push(list_set(l, false));
        }
        out
    }

    /// nft text creating `tables` afresh, in one transaction: each is created if
    /// missing, deleted and declared again (empty sets), so a half-made table is mended.
    pub fn create_script(tables: &[Table]) -> String {
        tables
            .iter()
            .map(|t| {
                emit(t, &CompileOptions::new(&t.name, true))
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
        let text = Layout::create_script(&l.tables()[1..2]);
        assert!(
            text.contains(
                "table inet rampart_bl_country-cn {}\ndelete table inet rampart_bl_country-cn\n"
            ),
            "{text}"
        );
        assert!(text.contains("\tset bl_country-cn_4 {\n\t\t# rampart block list country-cn\n\t\ttype ipv4_addr\n\t\tflags interval\n"), "{text}");
        assert!(text.contains("\t\ttype filter hook input priority filter - 10; policy accept;\n\t\tiif \"lo\" accept comment \"rampart: loopback is never blocked\"\n\t\tip saddr @bl_country-cn_4 counter drop comment \"rampart: block list country-cn\"\n"), "{text}");
        assert!(!text.contains("size"));
        let bans = Layout::create_script(&[Layout::bans_table()]);
        assert!(
            bans.contains("\t\ttype ipv6_addr\n\t\tflags timeout\n"),
            "{bans}"
        );
        assert_eq!(
            Layout::bans_table().chain("forward").unwrap().rules.len(),
            2
        );
    }
}
