//! `rampart-fuzz`: runs the parsers' fuzz targets for a fixed time and saves what breaks.
//!
//! ```text
//! rampart-fuzz [--seconds N] [--seed S] [--runs N] [--save] [TARGET... | all]
//! rampart-fuzz --replay            # every saved regression input, once
//! ```

use std::process::ExitCode;
use std::time::Duration;

use rampart_fuzz::{input_name, regressions_dir, run_one, targets, Fuzzer, Rng};

fn main() -> ExitCode {
    let mut seconds = 10.0f64;
    let mut seed = 1u64;
    let mut runs = u64::MAX;
    let mut save = false;
    let mut names: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    let all = targets();
    while let Some(a) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| {
                    eprintln!("rampart-fuzz: {a} needs a number ({what})");
                    std::process::exit(2)
                })
        };
        match a.as_str() {
            "--seconds" => seconds = value("seconds per target"),
            "--seed" => seed = value("random seed") as u64,
            "--runs" => runs = value("inputs per target") as u64,
            "--save" => save = true,
            "-h" | "--help" => {
                println!(
                    "usage: rampart-fuzz [--seconds N] [--seed S] [--runs N] [--save] [TARGET...|all]\n\
                     targets: {}\n--save writes each crash to {}/TARGET/",
                    all.iter().map(|t| t.name).collect::<Vec<_>>().join(" "),
                    regressions_dir().display()
                );
                return ExitCode::SUCCESS;
            }
            _ => names.push(a),
        }
    }
    if names.is_empty() || names.iter().any(|n| n == "all") {
        names = all.iter().map(|t| t.name.to_string()).collect();
    }
    println!(
        "{:<14} {:>10} {:>8} {:>10} {:>9} {:>11} {:>8}",
        "target", "execs", "secs", "execs/s", "outcomes", "slowest ms", "crashes"
    );
    let mut crashed = false;
    for name in &names {
        let Some(t) = all.iter().find(|t| t.name == name) else {
            eprintln!("rampart-fuzz: no target {name}");
            return ExitCode::from(2);
        };
        let mut f = Fuzzer {
            rng: Rng::new(seed),
            time: Duration::from_secs_f64(seconds),
            max_runs: runs,
        };
        let r = f.run(t);
        let secs = r.elapsed.as_secs_f64();
        println!(
            "{:<14} {:>10} {:>8.1} {:>10.0} {:>9} {:>11.1} {:>8}",
            r.target,
            r.executions,
            secs,
            r.executions as f64 / secs.max(1e-9),
            r.outcomes,
            r.slowest * 1e3,
            r.crashes.len()
        );
        for c in &r.crashes {
            crashed = true;
            // Confirmed by a second run, then shown (escaped, short) and saved.
            let again = run_one(t, &c.input).is_err();
            eprintln!(
                "  crash{}: {}",
                if again { "" } else { " (not reproduced)" },
                rampart_safeio::excerpt(&c.what, 300)
            );
            if save {
                let dir = regressions_dir().join(t.name);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(input_name(&c.input));
                match std::fs::write(&path, &c.input) {
                    Ok(()) => eprintln!("  saved {}", path.display()),
                    Err(e) => eprintln!("  cannot save {}: {e}", path.display()),
                }
            }
        }
    }
    if crashed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
