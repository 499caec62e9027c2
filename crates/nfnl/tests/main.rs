//! rampart-nfnl integration tests: the client against the real kernel, each test in a
//! fresh network namespace of its own (`rampart_testkit::Netns`: a thread that entered it,
//! and the `nft` processes it starts), never in the machine's own namespace.

mod kernel;
mod lookup;
mod observe;
mod util;

// Table shapes: chains, set declarations and rules, read without set elements.
mod shape;
