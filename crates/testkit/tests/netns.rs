//! The harness against the real kernel: namespaces are fresh, separate and removed with
//! whatever still runs inside; `run_in` is inside, and a panic there is the test's.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use rampart_testkit::{require, Need, Netns, NETNS_PREFIX};

fn live() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn fresh_namespaces_are_separate_and_removed_on_drop() {
    if !require(&[Need::Root, Need::Tool("ip")]) {
        return;
    }
    let (a, b) = (Netns::fresh("Sep a"), Netns::fresh("sep-b"));
    let own = format!("{NETNS_PREFIX}{}-", std::process::id());
    assert!(
        a.name().starts_with(&own) && a.name().ends_with("-sep-a"),
        "{}",
        a.name()
    );
    assert_ne!(a.name(), b.name());
    let listed = live();
    assert!(
        listed.contains(a.name()) && listed.contains(b.name()),
        "{listed}"
    );
    // Nothing but lo, and lo up; the same seen from a process `run_in` starts.
    let links = a.exec(&["ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo: <LOOPBACK,UP"), "{links}");
    let inside = a.run_in(|| Command::new("ip").args(["-o", "link"]).output().unwrap());
    assert_eq!(String::from_utf8(inside.stdout).unwrap(), links);
    // A veth pair joins the two.
    a.veth("eth0", &b, "link0");
    a.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "eth0"]);
    b.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "link0"]);
    let listener = a.run_in(|| TcpListener::bind("192.0.2.1:8080").unwrap());
    let to = "192.0.2.1:8080".parse().unwrap();
    b.run_in(|| TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap());
    let (_, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "192.0.2.2");
    let name = a.name().to_owned();
    drop(a);
    assert!(!live().contains(&name), "{name} is still there");
}

#[test]
fn drop_kills_what_runs_inside() {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("sleep")]) {
        return;
    }
    let ns = Netns::fresh("kill");
    let mut child = ns.command("sleep").arg("30").spawn().unwrap();
    // Wait (boundedly) until `ip netns exec` has entered the namespace and become sleep.
    let pid = child.id().to_string();
    for _ in 0..500 {
        let out = Command::new("ip")
            .args(["netns", "pids", ns.name()])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|p| p == pid)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(ns);
    assert_eq!(child.wait().unwrap().signal(), Some(9));
}

#[test]
fn a_panic_in_run_in_is_the_callers() {
    if !require(&[Need::Root, Need::Tool("ip")]) {
        return;
    }
    let ns = Netns::fresh("panic");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ns.run_in(|| panic!("boom inside"))
    }))
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"boom inside"));
    // The thread inside carries the test's name, for skip messages.
    let name = ns.run_in(|| std::thread::current().name().map(str::to_owned));
    assert_eq!(name.as_deref(), Some("a_panic_in_run_in_is_the_callers"));
}
