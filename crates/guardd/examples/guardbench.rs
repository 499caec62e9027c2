//! Guard benchmarks, run inside a throwaway network namespace by scripts/bench-guard
//! (they write to the namespace's kernel):
//!
//! - `ban-rate N STATE`: N sshd failure observations from N sources (limit 1), fed to the
//!   real daemon loop (rampart_guard::Guard, the kernel through rampart-enforce, the
//!   SQLite store) in its batches; bans per second into the kernel with the record, the
//!   kernel's and the store's counts checked after.
//! - `peer-rate N`: the peers' way for the same bans, timed: one `nft add element` per
//!   address (fail2ban's nftables action) and one `iptables -I INPUT -s ADDR -j DROP`
//!   per address (DDoS Deflate).
//! - `reaction LOG N`: with `rampart guard run` following LOG (sshd, limit 5), writes five
//!   failures for each of N sources and times the fifth line's write to the source's ban
//!   in the kernel (polled every 0.5 ms); prints p50, p99, max.
//! - `watch-ban ADDR SECS`: prints the milliseconds from its start until ADDR is in the
//!   kernel's ban set (polled every 0.5 ms), for a flood started right after it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_enforce::{Enforcer, Kernel};
use rampart_guard::{GuardConfig, SqliteStore};
use rampart_guardd::{log_observation, Daemon, Event, LineObservation, Msg, Sink};
use rampart_kernel::StateDir;
use rampart_nfnl::{SetClient, SetRef};

struct Count(u64, u64);

impl Sink for Count {
    fn event(&mut self, e: &Event) {
        match e {
            Event::Banned { .. } => self.0 += 1,
            Event::Refused { why, .. } => {
                self.1 += 1;
                if self.1 < 3 {
                    eprintln!("refused: {why}");
                }
            }
            Event::Trouble(t) => eprintln!("trouble: {t}"),
            Event::Lifted { .. } | Event::Note(_) => {}
        }
    }
}

/// Source number `i`: documentation ranges only. The three IPv4 /24s hold 762 addresses;
/// beyond them, IPv6 addresses of 2001:db8::/32.
fn source(i: u64) -> IpAddr {
    let v4: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
    if i < 762 {
        let net = v4[(i / 254) as usize];
        IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], (i % 254) as u8 + 1))
    } else {
        let n = i as u128;
        IpAddr::V6(std::net::Ipv6Addr::from(
            (0x2001_0db8_u128 << 96) | (1u128 << 80) | n,
        ))
    }
}

fn line(n: u64, addr: IpAddr) -> String {
    format!(
        "Dec  6 18:00:00 web1 sshd[{}]: Failed password for root from {addr} port {} ssh2",
        1000 + n % 30000,
        1024 + n % 60000
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn ban_rate(n: u64, state: &str) {
    let config = GuardConfig::from_policy(
        "bench.toml",
        "[guard]\nsockets = false\nconntrack = false\n[guard.sshd]\nlimit = 1\n\
         [guard.rollup]\nenabled = false\n",
    )
    .unwrap()
    .unwrap();
    let state = StateDir::new(state);
    std::fs::create_dir_all(state.root()).unwrap();
    let store = SqliteStore::open(&state.path("guard.db")).unwrap();
    let engine = rampart_guard::Guard::new(config, Vec::new());
    let allow = rampart_block::Allowlist::loopback();
    let mut d = Daemon::new(
        engine,
        store,
        Enforcer::new(state.clone(), Kernel::default()),
        allow,
    );
    let obs: Vec<rampart_guard::Observation> = (0..n)
        .map(|i| {
            let a = source(i);
            match log_observation(rampart_logs::Source::Sshd, line(i, a).as_bytes()) {
                LineObservation::Seen(o) => o,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let mut sink = Count(0, 0);
    let now = now_secs();
    let t = Instant::now();
    let mut it = obs.into_iter().peekable();
    while it.peek().is_some() {
        let batch: Vec<Msg> = it
            .by_ref()
            .take(rampart_guardd::MAX_BATCH)
            .map(|obs| Msg::Seen {
                obs,
                now,
                at: Instant::now(),
            })
            .collect();
        d.handle(batch, &mut sink);
    }
    let took = t.elapsed();
    let mut c = SetClient::open().unwrap();
    let k4 = c
        .list(&SetRef::inet("rampart_bans", "ban_4"))
        .unwrap()
        .len();
    let k6 = c
        .list(&SetRef::inet("rampart_bans", "ban_6"))
        .unwrap()
        .len();
    use rampart_guard::DecisionStore;
    let stored = d.store().active(now).unwrap().len();
    println!(
        "ban-rate: {} bans in {:.3} s = {:.0} bans/s (kernel holds {}, store holds {}, refused {})",
        sink.0,
        took.as_secs_f64(),
        sink.0 as f64 / took.as_secs_f64(),
        k4 + k6,
        stored,
        sink.1
    );
    assert_eq!(sink.0, n);
    assert_eq!((k4 + k6) as u64, n);
    assert_eq!(stored as u64, n);
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn peer_rate(n: u64) {
    run(Command::new("nft").args([
        "add table inet f2b; add set inet f2b addr-set-sshd { type ipv4_addr; flags timeout; }",
    ]));
    let t = Instant::now();
    for i in 0..n {
        let a = source(i % 762);
        run(Command::new("nft").arg(format!(
            "add element inet f2b addr-set-sshd {{ {a} timeout 600s }}"
        )));
    }
    let took = t.elapsed();
    println!(
        "peer-rate: fail2ban's nftables action (one `nft add element` each): {n} bans in {:.3} s = {:.0} bans/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    run(Command::new("nft").args(["delete table inet f2b"]));
    let t = Instant::now();
    for i in 0..n {
        let a = source(i % 762);
        run(Command::new("iptables").args(["-I", "INPUT", "-s", &a.to_string(), "-j", "DROP"]));
    }
    let took = t.elapsed();
    println!(
        "peer-rate: DDoS Deflate (one `iptables -I INPUT -s ADDR -j DROP` each): {n} bans in {:.3} s = {:.0} bans/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    run(Command::new("iptables").args(["-F", "INPUT"]));
}

fn reaction(log: &str, n: u64) {
    let mut c = SetClient::open().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    let mut times = Vec::new();
    let set = SetRef::inet("rampart_bans", "ban_4");
    for i in 0..n.min(762) {
        let a = source(i);
        for k in 0..4 {
            writeln!(f, "{}", line(i * 5 + k, a)).unwrap();
        }
        // Let the guard read the four (the 100 ms poll), so the fifth is timed alone.
        std::thread::sleep(Duration::from_millis(120));
        writeln!(f, "{}", line(i * 5 + 4, a)).unwrap();
        let t = Instant::now();
        loop {
            if let Ok(Some(_)) = c.get(&set, a) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{a} not banned within 10 s"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "reaction: log line written → kernel ban, {} sources: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3
    );
}

fn watch_ban(a: IpAddr, secs: u64) {
    let mut c = SetClient::open().unwrap();
    let set = SetRef::inet("rampart_bans", if a.is_ipv4() { "ban_4" } else { "ban_6" });
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if let Ok(Some(_)) = c.get(&set, a) {
            println!("{:.1}", t.elapsed().as_secs_f64() * 1e3);
            return;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    eprintln!("{a} not banned within {secs} s");
    std::process::exit(1);
}

fn main() {
    // It adds tables, bans and iptables rules and flushes INPUT: never in the machine's
    // own network namespace.
    if rampart_harden::Proc::system()
        .initial_netns()
        .unwrap_or(true)
    {
        eprintln!("guardbench: refusing to run in the machine's own network namespace; run scripts/bench-guard, or `ip netns exec NS guardbench …`");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ban-rate") => ban_rate(args[1].parse().unwrap(), &args[2]),
        Some("peer-rate") => peer_rate(args[1].parse().unwrap()),
        Some("reaction") => reaction(&args[1], args[2].parse().unwrap()),
        Some("watch-ban") => watch_ban(args[1].parse().unwrap(), args[2].parse().unwrap()),
        _ => {
            eprintln!("usage: guardbench ban-rate N STATE | peer-rate N | reaction LOG N | watch-ban ADDR SECS");
            std::process::exit(2);
        }
    }
}
