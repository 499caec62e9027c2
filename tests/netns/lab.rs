//! The namespace lab lives in the `rampart-lab` crate, shared with `rampart lab`.

pub use rampart_lab::*;
