//! `rampart otp`: init, status, revoke against a temp state directory; the stored file
//! verifies the printed passwords and holds no password in clear.

use std::os::unix::fs::PermissionsExt;

use rampart_otp::{Secrets, Store};

use crate::util::{rampart, rampart_stdin};

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-cli-otp-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn init_status_revoke() {
    let dir = tempdir("init");
    let state = dir.join("state");
    let html = dir.join("sheet.html");
    let st = state.to_str().unwrap();
    let args = [
        "otp",
        "init",
        "alice",
        "--count",
        "12",
        "--statedir",
        st,
        "--html",
        html.to_str().unwrap(),
        "--prefix-stdin",
    ];
    let out = rampart_stdin(&args, "my prefix\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("rampart OTP sheet for alice@"),
        "{}",
        out.stdout
    );
    // Twelve numbered lines of 13 characters in groups of four.
    let pw: Vec<(u16, String)> = out
        .stdout
        .split("   ")
        .flat_map(|c| c.lines())
        .filter_map(|l| {
            let (n, p) = l.trim().split_once(' ')?;
            Some((n.parse().ok()?, p.replace(' ', "")))
        })
        .collect();
    assert_eq!(pw.len(), 12, "{}", out.stdout);
    assert!(pw.iter().all(|(_, p)| p.len() == 13));
    // Modes: directory 0700, files 0600, HTML 0600.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("alice.otp")), 0o600);
    assert_eq!(mode(&html), 0o600);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<b>001</b>"));
    // The file holds hashes only.
    let text = std::fs::read_to_string(state.join("alice.otp")).unwrap();
    for (_, p) in &pw {
        assert!(!text.contains(p.as_str()));
    }
    assert!(!text.contains("my prefix"));
    let secrets = Secrets::parse(&text).unwrap();
    assert_eq!(secrets.remaining(), 12);
    let _ = Store::new(&state);

    // A second init refuses to overwrite.
    let out = rampart(&args);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);

    let out = rampart_stdin(&["otp", "status", "alice", "--statedir", st, "--json"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["remaining"], 12);
    assert_eq!(v["low"], true);
    let out = rampart_stdin(&["otp", "status", "alice", "--statedir", st], "");
    assert_eq!(out.stdout, "alice: sheet, 12 of 12 passwords left\n");
    assert!(out.stderr.contains("warning: only 12 passwords left"));

    let out = rampart_stdin(&["otp", "revoke", "alice", "--statedir", st], "");
    assert_eq!(out.code, 0);
    let out = rampart_stdin(&["otp", "status", "alice", "--statedir", st], "");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("rampart otp init alice"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_refused_with_the_fix() {
    let dir = tempdir("bad").join("state");
    let st = dir.to_str().unwrap();
    let out = rampart(&["otp", "init", "../root", "--statedir", st, "--prefix-stdin"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("user name \"../root\" is not allowed"),
        "{}",
        out.stderr
    );
    let out = rampart(&[
        "otp",
        "init",
        "bob",
        "--count",
        "1000",
        "--statedir",
        st,
        "--prefix-stdin",
    ]);
    assert!(out.stderr.contains("use 1 to 999"), "{}", out.stderr);
    let out = rampart_stdin(
        &[
            "otp",
            "init",
            "bob",
            "--count",
            "2",
            "--statedir",
            st,
            "--prefix-stdin",
            "--html",
            "-",
        ],
        " p\n",
    );
    assert!(
        out.stderr
            .contains("prefix must not start or end with whitespace"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn totp_init_prints_uri_qr_and_scratch_codes() {
    let dir = tempdir("totp").join("state");
    let st = dir.to_str().unwrap();
    let out = rampart_stdin(&["otp", "init", "carol", "--totp", "--statedir", st], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("otpauth://totp/rampart:carol%40"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains('█'));
    let codes = out
        .stdout
        .lines()
        .filter(|l| {
            l.len() == 10 && l.trim().len() == 8 && l.trim().bytes().all(|b| b.is_ascii_digit())
        })
        .count();
    assert_eq!(codes, 5);
    let out = rampart_stdin(&["otp", "status", "carol", "--statedir", st], "");
    assert_eq!(out.stdout, "carol: totp, 5 of 5 scratch codes left\n");
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// Issue 15, finding 1: `status` and `revoke` of names without secrets create no file in
/// the state directory.
#[test]
fn status_and_revoke_of_unknown_names_create_no_file() {
    let dir = tempdir("unknown");
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let st = state.to_str().unwrap();
    for cmd in ["status", "revoke"] {
        for name in ["nosuchuser", "mallory", "x1"] {
            let out = rampart(&["otp", cmd, name, "--statedir", st]);
            assert_eq!(out.code, 2, "{}", out.stderr);
            assert!(
                out.stderr.contains("has no one-time passwords"),
                "{}",
                out.stderr
            );
        }
        let left: Vec<_> = std::fs::read_dir(&state).unwrap().collect();
        assert!(left.is_empty(), "after {cmd}: {left:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
/// `rampart otp init` for bob with `--html PATH`, prefix from stdin.
fn init_with_html(state: &std::path::Path, html: &std::path::Path) -> crate::util::Output {
    rampart_stdin(
        &[
            "otp",
            "init",
            "bob",
            "--count",
            "2",
            "--statedir",
            state.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
            "--prefix-stdin",
        ],
        "pre\n",
    )
}

/// Issue 15, finding 2: the HTML sheet is never written through a planted symlink (root
/// would overwrite the target), whether the target exists or not; nothing is saved either.
#[test]
fn init_refuses_a_symlink_at_the_html_path() {
    let dir = tempdir("html-symlink");
    let state = dir.join("state");
    let target = dir.join("target");
    std::fs::write(&target, "keep me\n").unwrap();
    let html = dir.join("sheet.html");
    std::os::unix::fs::symlink(&target, &html).unwrap();
    let out = init_with_html(&state, &html);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} already exists", html.display())),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(!state.join("bob.otp").exists());

    // A dangling symlink: its target is not created.
    let absent = dir.join("absent");
    let dangling = dir.join("dangling.html");
    std::os::unix::fs::symlink(&absent, &dangling).unwrap();
    let out = init_with_html(&state, &dangling);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!absent.exists());
    assert!(!state.join("bob.otp").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15, finding 2: an existing file at the HTML path is refused with the remedy and
/// left as it was (not truncated, not reused with its old mode).
#[test]
fn init_refuses_an_existing_html_file() {
    let dir = tempdir("html-exists");
    let state = dir.join("state");
    let html = dir.join("sheet.html");
    std::fs::write(&html, "old sheet\n").unwrap();
    std::fs::set_permissions(&html, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = init_with_html(&state, &html);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} already exists", html.display()))
            && out.stderr.contains("--html"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&html).unwrap(), "old sheet\n");
    let mode = std::fs::metadata(&html).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    assert!(!state.join("bob.otp").exists());

    // With a fresh path the page is written 0600 and its location is printed.
    let fresh = dir.join("fresh.html");
    let out = init_with_html(&state, &fresh);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        out.stderr
            .contains(&format!("printable page written to {}", fresh.display())),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15, finding 3: more scratch codes than a secret file holds (and the module reads)
/// are refused where the flag is parsed, naming the maximum; nothing is written.
#[test]
fn too_many_scratch_codes_are_refused() {
    let dir = tempdir("scratch").join("state");
    let st = dir.to_str().unwrap();
    let out = rampart(&[
        "otp",
        "init",
        "carol",
        "--totp",
        "--scratch",
        "1000",
        "--statedir",
        st,
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--scratch") && out.stderr.contains("at most 999"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("carol.otp").exists());
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// Issue 15, finding 3: `init` reads the prefix before it takes the user's lock, so logins
/// of a user whose sheet is being replaced do not wait for someone typing (or for a script
/// that never sends its line). Seen from outside: while `init --force` waits for the prefix
/// (its HTML page, created just before the prefix is read, exists), the lock is free.
#[test]
fn init_does_not_hold_the_lock_while_reading_the_prefix() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempdir("lock-wait");
    let state = dir.join("state");
    let st = state.to_str().unwrap();
    let first = rampart_stdin(
        &[
            "otp",
            "init",
            "alice",
            "--count",
            "2",
            "--statedir",
            st,
            "--html",
            "-",
        ],
        "first\n",
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let page = dir.join("page.html");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args([
            "otp",
            "init",
            "alice",
            "--force",
            "--count",
            "2",
            "--prefix-stdin",
        ])
        .args(["--statedir", st, "--html", page.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !page.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "init never got to the prefix"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // `flock -n` fails (exit 99 here) if the lock is held; a free lock is taken and dropped.
    let probe = Command::new("flock")
        .args(["-n", "-E", "99"])
        .arg(state.join("alice.lock"))
        .arg("true")
        .status()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "second").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        probe.code(),
        Some(0),
        "alice's lock held while waiting for input"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15, finding 4: with standard input not a terminal, an empty prefix (an empty line,
/// or nothing at all) is refused unless `--no-prefix` asks for a sheet without one.
#[test]
fn an_empty_prefix_from_a_pipe_needs_no_prefix() {
    let dir = tempdir("no-prefix");
    let state = dir.join("state");
    let st = state.to_str().unwrap();
    let base = [
        "otp",
        "init",
        "dan",
        "--count",
        "2",
        "--statedir",
        st,
        "--html",
        "-",
    ];
    for (extra, input) in [
        (None, ""),
        (None, "\n"),
        (Some("--prefix-stdin"), "\n"),
        (Some("--prefix-stdin"), ""),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let out = rampart_stdin(&args, input);
        assert_eq!(out.code, 2, "{extra:?} {input:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("no prefix on standard input")
                && out.stderr.contains("--no-prefix"),
            "{}",
            out.stderr
        );
        assert!(!state.join("dan.otp").exists());
    }
    let mut args = base.to_vec();
    args.push("--no-prefix");
    let out = rampart_stdin(&args, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(state.join("dan.otp").exists());
    // --no-prefix reads nothing, so it cannot be combined with reading a prefix.
    let out = rampart(&[
        "otp",
        "init",
        "eve",
        "--no-prefix",
        "--prefix-stdin",
        "--statedir",
        st,
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15, finding 5: `status` without a state directory says the user is not enrolled,
/// naming the directory, and every OS error is printed once (it was printed twice: in the
/// store error's message and again as its source).
#[test]
fn status_without_a_state_directory_says_not_enrolled_once() {
    let dir = tempdir("no-statedir");
    let st = dir.join("absent");
    let st = st.to_str().unwrap();
    let out = rampart(&["otp", "status", "alice", "--statedir", st]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "alice is not enrolled: no OTP state directory at {st}"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("os error"), "{}", out.stderr);
    let out = rampart(&["otp", "revoke", "alice", "--statedir", st]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15, finding 1: dropped logins count as failures, so someone who knows a user name
/// can keep that user throttled; `rampart otp unlock` lifts the back-off and any hold
/// without touching the passwords.
#[test]
fn unlock_lifts_the_back_off_and_the_hold() {
    let dir = tempdir("unlock");
    let state = dir.join("state");
    let st = state.to_str().unwrap();
    let out = rampart_stdin(
        &[
            "otp",
            "init",
            "alice",
            "--count",
            "5",
            "--statedir",
            st,
            "--html",
            "-",
            "--prefix-stdin",
        ],
        "pre\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let store = Store::new(&state);
    let lock = store.lock("alice").unwrap();
    let mut s = store.load(&lock).unwrap().unwrap();
    s.throttle = rampart_otp::Throttle {
        failures: 9,
        last: 4_000_000_000,
    };
    s.held = Some(rampart_otp::Held {
        number: 2,
        until: 4_000_000_000,
        token: [7; 16],
    });
    store.save(&lock, &s).unwrap();
    drop(lock);
    let out = rampart(&["otp", "unlock", "alice", "--statedir", st]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "alice: back-off lifted, no password held\n");
    let lock = store.lock("alice").unwrap();
    let after = store.load(&lock).unwrap().unwrap();
    drop(lock);
    assert_eq!(after.throttle, rampart_otp::Throttle::default());
    assert_eq!(after.held, None);
    assert_eq!(after.entries, s.entries);
    let out = rampart(&["otp", "unlock", "alice", "--statedir", st]);
    assert_eq!(out.stdout, "alice: not throttled, no password held\n");
    let out = rampart(&["otp", "unlock", "bob", "--statedir", st]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!state.join("bob.lock").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
