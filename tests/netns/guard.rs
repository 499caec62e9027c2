//! `rampart guard run` end to end in the lab: real floods from the lab's generator against
//! the server's HTTP server, a real sshd refusing a real ssh client, the kernel's own
//! `[flood]` bans over NFLOG; the bans are read back from the kernel's sets while it runs.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_lab::flood::{FloodKind, FloodSpec};
use rampart_lab::http::HttpLoad;
use rampart_lab::Lab;
use rampart_nfnl::{SetClient, SetRef};
use rampart_testkit::{
    askpass, require, run_in_named, ssh_client, wait_output, Need, Netns, Sshd, SSHD,
};

use crate::lab_flood::lab_up;

const SERVER_HTTP: &str = "203.0.113.10:80";
const ATTACKER1: &str = "192.0.2.31";
const ATTACKER2: &str = "192.0.2.32";
/// How long a test waits for something the guard should do at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// A guard daemon started in a namespace, its log in a file; killed on drop (also used
/// by fleet.rs).
pub(crate) struct GuardProc {
    child: Option<Child>,
    log: PathBuf,
}

impl GuardProc {
    fn start(mut cmd: std::process::Command, state: &Path, policy: &Path) -> GuardProc {
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let log = state.join(format!(
            "guard-{}.log",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(state).unwrap();
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .args(["guard", "run", "--from-start", "--policy"])
            .arg(policy)
            .arg("--state-dir")
            .arg(state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("rampart guard run starts");
        let g = GuardProc {
            child: Some(child),
            log,
        };
        g.wait_log("guard started", |l| l.contains("guard started"));
        g
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log satisfies `done`; panics with the log after [`PATIENCE`].
    pub(crate) fn wait_log(&self, what: &str, done: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let log = self.log();
            if done(&log) {
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the guard did not log {what} within {PATIENCE:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9`.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            let status = c.wait().unwrap();
            assert!(!status.success(), "{status:?}");
        }
    }

    /// SIGTERM, and its exit status.
    fn term(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let start = Instant::now();
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < PATIENCE, "the guard ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GuardProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The server's state directory and policy file for one test; removed on drop.
/// A lab server's state directory and policy file, removed on drop (also used by
/// flood_lab.rs).
pub(crate) struct Files {
    pub(crate) state: PathBuf,
    pub(crate) policy: PathBuf,
}

impl Files {
    pub(crate) fn new(tag: &str, policy: &str) -> Files {
        let state = std::env::temp_dir().join(format!("{tag}-guard-state"));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        let file = state.with_extension("toml");
        std::fs::write(&file, policy).unwrap();
        Files {
            state,
            policy: file,
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
        let _ = std::fs::remove_file(&self.policy);
    }
}

fn guard_in_lab(lab: &Lab, files: &Files) -> GuardProc {
    guard_in(lab, "server", files)
}

/// `rampart guard run` on the lab's host `role`.
pub(crate) fn guard_in(lab: &Lab, role: &str, files: &Files) -> GuardProc {
    let cmd = lab
        .command(role, env!("CARGO_BIN_EXE_rampart"), &[])
        .unwrap();
    GuardProc::start(cmd, &files.state, &files.policy)
}

/// `rampart ARGS --state-dir …` on the lab's server; panics unless it succeeds.
pub(crate) fn rampart(lab: &Lab, files: &Files, args: &[&str]) -> String {
    let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    argv.push("--state-dir".into());
    argv.push(files.state.display().to_string());
    let out = lab
        .command("server", env!("CARGO_BIN_EXE_rampart"), &argv)
        .unwrap()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rampart {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The seconds the kernel's timed-ban set still holds `ip` for, asked in `ns`.
pub(crate) fn kernel_ban(ns: &str, ip: IpAddr) -> Option<Duration> {
    let ip2 = ip;
    run_in_named(ns, move || {
        let mut c = SetClient::open().ok()?;
        let set = SetRef::inet(
            "rampart_bans",
            if ip2.is_ipv4() { "ban_4" } else { "ban_6" },
        );
        c.get(&set, ip2)
            .ok()
            .flatten()
            .map(|e| e.expires.unwrap_or_default())
    })
}

/// Watches the kernel's ban of each of `ips` from a thread in `ns`, every 10 ms, until
/// `stop`: when each was first seen banned, and whether a ban once seen ever went
/// missing.
/// When each address was first seen banned, and how many polls found a ban gone.
type Watched = (Vec<Option<Instant>>, Vec<u32>);

struct BanWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Watched>>,
}

impl BanWatch {
    fn start(ns: &str, ips: &[IpAddr]) -> BanWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, ips, flag) = (ns.to_string(), ips.to_vec(), stop.clone());
        let thread = std::thread::spawn(move || {
            run_in_named(&ns, move || {
                let mut c = SetClient::open().unwrap();
                let mut first: Vec<Option<Instant>> = vec![None; ips.len()];
                let mut gaps = vec![0u32; ips.len()];
                let deadline = Instant::now() + Duration::from_secs(60);
                while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                    for (i, ip) in ips.iter().enumerate() {
                        let set = SetRef::inet(
                            "rampart_bans",
                            if ip.is_ipv4() { "ban_4" } else { "ban_6" },
                        );
                        let banned = matches!(c.get(&set, *ip), Ok(Some(_)));
                        match (banned, first[i]) {
                            (true, None) => first[i] = Some(Instant::now()),
                            (false, Some(_)) => gaps[i] += 1,
                            _ => {}
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                (first, gaps)
            })
        });
        BanWatch {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

fn connect(rate: u64, secs: f64) -> FloodSpec {
    FloodSpec {
        kind: FloodKind::Connect,
        dst: SERVER_HTTP.parse().unwrap(),
        rate,
        duration: Duration::from_secs_f64(secs),
        count: Some((rate as f64 * secs) as u64),
        spoof: None,
        seed: 7,
    }
}

fn http(rate: u64, secs: f64) -> HttpLoad {
    HttpLoad {
        dst: SERVER_HTTP.parse().unwrap(),
        rate,
        duration: Duration::from_secs_f64(secs),
        count: None,
        timeout: Duration::from_secs(1),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Connections per source, DDoS Deflate's detector: two attackers each opening 100
/// connections a second and holding them reach the limit of 50 at about half a second;
/// each is in the kernel's ban set within a second of that, while a legit client keeps
/// getting its pages (≥ 99 %). Both banned sources are of 192.0.2.0/24, so with a
/// roll-up of 2 the /24 is banned too; `rampart block list` shows it all, and SIGTERM
/// stops the guard leaving the bans in the kernel.
#[test]
fn connection_floods_are_banned_within_a_second_and_roll_up_to_their_24() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("gdflood");
    let _http = lab.serve_http("server", 80).unwrap();
    let files = Files::new(
        lab.id(),
        "[guard]\nconntrack = false\n[guard.connections]\nlimit = 50\n\
         [guard.new_rate]\nenabled = false\n[guard.rollup]\nsources = 2\n",
    );
    let mut guard = guard_in_lab(&lab, &files);
    let server = lab.ns("server").unwrap().to_string();
    let attackers = [ip(ATTACKER1), ip(ATTACKER2)];
    let watch = BanWatch::start(&server, &attackers);
    let rate = 100;
    let t0 = Instant::now();
    let (probe, _reports) = std::thread::scope(|s| {
        let floods: Vec<_> = ["attacker1", "attacker2"]
            .iter()
            .map(|a| {
                let lab = &lab;
                s.spawn(move || lab.flood(a, &connect(rate, 3.0)).unwrap())
            })
            .collect();
        let probe = lab.http_load("client1", &http(50, 4.0)).unwrap();
        let reports: Vec<_> = floods.into_iter().map(|t| t.join().unwrap()).collect();
        (probe, reports)
    });
    let (first, gaps) = watch.finish();
    // The limit is reached with the 50th connection, due 49/rate s after the first.
    let crossing = Duration::from_secs_f64(49.0 / rate as f64);
    for (i, a) in attackers.iter().enumerate() {
        let at = first[i].unwrap_or_else(|| panic!("{a} was never banned:\n{}", guard.log()));
        let reaction = at.duration_since(t0).saturating_sub(crossing);
        eprintln!(
            "{a}: banned {:?} after the flood began, {reaction:?} after crossing",
            at - t0
        );
        assert!(
            reaction < Duration::from_secs(1),
            "{a} banned {reaction:?} after crossing:\n{}",
            guard.log()
        );
        assert_eq!(gaps[i], 0, "{a}'s ban went missing");
    }
    eprintln!("legit client: {probe:?}");
    assert!(probe.requests >= 150, "{probe:?}");
    assert!(probe.success_rate >= 0.99, "legit client: {probe:?}");
    guard.wait_log("the /24 roll-up", |l| l.contains("ban 192.0.2.0/24"));
    let list = rampart(&lab, &files, &["block", "list"]);
    assert!(
        list.contains(ATTACKER1) && list.contains(ATTACKER2),
        "{list}"
    );
    assert!(list.contains("192.0.2.0/24"), "{list}");
    assert!(!list.contains("198.51.100.21"), "{list}");
    let log = guard.log();
    assert!(log.contains("detector=connections"), "{log}");
    let status = guard.term();
    assert!(status.success(), "{status:?}:\n{}", guard.log());
    for a in attackers {
        assert!(
            kernel_ban(&server, a).is_some(),
            "{a}'s ban left the kernel when the guard stopped"
        );
    }
}

/// An attacker inside `[guard.allow] ranges` floods as hard as the other and is never
/// banned; the other is.
#[test]
fn an_allowlisted_attacker_is_never_banned() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("gdallow");
    let _http = lab.serve_http("server", 80).unwrap();
    let files = Files::new(
        lab.id(),
        &format!(
            "[guard]\nconntrack = false\n[guard.connections]\nlimit = 30\n\
             [guard.allow]\nranges = [\"{ATTACKER2}/32\"]\n"
        ),
    );
    let guard = guard_in_lab(&lab, &files);
    let server = lab.ns("server").unwrap().to_string();
    let attackers = [ip(ATTACKER1), ip(ATTACKER2)];
    let watch = BanWatch::start(&server, &attackers);
    std::thread::scope(|s| {
        let floods: Vec<_> = ["attacker1", "attacker2"]
            .iter()
            .map(|a| {
                let lab = &lab;
                s.spawn(move || lab.flood(a, &connect(100, 2.0)).unwrap())
            })
            .collect();
        for t in floods {
            t.join().unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (first, _) = watch.finish();
    assert!(first[0].is_some(), "attacker1 not banned:\n{}", guard.log());
    assert!(
        first[1].is_none(),
        "the allowlisted attacker was banned:\n{}",
        guard.log()
    );
    assert!(
        !guard.log().contains(&format!("ban {ATTACKER2}")),
        "{}",
        guard.log()
    );
}

/// `kill -9` of the guard and a restart: the ban stays in the kernel throughout (checked
/// every 10 ms), its expiry runs on (not reset, not lost), and the restarted guard knows
/// it (restored from its database).
#[test]
fn kill_9_and_restart_keep_every_ban_and_its_expiry() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("gdkill");
    let _http = lab.serve_http("server", 80).unwrap();
    let files = Files::new(
        lab.id(),
        "[guard]\nconntrack = false\nban_time = \"10m\"\n[guard.connections]\nlimit = 30\n",
    );
    let mut guard = guard_in_lab(&lab, &files);
    let server = lab.ns("server").unwrap().to_string();
    let a1 = ip(ATTACKER1);
    lab.flood("attacker1", &connect(100, 1.0)).unwrap();
    guard.wait_log("the ban", |l| l.contains(&format!("ban {ATTACKER1}")));
    let before = kernel_ban(&server, a1).expect("banned in the kernel");
    let watch = BanWatch::start(&server, &[a1]);
    std::thread::sleep(Duration::from_millis(100));
    guard.kill9();
    std::thread::sleep(Duration::from_millis(500));
    let restarted = guard_in_lab(&lab, &files);
    restarted.wait_log("the restore", |l| {
        l.contains("1 running decisions restored")
    });
    std::thread::sleep(Duration::from_millis(300));
    let (first, gaps) = watch.finish();
    assert!(first[0].is_some());
    assert_eq!(
        gaps[0], 0,
        "the ban went missing across kill -9 and restart"
    );
    let after = kernel_ban(&server, a1).expect("still banned");
    // About a second went by: the expiry runs on, it was neither reset nor lost.
    assert!(after <= before, "{after:?} > {before:?}");
    assert!(
        before - after < Duration::from_secs(5),
        "{before:?} → {after:?}"
    );
    assert!(before > Duration::from_secs(500), "{before:?}");
}

/// The kernel's own ban (`[flood]`, `action = "ban"`) reaches the guard over NFLOG and is
/// recorded with its limit; the guard's own detectors are set too high to fire.
#[test]
fn a_kernel_flood_ban_is_recorded_with_its_limit() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let lab = lab_up("gdkern");
    let _http = lab.serve_http("server", 80).unwrap();
    let files = Files::new(
        lab.id(),
        "profile = \"webserver\"\n[[flood.limit]]\nname = \"web\"\ntcp = [80]\n\
         new = \"10/second\"\nburst = 20\naction = \"ban\"\n\
         [guard]\nconntrack = false\nsockets = false\n",
    );
    let up = rampart(
        &lab,
        &files,
        &[
            "up",
            "--policy",
            files.policy.to_str().unwrap(),
            "--no-confirm",
        ],
    );
    // Inside a namespace `up` never starts the host's service: it says how to run it.
    assert!(
        up.contains("guard: not started as a service (")
            && up.contains("rampart guard run --policy"),
        "{up}"
    );
    let guard = guard_in_lab(&lab, &files);
    lab.flood("attacker1", &connect(300, 1.0)).unwrap();
    guard.wait_log("the kernel's ban", |l| {
        l.lines()
            .any(|l| l.contains(&format!("ban {ATTACKER1} ")) && l.contains("detector=kernel"))
    });
    let log = guard.log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("ban {ATTACKER1} ")))
        .unwrap();
    assert!(line.contains("web"), "{line}");
    assert!(line.contains("origin=Kernel"), "{line}");
    // Recorded with its limit: `rampart bans explain` reads it back from the store.
    let explain = rampart(&lab, &files, &["bans", "explain", ATTACKER1]);
    assert!(explain.contains("the kernel (kernel:web)"), "{explain}");
    assert!(explain.contains("running"), "{explain}");
}

/// A real sshd (its log written with `sshd -E`) refuses a real ssh client's wrong
/// passwords: four failures leave the source alone, the fifth (fail2ban's threshold) gets
/// it banned at once.
#[test]
fn sshd_failures_get_the_source_banned_at_the_threshold() {
    if !require(&[
        Need::Root,
        Need::Tool("ip"),
        Need::Tool("nft"),
        Need::Tool(SSHD),
        Need::Tool("ssh"),
        Need::Tool("ssh-keygen"),
    ]) {
        return;
    }
    let (server, client) = (Netns::fresh("gd-ssh-srv"), Netns::fresh("gd-ssh-cli"));
    server.veth("vs", &client, "vc");
    server.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "vs"]);
    client.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "vc"]);
    let files = Files::new(server.name(), "");
    let sshd = Sshd::start(
        &server,
        &files.state,
        "ListenAddress 0.0.0.0\nUsePAM no\nPasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\nPubkeyAuthentication no\nPermitRootLogin yes\n\
         MaxStartups 50\n",
        &[],
    );
    std::fs::write(
        &files.policy,
        format!(
            "[guard]\nconntrack = false\nsockets = false\n[[guard.log]]\npath = \"{}\"\nsource = \"sshd\"\n",
            sshd.log_path().display()
        ),
    )
    .unwrap();
    let mut cmd = server.command(env!("CARGO_BIN_EXE_rampart"));
    cmd.env_remove("SSH_CONNECTION");
    let guard = GuardProc::start(cmd, &files.state, &files.policy);
    let wrong = askpass(&files.state, "askpass", "not-the-password");
    let src = ip("192.0.2.2");
    let attempt = || {
        let out = wait_output(
            ssh_client(
                &client,
                "root",
                "192.0.2.1",
                &wrong,
                &[
                    "PreferredAuthentications=password",
                    "NumberOfPasswordPrompts=1",
                ],
            )
            .spawn()
            .unwrap(),
        );
        assert!(!out.status.success());
    };
    for n in 1..=4 {
        attempt();
        sshd.wait_log(&format!("{n} failures"), |l| {
            l.matches("Failed password").count() >= n
        });
    }
    // Time for the guard to read the fourth line.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        kernel_ban(server.name(), src).is_none(),
        "banned before the fifth failure:\n{}",
        guard.log()
    );
    attempt();
    let fifth = Instant::now();
    sshd.wait_log("5 failures", |l| l.matches("Failed password").count() >= 5);
    let start = Instant::now();
    while kernel_ban(server.name(), src).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "not banned after the fifth failure:\n{}\n{}",
            guard.log(),
            sshd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("banned {:?} after the fifth attempt ended", fifth.elapsed());
    // The kernel first, then the record, then the log line: it may follow a moment later.
    guard.wait_log("the ban's line", |l| l.contains("detector=sshd"));
}

fn sshd_failure(n: u32, src: &str) -> String {
    format!(
        "Dec  6 18:00:{:02} web1 sshd[{}]: Failed password for root from {src} port {} ssh2\n",
        n % 60,
        900 + n,
        40000 + n
    )
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The sshd log is rotated while failures keep coming, by rename and then by
/// copytruncate: the guard's count of each source is exact across both (the fifth
/// failure bans, the fourth does not: no line missed, none counted twice).
#[test]
fn log_rotation_mid_attack_misses_and_double_counts_nothing() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let ns = Netns::fresh("gd-rot");
    let files = Files::new(ns.name(), "");
    let log = files.state.join("auth.log");
    std::fs::write(
        &files.policy,
        format!(
            "[guard]\nconntrack = false\nsockets = false\n[[guard.log]]\npath = \"{}\"\nsource = \"sshd\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::write(&log, "").unwrap();
    let guard = GuardProc::start(
        ns.command(env!("CARGO_BIN_EXE_rampart")),
        &files.state,
        &files.policy,
    );
    let (a, b, c) = ("192.0.2.1", "192.0.2.2", "192.0.2.3");
    let banned = |s: &str| kernel_ban(ns.name(), ip(s)).is_some();
    let settle = || std::thread::sleep(Duration::from_millis(400));
    let mut n = 0;
    let mut fail = |src: &str, k: u32| {
        for _ in 0..k {
            n += 1;
            append(&log, &sshd_failure(n, src));
        }
    };
    fail(a, 4);
    fail(b, 3);
    settle();
    assert!(!banned(a) && !banned(b), "{}", guard.log());
    // Rotation by rename: the old file keeps a last line written after the rename (a
    // daemon still holding it), then the new file.
    let rotated = files.state.join("auth.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, &sshd_failure(99, b));
    fail(c, 2);
    settle();
    assert!(!banned(b), "B has 4 failures:\n{}", guard.log());
    fail(a, 1);
    settle();
    assert!(
        banned(a),
        "A's fifth failure, after the rename, was missed:\n{}",
        guard.log()
    );
    // Copytruncate: copied, then emptied in place; the follower must not read the copy's
    // lines again.
    std::fs::copy(&log, files.state.join("auth.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    fail(c, 2);
    settle();
    assert!(!banned(c), "C has 4 failures:\n{}", guard.log());
    assert!(!banned(b), "B has 4 failures:\n{}", guard.log());
    fail(b, 1);
    fail(c, 1);
    settle();
    assert!(banned(b), "B's fifth failure was missed:\n{}", guard.log());
    assert!(banned(c), "C's fifth failure was missed:\n{}", guard.log());
    let log_text = guard.log();
    for s in [a, b, c] {
        assert_eq!(
            log_text.matches(&format!("ban {s} ")).count(),
            1,
            "{s} banned once:\n{log_text}"
        );
    }
}

/// The digest of the bans reaches a real SMTP listener (aiosmtpd) and `/metrics`, scraped,
/// counts the ban, its detection latency and the sockets observed.
#[test]
fn a_digest_mail_goes_out_and_metrics_count_the_bans() {
    if !require(&[Need::Root, Need::Tool("nft"), Need::Tool("aiosmtpd")]) {
        return;
    }
    let lab = lab_up("gdmail");
    let _http = lab.serve_http("server", 80).unwrap();
    let files = Files::new(
        lab.id(),
        "[guard]\nconntrack = false\n[guard.connections]\nlimit = 30\n\
         [guard.metrics]\nlisten = \"203.0.113.10:9108\"\n\
         [guard.notify]\ninterval = 1\n\
         [guard.notify.smtp]\nserver = \"203.0.113.10\"\nport = 2525\ntls = \"none\"\n\
         from = \"guard@example.org\"\nto = [\"admin@example.org\"]\n",
    );
    let mail_log = files.state.join("smtp.out");
    let smtp = lab
        .command(
            "server",
            "aiosmtpd",
            &["-n".into(), "-l".into(), "203.0.113.10:2525".into()],
        )
        .unwrap()
        .stdout(std::fs::File::create(&mail_log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _smtp = Kill(smtp);
    std::thread::sleep(Duration::from_millis(500));
    let guard = guard_in_lab(&lab, &files);
    lab.flood("attacker1", &connect(100, 1.0)).unwrap();
    guard.wait_log("the ban", |l| l.contains(&format!("ban {ATTACKER1} ")));
    let start = Instant::now();
    loop {
        let mail = std::fs::read_to_string(&mail_log).unwrap_or_default();
        if mail.contains(ATTACKER1) {
            assert!(mail.contains("admin@example.org"), "{mail}");
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no digest reached the SMTP listener:\n{mail}\n{}",
            guard.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = run_in_named(lab.ns("server").unwrap(), || {
        rampart_metrics::scrape("203.0.113.10:9108".parse().unwrap(), Duration::from_secs(2))
    })
    .expect("/metrics answers");
    let m = rampart_metrics::parse(&text).expect("Prometheus text");
    let bans = m
        .value(
            "rampart_guard_bans_total",
            &[("reason", "connections"), ("origin", "detector")],
        )
        .unwrap_or_else(|| panic!("{text}"));
    assert!(bans >= 1.0, "{text}");
    let detected = m
        .value("rampart_guard_detection_latency_seconds_count", &[])
        .unwrap_or_else(|| panic!("{text}"));
    assert!(detected >= 1.0, "{text}");
    let under_1s = m
        .value(
            "rampart_guard_detection_latency_seconds_bucket",
            &[("le", "1")],
        )
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(under_1s, detected, "{text}");
    assert!(
        m.value("rampart_guard_sockets_observed", &[])
            .unwrap_or(0.0)
            > 0.0,
        "{text}"
    );
}

/// Under systemd (`Type=notify`, `WatchdogSec=`): READY once started, WATCHDOG pings at
/// half the interval, STOPPING on SIGTERM, then a clean exit; datagrams read from a
/// socket the test binds as `$NOTIFY_SOCKET`.
#[test]
fn systemd_notify_ready_watchdog_and_stopping() {
    if !require(&[Need::Root, Need::Tool("nft")]) {
        return;
    }
    let ns = Netns::fresh("gd-notify");
    let files = Files::new(ns.name(), "[guard]\nconntrack = false\nsockets = false\n");
    let path = files.state.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_rampart"));
    cmd.env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000");
    let mut guard = GuardProc::start(cmd, &files.state, &files.policy);
    let mut got = Vec::new();
    let start = Instant::now();
    while got
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        assert!(start.elapsed() < PATIENCE, "{got:?}");
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a notify datagram");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(got[0].starts_with("READY=1"), "{got:?}");
    // Three pings at 100 ms: well within the 200 ms watchdog.
    assert!(start.elapsed() < Duration::from_secs(2), "{got:?}");
    let status = guard.term();
    assert!(status.success(), "{status:?}\n{}", guard.log());
    let mut buf = [0u8; 256];
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
}
