//! Enforcement of block lists and timed bans: one library for the CLI, the guard daemon
//! and the fleet (DESIGN decision 8), so that each bans, unbans, loads lists and
//! restores the same way.
//!
//! Central types: [`Enforcer`] (every operation), built from a [`Store`] (the state
//! directory's `lists/`, the source of truth, safe for concurrent writers) and a
//! [`Kernel`] (the block tables, one per list and one for the bans: elements over one
//! long-lived netlink socket, table declarations through nft). What must never be blocked is data, an
//! [`Allowlist`](rampart_block::Allowlist), computed once by the caller
//! ([`discover_allowlist`]); long work reports through [`Progress`].
//!
//! ```text
//!  CLI / guard ──▶ Enforcer::ban ──▶ check allowlist ─▶ Kernel::ban (one netlink
//!                  │                                    transaction) ─▶ Store journal
//!                  ├─ block / unblock ─▶ lock lists ─▶ Kernel (elements or reload) ─▶ Store
//!                  ├─ replace (import, country) ─▶ Allowlist::carve ─▶ reload ─▶ Store
//!                  ├─ test ─▶ one kernel lookup per set (never a dump) + Store comment
//!                  ├─ lists ─▶ Store header lines + one declaration lookup per set
//!                  └─ restore (boot, after apply) ─▶ create missing tables, load, re-ban
//!  trace / lockout check ─▶ BlockModel::load(Store) ─▶ add_to(Ruleset) ─▶ simulator
//! ```
//!
//! Nothing here reads the clock: `now` (seconds since the epoch) is an argument.
//!
//! ```no_run
//! use rampart_enforce::{Enforcer, Kernel, Silent};
//! use rampart_block::{Allowlist, ListName};
//! use rampart_kernel::StateDir;
//! let mut e = Enforcer::new(StateDir::new("/var/lib/rampart"), Kernel::default());
//! let allow = Allowlist::loopback();
//! let manual = ListName::new("manual").unwrap();
//! let ip = "192.0.2.7".parse().unwrap();
//! e.ban(&[ip], std::time::Duration::from_secs(3600), &manual, Some("ssh"), &allow, false, 1_700_000_000)?;
//! println!("{:?}", e.test(ip, 1_700_000_000)?);
//! # Ok::<(), rampart_enforce::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod allow;
mod counted;
mod enforcer;
mod error;
mod kernel;
mod model;
mod store;

pub use allow::{admin_sources, discover_allowlist};
pub use counted::{put_kernel_counters, Counted, CountedError};
pub use enforcer::{
    BanHit, Blocked, Enforcer, KernelBan, ListHit, ListState, Progress, Replaced, Restored, Silent,
    Unblocked, Verdict,
};
pub use error::Error;
pub use kernel::Kernel;
pub use model::{add_block_lists, BlockModel, JUMP_COMMENT};
pub use store::{Lock, Store};

use rampart_nft::{CompileErrors, CompileOptions, NftScript};
use rampart_ruleset::Ruleset;

/// The one way a policy is compiled for the kernel (`up`, `apply`, `status`, the lab):
/// lowered to nft IR and printed for `table inet rampart`, without the replace preamble
/// (`rampart_kernel::apply` builds the transaction around it, keeping set elements).
/// The block lists are not in it: they live in tables of their own (see
/// `rampart_block::Layout`), so that no nft command on the policy's table reads a
/// million list elements.
pub fn compile_for_apply(ruleset: &Ruleset) -> Result<NftScript, CompileErrors> {
    rampart_nft::compile(
        ruleset,
        &CompileOptions::new(rampart_kernel::TABLE.1, false),
    )
}
