//! [`Netns`]: one fresh, named network namespace per test, removed on drop.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Prefix of every namespace name [`Netns::fresh`] makes: `rampart-t-<pid>-<n>-<tag>`.
///
/// The dash after `t` keeps these apart from the `rampart-t<pid>-…` labs of `rampart-lab`,
/// whose leftover cleaning does not read a pid from these names (and this crate's does not
/// read one from theirs).
pub const NETNS_PREFIX: &str = "rampart-t-";

/// Upper bound on every command this crate runs itself (`ip`, and [`Netns::exec`]'s).
const TIMEOUT_SECS: &str = "60";

/// Directory where `ip netns` keeps its namespace handles.
const NETNS_DIR: &str = "/run/netns";

/// Longest tag kept in a name: names stay readable in `ip netns list`.
const MAX_TAG: usize = 24;

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static CLEAN_LEFTOVERS: Once = Once::new();

/// A network namespace made for one test: `ip netns add rampart-t-<pid>-<n>-<tag>`, with
/// `lo` up and nothing else (no other interface, no rules, no routes).
///
/// Dropping it kills the processes still inside (a daemon the test started and its
/// children would otherwise keep the namespace alive) and deletes it. The pid and a
/// per-process counter in the name keep parallel tests, and parallel test binaries, apart.
/// Namespaces of test processes that died before dropping theirs are deleted the first
/// time a process makes one.
///
/// Every method panics when the command behind it fails, with the command and its
/// standard error: in a test that is the failure to report.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Makes a fresh namespace. `tag` says which test it is for; anything but `a-z`, `0-9`
    /// and `-` in it becomes `-`, and it is cut to 24 characters.
    ///
    /// Needs root: call [`require`](crate::require) with [`Need::Root`](crate::Need::Root)
    /// first.
    pub fn fresh(tag: &str) -> Netns {
        CLEAN_LEFTOVERS.call_once(remove_leftovers);
        let tag: String = tag
            .chars()
            .take(MAX_TAG)
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '-' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            })
            .collect();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{NETNS_PREFIX}{}-{n}-{tag}", std::process::id());
        run(&["ip", "netns", "add", &name], None);
        let ns = Netns { name };
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"], None);
        ns
    }

    /// The namespace's name, for `ip netns exec NAME` and `ip -n NAME` (and for APIs that
    /// take one, such as `rampart_kernel::Nft::in_netns`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `argv` inside the namespace (at most 60 s) and returns its standard output.
    /// Panics if it cannot start, fails or times out.
    pub fn exec(&self, argv: &[&str]) -> String {
        run(&[&["ip", "netns", "exec", &self.name], argv].concat(), None)
    }

    /// Loads an nft script inside the namespace (`nft -f -` with `script` on standard
    /// input). Panics with the script if nft refuses it.
    pub fn nft(&self, script: &str) {
        run(
            &["ip", "netns", "exec", &self.name, "nft", "-f", "-"],
            Some(script),
        );
    }

    /// An unstarted `ip netns exec NAME PROGRAM`, for anything [`exec`](Netns::exec) does
    /// not cover: a daemon to spawn, environment, a working directory, stdin, an exit
    /// status or error text to look at. Not bounded in time: the caller bounds it.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `f` on a thread that has entered the namespace (`setns(2)`), and returns what
    /// it returns; a panic in `f` goes on in the caller. Sockets `f` opens and processes
    /// it spawns are inside the namespace; the calling thread never is. The thread takes
    /// the caller's name, so a [`skip`](crate::skip) inside still names the test.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        run_in_named(&self.name, f)
    }

    /// Joins this namespace and `peer` with a veth pair, `ifname` here and `peer_ifname`
    /// there, both up (made from inside this namespace: the machine's own is not involved).
    pub fn veth(&self, ifname: &str, peer: &Netns, peer_ifname: &str) {
        run(
            &[
                "ip",
                "-n",
                &self.name,
                "link",
                "add",
                ifname,
                "type",
                "veth",
                "peer",
                "name",
                peer_ifname,
                "netns",
                &peer.name,
            ],
            None,
        );
        run(&["ip", "-n", &self.name, "link", "set", ifname, "up"], None);
        run(
            &["ip", "-n", &peer.name, "link", "set", peer_ifname, "up"],
            None,
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

/// Kills what is left inside namespace `name`, then deletes it. Never panics (it runs in
/// `drop`, possibly while a test is already panicking).
fn remove(name: &str) {
    let pids = Command::new("ip").args(["netns", "pids", name]).output();
    let own = std::process::id();
    for pid in pids
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|&p| p as u32 != own)
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deleted = Command::new("ip")
        .args(["netns", "del", name])
        .stderr(Stdio::piped())
        .output();
    match deleted {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "testkit: could not delete namespace {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        ),
        Err(e) => eprintln!("testkit: could not run `ip netns del {name}`: {e}"),
    }
}

/// Deletes `rampart-t-<pid>-…` namespaces whose process is gone (a test killed before it
/// dropped its namespace).
fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NETNS_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !Path::new("/proc").join(pid).exists()
        {
            remove(name);
        }
    }
}

/// Runs `argv` under `timeout` with `input` on stdin; its stdout. Panics on failure.
fn run(argv: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("timeout")
        .arg(TIMEOUT_SECS)
        .args(argv)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        // A command that exits early closes its stdin; its status says why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim_end(),
        input
            .map(|t| format!("\n--- input:\n{t}"))
            .unwrap_or_default()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `f` on a thread inside the named network namespace (`/var/run/netns/NAME`, made
/// by `ip netns add`: a [`Netns`], or a lab's), keeping the caller's thread name; a panic
/// in `f` is the caller's.
pub fn run_in_named<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = Path::new(NETNS_DIR).join(name);
    let mut thread = std::thread::Builder::new();
    if let Some(name) = std::thread::current().name() {
        thread = thread.name(name.to_owned());
    }
    std::thread::scope(|s| {
        thread
            .spawn_scoped(s, || {
                let file =
                    File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns into {}: {e}", path.display()));
                f()
            })
            .expect("spawn a thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
