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
//!
//! ```
//! use rampart_guard::{Guard, GuardConfig, Observation, Target};
//!
//! let policy = "profile = \"webserver\"\n[guard.sshd]\nlimit = 3\n";
//! let config = GuardConfig::from_policy("rampart.toml", policy).unwrap().expect("[guard]");
//! let admin = ("192.0.2.22/32".parse().unwrap(), "admin SSH source".to_string());
//! let mut guard = Guard::new(config, vec![admin]);
//! let line = b"Dec  6 18:00:00 web1 sshd[812]: Failed password for root from 198.51.100.9 port 4711 ssh2";
//! let obs = Observation::from_log(rampart_logs::Source::Sshd, line).unwrap();
//! let now = 1_800_000_000;
//! assert!(guard.observe(&obs, now).is_empty());
//! assert!(guard.observe(&obs, now + 1).is_empty());
//! let bans = guard.observe(&obs, now + 2);
//! assert_eq!(bans[0].target, Target::Addr("198.51.100.9".parse().unwrap()));
//! assert_eq!(bans[0].reason.summary, "3 sshd failures in 10m (limit 3)");
//! assert_eq!(bans[0].until, now + 2 + 600);
//! ```
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
pub use decision::{format_utc, Decision, Evidence, FleetRef, Origin, Reason, Selector, Target};
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
