//! The guard: what the observers see becomes ban decisions, each with its reason and
//! evidence, recorded and enforced.
//!
//! ```text
//!  observers (adapters, I/O)            core (pure: observations + now → decisions)
//!  ─────────────────────────            ───────────────────────────────────────────
//!  sock_diag snapshot  ─┐
//!  conntrack NEW events ─┼─▶ Observation ─▶ detectors ─▶ Finding ─▶ decide ─▶ Decision
//!  log lines (rampart-logs)┤                (bounded     (who, why,   (allowlist,  (ban target,
//!  NFLOG kernel bans ───┘                    memory)      evidence)    escalation,   until, reason,
//!                                                                      roll-up)      evidence, origin)
//!                                                                                      │
//!        enforcement (rampart-enforce: timed ban sets) ◀── runtime ──▶ DecisionStore (SQLite)
//!        notices (digest mail, webhook), metrics                        positions, history
//! ```
//!
//! Central types: [`GuardConfig`] (the `[guard]` table of the policy file), [`Guard`] (the
//! engine: `observe`, `tick`, `restore`), [`Observation`] (what an observer saw, stamped by the caller),
//! [`Decision`] (a ban with [`Reason`], [`Evidence`], [`Origin`], start and expiry) and
//! [`DecisionStore`] (where decisions and observer positions persist; [`SqliteStore`] is
//! the embedded one). The core never
//! reads the clock or does I/O: `now` is passed in (seconds since the epoch), which keeps
//! it testable with a simulated clock. The guard never depends on the simulator, the
//! compiler or the ruleset parser.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
mod decide;
mod decision;
mod detect;
mod observation;
mod store;

pub use config::{ConfigError, ConfigErrors, GuardConfig};
pub use decide::{human_secs, Guard, GuardStats};
pub use decision::{format_utc, Decision, Evidence, Origin, Reason, Selector, Target};
/// The block list the runtime puts neighbourhood bans in (the kernel's ban sets hold
/// single addresses only); `rampart bans unban` lifts prefixes from it.
pub const ROLLUP_LIST: &str = "guard-rollup";
/// The block list timed address bans are recorded under (`rampart block list` shows them).
pub const BAN_LIST: &str = "guard";

pub use detect::{
    Crossing, Detector, DetectorStats, Detectors, Finding, RateTable, MAX_SAMPLE, TABLE_BUDGET,
};
pub use observation::{LogSource, Observation, SourceCount, MAX_EVIDENCE_LINE};
pub use store::{
    sqlite::{BUSY_TIMEOUT, DB_FILE},
    DecisionStore, SqliteStore, StoreError, StoredDecision,
};
