//! Issue 15, finding 1: `rampart_ruleset::validate` refuses what the kernel refuses, no
//! more. Each case is a ruleset just inside the line, which rampart accepts and nft loads,
//! and the same ruleset one rule past it, which rampart refuses and, given to nft anyway
//! (the rule appended to the compiled script), the kernel refuses too ("Too many links").

use rampart_nft::{chain_name, compile, CompileOptions};
use rampart_ruleset::{parse_script, validate, Family, ParseOptions, Ruleset, Source, TableKind};
use rampart_testkit::{require, Need, Netns};

fn ruleset(script: &str) -> Ruleset {
    parse_script(&Source::new("<t>", script), ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

/// `nft -f` of `script` in a fresh namespace: `Ok` or nft's standard error.
fn load(tag: &str, script: &str) -> Result<(), String> {
    let ns = Netns::fresh(tag);
    let file = std::env::temp_dir().join(format!("{}.nft", ns.name()));
    std::fs::write(&file, script).unwrap();
    let out = ns
        .command("nft")
        .args(["-f", file.to_str().unwrap()])
        .output()
        .expect("nft runs");
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn filter(chain: &str) -> String {
    chain_name(Family::Ipv4, TableKind::Filter, chain)
}

/// Compiles `script`, loads it, then loads it with `extra` nft commands appended.
fn inside_and_past(tag: &str, script: &str, extra: &str) -> (Result<(), String>, String) {
    let compiled = compile(&ruleset(script), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .to_string();
    let inside = load(tag, &compiled);
    let past = load(tag, &format!("{compiled}\n{extra}\n"))
        .expect_err("the kernel loads a ruleset rampart refuses");
    (inside, past)
}

#[test]
fn issue_15_jump_depth_limit_matches_the_kernel() {
    if !require(&[Need::Root]) {
        return;
    }
    // INPUT → c1 → … → c14: the deepest rampart accepts.
    let mut script: String = (1..=15).map(|i| format!("iptables -N c{i}\n")).collect();
    script.push_str("iptables -A INPUT -j c1\n");
    for i in 1..14 {
        script.push_str(&format!("iptables -A c{i} -j c{}\n", i + 1));
    }
    let past = format!("{script}iptables -A c14 -j c15\n");
    let rs = parse_script(&Source::new("<t>", past), ParseOptions::default());
    assert!(rs.is_err(), "rampart accepts c14 -j c15");
    let extra = format!(
        "add rule inet rampart {} jump {}",
        filter("c14"),
        filter("c15")
    );
    let (inside, past) = inside_and_past("loops-depth", &script, &extra);
    inside.unwrap_or_else(|e| panic!("the kernel refuses depth 14: {e}"));
    assert!(past.contains("Too many links"), "{past}");
}

#[test]
fn issue_15_chain_loop_matches_the_kernel() {
    if !require(&[Need::Root]) {
        return;
    }
    let script = "iptables -N alpha\niptables -N beta\niptables -A INPUT -j alpha\n\
                  iptables -A alpha -j beta\n";
    let looped = format!("{script}iptables -A beta -s 192.0.2.0/24 -j alpha\n");
    assert!(parse_script(&Source::new("<t>", looped), ParseOptions::default()).is_err());
    let extra = format!(
        "add rule inet rampart {} ip saddr 192.0.2.0/24 jump {}",
        filter("beta"),
        filter("alpha")
    );
    let (inside, past) = inside_and_past("loops-loop", script, &extra);
    inside.unwrap_or_else(|e| panic!("{e}"));
    assert!(past.contains("Too many links"), "{past}");
}

#[test]
fn issue_15_unreachable_loop_loads_in_the_kernel_too() {
    if !require(&[Need::Root]) {
        return;
    }
    let rs = ruleset(
        "iptables -N a\niptables -N b\niptables -A a -j b\niptables -A b -j a\n\
         iptables -A INPUT -j ACCEPT\n",
    );
    assert!(validate(&rs).is_empty());
    let compiled = compile(&rs, &CompileOptions::default()).unwrap();
    assert!(compiled.text().contains(&filter("a")));
    load("loops-dead", compiled.text()).unwrap_or_else(|e| panic!("{e}"));
}
