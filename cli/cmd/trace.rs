//! `rampart trace`: a packet's path through the ruleset.

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::TraceArgs;

/// Traces one packet or a batch.
pub fn run(args: TraceArgs) -> Result<ExitCode> {
    let _ = args;
    anyhow::bail!("not yet wired to the simulator")
}
