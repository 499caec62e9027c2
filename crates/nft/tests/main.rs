//! Integration tests of rampart-nft: golden scripts for every example, exact error texts,
//! and the kernel check (`nft -c -f` and `nft -f` inside a fresh network namespace).
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p rampart-nft --test nft` and review
//! the diff.

mod errors;
mod golden;
mod kernel;
mod modules;
mod util;
