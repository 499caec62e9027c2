//! The admin's own SSH sessions, sshd's listening sockets, and the lockout guard.
//!
//! Central types: [`Sessions`] (who is logged in over SSH and where sshd listens),
//! [`LockoutReport`] (for each admin source and sshd address, what a NEW connection would
//! meet under a ruleset) and [`check`], the pure core that decides it with the simulator.
//!
//! ```text
//!  SSH_CONNECTION ─┐                          compiled Ruleset ─┐
//!  sock_diag dump ─┼─▶ discover() ─▶ Sessions ──────────────────┼─▶ check() ─▶ LockoutReport
//!  /proc/*/fd     ─┘   (OS adapter)            Host (ip -j addr/route) ┘  (pure, simulator)
//! ```
//!
//! Decisions and their reasons:
//! - **A crate of its own.** Discovery touches the OS (netlink, /proc, `ip`), so it cannot
//!   live in the pure policy crate; the decision needs the simulator, which the policy
//!   crate does not depend on. The pure core ([`check`]) takes plain data, so it is tested
//!   without mocks; the adapter ([`discover`]) is tested in a network namespace.
//! - **NEW connections, not the live one.** A ruleset accepting ESTABLISHED keeps today's
//!   session alive even when it drops port 22; the admin is locked out at the next login.
//!   So each probe is a fresh SYN from the admin's address (another source port) on a
//!   simulator with empty conntrack.
//! - **Every sshd address, every admin.** sshd may listen on several ports and addresses;
//!   every established sshd connection is someone's session. Each admin source is probed
//!   against each listener of its family (a wildcard listener stands for the address the
//!   admin is connected to).
//! - **sock_diag, not /proc/net/tcp.** One netlink dump is ~4x faster at 100k sockets and
//!   gives inodes, which /proc/*/fd maps to processes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod discover;
mod lockout;
mod sockdiag;
mod system;

pub use discover::{discover, from_ssh_connection, socket_owners, DiscoverError};
pub use lockout::{check, Admin, AdminOrigin, Listener, LockoutReport, Probe, Sessions};
pub use sockdiag::{dump_tcp, TcpSocket, TcpState};
pub use system::{host_addresses, host_from_ip_json, system_host};
