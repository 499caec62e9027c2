//! [`SetClient`]: one long-lived `NETLINK_NETFILTER` socket that adds, deletes and lists
//! set elements, each call one nf_tables transaction.
//!
//! A call encodes the caller's elements as kernel keys (an interval set gets a start
//! key and an end key flagged `NFT_SET_ELEM_INTERVAL_END` per range; see `encode.rs`)
//! written straight into the batch, in
//! `NFT_MSG_NEWSETELEM`/`DELSETELEM` messages of at most `max_per_message` keys (and at
//! most what a 64 KiB `NFTA_SET_ELEM_LIST_ELEMENTS` nest holds), wraps those in
//! `NFNL_MSG_BATCH_BEGIN`/`_END` and sends the lot in one `sendmsg`: the kernel applies
//! all of it or none.
//!
//! Only the last message asks for an ACK. The kernel keeps processing a batch after an
//! error so that it can report every failing message, and it delivers those errors
//! before the final ACK; so the client reads until the last message is answered (or the
//! batch-begin message is refused, which is how a failed commit is reported). With
//! `NETLINK_EXT_ACK` the kernel names the offset of the `NFTA_LIST_ELEM` it refused;
//! the client keeps each key's offset and so names the caller's element and its index.
//! `NETLINK_CAP_ACK` keeps errors from quoting 64 KiB messages back.
//!
//! The set's flags and key length are asked for once (`NFT_MSG_GETSET`) and cached per
//! set; any failure drops that cache entry, so a set recreated with other flags is seen.
//!
//! Unlike `nft`, the client does not send the all-zero "interval end" element nft 1.0.6
//! adds when the first elements go into an empty interval set: the kernel's rbtree set
//! (6.x) needs no such guard, lookups and `nft list` agree without it, and leaving it out
//! keeps `add` free of the EEXIST it would cause on a non-empty set.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};

use crate::element::key_bits;
use crate::encode::{Encoder, Part, Sent};
use crate::wire::{
    align, Body, ElemAttr, Emitable, ErrorMessage, GenAttr, ListAttr, ListElem, Message,
    MessageIter, Nest, NfGenMsg, NftKind, SetAttr, NFGENMSG_LEN, NFTA_LIST_ELEM,
    NFT_SET_ELEM_INTERVAL_END, NFT_SET_INTERVAL, NFT_SET_TIMEOUT, NLMSG_HDRLEN, NLM_F_ACK,
    NLM_F_DUMP, NLM_F_REQUEST,
};
use crate::WireError;
use crate::{Element, Entry, Error, SetRef};

/// Keys per message unless told otherwise. The kernel takes a whole message's keys under
/// one lock hold; a thousand keeps each message near nft's own size.
pub const DEFAULT_MAX_PER_MESSAGE: usize = 1024;

/// A batch buffer bigger than this is freed after its call rather than kept for the
/// next one: a million-element load must not pin its 40 MB for the life of the client.
const KEEP_BATCH: usize = 1 << 20;

/// Receive buffer (`SO_RCVBUFFORCE`): room for one capped error per message of a
/// million-key batch (~1,000 messages of ~1 KiB skb each) with margin.
const RCVBUF: usize = 8 << 20;

/// `NLM_F_DUMP_INTR`: the dump was interrupted by a change (`include/uapi/linux/netlink.h`).
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;

/// Listings of a set that keeps changing, before giving up: each commit between two
/// datagrams of a dump spoils that dump.
pub(crate) const MAX_DUMP_ATTEMPTS: usize = 20;

/// One datagram: the kernel's dump skbs are at most 64 KiB; errors are capped.
const RECV_BUF: usize = 1 << 17;

/// What the client needs to know about a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetInfo {
    /// Keys are IPv4 addresses (else IPv6).
    pub ipv4: bool,
    /// `flags interval`.
    pub interval: bool,
    /// `flags timeout`.
    pub timeout: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add { strict: bool },
    Delete,
}

/// A netlink client for set elements. Keep one and reuse it: the socket, the buffers and
/// the set cache live as long as it does.
///
/// ```no_run
/// use rampart_nfnl::{SetClient, SetRef};
/// let mut client = SetClient::open()?;
/// let bans = SetRef::inet("rampart", "blocklist");
/// let addr: std::net::IpAddr = "192.0.2.1".parse().unwrap();
/// client.add(&bans, &[addr.into()], Some(std::time::Duration::from_secs(3600)))?;
/// # Ok::<(), rampart_nfnl::Error>(())
/// ```
pub struct SetClient {
    socket: Socket,
    seq: u32,
    sets: HashMap<SetRef, SetInfo>,
    max_per_message: usize,
    sndbuf: usize,
    batch: Vec<u8>,
    recv: Vec<u8>,
}

impl std::fmt::Debug for SetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetClient")
            .field("seq", &self.seq)
            .field("sets", &self.sets)
            .finish()
    }
}

impl SetClient {
    /// Opens the socket in the calling thread's network namespace. Needs CAP_NET_ADMIN
    /// for anything but reading.
    pub fn open() -> Result<SetClient, Error> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(Error::Open)?;
        socket.bind_auto().map_err(Error::Open)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(Error::Open)?;
        socket.set_ext_ack(true).map_err(Error::Open)?;
        socket.set_cap_ack(true).map_err(Error::Open)?;
        // Without CAP_NET_ADMIN the force option fails; the default buffer then serves
        // small batches.
        let _ = setsockopt(&socket, sockopt::RcvBufForce, &RCVBUF);
        Ok(SetClient {
            socket,
            seq: 1,
            sets: HashMap::new(),
            max_per_message: DEFAULT_MAX_PER_MESSAGE,
            sndbuf: 0,
            batch: Vec::new(),
            recv: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Sets the most keys per message (at least 1). An interval element is two keys.
    pub fn set_max_per_message(&mut self, n: usize) {
        self.max_per_message = n.max(1);
    }

    /// Adds elements in one transaction; fails, changing nothing, if any of them is
    /// already in the set (like `nft create element`). `timeout` needs `flags timeout`.
    pub fn add(
        &mut self,
        set: &SetRef,
        elements: &[Element],
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.change(set, Op::Add { strict: true }, elements, timeout)
    }

    /// Adds elements in one transaction, keeping those already present as they are (like
    /// `nft add element`).
    pub fn merge(
        &mut self,
        set: &SetRef,
        elements: &[Element],
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.change(set, Op::Add { strict: false }, elements, timeout)
    }

    /// Deletes elements in one transaction; fails, changing nothing, if any is absent.
    /// In an interval set an element must match a stored range exactly.
    pub fn delete(&mut self, set: &SetRef, elements: &[Element]) -> Result<(), Error> {
        self.change(set, Op::Delete, elements, None)
    }

    /// Lists the set's elements in address order; an interval set's ranges come back as
    /// prefixes where they are exactly one.
    pub fn list(&mut self, set: &SetRef) -> Result<Vec<Entry>, Error> {
        let info = self.info(set)?;
        // A dump spans many datagrams and a commit can land between two of them; the
        // kernel then stamps the rest with the new generation (`res_id`; NLM_F_DUMP_INTR
        // where it checks). Such a listing mixes two generations, so it is taken again.
        // Known gap (kernel 6.18, interval sets): a dump that starts while a commit is
        // still unlinking the old elements carries one generation throughout, yet its
        // skip-count continuation can miss or repeat keys; the kernel's own lookups are
        // never affected. The `a_watcher_…` test measures how often.
        for _ in 0..MAX_DUMP_ATTEMPTS {
            if let Some(keys) = self.dump_once(set)? {
                return Ok(entries(keys, info.interval));
            }
        }
        Err(Error::Io {
            what: "receive",
            source: io::Error::new(
                io::ErrorKind::Interrupted,
                format!("set {set} changed during each of {MAX_DUMP_ATTEMPTS} listings"),
            ),
        })
    }

    /// One dump of the set's keys; `None` when a commit interrupted it.
    fn dump_once(&mut self, set: &SetRef) -> Result<Option<Vec<ListElem>>, Error> {
        let seq = self.next_seq();
        let msg = Message::new(
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            Body::SetElems {
                kind: NftKind::GetSetElem,
                nfgen: NfGenMsg::new(set.family.number()),
                attrs: vec![
                    ListAttr::Table(set.table.clone()),
                    ListAttr::Set(set.name.clone()),
                ],
            },
        );
        self.send_one(&msg)?;
        let mut keys = Vec::new();
        let mut generation = None;
        let mut mixed = false;
        loop {
            for m in self.receive()? {
                if m.header.seq != seq {
                    continue;
                }
                if m.header.flags & NLM_F_DUMP_INTR != 0 {
                    mixed = true;
                }
                match m.body {
                    Body::SetElems { attrs, nfgen, .. } => {
                        mixed |= *generation.get_or_insert(nfgen.res_id) != nfgen.res_id;
                        for a in attrs {
                            if let ListAttr::Elements(n) = a {
                                keys.extend(n.attrs);
                            }
                        }
                    }
                    Body::Done(_) => return Ok((!mixed).then_some(keys)),
                    Body::Error(e) if e.code != 0 => {
                        self.sets.remove(set);
                        return Err(self.refusal(set, &e, &[], &[], Op::Delete));
                    }
                    _ => {}
                }
            }
        }
    }

    /// The set's key family and flags, asked for once and then cached.
    pub fn info(&mut self, set: &SetRef) -> Result<SetInfo, Error> {
        if let Some(info) = self.sets.get(set) {
            return Ok(*info);
        }
        let seq = self.next_seq();
        let msg = Message::new(
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            Body::Set {
                kind: NftKind::GetSet,
                nfgen: NfGenMsg::new(set.family.number()),
                attrs: vec![
                    SetAttr::Table(set.table.clone()),
                    SetAttr::Name(set.name.clone()),
                ],
            },
        );
        self.send_one(&msg)?;
        let (mut flags, mut key_len) = (0, 0);
        loop {
            let mut acked = false;
            for m in self.receive()? {
                if m.header.seq != seq {
                    continue;
                }
                match m.body {
                    Body::Set { attrs, .. } => {
                        for a in attrs {
                            match a {
                                SetAttr::Flags(f) => flags = f,
                                SetAttr::KeyLen(k) => key_len = k,
                                _ => {}
                            }
                        }
                    }
                    Body::Error(e) if e.code == 0 => acked = true,
                    Body::Error(e) => return Err(self.refusal(set, &e, &[], &[], Op::Delete)),
                    _ => {}
                }
            }
            if acked {
                break;
            }
        }
        let ipv4 = match key_len {
            4 => true,
            16 => false,
            _ => {
                return Err(Error::UnsupportedKey {
                    set: set.clone(),
                    key_len,
                })
            }
        };
        let info = SetInfo {
            ipv4,
            interval: flags & NFT_SET_INTERVAL != 0,
            timeout: flags & NFT_SET_TIMEOUT != 0,
        };
        self.sets.insert(set.clone(), info);
        Ok(info)
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn change(
        &mut self,
        set: &SetRef,
        op: Op,
        elements: &[Element],
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        if elements.is_empty() {
            return Ok(());
        }
        let info = self.info(set)?;
        if timeout.is_some() && !info.timeout {
            return Err(Error::NoTimeout(set.clone()));
        }
        let timeout_ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        self.transact(
            &[Part {
                set,
                info,
                flush: false,
                op,
                elements,
                timeout_ms,
                refresh: false,
            }],
            &mut |_| {},
        )
    }

    /// Makes each element present with `timeout`, in one transaction, whether or not it
    /// was there before: the ban that is refreshed without a moment unbanned. Unlike
    /// [`SetClient::add`] it never fails because an element is present, and unlike
    /// [`SetClient::merge`] an element already present takes the new timeout and its
    /// clock restarts. An interval that overlaps a different one is still refused.
    ///
    /// How (kernel 6.18): with a timeout, one `NFT_MSG_NEWSETELEM` without `NLM_F_EXCL`
    /// carrying `NFTA_SET_ELEM_TIMEOUT` and `NFTA_SET_ELEM_EXPIRATION`; since 6.10
    /// `nft_add_set_elem` turns the EEXIST of a present element into an update of its
    /// timeout and expiration, committed with the rest (without the expiration, a
    /// re-add with an unchanged timeout would leave the clock running). Without a
    /// timeout, in a set with `flags timeout`, the update path cannot take a timeout
    /// away, so the batch is add-if-absent, delete, add, per element: each step valid
    /// whatever was there, and lookups see the element throughout (the kernel swaps at
    /// commit). Without a timeout in a set without `flags timeout` it is
    /// [`SetClient::merge`].
    pub fn upsert(
        &mut self,
        set: &SetRef,
        elements: &[Element],
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        if elements.is_empty() {
            return Ok(());
        }
        let info = self.info(set)?;
        if timeout.is_some() && !info.timeout {
            return Err(Error::NoTimeout(set.clone()));
        }
        let part = |op, timeout_ms, refresh| Part {
            set,
            info,
            flush: false,
            op,
            elements,
            timeout_ms,
            refresh,
        };
        let lenient = Op::Add { strict: false };
        match timeout {
            Some(t) => {
                let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
                self.transact(&[part(lenient, Some(ms), true)], &mut |_| {})
            }
            None if info.timeout => self.transact(
                &[
                    part(lenient, None, false),
                    part(Op::Delete, None, false),
                    part(Op::Add { strict: true }, None, false),
                ],
                &mut |_| {},
            ),
            None => self.transact(&[part(lenient, None, false)], &mut |_| {}),
        }
    }

    /// The entry of `set` that holds `addr`, or `None`: one `NFT_MSG_GETSETELEM` request
    /// (not a dump) and its answer, whatever the size of the set.
    ///
    /// In a plain set that is the element `addr` itself, with its timeout and time left.
    /// In an interval set it is the interval or prefix that contains `addr`, found by
    /// four lookups packed in the one request. The kernel's `nft_rbtree_get` (6.18)
    /// answers a key without flags with the start of the interval holding it (ENOENT if
    /// none), and a key flagged `NFT_SET_ELEM_INTERVAL_END` with the nearest end at or
    /// above it (nothing, and no error, if there is none; `NFTA_SET_ELEM_KEY_END` is
    /// ignored). So the request asks: start(addr), end(addr), end(addr+1),
    /// start(addr+1). end(addr) is the answer unless it is an end sitting exactly at the
    /// start (an adjacent interval closing where this one opens); then start(addr+1)
    /// says whether addr+1 is still inside (the end is end(addr+1)) or not (the end is
    /// addr+1). nft 1.0.6 sends only the first lookup and finds the end in its cache of
    /// the whole set, which it dumps first.
    ///
    /// The first call for a set also asks for the set's flags (then cached); a set
    /// that does not exist is [`Error::SetMissing`]; an address of the other family is
    /// [`Error::WrongFamily`].
    pub fn get(&mut self, set: &SetRef, addr: IpAddr) -> Result<Option<Entry>, Error> {
        let info = self.info(set)?;
        let (a, v4) = match addr {
            IpAddr::V4(v) => (u128::from(u32::from(v)), true),
            IpAddr::V6(v) => (u128::from(v), false),
        };
        if v4 != info.ipv4 {
            return Err(Error::WrongFamily {
                set: set.clone(),
                set_family: if info.ipv4 { 4 } else { 6 },
                element: Element::from(addr),
                index: 0,
            });
        }
        let max = if v4 { u128::from(u32::MAX) } else { u128::MAX };
        let mut lookups = vec![(a, false)];
        if info.interval {
            lookups.push((a, true));
            if a < max {
                lookups.extend([(a + 1, true), (a + 1, false)]);
            }
        }
        for _ in 0..MAX_DUMP_ATTEMPTS {
            let Some(found) = self.get_once(set, &lookups, v4)? else {
                return Ok(None);
            };
            if !info.interval {
                return Ok(Some(found.entry(a, Some(a + 1), v4)));
            }
            let entry = found.interval(a, max, v4);
            // The lookups run one after another under RCU; a commit between them could
            // pair keys of two generations. Such an answer does not contain `addr`.
            if entry.as_ref().is_none_or(|e| {
                e.element
                    .bounds()
                    .is_some_and(|(s, end, _)| s <= a && end.is_none_or(|end| a < end))
            }) {
                return Ok(entry);
            }
        }
        Err(Error::Io {
            what: "receive",
            source: io::Error::new(
                io::ErrorKind::Interrupted,
                format!("set {set} changed during each of {MAX_DUMP_ATTEMPTS} lookups"),
            ),
        })
    }

    /// One GETSETELEM with `lookups` (key, interval-end flag); the answers in order, or
    /// `None` when the first lookup found nothing.
    fn get_once(
        &mut self,
        set: &SetRef,
        lookups: &[(u128, bool)],
        v4: bool,
    ) -> Result<Option<Found>, Error> {
        let seq = self.next_seq();
        let key_len = if v4 { 4 } else { 16 };
        let elems = lookups
            .iter()
            .enumerate()
            .map(|(n, &(key, end))| {
                let mut attrs = Vec::with_capacity(2);
                if end {
                    attrs.push(ElemAttr::Flags(NFT_SET_ELEM_INTERVAL_END));
                }
                attrs.push(ElemAttr::key(&key.to_be_bytes()[16 - key_len..]));
                ListElem {
                    index: NFTA_LIST_ELEM + n as u16,
                    flagged: true,
                    attrs,
                }
            })
            .collect();
        let head = [
            ListAttr::Table(set.table.clone()),
            ListAttr::Set(set.name.clone()),
        ];
        // Where the element list starts in the request: an error pointing at or after it
        // is about an element, one before it about the table or set.
        let elements_at =
            (NLMSG_HDRLEN + NFGENMSG_LEN + head.iter().map(Emitable::buffer_len).sum::<usize>())
                as u32;
        let mut attrs = head.to_vec();
        attrs.push(ListAttr::Elements(Nest::new(elems)));
        let msg = Message::new(
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            Body::SetElems {
                kind: NftKind::GetSetElem,
                nfgen: NfGenMsg::new(set.family.number()),
                attrs,
            },
        );
        self.send_one(&msg)?;
        let mut found = Found::default();
        loop {
            for m in self.receive()? {
                if m.header.seq != seq {
                    continue;
                }
                match m.body {
                    Body::SetElems { attrs, .. } => {
                        for a in attrs {
                            let ListAttr::Elements(n) = a else { continue };
                            for k in n.attrs {
                                let Some((bits, _)) = k.key().and_then(key_bits) else {
                                    continue;
                                };
                                if k.is_interval_end() {
                                    found.ends.push(bits);
                                } else {
                                    found.starts.push((bits, k.timeout_ms(), k.expiration_ms()));
                                }
                            }
                        }
                    }
                    Body::Error(e) if e.code == 0 => {
                        return Ok((!found.starts.is_empty()).then_some(found));
                    }
                    Body::Error(e) if e.code == -(Errno::ENOENT as i32) => {
                        if e.offset().is_some_and(|o| o >= elements_at) {
                            // A lookup found nothing; the kernel stops at the first such
                            // one. Without a start, `addr` is in no element.
                            return Ok((!found.starts.is_empty()).then_some(found));
                        }
                        self.sets.remove(set);
                        return Err(Error::SetMissing(set.clone()));
                    }
                    Body::Error(e) => {
                        self.sets.remove(set);
                        return Err(self.refusal(set, &e, &[], &[], Op::Delete));
                    }
                    _ => {}
                }
            }
        }
    }

    /// The ruleset generation (`NFT_MSG_GETGEN`, `NFTA_GEN_ID`): it moves on with every
    /// commit that changed anything in this network namespace (any table, any tool) and
    /// stays put across reads. Compare two readings to learn whether a cached view of
    /// the ruleset may be stale; one request, one answer.
    pub fn generation(&mut self) -> Result<u32, Error> {
        let seq = self.next_seq();
        let msg = Message::new(
            NLM_F_REQUEST,
            seq,
            Body::Gen {
                kind: NftKind::GetGen,
                nfgen: NfGenMsg::new(0),
                attrs: Vec::new(),
            },
        );
        self.send_one(&msg)?;
        loop {
            for m in self.receive()? {
                if m.header.seq != seq {
                    continue;
                }
                match m.body {
                    Body::Gen { attrs, .. } => {
                        if let Some(id) = attrs.iter().find_map(|a| match a {
                            GenAttr::Id(id) => Some(*id),
                            _ => None,
                        }) {
                            return Ok(id);
                        }
                        return Err(Error::Wire(WireError::Truncated("NFTA_GEN_ID")));
                    }
                    Body::Error(e) if e.code != 0 => {
                        return Err(Error::Io {
                            what: "receive",
                            source: io::Error::from_raw_os_error(-e.code),
                        })
                    }
                    _ => {}
                }
            }
        }
    }

    /// Replaces the set's contents with `elements` in one transaction: a flush of the set
    /// (`NFT_MSG_DELSETELEM` without an element list) followed by the new elements. The
    /// kernel swaps old for new at commit, so a lookup sees either the old contents or the
    /// new ones, never an empty set; any refusal (an overlapping interval, say) leaves the
    /// old contents. Duplicates in `elements` are kept once, as with [`SetClient::merge`].
    pub fn replace(&mut self, set: &SetRef, elements: &[Element]) -> Result<(), Error> {
        self.replace_sets(&[(set, elements)], &mut |_| {})
    }

    /// [`SetClient::replace`] for several sets in one transaction (an IPv4 and an IPv6 set
    /// that together make one list, say). `progress` is called with the number of elements
    /// encoded so far, every [`PROGRESS_EVERY`] elements and once at the end, before the
    /// batch goes to the kernel.
    ///
    /// Memory: the batch is encoded straight from `elements` (no intermediate key list);
    /// what stays is the batch itself (40 bytes per IPv4 interval element, 64 per IPv6 one),
    /// 8 bytes per key to map a refusal back to its element, and the kernel's copy while
    /// it commits.
    pub fn replace_sets(
        &mut self,
        sets: &[(&SetRef, &[Element])],
        progress: &mut dyn FnMut(usize),
    ) -> Result<(), Error> {
        let mut parts = Vec::with_capacity(sets.len());
        for &(set, elements) in sets {
            let info = self.info(set)?;
            parts.push(Part {
                set,
                info,
                flush: true,
                op: Op::Add { strict: false },
                elements,
                timeout_ms: None,
                refresh: false,
            });
        }
        self.transact(&parts, progress)
    }

    /// Encodes `parts` into one batch, sends it and waits for the verdict.
    fn transact(
        &mut self,
        parts: &[Part<'_>],
        progress: &mut dyn FnMut(usize),
    ) -> Result<(), Error> {
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let mut sent: Vec<Sent> = Vec::new();
        let begin_seq = self.next_seq();
        push(&mut batch, &Message::batch(true, begin_seq));
        let mut encoder = Encoder::new(&mut batch, &mut sent, self.seq, self.max_per_message);
        let encoded = parts
            .iter()
            .enumerate()
            .try_for_each(|(n, part)| encoder.part(n, part, progress));
        encoder.close();
        let encoded_total = encoder.encoded;
        self.seq = encoder.seq;
        if let Err(e) = encoded {
            self.batch = batch;
            return Err(e);
        }
        progress(encoded_total);
        let Some(last) = sent.last_mut() else {
            self.batch = batch;
            return Ok(());
        };
        // Only the last message asks for an ACK.
        let last_seq = last.seq;
        let flags_at = last.at + 6;
        let flags = u16::from_ne_bytes([batch[flags_at], batch[flags_at + 1]]) | NLM_F_ACK;
        batch[flags_at..flags_at + 2].copy_from_slice(&flags.to_ne_bytes());
        let end_seq = self.next_seq();
        push(&mut batch, &Message::batch(false, end_seq));
        let result = self
            .send_batch(&batch)
            .and_then(|()| self.await_batch(begin_seq, last_seq, end_seq));
        self.batch = batch;
        // Give back the memory of a big batch; keep a small one for the next call.
        if self.batch.capacity() > KEEP_BATCH {
            self.batch = Vec::new();
        }
        let failed = |e: &ErrorMessage| {
            sent.iter()
                .find(|s| s.seq == e.request.seq)
                .map_or(0, |s| s.part)
        };
        match result {
            Ok(None) => Ok(()),
            Ok(Some(e)) => {
                let part = &parts[failed(&e)];
                for p in parts {
                    self.sets.remove(p.set);
                }
                Err(self.refusal(part.set, &e, &sent, part.elements, part.op))
            }
            Err(e) => {
                for p in parts {
                    self.sets.remove(p.set);
                }
                Err(e)
            }
        }
    }

    fn send_batch(&mut self, batch: &[u8]) -> Result<(), Error> {
        // netlink_sendmsg refuses a datagram longer than the send buffer; a batch must be
        // one datagram, so grow the buffer to fit (as nft does).
        if batch.len() + 4096 > self.sndbuf {
            let want = batch.len() + 4096;
            if setsockopt(&self.socket, sockopt::SndBufForce, &want).is_ok() {
                self.sndbuf = want;
            }
        }
        self.socket.send(batch, 0).map_err(|source| Error::Io {
            what: "send",
            source,
        })?;
        Ok(())
    }

    pub(crate) fn send_one(&mut self, msg: &Message) -> Result<(), Error> {
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        self.socket.send(&buf, 0).map_err(|source| Error::Io {
            what: "send",
            source,
        })?;
        Ok(())
    }

    /// Reads replies until the last element message is answered; returns the first error.
    fn await_batch(
        &mut self,
        begin: u32,
        last: u32,
        end: u32,
    ) -> Result<Option<ErrorMessage>, Error> {
        let mut first_error = None;
        loop {
            let mut done = false;
            for m in self.receive()? {
                let Body::Error(e) = m.body else { continue };
                let seq = e.request.seq;
                if seq < begin || seq > end {
                    continue; // a reply left over from an earlier call
                }
                if seq == last || (seq == begin && e.code != 0) {
                    done = true;
                }
                if e.code != 0 && first_error.is_none() {
                    first_error = Some(e);
                }
            }
            if done {
                return Ok(first_error);
            }
        }
    }

    /// One datagram, parsed.
    pub(crate) fn receive(&mut self) -> Result<Vec<Message>, Error> {
        self.recv.clear();
        self.recv.reserve(RECV_BUF);
        let n = self
            .socket
            .recv(&mut self.recv, 0)
            .map_err(|source| Error::Io {
                what: "receive",
                source,
            })?;
        if n > self.recv.len() {
            return Err(Error::Io {
                what: "receive",
                source: io::Error::new(io::ErrorKind::InvalidData, "netlink datagram truncated"),
            });
        }
        MessageIter::new(&self.recv)
            .collect::<Result<_, _>>()
            .map_err(Error::from)
    }

    /// Maps a kernel error to the caller's element.
    fn refusal(
        &self,
        set: &SetRef,
        e: &ErrorMessage,
        sent: &[Sent],
        elements: &[Element],
        op: Op,
    ) -> Error {
        let errno = Errno::from_raw(-e.code);
        let index = sent.iter().find(|s| s.seq == e.request.seq).and_then(|s| {
            let off = e.offset()?;
            let at = s.keys.partition_point(|(o, _)| *o <= off);
            (at > 0).then(|| s.keys[at - 1].1 as usize)
        });
        let element = index.and_then(|i| elements.get(i).copied());
        match (errno, index, element) {
            (Errno::EEXIST, Some(index), Some(element)) if op == (Op::Add { strict: false }) => {
                Error::Overlaps {
                    set: set.clone(),
                    element,
                    index,
                }
            }
            (Errno::EEXIST, Some(index), Some(element)) if op != Op::Delete => Error::Exists {
                set: set.clone(),
                element,
                index,
            },
            (Errno::ENOENT, Some(index), Some(element)) => Error::Missing {
                set: set.clone(),
                element,
                index,
            },
            (Errno::ENOENT, None, _) => Error::SetMissing(set.clone()),
            _ => Error::Kernel {
                set: set.clone(),
                element,
                index,
                errno,
                reason: e.message().map(str::to_owned),
            },
        }
    }
}

/// What the lookups of one [`SetClient::get`] found: start keys (with their timeout and
/// expiration) and end keys, each in request order.
#[derive(Debug, Default)]
struct Found {
    starts: Vec<(u128, Option<u64>, Option<u64>)>,
    ends: Vec<u128>,
}

impl Found {
    fn entry(&self, start: u128, end: Option<u128>, v4: bool) -> Entry {
        let (_, t, x) = self.starts[0];
        Entry {
            element: Element::from_bounds(start, end, v4),
            timeout: t.map(Duration::from_millis),
            expires: x.map(Duration::from_millis),
        }
    }

    /// The interval holding `a`, from the answers to start(a), end(a), end(a+1),
    /// start(a+1) (see [`SetClient::get`]); `max` is the family's last address.
    fn interval(&self, a: u128, max: u128, v4: bool) -> Option<Entry> {
        let (s, ..) = *self.starts.first()?;
        let end = match self.ends.first() {
            // No end at or above `a`: the interval runs to the top of the family.
            None => None,
            Some(&e) if e > s => Some(e),
            // An end at `a` itself, closing the interval before: `a` is this one's start.
            Some(_) if a == max => None,
            Some(_) => match self.starts.get(1) {
                // a+1 is still inside: its nearest end is ours.
                Some(&(s1, ..)) if s1 == s => self.ends.get(1).copied(),
                // a+1 starts another interval or is in none: ours is [a, a+1).
                _ => Some(a + 1),
            },
        };
        Some(self.entry(s, end.filter(|e| *e <= max), v4))
    }
}

fn push(batch: &mut Vec<u8>, msg: &Message) {
    let at = batch.len();
    batch.resize(at + msg.buffer_len(), 0);
    msg.emit(&mut batch[at..]);
}

/// The kernel keys of one of the caller's elements: the start and, in an interval set,
/// the end (`None` for a range reaching the family's last address, or in a plain set).
pub(crate) fn to_key(
    set: &SetRef,
    info: SetInfo,
    element: &Element,
    index: usize,
) -> Result<(u128, Option<u128>), Error> {
    let (start, end, v4) = element.bounds().ok_or(Error::BadRange {
        element: *element,
        index,
    })?;
    if v4 != info.ipv4 {
        let set_family = if info.ipv4 { 4 } else { 6 };
        return Err(Error::WrongFamily {
            set: set.clone(),
            set_family,
            element: *element,
            index,
        });
    }
    if info.interval {
        Ok((start, end))
    } else if element.is_single() {
        Ok((start, None))
    } else {
        Err(Error::NotInterval {
            set: set.clone(),
            element: *element,
            index,
        })
    }
}

/// A dumped key: address, interval end, IPv4, timeout and expiration in ms.
type DumpedKey = (u128, bool, bool, Option<u64>, Option<u64>);

/// Turns dumped keys into entries: single keys for plain sets, start/end pairs (in any
/// order, as the rbtree dumps them backwards) for interval sets.
fn entries(keys: Vec<ListElem>, interval: bool) -> Vec<Entry> {
    let ms = |v: Option<u64>| v.map(Duration::from_millis);
    let mut parsed: Vec<DumpedKey> = keys
        .iter()
        .filter_map(|k| {
            let (bits, v4) = key_bits(k.key()?)?;
            Some((
                bits,
                k.is_interval_end(),
                v4,
                k.timeout_ms(),
                k.expiration_ms(),
            ))
        })
        .collect();
    if !interval {
        let mut out: Vec<Entry> = parsed
            .into_iter()
            .map(|(bits, _, v4, t, x)| Entry {
                element: Element::from_bounds(bits, bits.checked_add(1), v4),
                timeout: ms(t),
                expires: ms(x),
            })
            .collect();
        out.sort_by_key(|e| e.element);
        return out;
    }
    // At one address an end sorts before a start: [a, b) then [b, c) are adjacent.
    parsed.sort_by_key(|&(bits, end, ..)| (bits, !end));
    let mut out = Vec::new();
    let mut open: Option<(u128, bool, Option<u64>, Option<u64>)> = None;
    for (bits, end, v4, t, x) in parsed {
        match (end, open.take()) {
            (true, Some((s, sv4, st, sx))) => out.push(Entry {
                element: Element::from_bounds(s, Some(bits), sv4),
                timeout: ms(st),
                expires: ms(sx),
            }),
            // nft's all-zero end element closes nothing.
            (true, None) => {}
            (false, prev) => {
                if let Some((s, sv4, st, sx)) = prev {
                    out.push(Entry {
                        element: Element::from_bounds(s, None, sv4),
                        timeout: ms(st),
                        expires: ms(sx),
                    });
                }
                open = Some((bits, v4, t, x));
            }
        }
    }
    if let Some((s, v4, t, x)) = open {
        out.push(Entry {
            element: Element::from_bounds(s, None, v4),
            timeout: ms(t),
            expires: ms(x),
        });
    }
    out
}

/// Bytes a key takes in a message; used by the benchmark to size batches.
#[doc(hidden)]
pub fn key_message_len(ipv4: bool, end: bool) -> usize {
    4 + 4 + 4 + align(if ipv4 { 4 } else { 16 }) + if end { 8 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ElemAttr, NlmsgBuffer, NFT_SET_ELEM_INTERVAL_END};

    fn p(s: &str) -> Element {
        Element::Prefix(s.parse().unwrap())
    }

    #[test]
    fn kernel_dump_pairs_into_ranges() {
        let bytes = crate::wire::tests::KERNEL_DUMP_INTERVAL;
        let msg = Message::parse(&NlmsgBuffer::new_checked(bytes).unwrap()).unwrap();
        let Body::SetElems { attrs, .. } = msg.body else {
            panic!()
        };
        let ListAttr::Elements(n) = attrs.into_iter().nth(2).unwrap() else {
            panic!()
        };
        let got: Vec<Element> = entries(n.attrs, true)
            .into_iter()
            .map(|e| e.element)
            .collect();
        assert_eq!(got, vec![p("192.0.2.0/24"), p("198.51.100.7/32")]);
    }

    #[test]
    fn expansion_checks_family_and_kind() {
        let set = SetRef::inet("rampart", "s");
        let interval = SetInfo {
            ipv4: true,
            interval: true,
            timeout: false,
        };
        let keys = |info, elements: &[Element]| {
            elements
                .iter()
                .enumerate()
                .map(|(i, e)| to_key(&set, info, e, i))
                .collect::<Result<Vec<_>, _>>()
        };
        assert_eq!(
            keys(interval, &[p("192.0.2.0/24"), p("255.255.255.255/32")]).unwrap(),
            vec![(0xc000_0200, Some(0xc000_0300)), (0xffff_ffff, None)]
        );
        let plain = SetInfo {
            interval: false,
            ..interval
        };
        assert_eq!(
            keys(plain, &[p("192.0.2.1/32")]).unwrap(),
            vec![(0xc000_0201, None)]
        );
        assert!(matches!(
            keys(plain, &[p("192.0.2.1/32"), p("192.0.2.0/31")]),
            Err(Error::NotInterval { index: 1, .. })
        ));
        assert!(matches!(
            keys(plain, &[p("2001:db8::1/128")]),
            Err(Error::WrongFamily { .. })
        ));
    }

    #[test]
    fn an_open_range_at_the_top_lists_as_its_prefix() {
        let key = |v: [u8; 4], end: bool| ListElem {
            index: 1,
            flagged: false,
            attrs: if end {
                vec![
                    ElemAttr::key(&v),
                    ElemAttr::Flags(NFT_SET_ELEM_INTERVAL_END),
                ]
            } else {
                vec![ElemAttr::key(&v)]
            },
        };
        let got: Vec<Element> = entries(
            vec![key([255, 255, 255, 0], false), key([0, 0, 0, 0], true)],
            true,
        )
        .into_iter()
        .map(|e| e.element)
        .collect();
        assert_eq!(got, vec![p("255.255.255.0/24")]);
    }
}

#[cfg(test)]
mod get_tests {
    use super::*;

    const MAX4: u128 = u32::MAX as u128;

    fn found(starts: &[u128], ends: &[u128]) -> Found {
        Found {
            starts: starts.iter().map(|s| (*s, None, None)).collect(),
            ends: ends.to_vec(),
        }
    }

    fn shown(f: &Found, a: u128) -> Option<String> {
        f.interval(a, MAX4, true).map(|e| e.element.to_string())
    }

    #[test]
    fn the_nearest_end_above_the_start_closes_the_interval() {
        // 192.0.2.7 in 192.0.2.0/24: start(a) = .0, end(a) = 192.0.3.0.
        let f = found(&[0xc000_0200, 0xc000_0200], &[0xc000_0300, 0xc000_0300]);
        assert_eq!(shown(&f, 0xc000_0207).as_deref(), Some("192.0.2.0/24"));
    }

    #[test]
    fn an_end_at_the_start_belongs_to_the_interval_before() {
        // 192.0.2.128/25 right after 192.0.2.0/25, asked for 192.0.2.128: end(a) is the
        // /25 before's end; a+1 is still inside, so end(a+1) is ours.
        let f = found(&[0xc000_0280, 0xc000_0280], &[0xc000_0280, 0xc000_0300]);
        assert_eq!(shown(&f, 0xc000_0280).as_deref(), Some("192.0.2.128/25"));
        // A single address right after an interval, followed by another interval: a+1
        // starts elsewhere, so ours ends at a+1 whatever end(a+1) said.
        let f = found(&[0xc000_0280, 0xc000_0281], &[0xc000_0280, 0xc000_0300]);
        assert_eq!(shown(&f, 0xc000_0280).as_deref(), Some("192.0.2.128"));
        // … and followed by nothing (start(a+1) found nothing, the kernel stopped).
        let f = found(&[0xc000_0280], &[0xc000_0280, 0xc000_0281]);
        assert_eq!(shown(&f, 0xc000_0280).as_deref(), Some("192.0.2.128"));
    }

    #[test]
    fn no_end_means_the_top_of_the_family() {
        let f = found(&[0xffff_ff00, 0xffff_ff00], &[]);
        assert_eq!(shown(&f, 0xffff_fff0).as_deref(), Some("255.255.255.0/24"));
        // The last address alone, after an interval ending there: two lookups only.
        let f = found(&[MAX4], &[MAX4]);
        assert_eq!(shown(&f, MAX4).as_deref(), Some("255.255.255.255"));
    }

    #[test]
    fn no_start_is_no_entry() {
        assert_eq!(shown(&found(&[], &[0xc000_0300]), 0xc000_0300), None);
    }
}
