//! rampart's way into the kernel for the policy's table: `nft -f` for the transaction,
//! netlink (rampart-nfnl) to read what the kernel holds.
//!
//! Central types: [`Nft`] (how to run nft, and where), [`StateDir`] (what was applied and
//! saved), and the operations on `table inet rampart`:
//!
//! ```text
//!  compiled script ──▶ apply(): generation ─▶ table shape ─▶ plan() ─▶ nft -f ─▶ Applied
//!  (one table block)            (netlink: unchanged?) (netlink) (apply.rs) (commit) (state)
//!
//!  apply --confirm: arm() ─▶ spawn_watcher() (waits for its ID.alive) ─▶ apply() ─▶ … confirm() | watch() rolls back
//!  save: the applied script (or nft list table) ─▶ saved.nft    restore: saved.nft ─▶ apply()
//!  status: netlink snapshot (shape, generation) ─▶ rule_counters()   down: delete table
//! ```
//!
//! Decisions and their reasons:
//! - **One transaction, our table only.** The replace is one nft file ([`plan`]): nft
//!   commits all of it or nothing, and it names nothing outside `table inet rampart`.
//! - **Set contents survive.** `flush table` on nftables 1.0.6 / kernel 6.18 removes
//!   rules only; sets and their elements stay. See [`plan`].
//! - **Unchanged is detected without listing.** The last applied script, the ruleset
//!   generation and a digest of the table's shape (over netlink, no set element read)
//!   are kept; when the script is the same and the generation has not moved (or the
//!   shape is the same), nothing is sent to the kernel.
//! - **The rollback is a detached process**, not a thread or a timer in the CLI. See
//!   the `confirm` functions ([`arm`], [`watch`], [`confirm()`]).
//!
//! ```no_run
//! use rampart_kernel::{apply, ApplyOptions, Nft};
//! let nft = Nft::in_netns("rampart-t1-0-host");
//! let script = "table inet rampart {\n chain input { type filter hook input priority 0; policy accept; }\n}\n";
//! let (outcome, _record) = apply(&nft, script, &ApplyOptions::default())?;
//! println!("{outcome:?}");
//! # Ok::<(), rampart_kernel::Error>(())
//! ```
#![deny(missing_docs)]

mod apply;
mod confirm;
mod counters;
mod error;
mod netlink;
mod nft;
mod script;
mod state;

pub use apply::{apply, down, plan, Applied, ApplyOptions, Outcome};
pub use confirm::{
    arm, clear_stale, confirm, disarm, pending, spawn_watcher, watch, Pending, WatchOutcome,
    Watcher, WATCHER_START,
};
pub use counters::{rule_counters, RuleCounter};
pub use error::Error;
pub use netlink::{digest, generation, snapshot, KernelShape, Snapshot};
pub use nft::Nft;
pub use script::{parse_table, without_replace_preamble, SetDecl, TableShape};
pub use state::{StateDir, DEFAULT_STATE_DIR, STATE_DIR_ENV};

/// The one table rampart owns: (family, name).
pub const TABLE: (&str, &str) = ("inet", "rampart");

/// `NFT_SET_ANONYMOUS` (include/uapi/linux/netfilter/nf_tables.h).
pub(crate) const NFT_SET_ANONYMOUS: u32 = 0x1;

/// `rampart save`: writes the table to `saved.nft` (and the applied policy script beside
/// it, for `status` after a restore). When the kernel's table is what rampart applied
/// (nothing committed since, or the same shape and no set holding elements), that script
/// is written as it is: no `nft list`, which costs most of a second with ten thousand
/// rules. Otherwise the table is listed, set elements included, and saved as the kernel
/// has it.
/// Returns `false` (and writes nothing) when there is no table.
pub fn save(nft: &Nft, state: &StateDir) -> Result<bool, Error> {
    let applied = state.applied()?;
    let unmoved = match &applied {
        Some(a) => a.generation == Some(netlink::generation(nft)?),
        None => false,
    };
    let text = match &applied {
        Some(a) if unmoved => a.script.clone(),
        _ => {
            let now = netlink::snapshot(nft)?;
            match (&applied, &now.shape) {
                (_, None) => return Ok(false),
                // Same rules, and no set holds elements the script may lack (added at
                // run time by a rule or by hand): the script is the table.
                (Some(a), Some(shape))
                    if a.shape == now.digest()
                        && shape.sets.iter().all(|s| {
                            s.flags & NFT_SET_ANONYMOUS != 0 || s.elements.unwrap_or(0) == 0
                        }) =>
                {
                    a.script.clone()
                }
                _ => match nft.list_table()? {
                    Some(text) => text,
                    None => return Ok(false),
                },
            }
        }
    };
    state.write("saved.nft", &text)?;
    match &applied {
        Some(a) => state.write("saved.applied.nft", &a.script)?,
        None => state.remove("saved.applied.nft")?,
    }
    Ok(true)
}

/// `rampart restore`: applies `saved.nft` (works with no table present: the boot path).
pub fn restore(nft: &Nft, state: &StateDir) -> Result<Outcome, Error> {
    let text = state
        .read("saved.nft")?
        .ok_or_else(|| Error::NothingSaved(state.root().to_path_buf()))?;
    let opts = ApplyOptions {
        force: true,
        previous: None,
    };
    let (outcome, after) = apply(nft, &text, &opts)?;
    // What `status` compares with: the policy script that was applied when saved.
    if let Some(script) = state.read("saved.applied.nft")? {
        state.set_applied(&Applied {
            script,
            shape: after.shape,
            generation: after.generation,
            input: None,
        })?;
    }
    Ok(outcome)
}
