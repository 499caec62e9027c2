//! Fixture tests: bytes captured from nft and from the kernel, parsed to values, emitted
//! back (into junk-filled buffers) to the same bytes.
//!
//! Captures: nftables v1.0.6 (Debian), kernel 6.18, inside `unshare -n` after
//! `nft -f` of
//! `table inet rampart { set blocklist { type ipv4_addr; flags timeout; }
//!  set cidr4 { type ipv4_addr; flags interval; } }`, with
//! `strace -e trace=sendmsg,recvmsg -x -s 4096 nft …` (strace 6.x).

use super::*;

/// `nft add element inet rampart cidr4 { 192.0.2.0/24 }` on the empty set: the
/// NFT_MSG_NEWSETELEM of the batch (the 2nd message of the sendmsg).
pub(crate) const NFT_ADD_INTERVAL: &[u8] = &[
    0x78, 0x00, 0x00, 0x00, // nlmsg_len 120
    0x0c, 0x0a, // nlmsg_type NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM
    0x01, 0x04, // NLM_F_REQUEST | NLM_F_CREATE
    0x01, 0x00, 0x00, 0x00, // nlmsg_seq 1
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x01, 0x00, 0x00, 0x00, // nfgenmsg: NFPROTO_INET, NFNETLINK_V0, res_id 0
    0x0c, 0x00, 0x01, 0x00, // NFTA_SET_ELEM_LIST_TABLE, len 12
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x0a, 0x00, 0x02, 0x00, // NFTA_SET_ELEM_LIST_SET, len 10
    b'c', b'i', b'd', b'r', b'4', 0x00, 0x00, 0x00, // "cidr4\0" + 2 padding
    0x08, 0x00, 0x04, 0x00, // NFTA_SET_ELEM_LIST_SET_ID, len 8
    0x00, 0x00, 0x00, 0x02, // set id 2 (big-endian)
    0x44, 0x00, 0x03, 0x80, // NLA_F_NESTED | NFTA_SET_ELEM_LIST_ELEMENTS, len 68
    0x18, 0x00, 0x01, 0x80, //   NLA_F_NESTED | 1 (NFTA_LIST_ELEM), len 24
    0x08, 0x00, 0x03, 0x00, //     NFTA_SET_ELEM_FLAGS, len 8
    0x00, 0x00, 0x00, 0x01, //     NFT_SET_ELEM_INTERVAL_END
    0x0c, 0x00, 0x01, 0x80, //     NLA_F_NESTED | NFTA_SET_ELEM_KEY, len 12
    0x08, 0x00, 0x01, 0x00, //       NFTA_DATA_VALUE, len 8
    0x00, 0x00, 0x00, 0x00, //       0.0.0.0: nft's "first segment" end on an empty set
    0x10, 0x00, 0x02, 0x80, //   NLA_F_NESTED | 2 (libnftnl counts), len 16
    0x0c, 0x00, 0x01, 0x80, //     NLA_F_NESTED | NFTA_SET_ELEM_KEY, len 12
    0x08, 0x00, 0x01, 0x00, //       NFTA_DATA_VALUE, len 8
    0xc0, 0x00, 0x02, 0x00, //       192.0.2.0: start
    0x18, 0x00, 0x03, 0x80, //   NLA_F_NESTED | 3, len 24
    0x08, 0x00, 0x03, 0x00, //     NFTA_SET_ELEM_FLAGS, len 8
    0x00, 0x00, 0x00, 0x01, //     NFT_SET_ELEM_INTERVAL_END
    0x0c, 0x00, 0x01, 0x80, //     NLA_F_NESTED | NFTA_SET_ELEM_KEY, len 12
    0x08, 0x00, 0x01, 0x00, //       NFTA_DATA_VALUE, len 8
    0xc0, 0x00, 0x03, 0x00, //       192.0.3.0: end (exclusive)
];

/// `nft add element inet rampart blocklist { 192.0.2.1 timeout 1h }`.
const NFT_ADD_TIMEOUT: &[u8] = &[
    0x58, 0x00, 0x00, 0x00, // nlmsg_len 88
    0x0c, 0x0a, // NFT_MSG_NEWSETELEM
    0x01, 0x04, // NLM_F_REQUEST | NLM_F_CREATE
    0x01, 0x00, 0x00, 0x00, // nlmsg_seq 1
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x01, 0x00, 0x00, 0x00, // nfgenmsg: NFPROTO_INET
    0x0c, 0x00, 0x01, 0x00, // NFTA_SET_ELEM_LIST_TABLE, len 12
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x0e, 0x00, 0x02, 0x00, // NFTA_SET_ELEM_LIST_SET, len 14
    b'b', b'l', b'o', b'c', b'k', b'l', b'i', b's', b't', 0x00, 0x00, 0x00, // + 2 padding
    0x08, 0x00, 0x04, 0x00, // NFTA_SET_ELEM_LIST_SET_ID
    0x00, 0x00, 0x00, 0x01, // 1
    0x20, 0x00, 0x03, 0x80, // NLA_F_NESTED | NFTA_SET_ELEM_LIST_ELEMENTS, len 32
    0x1c, 0x00, 0x01, 0x80, //   NLA_F_NESTED | NFTA_LIST_ELEM, len 28
    0x0c, 0x00, 0x04, 0x00, //     NFTA_SET_ELEM_TIMEOUT, len 12
    0x00, 0x00, 0x00, 0x00, 0x00, 0x36, 0xee, 0x80, // 3,600,000 ms, big-endian u64
    0x0c, 0x00, 0x01, 0x80, //     NLA_F_NESTED | NFTA_SET_ELEM_KEY, len 12
    0x08, 0x00, 0x01, 0x00, //       NFTA_DATA_VALUE, len 8
    0xc0, 0x00, 0x02, 0x01, //       192.0.2.1
];

/// The kernel's reply to nft's GETSETELEM dump of cidr4 holding 192.0.2.0/24 and
/// 198.51.100.7 (first datagram). No NLA_F_NESTED, every nest numbered 1, the rbtree
/// walked from the top down.
pub(crate) const KERNEL_DUMP_INTERVAL: &[u8] = &[
    0x98, 0x00, 0x00, 0x00, // nlmsg_len 152
    0x0c, 0x0a, // NFT_MSG_NEWSETELEM
    0x02, 0x00, // NLM_F_MULTI
    0x00, 0x00, 0x00, 0x00, // nlmsg_seq 0
    0x84, 0x65, 0x00, 0x00, // nlmsg_pid 25988 (nft's port id)
    0x01, 0x00, 0x00, 0x04, // nfgenmsg: NFPROTO_INET, v0, res_id 4 (ruleset generation)
    0x0c, 0x00, 0x01, 0x00, // NFTA_SET_ELEM_LIST_TABLE
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x0a, 0x00, 0x02, 0x00, // NFTA_SET_ELEM_LIST_SET
    b'c', b'i', b'd', b'r', b'4', 0x00, 0x00, 0x00, // "cidr4\0" + padding
    0x6c, 0x00, 0x03, 0x00, // NFTA_SET_ELEM_LIST_ELEMENTS, len 108, no NLA_F_NESTED
    0x18, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 24
    0x0c, 0x00, 0x01, 0x00, //     NFTA_SET_ELEM_KEY, len 12
    0x08, 0x00, 0x01, 0x00, 0xc6, 0x33, 0x64, 0x08, // NFTA_DATA_VALUE 198.51.100.8
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, // NFTA_SET_ELEM_FLAGS INTERVAL_END
    0x10, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 16
    0x0c, 0x00, 0x01, 0x00, //     NFTA_SET_ELEM_KEY
    0x08, 0x00, 0x01, 0x00, 0xc6, 0x33, 0x64, 0x07, // 198.51.100.7: start
    0x18, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 24
    0x0c, 0x00, 0x01, 0x00, //     NFTA_SET_ELEM_KEY
    0x08, 0x00, 0x01, 0x00, 0xc0, 0x00, 0x03, 0x00, // 192.0.3.0
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, // INTERVAL_END
    0x10, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 16
    0x0c, 0x00, 0x01, 0x00, //     NFTA_SET_ELEM_KEY
    0x08, 0x00, 0x01, 0x00, 0xc0, 0x00, 0x02, 0x00, // 192.0.2.0: start
    0x18, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 24
    0x0c, 0x00, 0x01, 0x00, //     NFTA_SET_ELEM_KEY
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // 0.0.0.0
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, // INTERVAL_END (nft's first segment)
];

/// nft's batch begin: `NFNL_MSG_BATCH_BEGIN`, res_id `NFNL_SUBSYS_NFTABLES`.
const NFT_BATCH_BEGIN: &[u8] = &[
    0x14, 0x00, 0x00, 0x00, // nlmsg_len 20
    0x10, 0x00, // NFNL_MSG_BATCH_BEGIN
    0x01, 0x00, // NLM_F_REQUEST
    0x00, 0x00, 0x00, 0x00, // nlmsg_seq 0
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x00, 0x00, 0x00, 0x0a, // nfgenmsg: AF_UNSPEC, v0, res_id 10 (big-endian)
];

/// An ACK with extended-ACK and CAP_ACK (built by hand from `struct nlmsgerr`'s layout):
/// EEXIST for a NEWSETELEM, pointing at offset 56.
const KERNEL_ERROR_EXT: &[u8] = &[
    0x2c, 0x00, 0x00, 0x00, // nlmsg_len 44
    0x02, 0x00, // NLMSG_ERROR
    0x00, 0x03, // NLM_F_CAPPED | NLM_F_ACK_TLVS
    0x07, 0x00, 0x00, 0x00, // nlmsg_seq 7
    0x10, 0x00, 0x00, 0x00, // nlmsg_pid
    0xef, 0xff, 0xff, 0xff, // error -17 (EEXIST)
    0x58, 0x00, 0x00, 0x00, // quoted nlmsg_len 88
    0x0c, 0x0a, // quoted type NEWSETELEM
    0x05, 0x06, // NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    0x07, 0x00, 0x00, 0x00, // quoted seq 7
    0x00, 0x00, 0x00, 0x00, // quoted pid
    0x08, 0x00, 0x02, 0x00, // NLMSGERR_ATTR_OFFS, len 8
    0x38, 0x00, 0x00, 0x00, // offset 56
];

fn round_trip(bytes: &[u8]) -> Message {
    let msg = Message::parse(&NlmsgBuffer::new_checked(bytes).unwrap()).unwrap();
    assert_eq!(msg.buffer_len(), bytes.len());
    let mut junk = vec![0xa5; bytes.len() + 7];
    msg.emit(&mut junk);
    assert_eq!(&junk[..bytes.len()], bytes, "emit gives the captured bytes");
    assert!(
        junk[bytes.len()..].iter().all(|b| *b == 0xa5),
        "emit stays in its length"
    );
    msg
}

fn key(v: &[u8]) -> ElemAttr {
    ElemAttr::key(v)
}

#[test]
fn nft_interval_add_parses_and_round_trips() {
    let msg = round_trip(NFT_ADD_INTERVAL);
    assert_eq!(msg.header.flags, NLM_F_REQUEST | NLM_F_CREATE);
    let Body::SetElems { kind, nfgen, attrs } = msg.body else {
        panic!("set elems")
    };
    assert_eq!(kind, NftKind::NewSetElem);
    assert_eq!(nfgen, NfGenMsg::new(1));
    let end = ElemAttr::Flags(NFT_SET_ELEM_INTERVAL_END);
    let elem = |index, attrs| ListElem {
        index,
        flagged: true,
        attrs,
    };
    assert_eq!(
        attrs,
        vec![
            ListAttr::Table("rampart".into()),
            ListAttr::Set("cidr4".into()),
            ListAttr::SetId(2),
            ListAttr::Elements(Nest::new(vec![
                elem(1, vec![end.clone(), key(&[0, 0, 0, 0])]),
                elem(2, vec![key(&[192, 0, 2, 0])]),
                elem(3, vec![end, key(&[192, 0, 3, 0])]),
            ])),
        ]
    );
}

#[test]
fn value_built_like_nft_emits_nfts_bytes() {
    let end = ElemAttr::Flags(NFT_SET_ELEM_INTERVAL_END);
    let elem = |index, attrs| ListElem {
        index,
        flagged: true,
        attrs,
    };
    let msg = Message::new(
        NLM_F_REQUEST | NLM_F_CREATE,
        1,
        Body::SetElems {
            kind: NftKind::NewSetElem,
            nfgen: NfGenMsg::new(1),
            attrs: vec![
                ListAttr::Table("rampart".into()),
                ListAttr::Set("cidr4".into()),
                ListAttr::SetId(2),
                ListAttr::Elements(Nest::new(vec![
                    elem(1, vec![end.clone(), key(&[0, 0, 0, 0])]),
                    elem(2, vec![key(&[192, 0, 2, 0])]),
                    elem(3, vec![end, key(&[192, 0, 3, 0])]),
                ])),
            ],
        },
    );
    let mut junk = vec![0x5a; msg.buffer_len()];
    msg.emit(&mut junk);
    assert_eq!(junk, NFT_ADD_INTERVAL);
}

#[test]
fn nft_timeout_add_round_trips() {
    let msg = round_trip(NFT_ADD_TIMEOUT);
    let Body::SetElems { attrs, .. } = msg.body else {
        panic!("set elems")
    };
    let ListAttr::Elements(nest) = &attrs[3] else {
        panic!("elements")
    };
    assert_eq!(nest.attrs[0].timeout_ms(), Some(3_600_000));
    assert_eq!(nest.attrs[0].key(), Some(&[192, 0, 2, 1][..]));
    assert!(!nest.attrs[0].is_interval_end());
}

#[test]
fn kernel_dump_round_trips_without_nested_flags() {
    let msg = round_trip(KERNEL_DUMP_INTERVAL);
    assert_eq!(msg.header.flags, 0x2);
    let Body::SetElems { nfgen, attrs, .. } = msg.body else {
        panic!("set elems")
    };
    assert_eq!(nfgen.res_id, 4);
    let ListAttr::Elements(nest) = &attrs[2] else {
        panic!("elements")
    };
    assert!(!nest.flagged);
    let keys: Vec<_> = nest
        .attrs
        .iter()
        .map(|e| (e.index, e.flagged, e.key().unwrap()[3], e.is_interval_end()))
        .collect();
    assert_eq!(
        keys,
        vec![
            (1, false, 8, true),
            (1, false, 7, false),
            (1, false, 0, true),
            (1, false, 0, false),
            (1, false, 0, true)
        ]
    );
}

#[test]
fn batch_begin_round_trips_and_matches_the_builder() {
    let msg = round_trip(NFT_BATCH_BEGIN);
    assert_eq!(msg, Message::batch(true, 0));
}

#[test]
fn extended_ack_error_round_trips() {
    let msg = round_trip(KERNEL_ERROR_EXT);
    let Body::Error(e) = msg.body else {
        panic!("error")
    };
    assert_eq!(e.code, -17);
    assert_eq!(e.request.seq, 7);
    assert_eq!(e.request.length, 88);
    assert!(e.request_payload.is_empty());
    assert_eq!(e.offset(), Some(56));
}

#[test]
fn unknown_attributes_are_kept_raw() {
    let mut bytes = NFT_ADD_TIMEOUT.to_vec();
    // Turn NFTA_SET_ELEM_LIST_SET_ID (4) into an unknown 0x0f.
    bytes[50] = 0x0f;
    let msg = round_trip(&bytes);
    let Body::SetElems { attrs, .. } = msg.body else {
        panic!()
    };
    assert_eq!(
        attrs[2],
        ListAttr::Other(RawAttr {
            kind: 0x0f,
            value: vec![0, 0, 0, 1]
        })
    );
}

#[test]
fn truncated_messages_are_errors() {
    for cut in [3, 15, 40, 87] {
        let r = NlmsgBuffer::new_checked(&NFT_ADD_TIMEOUT[..cut]).and_then(|v| Message::parse(&v));
        assert!(r.is_err(), "cut at {cut}");
    }
    // A length that lies about a nested attribute.
    let mut bytes = NFT_ADD_TIMEOUT.to_vec();
    bytes[60] = 0xff;
    assert!(Message::parse(&NlmsgBuffer::new_checked(&bytes).unwrap()).is_err());
}

/// `nft get element inet rampart cidr4 { 192.0.2.7 }` with cidr4 holding 192.0.2.0/24
/// (captured with `strace -e trace=sendto,recvmsg -xx`): nft's one-key GETSETELEM, sent
/// after it has dumped the whole set into its cache. No NLM_F_DUMP: the kernel answers
/// each listed element with one NEWSETELEM, then the ACK.
const NFT_GET_ELEMENT: &[u8] = &[
    0x40, 0x00, 0x00, 0x00, // nlmsg_len 64
    0x0d, 0x0a, // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETSETELEM
    0x05, 0x00, // NLM_F_REQUEST | NLM_F_ACK
    0x01, 0x00, 0x00, 0x00, // nlmsg_seq 1
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x01, 0x00, 0x00, 0x00, // nfgenmsg: NFPROTO_INET, NFNETLINK_V0, res_id 0
    0x0a, 0x00, 0x02, 0x00, // NFTA_SET_ELEM_LIST_SET, len 10
    b'c', b'i', b'd', b'r', b'4', 0x00, 0x00, 0x00, // "cidr4\0" + 2 padding
    0x0c, 0x00, 0x01, 0x00, // NFTA_SET_ELEM_LIST_TABLE, len 12
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x14, 0x00, 0x03, 0x80, // NLA_F_NESTED | NFTA_SET_ELEM_LIST_ELEMENTS, len 20
    0x10, 0x00, 0x01, 0x80, //   NLA_F_NESTED | NFTA_LIST_ELEM, len 16
    0x0c, 0x00, 0x01, 0x80, //     NLA_F_NESTED | NFTA_SET_ELEM_KEY, len 12
    0x08, 0x00, 0x01, 0x00, //       NFTA_DATA_VALUE, len 8
    0xc0, 0x00, 0x02, 0x07, //       192.0.2.7: no flags, so a start-key lookup
];

/// The kernel's answer to [`NFT_GET_ELEMENT`]: the start key of the interval that holds
/// 192.0.2.7, and no end (nft finds the end in its cache).
const KERNEL_GET_ELEMENT_REPLY: &[u8] = &[
    0x40, 0x00, 0x00, 0x00, // nlmsg_len 64
    0x0c, 0x0a, // NFT_MSG_NEWSETELEM
    0x00, 0x00, // no flags: not part of a dump
    0x01, 0x00, 0x00, 0x00, // nlmsg_seq 1, the request's
    0xc9, 0x7e, 0x00, 0x00, // nlmsg_pid 32457 (nft's port id)
    0x01, 0x00, 0x00, 0x02, // nfgenmsg: NFPROTO_INET, v0, res_id 2 (generation)
    0x0c, 0x00, 0x01, 0x00, // NFTA_SET_ELEM_LIST_TABLE, len 12
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x0a, 0x00, 0x02, 0x00, // NFTA_SET_ELEM_LIST_SET, len 10
    b'c', b'i', b'd', b'r', b'4', 0x00, 0x00, 0x00, // "cidr4\0" + 2 padding
    0x14, 0x00, 0x03, 0x00, // NFTA_SET_ELEM_LIST_ELEMENTS, len 20, no NLA_F_NESTED
    0x10, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 16
    0x0c, 0x00, 0x01, 0x00, //     NFTA_SET_ELEM_KEY, len 12
    0x08, 0x00, 0x01, 0x00, //       NFTA_DATA_VALUE, len 8
    0xc0, 0x00, 0x02, 0x00, //       192.0.2.0: the interval's start
];

/// nft's `NFT_MSG_GETGEN` (the first message of every nft command, same capture): a
/// bare nfgenmsg.
const NFT_GETGEN: &[u8] = &[
    0x14, 0x00, 0x00, 0x00, // nlmsg_len 20
    0x10, 0x0a, // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN
    0x01, 0x00, // NLM_F_REQUEST
    0x00, 0x00, 0x00, 0x00, // nlmsg_seq 0
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x00, 0x00, 0x00, 0x00, // nfgenmsg: AF_UNSPEC, NFNETLINK_V0, res_id 0
];

/// The kernel's `NFT_MSG_NEWGEN` answer to [`NFT_GETGEN`].
const KERNEL_NEWGEN: &[u8] = &[
    0x2c, 0x00, 0x00, 0x00, // nlmsg_len 44
    0x0f, 0x0a, // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN
    0x00, 0x00, // no flags
    0x00, 0x00, 0x00, 0x00, // nlmsg_seq 0
    0xc9, 0x7e, 0x00, 0x00, // nlmsg_pid 32457
    0x00, 0x00, 0x00, 0x02, // nfgenmsg: AF_UNSPEC, v0, res_id 2 (generation, BE)
    0x08, 0x00, 0x01, 0x00, // NFTA_GEN_ID, len 8
    0x00, 0x00, 0x00, 0x02, //   generation 2 (one `nft -f` since the namespace was made)
    0x08, 0x00, 0x02, 0x00, // NFTA_GEN_PROC_PID, len 8
    0x00, 0x00, 0x7e, 0xc9, //   32457: the nft that committed it
    0x08, 0x00, 0x03, 0x00, // NFTA_GEN_PROC_NAME, len 8
    b'n', b'f', b't', 0x00, //   "nft\0"
];

#[test]
fn nft_get_element_round_trips_and_matches_the_builder() {
    let msg = round_trip(NFT_GET_ELEMENT);
    let built = Message::new(
        NLM_F_REQUEST | NLM_F_ACK,
        1,
        Body::SetElems {
            kind: NftKind::GetSetElem,
            nfgen: NfGenMsg::new(1),
            attrs: vec![
                ListAttr::Set("cidr4".into()),
                ListAttr::Table("rampart".into()),
                ListAttr::Elements(Nest::new(vec![ListElem {
                    index: 1,
                    flagged: true,
                    attrs: vec![key(&[192, 0, 2, 7])],
                }])),
            ],
        },
    );
    assert_eq!(msg, built);
    let mut junk = vec![0x5a; built.buffer_len()];
    built.emit(&mut junk);
    assert_eq!(junk, NFT_GET_ELEMENT);
}

#[test]
fn kernel_get_element_reply_round_trips() {
    let msg = round_trip(KERNEL_GET_ELEMENT_REPLY);
    assert_eq!(msg.header.seq, 1);
    let Body::SetElems { kind, nfgen, attrs } = msg.body else {
        panic!("set elems")
    };
    assert_eq!(kind, NftKind::NewSetElem);
    assert_eq!(nfgen.res_id, 2);
    let ListAttr::Elements(nest) = &attrs[2] else {
        panic!("elements")
    };
    assert_eq!(nest.attrs.len(), 1);
    assert_eq!(nest.attrs[0].key(), Some(&[192, 0, 2, 0][..]));
    assert!(!nest.attrs[0].is_interval_end());
}

#[test]
fn getgen_request_matches_the_builder() {
    let msg = round_trip(NFT_GETGEN);
    let built = Message::new(
        NLM_F_REQUEST,
        0,
        Body::Gen {
            kind: NftKind::GetGen,
            nfgen: NfGenMsg::new(0),
            attrs: vec![],
        },
    );
    assert_eq!(msg, built);
}

#[test]
fn kernel_newgen_parses_and_round_trips() {
    let msg = round_trip(KERNEL_NEWGEN);
    let Body::Gen { kind, nfgen, attrs } = msg.body else {
        panic!("gen")
    };
    assert_eq!(kind, NftKind::NewGen);
    assert_eq!(nfgen.res_id, 2);
    assert_eq!(
        attrs,
        vec![
            GenAttr::Id(2),
            GenAttr::ProcPid(32457),
            GenAttr::ProcName("nft".into()),
        ]
    );
    // Built from values, the same bytes.
    let built = Message {
        header: msg.header,
        body: Body::Gen {
            kind: NftKind::NewGen,
            nfgen: NfGenMsg {
                res_id: 2,
                ..NfGenMsg::new(0)
            },
            attrs,
        },
    };
    let mut junk = vec![0xa5; built.buffer_len()];
    built.emit(&mut junk);
    assert_eq!(junk, KERNEL_NEWGEN);
}

#[test]
fn an_unknown_generation_attribute_is_kept_raw() {
    let mut bytes = KERNEL_NEWGEN.to_vec();
    bytes[38] = 0x09; // NFTA_GEN_PROC_NAME → unknown 9
    let msg = round_trip(&bytes);
    let Body::Gen { attrs, .. } = msg.body else {
        panic!("gen")
    };
    assert_eq!(
        attrs[2],
        GenAttr::Other(RawAttr {
            kind: 9,
            value: b"nft\0".to_vec()
        })
    );
}
