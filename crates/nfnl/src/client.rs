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
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};

use crate::element::key_bits;
use crate::encode::{Encoder, Part, Sent};
use crate::wire::{
    align, Body, Emitable, ErrorMessage, ListAttr, ListElem, Message, MessageIter, NfGenMsg,
    NftKind, SetAttr, NFT_SET_INTERVAL, NFT_SET_TIMEOUT, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
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
            }],
            &mut |_| {},
        )
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
