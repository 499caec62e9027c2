//! Tables of single rules with what iptables 1.8.9 does with each (`testdata/rules/*.rules`,
//! written by `scripts/rules-expect`): read here once for every test that checks them (the
//! printer and parser without root, the kernel and `nft -c` in a namespace).
//!
//! ```text
//! @ipv4 mangle                        family and table of the rules below
//! -A FORWARD -j TOS --set-tos 0x10    a rule, loaded alone into an empty table
//! = -A FORWARD -j TOS --set-tos 0x10/0xff     what iptables-save prints (absent: the same)
//! ! MESSAGE                           iptables-restore refuses it
//! ? WHY                               needs a kernel feature this machine may lack: the
//!                                     kernel may refuse it, rampart accepts it as written
//! ~ WHAT                              a known gap: rampart does not read it as iptables
//!                                     does yet (counted and listed, not failed)
//! @ipset create NAME TYPE [OPTIONS]   an ipset the rules name (`-j SET`), made in the
//!                                     namespace before any rule loads (see [`read_ipsets`])
//! ```

use std::path::PathBuf;

/// What iptables does with one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Loaded; iptables-save prints this line.
    Printed(String),
    /// Refused, with the first line of iptables-restore's message.
    Refused(String),
    /// Loaded where the kernel has the feature (the reason says which); printed as written.
    Unavailable(String),
}

/// One rule of a `.rules` file.
#[derive(Debug, Clone)]
pub struct RuleCase {
    /// `file:line` of the rule, for messages.
    pub at: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// The table (`filter`, `nat`, ...).
    pub table: String,
    /// The rule as written (`-A CHAIN ...`).
    pub rule: String,
    /// What iptables does with it.
    pub expect: Expect,
    /// A known gap of rampart's for this rule (`~` line).
    pub gap: Option<String>,
}

impl RuleCase {
    /// A save file holding only this rule, as `iptables-restore` reads it.
    pub fn save_text(&self) -> String {
        format!("*{}\n{}\nCOMMIT\n", self.table, self.rule)
    }

    /// `iptables` or `ip6tables`.
    pub fn command(&self) -> &'static str {
        if self.family == "ipv6" {
            "ip6tables"
        } else {
            "iptables"
        }
    }
}

/// `testdata/rules/NAME` of the workspace.
pub fn rules_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/rules")
        .join(name)
}

/// Reads `testdata/rules/NAME`. Panics on a malformed line (the file is test data).
pub fn read_rules(name: &str) -> Vec<RuleCase> {
    let path = rules_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut family, mut table) = ("ipv4".to_string(), "filter".to_string());
    let mut out: Vec<RuleCase> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with("@ipset ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix('@') {
            let mut w = rest.split_whitespace();
            family = w
                .next()
                .unwrap_or_else(|| panic!("{at}: @FAMILY TABLE"))
                .into();
            table = w
                .next()
                .unwrap_or_else(|| panic!("{at}: @FAMILY TABLE"))
                .into();
        } else if line.starts_with("-A ") {
            out.push(RuleCase {
                at,
                family: family.clone(),
                table: table.clone(),
                rule: line.to_string(),
                expect: Expect::Printed(line.to_string()),
                gap: None,
            });
        } else {
            let last = out
                .last_mut()
                .unwrap_or_else(|| panic!("{at}: no rule before"));
            let rest = || line.get(2..).unwrap_or("").to_string();
            if line.starts_with("~ ") {
                last.gap = Some(rest());
                continue;
            }
            last.expect = match line.get(..2).unwrap_or(line) {
                "= " => Expect::Printed(rest()),
                "! " | "!" => Expect::Refused(rest()),
                "? " => Expect::Unavailable(rest()),
                _ => panic!("{at}: unknown line `{line}`"),
            };
        }
    }
    out
}

/// The `ipset create ...` commands of `testdata/rules/NAME` (its `@ipset` lines, without
/// the `@`): the sets its `-j SET` rules name, which the kernel wants to exist.
pub fn read_ipsets(name: &str) -> Vec<Vec<String>> {
    let path = rules_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix('@'))
        .filter(|l| l.starts_with("ipset "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}
