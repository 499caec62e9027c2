//! Set elements over netlink, timed beside nft and ipset: prints the figures for
//! BENCHMARKS.md ("Set elements over netlink").
//!
//! ```text
//! cargo build --release -p rampart-nfnl --example setbench
//! sudo target/release/examples/setbench [N]     # N defaults to 1,000,000
//! ```
//!
//! Root only. Every phase runs in a network namespace of its own (a thread that
//! `unshare`s CLONE_NEWNET; the nft and ipset processes it starts inherit it), so the
//! machine's own ruleset and ipsets are never touched. The elements are every other
//! /128 of 2001:db8::/32 (set contents, not traffic).
//!
//! (a) N elements into an empty interval set in one transaction: this client (time, our
//!     peak RSS) beside `nft -f` and `ipset restore` of the same addresses (time and peak
//!     RSS from `/usr/bin/time -v`);
//! (b) one element add with those N present: this client on its long-lived socket
//!     (median and worst of 20), `nft add element`, `ipset add`; and one ban (an IPv4
//!     address with a timeout) into a plain timeout set of the same table, this client
//!     beside `nft add element`;
//! (c) listing the set back through this client (a GETSETELEM dump).
//!
//! `--ours-only` skips the nft and ipset runs (with N = 1M each nft command takes minutes).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};
use rampart_nfnl::{Element, SetClient, SetRef};

const SETUP: &str = "table inet rampart {\n  set cidr6 { type ipv6_addr; flags interval; }\n  set blocklist { type ipv4_addr; flags timeout; }\n}\n";
const BASE: u128 = 0x2001_0db8_u128 << 96;
const SINGLE_RUNS: usize = 20;
const CLI_RUNS: usize = 3;

fn addr(i: u128) -> Ipv6Addr {
    Ipv6Addr::from(BASE | (i * 2))
}

/// A probe outside the loaded block, distinct per run.
fn probe(i: usize) -> Ipv6Addr {
    Ipv6Addr::from(BASE | 0xffff_0000_0000_0000_0000_0000 | i as u128)
}

fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET): run as root");
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn run_stdin(cmd: &str, args: &[&str], input: &str) {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "{cmd} {args:?} failed");
}

/// `/usr/bin/time -v cmd args`: wall time and peak RSS in MiB.
fn time_v(cmd: &str, args: &[&str]) -> (Duration, f64) {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(cmd)
        .args(args)
        .output()
        .expect("/usr/bin/time");
    let wall = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd} {args:?}: {err}");
    let kib: f64 = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    (wall, kib / 1024.0)
}

fn timed(cmd: &str, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn vm_hwm_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ours_only = args.iter().any(|a| a == "--ours-only");
    let n: u128 = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or(1_000_000, |s| s.parse().expect("N"));
    let set = SetRef::inet("rampart", "cidr6");
    let mut report = String::new();

    // (a) and (b) for this client, one namespace.
    let (load, rss, first, median, worst, nft_single, ban, nft_ban, listing) = in_netns({
        let set = set.clone();
        move || {
            run_stdin("nft", &["-f", "-"], SETUP);
            let elems: Vec<Element> = (0..n).map(|i| Element::from(IpAddr::V6(addr(i)))).collect();
            let mut client = SetClient::open().expect("socket");
            let t = Instant::now();
            client.add(&set, &elems, None).expect("load");
            let load = t.elapsed();
            let rss = vm_hwm_mib();
            drop(elems);
            let mut times: Vec<Duration> = (0..SINGLE_RUNS)
                .map(|i| {
                    let e = [Element::from(IpAddr::V6(probe(i)))];
                    let t = Instant::now();
                    client.add(&set, &e, None).expect("single add");
                    t.elapsed()
                })
                .collect();
            let first = times[0];
            times.sort();
            let t = Instant::now();
            let listed = client.list(&set).expect("list").len();
            let listing = (t.elapsed(), listed);
            let cli_runs = if ours_only { 0 } else { CLI_RUNS };
            let nft_single: Vec<Duration> = (0..cli_runs)
                .map(|i| {
                    let elem = format!("{{ {} }}", probe(1000 + i));
                    timed(
                        "nft",
                        &["add", "element", "inet", "rampart", "cidr6", &elem],
                    )
                })
                .collect();
            // A ban: one address into the plain timeout set of the same table.
            let bans = SetRef::inet("rampart", "blocklist");
            let mut ban: Vec<Duration> = (0..SINGLE_RUNS)
                .map(|i| {
                    let e = [Element::from(IpAddr::V4(Ipv4Addr::new(
                        192,
                        0,
                        2,
                        i as u8 + 1,
                    )))];
                    let t = Instant::now();
                    client
                        .add(&bans, &e, Some(Duration::from_secs(3600)))
                        .expect("ban");
                    t.elapsed()
                })
                .collect();
            ban.sort();
            let nft_ban: Vec<Duration> = (0..cli_runs)
                .map(|i| {
                    let elem = format!("{{ 198.51.100.{} timeout 1h }}", i + 1);
                    timed(
                        "nft",
                        &["add", "element", "inet", "rampart", "blocklist", &elem],
                    )
                })
                .collect();
            let (median, worst) = (times[SINGLE_RUNS / 2], times[SINGLE_RUNS - 1]);
            (
                load,
                rss,
                first,
                median,
                worst,
                nft_single,
                (ban[SINGLE_RUNS / 2], ban[SINGLE_RUNS - 1]),
                nft_ban,
                listing,
            )
        }
    });

    // (a) nft -f of the same elements into an empty set.
    let (nft_load, nft_rss) = if ours_only {
        (Duration::ZERO, f64::NAN)
    } else {
        in_netns(move || {
            run_stdin("nft", &["-f", "-"], SETUP);
            let path =
                std::env::temp_dir().join(format!("rampart-setbench-{}.nft", std::process::id()));
            let mut text = String::with_capacity(n as usize * 24);
            text.push_str("add element inet rampart cidr6 {\n");
            for i in 0..n {
                let _ = writeln!(text, "{},", addr(i));
            }
            text.push_str("}\n");
            std::fs::write(&path, text).unwrap();
            let r = time_v("nft", &["-f", path.to_str().unwrap()]);
            let _ = std::fs::remove_file(&path);
            r
        })
    };

    // ipset: restore N into hash:net, then single adds.
    let (ipset_load, ipset_rss, ipset_single) = if ours_only {
        (Duration::ZERO, f64::NAN, Vec::new())
    } else {
        in_netns(move || {
            let path =
                std::env::temp_dir().join(format!("rampart-setbench-{}.ipset", std::process::id()));
            let mut text = String::with_capacity(n as usize * 40);
            let _ = writeln!(
                text,
                "create bench6 hash:net family inet6 hashsize 1048576 maxelem {}",
                n * 2
            );
            for i in 0..n {
                let _ = writeln!(text, "add bench6 {}/128", addr(i));
            }
            std::fs::write(&path, text).unwrap();
            let (t, rss) = time_v("ipset", &["restore", "-file", path.to_str().unwrap()]);
            let _ = std::fs::remove_file(&path);
            let single: Vec<Duration> = (0..CLI_RUNS)
                .map(|i| {
                    timed(
                        "ipset",
                        &["add", "bench6", &format!("{}/128", probe(2000 + i))],
                    )
                })
                .collect();
            let _ = Command::new("ipset").args(["destroy", "bench6"]).status();
            (t, rss, single)
        })
    };

    let list = |v: &[Duration], f: fn(Duration) -> String| {
        v.iter().map(|d| f(*d)).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(
        report,
        "N = {n} IPv6 /128s (every other address of 2001:db8::/32), interval set\n"
    );
    let _ = writeln!(
        report,
        "| (a) load N in one transaction | time | peak RSS |"
    );
    let _ = writeln!(report, "|---|---|---|");
    let _ = writeln!(
        report,
        "| rampart-nfnl SetClient::add | {} | {rss:.0} MiB (whole process, elements included) |",
        secs(load)
    );
    let _ = writeln!(report, "| nft -f | {} | {nft_rss:.0} MiB |", secs(nft_load));
    let _ = writeln!(
        report,
        "| ipset restore (hash:net inet6) | {} | {ipset_rss:.0} MiB |",
        secs(ipset_load)
    );
    let _ = writeln!(report);
    let _ = writeln!(report, "| (b) one add, N present | time |");
    let _ = writeln!(report, "|---|---|");
    let _ = writeln!(
        report,
        "| rampart-nfnl, same socket, {SINGLE_RUNS} adds | median {}, worst {}, first {} |",
        ms(median),
        ms(worst),
        ms(first)
    );
    let _ = writeln!(
        report,
        "| nft add element ({CLI_RUNS} runs) | {} |",
        list(&nft_single, secs)
    );
    let _ = writeln!(
        report,
        "| rampart-nfnl, one ban into the plain timeout set beside it, {SINGLE_RUNS} adds | median {}, worst {} |",
        ms(ban.0),
        ms(ban.1)
    );
    let _ = writeln!(
        report,
        "| nft add element, same ban ({CLI_RUNS} runs) | {} |",
        list(&nft_ban, secs)
    );
    let _ = writeln!(
        report,
        "| ipset add ({CLI_RUNS} runs) | {} |",
        list(&ipset_single, ms)
    );
    let _ = writeln!(report);
    let _ = writeln!(report, "| (c) list the set back | time |");
    let _ = writeln!(report, "|---|---|");
    let _ = writeln!(
        report,
        "| rampart-nfnl SetClient::list, {} elements | {} |",
        listing.1,
        secs(listing.0)
    );
    print!("{report}");
}
