//! `rampart save` and `rampart restore`.

use std::process::ExitCode;

use anyhow::{bail, Result};
use rampart_kernel::{Nft, Outcome};

use super::apply::state_dir;
use crate::flags::StateArgs;

/// `rampart save`.
pub fn save(args: StateArgs) -> Result<ExitCode> {
    let state = state_dir(&args)?;
    if !rampart_kernel::save(&Nft::new(), &state)? {
        bail!("there is no table inet rampart to save (run `rampart apply` first)");
    }
    println!(
        "saved: table inet rampart with set contents to {}",
        state.path("saved.nft").display()
    );
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
    match rampart_kernel::restore(&Nft::new(), &state)? {
        Outcome::Unchanged => println!("restore: unchanged"),
        _ => println!(
            "restored: table inet rampart from {}",
            state.path("saved.nft").display()
        ),
    }
    // Lists stored since the save (or changed) come back from the store, with contents.
    if let Some(line) = super::block::load_after(&state, None)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
