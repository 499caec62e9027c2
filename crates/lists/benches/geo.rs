//! GeoIP against the whole tor-geoipdb (v4 + v6): lookups per second in our `PrefixMap`
//! beside the `maxminddb` crate's reader on the same data (written as an `.mmdb` by
//! `write_country_mmdb`), loading, and aggregating every country into minimal CIDRs.
//!
//! Needs /usr/share/tor/geoip and geoip6 (`apt-get install tor-geoipdb`).
//! Run: `cargo bench -p rampart-lists --bench geo`.
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rampart_lists::{read_tor_geoip, write_country_mmdb, Country, ImportOptions};
use rampart_prefix::{AddrRange, PrefixMap, PrefixSet};

const GEOIP: &str = "/usr/share/tor/geoip";
const GEOIP6: &str = "/usr/share/tor/geoip6";
/// Addresses per measured batch.
const N: usize = 1 << 20;

fn read(path: &str) -> Vec<(AddrRange, Country)> {
    let text =
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; apt-get install tor-geoipdb"));
    read_tor_geoip(&text[..], path, ImportOptions::default())
        .expect("tor-geoipdb parses")
        .items
}

/// xorshift64*: deterministic addresses without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// IPv4: uniform over the whole space. IPv6: uniform over the database's own ranges (a
/// uniform 128-bit address would almost never fall in allocated space), with a random
/// offset inside the range.
fn addresses(v6_ranges: &[AddrRange], rng: &mut Rng) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let v4 = (0..N)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.next() as u32)))
        .collect();
    let v6 = (0..N)
        .map(|_| {
            let r = v6_ranges[rng.next() as usize % v6_ranges.len()];
            let (IpAddr::V6(s), IpAddr::V6(e)) = (r.start(), r.end()) else {
                unreachable!()
            };
            let (s, e) = (u128::from(s), u128::from(e));
            let off = (u128::from(rng.next()) << 64 | u128::from(rng.next())) % (e - s + 1).max(1);
            IpAddr::V6(Ipv6Addr::from(s + off))
        })
        .collect();
    (v4, v6)
}

fn geo(c: &mut Criterion) {
    let v4 = read(GEOIP);
    let v6 = read(GEOIP6);
    let map: PrefixMap<Country> = v4.iter().chain(&v6).copied().collect();
    eprintln!(
        "tor-geoipdb: {} IPv4 + {} IPv6 ranges -> {} maximal ranges, {} countries, tables {} KiB",
        v4.len(),
        v6.len(),
        map.range_count(),
        map.values().len(),
        map.table_bytes() / 1024
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let v6_ranges: Vec<AddrRange> = v6.iter().map(|r| r.0).collect();
    let (a4, a6) = addresses(&v6_ranges, &mut rng);
    let mixed: Vec<IpAddr> = a4
        .iter()
        .zip(&a6)
        .flat_map(|(a, b)| [*a, *b])
        .take(N)
        .collect();

    let mut g = c.benchmark_group("geo lookup");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    for (name, addrs) in [("IPv4", &a4), ("IPv6", &a6), ("mixed", &mixed)] {
        g.bench_function(format!("PrefixMap {name}"), |b| {
            b.iter(|| {
                let mut hits = 0usize;
                for &a in addrs.iter() {
                    hits += map.get_index(a).map_or(0, |i| i + 1);
                }
                black_box(hits)
            })
        });
    }
    // Peer: the maxminddb crate's tree walk over the same data.
    let mmdb = write_country_mmdb(&map, 0);
    eprintln!("generated .mmdb: {} MiB", mmdb.len() >> 20);
    let reader = maxminddb::Reader::from_source(mmdb).expect("our .mmdb reads back");
    for (name, addrs) in [("IPv4", &a4), ("IPv6", &a6)] {
        g.bench_function(
            format!("maxminddb crate {name} (tree walk, no decode)"),
            |b| {
                b.iter(|| {
                    let mut hits = 0usize;
                    for &a in addrs.iter() {
                        hits +=
                            usize::from(reader.lookup(a).map(|r| r.has_data()).unwrap_or(false));
                    }
                    black_box(hits)
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("geo tables");
    g.sample_size(10);
    let geoip_text = std::fs::read(GEOIP).unwrap();
    let geoip6_text = std::fs::read(GEOIP6).unwrap();
    g.bench_function("parse geoip + geoip6", |b| {
        b.iter(|| {
            let a = read_tor_geoip(&geoip_text[..], GEOIP, ImportOptions::default()).unwrap();
            let b = read_tor_geoip(&geoip6_text[..], GEOIP6, ImportOptions::default()).unwrap();
            black_box(a.items.len() + b.items.len())
        })
    });
    let all: Vec<(AddrRange, Country)> = v4.iter().chain(&v6).copied().collect();
    g.bench_function("build PrefixMap (v4 + v6)", |b| {
        b.iter_batched(
            || all.clone(),
            |all| black_box(all.into_iter().collect::<PrefixMap<Country>>()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("aggregate geoip per country (IPv4, minimal CIDRs)", |b| {
        b.iter(|| black_box(aggregate_per_country(&v4)))
    });
    g.bench_function(
        "aggregate geoip + geoip6 per country (minimal CIDRs)",
        |b| b.iter(|| black_box(aggregate_per_country(&all))),
    );
    g.finish();
    let cidrs = aggregate_per_country(&v4);
    eprintln!("IPv4 aggregated per country: {cidrs} CIDRs");
}

/// Groups ranges by country, merges each country's ranges and counts its minimal CIDRs.
fn aggregate_per_country(ranges: &[(AddrRange, Country)]) -> usize {
    let mut by: std::collections::HashMap<Country, Vec<AddrRange>> = Default::default();
    for &(r, c) in ranges {
        by.entry(c).or_default().push(r);
    }
    by.into_values()
        .map(|rs| rs.into_iter().collect::<PrefixSet>().prefixes().len())
        .sum()
}

criterion_group!(benches, geo);
criterion_main!(benches);
