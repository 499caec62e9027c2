//! Times `lint`, `exposure` and `diff` on synthetic rulesets (BENCHMARKS.md, "Ruleset
//! analysis"): `cargo run --release -p rampart-analysis --example analysis_bench -- 5000`.
//!
//! The second ruleset of the diff is the first with every 50th rule's verdict flipped and
//! a port opened at the end, so the diff has real work and a known size.
//!
//! `MIXED=1`: random overlapping rulesets too (see `mixed_save`): lint, exposure, the diff
//! of two versions of one (100 rules changed: what `apply` shows) and of two unrelated
//! ones. Extra arguments are ruleset files (iptables-save, nft, policy) to time as well.
//! The peer, in the same run, is the reference walk (rampart-sim) sampling packets through
//! both rulesets of each diff; every sample is also checked against the diff's classes
//! (the run fails on a disagreement). Peak memory is the process's so far, the steps
//! running from small to large.

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
/// prefixes (/24 to /32), destination addresses, port ranges, both protocols, conntrack
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

/// CPU seconds the process used so far (user and system; `/proc` counts in 1/100 s).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A step's cost: wall and CPU seconds (on a shared machine the wall time includes waiting
/// for a core), and the process's peak resident MB so far (the steps run from small to
/// large, so it is the peak of the largest step yet: freed heap stays resident, so a
/// reset high-water mark would not measure one step).
struct Cost {
    wall: f64,
    cpu: f64,
    peak_mb: f64,
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} s (CPU {:.2} s, peak {:.0} MB)",
            self.wall, self.cpu, self.peak_mb
        )
    }
}

/// Runs `f`, returning its result and its cost.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let (t, c) = (Instant::now(), cpu_s());
    let out = f();
    let cost = Cost {
        wall: t.elapsed().as_secs_f64(),
        cpu: cpu_s() - c,
        peak_mb: peak_rss_mb(),
    };
    (out, cost)
}

/// `text` with `count` of its rules changed, spread evenly: verdicts flipped on half of
/// them, the destination port moved on the others.
fn changed_save(text: &str, count: usize) -> String {
    let rules = text.lines().filter(|l| l.starts_with("-A ")).count();
    let every = (rules / count.max(1)).max(1);
    let (mut out, mut seen, mut done) = (String::new(), 0, 0);
    for line in text.lines() {
        let mut l = line.to_string();
        if line.starts_with("-A ") && line.contains("--dport") {
            seen += 1;
            if seen % every == 0 && done < count {
                done += 1;
                l = if done % 2 == 0 {
                    let (body, verdict) = line.rsplit_once(" -j ").expect("a verdict");
                    let flipped = match verdict {
                        "ACCEPT" => "DROP",
                        "DROP" | "REJECT" => "ACCEPT",
                        _ => "DROP",
                    };
                    format!("{body} -j {flipped}")
                } else {
                    let (before, after) = line.split_once("--dport ").expect("a port");
                    let (ports, rest) = after.split_once(' ').expect("more after the port");
                    let moved: Vec<String> = ports
                        .split(':')
                        .map(|p| (p.parse::<u32>().expect("a port number") + 7).to_string())
                        .collect();
                    format!("{before}--dport {} {rest}", moved.join(":"))
                };
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Whether sampled packets agree between the reference walk and a diff: the time of the
/// walks through both rulesets, the samples whose fate differs, the samples on which the
/// diff disagrees with the walks (must be 0) and those it cannot say (beyond
/// [`rampart_analysis::MAX_CHANGES`]).
fn sample(
    a: &rampart_ruleset::Ruleset,
    b: &rampart_ruleset::Ruleset,
    d: &rampart_analysis::Diff,
    samples: usize,
    ports: u32,
) -> (f64, usize, usize, usize) {
    use rampart_sim::{CtState, Fate, Host, Packet, Simulator};
    let host = Host::parse("interface eth0 192.0.2.1/24").expect("host");
    let (mut sa, mut sb) = (Simulator::new(a, host.clone()), Simulator::new(b, host));
    let word = |f: Option<&Fate>| match f {
        Some(Fate::DeliveredLocally { .. }) => "ACCEPT",
        Some(Fate::Dropped { .. }) => "DROP",
        Some(Fate::Rejected { .. }) => "REJECT",
        _ => "other",
    };
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let (mut walk_s, mut differ, mut wrong, mut unknown) = (0.0, 0, 0, 0);
    for _ in 0..samples {
        let net = ["192.0.2", "198.51.100", "203.0.113"][next(3) as usize];
        let host_byte = next(256);
        if net == "192.0.2" && host_byte == 1 {
            continue; // the host's own address: not a packet from outside
        }
        let src = format!("{net}.{host_byte}");
        // One sample in 50 to the port the NAT variant redirects.
        let dport = if ports > 100 && next(50) == 0 {
            8080
        } else {
            1 + next(u64::from(ports)) as u16
        };
        let tcp = next(2) == 0;
        let new = next(4) != 0;
        let p = if tcp {
            Packet::tcp(&src, 40000, "192.0.2.1", dport).syn()
        } else {
            Packet::udp(&src, 40000, "192.0.2.1", dport)
        };
        let p = p.on("eth0").state(if new {
            CtState::New
        } else {
            CtState::Established
        });
        let t = Instant::now();
        let (fa, fb) = (word(sa.run(&p).fate()), word(sb.run(&p).fate()));
        walk_s += t.elapsed().as_secs_f64();
        let point = rampart_analysis::Point {
            proto: if tcp { 6 } else { 17 },
            src: src.parse().expect("address"),
            dst: "192.0.2.1".parse().expect("address"),
            sport: 40000,
            dport,
            ct: if new { 0 } else { 1 },
            in_iface: Some("eth0".into()),
            out_iface: None,
            tcp_flags: if tcp { 0x02 } else { 0 },
            icmp: (0, 0),
            length: 60,
            mark: 0,
            fragment: false,
            members: Vec::new(),
        };
        let change = d.change_for(rampart_analysis::PathKind::Input, &point);
        differ += usize::from(fa != fb);
        let bad = match change {
            None if fa != fb && d.more > 0 => {
                unknown += 1;
                false
            }
            None => fa != fb,
            // The verdicts: `ACCEPT (REDIRECT to port 1022)` is the walk's ACCEPT.
            Some(c) => {
                let verdicts = |o: &[String]| -> Vec<String> {
                    o.iter()
                        .map(|x| x.split(" (").next().unwrap_or(x).to_string())
                        .collect()
                };
                verdicts(&c.before) != [fa] || verdicts(&c.after) != [fb]
            }
        };
        if bad {
            wrong += 1;
            eprintln!(
                "disagreement: {p}: reference walk {fa} → {fb}, diff: {}",
                change.map_or("no change".into(), |c| c.to_string())
            );
        }
    }
    (walk_s, differ, wrong, unknown)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let files = args.iter().skip(1);
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let samples = if std::env::var_os("NO_PEER").is_some() {
        0
    } else {
        samples
    };
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
    let mut failed = false;
    let mut diff_line =
        |what: &str, a: &rampart_ruleset::Ruleset, b: &rampart_ruleset::Ruleset, ports: u32| {
            let (d, cost) = timed(|| rampart_analysis::diff(a, b).expect("diff"));
            let (walk_s, differ, wrong, unknown) = sample(a, b, &d, samples, ports);
            println!(
                "{what}: diff {cost}, {} changes ({} more); peer: reference walk of {samples} \
                 sampled packets through both {walk_s:.2} s, {differ} differ; diff disagrees \
                 on {wrong}{}",
                d.changes.len(),
                d.more,
                if unknown > 0 {
                    format!(", {unknown} beyond the kept changes")
                } else {
                    String::new()
                }
            );
            failed |= wrong > 0;
        };
    let (a, b) = (parse(&text), parse(&changed));
    let (report, lint_cost) = timed(|| rampart_analysis::lint(&a).expect("lint"));
    let (exposure, exposure_cost) = timed(|| rampart_analysis::exposure(&a).expect("exposure"));
    println!(
        "{n} synthetic rules: lint {lint_cost}, {} findings; exposure {exposure_cost}, {} rows",
        report.findings.len(),
        exposure.services.len(),
    );
    diff_line(
        &format!("{n} synthetic rules, 100 flipped and 1 added"),
        &a,
        &b,
        20,
    );
    for path in files {
        let text = std::fs::read_to_string(path).expect("readable ruleset");
        let opts = ParseOptions {
            family: path
                .ends_with(".v6")
                .then_some(rampart_ruleset::Family::Ipv6),
            ..ParseOptions::default()
        };
        let rs = rampart_ruleset::parse_any(&Source::new(path.as_str(), text.as_str()), opts)
            .expect("ruleset parses")
            .ruleset;
        let (l, l_cost) = timed(|| rampart_analysis::lint(&rs).expect("lint"));
        let (e, e_cost) = timed(|| rampart_analysis::exposure(&rs).expect("exposure"));
        let (d, d_cost) = timed(|| rampart_analysis::diff(&rs, &rs).expect("diff"));
        let (l_s, e_s, d_s, mb) = (l_cost.wall, e_cost.wall, d_cost.wall, d_cost.peak_mb);
        println!(
            "{path} ({} rules): lint {:.1} ms ({} findings), exposure {:.1} ms ({} rows), diff \
             with itself {:.1} ms ({} changes), peak {mb:.0} MB",
            rs.rule_count(),
            l_s * 1e3,
            l.findings.len(),
            e_s * 1e3,
            e.services.len(),
            d_s * 1e3,
            d.changes.len()
        );
    }
    // MIXED=1: the harder random rulesets too (see `mixed_save`); then the same with a
    // REDIRECT in the nat table, which makes the partition split destinations last.
    if std::env::var_os("MIXED").is_some() {
        for nat in [false, true] {
            let what = if nat {
                "random rules and a REDIRECT"
            } else {
                "random rules"
            };
            let with_nat = |t: String| {
                if nat {
                    t + "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                         :POSTROUTING ACCEPT [0:0]\n-A PREROUTING -i eth0 -p tcp -m tcp --dport \
                         8080 -j REDIRECT --to-ports 1022\nCOMMIT\n"
                } else {
                    t
                }
            };
            let mixed_text = mixed_save(n, 1);
            let mixed = parse(&with_nat(mixed_text.clone()));
            let edited = parse(&with_nat(changed_save(&mixed_text, 100)));
            let mixed2 = parse(&with_nat(mixed_save(n, 2)));
            let (ml, ml_cost) = timed(|| rampart_analysis::lint(&mixed).expect("lint"));
            let (me, me_cost) = timed(|| rampart_analysis::exposure(&mixed).expect("exposure"));
            println!(
                "{n} {what}: lint {ml_cost}, {} findings; exposure {me_cost}, {} rows",
                ml.findings.len(),
                me.services.len(),
            );
            diff_line(
                &format!("{n} {what}, 100 rules changed"),
                &mixed,
                &edited,
                2100,
            );
            diff_line(
                &format!("two unrelated sets of {n} {what}"),
                &mixed,
                &mixed2,
                2100,
            );
        }
    }
    if failed {
        eprintln!("the diff disagrees with the reference walk");
        std::process::exit(1);
    }
}
