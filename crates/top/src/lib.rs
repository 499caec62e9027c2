//! Who holds the connections: a snapshot of flows counted per source address, per
//! network, per country, per port and per state, ranked.
//!
//! Central types: [`Flow`] (one connection as `top` counts it: protocol, local and
//! remote ends, [`State`], [`Direction`]) and [`Report`] (ranked [`Table`]s per
//! direction, made by [`summarize`]).
//!
//! ```text
//! sock_diag sockets ──from_sockets──┐
//!                                    ├─▶ Vec<Flow> ──summarize(geo, top N)──▶ Report
//! conntrack entries ──from_conntrack─┘     (IPv4-mapped      { incoming, outgoing,
//!                     (+ local addresses)    addresses unmapped) forwarded: Section }
//! Section: addresses, /24, /16, IPv6 /64, /48, countries, ports, states — each a Table
//!          of Rows ranked by connections, with ESTABLISHED, SYN_RECV, TIME_WAIT apart
//! ```
//!
//! Decisions:
//! - **Incoming means the local port listens.** From sockets, a connection is incoming
//!   when its local port is one a TCP listener (or, for UDP, an unconnected socket) is
//!   bound to; everything else this host started. From conntrack, the table says who
//!   started a flow: incoming when the original destination is one of the host's
//!   addresses, outgoing when the original source is, forwarded otherwise (routed or
//!   NATed through the host, which sockets never see).
//! - **The port of the service.** The port table counts the port the service runs on:
//!   the local port of an incoming connection, the remote port of an outgoing one
//!   (an ephemeral local port says nothing), the original destination port of a
//!   forwarded one.
//! - **SYN_RECV is a request socket.** Half-open connections of a SYN flood live in the
//!   listener's request queue; sock_diag reports them as `TCP_NEW_SYN_RECV`, counted here
//!   as [`State::SynRecv`] with the rare Fast Open child that is a real `TCP_SYN_RECV`.
//! - **Pure.** No I/O: the caller reads the kernel (rampart-nfnl) and the country
//!   database, and passes a lookup in ([`CountryOf`]); the same snapshot always gives
//!   the same report.
//!
//! ```
//! use rampart_top::{summarize, Direction, Flow, Proto, State};
//! let flow = |remote: &str| Flow {
//!     proto: Proto::Tcp,
//!     local: "198.51.100.1:443".parse().unwrap(),
//!     remote: remote.parse().unwrap(),
//!     state: State::Established,
//!     direction: Direction::Incoming,
//!     nat: false,
//! };
//! let flows = [flow("192.0.2.7:5000"), flow("192.0.2.7:5001"), flow("[::ffff:192.0.2.9]:7")];
//! let report = summarize(&flows, None, 10);
//! let top = &report.incoming.addresses.rows[0];
//! assert_eq!((top.key.to_string(), top.counts.total), ("192.0.2.7".to_string(), 2));
//! assert_eq!(report.incoming.nets24.rows[0].counts.total, 3); // 192.0.2.0/24
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod flow;
mod report;

pub use flow::{from_conntrack, from_sockets, Direction, Flow, Proto, State};
pub use report::{summarize, CountryOf, Counts, PortKey, Report, Row, Section, Table};
