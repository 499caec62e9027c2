//! A fuzzer for rampart's parsers of untrusted input that runs on the stable toolchain
//! (no `cargo fuzz`, which needs a nightly compiler and libFuzzer).
//!
//! Central types: [`Target`] (one parser: its seeds and how to run one input through it)
//! and [`Fuzzer`] (seeded mutations for a fixed time or count, crashes kept).
//!
//! ```text
//!  seeds (examples/, testdata/, generated) ─▶ mutate (xorshift, seeded) ─▶ Target::run
//!        ▲                                                                  │
//!        └──────── inputs that reached a new (outcome, error kind) ─────────┘
//!  a panic or a broken rule  ─▶ regressions/TARGET/HASH  (replayed by `cargo test`)
//! ```
//!
//! Besides "does not panic", every run checks what issue 15 asks of every error: the
//! rendered message holds no control character but the newline (no escape sequence
//! reaches a terminal), no line of it is longer than [`MAX_MESSAGE_LINE`] characters, and
//! it is at most [`MAX_MESSAGE_BYTES`] long whatever the input's size.
//!
//! Coverage guidance is coarse (no instrumentation on stable): an input is kept in the
//! pool when its outcome (ok or the first line's error shape) was not seen before, which
//! steers the mutations towards new error paths.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod mutate;
mod targets;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use mutate::Rng;
pub use targets::{targets, Target};

/// The longest line an error message may have, in characters: an excerpt of 80 escaped
/// characters (each at most 10 as `\u{10ffff}`) plus file, line, message and hint.
pub const MAX_MESSAGE_LINE: usize = 2000;

/// The most bytes a rendered error may have: twenty errors of a few lines each.
pub const MAX_MESSAGE_BYTES: usize = 128 << 10;

/// The largest input the mutator makes: big enough for long-line paths at a small line
/// limit, small enough for many runs a second.
pub const MAX_INPUT: usize = 64 << 10;

/// What one input did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Parsed.
    Ok,
    /// Refused, with the shape of the first line of its error (digits and quoted text
    /// removed), for coverage.
    Refused(String),
}

/// A broken rule found by an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// The target.
    pub target: &'static str,
    /// What went wrong: the panic message, or the rule the error broke.
    pub what: String,
    /// The input.
    pub input: Vec<u8>,
}

/// Runs `input` through `target`, checking the rules of the module doc on what it shows
/// (an error, or the notes and skipped lines of a success).
pub fn run_one(target: &Target, input: &[u8]) -> Result<Outcome, Crash> {
    let crash = |what: String| Crash {
        target: target.name,
        what,
        input: input.to_vec(),
    };
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let (shown, refused) = match result {
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            return Err(crash(format!("panicked: {what}")));
        }
        Ok(Ok(shown)) => (shown, false),
        Ok(Err(message)) => (message, true),
    };
    let message = &shown;
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(crash(format!("error of {} bytes", message.len())));
    }
    if let Some(c) = message.chars().find(|c| c.is_control() && *c != '\n') {
        return Err(crash(format!(
            "raw control character {c:?} in the error: {}",
            rampart_safeio::excerpt(message, 200)
        )));
    }
    if let Some(l) = message
        .lines()
        .find(|l| l.chars().count() > MAX_MESSAGE_LINE)
    {
        return Err(crash(format!(
            "error line of {} characters: {}",
            l.chars().count(),
            rampart_safeio::excerpt(l, 200)
        )));
    }
    Ok(if refused {
        Outcome::Refused(shape(message.lines().next().unwrap_or("")))
    } else {
        Outcome::Ok
    })
}

/// The first line of an error without its place, numbers and what it quotes (the
/// text up to the first quote, letters only): the kind of error, for coverage.
fn shape(line: &str) -> String {
    let after_place = line.rsplit_once(": ").map_or(line, |(_, m)| m);
    after_place
        .chars()
        .take_while(|c| !matches!(c, '`' | '"' | '\''))
        .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
        .take(60)
        .collect()
}

/// What a fuzzing run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The target.
    pub target: &'static str,
    /// Inputs run.
    pub executions: u64,
    /// Time spent.
    pub elapsed: Duration,
    /// Distinct outcomes seen (coverage, coarsely).
    pub outcomes: usize,
    /// The slowest input, in seconds.
    pub slowest: f64,
    /// Crashes found (distinct by message).
    pub crashes: Vec<Crash>,
}

/// Mutates a target's seeds for a fixed time or number of runs.
#[derive(Debug)]
pub struct Fuzzer {
    /// Random source (the seed makes a run repeatable, up to timing).
    pub rng: Rng,
    /// Stop after this long.
    pub time: Duration,
    /// Stop after this many inputs.
    pub max_runs: u64,
}

impl Fuzzer {
    /// Fuzzes `target`.
    pub fn run(&mut self, target: &Target) -> Report {
        let start = Instant::now();
        let mut pool: Vec<Vec<u8>> = (target.seeds)();
        let dictionary = target.dictionary;
        let mut seen: HashSet<Outcome> = HashSet::new();
        let mut crashes: Vec<Crash> = Vec::new();
        let mut executions = 0u64;
        let mut slowest = 0f64;
        // Seeds first, as they are.
        let mut queue: Vec<Vec<u8>> = pool.clone();
        while start.elapsed() < self.time && executions < self.max_runs {
            let input = match queue.pop() {
                Some(i) => i,
                None => {
                    let base = &pool[self.rng.below(pool.len())];
                    let other = &pool[self.rng.below(pool.len())];
                    mutate::mutate(&mut self.rng, base, other, dictionary, MAX_INPUT)
                }
            };
            let t = Instant::now();
            let outcome = run_one(target, &input);
            slowest = slowest.max(t.elapsed().as_secs_f64());
            executions += 1;
            match outcome {
                Ok(o) => {
                    if seen.insert(o) && pool.len() < 4096 {
                        pool.push(input);
                    }
                }
                Err(c) => {
                    if !crashes.iter().any(|k| k.what == c.what) {
                        crashes.push(c);
                    }
                }
            }
        }
        Report {
            target: target.name,
            executions,
            elapsed: start.elapsed(),
            outcomes: seen.len(),
            slowest,
            crashes,
        }
    }
}

/// The directory of regression inputs: `crates/fuzz/regressions/TARGET/`.
pub fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions")
}

/// A name for an input: FNV-1a of its bytes, in hex.
pub fn input_name(input: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
