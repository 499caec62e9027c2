//! Every input a fuzzing run saved (`crates/fuzz/regressions/TARGET/`) is a regression test:
//! it must now run without a panic and with a bounded, escaped error. Then a short smoke
//! run of every target (a few hundred inputs each; `scripts/fuzz` runs them for minutes).

use std::time::Duration;

use rampart_fuzz::{regressions_dir, run_one, targets, Fuzzer, Rng};

#[test]
fn saved_crashes_stay_fixed() {
    let all = targets();
    let mut replayed = 0;
    let Ok(dirs) = std::fs::read_dir(regressions_dir()) else {
        return;
    };
    for dir in dirs {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let target = all
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{}: no such target", dir.display()));
        for f in std::fs::read_dir(&dir).unwrap() {
            let path = f.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            if let Err(c) = run_one(target, &input) {
                panic!("{}: {}", path.display(), c.what);
            }
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} saved inputs");
}

#[test]
fn every_target_survives_a_short_run() {
    for t in targets() {
        let mut f = Fuzzer {
            rng: Rng::new(1),
            time: Duration::from_secs(2),
            max_runs: 300,
        };
        let r = f.run(&t);
        assert!(r.executions > 0, "{}", t.name);
        if let Some(c) = r.crashes.first() {
            panic!(
                "{}: {} (input {:?})",
                t.name,
                c.what,
                String::from_utf8_lossy(&c.input)
            );
        }
    }
}
