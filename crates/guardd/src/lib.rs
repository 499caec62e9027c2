//! The guard daemon's runtime (`rampart guard run`): the observers feed the guard's
//! engine, and its decisions are enforced in the kernel and recorded.
//!
//! ```text
//!  threads (feed.rs)                      the loop (daemon.rs)
//!  ─────────────────                      ────────────────────
//!  log files (Follower) ─┐                 batch of ≤ 4096 messages
//!  journalctl -f ────────┤                   │ Engine::observe (rampart_guard::Guard)
//!  sock_diag every 0.5 s ┼─▶ bounded ──▶     ▼
//!  conntrack NEW ────────┤   channel       decisions ─▶ Enforcer::ban (one transaction per
//!  NFLOG `rampart-ban` ──┘   (Msg)           │           ban time; roll-ups: a block list)
//!                                            ▼
//!                                          DecisionStore::record ─▶ positions saved
//!                                            │
//!                                            ▼
//!                                          Sink: the log (journald), metrics, notices
//! ```
//!
//! Central types: [`Daemon`] (the loop over an [`Engine`], a
//! [`DecisionStore`](rampart_guard::DecisionStore) and an
//! [`Enforcer`](rampart_enforce::Enforcer)), [`Feeds`] (what is watched) and
//! [`Observers`] (their threads), [`Sink`] (where events go: [`Log`]), [`Notify`]
//! (systemd's `Type=notify` and watchdog).
//!
//! Order of work, so that `kill -9` at any moment loses nothing: the kernel's ban first
//! (one netlink transaction), then the store's record, then the observers' positions.
//! A crash between the first two leaves a ban in the kernel that the store lacks (the
//! enforcement library's own journal has it, and the kernel expires it); a crash before
//! the positions are saved re-reads lines already decided, which re-bans (extending a
//! running ban, never lifting it). Stopping never removes a ban.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod daemon;
mod feed;
mod fleet;
mod log;
mod sd;
mod serve;
mod signals;
mod sinks;
mod unit;

pub use daemon::{
    BatchStore, Daemon, Engine, Event, FleetSide, Sink, BAN_LIST, FLEET_LIST, MAX_BATCH,
    ROLLUP_LIST, TICK,
};
pub use feed::{
    count_inbound, file_observer, journal_observer, kernel_ban, log_observation, Feeds,
    JournalFeed, LineObservation, LogFeed, Msg, Observers, BAN_LOG_PREFIX, EVIDENCE_BYTES,
};
pub use fleet::{FleetBatch, FleetChange, FleetLink, ToFleet, FLEET_POSITION};
pub use log::{target_text, Log};
pub use sd::{watchdog_interval, Notify};
pub use serve::{
    allow_ranges, feeds, serve, KernelBans, ServeError, Setup, DB_FILE, QUEUE, SOCKET_SCAN,
};
pub use signals::stop_flag;
pub use sinks::{notice, notify_config, Metrics, Notices, NotifySetupError, Sinks};
pub use unit::{start_unit, Started, UNIT};
