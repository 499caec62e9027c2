//! End to end: a real OpenSSH sshd in a network namespace created by the test, PAM through
//! libpam-wrapper (so the host's /etc/pam.d is untouched), and OpenSSH's `ssh` answering
//! the keyboard-interactive prompt through an SSH_ASKPASS helper that reads the sheet.
//! Logs in as root (no user is created on the host). Needs root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rampart_testkit::{require, Need, Netns, Sshd, SSHD};

use crate::util::{
    module, numbers, pam_wrapper, system_module, unix_now, Account, TempDir, LIBPAM_WRAPPER,
    PATIENCE,
};

/// Answers `$1` (the prompt) from `$OTP_MAP` (`NNN password` lines) with `$OTP_PREFIX` in
/// front; logs the prompt to `$OTP_LOG` and, while `$OTP_WAIT` exists, waits before
/// answering (a user who is slow to type).
const ASKPASS: &str = r#"#!/bin/sh
printf '%s\n' "$1" >> "$OTP_LOG"
while [ -n "$OTP_WAIT" ] && [ -e "$OTP_WAIT" ]; do sleep 0.05; done
p=${1##*) }
out="$OTP_PREFIX"
for n in $(printf '%s' "$p" | grep -o '[0-9][0-9][0-9]'); do
  out="$out$(grep "^$n " "$OTP_MAP" | cut -d' ' -f2)"
done
printf '%s\n' "$out"
"#;

/// An sshd (testkit's [`Sshd`]: killed on drop, its per-connection processes with the
/// namespace) in its own network namespace, with its own config, host key and PAM service.
struct Lab {
    // Dropped first: sshd stops before its namespace and files go.
    sshd: Sshd,
    ns: Netns,
    dir: TempDir,
    acct: Account,
    runs: AtomicUsize,
}

impl Lab {
    fn start(tag: &str, module_args: &str) -> Option<Lab> {
        let wrapper = pam_wrapper();
        if !require(&[
            Need::Root,
            Need::Tool("ip"),
            Need::Tool(SSHD),
            Need::Tool("ssh"),
            Need::Tool("ssh-keygen"),
            Need::Check(LIBPAM_WRAPPER, wrapper.is_some()),
        ]) {
            return None;
        }
        let ns = Netns::fresh(&format!("otp-{tag}"));
        let dir = TempDir::new(&format!("sshd-{tag}"));
        let d = dir.path();
        let acct = Account::create(d, "root", "s3cret-Prefix", 30);
        let svc = d.join("services");
        fs::create_dir(&svc).unwrap();
        let permit = system_module("pam_permit.so");
        fs::write(
            svc.join("sshd"),
            format!(
                "auth required {} statedir={} fail_delay=0 {module_args}\n\
                 account required {p}\nsession required {p}\npassword required {}\n",
                module().display(),
                acct.store.dir().display(),
                system_module("pam_deny.so").display(),
                p = permit.display(),
            ),
        )
        .unwrap();
        fs::write(
            svc.join("other"),
            format!("auth required {}\n", system_module("pam_deny.so").display()),
        )
        .unwrap();
        let helper = d.join("askpass");
        fs::write(&helper, ASKPASS).unwrap();
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
        let preload = format!("{}", wrapper.unwrap().display());
        let services = format!("{}", svc.display());
        let sshd = Sshd::start(
            &ns,
            d,
            "ListenAddress 127.0.0.1:22\nUsePAM yes\nKbdInteractiveAuthentication yes\n\
             PasswordAuthentication no\nPubkeyAuthentication no\n\
             AuthenticationMethods keyboard-interactive\nPermitRootLogin yes\n\
             LoginGraceTime 120\nMaxStartups 20\nLogLevel VERBOSE\n",
            &[
                ("LD_PRELOAD", &preload),
                ("PAM_WRAPPER", "1"),
                ("PAM_WRAPPER_SERVICE_DIR", &services),
            ],
        );
        let lab = Lab {
            ns,
            dir,
            sshd,
            acct,
            runs: AtomicUsize::new(0),
        };
        Some(lab)
    }

    fn log(&self) -> String {
        self.sshd.log()
    }

    /// Starts `ssh root@127.0.0.1 true` answering from `map` (None: the right answers).
    /// Returns the client and the file its prompts are logged to.
    fn login(&self, map: Option<&str>, wait: Option<&Path>) -> (Child, PathBuf) {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let d = self.dir.path();
        let map_path = d.join(format!("map{n}"));
        self.acct.write_map(&map_path, map);
        let prompts = d.join(format!("prompts{n}"));
        fs::write(&prompts, "").unwrap();
        let child = self
            .ns
            .command("ssh")
            .args(["-F", "/dev/null"])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PreferredAuthentications=keyboard-interactive",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=60",
                "-o",
                "LogLevel=ERROR",
                "root@127.0.0.1",
                "true",
            ])
            .env("SSH_ASKPASS", d.join("askpass"))
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("OTP_MAP", &map_path)
            .env("OTP_PREFIX", &self.acct.prefix)
            .env("OTP_LOG", &prompts)
            .env("OTP_WAIT", wait.map(Path::as_os_str).unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ssh");
        (child, prompts)
    }

    /// Logs in and returns (logged in, prompts seen).
    fn try_login(&self, map: Option<&str>) -> (bool, Vec<String>) {
        let (ok, prompts, _) = self.try_login_why(map);
        (ok, prompts)
    }

    /// Logs in and returns (logged in, prompts seen, what went on: ssh's stderr and
    /// sshd's log, for failure messages).
    fn try_login_why(&self, map: Option<&str>) -> (bool, Vec<String>, String) {
        let (child, prompts) = self.login(map, None);
        let out = wait_timeout(child, PATIENCE);
        let seen = read_prompts(&prompts);
        let why = format!(
            "ssh {}, stderr: {}\nsshd log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        (out.status.success(), seen, why)
    }
}

fn wait_timeout(mut child: Child, limit: Duration) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("ssh did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn read_prompts(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_for_prompt(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Some(p) = read_prompts(path).pop() {
            return p;
        }
        assert!(start.elapsed() < PATIENCE, "no prompt within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Per-connection sshd processes (children of the listener, and theirs).
fn connection_sshds(listener: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![listener];
    while let Some(parent) = frontier.pop() {
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...
            let after = stat.rsplit(") ").next().unwrap_or("");
            let ppid: u32 = after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if ppid == parent {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

#[test]
fn sshd_one_password_logs_in_once_and_bad_answers_are_refused() {
    let Some(lab) = Lab::start("once", "free_failures=5") else {
        return;
    };
    let (ok, prompts) = lab.try_login(None);
    assert!(
        ok,
        "right password refused; prompts {prompts:?}\n{}",
        lab.log()
    );
    assert_eq!(prompts.len(), 1);
    let used_no = numbers(&prompts[0]);
    assert_eq!(used_no.len(), 1, "{prompts:?}");
    let used_pw = lab.acct.sheet.password(used_no[0]).unwrap().to_string();
    assert_eq!(lab.acct.secrets().remaining(), 29);
    assert_eq!(
        lab.acct.secrets().entry(used_no[0]),
        Some(&rampart_otp::Entry::Used)
    );

    // The used password, whatever number is asked, is refused.
    let (ok, prompts) = lab.try_login(Some(&used_pw));
    assert!(!ok, "used password accepted; {prompts:?}");
    assert_eq!(prompts.len(), 1);
    // A wrong password.
    let (ok, _) = lab.try_login(Some("abcdefghjkmnp"));
    assert!(!ok);
    assert_eq!(lab.acct.secrets().remaining(), 29);
    // The right password with a wrong prefix: edit the helper's prefix via the map.
    let (child, prompts) = {
        let n = lab.runs.fetch_add(1, Ordering::Relaxed);
        let d = lab.dir.path();
        let map = d.join(format!("map{n}"));
        lab.acct.write_map(&map, None);
        let prompts = d.join(format!("prompts{n}"));
        let child = lab
            .ns
            .command("ssh")
            .args(["-F", "/dev/null"])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "PreferredAuthentications=keyboard-interactive"])
            .args(["-o", "NumberOfPasswordPrompts=1", "-o", "LogLevel=ERROR"])
            .args(["root@127.0.0.1", "true"])
            .env("SSH_ASKPASS", d.join("askpass"))
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("OTP_MAP", &map)
            .env("OTP_PREFIX", "s3cret-prefix")
            .env("OTP_LOG", &prompts)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (child, prompts)
    };
    let out = wait_timeout(child, PATIENCE);
    assert!(!out.status.success(), "wrong prefix accepted");
    assert_eq!(read_prompts(&prompts).len(), 1);
    let s = lab.acct.secrets();
    assert_eq!(s.remaining(), 29);
    assert_eq!(s.throttle.failures, 3);
    // And the right answer still works afterwards (5 failures are free here).
    let (ok, prompts, why) = lab.try_login_why(None);
    assert!(ok, "prompts {prompts:?}\n{why}");
    assert_eq!(lab.acct.secrets().remaining(), 28);
}

#[test]
fn sshd_concurrent_logins_get_the_triple_challenge_and_a_killed_login_expires() {
    // The module's default grace (120 s, sshd's LoginGraceTime here too) outlasts any run
    // of this test, so "within the grace time" holds however slow the machine is; its end
    // is simulated below.
    let Some(lab) = Lab::start("race", "") else {
        return;
    };
    let d = lab.dir.path().to_path_buf();
    // The user's login: shown its prompt, slow to answer.
    let wait = d.join("wait-user");
    fs::write(&wait, "").unwrap();
    let (user, user_prompts) = lab.login(None, Some(&wait));
    let p_user = wait_for_prompt(&user_prompts);
    assert_eq!(numbers(&p_user).len(), 1, "{p_user}");
    // An attacker who knows only the user's password fails the triple challenge.
    let user_pw = lab
        .acct
        .sheet
        .password(numbers(&p_user)[0])
        .unwrap()
        .to_string();
    let (ok, p) = lab.try_login(Some(&user_pw));
    assert!(!ok);
    assert_eq!(numbers(&p[0]).len(), 3);
    // A concurrent login must answer three other passwords; answered right, it succeeds
    // and releases the hold it was asked under (issue 15, finding 2).
    let (ok, p_att) = lab.try_login(None);
    assert_eq!(p_att.len(), 1);
    let n_att = numbers(&p_att[0]);
    assert_eq!(n_att.len(), 3, "{p_att:?}");
    assert!(!n_att.contains(&numbers(&p_user)[0]));
    assert!(
        ok,
        "triple challenge answered right but refused\n{}",
        lab.log()
    );
    // The user answers; the login succeeds.
    fs::remove_file(&wait).unwrap();
    let out = wait_timeout(user, PATIENCE);
    assert!(out.status.success(), "{}", lab.log());
    assert_eq!(lab.acct.secrets().remaining(), 30 - 4);
    assert_eq!(lab.acct.secrets().held, None);

    // kill -9 of sshd's per-connection processes while a login holds a challenge.
    let wait = d.join("wait-victim");
    fs::write(&wait, "").unwrap();
    let (victim, victim_prompts) = lab.login(None, Some(&wait));
    let p_victim = wait_for_prompt(&victim_prompts);
    let held_no = numbers(&p_victim)[0];
    let kids = connection_sshds(lab.sshd.pid());
    assert!(!kids.is_empty(), "no per-connection sshd found");
    for pid in &kids {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    fs::remove_file(&wait).unwrap();
    let out = wait_timeout(victim, PATIENCE);
    assert!(!out.status.success());
    // The store is consistent: parses, nothing struck out, the hold still there, no temp
    // file left behind.
    let s = lab.acct.secrets();
    assert_eq!(s.remaining(), 26);
    assert_eq!(s.held.map(|h| h.number), Some(held_no));
    assert!(fs::read_dir(lab.acct.store.dir()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("tmp")));
    // Within the grace time the next login gets the triple challenge ...
    let (ok, p) = lab.try_login(None);
    assert!(ok);
    assert_eq!(numbers(&p[0]).len(), 3, "{p:?}");
    // ... and its success releases the killed login's hold (issue 15, finding 2): the
    // next login is asked a single password again.
    assert_eq!(lab.acct.secrets().held, None);
    let (ok, p, why) = lab.try_login_why(None);
    assert!(ok, "{why}");
    assert_eq!(numbers(&p[0]).len(), 1, "{p:?}");
    assert_eq!(lab.acct.secrets().remaining(), 30 - 4 - 3 - 1);
}

#[test]
fn sshd_repeated_failures_are_throttled() {
    // A back-off far longer than any run of this test: the refused attempt is throttled
    // however slow the machine is; its end is simulated below.
    let Some(lab) = Lab::start("throttle", "free_failures=3 backoff=600") else {
        return;
    };
    for _ in 0..3 {
        let (ok, p) = lab.try_login(Some("wrongwrongwro"));
        assert!(!ok);
        assert_eq!(p.len(), 1);
    }
    // Throttled (issue 15, finding 2): still asked, the wait in the prompt (ssh shows no
    // separate PAM message in keyboard-interactive), the answer refused, no password used.
    let (ok, p) = lab.try_login(None);
    assert!(!ok);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("(locked for ") && p[0].ends_with(" s after failed logins): "),
        "{p:?}"
    );
    assert_eq!(lab.acct.secrets().remaining(), 30);
    assert_eq!(lab.acct.secrets().throttle.failures, 3);
    // The back-off passes: the last failure is now 600 s old.
    lab.acct.update(|s| s.throttle.last = unix_now() - 600);
    let (ok, p, why) = lab.try_login_why(None);
    assert!(ok, "{p:?}\n{why}");
    assert_eq!(lab.acct.secrets().throttle.failures, 0);
}

/// Issue 15, findings 1 and 2, through sshd: a user without secrets (root, unenrolled) is
/// asked and locked out exactly like the enrolled root before: one prompt per login, the
/// lock time in the prompt after the free failures.
#[test]
fn sshd_users_without_secrets_are_locked_out_like_enrolled_users() {
    let Some(lab) = Lab::start("decoy", "free_failures=2 backoff=600") else {
        return;
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (ok, p) = lab.try_login(Some("wrongwrongwro"));
        assert!(!ok);
        seen.push(p);
    }
    let lock = lab.acct.store.lock_existing("root").unwrap().unwrap();
    assert!(lab.acct.store.remove(lock).unwrap());
    for (i, known) in seen.iter().enumerate() {
        let (ok, p) = lab.try_login(Some("wrongwrongwro"));
        assert!(!ok);
        let blank = |v: &[String]| {
            v.iter()
                .map(|l| l.replace(|c: char| c.is_ascii_digit(), "#"))
                .collect::<Vec<_>>()
        };
        assert_eq!(blank(&p), blank(known), "login {i}");
        assert_eq!(p[0].contains("(locked for "), i == 2, "{p:?}");
    }
}
