//! Simulation speed through 5,000 rules, the reference walk beside the compiled
//! classifier in the same run: a packet that matches none of the rules (the walk's worst
//! case: it evaluates them all), a packet accepted by an early rule, and a stream of
//! varied packets as `scripts/bench` feeds `rampart trace --packets` (sources and ports
//! cycling, each packet through the whole chain).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rampart_ruleset::synthetic::synthetic_save;
use rampart_ruleset::{parse_save, ParseOptions, Source};
use rampart_sim::{Host, Packet, Simulator};

fn trace(c: &mut Criterion) {
    let text = synthetic_save(5_000);
    let ruleset = parse_save(&Source::new("bench.rules", text), ParseOptions::default())
        .expect("synthetic rules parse")
        .ruleset;
    let host = Host::parse("interface eth0 192.0.2.250/24\n").expect("valid host");
    let mut group = c.benchmark_group("trace");
    group.throughput(Throughput::Elements(1));
    let miss = Packet::tcp("203.0.113.250", 40000, "192.0.2.250", 9)
        .on("eth0")
        .syn();
    let early = Packet::udp("198.51.100.0", 40000, "192.0.2.250", 1000).on("eth0");
    // The batch of scripts/bench: 20,000 lines, sources .200-.249, ports cycling.
    let stream: Vec<Packet> = (0..20_000u32)
        .map(|i| {
            let src = format!("203.0.113.{}", 200 + i % 50);
            let sport = 1024 + (i % 60_000) as u16;
            let dport = 1000 + (i % 20) as u16;
            Packet::tcp(&src, sport, "192.0.2.250", dport)
                .on("eth0")
                .syn()
                .at(f64::from(i) / 1000.0)
        })
        .collect();
    for (mode, classifier) in [("walk", false), ("classifier", true)] {
        let sim = |hints: bool| {
            let mut sim = Simulator::new(&ruleset, host.clone());
            sim.set_classifier(classifier);
            sim.set_hints(hints);
            sim
        };
        // With hints, as `rampart trace` and `trace --packets --json` show them: the
        // policy-DROP hint tests every ACCEPT rule for the nearest miss.
        group.bench_function(format!("5k rules, no match, hints: {mode}"), |b| {
            let mut sim = sim(true);
            b.iter(|| sim.run(&miss))
        });
        group.bench_function(format!("5k rules, no match: {mode}"), |b| {
            let mut sim = sim(false);
            b.iter(|| sim.run(&miss))
        });
        group.bench_function(format!("5k rules, accepted by rule 2: {mode}"), |b| {
            let mut sim = sim(false);
            b.iter(|| sim.run(&early))
        });
        // As `trace --packets` runs a batch it summarises (no hints).
        group.bench_function(format!("5k rules, --packets stream: {mode}"), |b| {
            let mut sim = sim(false);
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % stream.len();
                sim.run(&stream[i])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, trace);
criterion_main!(benches);
