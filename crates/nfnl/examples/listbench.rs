//! A million IPv4 CIDRs into an interval set: `SetClient::replace` (one netlink
//! transaction: flush + elements) beside `nft -f` and `ipset restore` of the same CIDRs.
//! Prints the figures for BENCHMARKS.md ("Set elements over netlink", list loads).
//!
//! ```text
//! cargo build --release -p rampart-nfnl --example listbench
//! target/release/examples/listbench gen DIR [N]   # writes DIR/cidrs.txt, load.nft, ipset.txt
//! unshare -n target/release/examples/listbench load DIR/cidrs.txt   # (root) our load
//! scripts/listbench.sh                            # all three tools, timed, in one run
//! ```
//!
//! The data (set contents, never traffic): every country's IPv4 ranges from Debian's
//! tor-geoipdb (`/usr/share/tor/geoip`), read with `rampart_lists::read_tor_geoip` and
//! aggregated per country to CIDRs (the lists `rampart block country` would load for all
//! countries at once; the ranges of different countries never overlap), then, to reach N
//! (default 1,000,000), every other /32 from 240.0.0.0 (class E, in no country), so no two
//! synthetic elements are adjacent and none touches a country CIDR.
//!
//! `load FILE --ranges` loads the same addresses the way `rampart block` loads a list: the
//! CIDRs aggregated into a `PrefixSet`, one interval per range.
//!
//! `load` must run in a network namespace of its own (`unshare -n`); it refuses to run
//! where the table `inet rampart` already exists. It creates `table inet rampart` with
//! `set bl_bench_4 { type ipv4_addr; flags interval; }`, reads the CIDRs, then:
//! (1) replaces the empty set's contents with them, (2) replaces them again (a reload onto
//! a full set: the kernel drops 1M and inserts 1M in one commit). For each it prints the
//! time spent encoding (until the batch is complete) and in the kernel (sendmsg until the
//! final ACK), and at the end the process's peak RSS (`VmHWM`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write as _};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Instant;

use rampart_nfnl::{Element, SetClient, SetRef};
use rampart_prefix::{Prefix, PrefixSet};

const SET: &str = "bl_bench_4";
const SETUP: &str =
    "table inet rampart {\n  set bl_bench_4 { type ipv4_addr; flags interval; }\n}\n";
/// Elements per `add element` statement in the nft file, as `rampart block` wrote them.
const PER_STATEMENT: usize = 4096;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") => {
            let dir = std::path::PathBuf::from(args.get(2).expect("gen DIR [N]"));
            let n = args.get(3).map_or(1_000_000, |n| n.parse().expect("N"));
            gen(&dir, n);
        }
        Some("load") => load(
            args.get(2).expect("load FILE [--ranges]"),
            args.get(3).is_some_and(|a| a == "--ranges"),
        ),
        _ => {
            eprintln!("usage: listbench gen DIR [N] | listbench load FILE");
            std::process::exit(2);
        }
    }
}

fn gen(dir: &std::path::Path, n: usize) {
    let geoip = std::fs::read("/usr/share/tor/geoip").expect("apt-get install tor-geoipdb");
    let got = rampart_lists::read_tor_geoip(&geoip[..], "geoip", Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut per_country: BTreeMap<String, PrefixSet> = BTreeMap::new();
    let mut all = PrefixSet::new();
    for (r, c) in got.items {
        per_country
            .entry(c.as_str().to_string())
            .or_default()
            .insert_range(r);
        all.insert_range(r);
    }
    let mut cidrs: Vec<Prefix> = Vec::new();
    for set in per_country.values() {
        cidrs.extend(set.prefixes().into_iter().filter(|p| p.is_ipv4()));
    }
    let countries = cidrs.len();
    let mut a = u32::from(Ipv4Addr::new(240, 0, 0, 0));
    while cidrs.len() < n {
        let ip = Ipv4Addr::from(a);
        assert!(!all.contains(ip.into()), "{ip} is in a country");
        cidrs.push(Prefix::host(ip.into()));
        a = a.checked_add(2).expect("room in 240.0.0.0/4");
    }
    cidrs.truncate(n);
    cidrs.sort();
    std::fs::create_dir_all(dir).unwrap();
    let mut txt = BufWriter::new(std::fs::File::create(dir.join("cidrs.txt")).unwrap());
    let mut nft = BufWriter::new(std::fs::File::create(dir.join("load.nft")).unwrap());
    let mut ipset = BufWriter::new(std::fs::File::create(dir.join("ipset.txt")).unwrap());
    writeln!(nft, "flush set inet rampart {SET}").unwrap();
    writeln!(
        ipset,
        "create {SET} hash:net family inet hashsize 1048576 maxelem {}",
        n.max(65536) * 2
    )
    .unwrap();
    for chunk in cidrs.chunks(PER_STATEMENT) {
        write!(nft, "add element inet rampart {SET} {{ ").unwrap();
        for (i, p) in chunk.iter().enumerate() {
            let sep = if i + 1 == chunk.len() { " }\n" } else { ", " };
            write!(nft, "{p}{sep}").unwrap();
        }
    }
    for p in &cidrs {
        writeln!(txt, "{p}").unwrap();
        writeln!(ipset, "add {SET} {p}").unwrap();
    }
    let synthetic = n - countries.min(n);
    eprintln!(
        "{n} IPv4 CIDRs: {} from {} countries of /usr/share/tor/geoip (aggregated per country), {synthetic} synthetic /32s from 240.0.0.0 (every other address)",
        countries.min(n),
        per_country.len()
    );
}

fn load(file: &str, ranges: bool) {
    let t0 = Instant::now();
    let set = SetRef::inet("rampart", SET);
    let mut client = SetClient::open().expect("netlink socket");
    if client.info(&set).is_ok() {
        panic!("table inet rampart already has {SET}: run in a fresh namespace (unshare -n)");
    }
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(SETUP.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let elements: Vec<Element> = BufReader::new(std::fs::File::open(file).expect("CIDR file"))
        .lines()
        .map(|l| Element::from(l.unwrap().trim().parse::<Prefix>().expect("a CIDR")))
        .collect();
    let elements = if ranges {
        // As `rampart block` loads a list: one interval per range of the aggregated set.
        let set: PrefixSet = elements
            .iter()
            .map(|e| match e {
                Element::Prefix(p) => *p,
                _ => unreachable!("the file holds CIDRs"),
            })
            .collect();
        set.ranges().map(Element::from).collect()
    } else {
        elements
    };
    let read = t0.elapsed();
    println!(
        "read {} {} in {:.2} s; peak RSS so far {} MiB",
        elements.len(),
        if ranges {
            "ranges (the CIDRs joined)"
        } else {
            "CIDRs"
        },
        read.as_secs_f64(),
        peak_rss_kib() / 1024
    );
    for what in [
        "replace into the empty set",
        "replace again (reload onto the full set)",
    ] {
        let start = Instant::now();
        let mut encoded_at = None;
        client
            .replace_sets(&[(&set, &elements)], &mut |n| {
                if n == elements.len() {
                    encoded_at = Some(start.elapsed());
                }
            })
            .expect("replace");
        let total = start.elapsed();
        let encode = encoded_at.expect("progress at the end");
        println!(
            "{what}: {:.2} s (encoding {:.3} s, kernel {:.2} s); peak RSS so far {} MiB",
            total.as_secs_f64(),
            encode.as_secs_f64(),
            (total - encode).as_secs_f64(),
            peak_rss_kib() / 1024
        );
    }
    println!("peak RSS {} MiB", peak_rss_kib() / 1024);
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
