//! Binary-level tests: `rampart` run as a user runs it, no root needed.
//!
//! Golden files live in `tests/cli/golden/`; regenerate them with
//! `UPDATE_GOLDEN=1 cargo test --test cli` and review the diff.

mod util;

mod analyse;
mod bans;
mod block;
mod check;
mod compile;
mod fleet;
mod geo;
mod guard;
mod harden;
mod import;
mod otp;
mod policy;
mod show;
mod top;
mod trace;
