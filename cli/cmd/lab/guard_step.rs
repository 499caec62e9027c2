//! The demo's guard step: `rampart guard run` on the server, both attackers flooding its
//! HTTP server with connections while client1 browses; each attacker banned about a
//! second after it crosses the limit, the client served throughout, and `rampart bans
//! explain` saying why.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rampart_lab::flood::{FloodKind, FloodSpec};
use rampart_lab::http::HttpLoad;
use rampart_lab::Lab;
use rampart_nfnl::{SetClient, SetRef};

/// The guard's connection limit in the demo (DDoS Deflate's 150 would take the
/// attackers 1.5 s to reach at the demo's rate).
const LIMIT: u64 = 50;
/// Connections per second each attacker opens (and holds).
const RATE: u64 = 100;
/// The attackers.
const ATTACKERS: [(&str, &str); 2] = [("attacker1", "192.0.2.31"), ("attacker2", "192.0.2.32")];
const SERVER_HTTP: &str = "203.0.113.10:80";

/// What the step saw.
pub struct GuardStep {
    /// Report lines.
    pub lines: Vec<String>,
    /// Every attacker banned within a second of crossing, the client served ≥ 99 %.
    pub ok: bool,
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wait_for(log: &Path, what: &str, patience: Duration) -> Result<String> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return Ok(text);
        }
        if start.elapsed() > patience {
            bail!("the guard did not log {what:?} within {patience:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// When each of `ips` is first in the kernel's ban set of `lab`'s server, polled every
/// 10 ms until `stop`.
fn watch_bans(
    lab: &Lab,
    ips: Vec<IpAddr>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<std::io::Result<Vec<Option<Instant>>>>> {
    Ok(lab.spawn_in("server", move || {
        let mut first = vec![None; ips.len()];
        let mut c = SetClient::open().map_err(std::io::Error::other)?;
        let set = SetRef::inet("rampart_bans", "ban_4");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            for (i, ip) in ips.iter().enumerate() {
                if first[i].is_none() {
                    if let Ok(Some(_)) = c.get(&set, *ip) {
                        first[i] = Some(Instant::now());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(first)
    })?)
}

/// Runs the step on `lab` with the rampart binary `exe`.
pub fn run(lab: &Lab, exe: &Path) -> Result<GuardStep> {
    let dir = TempDir(std::env::temp_dir().join(format!("{}-demo-guard", lab.id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0)?;
    let policy = dir.0.join("rampart.toml");
    std::fs::write(
        &policy,
        format!(
            "profile = \"webserver\"\n[guard]\nconntrack = false\n\
             [guard.connections]\nlimit = {LIMIT}\n"
        ),
    )?;
    let state = dir.0.join("state");
    let log = dir.0.join("guard.log");
    let http = lab
        .serve_http("server", 80)
        .context("HTTP server on the server")?;
    let mut cmd: Command = lab.command(
        "server",
        exe.to_str().context("the rampart binary's path")?,
        &[
            "guard".into(),
            "run".into(),
            "--policy".into(),
            policy.display().to_string(),
            "--state-dir".into(),
            state.display().to_string(),
        ],
    )?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting rampart guard run")?;
    let daemon = Daemon(child);
    wait_for(&log, "guard started", Duration::from_secs(10))?;

    let ips: Vec<IpAddr> = ATTACKERS.iter().map(|(_, a)| a.parse().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let watch = watch_bans(lab, ips.clone(), stop.clone())?;
    let flood = FloodSpec {
        kind: FloodKind::Connect,
        dst: SERVER_HTTP.parse()?,
        rate: RATE,
        duration: Duration::from_secs(3),
        count: Some(RATE * 3),
        spoof: None,
        seed: 1,
    };
    let load = HttpLoad {
        dst: SERVER_HTTP.parse()?,
        rate: 50,
        duration: Duration::from_secs(4),
        count: None,
        timeout: Duration::from_secs(1),
    };
    let t0 = Instant::now();
    let probe = std::thread::scope(|s| -> Result<_> {
        let floods: Vec<_> = ATTACKERS
            .iter()
            .map(|(role, _)| {
                let flood = &flood;
                s.spawn(move || lab.flood(role, flood))
            })
            .collect();
        let probe = lab.http_load("client1", &load)?;
        for f in floods {
            f.join()
                .map_err(|_| anyhow::anyhow!("a flood thread panicked"))??;
        }
        Ok(probe)
    })?;
    stop.store(true, Ordering::Relaxed);
    let first = watch
        .join()
        .map_err(|_| anyhow::anyhow!("the ban watcher panicked"))??;

    let mut lines = Vec::new();
    let mut ok = true;
    // The limit is reached with the LIMIT-th connection, due (LIMIT - 1) / RATE s after
    // the first.
    let crossing = Duration::from_secs_f64((LIMIT - 1) as f64 / RATE as f64);
    lines.push(format!(
        "  guard   rampart guard run on the server: ban a source holding {LIMIT} connections"
    ));
    for ((role, addr), at) in ATTACKERS.iter().zip(&first) {
        match at {
            Some(at) => {
                let after = at.duration_since(t0).saturating_sub(crossing);
                ok &= after < Duration::from_secs(1);
                lines.push(format!(
                    "  {} {role} {addr} flooding {RATE} connections/s: banned {} after reaching {LIMIT}",
                    if after < Duration::from_secs(1) { "✔" } else { "✘" },
                    super::demo::ms(after)
                ));
            }
            None => {
                ok = false;
                lines.push(format!("  ✘ {role} {addr}: never banned"));
            }
        }
    }
    let served = probe.success_rate >= 0.99;
    ok &= served;
    lines.push(format!(
        "  {} client1 meanwhile: {} of {} pages served ({:.1} %)",
        if served { "✔" } else { "✘" },
        probe.ok,
        probe.requests,
        probe.success_rate * 100.0
    ));
    // Why: the guard's own explanation of the first ban.
    let explain = lab
        .command(
            "server",
            exe.to_str().unwrap_or("rampart"),
            &[
                "bans".into(),
                "explain".into(),
                ATTACKERS[0].1.into(),
                "--state-dir".into(),
                state.display().to_string(),
            ],
        )?
        .output();
    match explain {
        Ok(o) if o.status.success() => {
            lines.push(format!("  rampart bans explain {}:", ATTACKERS[0].1));
            for l in String::from_utf8_lossy(&o.stdout).lines() {
                lines.push(format!("          {l}"));
            }
        }
        Ok(o) => {
            ok = false;
            lines.push(format!(
                "  ✘ rampart bans explain {}: {}",
                ATTACKERS[0].1,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Err(e) => {
            ok = false;
            lines.push(format!("  ✘ rampart bans explain: {e}"));
        }
    }
    drop(daemon);
    drop(http);
    // A lab kept for another run starts without these bans.
    let _ = lab.exec(
        "server",
        &["nft", "delete", "table", "inet", "rampart_bans"],
    );
    let _ = std::io::stdout().flush();
    Ok(GuardStep { lines, ok })
}
