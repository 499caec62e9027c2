//! The batch encoder: turns the parts of one transaction (an optional flush of a set, then
//! the caller's elements) into `NFT_MSG_DELSETELEM`/`NEWSETELEM` messages written straight
//! into the batch buffer.
//!
//! Why straight: a million interval elements are two million kernel keys. Expanding them
//! into a key list first, or building a [`ListElem`](crate::wire::ListElem) value (two
//! small allocations) per key, cost 64 MB and ~4 M allocations on top of the batch; the
//! encoder walks the elements once and writes each key's bytes in place, so the batch
//! (which the kernel needs in one datagram anyway) is the only big buffer.
//!
//! One element message, as written here (byte-identical to what the value types emit;
//! `tests::encoder_matches_the_value_types` checks that):
//!
//! ```text
//! nlmsghdr (16)   len, NFNL_SUBSYS_NFTABLES<<8 | NFT_MSG_NEWSETELEM, flags, seq, pid 0
//! nfgenmsg (4)    family, NFNETLINK_V0, res_id 0
//! NFTA_SET_ELEM_LIST_TABLE   "rampart\0"
//! NFTA_SET_ELEM_LIST_SET     "name\0"
//! NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED      (at most 64 KiB)
//!   n | NLA_F_NESTED                              (n = 1, 2, 3… like libnftnl)
//!     [NFTA_SET_ELEM_FLAGS be32 INTERVAL_END]     (end keys only)
//!     [NFTA_SET_ELEM_TIMEOUT be64 ms]             (start keys with a timeout only)
//!     [NFTA_SET_ELEM_EXPIRATION be64 ms]          (the same, for upsert only)
//!     NFTA_SET_ELEM_KEY | NLA_F_NESTED
//!       NFTA_DATA_VALUE  4 or 16 bytes, network order
//! ```
//!
//! A flush is the same message type `NFT_MSG_DELSETELEM` with no element list at all,
//! set name first and table second (exactly what nft 1.0.6 sends for `flush set`); the
//! kernel's `nf_tables_delsetelem` then calls `nft_set_flush`, which marks every element
//! inactive in the next generation, so the flush takes effect only at commit together
//! with the elements that follow it.

use crate::client::{to_key, Op, SetInfo};
use crate::wire::{
    align, Body, Emitable, ListAttr, Message, NfGenMsg, NftKind, NFTA_LIST_ELEM,
    NFT_SET_ELEM_INTERVAL_END, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use crate::{Element, Error, SetRef};

/// Largest `NFTA_SET_ELEM_LIST_ELEMENTS` payload: `nla_len` is a u16 and counts the
/// 4-byte header.
const MAX_NEST_PAYLOAD: usize = u16::MAX as usize - 4;

/// How often (in elements) [`Encoder::part`] reports progress.
pub const PROGRESS_EVERY: usize = 1 << 16;

const NLA_F_NESTED: u16 = 1 << 15;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_DATA_VALUE: u16 = 1;

/// One part of a transaction: what to do to one set.
pub(crate) struct Part<'a> {
    pub set: &'a SetRef,
    pub info: SetInfo,
    /// Flush the set first (in the same transaction).
    pub flush: bool,
    pub op: Op,
    pub elements: &'a [Element],
    pub timeout_ms: Option<u64>,
    /// With a timeout, also send `NFTA_SET_ELEM_EXPIRATION` = timeout: the kernel (6.10+,
    /// `nft_add_set_elem`) then restarts the clock of an element that is already there
    /// even when its timeout is unchanged.
    pub refresh: bool,
}

/// One message of a batch: its sequence number, where it starts in the batch, the part
/// it belongs to and, per key, the key's offset in the message and the index of the
/// caller's element it came from.
pub(crate) struct Sent {
    pub seq: u32,
    pub at: usize,
    pub part: usize,
    pub keys: Vec<(u32, u32)>,
}

/// The element message being filled.
struct Open {
    /// Offset of its header in the batch.
    at: usize,
    /// Offset of the `NFTA_SET_ELEM_LIST_ELEMENTS` nest header in the batch.
    nest: usize,
    /// Keys in it.
    keys: usize,
}

pub(crate) struct Encoder<'b> {
    pub batch: &'b mut Vec<u8>,
    pub sent: &'b mut Vec<Sent>,
    /// The last sequence number used.
    pub seq: u32,
    pub max_per_message: usize,
    open: Option<Open>,
    /// Elements encoded so far.
    pub encoded: usize,
}

fn put_nla(batch: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    batch.extend_from_slice(&(len as u16).to_ne_bytes());
    batch.extend_from_slice(&kind.to_ne_bytes());
    batch.extend_from_slice(value);
    batch.resize(batch.len() + align(len) - len, 0);
}

impl<'b> Encoder<'b> {
    pub fn new(
        batch: &'b mut Vec<u8>,
        sent: &'b mut Vec<Sent>,
        seq: u32,
        max_per_message: usize,
    ) -> Encoder<'b> {
        Encoder {
            batch,
            sent,
            seq,
            max_per_message: max_per_message.max(1),
            open: None,
            encoded: 0,
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Appends a whole message built from values.
    fn push(&mut self, msg: &Message) {
        let at = self.batch.len();
        self.batch.resize(at + msg.buffer_len(), 0);
        msg.emit(&mut self.batch[at..]);
    }

    /// Encodes one part: its flush, then its elements. An element the set cannot hold
    /// (wrong family, not a single address for a plain set, an empty range) is an error
    /// and nothing may be sent.
    pub fn part(
        &mut self,
        index: usize,
        part: &Part<'_>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(), Error> {
        let family = part.set.family.number();
        if part.flush {
            self.close();
            let seq = self.next_seq();
            let at = self.batch.len();
            self.push(&flush_message(part.set, seq));
            self.sent.push(Sent {
                seq,
                at,
                part: index,
                keys: Vec::new(),
            });
        }
        let (flags, kind) = match part.op {
            Op::Add { strict: true } => (
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
                NftKind::NewSetElem,
            ),
            Op::Add { strict: false } => (NLM_F_REQUEST | NLM_F_CREATE, NftKind::NewSetElem),
            Op::Delete => (NLM_F_REQUEST, NftKind::DelSetElem),
        };
        let timeout = match part.op {
            Op::Add { .. } => part.timeout_ms,
            Op::Delete => None,
        };
        let info = part.info;
        let open_for = |enc: &mut Encoder<'_>, len: usize| {
            let full = enc.open.as_ref().is_some_and(|o| {
                o.keys == enc.max_per_message
                    || enc.batch.len() - o.nest - 4 + len > MAX_NEST_PAYLOAD
            });
            if full {
                enc.close();
            }
            if enc.open.is_none() {
                let seq = enc.next_seq();
                let at = enc.batch.len();
                enc.push(&Message::new(
                    flags,
                    seq,
                    Body::SetElems {
                        kind,
                        nfgen: NfGenMsg::new(family),
                        attrs: vec![
                            ListAttr::Table(part.set.table.clone()),
                            ListAttr::Set(part.set.name.clone()),
                        ],
                    },
                ));
                let nest = enc.batch.len();
                enc.batch.extend_from_slice(&[0, 0]);
                enc.batch
                    .extend_from_slice(&(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED).to_ne_bytes());
                enc.sent.push(Sent {
                    seq,
                    at,
                    part: index,
                    keys: Vec::new(),
                });
                enc.open = Some(Open { at, nest, keys: 0 });
            }
        };
        let key_len = if info.ipv4 { 4 } else { 16 };
        for (i, element) in part.elements.iter().enumerate() {
            let (start, end) = to_key(part.set, info, element, i)?;
            for (bits, is_end) in [(Some(start), false), (end, true)] {
                let Some(bits) = bits else { continue };
                let extra = match (is_end, timeout) {
                    (true, _) => 8,
                    (false, Some(_)) if part.refresh => 24,
                    (false, Some(_)) => 12,
                    (false, None) => 0,
                };
                let len = 4 + extra + 4 + 4 + key_len;
                open_for(self, len);
                let open = self.open.as_mut().expect("opened");
                let at = self.batch.len();
                let sent = self.sent.last_mut().expect("a message is open");
                sent.keys.push(((at - open.at) as u32, i as u32));
                open.keys += 1;
                // libnftnl numbers the nests NFTA_LIST_ELEM, 2, 3…; the kernel ignores the
                // number. A 64 KiB nest holds at most 4,095 keys, so it never reaches the
                // flag bits.
                let number = NFTA_LIST_ELEM + (open.keys - 1) as u16;
                self.batch.extend_from_slice(&(len as u16).to_ne_bytes());
                self.batch
                    .extend_from_slice(&(number | NLA_F_NESTED).to_ne_bytes());
                if is_end {
                    put_nla(
                        self.batch,
                        NFTA_SET_ELEM_FLAGS,
                        &NFT_SET_ELEM_INTERVAL_END.to_be_bytes(),
                    );
                } else if let Some(ms) = timeout {
                    put_nla(self.batch, NFTA_SET_ELEM_TIMEOUT, &ms.to_be_bytes());
                    if part.refresh {
                        put_nla(self.batch, NFTA_SET_ELEM_EXPIRATION, &ms.to_be_bytes());
                    }
                }
                self.batch
                    .extend_from_slice(&((8 + key_len) as u16).to_ne_bytes());
                self.batch
                    .extend_from_slice(&(NFTA_SET_ELEM_KEY | NLA_F_NESTED).to_ne_bytes());
                let bytes = bits.to_be_bytes();
                put_nla(self.batch, NFTA_DATA_VALUE, &bytes[16 - key_len..]);
            }
            self.encoded += 1;
            if self.encoded % PROGRESS_EVERY == 0 {
                progress(self.encoded);
            }
        }
        Ok(())
    }

    /// Finishes the open element message: writes its nest and message lengths.
    pub fn close(&mut self) {
        if let Some(open) = self.open.take() {
            let end = self.batch.len();
            let nest_len = (end - open.nest) as u16;
            self.batch[open.nest..open.nest + 2].copy_from_slice(&nest_len.to_ne_bytes());
            let msg_len = (end - open.at) as u32;
            self.batch[open.at..open.at + 4].copy_from_slice(&msg_len.to_ne_bytes());
        }
    }
}

/// `flush set`: `NFT_MSG_DELSETELEM` without `NFTA_SET_ELEM_LIST_ELEMENTS`, the set name
/// before the table as nft sends it.
pub(crate) fn flush_message(set: &SetRef, seq: u32) -> Message {
    Message::new(
        NLM_F_REQUEST,
        seq,
        Body::SetElems {
            kind: NftKind::DelSetElem,
            nfgen: NfGenMsg::new(set.family.number()),
            attrs: vec![
                ListAttr::Set(set.name.clone()),
                ListAttr::Table(set.table.clone()),
            ],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ElemAttr, ListElem, MessageIter, Nest, NlmsgBuffer};

    /// `nft flush set inet rampart bl_x_4` (nftables 1.0.6, kernel 6.18), captured with
    /// `strace -e trace=sendmsg -e write=all -xx nft flush set inet rampart bl_x_4` inside
    /// `unshare -n`: the message between nft's batch begin and end.
    const NFT_FLUSH_SET: &[u8] = &[
        0x2c, 0x00, 0x00, 0x00, // nlmsg_len 44
        0x0e, 0x0a, // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELSETELEM (14)
        0x01, 0x00, // NLM_F_REQUEST
        0x01, 0x00, 0x00, 0x00, // nlmsg_seq 1
        0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
        0x01, 0x00, 0x00, 0x00, // nfgenmsg: NFPROTO_INET, NFNETLINK_V0, res_id 0
        0x0b, 0x00, 0x02, 0x00, // NFTA_SET_ELEM_LIST_SET, len 11
        0x62, 0x6c, 0x5f, 0x78, 0x5f, 0x34, 0x00, 0x00, // "bl_x_4\0" + 1 pad
        0x0c, 0x00, 0x01, 0x00, // NFTA_SET_ELEM_LIST_TABLE, len 12
        0x72, 0x61, 0x6d, 0x70, 0x61, 0x72, 0x74,
        0x00, // "rampart\0"
              // no NFTA_SET_ELEM_LIST_ELEMENTS: nf_tables_delsetelem() calls nft_set_flush()
    ];

    fn p(s: &str) -> Element {
        Element::Prefix(s.parse().unwrap())
    }

    #[test]
    fn flush_is_delsetelem_without_elements_as_nft_sends_it() {
        let set = SetRef::inet("rampart", "bl_x_4");
        let msg = flush_message(&set, 1);
        let mut junk = vec![0xa5; msg.buffer_len() + 3];
        msg.emit(&mut junk);
        assert_eq!(&junk[..NFT_FLUSH_SET.len()], NFT_FLUSH_SET);
        assert!(junk[NFT_FLUSH_SET.len()..].iter().all(|b| *b == 0xa5));
        let parsed = Message::parse(&NlmsgBuffer::new_checked(NFT_FLUSH_SET).unwrap()).unwrap();
        assert_eq!(parsed, msg);
        let Body::SetElems { kind, attrs, .. } = parsed.body else {
            panic!("set elems")
        };
        assert_eq!(kind, NftKind::DelSetElem);
        assert!(!attrs.iter().any(|a| matches!(a, ListAttr::Elements(_))));
    }

    /// The same messages built from the value types, one key per `ListElem`.
    fn by_values(
        set: &SetRef,
        flags: u16,
        seq: u32,
        keys: &[(&[u8], bool)],
        timeout: Option<(u64, bool)>,
    ) -> Vec<u8> {
        let elems = keys
            .iter()
            .enumerate()
            .map(|(n, (key, end))| {
                let mut attrs = Vec::new();
                if *end {
                    attrs.push(ElemAttr::Flags(NFT_SET_ELEM_INTERVAL_END));
                } else if let Some((ms, refresh)) = timeout {
                    attrs.push(ElemAttr::Timeout(ms));
                    if refresh {
                        attrs.push(ElemAttr::Expiration(ms));
                    }
                }
                attrs.push(ElemAttr::key(key));
                ListElem {
                    index: NFTA_LIST_ELEM + n as u16,
                    flagged: true,
                    attrs,
                }
            })
            .collect();
        let msg = Message::new(
            flags,
            seq,
            Body::SetElems {
                kind: NftKind::NewSetElem,
                nfgen: NfGenMsg::new(1),
                attrs: vec![
                    ListAttr::Table(set.table.clone()),
                    ListAttr::Set(set.name.clone()),
                    ListAttr::Elements(Nest::new(elems)),
                ],
            },
        );
        let mut out = vec![0; msg.buffer_len()];
        msg.emit(&mut out);
        out
    }

    #[test]
    fn encoder_matches_the_value_types() {
        let set = SetRef::inet("rampart", "cidr4");
        let info = SetInfo {
            ipv4: true,
            interval: true,
            timeout: false,
        };
        let elements = [
            p("192.0.2.0/24"),
            p("198.51.100.7/32"),
            p("255.255.255.0/24"),
        ];
        let (mut batch, mut sent) = (Vec::new(), Vec::new());
        let mut enc = Encoder::new(&mut batch, &mut sent, 0, 3);
        let part = Part {
            set: &set,
            info,
            flush: true,
            op: Op::Add { strict: false },
            elements: &elements,
            timeout_ms: None,
            refresh: false,
        };
        enc.part(0, &part, &mut |_| {}).unwrap();
        enc.close();
        assert_eq!(enc.encoded, 3);
        let flags = NLM_F_REQUEST | NLM_F_CREATE;
        let mut want = Vec::new();
        let mut m = vec![0; flush_message(&set, 1).buffer_len()];
        flush_message(&set, 1).emit(&mut m);
        want.extend(m);
        // Five keys (the last range has no end), three per message.
        want.extend(by_values(
            &set,
            flags,
            2,
            &[
                (&[192, 0, 2, 0], false),
                (&[192, 0, 3, 0], true),
                (&[198, 51, 100, 7], false),
            ],
            None,
        ));
        want.extend(by_values(
            &set,
            flags,
            3,
            &[(&[198, 51, 100, 8], true), (&[255, 255, 255, 0], false)],
            None,
        ));
        assert_eq!(batch, want);
        // Each key's offset and element, for mapping refusals back.
        assert_eq!(sent.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(sent[0].keys.is_empty());
        let first = 16 + 4 + 12 + 12 + 4;
        assert_eq!(
            sent[1].keys,
            [(first, 0), (first + 16, 0), (first + 16 + 24, 1)]
        );
        assert_eq!(sent[2].keys, [(first, 1), (first + 24, 2)]);
        assert_eq!(MessageIter::new(&batch).count(), 3);
    }

    #[test]
    fn encoder_writes_timeouts_and_strict_flags_like_the_value_types() {
        let set = SetRef::inet("rampart", "ban_6");
        let info = SetInfo {
            ipv4: false,
            interval: false,
            timeout: true,
        };
        let elements = [p("2001:db8::1/128")];
        let (mut batch, mut sent) = (Vec::new(), Vec::new());
        let mut enc = Encoder::new(&mut batch, &mut sent, 6, 1024);
        let part = Part {
            set: &set,
            info,
            flush: false,
            op: Op::Add { strict: true },
            elements: &elements,
            timeout_ms: Some(3_600_000),
            refresh: false,
        };
        enc.part(0, &part, &mut |_| {}).unwrap();
        enc.close();
        let key: [u8; 16] = "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        let want = by_values(
            &set,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
            7,
            &[(&key, false)],
            Some((3_600_000, false)),
        );
        assert_eq!(batch, want);
    }

    #[test]
    fn upsert_keys_carry_the_expiration_beside_the_timeout() {
        let set = SetRef::inet("rampart", "blocklist");
        let info = SetInfo {
            ipv4: true,
            interval: false,
            timeout: true,
        };
        let elements = [p("192.0.2.1/32"), p("192.0.2.2/32")];
        let (mut batch, mut sent) = (Vec::new(), Vec::new());
        let mut enc = Encoder::new(&mut batch, &mut sent, 0, 1024);
        let part = Part {
            set: &set,
            info,
            flush: false,
            op: Op::Add { strict: false },
            elements: &elements,
            timeout_ms: Some(7_200_000),
            refresh: true,
        };
        enc.part(0, &part, &mut |_| {}).unwrap();
        enc.close();
        let want = by_values(
            &set,
            NLM_F_REQUEST | NLM_F_CREATE,
            1,
            &[(&[192, 0, 2, 1], false), (&[192, 0, 2, 2], false)],
            Some((7_200_000, true)),
        );
        assert_eq!(batch, want);
        // Each key: nest 4 + timeout 12 + expiration 12 + key nest 12.
        let first = 16 + 4 + 12 + 16 + 4;
        assert_eq!(sent[0].keys, [(first, 0), (first + 40, 1)]);
    }

    #[test]
    fn an_element_the_set_cannot_hold_stops_the_encoding() {
        let set = SetRef::inet("rampart", "cidr4");
        let info = SetInfo {
            ipv4: true,
            interval: true,
            timeout: false,
        };
        let elements = [p("192.0.2.0/24"), p("2001:db8::/32")];
        let (mut batch, mut sent) = (Vec::new(), Vec::new());
        let mut enc = Encoder::new(&mut batch, &mut sent, 0, 1024);
        let part = Part {
            set: &set,
            info,
            flush: true,
            op: Op::Add { strict: false },
            elements: &elements,
            timeout_ms: None,
            refresh: false,
        };
        let e = enc.part(0, &part, &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::WrongFamily { index: 1, .. }));
    }
}
