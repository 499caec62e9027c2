//! rampart-nfnl integration tests: the client against the real kernel, each test in a
//! network namespace of its own (a thread that `unshare`s CLONE_NEWNET, and the `nft`
//! processes it starts), never in the machine's own namespace.

mod kernel;
mod lookup;
mod util;

// Table shapes: chains, set declarations and rules, read without set elements.
mod shape;
