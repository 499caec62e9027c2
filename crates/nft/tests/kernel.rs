//! The kernel accepts what we emit: every golden script passes `nft -c -f` and loads with
//! `nft -f`, each inside a network namespace made for it (`rampart_testkit::Netns`), never
//! in the machine's own. Needs root and nft; without them the test says so and passes,
//! unless `CI` is set.

use std::path::Path;

use rampart_testkit::{require, Need, Netns};

use crate::util::tests_dir;

/// What the tests here need.
const NEEDS: &[Need] = &[Need::Root, Need::Tool("ip"), Need::Tool("nft")];

/// Runs `nft ARGS FILE` in a fresh network namespace; the error text on failure.
fn nft_in_netns(args: &[&str], file: &Path) -> Result<(), String> {
    let out = Netns::fresh("nft-golden")
        .command("nft")
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| format!("ip netns exec: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn golden_scripts_load_into_the_kernel() {
    if !require(NEEDS) {
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(tests_dir().join("golden"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nft"))
        .collect();
    files.sort();
    assert!(files.len() > 1);
    let mut failures = Vec::new();
    for f in &files {
        for args in [&["-c", "-f"][..], &["-f"][..]] {
            if let Err(e) = nft_in_netns(args, f) {
                failures.push(format!("nft {} {}:\n{e}", args.join(" "), f.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Loading the same script twice (the `delete table` preamble) replaces, not duplicates.
#[test]
fn script_reloads_in_one_namespace() {
    if !require(NEEDS) {
        return;
    }
    let f = tests_dir().join("golden").join("corpus.nft");
    let path = f.display().to_string();
    let out = Netns::fresh("nft-reload")
        .command("sh")
        .args(["-e", "-c"])
        .arg(format!(
            "nft -f {path}; nft -f {path}; nft list table inet rampart | grep -c 'chain ' "
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let chains = std::fs::read_to_string(&f)
        .unwrap()
        .matches("\tchain ")
        .count();
    assert_eq!(text.trim(), chains.to_string());
}
