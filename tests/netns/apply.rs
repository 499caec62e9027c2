//! `rampart apply --confirm`, `confirm`, `save`/`restore` and `down` run as the binary
//! inside a lab namespace (`ip netns exec NS rampart ...`), with real TCP connects.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_testkit::{require, Need};

use crate::host_client::HostAndClient;
use crate::lab::Fate;

const PORT: u16 = 8080;

/// Accept everything.
const OPEN: &str = "table inet rampart {
\tset bans {
\t\ttype ipv4_addr
\t\tflags timeout
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tip saddr @bans drop
\t}
}
";

/// Drop the probe's port.
const BLOCK: &str = "table inet rampart {
\tset bans {
\t\ttype ipv4_addr
\t\tflags timeout
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tip saddr @bans drop
\t\ttcp dport 8080 counter drop comment \"block the probe\"
\t}
}
";

type Setup = HostAndClient;

fn setup() -> Setup {
    HostAndClient::new("apply", &[("open.nft", OPEN), ("block.nft", BLOCK)])
}

/// The apply tests' own uses of the fixture.
impl HostAndClient {
    fn rampart(&self, args: &[&str]) -> String {
        let out = self.rampart_cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "rampart {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn listing(&self) -> String {
        self.lab
            .exec("host", &["nft", "list", "table", "inet", "rampart"])
            .unwrap_or_default()
    }

    fn connect(&self) -> Fate {
        self.connect_to(PORT)
    }

    /// Applies `--confirm SECS` from a child, reads until the rollback is armed, then
    /// `kill -9`s the child.
    fn apply_confirm_and_kill(&self, file: &str, secs: &str) {
        let mut child = self
            .rampart_cmd(&["apply", "--nft", file, "--confirm", secs])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let armed = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("rollback armed"));
        let _ = child.kill();
        let _ = child.wait();
        assert!(armed, "apply --confirm did not arm a rollback");
    }

    /// Waits (bounded) until the watcher has logged `what`.
    fn wait_log(&self, what: &str, limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            let log = std::fs::read_to_string(self.state.join("rollback.log")).unwrap_or_default();
            if log.contains(what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

fn is_delivered(f: Fate) -> bool {
    matches!(f, Fate::Delivered { .. })
}

#[test]
fn confirm_timeout_restores_connectivity_after_kill_9() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    s.rampart(&["apply", "--nft", "open.nft"]);
    let before = s.listing();
    assert!(
        is_delivered(s.connect()),
        "open policy must let the probe in"
    );
    s.apply_confirm_and_kill("block.nft", "2");
    assert!(s.listing().contains("block the probe"));
    assert_eq!(
        s.connect(),
        Fate::Dropped,
        "the new policy blocks the probe"
    );
    assert!(
        s.wait_log("previous rules restored", Duration::from_secs(8)),
        "no rollback within 8 s"
    );
    assert_eq!(
        s.listing().replace("packets 0 bytes 0", ""),
        before.replace("packets 0 bytes 0", "")
    );
    assert!(
        is_delivered(s.connect()),
        "connectivity is back after the rollback"
    );
    // The state follows the kernel: the open policy is the applied one again.
    assert!(s
        .rampart(&["status", "--nft", "open.nft"])
        .contains("drift: no"));
}

#[test]
fn confirm_within_the_window_keeps_the_new_policy() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    s.rampart(&["apply", "--nft", "open.nft"]);
    s.apply_confirm_and_kill("block.nft", "2");
    let out = s.rampart(&["status", "--json"]);
    assert!(out.contains("\"pending_confirm_secs\""), "{out}");
    // A second apply while one waits for confirmation is refused.
    let refused = s
        .rampart_cmd(&["apply", "--nft", "open.nft"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(s.rampart(&["confirm"]).contains("confirmed"));
    assert!(s.wait_log("confirmed", Duration::from_secs(8)));
    assert!(s.listing().contains("block the probe"));
    assert_eq!(s.connect(), Fate::Dropped);
    // Nothing left to confirm.
    let again = s.rampart_cmd(&["confirm"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn applied_and_confirmed_policies_come_back_at_boot_without_a_save() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    // A plain apply is saved for boot at once.
    assert!(s
        .rampart(&["apply", "--nft", "block.nft"])
        .contains("saved for boot"));
    let reboot = |s: &Setup| {
        s.lab
            .exec("host", &["nft", "delete", "table", "inet", "rampart"])
            .unwrap();
        s.rampart(&["restore"]);
    };
    reboot(&s);
    assert!(s.listing().contains("block the probe"));
    // An unconfirmed apply is not: a reboot in the window brings back the previous rules.
    s.apply_confirm_and_kill("open.nft", "30");
    reboot(&s);
    assert!(s.listing().contains("block the probe"), "{}", s.listing());
    // Once confirmed, it is.
    s.apply_confirm_and_kill("open.nft", "30");
    assert!(s.rampart(&["confirm"]).contains("saved for boot"));
    reboot(&s);
    assert!(!s.listing().contains("block the probe"), "{}", s.listing());
}

#[test]
fn confirm_rollback_to_no_table() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    s.apply_confirm_and_kill("block.nft", "1");
    assert!(s.wait_log("previous rules restored", Duration::from_secs(6)));
    assert!(s.listing().is_empty(), "no table before, none after");
}

#[test]
fn boot_restore_brings_back_rules_and_sets() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    s.rampart(&["apply", "--nft", "block.nft"]);
    s.lab
        .exec(
            "host",
            &[
                "nft",
                "add",
                "element",
                "inet",
                "rampart",
                "bans",
                "{ 203.0.113.9 timeout 1h }",
            ],
        )
        .unwrap();
    s.rampart(&["save"]);
    s.lab
        .exec("host", &["nft", "delete", "table", "inet", "rampart"])
        .unwrap();
    assert!(s.listing().is_empty());
    // What the boot unit runs.
    s.rampart(&["restore"]);
    let l = s.listing();
    assert!(
        l.contains("block the probe") && l.contains("203.0.113.9"),
        "{l}"
    );
    assert_eq!(s.connect(), Fate::Dropped);
    assert!(s
        .rampart(&["status", "--nft", "block.nft"])
        .contains("drift: no"));
    assert!(s.rampart(&["down"]).contains("removed"));
    assert!(s.rampart(&["down"]).contains("not present"));
    assert!(is_delivered(s.connect()));
}

#[test]
fn webserver_example_compiled_and_applied() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    let script = super::examples_dir().join("webserver.sh");
    let script = script.to_str().unwrap();
    assert!(s
        .rampart(&["apply", "--script", script])
        .contains("applied"));
    assert!(is_delivered(s.connect_to(80)), "http is allowed");
    assert!(is_delivered(s.connect_to(22)), "ssh is allowed");
    assert_eq!(
        s.connect_to(PORT),
        Fate::Dropped,
        "other ports hit the DROP policy"
    );
    assert!(s
        .rampart(&["apply", "--script", script])
        .contains("unchanged"));
    let status = s.rampart(&["status", "--script", script, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        v["drift"]["added"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    let counted: u64 = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["packets"].as_u64())
        .sum();
    assert!(counted > 0, "the probes were counted: {status}");
}

/// The kernel is read over netlink: a re-apply is unchanged while nothing was committed
/// (the generation) and after a block list change elsewhere (the table's shape); a rule
/// added by hand is seen by `status` and replaced by the next apply.
#[test]
fn unchanged_and_changed_outside_are_told_apart_without_listing() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    let script = super::examples_dir().join("webserver.sh");
    let script = script.to_str().unwrap();
    assert!(s
        .rampart(&["apply", "--script", script])
        .contains("applied"));
    assert!(s
        .rampart(&["apply", "--script", script])
        .contains("unchanged"));
    // A block list commits in its own table: the policy's table is unchanged.
    s.rampart(&["block", "add", "198.51.100.7"]);
    let status = s.rampart(&["status", "--script", script]);
    assert!(status.contains("yes, the kernel matches"), "{status}");
    assert!(status.contains("drift: no"), "{status}");
    assert!(s
        .rampart(&["apply", "--script", script])
        .contains("unchanged"));
    // A rule added by hand.
    s.lab
        .exec(
            "host",
            &[
                "nft",
                "add",
                "rule",
                "inet",
                "rampart",
                "filter_input",
                "tcp",
                "dport",
                "9",
                "accept",
            ],
        )
        .unwrap();
    let status = s.rampart(&["status", "--script", script]);
    assert!(
        status.contains("the kernel's table differs (changed outside rampart)"),
        "{status}"
    );
    assert!(s
        .rampart(&["apply", "--script", script])
        .contains("applied"));
    assert!(!s.listing().contains("dport 9 "));
    let status = s.rampart(&["status", "--script", script]);
    assert!(status.contains("yes, the kernel matches"), "{status}");
}

impl Setup {
    /// The pid of the rollback watcher of this setup's state directory, found by its
    /// command line (`confirm-watch ID --state-dir STATE`).
    fn watcher_pid(&self) -> Option<u32> {
        let state = self.state.to_str().unwrap();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                args.contains(&&b"confirm-watch"[..]) && args.contains(&state.as_bytes())
            })
    }

    /// `kill -9`s the watcher and waits (bounded) until it is gone.
    fn kill_watcher(&self) {
        let pid = self.watcher_pid().expect("a running rollback watcher");
        let st = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let t = Instant::now();
        while self.watcher_pid().is_some() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "watcher {pid} survived kill -9"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pending_tokens(&self) -> Vec<String> {
        std::fs::read_dir(self.state.join("confirm"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".pending"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Issue 15: `setsid -f` returned before the watcher ran, so an apply could say "rollback
/// armed" with no watcher. A watcher that exits before it runs makes the apply refuse.
#[test]
fn regression_15_confirm_refuses_when_the_watcher_cannot_start() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    s.rampart(&["apply", "--nft", "open.nft"]);
    let out = s
        .rampart_cmd(&["apply", "--nft", "block.nft", "--confirm", "30"])
        .env("RAMPART_TEST_WATCHER_FAULT", "exit")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("rollback armed"), "{stdout}");
    assert!(
        stderr.contains("nothing was applied") && stderr.contains("watcher did not start"),
        "{stderr}"
    );
    assert!(!s.listing().contains("block the probe"), "{}", s.listing());
    assert!(is_delivered(s.connect()));
    assert!(s.pending_tokens().is_empty(), "{:?}", s.pending_tokens());
    // Nothing is left to refuse the next apply, and a working watcher arms.
    s.apply_confirm_and_kill("block.nft", "30");
    assert!(s.rampart(&["confirm"]).contains("confirmed"));
}

/// Issue 15: a pending confirmation whose watcher was killed refused every later apply.
/// The next apply (or confirm) clears it and says so.
#[test]
fn regression_15_killed_watcher_leaves_the_next_apply_possible() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    s.rampart(&["apply", "--nft", "open.nft"]);
    s.apply_confirm_and_kill("block.nft", "30");
    s.kill_watcher();
    assert_eq!(s.pending_tokens().len(), 1);
    let status = s.rampart(&["status"]);
    assert!(
        status.contains("its rollback watcher is not running"),
        "{status}"
    );
    let out = s.rampart(&["apply", "--nft", "open.nft"]);
    assert!(out.contains("has no rollback watcher"), "{out}");
    assert!(out.contains("applied"), "{out}");
    assert!(!s.listing().contains("block the probe"), "{}", s.listing());
    assert!(s.pending_tokens().is_empty(), "{:?}", s.pending_tokens());

    // The same at `confirm`: the rules of the stale apply stay, saved for boot.
    s.apply_confirm_and_kill("block.nft", "30");
    s.kill_watcher();
    let out = s.rampart(&["confirm"]);
    assert!(out.contains("has no rollback watcher"), "{out}");
    assert!(out.contains("saved for boot"), "{out}");
    assert!(s.listing().contains("block the probe"));
    assert!(s.pending_tokens().is_empty(), "{:?}", s.pending_tokens());
}

/// Issue 15: an error while the watcher waits ends in the rollback at once, not in a
/// watcher gone with the new rules left in place.
#[test]
fn regression_15_an_error_in_the_watch_loop_rolls_back() {
    if !require(&[Need::Root]) {
        return;
    }
    let s = setup();
    s.rampart(&["apply", "--nft", "open.nft"]);
    s.apply_confirm_and_kill("block.nft", "30");
    assert!(s.listing().contains("block the probe"));
    // The token becomes unreadable: a directory in its place.
    let token = s.state.join("confirm").join(&s.pending_tokens()[0]);
    std::fs::remove_file(&token).unwrap();
    std::fs::create_dir(&token).unwrap();
    assert!(
        s.wait_log("previous rules restored", Duration::from_secs(8)),
        "no rollback within 8 s of the error"
    );
    assert!(s.wait_log("rolling back now", Duration::from_secs(1)));
    assert!(!s.listing().contains("block the probe"), "{}", s.listing());
    assert!(is_delivered(s.connect()));
    s.rampart(&["apply", "--nft", "block.nft"]);
}

/// Issue 11: `apply` prints which packets change fate against the rules the kernel holds,
/// before it applies: against no table (everything passes) first, then against the ruleset
/// recorded at the last apply; and what it says is what the kernel then does.
#[test]
fn apply_shows_the_change_against_the_kernel_before_applying() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let s = setup();
    let open =
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
    let closed = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                  -A INPUT -p tcp -m tcp --dport 8080 -j DROP\nCOMMIT\n";
    std::fs::write(s.dir.join("open.rules"), open).unwrap();
    std::fs::write(s.dir.join("closed.rules"), closed).unwrap();
    let first = s.rampart(&["apply", "--rules", "open.rules"]);
    assert!(
        first.contains("note: the kernel holds no rampart table\nchange: no packet changes fate"),
        "{first}"
    );
    assert!(is_delivered(s.connect()));
    let second = s.rampart(&["apply", "--rules", "closed.rules"]);
    let shown = "change: packets whose fate changes against the kernel's rules:\n  \
                 ipv4 input: tcp from anywhere to port 8080: ACCEPT → DROP\n";
    assert!(second.contains(shown), "{second}");
    assert!(
        second.find(shown).unwrap() < second.find("applied").unwrap_or(usize::MAX),
        "the change comes before the apply: {second}"
    );
    assert_eq!(s.connect(), Fate::Dropped, "what the diff said");
    let again = s.rampart(&["apply", "--rules", "closed.rules", "--force"]);
    assert!(again.contains("change: no packet changes fate"), "{again}");
}
