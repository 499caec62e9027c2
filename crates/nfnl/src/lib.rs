//! Netlink for the firewall and its observers: nf_tables set elements (a client that
//! batches them on one long-lived socket), and the kernel's own views of traffic:
//! sockets (sock_diag), the conntrack table and its events (ctnetlink), and logged
//! packets (NFLOG). One vocabulary of headers, attributes and messages ([`wire`]) serves
//! them all.
//!
//! Observers (one client type each, all sharing [`ObserveError`]):
//! - [`SockDiag`]: TCP and UDP sockets, every state, IPv4 and IPv6 ([`InetSocket`]);
//! - [`ConntrackClient`]: dump the conntrack table ([`wire::Conntrack`]), create and
//!   delete entries; [`ConntrackEvents`]: NEW / UPDATE / DESTROY events ([`CtEvent`]);
//! - [`NflogListener`]: the packets rules log to a group, with prefix, hook, interfaces,
//!   addresses and ports ([`NflogPacket`]); the kernel's auto-bans arrive this way.
//!
//! Each observer's `recv(timeout)` waits at most `timeout` and then drains what is
//! queued, and each is [`AsFd`](std::os::fd::AsFd), so a daemon can poll several.
//!
//! Set elements:
//! Central types:
//! - [`SetClient`]: opens a `NETLINK_NETFILTER` socket once and then adds, deletes and
//!   lists elements of a named set ([`SetRef`]), each call one transaction
//!   (`NFNL_MSG_BATCH_BEGIN` … `_END`), with kernel errors mapped back to the caller's
//!   [`Element`] ([`Error`]);
//! - [`SetClient::replace`] / [`SetClient::replace_sets`]: a set's whole contents swapped
//!   in one transaction, a flush (`NFT_MSG_DELSETELEM` with no element list, which the
//!   kernel's `nf_tables_delsetelem` turns into `nft_set_flush`) followed by the new
//!   elements; lookups see the old contents or the new, never an empty set, and a refusal
//!   anywhere in the batch leaves the old contents;
//! - [`SetClient::upsert`]: a ban made present with a new timeout in one transaction,
//!   whether or not it was there (no moment without the ban, no EEXIST);
//! - [`SetClient::get`]: the entry holding one address (in an interval set, the interval
//!   that contains it), one `NFT_MSG_GETSETELEM` request and answer whatever the set's
//!   size; [`SetClient::generation`]: the ruleset generation (`NFT_MSG_GETGEN`), which
//!   moves with every commit and tells a cache whether it may be stale;
//! - [`wire`]: the messages themselves, a view over received bytes plus values with
//!   `parse`, `buffer_len` and `emit` ([`wire::Message`]).
//!
//! And for `status`, `apply` and `save`: [`SetClient::table_shape`] reads a table's chains
//! ([`ChainShape`]), set declarations ([`SetShape`]) and rules ([`RuleShape`]: position,
//! counter, comment, fingerprint) as one [`TableShape`], from GETSET/GETCHAIN/GETRULE
//! dumps that never read set elements: it costs the same with a million elements as
//! with ten.
//!
//! Why not the nft CLI for this: `nft add element` reads every interval set of the table
//! before each command (~1.2 s once a 100k-element interval set exists); the client sends
//! only the elements and reads only the replies. Likewise `nft list table`, even with
//! `-t`, fetches every element before it prints the table's chains and rules.
//!
//! ```text
//! table_shape ──▶ GETSET, GETCHAIN, GETRULE dumps (table named; ENOENT → None)
//!             ◀── NEWSET*, NEWCHAIN*, NEWRULE* (one generation, else read again)
//!             ──▶ TableShape { chains, sets, rules (fingerprint: FNV-1a, counts left out) }
//!
//! &[Element] ──encode (keys written in place: start, end|INTERVAL_END)──▶ NEWSETELEM ×n
//!            ──batch──▶ BEGIN, [DELSETELEM flush], NEWSETELEM…(last: NLM_F_ACK), END
//!            ──sendmsg──▶ kernel
//!            ◀── NLMSG_ERROR per failed message (+ NLMSGERR_ATTR_OFFS), ACK of the last
//!
//! upsert: NEWSETELEM without NLM_F_EXCL, TIMEOUT + EXPIRATION   (one batch, as above)
//!
//! get(addr) ──▶ GETSETELEM (NLM_F_ACK): start(addr) [, end(addr), end(addr+1), start(addr+1)]
//!           ◀── NEWSETELEM per lookup that found a key, then ACK (or ENOENT at the first
//!               start lookup that found none) ──pair──▶ Entry (the interval holding addr)
//!
//! generation() ──▶ GETGEN ◀── NEWGEN { NFTA_GEN_ID }
//! ```
//!
//! ```no_run
//! use rampart_nfnl::{Element, SetClient, SetRef};
//! let mut client = SetClient::open()?;
//! let lists = SetRef::inet("rampart", "cidr4");
//! let net: rampart_prefix::Prefix = "198.51.100.0/24".parse().unwrap();
//! client.add(&lists, &[Element::from(net)], None)?;
//! for entry in client.list(&lists)? {
//!     println!("{}", entry.element);
//! }
//! let inside: std::net::IpAddr = "198.51.100.7".parse().unwrap();
//! assert_eq!(client.get(&lists, inside)?.map(|e| e.element), Some(Element::from(net)));
//! let bans = SetRef::inet("rampart", "blocklist");
//! let hour = std::time::Duration::from_secs(3600);
//! client.upsert(&bans, &[inside.into()], Some(hour))?;
//! let seen = client.generation()?;
//! # Ok::<(), rampart_nfnl::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod conn;
mod conntrack;
mod element;
mod encode;
mod error;
mod nflog;
mod shape;
mod sockdiag;
pub mod wire;

pub use client::{key_message_len, SetClient, SetInfo, DEFAULT_MAX_PER_MESSAGE};
pub use conn::ObserveError;
pub use conntrack::{ConntrackClient, ConntrackEvents, CtEvent, CtEventKind, CtGroups};
pub use element::{Element, Entry, Family, SetRef};
pub use encode::PROGRESS_EVERY;
pub use error::Error;
pub use nflog::{Interface, NflogListener, NflogPacket};
pub use shape::{BaseHook, ChainShape, RuleShape, SetShape, TableShape};
pub use sockdiag::{InetSocket, Protocol, SockDiag};
pub use wire::WireError;
pub use wire::{TcpState, ALL_STATES};
