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

/// The translations themselves, as `iptables-translate` 1.8.9 writes them.
#[test]
fn modules_translate_as_iptables_translate_does() {
    let save = "*filter\n\
        -A INPUT -m pkttype ! --pkt-type broadcast\n\
        -A INPUT -m connmark --mark 0x1/0xff\n\
        -A INPUT -m ttl --ttl-lt 5\n\
        -A INPUT -m dscp --dscp 0x2e\n\
        -A INPUT -m statistic --mode random --probability 0.1\n\
        -A INPUT -m statistic --mode nth --every 3 --packet 1\n\
        -A INPUT -m helper --helper ftp\n\
        -A INPUT -m policy --dir in --pol none\n\
        -A INPUT -p tcp -m tcpmss --mss 1000:1500\n\
        -A INPUT -p esp -m esp ! --espspi 7\n\
        -A INPUT -m realm ! --realm 0x5/0xff\n\
        -A INPUT -m quota ! --quota 5\n\
        -A INPUT -m connbytes --connbytes 10:100 --connbytes-mode packets --connbytes-dir original\n\
        -A INPUT -m conntrack --ctstatus ASSURED --ctdir REPLY\n\
        -A INPUT -j LOG --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid\n\
        COMMIT\n\
        *raw\n\
        -A PREROUTING -m rpfilter --loose --invert\n\
        -A PREROUTING -m rpfilter --validmark\n\
        COMMIT\n";
    let parsed = parse_save(&Source::new("t", save), ParseOptions::default()).unwrap();
    let script = compile(&parsed.ruleset, &CompileOptions::default()).unwrap();
    let text = script.text();
    for want in [
        "meta pkttype != broadcast",
        "ct mark and 0xff == 0x1",
        "ip ttl lt 5",
        "ip dscp 0x2e",
        "meta random & 2147483647 < 214748365",
        "numgen inc mod 3 1",
        "ct helper \"ftp\"",
        "meta secpath missing",
        "tcp option maxseg size 1000-1500",
        "esp spi != 7",
        "meta rtclassid and 0xff != 0x5",
        "quota over 5 bytes",
        "ct original packets 10-100",
        "ct direction reply ct status & (assured) != 0",
        "log level warn flags tcp sequence,options flags ip options flags skuid",
        "fib saddr oif 0",
        "fib saddr . mark . iif oif != 0",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
}
