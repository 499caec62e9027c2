//! A million IPv4 list entries that do not aggregate, loaded three ways: all into one
//! interval set, singles into a plain hash set and prefixes into an interval set (one
//! transaction), and `ipset restore` into `hash:net`. Prints wall time and peak RSS of
//! each (`/usr/bin/time -v`) for BENCHMARKS.md ("Set elements over netlink", list loads).
//!
//! ```text
//! cargo build --release -p rampart-nfnl --example splitbench
//! sudo target/release/examples/splitbench run [N]        # N = 1,000,000
//! ```
//!
//! Root only. Each load runs in a network namespace of its own (a thread that
//! `unshare`s CLONE_NEWNET, and the processes it starts), so the machine's own ruleset
//! and ipsets are never touched.
//!
//! The entries (set contents, never traffic): 80 % single addresses, 20 % prefixes of
//! length /16 to /28 (each length twice as likely as the next shorter one), placed
//! upwards from 1.0.0.0 with a pseudo-random gap of 1 to 2,000 addresses after each, so
//! none overlap and none touch: nothing aggregates.
//!
//! Subcommands (`run` calls them under `/usr/bin/time -v`):
//! - `gen FILE N`: writes the entries, one per line (`192.0.2.1`, `198.51.100.0/24`);
//! - `interval FILE`: `table inet rampart { set all4 { type ipv4_addr; flags interval; } }`
//!   and `SetClient::replace_sets` of every entry into it;
//! - `split FILE`: `set single4 { type ipv4_addr; }` and `set nets4 { type ipv4_addr;
//!   flags interval; }`, both filled by one `SetClient::replace_sets` (one transaction);
//! - `ipset FILE OUT`: writes the `ipset restore` input (create + add lines).

use std::io::{BufRead, BufReader, BufWriter, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};
use rampart_nfnl::{Element, SetClient, SetRef};
use rampart_prefix::Prefix;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(1) {
        Some("gen") => gen(
            Path::new(arg(2).expect("FILE")),
            arg(3).map_or(1_000_000, |n| n.parse().expect("N")),
        ),
        Some("interval") => load(Path::new(arg(2).expect("FILE")), false),
        Some("split") => load(Path::new(arg(2).expect("FILE")), true),
        Some("ipset") => ipset_input(
            Path::new(arg(2).expect("FILE")),
            Path::new(arg(3).expect("OUT")),
        ),
        Some("run") => run(arg(2).map_or(1_000_000, |n| n.parse().expect("N"))),
        _ => {
            eprintln!("usage: splitbench run [N] | gen FILE N | interval FILE | split FILE | ipset FILE OUT");
            std::process::exit(2);
        }
    }
}

fn gen(path: &Path, n: usize) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut at: u64 = u64::from(u32::from(Ipv4Addr::new(1, 0, 0, 0)));
    for _ in 0..n {
        let r = next();
        let len = if r % 10 < 8 {
            32
        } else {
            // P(len) ∝ 2^(len-16) for len in 16..=28.
            let pick = (r >> 8) % 8191;
            (16..=28u64)
                .rev()
                .fold((28u32, 0u64), |(found, acc), l| {
                    let w = 1u64 << (l - 16);
                    if acc <= pick && pick < acc + w {
                        (l as u32, acc + w)
                    } else {
                        (found, acc + w)
                    }
                })
                .0
        };
        let size = 1u64 << (32 - len);
        at = at.div_ceil(size) * size;
        assert!(at + size < 1 << 32, "address space exhausted");
        let a = Ipv4Addr::from(at as u32);
        if len == 32 {
            writeln!(out, "{a}").unwrap();
        } else {
            writeln!(out, "{a}/{len}").unwrap();
        }
        at += size + 1 + (r >> 40) % 2000;
    }
    out.flush().unwrap();
}

fn read(path: &Path) -> Vec<Prefix> {
    let f = BufReader::new(std::fs::File::open(path).expect("open"));
    f.lines()
        .map(|l| {
            let l = l.unwrap();
            if l.contains('/') {
                l.parse().expect("prefix")
            } else {
                Prefix::host(l.parse::<IpAddr>().expect("address"))
            }
        })
        .collect()
}

fn nft_f(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft -f");
}

fn load(path: &Path, split: bool) {
    if Command::new("nft")
        .args(["list", "table", "inet", "rampart"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        panic!("table inet rampart exists here: run in a namespace of its own (unshare -n)");
    }
    nft_f("table inet rampart {\n  set all4 { type ipv4_addr; flags interval; }\n  set single4 { type ipv4_addr; }\n  set nets4 { type ipv4_addr; flags interval; }\n}\n");
    let t = Instant::now();
    let entries = read(path);
    let (singles, nets): (Vec<Element>, Vec<Element>) = if split {
        let (s, n): (Vec<Prefix>, Vec<Prefix>) = entries.iter().partition(|p| p.is_host());
        (
            s.into_iter().map(Element::from).collect(),
            n.into_iter().map(Element::from).collect(),
        )
    } else {
        (
            Vec::new(),
            entries.iter().copied().map(Element::from).collect(),
        )
    };
    drop(entries);
    let parsed = t.elapsed();
    let mut c = SetClient::open().expect("socket");
    let t = Instant::now();
    let (all4, single4, nets4) = (
        SetRef::inet("rampart", "all4"),
        SetRef::inet("rampart", "single4"),
        SetRef::inet("rampart", "nets4"),
    );
    if split {
        c.replace_sets(&[(&single4, &singles), (&nets4, &nets)], &mut |_| {})
            .expect("load");
    } else {
        c.replace_sets(&[(&all4, &nets)], &mut |_| {})
            .expect("load");
    }
    let kernel = t.elapsed();
    // A spot check that the sets answer.
    let check = |c: &mut SetClient, set: &SetRef, e: &Element| {
        let Element::Prefix(p) = e else { return };
        assert!(c.get(set, p.addr()).expect("get").is_some(), "{e} in {set}");
    };
    if split {
        check(&mut c, &single4, &singles[singles.len() / 2]);
        check(&mut c, &nets4, &nets[nets.len() / 2]);
    } else {
        check(&mut c, &all4, &nets[nets.len() / 2]);
    }
    let what = if split {
        format!("{} singles + {} prefixes", singles.len(), nets.len())
    } else {
        format!("{} entries in one set", nets.len())
    };
    eprintln!(
        "SPLITBENCH {what}: read {:.2} s, replace_sets {:.2} s (rest: nft -f of the empty table, process start)",
        parsed.as_secs_f64(),
        kernel.as_secs_f64()
    );
}

fn ipset_input(path: &Path, out: &Path) {
    let entries = read(path);
    let mut w = BufWriter::new(std::fs::File::create(out).expect("create"));
    writeln!(
        w,
        "create bench4 hash:net family inet hashsize 1048576 maxelem {}",
        entries.len() * 2
    )
    .unwrap();
    for p in entries {
        writeln!(w, "add bench4 {p}").unwrap();
    }
    w.flush().unwrap();
}

fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET): run as root");
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// `/usr/bin/time -v cmd args`: wall time, peak RSS in MiB, and the command's stderr.
fn time_v(cmd: &str, args: &[&str]) -> (Duration, f64, String) {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(cmd)
        .args(args)
        .output()
        .expect("/usr/bin/time (apt-get install time)");
    let wall = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd} {args:?}: {err}");
    let kib: f64 = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    (wall, kib / 1024.0, err)
}

fn run(n: usize) {
    let dir = std::env::temp_dir().join(format!("rampart-splitbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let entries = dir.join("entries.txt");
    let restore = dir.join("ipset.txt");
    gen(&entries, n);
    ipset_input(&entries, &restore);
    let me = std::env::current_exe().unwrap();
    let me = me.to_str().unwrap().to_owned();
    let e = entries.to_str().unwrap().to_owned();
    let mut rows = Vec::new();
    for (name, sub) in [
        ("(a) one interval set, SetClient::replace_sets", "interval"),
        (
            "(b) hash set (singles) + interval set (prefixes), one replace_sets",
            "split",
        ),
    ] {
        let (me, e) = (me.clone(), e.clone());
        let (wall, rss, err) = in_netns(move || time_v(&me, &[sub, &e]));
        let detail = err
            .lines()
            .find_map(|l| l.strip_prefix("SPLITBENCH "))
            .unwrap_or("")
            .to_owned();
        rows.push((name.to_owned(), wall, rss, detail));
    }
    let r = restore.to_str().unwrap().to_owned();
    let (wall, rss, _) = in_netns(move || {
        let got = time_v("ipset", &["restore", "-file", &r]);
        let _ = Command::new("ipset").args(["destroy", "bench4"]).status();
        got
    });
    rows.push((
        "(c) ipset restore, hash:net".to_owned(),
        wall,
        rss,
        String::new(),
    ));
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "N = {n} IPv4 entries, 80 % single addresses, 20 % /16–/28, none overlapping or adjacent\n"
    );
    println!("| load | wall | peak RSS | detail |\n|---|---|---|---|");
    for (name, wall, rss, detail) in rows {
        println!(
            "| {name} | {:.2} s | {rss:.0} MiB | {detail} |",
            wall.as_secs_f64()
        );
    }
}
