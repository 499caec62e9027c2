//! Times `lint`, `exposure` and `diff` on synthetic rulesets (BENCHMARKS.md, "Ruleset
//! analysis"): `cargo run --release -p rampart-analysis --example analysis_bench -- 5000`.
//!
//! The second ruleset of the diff is the first with every 50th rule's verdict flipped and
//! a port opened at the end, so the diff has real work and a known size.

use std::time::Instant;

use rampart_ruleset::{parse_save, synthetic::synthetic_save, ParseOptions, Source};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let text = synthetic_save(n);
    let mut changed = String::new();
    let mut count = 0;
    for line in text.lines() {
        if line.starts_with("-A ") {
            count += 1;
            if count % 50 == 0 {
                let l = if line.contains("-j DROP") {
                    line.replace("-j DROP", "-j ACCEPT")
                } else {
                    line.replace("-j ACCEPT", "-j DROP")
                };
                changed.push_str(&l);
                changed.push('\n');
                continue;
            }
        }
        if line == "COMMIT" {
            changed.push_str("-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT\n");
        }
        changed.push_str(line);
        changed.push('\n');
    }
    let parse = |t: &str| {
        parse_save(&Source::new("synthetic", t), ParseOptions::default())
            .expect("synthetic parses")
            .ruleset
    };
    let (a, b) = (parse(&text), parse(&changed));
    let t = Instant::now();
    let report = rampart_analysis::lint(&a).expect("lint");
    let lint_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let exposure = rampart_analysis::exposure(&a).expect("exposure");
    let exposure_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let d = rampart_analysis::diff(&a, &b).expect("diff");
    let diff_s = t.elapsed().as_secs_f64();
    println!(
        "{n} rules: lint {lint_s:.2} s ({} findings), exposure {exposure_s:.2} s ({} rows), \
         diff {diff_s:.2} s ({} changes, {} more); peak RSS {:.0} MB",
        report.findings.len(),
        exposure.services.len(),
        d.changes.len(),
        d.more,
        peak_rss_mb()
    );
}
