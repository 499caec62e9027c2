//! The match modules of issue 14 compiled rule by rule from the shared rule table
//! (`testdata/rules/matches.rules`): every rule rampart reads either compiles to a script
//! that `nft -c` accepts (in a network namespace) or is refused with a reason; none is
//! left as "no translation yet".

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;

use rampart_nft::{compile, CompileError, CompileOptions};
use rampart_ruleset::{parse_save, Family, ParseOptions, Source};
use rampart_testkit::{require, Need, Netns};

use crate::util::tests_dir;

/// (line, family, save text) of each rule of the table.
fn rules() -> Vec<(usize, Family, String)> {
    let path = tests_dir().join("../../../testdata/rules/matches.rules");
    let text = std::fs::read_to_string(&path).expect("the rule table exists");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let mut p = l.splitn(4, ' ');
            let family = if p.next() == Some("6") {
                Family::Ipv6
            } else {
                Family::Ipv4
            };
            let (table, chain) = (p.next().unwrap(), p.next().unwrap());
            let args = p.next().unwrap_or("");
            (
                i + 1,
                family,
                format!("*{table}\n-A {chain} {args}\nCOMMIT\n"),
            )
        })
        .collect()
}

fn nft_check(ns: &Netns, script: &str) -> Result<(), String> {
    let mut child = ns
        .command("nft")
        .args(["-c", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_module_compiles_for_nft_or_is_refused_with_a_reason() {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("nft")]) {
        return;
    }
    let ns = Netns::fresh("nft-modules");
    let (mut compiled, mut refused) = (0, BTreeMap::<String, usize>::new());
    let mut failures = Vec::new();
    for (line, family, text) in rules() {
        let opts = ParseOptions {
            family: Some(family),
            ..ParseOptions::default()
        };
        let Ok(parsed) = parse_save(&Source::new("rule", text.as_str()), opts) else {
            continue; // refused when read: the printing test checks that
        };
        match compile(&parsed.ruleset, &CompileOptions::default()) {
            Ok(script) => match nft_check(&ns, script.text()) {
                Ok(()) => compiled += 1,
                Err(e) => failures.push(format!(
                    "line {line}: nft -c refuses\n{}\n{e}",
                    script.text()
                )),
            },
            Err(errors) => {
                for e in errors.0 {
                    match e {
                        CompileError::Refused { module, reason, .. } => {
                            *refused.entry(format!("-m {module}: {reason}")).or_default() += 1
                        }
                        other => failures.push(format!("line {line}: {other}")),
                    }
                }
            }
        }
    }
    eprintln!(
        "{compiled} rules compiled and passed nft -c; refused with a reason: {}",
        refused.values().sum::<usize>()
    );
    for (reason, n) in &refused {
        eprintln!("  {n} × {reason}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
