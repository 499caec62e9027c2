//! Apply timings, printed (no timed assertions): `cargo bench -p rampart-kernel --bench apply`.
//!
//! Needs root. The bench re-executes itself under `unshare -n`, so every `nft` it runs acts
//! on a fresh, empty network namespace and never on the machine's own.
//!
//! Cases, each the median of several runs:
//! - webserver example (`examples/webserver.sh`) compiled: apply onto no table, re-apply
//!   unchanged (detected without a transaction), forced re-apply (full transaction);
//! - `rampart synthetic --rules 10000` compiled: the same three;
//! - peer: `nft -f` of the same compiled text onto no table.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_kernel::{apply, ApplyOptions, Nft};
use rampart_nft::CompileOptions;
use rampart_ruleset::{parse_save, parse_script, ParseOptions, Ruleset, Source};

const IN_NS: &str = "RAMPART_BENCH_IN_NETNS";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os(IN_NS).is_none() {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        if !root {
            eprintln!("skipped: the apply benchmark needs root (it runs nft in a new netns)");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let status = Command::new("unshare")
            .arg("-n")
            .arg(exe)
            .args(std::env::args().skip(1))
            .env(IN_NS, "1")
            .stdin(Stdio::null())
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let web = std::fs::read_to_string(root.join("examples/webserver.sh")).unwrap();
    let web = compile(
        &parse_script(&Source::new("webserver.sh", web), ParseOptions::default())
            .unwrap()
            .ruleset,
    );
    let synth = compile(
        &parse_save(
            &Source::new(
                "synthetic",
                rampart_ruleset::synthetic::synthetic_save(10_000),
            ),
            ParseOptions::default(),
        )
        .unwrap()
        .ruleset,
    );
    let nft = Nft::new();
    println!(
        "rampart-kernel apply benchmark (nft {}, median of N runs)",
        nft_version()
    );
    for (name, script, runs) in [("webserver", &web, 21), ("synthetic 10k rules", &synth, 5)] {
        let lines = script.lines().count();
        println!("\n{name}: {lines} lines of nft");
        let fresh = median(runs, || {
            nft.delete_table().unwrap();
            let t = Instant::now();
            apply(&nft, script, &ApplyOptions::default()).unwrap();
            t.elapsed()
        });
        println!("  apply onto no table            {}", ms(fresh));
        let (_, record) = apply(&nft, script, &ApplyOptions::default()).unwrap();
        let unchanged = ApplyOptions {
            force: false,
            previous: Some(record),
        };
        let same = median(runs, || {
            let t = Instant::now();
            let (o, _) = apply(&nft, script, &unchanged).unwrap();
            assert_eq!(o, rampart_kernel::Outcome::Unchanged);
            t.elapsed()
        });
        println!("  re-apply unchanged             {}", ms(same));
        let forced = ApplyOptions {
            force: true,
            previous: None,
        };
        let replace = median(runs, || {
            let t = Instant::now();
            apply(&nft, script, &forced).unwrap();
            t.elapsed()
        });
        println!("  re-apply forced (replace)      {}", ms(replace));
        let peer = median(runs, || {
            nft.delete_table().unwrap();
            let t = Instant::now();
            nft.load(script).unwrap();
            t.elapsed()
        });
        println!("  peer: nft -f onto no table     {}", ms(peer));
    }
    nft.delete_table().unwrap();
}

fn compile(rs: &Ruleset) -> String {
    let mut opts = CompileOptions::default();
    opts.replace = false;
    rampart_nft::compile(rs, &opts).unwrap().text().to_string()
}

fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    v[runs / 2]
}

fn ms(d: Duration) -> String {
    format!("{:8.1} ms", d.as_secs_f64() * 1000.0)
}

fn nft_version() -> String {
    Command::new("nft")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
