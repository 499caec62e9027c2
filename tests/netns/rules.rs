//! Single rules against the real iptables 1.8.9 and nftables (issue 14): every rule of
//! `testdata/rules/*.rules` is loaded alone by `iptables-restore` (`ip6tables-restore`) in a
//! namespace, and
//!
//! * the kernel must still do what the file says (load it and print it back as written
//!   there, or refuse it), so the expectations that `rampart_ruleset`'s test holds rampart
//!   to stay true;
//! * rampart's compile of each rule it reads must pass `nft -c` in the namespace, or be
//!   refused by `compile` with a reason (never dropped).
//!
//! The expectations are written by `scripts/rules-expect` from the same iptables.

use std::io::Write;
use std::process::{Command, Stdio};

use rampart_nft::{compile, CompileError, CompileOptions};
use rampart_ruleset::{parse_save, Family, ParseOptions, Source};
use rampart_testkit::{read_ipsets, read_rules, require, Expect, Need, Netns, RuleCase};

/// Runs `cmd` with `input` on standard input: (success, stdout, stderr).
fn feed(mut cmd: Command, input: &str) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What the kernel makes of one rule: the `-A` lines iptables-save prints, or the error.
fn kernel(ns: &Netns, case: &RuleCase) -> Result<String, String> {
    let cmd = case.command();
    let (ok, _, err) = feed(ns.command(format!("{cmd}-restore")), &case.save_text());
    if !ok {
        return Err(err.lines().next().unwrap_or("").to_string());
    }
    let save = ns.exec(&[&format!("{cmd}-save"), "-t", &case.table]);
    ns.exec(&[cmd, "-t", &case.table, "-F"]);
    let rules: Vec<&str> = save.lines().filter(|l| l.starts_with("-A ")).collect();
    Ok(rules.join("\n"))
}

/// The compile of one rule: `Ok(None)` when nft -c passed, `Ok(Some(reason))` when
/// `compile` refused it with a reason, `Err` when nft refused what compile emitted.
fn compiled(ns: &Netns, case: &RuleCase) -> Option<Result<Option<String>, String>> {
    let family = if case.family == "ipv6" {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let source = Source::new(case.at.clone(), case.save_text());
    let opts = ParseOptions {
        family: Some(family),
        ..ParseOptions::default()
    };
    let ruleset = parse_save(&source, opts).ok()?.ruleset;
    let script = match compile(&ruleset, &CompileOptions::default()) {
        Ok(s) => s,
        Err(errors) => {
            // Every refusal but "no translation yet" carries its reason.
            let known = errors.0.iter().all(|e| {
                !matches!(
                    e,
                    CompileError::UnsupportedTarget { .. } | CompileError::UnsupportedMatch { .. }
                )
            });
            return Some(if known {
                Ok(Some(errors.to_string()))
            } else {
                Err(format!("compile: {errors}"))
            });
        }
    };
    let (ok, _, err) = {
        let mut c = ns.command("nft");
        c.args(["-c", "-f", "-"]);
        feed(c, script.text())
    };
    Some(if ok {
        Ok(None)
    } else {
        Err(format!("nft -c: {}\n{}", err.trim(), script.text()))
    })
}

/// Targets whose nftables statement this machine's kernel may lack (nft -c asks the
/// kernel): `queue` needs nft_queue, which iptables' NFQUEUE (xt_NFQUEUE) does not.
const KERNEL_MAY_LACK: &[&str] = &["-j NFQUEUE"];

fn check_file(name: &str) {
    if !require(&[
        Need::Root,
        Need::Tool("iptables-restore"),
        Need::Tool("ip6tables-restore"),
        Need::Tool("nft"),
        Need::Tool("ipset"),
    ]) {
        return;
    }
    let ns = Netns::fresh("rules");
    for create in read_ipsets(name) {
        let mut args: Vec<&str> = create.iter().map(String::as_str).collect();
        args.push("-exist");
        ns.exec(&args);
    }
    let cases = read_rules(name);
    let mut wrong = Vec::new();
    let (mut passed, mut refused, mut lacking) = (0, Vec::new(), 0);
    for case in &cases {
        let got = kernel(&ns, case);
        let agrees = match (&case.expect, &got) {
            (Expect::Printed(want), Ok(p)) => p == want,
            (Expect::Refused(_), Err(_)) | (Expect::Unavailable(_), _) => true,
            _ => false,
        };
        if !agrees {
            wrong.push(format!(
                "{} `{}`: the file says {:?}; iptables now gives {got:?}",
                case.at, case.rule, case.expect
            ));
        }
        match compiled(&ns, case) {
            None => {}
            Some(Ok(None)) => passed += 1,
            Some(Ok(Some(reason))) => refused.push(reason),
            Some(Err(e))
                if KERNEL_MAY_LACK.iter().any(|t| case.rule.contains(t))
                    && e.contains("No such file or directory") =>
            {
                lacking += 1
            }
            Some(Err(e)) => wrong.push(format!("{} `{}`: {e}", case.at, case.rule)),
        }
    }
    eprintln!(
        "{name}: {} rules; compiled and passed nft -c: {passed}; refused by compile with a reason: {}; nft statement missing from this kernel: {lacking}",
        cases.len(),
        refused.len()
    );
    for r in &refused {
        eprintln!("  {r}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Issue 14: the targets table still matches iptables 1.8.9, and what rampart compiles of
/// it passes nft -c or is refused with a reason.
#[test]
fn rules_targets_match_iptables_and_compile() {
    check_file("targets.rules");
}

/// Issue 14, items 2 and 3: options of supported modules and iptables' own reading, still
/// as the file says, and compiled or refused with a reason.
#[test]
fn rules_options_match_iptables_and_compile() {
    check_file("options.rules");
}
