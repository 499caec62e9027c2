//! The lockout guard against a real sshd in network namespaces this test creates: sock_diag
//! discovery finds the listener and a real client's ESTABLISHED session, and the guard
//! refuses a policy that drops the admin's source while accepting the webserver profile.
//!
//! Needs root (skips with a message otherwise; fails under CI). Uses only 192.0.2.0/24 and
//! never touches the machine's own namespace: every command runs in `rampart-j-*`
//! namespaces, removed on drop.

use std::fs::File;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use rampart_policy::{Policy, Profile};
use rampart_ruleset::Source;
use rampart_session::{check, discover, dump_tcp, system_host, AdminOrigin, TcpSocket, TcpState};

fn have_root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the sshd namespace test needs root, and skipping is not allowed when CI is set");
    }
    eprintln!("skipped: needs root");
    false
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two named namespaces joined by a veth pair, removed (with sshd) on drop.
struct Netns {
    server: String,
    client: String,
    dir: PathBuf,
    sshd: Option<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut child) = self.sshd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` on a thread that has joined namespace `ns`; processes it spawns are in it too.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap();
        setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

fn setup() -> Netns {
    let tag = std::process::id();
    let dir = std::env::temp_dir().join(format!("rampart-j-sshd-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = Netns {
        server: format!("rampart-j-srv-{tag}"),
        client: format!("rampart-j-cli-{tag}"),
        dir,
        sshd: None,
    };
    for ns in [&lab.server, &lab.client] {
        sh(&["ip", "netns", "add", ns]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    sh(&[
        "ip",
        "link",
        "add",
        "vs",
        "netns",
        &lab.server,
        "type",
        "veth",
        "peer",
        "name",
        "vc",
        "netns",
        &lab.client,
    ]);
    sh(&[
        "ip",
        "-n",
        &lab.server,
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        "vs",
    ]);
    sh(&[
        "ip",
        "-n",
        &lab.client,
        "addr",
        "add",
        "192.0.2.2/24",
        "dev",
        "vc",
    ]);
    sh(&["ip", "-n", &lab.server, "link", "set", "vs", "up"]);
    sh(&["ip", "-n", &lab.client, "link", "set", "vc", "up"]);
    lab
}

fn start_sshd(lab: &mut Netns) {
    let key = lab.dir.join("host_ed25519");
    sh(&[
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-f",
        key.to_str().unwrap(),
    ]);
    let config = lab.dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port 22\nListenAddress 0.0.0.0\nHostKey {}\nPidFile {}\nUsePAM no\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
            key.display(),
            lab.dir.join("sshd.pid").display()
        ),
    )
    .unwrap();
    // sshd insists on its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.server,
            "/usr/sbin/sshd",
            "-D",
            "-e",
            "-f",
        ])
        .arg(&config)
        .args(["-o", "LogLevel=QUIET"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    lab.sshd = Some(child);
}

fn wait_for(ns: &str, what: &str, pred: fn(&[TcpSocket]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if in_ns(ns, move || pred(&dump_tcp().unwrap())) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn policy(text: &str) -> rampart_ruleset::Ruleset {
    Policy::parse(&Source::new("rampart.toml", text))
        .unwrap()
        .to_ruleset(|_| unreachable!())
        .unwrap()
        .ruleset
}

#[test]
fn guard_finds_real_sshd_sessions_and_refuses_a_lockout() {
    if !have_root() {
        return;
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        if std::env::var_os("CI").is_some() {
            panic!("/usr/sbin/sshd missing (apt-get install openssh-server)");
        }
        eprintln!("skipped: /usr/sbin/sshd missing (apt-get install openssh-server)");
        return;
    }
    let mut lab = setup();
    start_sshd(&mut lab);
    wait_for(&lab.server, "sshd to listen", |s| {
        s.iter()
            .any(|s| s.state == TcpState::Listen && s.local.port() == 22)
    });

    // A real client connection from the client namespace, kept open; read the banner so
    // the session is past accept() in sshd's child.
    let mut stream: TcpStream = in_ns(&lab.client, || {
        TcpStream::connect_timeout(&"192.0.2.1:22".parse().unwrap(), Duration::from_secs(5))
            .unwrap()
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut banner = [0u8; 4];
    stream.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-");
    let client_port = stream.local_addr().unwrap().port();

    let (sessions, host) = in_ns(&lab.server, || {
        (discover(None).unwrap(), system_host().unwrap())
    });
    assert!(
        sessions
            .listeners
            .iter()
            .any(|l| l.addr.to_string() == "0.0.0.0:22" && l.pid.is_some()),
        "listener not found: {sessions:?}"
    );
    let admin = sessions
        .admins
        .iter()
        .find(|a| a.client.port() == client_port)
        .unwrap_or_else(|| panic!("session not found: {sessions:?}"));
    assert_eq!(admin.client.ip().to_string(), "192.0.2.2");
    assert_eq!(admin.server.to_string(), "192.0.2.1:22");
    assert_eq!(admin.origin, AdminOrigin::Socket);

    // The webserver profile keeps ssh open.
    let webserver = Policy::builtin(Profile::Webserver)
        .to_ruleset(|_| unreachable!())
        .unwrap()
        .ruleset;
    let report = check(&webserver, &host, &sessions);
    assert!(report.is_safe(), "{report}");
    assert_eq!(report.probes[0].in_iface, "vs", "{report}");

    // A policy dropping the admin's source is refused, naming the source, port and rule.
    let report = check(
        &policy("[input]\ndeny_from = [\"192.0.2.2\"]\n"),
        &host,
        &sessions,
    );
    assert!(!report.is_safe());
    let text = report.to_string();
    assert!(
        text.contains(
            "LOCKOUT new SSH connection 192.0.2.2 → 192.0.2.1:22 (in vs): dropped by filter:INPUT:4"
        ),
        "{text}"
    );
    assert!(
        text.contains("rampart: policy: deny from 192.0.2.2/32"),
        "{text}"
    );

    // So is one that forgets ssh: the policy drop is named.
    let report = check(&policy("[input]\ntcp = [80, 443]\n"), &host, &sessions);
    assert!(
        report
            .to_string()
            .contains("dropped by filter:INPUT policy"),
        "{report}"
    );

    // With SSH_CONNECTION the admin at the keyboard is found, and is one session with the
    // socket sshd holds for it.
    let env = format!("192.0.2.2 {client_port} 192.0.2.1 22");
    let sessions = in_ns(&lab.server, move || discover(Some(&env)).unwrap());
    assert_eq!(sessions.admins[0].origin, AdminOrigin::SshConnection);
    assert_eq!(sessions.admins.len(), 1, "{sessions:?}");
    drop(stream);
}
