//! rampart's reading and printing of single rules checked against the real iptables 1.8.x
//! and kernel, rule by rule, from the table `testdata/rules/matches.rules`.
//!
//! Each rule is loaded alone with `iptables-restore` / `ip6tables-restore` in a fresh
//! network namespace and read back with `iptables-save`:
//!
//! * accepted by iptables: rampart must read the rule and print exactly the line
//!   iptables-save printed;
//! * refused by iptables (or the kernel): rampart must refuse it too;
//! * refused because this kernel lacks the extension (module not built, object missing):
//!   reported, not compared.
//!
//! Needs root, ip and iptables (nft backend); skipped with a message otherwise, except
//! under CI (`CI` set), where a skip would hide a regression.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;

use rampart_ruleset::{parse_save, to_save, Family, ParseOptions, Source};
use rampart_testkit::{require, Need, Netns};

/// One rule of the table.
struct Case {
    line: usize,
    family: Family,
    table: String,
    chain: String,
    args: String,
}

fn table_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rules/matches.rules")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(table_path()).expect("the rule table exists");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let mut parts = l.splitn(4, ' ');
            let family = match parts.next() {
                Some("4") => Family::Ipv4,
                Some("6") => Family::Ipv6,
                other => panic!("line {}: family {other:?} is not 4 or 6", i + 1),
            };
            let table = parts.next().expect("a table").to_string();
            let chain = parts.next().expect("a chain").to_string();
            let args = parts.next().unwrap_or("").trim_end().to_string();
            Case {
                line: i + 1,
                family,
                table,
                chain,
                args,
            }
        })
        .collect()
}

fn restore_text(c: &Case) -> String {
    format!("*{}\n-A {} {}\nCOMMIT\n", c.table, c.chain, c.args)
}

/// What the kernel side made of a rule.
enum Kernel {
    /// iptables-save printed this line.
    Saved(String),
    /// iptables or the kernel refused it.
    Refused(String),
    /// This kernel lacks the extension.
    Lacking(String),
}

fn kernel(ns: &Netns, c: &Case) -> Kernel {
    let (restore, save) = match c.family {
        Family::Ipv4 => ("iptables-restore", "iptables-save"),
        Family::Ipv6 => ("ip6tables-restore", "ip6tables-save"),
    };
    let mut child = ns
        .command(restore)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptables-restore runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(restore_text(c).as_bytes())
        .expect("write the rule");
    let out = child.wait_with_output().expect("iptables-restore ends");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        // "Couldn't load match" is iptables refusing a module of the other family.
        let lacking = err.contains("missing kernel module")
            || (err.contains("No such file or directory") && !err.contains("Couldn't load"))
            || err.contains("failed to get bpf object");
        return if lacking {
            Kernel::Lacking(err)
        } else {
            Kernel::Refused(err)
        };
    }
    let dump = ns.exec(&[save, "-t", &c.table]);
    let prefix = format!("-A {} ", c.chain);
    let line = dump
        .lines()
        .find(|l| l.starts_with(&prefix) || *l == format!("-A {}", c.chain))
        .unwrap_or_else(|| panic!("line {}: no rule in the dump:\n{dump}", c.line));
    // The next restore of this table flushes it (iptables-restore without --noflush).
    Kernel::Saved(line.to_string())
}

/// rampart's printout of the rule, or its error.
fn rampart(c: &Case) -> Result<String, String> {
    let text = restore_text(c);
    let src = Source::new("rule", text.as_str());
    let opts = ParseOptions {
        family: Some(c.family),
        ..ParseOptions::default()
    };
    let parsed = parse_save(&src, opts).map_err(|e| e.to_string())?;
    let out = to_save(&parsed.ruleset, c.family, false);
    let prefix = format!("-A {}", c.chain);
    out.lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_string)
        .ok_or_else(|| format!("no rule printed:\n{out}"))
}

#[test]
fn single_rules_print_as_iptables_save_prints_them() {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("iptables-restore")]) {
        return;
    }
    let ns = Netns::fresh("matches");
    let cases = cases();
    let (mut same, mut refused_both, mut lacking) = (0, 0, Vec::new());
    let mut failures = Vec::new();
    for c in &cases {
        let ours = rampart(c);
        match (kernel(&ns, c), ours) {
            (Kernel::Saved(k), Ok(r)) if k == r => same += 1,
            (Kernel::Saved(k), Ok(r)) => failures.push(format!(
                "line {}: printed differently\n  iptables-save: {k}\n  rampart:       {r}",
                c.line
            )),
            (Kernel::Saved(k), Err(e)) => failures.push(format!(
                "line {}: iptables accepts, rampart refuses\n  iptables-save: {k}\n  rampart: {e}",
                c.line
            )),
            (Kernel::Refused(_), Err(_)) => refused_both += 1,
            (Kernel::Refused(k), Ok(r)) => failures.push(format!(
                "line {}: iptables refuses, rampart accepts\n  rule: {}\n  iptables: {}\n  rampart: {r}",
                c.line,
                c.args,
                k.trim()
            )),
            (Kernel::Lacking(k), _) => lacking.push(format!("line {}: {}", c.line, k.trim())),
        }
    }
    eprintln!(
        "{} rules: {same} printed identically, {refused_both} refused by both, {} not \
         compared (this kernel lacks the extension), {} disagreements",
        cases.len(),
        lacking.len(),
        failures.len()
    );
    for l in &lacking {
        eprintln!("  lacking: {l}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} rules disagree with iptables:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
