//! `rampart guard check-log` on files, as a user runs it: every line's verdict, hostile
//! lines bounded and escaped, the JSON shape, the web sources, clear errors.

use std::path::PathBuf;

use crate::util::{golden, rampart, rampart_stdin, root};

/// A file under target/ holding `bytes`, removed on drop.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str, bytes: &[u8]) -> Temp {
        let dir = root().join("target/cli-tests-guard");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        Temp(p)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Timing differs from run to run: the last summary line is checked apart.
fn without_timing(stdout: &str) -> String {
    let (body, last) = stdout.trim_end().rsplit_once('\n').unwrap();
    assert!(
        last.starts_with("read in ") && last.contains(" lines/s"),
        "{last}"
    );
    format!("{body}\n")
}

const AUTH_LOG: &[u8] = b"\
Dec  6 18:00:00 web1 sshd[812]: Invalid user x from 192.0.2.1 port 22 from 198.51.100.9 port 4711
Dec  6 18:00:01 web1 sshd[812]: Failed password for invalid user x from 192.0.2.1 port 22 from 198.51.100.9 port 4711 ssh2
Dec  6 18:00:02 web1 sshd[813]: Accepted publickey for deploy from 203.0.113.5 port 50000 ssh2: ED25519 SHA256:abc
Dec  6 18:00:03 web1 sshd[814]: Failed password for root from 2001:db8::66 port 4000 ssh2
Dec  6 18:00:04 web1 sshd[815]: error: PAM: Authentication failure for root from scanner.example.net
Dec  6 18:00:05 web1 CRON[900]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)
Dec  6 18:00:06 web1 sshd[816]: Failed password for root from \x1b]0;pwned\x07 port 4 ssh2
Dec  6 18:00:07 web1 sshd[817]: Invalid user \x1b[31m\xff\xfe from 198.51.100.9 port 4712
Dec  6 18:00:08 web1 sshd[818]: pam_rampart_otp: root: one-time password refused
";

#[test]
fn check_log_reports_each_line_and_a_summary() {
    let f = Temp::new("auth.log", AUTH_LOG);
    let out = rampart(&["guard", "check-log", f.path()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    golden("guard-check-log.txt", &without_timing(&out.stdout));
    // No raw control character reaches the terminal.
    assert!(
        !out.stdout.bytes().any(|b| b < 0x20 && b != b'\n'),
        "{}",
        out.stdout
    );

    let all = rampart(&["guard", "check-log", f.path(), "--all", "--top", "1"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(all.stdout.contains("\n3: -\n"), "{}", all.stdout);
    assert!(all.stdout.contains("\n6: -\n"), "{}", all.stdout);
    assert!(
        all.stdout
            .contains("top origins (3 distinct):\n          3  198.51.100.9\nread in"),
        "{}",
        all.stdout
    );

    let quiet = rampart(&["guard", "check-log", f.path(), "-q"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(
        quiet
            .stdout
            .starts_with("sshd: 9 lines: 6 events, 2 not events, 1 not understood, 0 overlong\n"),
        "{}",
        quiet.stdout
    );
}

#[test]
fn check_log_json_is_one_object_per_event_line_then_a_summary() {
    let f = Temp::new("auth-json.log", AUTH_LOG);
    let out = rampart(&["guard", "check-log", f.path(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "{}", out.stdout);
    assert_eq!(
        lines[0],
        serde_json::json!({"line": 1, "kind": "invalid-user", "addr": "198.51.100.9",
            "user": "x from 192.0.2.1 port 22", "port": 4711})
    );
    assert_eq!(lines[3]["name"], "scanner.example.net");
    assert_eq!(lines[3].get("addr"), None);
    assert_eq!(lines[4]["user"], "\\x1b[31m\\xff\\xfe");
    assert_eq!(lines[5]["kind"], "otp-refused");
    let s = &lines[6]["summary"];
    assert_eq!(
        (
            s["lines"].as_u64(),
            s["events"].as_u64(),
            s["not_understood"].as_u64()
        ),
        (Some(9), Some(6), Some(1))
    );
    assert_eq!(s["top"][0], serde_json::json!(["198.51.100.9", 3]));
}

#[test]
fn check_log_bounds_a_10_mb_line_and_counts_it() {
    let mut big = b"Dec  6 18:00:00 web1 sshd[1]: Invalid user ".to_vec();
    big.resize(10 << 20, b'A');
    big.extend_from_slice(b" from 203.0.113.9 port 1\nInvalid user y from 192.0.2.3 port 2\n");
    let f = Temp::new("big.log", &big);
    let out = rampart(&["guard", "check-log", f.path()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = without_timing(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "1: overlong line ({} bytes), skipped\n2: invalid-user 192.0.2.3 user=\"y\"\n",
            (10 << 20) + 25
        )),
        "{text}"
    );
    assert!(
        text.contains("sshd: 2 lines: 1 events, 0 not events, 0 not understood, 1 overlong\n"),
        "{text}"
    );
    assert!(!text.contains("203.0.113.9"), "{text}");
}

#[test]
fn check_log_reads_web_logs() {
    let access = Temp::new(
        "access.log",
        b"192.0.2.1 - - [06/Dec/2026:18:00:00 +0000] \"GET / HTTP/1.1\" 200 615 \"-\" \"curl/7.88.1\"\n\
          192.0.2.1 - admin [06/Dec/2026:18:00:01 +0000] \"GET /admin/ HTTP/1.1\" 401 179 \"-\" \"curl/7.88.1\"\n\
          2001:db8::7 - - [06/Dec/2026:18:00:02 +0000] \"GET /.env HTTP/1.1\" 404 153 \"-\" \"x\"\n",
    );
    let out = rampart(&[
        "guard",
        "check-log",
        access.path(),
        "--source",
        "nginx-access",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = without_timing(&out.stdout);
    assert!(text.starts_with("1: request 192.0.2.1 status=200\n2: http-401 192.0.2.1 status=401\n3: http-404 2001:db8::7 status=404\nnginx-access: 3 lines: 3 events"), "{text}");
    let error = Temp::new(
        "error.log",
        b"2026/12/06 18:00:00 [error] 812#812: *9 limiting requests, excess: 10.520 by zone \"one\", client: 192.0.2.11, server: example.com, request: \"GET / HTTP/1.1\", host: \"example.com\"\n",
    );
    let out = rampart(&[
        "guard",
        "check-log",
        error.path(),
        "--source",
        "nginx-error",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("kinds: limit-req 1\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_log_errors_are_clear() {
    let out = rampart(&["guard", "check-log", "/nonexistent/auth.log"]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr, "rampart: cannot open the log /nonexistent/auth.log: No such file or directory (os error 2)\n");
    let out = rampart(&["guard", "check-log", "x", "--source", "exim"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("invalid value 'exim' for '--source <SOURCE>'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "possible values: sshd, nginx-access, nginx-error, apache-access, apache-error"
        ),
        "{}",
        out.stderr
    );
    let out = rampart(&["guard", "check-log"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("<FILE|--journal <UNIT>>") || out.stderr.contains("required"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_log_reads_standard_input() {
    let out = rampart_stdin(
        &["guard", "check-log", "-", "--json"],
        "Invalid user x from 192.0.2.1 port 1\nServer listening on 0.0.0.0 port 22.\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "{\"line\":1,\"kind\":\"invalid-user\",\"addr\":\"192.0.2.1\",\"user\":\"x\",\"port\":1}\n{\"summary\":"
        ),
        "{}",
        out.stdout
    );
}
