//! `rampart fleet` and the `--fleet` options without a fleet to reach: a policy without
//! `[fleet]`, a bad `[fleet]`, a password file others can read: each a clear error, and
//! nothing changed. (The fleet itself, with a real PostgreSQL: crates/fleet/tests and
//! tests/netns/fleet.rs.)

use std::path::PathBuf;

use crate::util::rampart;

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-cli-fleet-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn without_a_fleet_table_every_fleet_command_says_what_to_add() {
    let dir = tempdir("none");
    let policy = dir.join("rampart.toml");
    std::fs::write(&policy, "profile = \"webserver\"\n").unwrap();
    let p = policy.to_str().unwrap();
    for args in [
        vec!["fleet", "status", "--policy", p],
        vec!["bans", "list", "--fleet", "--policy", p],
        vec!["bans", "unban", "192.0.2.31", "--fleet", "--policy", p],
    ] {
        let out = rampart(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("has no [fleet] table"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_fleet_table_is_an_error_at_its_line() {
    let dir = tempdir("bad");
    let policy = dir.join("rampart.toml");
    std::fs::write(
        &policy,
        "profile = \"webserver\"\n[fleet]\nurl = \"postgresql://web1:hunter2@db/rampart\"\n",
    )
    .unwrap();
    let out = rampart(&["fleet", "status", "--policy", policy.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("rampart.toml:3"), "{}", out.stderr);
    assert!(out.stderr.contains("holds a password"), "{}", out.stderr);
    let out = rampart(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(out.code, 1, "policy check refuses it too: {}", out.stderr);
    assert!(out.stderr.contains("holds a password"), "{}", out.stderr);
    // The policy checker accepts the table (it is the fleet's), as it does [guard].
    std::fs::write(
        &policy,
        "profile = \"webserver\"\n[fleet]\nurl = \"postgresql://web1@db/rampart\"\n",
    )
    .unwrap();
    let out = rampart(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_password_file_others_can_read_is_refused_before_connecting() {
    let dir = tempdir("pw");
    let pw = dir.join("fleet.password");
    std::fs::write(&pw, "secret\n").unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let policy = dir.join("rampart.toml");
    std::fs::write(
        &policy,
        format!(
            "profile = \"webserver\"\n[fleet]\nurl = \"postgresql://web1@192.0.2.1/rampart\"\n\
             password_file = \"{}\"\n",
            pw.display()
        ),
    )
    .unwrap();
    let out = rampart(&["fleet", "status", "--policy", policy.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_names_the_subcommands() {
    let out = rampart(&["fleet", "--help"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("init") && out.stdout.contains("status"),
        "{}",
        out.stdout
    );
}
