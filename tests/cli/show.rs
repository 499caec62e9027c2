//! `rampart show`: canonical output reads back to the same ruleset.

use crate::util::{rampart, rampart_stdin};

#[test]
fn show_output_reads_back_identically() {
    for file in [
        "testdata/seed-commands.sh",
        "examples/router.sh",
        "examples/syn-flood.sh",
    ] {
        let first = rampart(&["show", file]);
        assert_eq!(first.code, 0, "{file}: {}", first.stderr);
        let second = rampart_stdin(&["show", "-"], &first.stdout);
        assert_eq!(second.code, 0, "{file} reprinted: {}", second.stderr);
        assert_eq!(first.stdout, second.stdout, "{file}");
        let as_json = rampart(&["show", "--json", file]);
        assert_eq!(as_json.code, 0, "{file} --json: {}", as_json.stderr);
        let again = rampart_stdin(&["show", "--json", "-"], &first.stdout);
        assert_eq!(again.code, 0, "{file} reprinted --json: {}", again.stderr);
        assert_eq!(as_json.stdout, again.stdout, "{file}: JSON models differ");
        // The model reads back from its JSON (a jump to a user chain included).
        let model: rampart_ruleset::Ruleset =
            serde_json::from_str(&as_json.stdout).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            serde_json::to_string_pretty(&model).unwrap() + "\n",
            as_json.stdout,
            "{file}"
        );
    }
}

#[test]
fn human_format_numbers_rules_under_their_chain() {
    let out = rampart(&["show", "--format", "human", "examples/syn-flood.sh"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("chain syn_flood (user chain)"),
        "{}",
        out.stdout
    );
}

/// Issue 15: a rule comment's escape sequences are shown escaped to people, never run by
/// their terminal.
#[test]
fn issue_15_show_human_escapes_control_characters() {
    let file = crate::util::root().join("target/cli-tests-issue-15-show-escape.sh");
    std::fs::write(
        &file,
        "iptables -A INPUT -s 192.0.2.0/24 -m comment --comment \"\u{1b}]0;pwned\u{7}\" -j DROP\n",
    )
    .unwrap();
    let out = rampart(&["show", "--format", "human", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\\u{1b}]0;pwned"), "{}", out.stdout);
}
