//! Throughput and memory of the guard's engine and store (figures in BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release -p rampart-guard --example guard_bench [DIR]
//! ```
//!
//! 1. 10M NEW connections from 10M distinct spoofed sources through `Guard::observe`:
//!    observations/s, and the process's resident memory before and after.
//! 2. sshd failures, 5 from each of 50k sources (within the detectors' 65,536): every 5th bans; decisions/s.
//! 3. `SqliteStore` in DIR (default: a temporary directory): 2,000 decisions recorded one
//!    transaction each, then every decision of step 2 in batches of 1,000; decisions/s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use rampart_guard::{DecisionStore, Guard, GuardConfig, Observation, SqliteStore};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let t0 = 1_800_000_000u64;
    let before = rss_mb();
    let mut guard = Guard::new(GuardConfig::default(), vec![]);
    let n = 10_000_000u64;
    let start = Instant::now();
    let mut decided = 0usize;
    for i in 0..n {
        let addr = if i % 2 == 0 {
            IpAddr::V4(Ipv4Addr::from(0x0b00_0000u32.wrapping_add(i as u32)))
        } else {
            IpAddr::V6(Ipv6Addr::from((0x2001_0db8_u128 << 96) | u128::from(i)))
        };
        decided += guard
            .observe(
                &Observation::NewConnection { addr, port: 80 },
                t0 + i / 1_000_000,
            )
            .len();
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = guard.stats();
    println!(
        "spoofed flood: {n} NEW connections from {n} sources in {secs:.2} s = {:.1}M obs/s; {decided} bans; \
         detectors hold {} sources in {:.1} MB (bound {:.1} MB); RSS {before:.1} MB -> {:.1} MB",
        n as f64 / secs / 1e6,
        stats.detectors.tracked,
        stats.detectors.memory_bytes as f64 / 1e6,
        stats.detectors.bound_bytes as f64 / 1e6,
        rss_mb()
    );
    drop(guard);

    let mut guard = Guard::new(GuardConfig::default(), vec![]);
    let sources = 50_000u32;
    let lines: Vec<Observation> = (0..sources)
        .map(|i| {
            let a = Ipv4Addr::from(0x0c00_0000u32 + i * 7);
            Observation::from_log(
                rampart_logs::Source::Sshd,
                format!("Dec  6 18:00:00 web1 sshd[812]: Failed password for root from {a} port 4711 ssh2").as_bytes(),
            )
            .unwrap()
        })
        .collect();
    let start = Instant::now();
    let mut bans = Vec::new();
    for round in 0..5 {
        for obs in &lines {
            bans.extend(guard.observe(obs, t0 + round));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sshd: {} failures from {sources} sources in {secs:.2} s = {:.2}M obs/s; {} decisions ({} roll-ups) = {:.0}k decisions/s",
        5 * sources,
        5.0 * f64::from(sources) / secs / 1e6,
        bans.len(),
        bans.iter().filter(|d| d.reason.detector == "rollup").count(),
        bans.len() as f64 / secs / 1e3
    );

    let dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    let path = dir.join("bench-guard.db");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let _ = std::fs::remove_file(path.with_extension("db-shm"));
    let mut store = SqliteStore::open(&path).unwrap();
    let one = 2_000;
    let start = Instant::now();
    for d in bans.iter().take(one) {
        store.record(d).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "store, one transaction per decision: {one} in {secs:.2} s = {:.0} decisions/s ({:.2} ms each)",
        one as f64 / secs,
        secs * 1e3 / one as f64
    );
    let start = Instant::now();
    for chunk in bans.chunks(1000) {
        store.record_batch(chunk).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "store, batches of 1000: {} in {secs:.2} s = {:.0} decisions/s",
        bans.len(),
        bans.len() as f64 / secs
    );
    let start = Instant::now();
    let active = store.active(t0 + 10).unwrap();
    println!(
        "store, active(): {} decisions read in {:.2} s",
        active.len(),
        start.elapsed().as_secs_f64()
    );
}
