//! Named block lists and timed bans: how they are stored, how they sit in the kernel, and
//! which addresses must never be blocked. Pure: `rampart-enforce` does the I/O.
//!
//! Central types: [`List`] (a named, aggregated set of prefixes, stored as
//! `lists/NAME.list` in the state directory), [`Bans`] (timed single-address bans,
//! `lists/bans`, a journal), [`Layout`] (the nft tables, sets and chains that hold them,
//! as nft IR) and [`Allowlist`] (loopback, the host's addresses, the admin's SSH sources,
//! the policy's `allow_from`).
//!
//! ```text
//!  block import FILE ─▶ rampart_lists ─▶ PrefixSet ─▶ Allowlist::carve ─▶ List
//!        ─▶ rampart-enforce: one netlink transaction (flush + elements), lists/NAME.list
//!  block add ADDR ─▶ Allowlist::conflicts ─▶ List::insert ─▶ elements added (fast path)
//!  block add ADDR --timeout 1h ─▶ Ban ─▶ upsert with timeout (ban_4 / ban_6), journal line
//!  a new list / boot ─▶ Layout::create_script (nft, the list's table, empty) ─▶ load
//! ```
//!
//! # Kernel layout
//!
//! Each list `NAME` has a table of its own, `inet rampart_bl_NAME`, holding per family a
//! hash set of its single addresses (`bl_NAME_4h`, `bl_NAME_6h`) and an interval set of its
//! networks and ranges (`bl_NAME_4`, `bl_NAME_6`); the timed bans live in `inet
//! rampart_bans`, plain sets `ban_4` / `ban_6` with `flags timeout` (the kernel expires
//! their elements itself, also while rampart is not running; DESIGN decision 2 keeps them
//! apart from interval sets). Each table has two base chains that drop their sources
//! before the policy's chains see the packet:
//!
//! ```text
//! table inet rampart_bl_NAME {
//!   chain input   { type filter hook input   priority filter - 10; policy accept;
//!                   iif "lo" accept comment "rampart: loopback is never blocked"
//!                   ip saddr @bl_NAME_4h counter drop comment "rampart: block list NAME"
//!                   ip saddr @bl_NAME_4 counter drop comment "rampart: block list NAME"
//!                   ip6 saddr ... }
//!   chain forward { the same on hook forward, without the loopback rule } }
//! ```
//!
//! Loopback is never blocked: the first rule accepts traffic on `lo` (a web
//! application's connection to its database on 127.0.0.1 survives a list that holds
//! 127.0.0.0/8), and imports carve the allowlist out of what they load
//! ([`Allowlist::carve`]).
//!
//! Decisions and their reasons:
//! - **A table per list, apart from the policy's.** Every nft command on a table reads all
//!   of its interval sets' elements first, whatever it does (`nft list chain`, `nft -t
//!   list table`, even a failing `nft -f`: 13–15 s with 300,000 elements, measured). Apart,
//!   the policy's `up`, `status` and `save` never pay for a list, and creating a list is
//!   one small nft transaction on a new, empty table ([`Layout::create_script`]). At
//!   priority `filter - 10` the chains run before the policy's `filter_input`; a drop in
//!   any base chain is final, and an accept (loopback) ends only that chain. Per packet a
//!   list costs one more base chain on the hook.
//! - **Single addresses in a hash set.** Most entries of real lists are single addresses;
//!   a hash set takes them faster than the interval rbtree on a replace (BENCHMARKS.md).
//! - **No `size`.** nftables sets have no element limit unless one is declared (only
//!   dynamic sets, filled from the packet path, default to 65535), so a list never fills
//!   up silently, unlike ipset's default `maxelem 65536`. Nothing here declares `size`.
//! - **Reload is one transaction, over netlink.** `rampart-enforce` flushes and refills
//!   the four sets of a list in one nf_tables transaction
//!   (`rampart_nfnl::SetClient::replace_sets`): the kernel swaps the contents at commit,
//!   so no packet ever sees the list empty. nft only declares the tables: an nft file of a
//!   million elements took ~20 s and 760 MB.
//! - **Stored aggregated.** A list file holds the minimal CIDR list of its contents (one
//!   per line) under a header line with its sizes (read alone by `block lists`); a comment
//!   given with `block add` stays with its prefix while that prefix survives aggregation
//!   unchanged.
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
    ban_set, flood_admin_set, flood_ban_limit, flood_ban_set, host_set_name, ingress_chain,
    is_block_table, list_comment, list_host_set, list_set, list_table, set_name, DropRule, Layout,
    SetId, BANS_TABLE, BAN_COMMENT, BAN_SET_V4, BAN_SET_V6, CHAINS, CHAIN_PRIORITY,
    FLOOD_BAN_PREFIX, INGRESS_PREFIX, INGRESS_PRIORITY, LIST_TABLE_PREFIX, LOOPBACK_COMMENT,
    POLICY_TABLE,
};
pub use list::{
    parse_target, Ban, Bans, List, ListError, ListName, ListSummary, Located, DEFAULT_LIST,
    MAX_NAME_LEN,
};
