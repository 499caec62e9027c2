//! Simulation speed: a packet that matches none of 5,000 rules walks them all (the worst
//! case of a linear ruleset), and a packet accepted by an early rule.
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
    group.bench_function("5k rules, no match (walks all)", |b| {
        let mut sim = Simulator::new(&ruleset, host.clone());
        b.iter(|| sim.run(&miss))
    });
    let early = Packet::udp("198.51.100.0", 40000, "192.0.2.250", 1000).on("eth0");
    group.bench_function("5k rules, accepted by rule 2", |b| {
        let mut sim = Simulator::new(&ruleset, host.clone());
        b.iter(|| sim.run(&early))
    });
    group.finish();
}

criterion_group!(benches, trace);
criterion_main!(benches);
