//! `rampart guard check-log` on the log of a real sshd (OpenSSH, `sshd -E FILE`) in a
//! namespace of the test's own, attacked by a real `ssh` client from another namespace
//! over IPv4 and IPv6: wrong passwords, invalid users, too many attempts on one
//! connection, a user name forging another address, a scanner that sends no SSH banner. (A user name with a terminal escape cannot
//! be sent with OpenSSH's client, which refuses it: "remote username contains invalid
//! characters"; sshd's escaped form of one is in crates/logs' golden lines, raw escapes
//! in check-log's output in tests/cli/guard.rs.)
//! Every attempt must be reported, with the client's address and no other.
//!
//! The journal variant runs only where a journal is running (`/run/systemd/journal/socket`):
//! containers, this machine and CI runners may have no journald, so it skips with a
//! message there, also under CI.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rampart_testkit::{askpass, require, ssh_client, wait_output, Need, Netns, Sshd, SSHD};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check_log(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["guard", "check-log"])
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).expect("check-log prints UTF-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "check-log {args:?}: {stderr}");
    (stdout, stderr)
}

#[test]
fn check_log_reports_every_attempt_on_a_real_sshd_with_the_right_address() {
    if !require(&[
        Need::Root,
        Need::Tool("ip"),
        Need::Tool(SSHD),
        Need::Tool("ssh"),
        Need::Tool("ssh-keygen"),
    ]) {
        return;
    }
    let (server, client) = (Netns::fresh("logs-srv"), Netns::fresh("logs-cli"));
    server.veth("vs", &client, "vc");
    server.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "vs"]);
    client.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "vc"]);
    server.exec(&["ip", "addr", "add", "2001:db8::1/64", "dev", "vs", "nodad"]);
    client.exec(&["ip", "addr", "add", "2001:db8::2/64", "dev", "vc", "nodad"]);
    let dir = Dir(std::env::temp_dir().join(format!("{}-logs", server.name())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let sshd = Sshd::start(
        &server,
        &dir.0,
        "ListenAddress 0.0.0.0\nListenAddress ::\nUsePAM no\nPasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\nPubkeyAuthentication no\nPermitRootLogin yes\n\
         MaxStartups 50\nMaxAuthTries 2\n",
        &[],
    );
    let wrong = askpass(&dir.0, "askpass", "not-the-password");

    // (user, host): every one a failed password; the ones whose user does not exist also
    // an invalid user.
    let forged = "x from 198.51.100.9 port 22";
    let attempts = [
        ("root", "192.0.2.1", false),
        ("nosuchuser", "192.0.2.1", true),
        ("root", "2001:db8::1", false),
        ("nosuchuser6", "2001:db8::1", true),
        (forged, "192.0.2.1", true),
    ];
    for (user, host, _) in attempts {
        let out = wait_output(
            ssh_client(
                &client,
                user,
                host,
                &wrong,
                &[
                    "PreferredAuthentications=password",
                    "NumberOfPasswordPrompts=1",
                ],
            )
            .spawn()
            .unwrap(),
        );
        assert!(
            !out.status.success(),
            "{user}@{host} logged in with a wrong password"
        );
    }
    // Three wrong passwords on one connection: MaxAuthTries 2 ends it after two.
    let out = wait_output(
        ssh_client(
            &client,
            "root",
            "192.0.2.1",
            &wrong,
            &[
                "PreferredAuthentications=password",
                "NumberOfPasswordPrompts=3",
            ],
        )
        .spawn()
        .unwrap(),
    );
    assert!(!out.status.success());
    // A scanner: a TCP connection that sends no SSH identification.
    let mut s = client.run_in(|| {
        TcpStream::connect_timeout(&"192.0.2.1:22".parse().unwrap(), Duration::from_secs(10))
            .unwrap()
    });
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    drop(s);
    let n_invalid = attempts.iter().filter(|a| a.2).count();
    sshd.wait_log("every attempt logged", |l| {
        l.matches("Failed password").count() == attempts.len() + 2
            && l.matches("Invalid user").count() == n_invalid
            && l.contains("banner exchange")
            && l.contains("maximum authentication attempts exceeded")
    });
    let log = sshd.log();

    // --json: one object per event line.
    let (json, _) = check_log(&[sshd.log_path().to_str().unwrap(), "--json"]);
    let mut per_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut summary = None;
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if let Some(s) = v.get("summary") {
            summary = Some(s.clone());
            continue;
        }
        assert!(v["line"].as_u64().unwrap() > 0, "{l}");
        per_kind
            .entry(v["kind"].as_str().unwrap().into())
            .or_default()
            .push(v["addr"].as_str().unwrap_or("no address").into());
    }
    let summary = summary.expect("a summary object");
    assert_eq!(summary["not_understood"], 0, "{json}\nlog:\n{log}");
    let addrs = |kind: &str| {
        let mut v = per_kind.get(kind).cloned().unwrap_or_default();
        v.sort();
        v
    };
    let v4 = "192.0.2.2".to_string();
    let v6 = "2001:db8::2".to_string();
    let mut want_failed = vec![v4.clone(); 5];
    want_failed.extend([v6.clone(), v6.clone()]);
    want_failed.sort();
    assert_eq!(addrs("failed-password"), want_failed, "{json}\nlog:\n{log}");
    let mut want_invalid = vec![v4.clone(); 2];
    want_invalid.push(v6.clone());
    want_invalid.sort();
    assert_eq!(addrs("invalid-user"), want_invalid, "{json}\nlog:\n{log}");
    assert_eq!(addrs("no-banner"), vec![v4.as_str()], "{json}\nlog:\n{log}");
    assert_eq!(
        addrs("max-auth-tries"),
        vec![v4.as_str()],
        "{json}\nlog:\n{log}"
    );
    // Whatever else is reported (closes before authentication), no address but the
    // client's, never the forged one.
    for (kind, list) in &per_kind {
        for a in list {
            assert!(*a == v4 || *a == v6, "{kind} from {a}\n{json}\nlog:\n{log}");
        }
    }

    // Text output: the forged name shown with the real address.
    let (text, _) = check_log(&[sshd.log_path().to_str().unwrap()]);
    assert!(
        text.lines()
            .any(|l| l.ends_with(&format!("invalid-user 192.0.2.2 user=\"{forged}\""))),
        "{text}"
    );
    assert!(text.contains("sshd: "), "{text}");
    assert!(text.contains("top origins (2 distinct):"), "{text}");
    // The test prints the log it parsed: the lines for tests/golden (crates/logs).
    eprintln!("sshd log ({}):\n{log}", sshd_version());
}

fn sshd_version() -> String {
    let out = Command::new(SSHD).arg("-V").output().unwrap();
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

#[test]
fn check_log_reads_the_journal_where_one_runs() {
    if !rampart_logs::journal_running() {
        // Not `require`: containers and CI runners may have no journald at all; this is a
        // property of the machine, not a missing package.
        eprintln!(
            "skipped check_log_reads_the_journal_where_one_runs: no journal running here ({} missing)",
            rampart_logs::JOURNAL_SOCKET
        );
        return;
    }
    if !require(&[Need::Root, Need::Tool("logger"), Need::Tool("journalctl")]) {
        return;
    }
    // The unit this test runs in (cgroup v2: 0::/…/UNIT), where journald files what its
    // children log; `logger -t sshd` writes a line as sshd would.
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let unit = cgroup.trim().rsplit('/').next().unwrap().to_string();
    let tag = format!("rampart-journal-{}", std::process::id());
    let msg = format!("Invalid user {tag} from 203.0.113.77 port 4711");
    let out = Command::new("logger")
        .args(["-t", "sshd", &msg])
        .output()
        .unwrap();
    assert!(out.status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (text, _) = check_log(&["--journal", &unit]);
        if text.contains(&format!("invalid-user 203.0.113.77 user=\"{tag}\"")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not found in journal of {unit}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Standard base64 (for a Basic authorization header).
fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One HTTP/1.1 request from the client namespace; the status (0: closed unanswered).
fn http(client: &Netns, to: &str, path: &str, auth: Option<&str>) -> u16 {
    use std::io::Read;
    let to: std::net::SocketAddr = to.parse().unwrap();
    let mut s = client.run_in(|| TcpStream::connect_timeout(&to, Duration::from_secs(10)).unwrap());
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = auth
        .map(|a| format!("Authorization: Basic {}\r\n", base64(a.as_bytes())))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: rampart-test\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let head = String::from_utf8_lossy(&resp);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The events of `check-log --json` on a file: (kind, address or `?`) sorted, and the
/// number of lines not understood.
fn events(file: &std::path::Path, source: &str) -> (Vec<(String, String)>, u64, String) {
    let (json, _) = check_log(&[file.to_str().unwrap(), "--source", source, "--json"]);
    let mut out = Vec::new();
    let mut not_understood = u64::MAX;
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if let Some(s) = v.get("summary") {
            not_understood = s["not_understood"].as_u64().unwrap();
            continue;
        }
        out.push((
            v["kind"].as_str().unwrap().to_string(),
            v["addr"].as_str().unwrap_or("?").to_string(),
        ));
    }
    out.sort();
    (out, not_understood, json)
}

/// A real nginx (Debian's, `nginx -c` with a config of the test's own) in a namespace,
/// requests from a client namespace over IPv4 and IPv6: 200, 404, basic-auth failures
/// (no credentials, wrong password, unknown user, a user name with quotes), `deny all`,
/// `limit_req`, `return 444`, and a path forging a `client:` field in the error line. check-log finds each in the access and the
/// error log with the client's address, and never the forged one.
#[test]
fn check_log_reads_a_real_nginx_access_and_error_log() {
    const NGINX: &str = "/usr/sbin/nginx";
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool(NGINX)]) {
        return;
    }
    let (server, client) = (Netns::fresh("nginx-srv"), Netns::fresh("nginx-cli"));
    server.veth("vs", &client, "vc");
    server.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "vs"]);
    client.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "vc"]);
    server.exec(&["ip", "addr", "add", "2001:db8::1/64", "dev", "vs", "nodad"]);
    client.exec(&["ip", "addr", "add", "2001:db8::2/64", "dev", "vc", "nodad"]);
    let dir = Dir(std::env::temp_dir().join(format!("{}-nginx", server.name())));
    let d = &dir.0;
    for sub in ["www/limited", "www/admin", "tmp"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("www/index.html"), "hello\n").unwrap();
    std::fs::write(d.join("www/limited/index.html"), "limited\n").unwrap();
    std::fs::write(d.join("www/admin/index.html"), "admin\n").unwrap();
    std::fs::write(d.join("htpasswd"), "admin:{PLAIN}right\n").unwrap();
    let t = d.join("tmp").display().to_string();
    let conf = format!(
        "user root;\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log combined;\n\
           client_body_temp_path {t}; proxy_temp_path {t}; fastcgi_temp_path {t};\n\
           uwsgi_temp_path {t}; scgi_temp_path {t};\n\
           limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;\n\
           limit_req_status 429;\n\
           server {{\n    listen 192.0.2.1:80; listen [2001:db8::1]:80;\n\
             server_name example.com;\n    root {d}/www;\n\
             location /admin/ {{ auth_basic \"admin\"; auth_basic_user_file {d}/htpasswd; }}\n\
             location /private/ {{ deny all; }}\n\
             location /limited/ {{ limit_req zone=one nodelay; }}\n\
             location /closed {{ return 444; }}\n  }}\n}}\n",
        d = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let mut nginx = server
        .command(NGINX)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .arg("-e")
        .arg(d.join("error.log"))
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut nginx);
    // Listening?
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !client.run_in(|| {
        TcpStream::connect_timeout(&"192.0.2.1:80".parse().unwrap(), Duration::from_secs(1)).is_ok()
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let v4 = "192.0.2.1:80";
    let v6 = "[2001:db8::1]:80";
    // A basic-auth user name ends at its first colon, so it cannot hold `client: A`; a
    // path can (nginx decodes it before it names the file in its error line).
    let forged = "x\" was not found in \"/etc/x\", client 198.51.100.9:pw";
    let forged_path = "/a%22,%20client:%20198.51.100.9,%20server:%20b";
    let got = [
        http(&client, v4, "/", None),
        http(&client, v4, "/wp-login.php", None),
        http(&client, v6, "/wp-login.php", None),
        http(&client, v4, "/admin/", None),
        http(&client, v4, "/admin/", Some("admin:wrong")),
        http(&client, v4, "/admin/", Some("nosuch:x")),
        http(&client, v6, "/admin/", Some(forged)),
        http(&client, v4, "/private/", None),
        http(&client, v4, "/limited/", None),
        http(&client, v4, "/limited/", None),
        http(&client, v4, "/closed", None),
        http(&client, v4, forged_path, None),
    ];
    assert_eq!(
        got,
        [200, 404, 404, 401, 401, 401, 401, 403, 200, 429, 0, 404]
    );
    // nginx writes its access line after the response: wait for all 12.
    let access = d.join("access.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&access)
        .unwrap_or_default()
        .lines()
        .count()
        < 12
    {
        assert!(
            std::time::Instant::now() < deadline,
            "access log incomplete"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (a4, a6) = ("192.0.2.2".to_string(), "2001:db8::2".to_string());
    let e = |k: &str, a: &String| (k.to_string(), a.clone());
    let (acc, bad, json) = events(&access, "nginx-access");
    let mut want = vec![
        e("request", &a4),
        e("http-404", &a4),
        e("http-404", &a6),
        e("http-401", &a4),
        e("http-401", &a4),
        e("http-401", &a4),
        e("http-401", &a6),
        e("http-403", &a4),
        e("request", &a4),
        e("http-429", &a4),
        e("http-444", &a4),
        e("http-404", &a4),
    ];
    want.sort();
    let access_text = std::fs::read_to_string(&access).unwrap();
    assert_eq!((acc, bad), (want, 0), "{json}\naccess log:\n{access_text}");

    let error = d.join("error.log");
    let error_text = std::fs::read_to_string(&error).unwrap();
    let (err, bad, json) = events(&error, "nginx-error");
    let mut want = vec![
        e("http-404", &a4),
        e("http-404", &a6),
        e("http-401", &a4),
        e("http-401", &a4),
        e("http-401", &a4),
        e("http-401", &a6),
        e("http-403", &a4),
        e("limit-req", &a4),
    ];
    want.sort();
    // The forged path's line has two `client:` fields: not understood, never
    // 198.51.100.9.
    assert_eq!((err, bad), (want, 1), "{json}\nerror log:\n{error_text}");
    assert!(!json.contains("198.51.100.9"), "{json}");
    eprintln!(
        "nginx access log ({}):\n{access_text}\nerror log:\n{error_text}",
        nginx_version()
    );
}

fn nginx_version() -> String {
    let out = Command::new("/usr/sbin/nginx").arg("-v").output().unwrap();
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Mounts a private /dev for sshd (in the mount namespace `unshare -m` made, inside the
/// test's network namespace): a tmpfs holding the host's device nodes sshd needs, bound
/// one by one, and `/dev/log` bound to the test's syslog socket `$1`. The host's /dev is
/// untouched (it has no /dev/log here; containers often have none).
const PRIVATE_DEVLOG: &str = r#"set -e
sock=$1; old=$2; shift 2
mount --make-rprivate /
mount --bind /dev "$old"
mount -t tmpfs -o mode=755 rampart-dev /dev
for n in null zero full random urandom tty ptmx; do
  [ -e "$old/$n" ] || continue
  touch "/dev/$n"; mount --bind "$old/$n" "/dev/$n"
done
mkdir -p /dev/pts && mount --bind "$old/pts" /dev/pts
touch /dev/log; mount --bind "$sock" /dev/log
exec "$@"
"#;

/// What sshd's PAM module sends to syslog — rampart's OTP module's `one-time password
/// refused` — received on a socket of the test's own bound
/// at sshd's /dev/log, written to a file the way rsyslog writes auth.log (syslog's raw
/// datagrams carry no host name: rsyslog adds it), and read by check-log beside sshd's
/// own `-E` log (sshd's `PAM: Authentication failure for root from A`, its `Failed
/// keyboard-interactive/pam` at LogLevel VERBOSE). Every failure must be reported with the
/// client's address or, for the OTP module's lines, which carry none, without one.
#[test]
fn check_log_reads_pam_and_otp_lines_of_a_real_sshd() {
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let wrapper = rampart_testkit::pam_wrapper();
    if !require(&[
        Need::Root,
        Need::Tool("ip"),
        Need::Tool(SSHD),
        Need::Tool("ssh"),
        Need::Tool("ssh-keygen"),
        Need::Tool("unshare"),
        Need::Check(rampart_testkit::LIBPAM_WRAPPER, wrapper.is_some()),
    ]) {
        return;
    }
    let (server, client) = (Netns::fresh("pamlog-srv"), Netns::fresh("pamlog-cli"));
    server.veth("vs", &client, "vc");
    server.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "vs"]);
    client.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "vc"]);
    let dir = Dir(std::env::temp_dir().join(format!("{}-pamlog", server.name())));
    let d = &dir.0;
    std::fs::create_dir_all(d.join("olddev")).unwrap();
    std::fs::create_dir_all(d.join("otp-state")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(d.join("otp-state"), private).unwrap();
    }

    // The syslog socket, read on a thread until the test ends.
    let sock_path = d.join("devlog");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let received = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::SeqCst) {
                if let Ok(n) = sock.recv(&mut buf) {
                    received.lock().unwrap().push(buf[..n].to_vec());
                }
            }
        })
    };

    // PAM: rampart's module. (pam_unix's `authentication failure; … rhost=` line cannot
    // come through here: libpam-wrapper keeps modules' pam_syslog() unless
    // PAM_WRAPPER_USE_SYSLOG is set, and sshd's PAM child clears its environment. The
    // line it would send, captured with pamtester, is in crates/logs' golden lines.)
    let svc = d.join("services");
    std::fs::create_dir_all(&svc).unwrap();
    let m = rampart_testkit::system_pam_module;
    std::fs::write(
        svc.join("sshd"),
        format!(
            "auth required {} statedir={} fail_delay=0\n\
             account required {p}\nsession required {p}\n",
            rampart_testkit::built_otp_module().display(),
            d.join("otp-state").display(),
            p = m("pam_permit.so").display(),
        ),
    )
    .unwrap();
    std::fs::write(
        svc.join("other"),
        format!("auth required {}\n", m("pam_deny.so").display()),
    )
    .unwrap();
    let preload = wrapper.unwrap().display().to_string();
    let services = svc.display().to_string();
    let (sock_s, old_s) = (
        sock_path.display().to_string(),
        d.join("olddev").display().to_string(),
    );
    let sshd = Sshd::start_prefixed(
        &server,
        d,
        "ListenAddress 0.0.0.0\nUsePAM yes\nKbdInteractiveAuthentication yes\n\
         PasswordAuthentication no\nPubkeyAuthentication no\n\
         AuthenticationMethods keyboard-interactive\nPermitRootLogin yes\n\
         LogLevel VERBOSE\n",
        &[
            ("LD_PRELOAD", &preload),
            ("PAM_WRAPPER", "1"),
            ("PAM_WRAPPER_SERVICE_DIR", &services),
        ],
        &[
            "unshare",
            "-m",
            "sh",
            "-c",
            PRIVATE_DEVLOG,
            "sh",
            &sock_s,
            &old_s,
        ],
    );
    let wrong = askpass(d, "askpass", "not-the-password");
    for _ in 0..2 {
        let out = wait_output(
            ssh_client(
                &client,
                "root",
                "192.0.2.1",
                &wrong,
                &[
                    "PreferredAuthentications=keyboard-interactive",
                    "NumberOfPasswordPrompts=1",
                ],
            )
            .spawn()
            .unwrap(),
        );
        assert!(!out.status.success(), "logged in with wrong answers");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let syslog_text = loop {
        let text: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect();
        let refused = text
            .iter()
            .filter(|l| l.contains("one-time password refused"))
            .count();
        if refused == 2 {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "syslog so far:\n{}\nsshd log:\n{}",
            text.join("\n"),
            sshd.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    sshd.wait_log("sshd's failures", |l| {
        l.matches("Failed keyboard-interactive/pam").count() == 2
    });
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();

    // As rsyslog writes auth.log: `<PRI>Dec  6 18:00:00 sshd[PID]: MSG` becomes
    // `Dec  6 18:00:00 HOST sshd[PID]: MSG`.
    let mut auth_log = String::new();
    for m in &syslog_text {
        let m = m.trim_end_matches(['\n', '\0']);
        let rest = m.split_once('>').map_or(m, |(_, r)| r);
        if rest.len() > 16 {
            auth_log.push_str(&format!("{}testhost {}\n", &rest[..16], &rest[16..]));
        }
    }
    auth_log.push_str(&sshd.log());
    let auth = d.join("auth.log");
    std::fs::write(&auth, &auth_log).unwrap();
    let (evs, bad, json) = events(&auth, "sshd");
    let count = |k: &str, a: &str| evs.iter().filter(|e| e.0 == k && e.1 == a).count();
    let ctx = format!("{json}\nauth.log:\n{auth_log}");
    assert_eq!(bad, 0, "{ctx}");
    assert_eq!(count("pam-failure", "192.0.2.2"), 2, "{ctx}");
    assert_eq!(count("closed-preauth", "192.0.2.2"), 2, "{ctx}");
    assert_eq!(count("otp-refused", "?"), 2, "{ctx}");
    assert_eq!(
        count("failed-keyboard-interactive", "192.0.2.2"),
        2,
        "{ctx}"
    );
    for (k, a) in &evs {
        assert!(
            a == "192.0.2.2" || (a == "?" && k == "otp-refused"),
            "{k} {a}\n{ctx}"
        );
    }
    eprintln!("auth.log ({}):\n{auth_log}", sshd_version());
}
