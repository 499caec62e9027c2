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
//! Central types: [`Observation`] (what an observer saw, stamped by the caller),
//! [`Decision`] (a ban with [`Reason`], [`Evidence`], [`Origin`], start and expiry) and
//! [`DecisionStore`] (where decisions and observer positions persist). The core never
//! reads the clock or does I/O: `now` is passed in (seconds since the epoch), which keeps
//! it testable with a simulated clock. The guard never depends on the simulator, the
//! compiler or the ruleset parser.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod decision;
mod observation;
mod store;

pub use decision::{Decision, Evidence, Origin, Reason, Target};
pub use observation::{LogSource, Observation, SourceCount};
pub use store::{DecisionStore, StoreError, StoredDecision};
