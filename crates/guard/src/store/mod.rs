//! Where decisions and observer positions persist: one interface, so that a fleet's shared
//! PostgreSQL store can follow the embedded SQLite one without touching the detectors.

pub(crate) mod sqlite;

pub use sqlite::SqliteStore;

use crate::decision::{Decision, Target};

/// A decision as stored: with its row id, and when it was lifted early, if it was.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredDecision {
    /// The store's id.
    pub id: i64,
    /// The decision.
    #[serde(flatten)]
    pub decision: Decision,
    /// When an administrator lifted it (seconds since the epoch).
    pub lifted: Option<u64>,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[error("decision store {path}: {message}")]
pub struct StoreError {
    /// The database (file path or connection name).
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// Decisions and observer positions, durable once a call returns (a `kill -9` right after
/// loses nothing committed).
pub trait DecisionStore {
    /// Records `d`; returns its id.
    fn record(&mut self, d: &Decision) -> Result<i64, StoreError>;
    /// The decisions running at `now` (started, not ended, not lifted), oldest first.
    fn active(&self, now: u64) -> Result<Vec<StoredDecision>, StoreError>;
    /// Every decision that ends after `time` (running ones and those that ended since,
    /// lifted ones included), oldest first: what [`crate::Guard::restore`] needs.
    fn since(&self, time: u64) -> Result<Vec<StoredDecision>, StoreError>;
    /// Decisions lifted at or after `time`, so that a running guard learns of the CLI's
    /// unbans.
    fn lifted_since(&self, time: u64) -> Result<Vec<StoredDecision>, StoreError>;
    /// Every decision about `target` (or a prefix holding it), newest first, at most
    /// `limit`.
    fn history(&self, target: &Target, limit: usize) -> Result<Vec<StoredDecision>, StoreError>;
    /// Marks the decisions with these ids lifted at `now`.
    fn lift(&mut self, ids: &[i64], now: u64) -> Result<(), StoreError>;
    /// An observer's saved position (a log file's, the journal's cursor), as text.
    fn position(&self, observer: &str) -> Result<Option<String>, StoreError>;
    /// Saves an observer's position.
    fn set_position(&mut self, observer: &str, position: &str) -> Result<(), StoreError>;
}
