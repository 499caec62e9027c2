//! The nft sets and chains of the block lists (their contents go over netlink).

use crate::list::ListName;

/// Timed bans, IPv4 (`flags timeout`).
pub const BAN_SET_V4: &str = "ban_4";
/// Timed bans, IPv6 (`flags timeout`).
pub const BAN_SET_V6: &str = "ban_6";
/// The base chains and their hooks.
pub const CHAINS: [(&str, &str); 2] = [("block_input", "input"), ("block_forward", "forward")];
/// Before the policy's filter chains (priority `filter`).
pub const CHAIN_PRIORITY: &str = "filter - 10";

/// First rule of `block_input`: loopback traffic is never dropped by a list or a ban.
pub const LOOPBACK_RULE: &str = "iif \"lo\" accept comment \"rampart: loopback is never blocked\"";

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
        self.set_decls().into_iter().map(|(n, _, _)| n).collect()
    }

    fn set_decls(&self) -> Vec<(String, &'static str, &'static str)> {
        let mut out = vec![
            (BAN_SET_V4.to_string(), "ipv4_addr", "timeout"),
            (BAN_SET_V6.to_string(), "ipv6_addr", "timeout"),
        ];
        for l in &self.lists {
            out.push((set_name(l, true), "ipv4_addr", "interval"));
            out.push((set_name(l, false), "ipv6_addr", "interval"));
        }
        out
    }

    /// The rules of block chain `chain`. On input, traffic on `lo` is accepted first: a
    /// list or ban never cuts a host off from itself (a web application's connection to
    /// its database on 127.0.0.1), whatever was loaded or forced.
    fn rules(&self, chain: &str) -> Vec<String> {
        let mut out = Vec::new();
        if chain == CHAINS[0].0 {
            out.push(LOOPBACK_RULE.to_string());
        }
        out.extend([
            format!("ip saddr @{BAN_SET_V4} counter drop comment \"rampart: timed ban\""),
            format!("ip6 saddr @{BAN_SET_V6} counter drop comment \"rampart: timed ban\""),
        ]);
        for l in &self.lists {
            for (v4, fam) in [(true, "ip"), (false, "ip6")] {
                out.push(format!(
                    "{fam} saddr @{} counter drop comment \"rampart: block list {l}\"",
                    set_name(l, v4)
                ));
            }
        }
        out
    }

    /// The sets and chains as the body of a `table inet rampart { ... }` block.
    pub fn table_items(&self) -> String {
        let mut out = String::from("\t# rampart block lists (rampart block lists)\n");
        for (name, ty, flag) in self.set_decls() {
            out.push_str(&format!(
                "\tset {name} {{\n\t\ttype {ty}\n\t\tflags {flag}\n\t}}\n"
            ));
        }
        for (chain, hook) in CHAINS {
            out.push_str(&format!(
                "\tchain {chain} {{\n\t\ttype filter hook {hook} priority {CHAIN_PRIORITY}; policy accept;\n"
            ));
            for r in self.rules(chain) {
                out.push_str(&format!("\t\t{r}\n"));
            }
            out.push_str("\t}\n");
        }
        out
    }

    /// `script` (one `table inet rampart { ... }` block, as the policy compiles) with the
    /// block sets and chains added inside the table.
    pub fn splice(&self, script: &str) -> String {
        let Some(end) = script.rfind('}') else {
            return format!("table inet rampart {{\n{}}}\n{script}", self.table_items());
        };
        let mut out = String::with_capacity(script.len() + 1024);
        out.push_str(&script[..end]);
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&self.table_items());
        out.push_str(&script[end..]);
        out
    }

    /// Commands that make the table hold exactly these sets and block chains, keeping
    /// every set's elements and the policy's chains: for `rampart block` on a host where
    /// the table lacks a list (or does not exist).
    pub fn ensure_script(&self) -> String {
        let mut out = String::from("add table inet rampart\n");
        for (name, ty, flag) in self.set_decls() {
            out.push_str(&format!(
                "add set inet rampart {name} {{ type {ty}; flags {flag}; }}\n"
            ));
        }
        for (chain, hook) in CHAINS {
            out.push_str(&format!(
                "add chain inet rampart {chain} {{ type filter hook {hook} priority {CHAIN_PRIORITY}; policy accept; }}\nflush chain inet rampart {chain}\n"
            ));
            for r in self.rules(chain) {
                out.push_str(&format!("add rule inet rampart {chain} {r}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_text() {
        let l = Layout::new([
            ListName::new("country-cn").unwrap(),
            ListName::new("manual").unwrap(),
        ]);
        let items = l.table_items();
        assert!(items
            .contains("\tset bl_country-cn_4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n"));
        assert!(items.contains("\tset ban_6 {\n\t\ttype ipv6_addr\n\t\tflags timeout\n\t}\n"));
        assert!(items.contains(
            "chain block_forward {\n\t\ttype filter hook forward priority filter - 10; policy accept;\n\t\tip saddr @ban_4 counter drop"
        ));
        assert!(!items.contains("size"));
        let spliced = l.splice("table inet rampart {\n\tchain filter_input {\n\t}\n}\n");
        assert!(spliced
            .starts_with("table inet rampart {\n\tchain filter_input {\n\t}\n\t# rampart block"));
        assert!(spliced.ends_with("\t}\n}\n"));
        let ensure = l.ensure_script();
        assert!(ensure.starts_with("add table inet rampart\nadd set inet rampart ban_4 { type ipv4_addr; flags timeout; }\n"));
        assert!(ensure.contains("flush chain inet rampart block_input\nadd rule inet rampart block_input iif \"lo\" accept"));
        assert!(ensure.contains("flush chain inet rampart block_forward\nadd rule inet rampart block_forward ip saddr @ban_4"));
    }
}
