//! The blog post's benchmark in the lab: sequential HTTP requests for a 10 KiB file from a
//! client namespace to a server namespace, while the server's INPUT hook holds N blocked
//! addresses as (a) N linear `iptables -A INPUT -s X -j DROP` rules, (b) one ipset of N
//! plus one `-m set` rule, (c) one nft set of N in rampart's table. Run by
//! `scripts/bench-http` (root).
//!
//! ```text
//!  cli ns 192.0.2.2 ──veth── srv ns 192.0.2.1:8080 (HTTP server thread, this process)
//!   Rust client thread:            INPUT: nothing | N rules | ipset rule | nft set
//!   connect / first byte / complete timed per request
//! ```
//!
//! Every point gets a fresh pair of namespaces and measures twice: first with no rules
//! (the paired baseline), then with the N addresses loaded; the machine is shared, so
//! ratios are taken against the baseline measured a second earlier in the same lab.
//!
//! The blocked addresses are DATA only: the documentation ranges cannot hold 50k (or 1M)
//! distinct addresses, so they are 10.0.0.0/8 addresses (a bijection of the index onto
//! the /8's 2^24 hosts) that are loaded into rules and sets and never configured, routed,
//! or used as the source or destination of any packet. All traffic is between 192.0.2.1
//! and 192.0.2.2 inside the two namespaces, which are removed after each point.
//!
//! The whole plan runs `--rounds` times, points interleaved, so a burst of load from
//! other work on the machine spreads over all points instead of spoiling one. The summary
//! pools a point's rounds for the latencies; its ratio to no rules is the median over the
//! rounds of each round's paired ratio (loaded median / baseline median), with the
//! rounds' spread, so one disturbed round cannot move it.
//!
//! Raw rows are whole microseconds (the summary is computed from the unrounded times).
//!
//! Usage: `bench_http OUT_DIR [--requests N] [--rounds R] [--sizes 0,1000,...] [--big N]
//! [--variants rules,ipset,nft]`; writes `OUT_DIR/requests.csv` (one row per request) and
//! `OUT_DIR/summary.csv` (median and p99 per point and phase, rounds pooled).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use rampart_lab::Lab;
use rampart_nft::{compile, CompileOptions};
use rampart_ruleset::{
    print_sets, to_save, Action, Family, IpSet, Match, Neg, Rule, RuleSpec, Ruleset, SetDir,
    SetEntry, SetKind, SetMatch, TableKind, Target,
};

const SERVER: &str = "192.0.2.1";
const CLIENT: &str = "192.0.2.2";
const PORT: u16 = 8080;
/// The file the blog post fetched: 10 KiB.
const BODY_LEN: usize = 10 * 1024;
/// Requests before each measured phase (connection setup paths, caches, ARP).
const WARMUP: usize = 200;
/// Most requests per phase: keeps a point bounded in time (and in ephemeral ports).
const MAX_REQUESTS: usize = 20_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Rules,
    Ipset,
    Nft,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Rules => "rules",
            Variant::Ipset => "ipset",
            Variant::Nft => "nft",
        }
    }
}

/// One request's times from the start of `connect`, in microseconds.
#[derive(Clone, Copy)]
struct Sample {
    connect: f64,
    first_byte: f64,
    complete: f64,
}

struct Args {
    out: PathBuf,
    requests: usize,
    rounds: usize,
    sizes: Vec<usize>,
    big: Option<usize>,
    variants: Vec<Variant>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        out: PathBuf::from("bench/http"),
        requests: 600,
        rounds: 5,
        sizes: vec![0, 1_000, 10_000, 50_000],
        big: Some(1_000_000),
        variants: vec![Variant::Rules, Variant::Ipset, Variant::Nft],
    };
    let mut it = std::env::args().skip(1);
    let mut out = None;
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--requests" => {
                args.requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?;
                if args.requests == 0 || args.requests > MAX_REQUESTS {
                    return Err(format!("--requests: 1 to {MAX_REQUESTS}"));
                }
            }
            "--rounds" => {
                args.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?;
                if !(1..=10).contains(&args.rounds) {
                    return Err("--rounds: 1 to 10".into());
                }
            }
            "--sizes" => {
                args.sizes = value()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--sizes {s}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--big" => {
                let v: usize = value()?.parse().map_err(|e| format!("--big: {e}"))?;
                args.big = (v > 0).then_some(v);
            }
            "--variants" => {
                args.variants = value()?
                    .split(',')
                    .map(|v| match v {
                        "rules" => Ok(Variant::Rules),
                        "ipset" => Ok(Variant::Ipset),
                        "nft" => Ok(Variant::Nft),
                        _ => Err(format!("unknown variant {v}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            _ if !a.starts_with('-') && out.is_none() => out = Some(PathBuf::from(a)),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if let Some(o) = out {
        args.out = o;
    }
    Ok(args)
}

/// The i-th blocked address: data only, never used for traffic (see the module doc).
/// `i * odd mod 2^24` is a bijection, so the first 2^24 are distinct.
fn blocked(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | ((i as u32).wrapping_mul(0x9E37_79B1) & 0x00ff_ffff))
}

fn drop_rule(source: Option<Ipv4Addr>, set: Option<&str>) -> Rule {
    let mut spec = RuleSpec {
        source: source.map(|a| Neg::plain(rampart_prefix::Prefix::host(a.into()))),
        action: Some(Action::Jump(Target::Drop)),
        ..RuleSpec::default()
    };
    if let Some(name) = set {
        spec.matches.push(Match::Set(SetMatch {
            name: name.to_string(),
            dirs: vec![SetDir::Src],
            negated: false,
        }));
    }
    Rule {
        spec,
        counters: Default::default(),
        span: None,
    }
}

/// The ruleset of a point, in rampart's one model: N rules, or one set and one rule.
fn ruleset(variant: Variant, n: usize) -> Ruleset {
    let mut rs = Ruleset::default();
    let input = rs
        .table_mut(Family::Ipv4, TableKind::Filter)
        .chain_mut("INPUT")
        .expect("filter has INPUT");
    match variant {
        Variant::Rules => input.rules = (0..n).map(|i| drop_rule(Some(blocked(i)), None)).collect(),
        Variant::Ipset | Variant::Nft => {
            input.rules = vec![drop_rule(None, Some("blocked"))];
            rs.sets.push(IpSet {
                name: "blocked".into(),
                kind: SetKind::HashIp,
                family: Family::Ipv4,
                timeout: None,
                // ipset's default maxelem (65536) would fill silently at 1M.
                maxelem: Some(n.max(65_536).next_power_of_two() as u32),
                hashsize: Some((n / 4).clamp(1024, 1 << 20).next_power_of_two() as u32),
                port_range: None,
                flags: Vec::new(),
                entries: (0..n)
                    .map(|i| SetEntry {
                        addr: Some(rampart_prefix::Prefix::host(blocked(i).into())),
                        ..SetEntry::default()
                    })
                    .collect(),
                span: None,
            });
        }
    }
    rs
}

/// Runs `program args` inside `role` with `input` on stdin; no time limit (a 1M-element
/// load takes seconds), output to our stderr on failure.
fn run_in(lab: &Lab, role: &str, program: &str, args: &[&str], input: &str) -> io::Result<()> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut child = lab
        .command(role, program, &args)?
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let text = input.to_string();
    let writer = thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Loads the point's ruleset into the server namespace; returns the seconds it took and
/// how the kernel was given it.
fn load(lab: &Lab, variant: Variant, n: usize) -> io::Result<f64> {
    let rs = ruleset(variant, n);
    let started = Instant::now();
    match variant {
        Variant::Rules => run_in(
            lab,
            "srv",
            "iptables-restore",
            &[],
            &to_save(&rs, Family::Ipv4, false),
        )?,
        Variant::Ipset => {
            run_in(lab, "srv", "ipset", &["restore"], &print_sets(&rs))?;
            let mut no_sets = rs.clone();
            no_sets.sets.clear();
            run_in(
                lab,
                "srv",
                "iptables-restore",
                &[],
                &to_save(&no_sets, Family::Ipv4, false),
            )?;
        }
        Variant::Nft => {
            let script = compile(&rs, &CompileOptions::default())
                .map_err(|e| io::Error::other(format!("{e:?}")))?;
            run_in(lab, "srv", "nft", &["-f", "-"], script.text())?;
        }
    }
    let took = started.elapsed().as_secs_f64();
    verify(lab, variant, n)?;
    Ok(took)
}

/// Checks that the kernel holds what was loaded (counted outside the timed load).
fn verify(lab: &Lab, variant: Variant, n: usize) -> io::Result<()> {
    let held = match variant {
        Variant::Rules => lab
            .exec("srv", &["iptables-save", "-t", "filter"])?
            .lines()
            .filter(|l| l.starts_with("-A INPUT -s 10."))
            .count(),
        Variant::Ipset => lab
            .exec("srv", &["ipset", "list", "blocked", "-t"])?
            .lines()
            .find_map(|l| l.strip_prefix("Number of entries: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
        // The nft CLI reads every set's elements before any listing, which takes over
        // 10 s with 1M elements; `nft -f` is one transaction (all loaded or failed), so
        // above 100k only its exit status is the check. Below, the rule must be there.
        Variant::Nft if n > 100_000 => n,
        Variant::Nft => {
            let table = lab.exec(
                "srv",
                &["nft", "list", "chain", "inet", "rampart", "ip_filter_INPUT"],
            )?;
            if table.contains("ip saddr @blocked") {
                n
            } else {
                0
            }
        }
    };
    if held != n {
        return Err(io::Error::other(format!(
            "{}: the kernel holds {held} of {n}",
            variant.name()
        )));
    }
    Ok(())
}

/// Enters namespace `ns` on the current thread.
fn enter(ns: &str) -> io::Result<()> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// The server: one connection at a time, reads a request, answers 200 with the body,
/// closes. `GET /quit` ends it.
fn serve(ns: String, ready: std::sync::mpsc::Sender<io::Result<()>>) -> io::Result<()> {
    let listener = enter(&ns).and_then(|()| TcpListener::bind((SERVER, PORT)));
    let listener = match listener {
        Ok(l) => {
            let _ = ready.send(Ok(()));
            l
        }
        Err(e) => {
            let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
    };
    let mut response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {BODY_LEN}\r\n\r\n"
    )
    .into_bytes();
    response.extend((0..BODY_LEN).map(|i| b'a' + (i % 26) as u8));
    let mut buf = [0u8; 1024];
    loop {
        let (mut conn, _) = listener.accept()?;
        conn.set_nodelay(true)?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.starts_with(b"GET /quit") {
            return Ok(());
        }
        conn.write_all(&response)?;
    }
}

/// One request: connect, send, first byte, read to EOF.
fn request(addr: SocketAddr, path: &str) -> io::Result<Sample> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    let connect = t0.elapsed();
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {SERVER}\r\n\r\n").as_bytes())?;
    let mut buf = [0u8; 16 * 1024];
    let mut n = s.read(&mut buf)?;
    let first_byte = t0.elapsed();
    let mut total = n;
    while n > 0 {
        n = s.read(&mut buf)?;
        total += n;
    }
    let complete = t0.elapsed();
    if total < BODY_LEN {
        return Err(io::Error::other(format!("short response: {total} bytes")));
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Ok(Sample {
        connect: us(connect),
        first_byte: us(first_byte),
        complete: us(complete),
    })
}

/// `count` sequential requests from the client namespace, after a warm-up.
fn measure(cli_ns: &str, count: usize) -> io::Result<Vec<Sample>> {
    let ns = cli_ns.to_string();
    thread::spawn(move || {
        enter(&ns)?;
        let addr: SocketAddr = (SERVER.parse::<Ipv4Addr>().expect("literal"), PORT).into();
        for _ in 0..WARMUP {
            request(addr, "/file")?;
        }
        (0..count).map(|_| request(addr, "/file")).collect()
    })
    .join()
    .map_err(|_| io::Error::other("client panicked"))?
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

struct Point {
    variant: &'static str,
    n: usize,
    load_s: f64,
    base: Vec<Sample>,
    loaded: Vec<Sample>,
    /// Per round: median complete time loaded / median complete time of its baseline.
    ratios: Vec<f64>,
}

fn median_complete(samples: &[Sample]) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(|s| s.complete).collect();
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

fn point(variant: Variant, n: usize, requests: usize) -> io::Result<Point> {
    let mut lab = Lab::new()?;
    lab.add_ns("srv")?;
    lab.add_ns("cli")?;
    lab.veth("cli", "eth0", "srv", "eth0")?;
    lab.addr("srv", "eth0", &format!("{SERVER}/24"))?;
    lab.addr("cli", "eth0", &format!("{CLIENT}/24"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let srv_ns = lab.ns("srv")?.to_string();
    let server = thread::spawn(move || serve(srv_ns, tx));
    rx.recv().map_err(|_| io::Error::other("server died"))??;
    let cli_ns = lab.ns("cli")?.to_string();
    let result = (|| {
        let base = measure(&cli_ns, requests)?;
        let none = variant == Variant::Rules && n == 0;
        let load_s = if none { 0.0 } else { load(&lab, variant, n)? };
        let loaded = measure(&cli_ns, requests)?;
        Ok(Point {
            variant: if none { "none" } else { variant.name() },
            n,
            load_s,
            ratios: vec![median_complete(&loaded) / median_complete(&base)],
            base,
            loaded,
        })
    })();
    // Stop the server with a last request (its INPUT rules never block the client).
    let quit = cli_ns.clone();
    let _ = thread::spawn(move || {
        enter(&quit)?;
        let addr: SocketAddr = (SERVER.parse::<Ipv4Addr>().expect("literal"), PORT).into();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.write_all(b"GET /quit HTTP/1.0\r\n\r\n")
    })
    .join();
    let _ = server.join();
    drop(lab);
    result
}

fn main() -> io::Result<()> {
    let args = parse_args().map_err(io::Error::other)?;
    if !rampart_lab::is_root() {
        eprintln!("bench_http: needs root (network namespaces)");
        std::process::exit(2);
    }
    std::fs::create_dir_all(&args.out)?;
    let mut plan: Vec<(Variant, usize)> = Vec::new();
    if args.sizes.contains(&0) {
        // No rules at all, then each set variant with an EMPTY set and its one rule: the
        // fixed cost of having a hook, a rule and a lookup, whatever the set holds.
        for &v in &args.variants {
            plan.push((v, 0));
        }
    }
    for &n in args.sizes.iter().filter(|&&n| n > 0) {
        for &v in &args.variants {
            plan.push((v, n));
        }
    }
    if let Some(big) = args.big {
        for &v in args.variants.iter().filter(|v| **v != Variant::Rules) {
            plan.push((v, big));
        }
    }
    let mut raw = BufWriter::new(File::create(args.out.join("requests.csv"))?);
    writeln!(
        raw,
        "variant,n,round,phase,request,connect_us,first_byte_us,complete_us"
    )?;
    let mut summary = String::from(
        "variant,n,max_load_s,phase,requests,connect_median_us,connect_p99_us,first_byte_median_us,\
         first_byte_p99_us,complete_median_us,complete_p99_us,ratio_median,ratio_min,ratio_max\n",
    );
    let mut points: Vec<Point> = Vec::new();
    for round in 0..args.rounds {
        for &(variant, n) in &plan {
            let started = Instant::now();
            let p = point(variant, n, args.requests)?;
            for (phase, samples) in [("base", &p.base), ("loaded", &p.loaded)] {
                for (i, s) in samples.iter().enumerate() {
                    writeln!(
                        raw,
                        "{},{},{round},{phase},{i},{:.0},{:.0},{:.0}",
                        p.variant, p.n, s.connect, s.first_byte, s.complete
                    )?;
                }
            }
            eprintln!(
                "round {round} {:>5} N={:<8} load {:>6.2}s, point took {:.1}s",
                p.variant,
                p.n,
                p.load_s,
                started.elapsed().as_secs_f64()
            );
            match points
                .iter_mut()
                .find(|q| q.variant == p.variant && q.n == p.n)
            {
                Some(q) => {
                    q.load_s = q.load_s.max(p.load_s);
                    q.base.extend(p.base);
                    q.loaded.extend(p.loaded);
                    q.ratios.extend(p.ratios);
                }
                None => points.push(p),
            }
        }
    }
    for p in &mut points {
        p.ratios.sort_by(f64::total_cmp);
        let ratio = quantile(&p.ratios, 0.5);
        let (lo, hi) = (p.ratios[0], p.ratios[p.ratios.len() - 1]);
        for (phase, samples) in [("base", &p.base), ("loaded", &p.loaded)] {
            let stats = |f: fn(&Sample) -> f64| {
                let mut v: Vec<f64> = samples.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                (quantile(&v, 0.5), quantile(&v, 0.99))
            };
            let (cm, cp) = stats(|s| s.connect);
            let (fm, fp) = stats(|s| s.first_byte);
            let (om, op) = stats(|s| s.complete);
            let _ = writeln!(
                summary,
                "{},{},{:.2},{phase},{},{cm:.1},{cp:.1},{fm:.1},{fp:.1},{om:.1},{op:.1},\
                 {ratio:.3},{lo:.3},{hi:.3}",
                p.variant,
                p.n,
                p.load_s,
                samples.len()
            );
            eprintln!(
                "{:>5} N={:<8} {phase:<6} load {:>6.2}s connect {cm:>7.1}/{cp:>7.1} µs  \
                 first byte {fm:>7.1}/{fp:>7.1} µs  complete {om:>7.1}/{op:>7.1} µs (median/p99)",
                p.variant, p.n, p.load_s
            );
        }
    }
    raw.flush()?;
    std::fs::write(args.out.join("summary.csv"), summary)?;
    Ok(())
}
