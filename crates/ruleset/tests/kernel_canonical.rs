//! The canonical-model promise checked against the real kernel: commands run with
//! iptables/ip6tables in a private network namespace, and the model read from the script
//! must equal the model read from the `iptables-save` output the kernel then prints.
//!
//! Needs root and iptables (nft backend, as the kernel's printer); skipped with a message
//! otherwise, except under CI (`CI` set), where a skip would hide a regression.

use rampart_ruleset::{parse_save, parse_script, ParseOptions, Source};
use rampart_testkit::{require, Need, Netns};

mod common;

use common::{normalised, COMMANDS};

/// Runs the commands in a fresh network namespace (never the host's firewall) and returns
/// what iptables-save and ip6tables-save print afterwards.
fn kernel_save(script: &str) -> String {
    let shell = format!("set -e\n{script}\niptables-save\nip6tables-save\n");
    let out = Netns::fresh("kernel-canonical")
        .command("sh")
        .args(["-c", &shell])
        .output()
        .expect("ip netns exec runs");
    assert!(
        out.status.success(),
        "the kernel refused a command: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 save output")
}

#[test]
fn script_and_kernel_save_give_the_same_model() {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("iptables")]) {
        return;
    }
    let script = COMMANDS.join("\n");
    let saved = kernel_save(&script);
    let opts = ParseOptions::default();
    let from_script = parse_script(&Source::new("script.sh", script.as_str()), opts)
        .unwrap_or_else(|e| panic!("script: {e}"));
    let from_save = parse_save(&Source::new("kernel.save", saved.as_str()), opts)
        .unwrap_or_else(|e| panic!("save:\n{saved}\n{e}"));
    let (a, b) = (
        normalised(from_script.ruleset),
        normalised(from_save.ruleset),
    );
    assert_eq!(
        a.tables.len(),
        b.tables.len(),
        "tables differ; kernel printed:\n{saved}"
    );
    for (ta, tb) in a.tables.iter().zip(&b.tables) {
        assert_eq!((ta.family, ta.kind), (tb.family, tb.kind));
        for (ca, cb) in ta.chains.iter().zip(&tb.chains) {
            assert_eq!(
                ca.name, cb.name,
                "chain order in {:?} {}",
                ta.family, ta.kind
            );
            assert_eq!(ca.policy, cb.policy, "policy of {}", ca.name);
            assert_eq!(
                ca.rules.len(),
                cb.rules.len(),
                "rules of {}\n{saved}",
                ca.name
            );
            for (i, (ra, rb)) in ca.rules.iter().zip(&cb.rules).enumerate() {
                assert_eq!(
                    ra.spec,
                    rb.spec,
                    "{:?} {} {} rule {}",
                    ta.family,
                    ta.kind,
                    ca.name,
                    i + 1
                );
            }
        }
        assert_eq!(ta, tb);
    }
}
