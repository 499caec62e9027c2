//! Namespace and nft helpers.

use std::io::Write;
use std::process::{Command, Stdio};

use nix::sched::{unshare, CloneFlags};

/// The test sets: a plain timeout set and interval sets for both families.
pub const SETUP: &str = "table inet rampart {
    set blocklist { type ipv4_addr; flags timeout; }
    set cidr4 { type ipv4_addr; flags interval; }
    set cidr6 { type ipv6_addr; flags interval; }
}
";

/// Whether kernel tests can run here; panics under CI when they cannot.
pub fn can_run(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let nft = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let reason = match (root, nft) {
        (false, _) => "needs root (CAP_SYS_ADMIN for a network namespace)",
        (_, false) => "needs nft (Debian package nftables)",
        _ => return true,
    };
    if std::env::var_os("CI").is_some() {
        panic!("{test} cannot run under CI: {reason}");
    }
    eprintln!("skipped {test}: {reason}");
    false
}

/// Runs `f` on a new thread that first moves into a fresh network namespace, with
/// [`SETUP`] loaded there. The namespace goes away with the thread.
pub fn in_netns<T: Send + 'static>(
    test: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if !can_run(test) {
        return None;
    }
    let handle = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        nft_stdin(SETUP);
        f()
    });
    Some(
        handle
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e)),
    )
}

/// `nft -f -` with `script` on stdin, in the calling thread's namespace.
pub fn nft_stdin(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "nft -f failed on:\n{script}"
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
