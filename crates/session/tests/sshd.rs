//! The lockout guard against a real sshd in network namespaces this test creates: sock_diag
//! discovery finds the listener and a real client's ESTABLISHED session, and the guard
//! refuses a policy that drops the admin's source while accepting the webserver profile.
//!
//! Needs root and sshd (skips with a message otherwise; fails under CI). Uses only
//! 192.0.2.0/24 and never touches the machine's own namespace: everything runs in two
//! fresh `rampart_testkit::Netns`, removed on drop.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;

use std::time::{Duration, Instant};

use rampart_policy::{Policy, Profile};
use rampart_ruleset::Source;
use rampart_session::{check, discover, dump_tcp, system_host, AdminOrigin, TcpSocket, TcpState};
use rampart_testkit::{require, Need, Netns, Sshd, SSHD};

/// Two fresh namespaces joined by a veth pair (`vs` in the server, `vc` in the client), and
/// sshd's files; sshd (testkit's `Sshd`) is killed on drop, before the namespaces go.
struct Lab {
    server: Netns,
    client: Netns,
    dir: PathBuf,
    sshd: Option<Sshd>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(self.sshd.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup() -> Lab {
    let server = Netns::fresh("sshd-srv");
    let client = Netns::fresh("sshd-cli");
    let dir = std::env::temp_dir().join(format!("{}-sshd", server.name()));
    std::fs::create_dir_all(&dir).unwrap();
    server.veth("vs", &client, "vc");
    server.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "vs"]);
    client.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "vc"]);
    Lab {
        server,
        client,
        dir,
        sshd: None,
    }
}

fn start_sshd(lab: &mut Lab) {
    lab.sshd = Some(Sshd::start(
        &lab.server,
        &lab.dir,
        "Port 22\nListenAddress 0.0.0.0\nUsePAM no\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n",
        &[],
    ));
}

fn wait_for(ns: &Netns, what: &str, pred: fn(&[TcpSocket]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if ns.run_in(|| pred(&dump_tcp().unwrap())) {
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
    if !require(&[
        Need::Root,
        Need::Tool("ip"),
        Need::Tool(SSHD),
        Need::Tool("ssh-keygen"),
    ]) {
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
    let mut stream: TcpStream = lab.client.run_in(|| {
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

    let (sessions, host) = lab
        .server
        .run_in(|| (discover(None).unwrap(), system_host().unwrap()));
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
    let sessions = lab.server.run_in(|| discover(Some(&env)).unwrap());
    assert_eq!(sessions.admins[0].origin, AdminOrigin::SshConnection);
    assert_eq!(sessions.admins.len(), 1, "{sessions:?}");
    drop(stream);
}
