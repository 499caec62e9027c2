//! Public-API tests of the simulator: rulesets built from model structs, packets in,
//! fates and traces out.

mod answers;
mod classify;
mod collapse;
mod explain;
mod exthdr;
mod filter;
mod forks;
mod kernel;
mod loops;
mod modules;
mod nat;
mod rate;
mod targets;
mod util;
