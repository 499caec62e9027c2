//! `rampart save` and `rampart restore`.

use std::process::ExitCode;

use anyhow::{bail, Result};
use rampart_kernel::{Nft, Outcome};

use super::apply::state_dir;
use crate::flags::StateArgs;

/// `rampart save`: the policy's table for the next boot. Block lists and bans need no
/// saving: the store under the state directory is written by every change and is what
/// `restore` loads them from.
pub fn save(args: StateArgs) -> Result<ExitCode> {
    let state = state_dir(&args)?;
    let saved = rampart_kernel::save(&Nft::new(), &state)?;
    let store = state.path("lists");
    if saved {
        println!(
            "saved: table inet rampart to {}",
            state.path("saved.nft").display()
        );
    }
    if store.exists() {
        println!(
            "block lists and bans: kept in {} (written by every change)",
            store.display()
        );
    }
    if !saved && !store.exists() {
        bail!("there is nothing to save: no table inet rampart and no block lists (run `rampart up` first)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `rampart restore`.
pub fn restore(args: StateArgs) -> Result<ExitCode> {
    let state = state_dir(&args)?;
    // A confirmation still pending at boot was never given: the saved rules are the ones
    // from before that apply, so restoring them is its rollback, and its token is stale.
    for p in rampart_kernel::pending(&state)? {
        rampart_kernel::disarm(&state, &p.id)?;
        println!(
            "unconfirmed apply {} dropped: restoring the rules saved before it",
            p.id
        );
    }
    match rampart_kernel::restore(&Nft::new(), &state) {
        Ok(Outcome::Unchanged) => println!("restore: unchanged"),
        Ok(_) => println!(
            "restored: table inet rampart from {}",
            state.path("saved.nft").display()
        ),
        // Block lists alone (no policy saved) are restored all the same.
        Err(rampart_kernel::Error::NothingSaved(_)) if state.path("lists").exists() => {
            println!("restore: no policy saved; block lists only")
        }
        Err(e) => return Err(e.into()),
    }
    // Lists stored since the save (or changed) come back from the store, with contents.
    if let Some(line) = super::block::load_after(&state)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
