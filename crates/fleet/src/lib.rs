//! A fleet of servers sharing the guard's bans and block lists through PostgreSQL.
//!
//! Each server's guard publishes its decisions ([`Fleet::publish`], idempotent by the
//! key (server, id)) and follows every other's through `LISTEN`/`NOTIFY` and one ordered
//! change feed ([`Fleet::changes`] after a cursor): the live feed and the catch-up after an
//! outage are the same read. What arrives is screened by the receiving server's own
//! allowlist ([`screen`]) and enforced through the same timed ban sets as its own bans.
//! When the store is unreachable nothing is removed: the kernel's sets keep their
//! expiries and the local SQLite store its decisions.
//!
//! Central types: [`FleetConfig`] (the `[fleet]` table), [`Fleet`] (a connection),
//! [`Change`] and [`FleetDecision`] (what a server learns), the schema's
//! [`schema::MIGRATIONS`].
#![forbid(unsafe_code)]

mod accept;
mod client;
pub mod config;
pub mod schema;

pub use accept::screen;
pub use client::{
    now, read_password, Change, Changes, Decisions, Fleet, FleetDecision, FleetError, ListStatus,
    Refusal, ServerStatus, Status, MAX_CHANGES,
};
pub use config::FleetConfig;
