//! The kernel-test harness: one skip rule and one fresh network namespace.
//!
//! Every test that touches the kernel (nft, iptables, ipset, netlink sockets, a real sshd)
//! needs the same two things, and this crate is where they are written once:
//!
//! - [`require`] with a list of [`Need`]s: root, tools such as `nft` or `sshd`, data files.
//!   When something is missing the test prints `skipped TEST: needs …` and returns early
//!   (it passes), except under CI (`CI` set, as `CI=true ./scripts/test` does), where it
//!   panics naming what is missing: a skip there would hide a regression. [`skip`] is the
//!   same rule for a reason found while the test runs.
//! - [`Netns::fresh`]: a network namespace of the test's own, `rampart-t-<pid>-<n>-<tag>`,
//!   with `lo` up, deleted on drop (with anything still running inside). Commands run in
//!   it through [`Netns::exec`], [`Netns::nft`] and [`Netns::command`]; Rust code (a netlink
//!   socket, a `TcpStream`) through [`Netns::run_in`], on a thread that entered it;
//!   [`Netns::veth`] joins two of them.
//!
//! The machine's own namespace and firewall are never touched: every command runs under
//! `ip netns exec NAME` or `ip -n NAME`, and [`Netns::run_in`] enters the namespace on a
//! thread of its own. Every command this crate runs by itself is bounded by `timeout 60`.
//! Tests using it keep to the documentation address ranges (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8::/32).
//!
//! A real OpenSSH server in a namespace is [`Sshd::start`] (its log written by sshd itself
//! with `-E`), and a real client answering password prompts is [`ssh_client`] with an
//! [`askpass`] script.
//!
//! Multi-namespace topologies with probes and observed fates are `rampart_lab::Lab`'s job
//! (the product's `rampart lab`, used by `tests/netns`); tests that need one or two bare
//! namespaces use [`Netns`].
//!
//! # A new kernel test
//!
//! This is all of one (the body of a `#[test] fn`; add `rampart-testkit.workspace = true`
//! under the crate's `[dev-dependencies]`):
//!
//! ```
//! use rampart_testkit::{require, Need, Netns};
//!
//! if !require(&[Need::Root, Need::Tool("nft")]) {
//!     return;
//! }
//! let ns = Netns::fresh("drop-rule");
//! ns.nft("table inet t {
//!     chain input { type filter hook input priority 0; ip saddr 192.0.2.1 counter drop; }
//! }");
//! let listing = ns.exec(&["nft", "list", "chain", "inet", "t", "input"]);
//! assert!(listing.contains("ip saddr 192.0.2.1 counter packets 0 bytes 0 drop"), "{listing}");
//! // The namespace, its table and anything left running in it go away here.
//! ```
//!
//! Rust code inside the namespace, and two namespaces joined by a veth pair:
//!
//! ```
//! use std::net::{TcpListener, TcpStream};
//! use std::time::Duration;
//! use rampart_testkit::{require, Need, Netns};
//!
//! if !require(&[Need::Root, Need::Tool("ip")]) {
//!     return;
//! }
//! let (server, client) = (Netns::fresh("server"), Netns::fresh("client"));
//! server.veth("eth0", &client, "eth0");
//! server.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "eth0"]);
//! client.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"]);
//! let listener = server.run_in(|| TcpListener::bind("192.0.2.1:8080").unwrap());
//! let to = "192.0.2.1:8080".parse().unwrap();
//! client.run_in(|| TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap());
//! let (_, peer) = listener.accept().unwrap();
//! assert_eq!(peer.ip().to_string(), "192.0.2.2");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod need;
mod netns;
mod pam;
mod pki;
mod postgres;
mod rules;
mod sshd;

pub use need::{require, skip, Need};
pub use netns::{run_in_named, Netns, NETNS_PREFIX};
pub use pam::{built_otp_module, pam_wrapper, system_pam_module, LIBPAM_WRAPPER};
pub use pki::Pki;
pub use postgres::{pg_bin, PgOptions, Postgres, PG_ADMIN, PG_DATABASE};
pub use rules::{read_ipsets, read_rules, rules_path, Expect, RuleCase};
pub use sshd::{askpass, ssh_client, wait_output, Sshd, SSHD, SSHD_PATIENCE};
