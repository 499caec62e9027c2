//! A network-namespace lab: real kernels, real packets, observed fates.
//!
//! Central types:
//! - [`Lab`]: a set of network namespaces named `<prefix>-<role>`, with veth
//!   pairs, bridges, addresses, routes, sysctls and commands run inside them;
//! - [`Probe`] and [`Fate`]: one packet or connection sent from one
//!   namespace and what became of it, observed on both ends;
//! - [`topology`]: the lab of `rampart lab` (server, clients, attackers and a
//!   switch), built by [`topology::up`], read back by [`topology::status`]
//!   and removed by [`remove_lab`];
//! - [`flood`]: the flood generator ([`flood::FloodSpec`] → [`Lab::flood`] →
//!   [`flood::FloodReport`]): SYN and UDP floods from raw sockets (spoofed
//!   sources from the documentation ranges, packets built by [`packet`]),
//!   connection floods, HTTP floods; it runs only inside a lab namespace;
//! - [`http`]: a paced HTTP client loop measuring a legit client's success
//!   rate and latency ([`Lab::http_load`]), and a small server
//!   ([`Lab::serve_http`]).
//!
//! ```no_run
//! use rampart_lab::{Fate, Lab, Probe, Proto};
//! use std::time::Duration;
//!
//! let mut lab = Lab::new()?; // rampart-t<pid>-<n>-*, removed on drop
//! lab.add_ns("a")?;
//! lab.add_ns("b")?;
//! lab.veth("a", "eth0", "b", "eth0")?;
//! lab.addr("a", "eth0", "192.0.2.1/24")?;
//! lab.addr("b", "eth0", "192.0.2.2/24")?;
//! let probe = Probe {
//!     proto: Proto::Tcp,
//!     src: "192.0.2.1".parse().unwrap(),
//!     dst: "192.0.2.2".parse().unwrap(),
//!     port: 80,
//! };
//! let fate = lab.probe("a", &probe, Duration::from_millis(300))?;
//! assert!(matches!(fate, Fate::Delivered { .. }));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Namespaces and cleanup
//!
//! Test labs ([`Lab::new`]) are named `rampart-t<pid>-<n>-<role>` and removed
//! when dropped; namespaces left behind by dead test processes (a
//! `rampart-t<pid>-…` whose pid no longer exists) are removed the first time
//! a test lab is created in a process. The `rampart lab` namespaces carry the
//! fixed prefix [`topology::LAB_PREFIX`], so [`remove_lab`] finds them after
//! a crash. The machine's own network namespace is never touched: `ip` runs
//! with `-n NS`, everything else with `ip netns exec NS`, and probes run on
//! threads that entered the namespace with `setns(2)`. Only documentation
//! addresses are configured or probed ([`check_documentation`]). Every
//! external command is bounded by `timeout 10`.
//!
//! # Fates
//!
//! As observed by [`Lab::probe`]:
//!
//! * [`Fate::Delivered`]: a listener in the destination namespace got the
//!   probe and saw `seen_src` as its source (a different address than the
//!   probe's source means NAT happened on the way). For TCP, delivered means
//!   the listener *accepted* the connection, i.e. the full three-way
//!   handshake completed (so the replies came back too). For UDP and ICMP
//!   echo it means the datagram / echo request reached the destination
//!   socket (a raw ICMP socket for echo), whether or not the answer made it
//!   back.
//! * [`Fate::Rejected`]: not delivered, and the sender got an error back
//!   (TCP RST or ICMP unreachable: `ECONNREFUSED`, `EHOSTUNREACH`,
//!   `ENETUNREACH`, or an ICMP destination-unreachable quoting our echo).
//! * [`Fate::Dropped`]: nothing came back within the timeout.
//!
//! Errors are `std::io::Error`s carrying the failing command and its
//! standard error: every failure here is an OS or tool failure, reported to
//! a person, never matched on by callers (except
//! [`std::io::ErrorKind::AlreadyExists`] from [`topology::up`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod addr;
mod cmd;
pub mod flood;
pub mod http;
mod lab;
pub mod packet;
mod probe;
pub mod topology;

pub use addr::{check_documentation, is_documentation};
pub use cmd::{have_tool, is_root};
pub use lab::{clean_leftovers, live_namespaces, ns_addresses, remove_lab, IfAddr, Lab, NS_PREFIX};
pub use probe::{Fate, Probe, Proto};
