//! Named block lists and timed bans: how they are stored, how they sit in the kernel, and
//! which addresses must never be blocked. Pure: `rampart-enforce` does the I/O.
//!
//! Central types: [`List`] (a named, aggregated set of prefixes, stored as
//! `lists/NAME.list` in the state directory), [`Bans`] (timed single-address bans,
//! `lists/bans`), [`Layout`] (the nft sets and chains that hold them) and [`Allowlist`]
//! (loopback, the host's addresses, the admin's SSH sources, the policy's `allow_from`).
//!
//! ```text
//!  block import FILE ─▶ rampart_lists ─▶ PrefixSet ─▶ List ─▶ lists/NAME.list (atomic write)
//!                                                      │
//!                                                      └─▶ CLI: SetClient::replace_sets,
//!                                                          flush + elements, one netlink
//!                                                          transaction (rampart-nfnl)
//!  block add ADDR ─▶ Allowlist::conflicts ─▶ List::insert ─▶ SetClient add (fast path)
//!  block add ADDR --timeout 1h ─▶ Bans ─▶ SetClient add with timeout (ban_4 / ban_6)
//!  up / apply / restore ─▶ Layout::add_to(compiled nft IR table) ─▶ one transaction
//! ```
//!
//! # Kernel layout
//!
//! In `table inet rampart`, per list `NAME` two interval sets `bl_NAME_4` (`ipv4_addr`) and
//! `bl_NAME_6` (`ipv6_addr`), and for timed bans two plain sets `ban_4` / `ban_6` with
//! `flags timeout` (the kernel expires their elements itself, also while rampart is not
//! running; DESIGN decision 2 keeps them apart from interval sets). Two base chains drop
//! their sources before anything else of ours sees the packet:
//!
//! ```text
//! chain block_input   { type filter hook input   priority filter - 10; policy accept;
//!                       iif "lo" accept comment "rampart: loopback is never blocked"
//!                       ip saddr @ban_4 counter drop comment "rampart: timed ban"
//!                       ip6 saddr @ban_6 ...
//!                       ip saddr @bl_NAME_4 counter drop comment "rampart: block list NAME"
//!                       ip6 saddr @bl_NAME_6 ... }
//! chain block_forward { the same on hook forward, without the loopback rule }
//! ```
//!
//! Loopback is never blocked: the first rule accepts traffic on `lo` (a web
//! application's connection to its database on 127.0.0.1 survives a list that holds
//! 127.0.0.0/8), and imports carve the allowlist out of what they load
//! ([`Allowlist::carve`]).
//!
//! Decisions and their reasons:
//! - **Own base chains, not rules inside the policy's chains.** The chains depend only on
//!   the list names, so `rampart block` can create a new list with one small transaction
//!   ([`Layout::ensure_script`]) without recompiling the policy, and `up`/`apply` add the
//!   same sets and chains, as nft IR, to the policy's compiled table ([`Layout::add_to`]). At priority `filter - 10` they
//!   run before the policy's `filter_input`; a drop in any base chain is final.
//! - **No `size`.** nftables sets have no element limit unless one is declared (only
//!   dynamic sets, filled from the packet path, default to 65535), so a list never fills
//!   up silently, unlike ipset's default `maxelem 65536`. Nothing here declares `size`.
//! - **Reload is one transaction, over netlink.** The CLI flushes and refills both sets of
//!   a list in one nf_tables transaction (`rampart_nfnl::SetClient::replace_sets`): the
//!   kernel swaps the contents at commit, so no packet ever sees the list empty. nft is
//!   used only to declare the sets and chains ([`Layout::ensure_script`]): an nft file of
//!   a million elements took ~20 s and 760 MB, and every nft command first reads all the
//!   table's interval sets.
//! - **Stored aggregated.** A list file holds the minimal CIDR list of its contents (one
//!   per line); a comment given with `block add` stays with its prefix while that prefix
//!   survives aggregation unchanged.
//!
//! ```
//! use rampart_block::{List, ListName};
//! let mut l = List::new(ListName::new("manual").unwrap());
//! l.insert("192.0.2.0/25".parse().unwrap(), None);
//! l.insert("192.0.2.128/25".parse().unwrap(), Some("scanner".into()));
//! assert_eq!(l.prefixes(), vec!["192.0.2.0/24".parse().unwrap()]);
//! let text = l.to_text();
//! assert_eq!(List::parse(&text, "manual.list").unwrap().prefixes(), l.prefixes());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod allow;
mod layout;
mod list;

pub use allow::{Allowed, Allowlist, Carved, Conflict, ConflictKind};
pub use layout::{
    ban_set, host_set_name, is_block_table, list_comment, list_host_set, list_set, list_table,
    set_name, DropRule, Layout, SetId, BANS_TABLE, BAN_COMMENT, BAN_SET_V4, BAN_SET_V6, CHAINS,
    CHAIN_PRIORITY, LIST_TABLE_PREFIX, LOOPBACK_COMMENT,
};
pub use list::{
    parse_target, Ban, Bans, List, ListError, ListName, ListSummary, Located, DEFAULT_LIST,
    MAX_NAME_LEN,
};
