//! Namespace and nft helpers.

use std::process::Command;

use rampart_testkit::{require, Need, Netns};

/// The test sets: a plain timeout set and interval sets for both families.
pub const SETUP: &str = "table inet rampart {
    set blocklist { type ipv4_addr; flags timeout; }
    set cidr4 { type ipv4_addr; flags interval; }
    set cidr6 { type ipv6_addr; flags interval; }
}
";

/// Runs `f` inside a fresh network namespace with [`SETUP`] loaded, on a thread that
/// entered it (the `nft` processes it starts are inside too); `None` when the test is
/// skipped (no root or no nft; under CI that fails instead).
pub fn in_netns<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("nft")]) {
        return None;
    }
    let ns = Netns::fresh("nfnl");
    ns.nft(SETUP);
    Some(ns.run_in(f))
}

/// `nft -f -` with `script` on stdin, in the calling thread's namespace; panics on
/// failure.
pub fn nft_stdin(script: &str) {
    use std::io::Write;
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nft runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nft args…`, its stdout; panics on failure.
pub fn nft(args: &[&str]) -> String {
    let out = Command::new("nft").args(args).output().expect("nft runs");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The set's elements as `nft -j list set` shows them, in our spelling: `192.0.2.1`,
/// `192.0.2.0/24`, `192.0.2.10-192.0.2.20`; sorted.
pub fn nft_elements(set: &str) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(&nft(&["-j", "list", "set", "inet", "rampart", set])).unwrap();
    let set = json["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o.get("set"))
        .expect("a set object");
    let mut out: Vec<String> = set
        .get("elem")
        .and_then(|e| e.as_array())
        .map(|elems| elems.iter().map(spell).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn spell(v: &serde_json::Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_owned();
    }
    if let Some(e) = v.get("elem") {
        return spell(&e["val"]);
    }
    if let Some(p) = v.get("prefix") {
        return format!("{}/{}", p["addr"].as_str().unwrap(), p["len"]);
    }
    if let Some(r) = v.get("range") {
        return format!("{}-{}", r[0].as_str().unwrap(), r[1].as_str().unwrap());
    }
    panic!("unexpected nft element {v}");
}
