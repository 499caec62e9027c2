//! Parsing speed: a 10,000-rule iptables-save file (the issue asks for < 50 ms) and the same
//! rules as a script of iptables commands.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rampart_ruleset::synthetic::synthetic_save;
use rampart_ruleset::{parse_save, parse_script, ParseOptions, Source};

fn parse(c: &mut Criterion) {
    let save = synthetic_save(10_000);
    let script: String = save
        .lines()
        .filter_map(|l| l.strip_prefix("-A "))
        .map(|rule| format!("iptables -A {rule}\n"))
        .collect();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(20);
    group.bench_function("iptables-save 10k rules", |b| {
        b.iter(|| {
            let src = Source::new("bench.rules", save.as_str());
            parse_save(&src, ParseOptions::default()).expect("synthetic rules parse")
        })
    });
    group.bench_function("script 10k rules", |b| {
        b.iter(|| {
            let src = Source::new("bench.sh", script.as_str());
            parse_script(&src, ParseOptions::default()).expect("synthetic rules parse")
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
