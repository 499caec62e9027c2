//! The notifier against real servers on loopback: aiosmtpd (plain, STARTTLS with AUTH,
//! implicit TLS) with certificates from a CA the test makes with openssl, and an HTTP
//! listener of the test's own for the webhook.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_notify::{
    Credentials, Event, Notice, Notifier, NotifyConfig, Retry, Security, SmtpConfig, Url,
    WebhookConfig, MAX_PENDING,
};
use rampart_testkit::{require, Need, Pki};

const PYTHON: &str = "/usr/bin/python3";

fn smtp_needs() -> bool {
    let aiosmtpd = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    require(&[
        Need::Tool("openssl"),
        Need::Check(
            "python3-aiosmtpd (apt-get install python3-aiosmtpd)",
            aiosmtpd,
        ),
    ])
}

fn notice(i: u8) -> Notice {
    Notice {
        target: format!("198.51.100.{i}/32").parse().unwrap(),
        reason: format!("sshd: 5 failures in 600 s (#{i})"),
        evidence: vec![
            format!("Failed password for root from 198.51.100.{i} port 4711 ssh2"),
            "5 failures, first 18:00:01, last 18:00:09".into(),
        ],
        start: 1_796_582_441,
        until: Some(1_796_583_041),
        origin: "detector".into(),
    }
}

/// Events seen, as (kind, line).
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(&'static str, String)>>>);

impl Events {
    fn callback(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let log = self.0.clone();
        move |e: &Event| {
            let kind = match e {
                Event::Delivered { .. } => "delivered",
                Event::Failed { .. } => "failed",
                Event::GaveUp { .. } => "gave-up",
                Event::LeftOut { .. } => "left-out",
                _ => "other",
            };
            eprintln!("{e}");
            log.lock().unwrap().push((kind, e.to_string()));
        }
    }

    fn count(&self, kind: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k == kind)
            .count()
    }

    fn lines(&self) -> String {
        let l = self.0.lock().unwrap();
        l.iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (bounded) until `kind` has been seen `n` times.
    fn wait(&self, kind: &str, n: usize, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.count(kind) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// aiosmtpd running `smtpd.py`, writing what it receives into its own directory.
struct Smtpd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Smtpd {
    fn start(mode: &str, port: u16, pki: Option<&Pki>, auth: Option<(&str, &str)>) -> Smtpd {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtpd.py");
        // No `timeout` wrapper: killing it would orphan python. The script ends when its
        // stdin closes, which the test's exit (or panic) does.
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .arg(mode)
            .arg(port.to_string())
            .arg(dir.path());
        if let Some(p) = pki {
            cmd.arg(&p.cert).arg(&p.key);
        }
        if let Some((u, pw)) = auth {
            cmd.args([u, pw]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("smtpd.py did not start: {line:?}"));
        Smtpd { child, port, dir }
    }

    fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_config(port: u16, security: Security, pki: Option<&Pki>) -> SmtpConfig {
    let mut c = SmtpConfig::new(
        "localhost",
        port,
        security,
        "guard@example.org",
        &["admin@example.org", "oncall@example.net"],
    );
    c.ca_file = pki.map(|p| p.ca.clone());
    c.interval = Duration::from_secs(1);
    c.timeout = Duration::from_secs(5);
    c.hello = Some("web1.example.org".into());
    c
}

fn fast_retry() -> Retry {
    Retry {
        initial: Duration::from_millis(200),
        max: Duration::from_millis(800),
        give_up_after: Duration::from_secs(60),
    }
}

#[test]
fn one_digest_over_starttls_with_auth_for_several_notices() {
    if !smtp_needs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "mx");
    let server = Smtpd::start("starttls", 0, Some(&pki), Some(("guard", "s3cret")));
    let mut smtp = smtp_config(server.port, Security::StartTls, Some(&pki));
    smtp.credentials = Some(Credentials {
        user: "guard".into(),
        password: "s3cret".into(),
    });
    let events = Events::default();
    let config = NotifyConfig {
        smtp: Some(smtp),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    for i in 1..=5 {
        assert!(notifier.notify(notice(i)));
    }
    assert!(
        events.wait("delivered", 1, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    // Two more intervals: nothing else arrives.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(notifier.shutdown(Duration::from_secs(10)));

    let mail = server.messages();
    assert_eq!(mail.len(), 1, "{mail:#?}");
    let m = &mail[0];
    assert!(m.contains("X-Test-Tls: True"), "{m}");
    assert!(m.contains("X-Test-Auth: True"), "{m}");
    assert!(m.contains("X-Test-From: guard@example.org"), "{m}");
    assert!(
        m.contains("X-Test-To: admin@example.org,oncall@example.net"),
        "{m}"
    );
    assert!(
        m.contains("Subject: rampart guard: 5 bans on web1.example.org"),
        "{m}"
    );
    for i in 1..=5 {
        assert!(
            m.contains(&format!("\n198.51.100.{i}  banned 2026-12-06 18:40:41 UTC")),
            "{m}"
        );
        assert!(
            m.contains(&format!(
                "| Failed password for root from 198.51.100.{i} port 4711 ssh2"
            )),
            "{m}"
        );
    }
    assert_eq!(events.count("failed"), 0, "{}", events.lines());
}

#[test]
fn digest_over_implicit_tls() {
    if !smtp_needs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "mx");
    let server = Smtpd::start("tls", 0, Some(&pki), None);
    let events = Events::default();
    let config = NotifyConfig {
        smtp: Some(smtp_config(server.port, Security::Tls, Some(&pki))),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    notifier.notify(notice(9));
    assert!(
        events.wait("delivered", 1, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    notifier.shutdown(Duration::from_secs(10));
    let mail = server.messages();
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("Subject: rampart guard: 1 ban on web1.example.org"),
        "{}",
        mail[0]
    );
}

#[test]
fn no_mail_without_starttls_or_with_an_untrusted_certificate() {
    if !smtp_needs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "mx");
    let other = Pki::new(tmp.path(), "other");

    // A server that does not offer STARTTLS: the client refuses to go on in clear.
    let plain = Smtpd::start("plain", 0, None, None);
    let events = Events::default();
    let config = NotifyConfig {
        smtp: Some(smtp_config(plain.port, Security::StartTls, Some(&pki))),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    notifier.notify(notice(1));
    assert!(
        events.wait("failed", 1, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    drop(notifier);
    assert!(
        events.lines().contains("does not offer STARTTLS"),
        "{}",
        events.lines()
    );
    assert!(plain.messages().is_empty());

    // A server whose certificate another CA signed.
    let tls = Smtpd::start("tls", 0, Some(&pki), None);
    let events = Events::default();
    let config = NotifyConfig {
        smtp: Some(smtp_config(tls.port, Security::Tls, Some(&other))),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    notifier.notify(notice(1));
    assert!(
        events.wait("failed", 1, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    drop(notifier);
    assert!(
        events.lines().contains("UnknownIssuer"),
        "{}",
        events.lines()
    );
    assert!(tls.messages().is_empty());
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn mail_retried_until_the_server_comes_up() {
    if !smtp_needs() {
        return;
    }
    let port = free_port();
    let events = Events::default();
    let mut smtp = smtp_config(port, Security::None, None);
    smtp.host = "127.0.0.1".into();
    let config = NotifyConfig {
        smtp: Some(smtp),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    notifier.notify(notice(1));
    notifier.notify(notice(2));
    // Nothing listens: refused, retried with backoff.
    assert!(
        events.wait("failed", 2, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    assert!(
        events.lines().contains("Connection refused"),
        "{}",
        events.lines()
    );
    // A notice arriving while failing joins the same batch.
    notifier.notify(notice(3));
    let server = Smtpd::start("plain", port, None, None);
    assert!(
        events.wait("delivered", 1, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    notifier.shutdown(Duration::from_secs(10));
    let mail = server.messages();
    assert_eq!(mail.len(), 1, "{mail:#?}");
    for i in 1..=3 {
        assert!(
            mail[0].contains(&format!("\n198.51.100.{i}  banned")),
            "{}",
            mail[0]
        );
    }
}

/// An HTTP listener answering each request with the next status of `statuses` (then
/// 200), sending each request's head and body to the returned channel.
fn hook_server(statuses: Vec<u16>) -> (SocketAddr, Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < head_end + len {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
            let status = statuses.next().unwrap_or(200);
            let _ = write!(
                conn,
                "HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if tx.send((head, body)).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

fn hook_config(addr: SocketAddr) -> WebhookConfig {
    let mut c = WebhookConfig::new(
        format!("http://{addr}/hooks/rampart?x=1")
            .parse::<Url>()
            .unwrap(),
    );
    c.interval = Duration::from_millis(300);
    c.timeout = Duration::from_secs(5);
    c.headers
        .push(("Authorization".into(), "Bearer t0ken".into()));
    c
}

#[test]
fn webhook_posts_one_json_batch() {
    let (addr, rx) = hook_server(vec![]);
    let events = Events::default();
    let config = NotifyConfig {
        webhook: Some(hook_config(addr)),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    let mut prefix = notice(0);
    prefix.target = "203.0.113.0/24".parse().unwrap();
    prefix.until = None;
    prefix.origin = "kernel".into();
    for n in [notice(1), notice(2), prefix] {
        assert!(notifier.notify(n));
    }
    let (head, body) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        head.starts_with("POST /hooks/rampart?x=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Content-Type: application/json\r\n"),
        "{head}"
    );
    assert!(head.contains("Authorization: Bearer t0ken\r\n"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let notices = v["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 3, "{body}");
    assert_eq!(notices[0]["target"], "198.51.100.1");
    assert_eq!(notices[0]["reason"], "sshd: 5 failures in 600 s (#1)");
    assert_eq!(
        notices[0]["evidence"][0],
        "Failed password for root from 198.51.100.1 port 4711 ssh2"
    );
    assert_eq!(notices[0]["start"], 1_796_582_441);
    assert_eq!(notices[0]["until"], 1_796_583_041);
    assert_eq!(notices[2]["target"], "203.0.113.0/24");
    assert_eq!(notices[2]["until"], serde_json::Value::Null);
    assert_eq!(notices[2]["origin"], "kernel");
    assert_eq!(v["left_out"], 0);
    assert!(notifier.shutdown(Duration::from_secs(10)));
    assert_eq!(events.count("delivered"), 1, "{}", events.lines());
}

/// An HTTPS endpoint: Python's http.server behind TLS with the test CA's certificate,
/// printing each POST body on a line.
const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sys.stdout.write(body.decode() + "\n")
        sys.stdout.flush()
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
sys.stdin.read()
"#;

#[test]
fn webhook_over_https_with_a_private_ca() {
    if !require(&[Need::Tool("openssl"), Need::File(PYTHON)]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "hooks");
    let mut child = Command::new(PYTHON)
        .args(["-c", HTTPS_SERVER])
        .arg(&pki.cert)
        .arg(&pki.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let mut hook = WebhookConfig::new(format!("https://localhost:{port}/hook").parse().unwrap());
    hook.ca_file = Some(pki.ca.clone());
    hook.interval = Duration::from_millis(100);
    let events = Events::default();
    let config = NotifyConfig {
        webhook: Some(hook),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    notifier.notify(notice(7));
    line.clear();
    out.read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["notices"][0]["target"], "198.51.100.7");
    assert!(
        events.wait("delivered", 1, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    notifier.shutdown(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn webhook_retried_after_failures_loses_nothing() {
    let (addr, rx) = hook_server(vec![503, 500]);
    let events = Events::default();
    let config = NotifyConfig {
        webhook: Some(hook_config(addr)),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    notifier.notify(notice(1));
    // The first POST fails (503); a notice arriving meanwhile joins the batch.
    let (_, first) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    notifier.notify(notice(2));
    let (_, second) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let (_, third) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        events.wait("delivered", 1, Duration::from_secs(20)),
        "{}",
        events.lines()
    );
    let stats = notifier.stats();
    assert!(notifier.shutdown(Duration::from_secs(10)));
    let count = |b: &str| {
        serde_json::from_str::<serde_json::Value>(b).unwrap()["notices"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&first), 1);
    assert_eq!(count(&third), 2, "{third}");
    assert!(count(&second) >= 1);
    assert_eq!(events.count("failed"), 2, "{}", events.lines());
    assert!(
        events.lines().contains("answered `HTTP/1.1 503 Whatever`"),
        "{}",
        events.lines()
    );
    assert!(
        events.lines().contains("delivered 2 notice(s) (attempt 3)"),
        "{}",
        events.lines()
    );
    assert_eq!((stats.failures, stats.delivered, stats.accepted), (2, 1, 2));
}

#[test]
fn batches_are_bounded_and_the_rest_counted() {
    let (addr, rx) = hook_server(vec![]);
    let events = Events::default();
    let mut hook = hook_config(addr);
    hook.interval = Duration::from_secs(2);
    let config = NotifyConfig {
        webhook: Some(hook),
        retry: fast_retry(),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    for i in 0..MAX_PENDING + 5 {
        notifier.notify(notice((i % 250) as u8));
    }
    let (_, body) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["notices"].as_array().unwrap().len(), MAX_PENDING);
    assert_eq!(v["left_out"], 5);
    notifier.shutdown(Duration::from_secs(10));
}

#[test]
fn notify_never_waits_for_a_stalled_server() {
    // A server that accepts and never answers: the worker sits in its POST for the
    // timeout while the caller keeps notifying.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(6));
        drop(conns);
    });
    let events = Events::default();
    let mut hook = hook_config(addr);
    hook.interval = Duration::ZERO;
    hook.timeout = Duration::from_secs(4);
    let config = NotifyConfig {
        webhook: Some(hook),
        retry: Retry {
            give_up_after: Duration::ZERO,
            ..fast_retry()
        },
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, events.callback()).unwrap();
    notifier.notify(notice(1));
    std::thread::sleep(Duration::from_millis(300));
    let total = 30_000;
    let refused = (0..total)
        .filter(|i| !notifier.notify(notice((i % 250) as u8)))
        .count();
    // The queue took what it holds; the rest was counted, not waited for.
    assert!(
        refused >= total - rampart_notify::QUEUE,
        "refused {refused}"
    );
    assert_eq!(notifier.stats().left_out as usize, refused);
    drop(notifier);
    held.join().unwrap();
}

#[test]
fn bad_settings_are_refused_before_start() {
    let mut smtp = SmtpConfig::new(
        "mail.example.org",
        587,
        Security::StartTls,
        "guard@example.org",
        &[],
    );
    let e = Notifier::start(
        NotifyConfig {
            smtp: Some(smtp.clone()),
            ..NotifyConfig::default()
        },
        |_| {},
    )
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "smtp: no recipient: give at least one `to` address"
    );
    smtp.to.push("admin@example.org".into());
    smtp.ca_file = Some("/nonexistent/ca.pem".into());
    let e = Notifier::start(
        NotifyConfig {
            smtp: Some(smtp),
            ..NotifyConfig::default()
        },
        |_| {},
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().starts_with("CA file /nonexistent/ca.pem: "),
        "{e}"
    );
    let mut hook = WebhookConfig::new("http://127.0.0.1:9/".parse().unwrap());
    hook.headers.push(("X-Bad\r\nInjected".into(), "v".into()));
    let e = Notifier::start(
        NotifyConfig {
            webhook: Some(hook),
            ..NotifyConfig::default()
        },
        |_| {},
    )
    .err()
    .unwrap();
    assert!(
        e.to_string()
            .starts_with("webhook header `X-Bad\\r\\nInjected`"),
        "{e}"
    );
}
