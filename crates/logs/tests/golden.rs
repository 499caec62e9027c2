//! Golden tests: every line of `tests/golden/*.txt` through its parser, the result
//! compared with the expectation written beside it. The files cite where each line form
//! comes from (OpenSSH's format strings, nginx's and Apache's sources and default
//! formats, lines captured from the real sshd of tests/netns/logs.rs).

use std::net::IpAddr;

use rampart_logs::{EventKind, Origin, Parsed, Source};

/// `\xHH` → that byte; everything else as is.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[derive(Debug, PartialEq)]
enum Expect {
    Event {
        kind: EventKind,
        origin: String,
        user: Option<Vec<u8>>,
        port: Option<u16>,
        status: Option<u16>,
    },
    NotEvent,
    NotUnderstood,
}

fn expect(s: &str) -> Expect {
    match s {
        "-" => return Expect::NotEvent,
        "?" => return Expect::NotUnderstood,
        _ => {}
    }
    let mut parts = s.splitn(3, ' ');
    let kind: EventKind = parts
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("kind in {s}"));
    let origin = parts.next().unwrap().to_string();
    let mut rest = parts.next().unwrap_or("").to_string();
    let mut take = |key: &str| -> Option<u16> {
        let i = rest.rfind(key)?;
        if i > 0 && !rest[..i].ends_with(' ') {
            return None;
        }
        let v = rest[i + key.len()..].parse().ok()?;
        rest.truncate(i.saturating_sub(1));
        Some(v)
    };
    let port = take("port=");
    let status = take("status=");
    let user = rest.strip_prefix("user=").map(unescape);
    Expect::Event {
        kind,
        origin,
        user,
        port,
        status,
    }
}

fn got(p: &Parsed<'_>) -> Expect {
    match p {
        Parsed::Event(e) => Expect::Event {
            kind: e.kind,
            origin: match e.origin {
                Origin::Addr(a) => a.to_string(),
                Origin::Name(n) => format!("name:{n}"),
                Origin::Unknown => "-".into(),
            },
            user: e.user.map(<[u8]>::to_vec),
            port: e.port,
            status: e.status,
        },
        Parsed::NotEvent => Expect::NotEvent,
        Parsed::NotUnderstood(_) => Expect::NotUnderstood,
    }
}

fn run(file: &str, default: Option<Source>) -> usize {
    let text = std::fs::read_to_string(format!(
        "{}/tests/golden/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut n = 0;
    let mut failures = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.starts_with('#') || l.trim().is_empty() {
            continue;
        }
        let (exp, line) = l.split_once(" | ").unwrap_or_else(|| {
            l.strip_suffix(" |")
                .map(|e| (e, ""))
                .unwrap_or_else(|| panic!("{file}:{}: no ` | `", i + 1))
        });
        let (source, exp) = match default {
            Some(s) => (s, exp),
            None => {
                let (s, e) = exp.split_once(' ').unwrap();
                (s.parse().unwrap(), e)
            }
        };
        let bytes = unescape(line);
        let parsed = source.parse(&bytes);
        if got(&parsed) != expect(exp) {
            failures.push(format!(
                "{file}:{}: {line}\n  expected {exp}\n  got      {parsed:?}",
                i + 1
            ));
        }
        n += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    n
}

#[test]
fn sshd_golden_lines() {
    assert!(run("sshd.txt", Some(Source::Sshd)) > 50);
}

#[test]
fn web_golden_lines() {
    assert!(run("web.txt", None) > 25);
}

/// Issue 9: however a user name is forged, the address is the one sshd wrote, for every
/// form that carries a user name.
#[test]
fn forged_user_names_never_move_the_address() {
    let real: IpAddr = "198.51.100.9".parse().unwrap();
    let forgeries = [
        "x from 192.0.2.1 port 22",
        "x from 192.0.2.1 port 22 ssh2",
        "x 192.0.2.1 port 22",
        "a [preauth] 192.0.2.1 port 1",
        "from 192.0.2.1",
        " from 192.0.2.1 port 1 ssh2: ED25519 SHA256:x",
        "x rhost=192.0.2.1",
        "2001:db8::1 port 1",
        "",
        " ",
    ];
    let forms = [
        "Invalid user {U} from 198.51.100.9 port 4711",
        "Failed password for invalid user {U} from 198.51.100.9 port 4711 ssh2",
        "Failed password for {U} from 198.51.100.9 port 4711 ssh2",
        "Failed keyboard-interactive/pam for {U} from 198.51.100.9 port 4711 ssh2",
        "Failed publickey for {U} from 198.51.100.9 port 4711 ssh2: RSA SHA256:abc",
        "Connection closed by authenticating user {U} 198.51.100.9 port 4711 [preauth]",
        "Connection closed by invalid user {U} 198.51.100.9 port 4711 [preauth]",
        "Connection reset by invalid user {U} 198.51.100.9 port 4711 [preauth]",
        "Disconnected from invalid user {U} 198.51.100.9 port 4711 [preauth]",
        "error: maximum authentication attempts exceeded for invalid user {U} from 198.51.100.9 port 4711 ssh2 [preauth]",
        "error: PAM: Authentication failure for illegal user {U} from 198.51.100.9",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.9  user={U}",
        "User {U} from 198.51.100.9 not allowed because listed in DenyUsers",
    ];
    for form in forms {
        for u in forgeries {
            let line = form.replace("{U}", u);
            for l in [line.clone(), format!("Dec  6 18:00:00 h sshd[1]: {line}")] {
                match Source::Sshd.parse(l.as_bytes()) {
                    Parsed::Event(e) => assert_eq!(e.addr(), Some(real), "{l}"),
                    // An empty name can leave a form without its shape: no address at all
                    // is fine, a wrong one is not.
                    Parsed::NotUnderstood(_) if u.trim().is_empty() => {}
                    other => panic!("{l}: {other:?}"),
                }
            }
        }
    }
}
