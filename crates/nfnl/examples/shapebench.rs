//! A table's shape with a million set elements: `SetClient::table_shape` (three netlink
//! dumps that never touch elements) beside `nft list table`, `nft -t list table` and
//! `nft list chain`, each with 10 elements and with N. Prints the figures for
//! BENCHMARKS.md ("Table shape").
//!
//! ```text
//! cargo build --release -p rampart-nfnl --example shapebench
//! sudo target/release/examples/shapebench [N]     # N defaults to 1,000,000
//! ```
//!
//! Root only. Runs in a network namespace of its own (a thread that `unshare`s
//! CLONE_NEWNET; the nft processes it starts inherit it), so the machine's own ruleset is
//! never touched. The elements are every other /128 of 2001:db8::/32 in an interval set
//! (set contents, not traffic), loaded with `SetClient::replace`.

use std::io::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};
use rampart_nfnl::{Element, Family, SetClient, SetRef};

const SETUP: &str = r#"table inet rampart {
    set cidr6 { type ipv6_addr; flags interval; }
    set cidr4 { type ipv4_addr; flags interval; }
    set blocklist { type ipv4_addr; flags timeout; }
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related accept
        ip6 saddr @cidr6 counter drop comment "cidr6"
        ip saddr @cidr4 counter drop comment "cidr4"
        ip saddr @blocklist counter drop comment "bans"
        tcp dport 22 counter accept comment "ssh"
        jump sub
    }
    chain sub {
        udp dport 53 counter accept
    }
}
"#;
const BASE: u128 = 0x2001_0db8_u128 << 96;
/// Runs of our call per phase (it is fast; the median is printed).
const OURS_RUNS: usize = 21;
/// Runs of each nft command with 10 elements; with N, one (each takes minutes at 1M).
const NFT_RUNS_SMALL: usize = 3;

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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Median wall time of `runs` runs of `nft args`, with stdout discarded.
fn time_nft(args: &[&str], runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = Command::new("nft").args(args).output().expect("nft runs");
                let d = t.elapsed();
                assert!(out.status.success(), "nft {args:?}");
                d
            })
            .collect(),
    )
}

fn phase(label: &str, client: &mut SetClient, nft_runs: usize) {
    let mut times = Vec::with_capacity(OURS_RUNS);
    let mut shape = None;
    for _ in 0..OURS_RUNS {
        let t = Instant::now();
        shape = client.table_shape(Family::Inet, "rampart").unwrap();
        times.push(t.elapsed());
    }
    let shape = shape.expect("table exists");
    let worst = *times.iter().max().unwrap();
    println!(
        "{label}: table_shape median {} (worst {} of {OURS_RUNS}); {} chains, {} sets, {} rules; cidr6 count {:?}",
        ms(median(times)),
        ms(worst),
        shape.chains.len(),
        shape.sets.len(),
        shape.rules.len(),
        shape.set("cidr6").and_then(|s| s.elements),
    );
    for (name, args) in [
        ("nft list table", &["list", "table", "inet", "rampart"][..]),
        (
            "nft -t list table",
            &["-t", "list", "table", "inet", "rampart"],
        ),
        (
            "nft list chain",
            &["list", "chain", "inet", "rampart", "input"],
        ),
    ] {
        println!(
            "{label}: {name} median {} of {nft_runs}",
            ms(time_nft(args, nft_runs))
        );
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("N"));
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET): run as root");
        run_stdin("nft", &["-f", "-"], SETUP);
        let mut client = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "cidr6");
        let ten: Vec<Element> = (0..10u128)
            .map(|i| IpAddr::V6(Ipv6Addr::from(BASE | (i * 2))).into())
            .collect();
        client.replace(&set, &ten).unwrap();
        phase("10 elements", &mut client, NFT_RUNS_SMALL);

        let elements: Vec<Element> = (0..n as u128)
            .map(|i| IpAddr::V6(Ipv6Addr::from(BASE | (i * 2))).into())
            .collect();
        let t = Instant::now();
        client.replace(&set, &elements).unwrap();
        println!(
            "loaded {n} elements into cidr6 in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        phase(&format!("{n} elements"), &mut client, 1);
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e));
}
