//! The module under pamtester, with libpam-wrapper's private service directory.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_otp::Entry;

use crate::util::{have, installed, module, numbers, pam_wrapper, system_module, Account, TempDir};

/// A PAM service named `otptest` in a private directory.
struct Service {
    dir: TempDir,
    wrapper: PathBuf,
}

impl Service {
    fn new(args: &str) -> Option<Service> {
        let wrapper = pam_wrapper();
        if !have(
            installed("pamtester") && wrapper.is_some(),
            "pamtester and libpam-wrapper (apt-get install pamtester libpam-wrapper)",
        ) {
            return None;
        }
        let dir = TempDir::new("pamtester");
        let svc = dir.path().join("services");
        fs::create_dir(&svc).unwrap();
        let state = dir.path().join("state");
        fs::write(
            svc.join("otptest"),
            format!(
                "auth required {} statedir={} {args}\naccount required {}\n",
                module().display(),
                state.display(),
                system_module("pam_permit.so").display()
            ),
        )
        .unwrap();
        fs::write(
            svc.join("other"),
            format!("auth required {}\n", system_module("pam_deny.so").display()),
        )
        .unwrap();
        Some(Service {
            dir,
            wrapper: wrapper.unwrap(),
        })
    }

    fn account(&self, user: &str, count: usize) -> Account {
        Account::create(self.dir.path(), user, "Tr0ub4dor&3", count)
    }

    fn start(&self, user: &str) -> Login {
        let mut child = Command::new("pamtester")
            .args(["-v", "otptest", user, "authenticate"])
            .env("LD_PRELOAD", &self.wrapper)
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", self.dir.path().join("services"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pamtester");
        let out = Arc::new(Mutex::new(Vec::new()));
        for mut r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Login { child, out }
    }
}

/// One pamtester run.
struct Login {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Login {
    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits for the prompt and returns it.
    fn prompt(&self) -> String {
        let start = Instant::now();
        loop {
            let o = self.output();
            if let Some(i) = o.rfind("Password ") {
                if let Some(j) = o[i..].find(": ") {
                    return o[i..i + j + 2].to_string();
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no prompt; output so far:\n{o}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Answers and returns whether authentication succeeded, with the output.
    fn answer(mut self, text: &str) -> (bool, String) {
        let mut stdin = self.child.stdin.take().unwrap();
        writeln!(stdin, "{text}").unwrap();
        drop(stdin);
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let out = self.output();
        (
            status.success() && out.contains("successfully authenticated"),
            out,
        )
    }
}

fn run(svc: &Service, user: &str, answer: impl FnOnce(&str) -> String) -> (bool, String) {
    let login = svc.start(user);
    let prompt = login.prompt();
    let a = answer(&prompt);
    login.answer(&a)
}

#[test]
fn right_password_works_once() {
    let Some(svc) = Service::new("") else { return };
    let acct = svc.account("alice", 10);
    let mut used = String::new();
    let (ok, out) = run(&svc, "alice", |p| {
        used = acct.answer(p);
        used.clone()
    });
    assert!(ok, "{out}");
    assert_eq!(acct.secrets().remaining(), 9);
    assert_eq!(acct.secrets().held, None);
    // The used password, given for whatever number is asked next, is refused.
    let pw = used.trim_start_matches(&acct.prefix).to_string();
    let (ok, out) = run(&svc, "alice", |_| format!("{}{pw}", acct.prefix));
    assert!(!ok, "{out}");
    assert_eq!(acct.secrets().remaining(), 9);
}

#[test]
fn wrong_prefix_and_wrong_password_are_refused() {
    let Some(svc) = Service::new("") else { return };
    let acct = svc.account("bob", 10);
    let (ok, out) = run(&svc, "bob", |p| {
        acct.answer(p).replacen("Tr0ub4dor", "tr0ub4dor", 1)
    });
    assert!(!ok, "{out}");
    let (ok, out) = run(&svc, "bob", |p| {
        let n = numbers(p)[0];
        let other = acct.sheet.password(if n == 1 { 2 } else { 1 }).unwrap();
        format!("{}{other}", acct.prefix)
    });
    assert!(!ok, "{out}");
    let s = acct.secrets();
    assert_eq!(s.remaining(), 10);
    assert_eq!(s.throttle.failures, 2);
    // Typed with spaces and in upper case: accepted.
    let (ok, out) = run(&svc, "bob", |p| {
        let n = numbers(p)[0];
        let pw = rampart_otp::Sheet::grouped(acct.sheet.password(n).unwrap());
        format!("{} {}", acct.prefix, pw.to_uppercase())
    });
    assert!(ok, "{out}");
    assert_eq!(acct.secrets().throttle.failures, 0);
}

#[test]
fn concurrent_login_gets_the_triple_challenge() {
    let Some(svc) = Service::new("") else { return };
    let acct = svc.account("carol", 10);
    let first = svc.start("carol");
    let p1 = first.prompt();
    assert_eq!(numbers(&p1).len(), 1, "{p1}");
    // While the first login holds its challenge, a second one must answer three others.
    let second = svc.start("carol");
    let p2 = second.prompt();
    let n2 = numbers(&p2);
    assert_eq!(n2.len(), 3, "{p2}");
    assert!(!n2.contains(&numbers(&p1)[0]));
    // The first login's password does not open the second.
    let (ok, out) = second.answer(&acct.answer(&p1));
    assert!(!ok, "{out}");
    let third = svc.start("carol");
    let p3 = third.prompt();
    assert_eq!(numbers(&p3).len(), 3, "{p3}");
    let (ok, out) = third.answer(&acct.answer(&p3));
    assert!(ok, "{out}");
    let (ok, out) = first.answer(&acct.answer(&p1));
    assert!(ok, "{out}");
    assert_eq!(acct.secrets().remaining(), 6);
    assert_eq!(acct.secrets().held, None);
}

#[test]
fn killed_login_leaves_a_consistent_store_and_its_hold_expires() {
    let Some(svc) = Service::new("grace=2") else {
        return;
    };
    let acct = svc.account("dave", 10);
    let mut victim = svc.start("dave");
    let p = victim.prompt();
    victim.child.kill().unwrap(); // SIGKILL
    victim.child.wait().unwrap();
    let s = acct.secrets();
    assert_eq!(s.remaining(), 10);
    assert_eq!(s.held.map(|h| h.number), Some(numbers(&p)[0]));
    let names: Vec<_> = fs::read_dir(acct.store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    // Within the grace time: triple.
    let l = svc.start("dave");
    assert_eq!(numbers(&l.prompt()).len(), 3);
    drop(l.answer(""));
    std::thread::sleep(Duration::from_millis(2100));
    let (ok, out) = run(&svc, "dave", |p| {
        assert_eq!(numbers(p).len(), 1, "{p}");
        acct.answer(p)
    });
    assert!(ok, "{out}");
}

#[test]
fn repeated_failures_are_throttled() {
    let Some(svc) = Service::new("free_failures=2 backoff=3") else {
        return;
    };
    let acct = svc.account("erin", 10);
    for _ in 0..2 {
        let (ok, _) = run(&svc, "erin", |_| "wrong".into());
        assert!(!ok);
    }
    // Throttled: refused at once, with the reason, and no prompt.
    let start = Instant::now();
    let out = Command::new("pamtester")
        .args(["-v", "otptest", "erin", "authenticate"])
        .env("LD_PRELOAD", &svc.wrapper)
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", svc.dir.path().join("services"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("Too many failed"), "{text}");
    assert!(!text.contains("Password "), "{text}");
    assert!(start.elapsed() < Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(3100));
    let (ok, out) = run(&svc, "erin", |p| acct.answer(p));
    assert!(ok, "{out}");
}

#[test]
fn unknown_users_are_asked_and_refused_in_the_same_time() {
    let Some(svc) = Service::new("") else { return };
    let acct = svc.account("frank", 10);
    let time = |user: &str, answer: &dyn Fn(&str) -> String| {
        let start = Instant::now();
        let (ok, out) = run(&svc, user, answer);
        assert!(!ok, "{out}");
        start.elapsed()
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        known.push(time("frank", &|_| format!("{}aaaaaaaaaaaaa", acct.prefix)));
        unknown.push(time("nosuchuser", &|p| {
            assert_eq!(numbers(p).len(), 1, "{p}");
            "aaaaaaaaaaaaa".into()
        }));
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[1].as_secs_f64(), unknown[1].as_secs_f64());
    // Same order of time (one Argon2id hash each); generous bounds for a shared machine.
    assert!(
        u > k * 0.5 && u < k * 2.0,
        "known {known:?}, unknown {unknown:?}"
    );
}

#[test]
fn nullok_passes_over_users_without_a_sheet() {
    let Some(svc) = Service::new("nullok") else {
        return;
    };
    // PAM_IGNORE from the only auth module: libpam turns that into a failure, without a
    // prompt; with `[default=ignore]` stacks the next module decides.
    let out = Command::new("pamtester")
        .args(["-v", "otptest", "nosheet", "authenticate"])
        .env("LD_PRELOAD", &svc.wrapper)
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", svc.dir.path().join("services"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Password "), "{text}");
}

#[test]
fn a_corrupt_file_refuses_the_login() {
    let Some(svc) = Service::new("") else { return };
    let acct = svc.account("gina", 3);
    let path = acct.store.secret_path("gina");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, &text[..text.len() - 8]).unwrap();
    let out = Command::new("pamtester")
        .args(["-v", "otptest", "gina", "authenticate"])
        .env("LD_PRELOAD", &svc.wrapper)
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", svc.dir.path().join("services"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The file is left as it was for the administrator to look at.
    assert_eq!(fs::read_to_string(&path).unwrap(), text[..text.len() - 8]);
    let _: &Path = &path;
    let _ = Entry::Used;
}

#[test]
fn totp_codes_and_scratch_codes_through_the_module() {
    use rampart_otp::{scratch_codes, totp, KdfParams, OsEntropy, Secrets, Store};
    let Some(svc) = Service::new("") else { return };
    let store = Store::new(svc.dir.path().join("state"));
    store.create().unwrap();
    let key = b"rampart-totp-test-key";
    let scratch = scratch_codes(&mut OsEntropy, 2);
    let secrets =
        Secrets::from_totp("hana", key, &scratch, KdfParams::DEFAULT, &mut OsEntropy).unwrap();
    let lock = store.lock("hana").unwrap();
    store.save(&lock, &secrets).unwrap();
    drop(lock);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let login = svc.start("hana");
    let prompt = {
        let start = Instant::now();
        loop {
            let o = login.output();
            if o.contains("Verification code: ") {
                break o;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{o}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    assert!(prompt.contains("Verification code: "));
    let code = totp::code(key, now(), 30, 6);
    let (ok, out) = login.answer(&code);
    assert!(ok, "{out}");
    // The same code again is a replay.
    let login = svc.start("hana");
    std::thread::sleep(Duration::from_millis(300));
    let (ok, _) = login.answer(&code);
    assert!(!ok, "replayed TOTP code accepted");
    // A scratch code works once.
    for expect in [true, false] {
        let login = svc.start("hana");
        std::thread::sleep(Duration::from_millis(300));
        let (ok, out) = login.answer(&scratch[0]);
        assert_eq!(ok, expect, "{out}");
    }
}
