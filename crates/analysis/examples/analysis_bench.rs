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

/// A harder ruleset than `synthetic_save`: seeded random rules with overlapping source
/// prefixes (/16 to /32), destination prefixes, port ranges, both protocols, conntrack
/// states and both verdicts, a third of them in user chains reached by jumps.
fn mixed_save(rules: usize, seed: u64) -> String {
    use std::fmt::Write as _;
    let mut x = seed;
    let mut next = move |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let nets = ["192.0.2", "198.51.100", "203.0.113"];
    let mut out =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    let chains = 8;
    for c in 0..chains {
        let _ = writeln!(out, ":c{c} - [0:0]");
    }
    for i in 0..rules {
        let chain = if i % 3 == 0 {
            format!("c{}", next(chains))
        } else {
            "INPUT".into()
        };
        let net = nets[next(3) as usize];
        let len = [24, 25, 26, 28, 30, 32][next(6) as usize];
        let host = next(256) & !((1u64 << (32 - len)) - 1);
        let mut r = format!("-A {chain} -s {net}.{host}/{len}");
        if next(4) == 0 {
            let _ = write!(r, " -d {}.{}/32", nets[next(3) as usize], next(256));
        }
        let proto = ["tcp", "udp"][next(2) as usize];
        let lo = 1 + next(2000);
        if next(3) == 0 {
            let _ = write!(r, " -p {proto} -m {proto} --dport {lo}:{}", lo + next(100));
        } else {
            let _ = write!(r, " -p {proto} -m {proto} --dport {lo}");
        }
        if next(4) == 0 {
            r.push_str(" -m conntrack --ctstate NEW");
        }
        let verdict = ["ACCEPT", "DROP", "REJECT", "RETURN"]
            [next(if chain == "INPUT" { 3 } else { 4 }) as usize];
        let _ = writeln!(out, "{r} -j {verdict}");
    }
    for c in 0..chains {
        let _ = writeln!(out, "-A INPUT -p tcp -j c{c}");
    }
    out.push_str("COMMIT\n");
    out
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
    // The peer in the same run: the reference walk (rampart-sim, what `trace --packets`
    // runs) sampling packets through both rulesets, as a sampling diff would.
    let samples = if std::env::var_os("NO_PEER").is_some() {
        0
    } else {
        10_000usize
    };
    let host = rampart_sim::Host::parse("interface eth0 192.0.2.1/24").expect("host");
    let (mut sa, mut sb) = (
        rampart_sim::Simulator::new(&a, host.clone()),
        rampart_sim::Simulator::new(&b, host),
    );
    let t = Instant::now();
    let mut differ = 0;
    for i in 0..samples {
        let src = format!(
            "{}.{}",
            ["192.0.2", "198.51.100", "203.0.113"][i % 3],
            (i / 3) % 256
        );
        let p = rampart_sim::Packet::tcp(&src, 40000, "192.0.2.1", 1000 + (i % 20) as u16)
            .syn()
            .on("eth0")
            .state(rampart_sim::CtState::New);
        let fa = format!("{:?}", sa.run(&p).fate());
        let fb = format!("{:?}", sb.run(&p).fate());
        differ += usize::from(fa != fb);
    }
    let sim_s = t.elapsed().as_secs_f64();
    println!(
        "peer: reference walk of {samples} sampled packets through both: {sim_s:.2} s \
         ({differ} differ)"
    );
    println!(
        "{n} rules: lint {lint_s:.2} s ({} findings), exposure {exposure_s:.2} s ({} rows), \
         diff {diff_s:.2} s ({} changes, {} more); peak RSS {:.0} MB",
        report.findings.len(),
        exposure.services.len(),
        d.changes.len(),
        d.more,
        peak_rss_mb()
    );
    // MIXED=1: the harder random rulesets too (see `mixed_save`).
    if std::env::var_os("MIXED").is_none() {
        return;
    }
    let mixed = parse(&mixed_save(n, 1));
    let mixed2 = parse(&mixed_save(n, 2));
    let t = Instant::now();
    let ml = rampart_analysis::lint(&mixed).expect("lint");
    let ml_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let me = rampart_analysis::exposure(&mixed).expect("exposure");
    let me_s = t.elapsed().as_secs_f64();
    // Two unrelated random rulesets differ almost everywhere: the diff is a list of
    // thousands of classes, its cost grows with that count (skip with NO_MIXED_DIFF=1).
    let t = Instant::now();
    let md = if std::env::var_os("NO_MIXED_DIFF").is_some() {
        rampart_analysis::Diff::default()
    } else {
        rampart_analysis::diff(&mixed, &mixed2).expect("diff")
    };
    let md_s = t.elapsed().as_secs_f64();
    println!(
        "{n} mixed rules: lint {ml_s:.2} s ({} findings), exposure {me_s:.2} s ({} rows), \
         diff of two unrelated {n}-rule rulesets {md_s:.2} s ({} changes, {} more)",
        ml.findings.len(),
        me.services.len(),
        md.changes.len(),
        md.more
    );
}
