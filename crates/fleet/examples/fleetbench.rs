//! The fleet, measured (BENCHMARKS.md, "Fleet"), against a real PostgreSQL started here in
//! a temporary directory (the Debian package's server; Unix socket, no TLS):
//!
//! 1. `throughput RATE SECS SUBS`: one publisher at RATE decisions/s (a batch every
//!    100 ms, as a busy guard's loop publishes) for SECS s, SUBS simulated servers each
//!    on its own connection following the feed (LISTEN, then every change after its
//!    cursor): publish rate reached, and per decision the delay from its commit to its
//!    receipt by each server (p50, p99, max), and whether every server got every one.
//! 2. `catchup N`: N decisions published, then a server that was away reads them all
//!    from its cursor; beside it, `COPY (SELECT …) TO STDOUT` of the same rows by psql
//!    (the floor: PostgreSQL's own read).
//! 3. `propagation N RAMPART`: a real `rampart guard run` (the binary RAMPART) in a
//!    network namespace of its own, in the fleet; N bans published one at a time (20 ms
//!    apart) as another server would: from the publishing commit to the ban in the
//!    guard's kernel set (p50, p99, max).
//!
//! Needs root (PostgreSQL runs as `postgres`; part 3 makes a namespace). Never touches
//! the machine's own firewall or network namespace.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_fleet::{Change, Fleet, FleetConfig};
use rampart_guard::{Decision, Evidence, Origin, Reason};
use rampart_testkit::{Netns, PgOptions, Postgres, PG_ADMIN};

fn config(pg: &Postgres, role: &str) -> FleetConfig {
    let host = pg.socket_dir().display().to_string().replace('/', "%2F");
    FleetConfig {
        url: format!("postgresql://{role}@{host}:{}/rampart", pg.port),
        password_file: None,
        ca_file: None,
        min_prefix_v4: 16,
        min_prefix_v6: 48,
    }
}

fn setup(roles: &[String]) -> Postgres {
    let pg = Postgres::start(PgOptions::default());
    Fleet::connect(&config(&pg, PG_ADMIN))
        .unwrap()
        .init()
        .unwrap();
    for r in roles {
        pg.psql(
            "rampart",
            &format!("CREATE ROLE {r} LOGIN IN ROLE rampart_server"),
        );
    }
    pg
}

/// Microseconds since `t0`, carried in the decision (its evidence count) so a reader
/// knows when it was published.
fn decision(i: u64, now: u64, stamp_us: u64) -> Decision {
    // 10.0.0.0/8 and up: data-only addresses, never traffic.
    let ip = std::net::Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i as u32));
    Decision {
        target: rampart_guard::Target::Addr(IpAddr::V4(ip)),
        reason: Reason {
            detector: "connections".into(),
            summary: "152 connections to port 80 (limit 150)".into(),
            offence: 0,
        },
        evidence: Evidence {
            count: stamp_us,
            window_secs: 0,
            samples: vec!["tcp 10.0.0.1:40000 -> 203.0.113.10:80".into()],
        },
        origin: Origin::Detector,
        start: now,
        until: now + 3600,
        fleet: None,
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn throughput(rate: u64, secs: u64, subs: usize) {
    let mut roles: Vec<String> = (0..subs).map(|i| format!("sub{i}")).collect();
    roles.push("pub0".into());
    let pg = setup(&roles);
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let delays: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let counts: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        (0..subs)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
    );
    let mut threads = Vec::new();
    for (i, role) in roles.iter().take(subs).enumerate() {
        let (c, stop, delays, counts) = (
            config(&pg, role),
            stop.clone(),
            delays.clone(),
            counts.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut f = Fleet::connect(&c).unwrap();
            f.listen().unwrap();
            let mut cursor = 0;
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let read = f.changes(cursor, rampart_fleet::now()).unwrap();
                let at = t0.elapsed().as_micros() as f64;
                for ch in &read.changes {
                    if let Change::Decision(d) = ch {
                        mine.push((at - d.decision.evidence.count as f64) / 1000.0);
                        counts[i].fetch_add(1, Ordering::Relaxed);
                    }
                }
                cursor = read.cursor;
                if !read.more {
                    f.wait(Duration::from_millis(200)).unwrap();
                }
            }
            delays.lock().unwrap().extend(mine);
        }));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = Fleet::connect(&config(&pg, "pub0")).unwrap();
    let per_batch = (rate / 10).max(1);
    let mut published = 0u64;
    let start = Instant::now();
    let now = rampart_fleet::now();
    for b in 0..secs * 10 {
        let due = start + Duration::from_millis(100 * b);
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let stamp = t0.elapsed().as_micros() as u64;
        let ds: Vec<Decision> = (0..per_batch)
            .map(|k| decision(published + k, now, stamp))
            .collect();
        let refs: Vec<(i64, &Decision)> = ds
            .iter()
            .enumerate()
            .map(|(k, d)| ((published + k as u64) as i64, d))
            .collect();
        publisher.publish(&refs).unwrap();
        published += per_batch;
    }
    let took = start.elapsed().as_secs_f64();
    // Let the followers finish reading (at most a minute).
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && counts.iter().any(|n| n.load(Ordering::Relaxed) < published)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let mut d = delays.lock().unwrap().clone();
    let complete = counts
        .iter()
        .filter(|n| n.load(Ordering::Relaxed) == published)
        .count();
    println!(
        "throughput: published {published} decisions in {took:.1} s ({:.0}/s) to {subs} followers; \
         {complete}/{subs} received all; commit->receipt ms p50 {:.1} p99 {:.1} max {:.1}",
        published as f64 / took,
        pct(&mut d, 0.5),
        pct(&mut d, 0.99),
        pct(&mut d, 1.0)
    );
}

fn catchup(n: u64) {
    let pg = setup(&["pub0".into(), "late".into()]);
    let mut publisher = Fleet::connect(&config(&pg, "pub0")).unwrap();
    let now = rampart_fleet::now();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let k = (n - i).min(10_000);
        let ds: Vec<Decision> = (i..i + k).map(|j| decision(j, now, 0)).collect();
        let refs: Vec<(i64, &Decision)> = ds
            .iter()
            .enumerate()
            .map(|(x, d)| ((i as usize + x) as i64, d))
            .collect();
        publisher.publish(&refs).unwrap();
        i += k;
    }
    let publish = t.elapsed().as_secs_f64();
    let mut late = Fleet::connect(&config(&pg, "late")).unwrap();
    let t = Instant::now();
    let (mut cursor, mut got) = (0, 0usize);
    loop {
        let read = late.changes(cursor, now).unwrap();
        got += read.changes.len();
        cursor = read.cursor;
        if !read.more {
            break;
        }
    }
    let ours = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let copied = pg.psql(
        "rampart",
        "COPY (SELECT seq, origin_server, origin_id, target, detector, summary, offence, origin, \
         evidence, start_at, until_at, lifted_at, lifted_by FROM rampart_decisions ORDER BY seq) \
         TO '/dev/null'",
    );
    let _ = copied;
    let floor = t.elapsed().as_secs_f64();
    println!(
        "catchup: {n} decisions published in {publish:.1} s ({:.0}/s); a returning server read {got} in {ours:.2} s ({:.0}/s); psql COPY of the same rows {floor:.2} s",
        n as f64 / publish,
        got as f64 / ours
    );
}

fn propagation(n: u64, rampart: &str) {
    let pg = setup(&["web_a".into(), "web_b".into()]);
    let ns = Netns::fresh("fleetbench");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let policy = dir.path().join("rampart.toml");
    let c = config(&pg, "web_b");
    std::fs::write(
        &policy,
        format!(
            "[guard]\nsockets = false\nconntrack = false\n[fleet]\nurl = \"{}\"\n",
            c.url
        ),
    )
    .unwrap();
    let log = dir.path().join("guard.log");
    let mut guard = ns
        .command(rampart)
        .args(["guard", "run", "--policy"])
        .arg(&policy)
        .arg("--state-dir")
        .arg(&state)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("fleet: connected")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "guard: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut a = Fleet::connect(&config(&pg, "web_a")).unwrap();
    let now = rampart_fleet::now();
    let mut times = ns.run_in(|| {
        let mut sets = rampart_nfnl::SetClient::open().unwrap();
        let set = rampart_nfnl::SetRef::inet("rampart_bans", "ban_4");
        let mut times = Vec::new();
        for i in 0..n {
            let d = decision(1_000_000 + i, now, 0);
            let rampart_guard::Target::Addr(ip) = d.target else {
                unreachable!()
            };
            a.publish(&[(i as i64, &d)]).unwrap();
            let t = Instant::now();
            loop {
                if matches!(sets.get(&set, ip), Ok(Some(_))) {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                if t.elapsed() > Duration::from_secs(10) {
                    times.push(f64::INFINITY);
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        times
    });
    let _ = guard.kill();
    let _ = guard.wait();
    let lost = times.iter().filter(|t| t.is_infinite()).count();
    println!(
        "propagation: {n} bans, publishing commit -> the other server's kernel set, ms p50 {:.2} p99 {:.2} max {:.2}; {lost} not seen within 10 s",
        pct(&mut times, 0.5),
        pct(&mut times, 0.99),
        pct(&mut times, 1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("throughput") => throughput(num(1, 10_000), num(2, 10), num(3, 100) as usize),
        Some("catchup") => catchup(num(1, 1_000_000)),
        Some("propagation") => propagation(
            num(1, 200),
            args.get(2)
                .map(String::as_str)
                .unwrap_or("target/release/rampart"),
        ),
        _ => {
            eprintln!("usage: fleetbench throughput [RATE SECS SUBS] | catchup [N] | propagation [N RAMPART]");
            std::process::exit(2);
        }
    }
}
