//! Namespaces left by a test process that died are deleted by the next process's first
//! `Netns::fresh` (a binary of its own: that happens once per process).

use std::process::Command;

use rampart_testkit::{require, Need, Netns, NETNS_PREFIX};

#[test]
fn leftovers_of_dead_processes_are_removed() {
    if !require(&[Need::Root, Need::Tool("ip")]) {
        return;
    }
    // No pid is this large: a "dead process".
    let stale = format!("{NETNS_PREFIX}999999999-0-stale");
    let added = Command::new("ip").args(["netns", "add", &stale]).status();
    assert!(added.unwrap().success());
    let _ns = Netns::fresh("leftovers");
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        !listed.contains(&stale),
        "{stale} was not removed:\n{listed}"
    );
}
