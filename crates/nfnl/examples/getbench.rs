//! One-key lookups and ruleset listings beside a million-element interval set: prints
//! the figures for BENCHMARKS.md ("Set elements over netlink", lookups).
//!
//! ```text
//! cargo build --release -p rampart-nfnl --example getbench
//! sudo target/release/examples/getbench [N] [--nft-runs K]   # N = 1,000,000, K = 2
//! ```
//!
//! Root only; everything runs in a network namespace of its own (a thread that
//! `unshare`s CLONE_NEWNET, and the nft processes it starts), so the machine's own
//! ruleset is never touched. The set `inet rampart cidr4` (`type ipv4_addr; flags
//! interval`) gets N prefixes, 70 % /32 and 30 % /24, one per 512-address slot of a
//! fixed pseudo-random choice of slots, so no two touch (set contents, never traffic).
//!
//! Then, on the loaded set:
//! 1. 1,000 `SetClient::get`s (half addresses inside an element, half picked at random)
//!    on one socket: total, median, worst; beside K runs of `nft get element` of a few
//!    of the same addresses (each nft command first dumps the whole set into its cache);
//! 2. `nft list table inet rampart`, `nft -t list table …` (terse: no elements printed;
//!    does nft 1.0.6 still fetch them?), `nft -j -t list table …`, each once, output
//!    discarded; and `SetClient::generation` (median of 1,000).

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};
use rampart_nfnl::{Element, SetClient, SetRef};
use rampart_prefix::Prefix;

const SETUP: &str = "table inet rampart {\n  set cidr4 { type ipv4_addr; flags interval; }\n}\n";
const GETS: usize = 1000;
/// 2^23 slots of 512 addresses each cover the IPv4 space.
const SLOTS: u32 = 1 << 23;
/// An odd stride: `i * STRIDE mod SLOTS` visits distinct slots.
const STRIDE: u32 = (2_654_435_761 % SLOTS) | 1;

/// The prefix in the `i`-th chosen slot: a /24 in the upper half of the slot for
/// three in ten, else a /32 at offset 1.
fn prefix(i: u32) -> Prefix {
    let base = i.wrapping_mul(STRIDE) % SLOTS * 512;
    if i % 10 < 3 {
        Prefix::new(IpAddr::V4(Ipv4Addr::from(base + 256)), 24).unwrap()
    } else {
        Prefix::new(IpAddr::V4(Ipv4Addr::from(base + 1)), 32).unwrap()
    }
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET): run as root");
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Runs `nft args` with output discarded; its wall time.
fn nft_timed(args: &[&str]) -> Duration {
    let t = Instant::now();
    let status = Command::new("nft")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("nft");
    let d = t.elapsed();
    assert!(status.success(), "nft {args:?}");
    d
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u32 = args
        .iter()
        .find(|a| a.parse::<u32>().is_ok())
        .map_or(1_000_000, |s| s.parse().unwrap());
    let nft_runs: usize = args
        .iter()
        .position(|a| a == "--nft-runs")
        .and_then(|i| args.get(i + 1))
        .map_or(2, |s| s.parse().expect("K"));
    let report = in_netns(move || {
        let mut setup = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        std::io::Write::write_all(&mut setup.stdin.take().unwrap(), SETUP.as_bytes()).unwrap();
        assert!(setup.wait().unwrap().success());
        let set = SetRef::inet("rampart", "cidr4");
        let elements: Vec<Element> = (0..n).map(|i| Element::from(prefix(i))).collect();
        let mut c = SetClient::open().expect("socket");
        let t = Instant::now();
        c.replace(&set, &elements).expect("load");
        let load = t.elapsed();
        let mut out = format!(
            "N = {n} IPv4 prefixes (70 % /32, 30 % /24, none adjacent), interval set; loaded with SetClient::replace in {}\n\n",
            fmt(load)
        );

        // 1. get
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let probes: Vec<IpAddr> = (0..GETS)
            .map(|k| {
                let r = xorshift(&mut x);
                if k % 2 == 0 {
                    let p = prefix((r % u64::from(n)) as u32);
                    let IpAddr::V4(a) = p.addr() else {
                        unreachable!()
                    };
                    let span = if p.len() == 24 { 256 } else { 1 };
                    IpAddr::V4(Ipv4Addr::from(u32::from(a) + (r >> 32) as u32 % span))
                } else {
                    IpAddr::V4(Ipv4Addr::from(r as u32))
                }
            })
            .collect();
        let mut times = Vec::with_capacity(GETS);
        let mut hits = 0;
        let t = Instant::now();
        for a in &probes {
            let t1 = Instant::now();
            hits += usize::from(c.get(&set, *a).expect("get").is_some());
            times.push(t1.elapsed());
        }
        let total = t.elapsed();
        times.sort();
        out += &format!(
            "| lookup, {n} elements present | time |\n|---|---|\n| SetClient::get × {GETS} ({hits} found) | total {}, median {}, p99 {}, worst {} |\n",
            fmt(total),
            fmt(times[GETS / 2]),
            fmt(times[GETS * 99 / 100]),
            fmt(times[GETS - 1])
        );
        let nft_get: Vec<String> = probes
            .iter()
            .take(nft_runs)
            .map(|a| {
                let elem = format!("{{ {a} }}");
                let t = Instant::now();
                let _ = Command::new("nft")
                    .args(["get", "element", "inet", "rampart", "cidr4", &elem])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                fmt(t.elapsed())
            })
            .collect();
        out += &format!(
            "| nft get element, same addresses ({nft_runs} runs) | {} |\n\n",
            nft_get.join(", ")
        );

        // 2. listings and the generation.
        out += "| listing, same table | time |\n|---|---|\n";
        for args in [
            &["list", "table", "inet", "rampart"][..],
            &["-t", "list", "table", "inet", "rampart"],
            &["-j", "-t", "list", "table", "inet", "rampart"],
        ] {
            out += &format!("| nft {} | {} |\n", args.join(" "), fmt(nft_timed(args)));
        }
        let mut gens: Vec<Duration> = (0..1000)
            .map(|_| {
                let t = Instant::now();
                c.generation().expect("generation");
                t.elapsed()
            })
            .collect();
        gens.sort();
        out += &format!(
            "| SetClient::generation × 1000 | median {}, worst {} |\n",
            fmt(gens[500]),
            fmt(gens[999])
        );
        out
    });
    print!("{report}");
}
