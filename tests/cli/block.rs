//! `rampart block` errors that need no kernel: bad targets and names, timed networks,
//! imports with bad lines (all-or-nothing), refusals of allowlisted addresses, help.

use std::path::PathBuf;

use crate::util::rampart;

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-cli-block-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `rampart block ARGS --state-dir DIR` (DIR/state), with no policy file.
fn block(dir: &std::path::Path, args: &[&str]) -> crate::util::Output {
    let state = dir.join("state").display().to_string();
    let policy = dir.join("none.toml");
    std::fs::write(&policy, "profile = \"webserver\"\n").unwrap();
    let mut a = vec!["block"];
    a.extend_from_slice(args);
    let takes_policy = matches!(
        args.first(),
        Some(&"add" | &"country" | &"neighbours" | &"import")
    );
    let policy = policy.display().to_string();
    if takes_policy {
        a.extend_from_slice(&["--policy", &policy]);
    }
    a.extend_from_slice(&["--state-dir", &state]);
    rampart(&a)
}

#[test]
fn bad_targets_names_and_durations() {
    let dir = tempdir("bad");
    let out = block(&dir, &["add", "192.0.2.300"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "rampart: `192.0.2.300` is not an address, CIDR (192.0.2.0/24) or range (192.0.2.1-192.0.2.9)\n"
    );
    let out = block(&dir, &["add", "192.0.2.9", "--list", "no/slash"]);
    assert!(
        out.stderr
            .contains("`no/slash` is not a list name: use 1 to 32 of a-z, 0-9, `-` and `_`"),
        "{}",
        out.stderr
    );
    let out = block(&dir, &["add", "192.0.2.9", "--timeout", "1w"]);
    assert!(
        out.stderr
            .contains("`1w` is not a duration (90s, 30m, 1h, 7d)"),
        "{}",
        out.stderr
    );
    let out = block(&dir, &["add", "198.51.100.0/24", "--timeout", "1h"]);
    assert_eq!(
        out.stderr,
        "rampart: a timed ban takes single addresses; 198.51.100.0/24 is a network\n  \
         remedy: leave out --timeout (lists of networks are permanent, `rampart block del` lifts them)\n"
    );
    let out = block(&dir, &["neighbours", "192.0.2.7", "--prefix", "33"]);
    assert!(out
        .stderr
        .contains("--prefix 33 is too long for 192.0.2.7 (at most 32)"));
    let out = block(&dir, &["country", "China"]);
    assert!(out
        .stderr
        .contains("`China` is not a country code (two letters, ISO 3166: CN, RU, US)"));
    assert!(!dir.join("state/lists").exists(), "nothing stored");
}

#[test]
fn loopback_is_refused_and_containing_prefixes_say_so() {
    let dir = tempdir("loopback");
    let out = block(&dir, &["add", "127.0.0.1"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "rampart: 127.0.0.1/32 is loopback: rampart never blocks loopback (traffic on lo is always accepted)\n"
    );
    let out = block(&dir, &["add", "127.0.0.1", "--force"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("rampart never blocks loopback"));
    let out = block(&dir, &["add", "198.51.100.0/24", "127.0.0.0/16"]);
    assert!(
        out.stderr.contains("127.0.0.0/16 is loopback"),
        "{}",
        out.stderr
    );
    let out = block(&dir, &["add", "::/0"]);
    assert!(
        out.stderr
            .contains("::/0 contains allowlisted ::1/128 (loopback)"),
        "{}",
        out.stderr
    );
    // A neighbourhood is loaded less the allowlist: all of it here, so nothing is left.
    let out = block(&dir, &["neighbours", "127.1.2.3", "--prefix", "8"]);
    assert!(
        out.stdout
            .contains("kept open: 127.0.0.0/8 (127.0.0.0/8: loopback)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("nothing left of 127.0.0.0/8 to block after the allowlist"),
        "{}",
        out.stderr
    );
    // The policy's allow_from.
    let policy = dir.join("allow.toml");
    std::fs::write(
        &policy,
        "profile = \"webserver\"\n[input]\nallow_from = [\"203.0.113.0/24\"]\n",
    )
    .unwrap();
    let state = dir.join("state").display().to_string();
    let out = rampart(&[
        "block",
        "add",
        "203.0.112.0/23",
        "--policy",
        &policy.display().to_string(),
        "--state-dir",
        &state,
    ]);
    assert!(
        out.stderr.contains(&format!(
            "203.0.112.0/23 contains allowlisted 203.0.113.0/24 (policy allow_from ({}))",
            policy.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!dir.join("state/lists").exists(), "nothing stored");
}

#[test]
fn import_with_a_bad_line_fails_before_anything_changes() {
    let dir = tempdir("import");
    let file = dir.join("list.txt");
    std::fs::write(&file, "192.0.2.1\n# comment\n192.0.2.0/33\n198.51.100.7\n").unwrap();
    let out = block(
        &dir,
        &["import", &file.display().to_string(), "--list", "drop"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with(&format!("rampart: {}:3: ", file.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("  | 192.0.2.0/33\n"), "{}", out.stderr);
    assert!(out
        .stderr
        .ends_with("nothing was changed (give --skip-invalid to load the valid lines)\n"));
    assert!(!dir.join("state/lists/drop.list").exists());
    let out = block(&dir, &["import", "/nonexistent/x.txt", "--list", "drop"]);
    assert!(
        out.stderr.contains("cannot read /nonexistent/x.txt"),
        "{}",
        out.stderr
    );
}

#[test]
fn read_commands_with_nothing_stored() {
    let dir = tempdir("empty");
    let out = block(&dir, &["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "nothing blocked\n");
    let out = block(&dir, &["lists", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["lists"].as_array().unwrap().len(), 0);
    let out = block(&dir, &["test", "192.0.2.1"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.starts_with("192.0.2.1: not blocked\n"),
        "{}",
        out.stdout
    );
    let out = block(&dir, &["del", "192.0.2.1"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, "rampart: not blocked: 192.0.2.1\n");
}

#[test]
fn help_everywhere() {
    for sub in [
        "add",
        "del",
        "list",
        "test",
        "country",
        "neighbours",
        "import",
        "lists",
    ] {
        let out = rampart(&["block", sub, "--help"]);
        assert_eq!(out.code, 0, "{sub}: {}", out.stderr);
        assert!(out.stdout.contains("Usage: rampart block"), "{sub}");
    }
    let out = rampart(&["block", "--help"]);
    assert!(out.stdout.contains("interval sets bl_NAME_4 / bl_NAME_6"));
}

/// Issue 15, "hostile and huge inputs": a line over the limit, an escape sequence, more
/// entries than --max-entries; each refused while reading, before the kernel or the store
/// is touched.
#[test]
fn issue15_import_refuses_huge_and_hostile_inputs_before_anything_changes() {
    let dir = tempdir("issue15");
    let file = dir.join("huge.txt");
    let mut text = "192.0.2.1\n".to_string();
    text.push_str(&"A".repeat(1 << 20));
    text.push('\n');
    std::fs::write(&file, &text).unwrap();
    let path = file.display().to_string();
    let out = block(&dir, &["import", &path, "--list", "drop"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "rampart: {path}:2: line longer than 4096 bytes, the most a list line may have; \
             nothing was read past it\n  | {}…\n  \
             = hint: is this a list of addresses? (a binary file, /dev/zero?)\n\
             nothing was changed (give --skip-invalid to load the valid lines)\n",
            "A".repeat(80)
        )
    );
    // The same from standard input.
    let state = dir.join("state").display().to_string();
    let policy = dir.join("none.toml").display().to_string();
    let args = [
        "block",
        "import",
        "-",
        "--list",
        "drop",
        "--policy",
        &policy,
        "--state-dir",
        &state,
    ];
    let out = crate::util::rampart_stdin(&args, &text);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("rampart: <stdin>:2: line longer than 4096 bytes"),
        "{}",
        out.stderr
    );
    // An escape sequence in a bad line reaches the terminal escaped.
    std::fs::write(&file, "192.0.2.1\n\u{1b}]0;owned\u{7}\n").unwrap();
    let out = block(&dir, &["import", &path, "--list", "drop"]);
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    assert!(
        out.stderr.contains(r"  | \u{1b}]0;owned\u{7}"),
        "{}",
        out.stderr
    );
    // More entries than --max-entries.
    std::fs::write(&file, "192.0.2.1\n192.0.2.2\n192.0.2.3\n").unwrap();
    let out = block(
        &dir,
        &["import", &path, "--list", "drop", "--max-entries", "2"],
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        format!(
            "rampart: {path}:3: more than 2 entries, the most one import loads\n  \
             | 192.0.2.3\n  \
             = hint: give --max-entries N to load more, or aggregate the list first\n\
             nothing was changed (give --skip-invalid to load the valid lines)\n"
        )
    );
    let out = block(
        &dir,
        &[
            "import",
            &path,
            "--list",
            "drop",
            "--max-entries",
            "2",
            "--skip-invalid",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(":3: more than 2 entries"),
        "{}",
        out.stderr
    );
    // `block country` takes the same limit.
    let db = dir.join("geoip");
    std::fs::write(&db, "16777216,16777471,AU\n16777472,16777727,CN\n").unwrap();
    let out = block(
        &dir,
        &[
            "country",
            "AU",
            "--db",
            &db.display().to_string(),
            "--max-entries",
            "1",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "{}:2: more than 1 entries, the most one import loads",
            db.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!dir.join("state/lists").exists(), "nothing stored");
}
