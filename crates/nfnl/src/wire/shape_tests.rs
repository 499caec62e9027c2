//! Fixture tests for the messages `table_shape` reads: one reply each of the kernel's
//! GETSET, GETCHAIN and GETRULE dumps, parsed to values and emitted back (into
//! junk-filled buffers) to the same bytes.
//!
//! Captures: kernel 6.18, nftables v1.0.6 (Debian), inside `unshare -n` after `nft -f` of
//!
//! ```text
//! table inet rampart {
//!     set s { type ipv4_addr; flags interval; }
//!     set bans { type ipv4_addr; flags timeout; timeout 1h; }
//!     chain input {
//!         type filter hook input priority 0; policy accept;
//!         tcp dport 22 counter accept comment "ssh"
//!     }
//!     chain sub {
//!     }
//! }
//! ```
//!
//! with this crate's own dump requests (`NLM_F_REQUEST | NLM_F_DUMP`, family inet,
//! `NFTA_*_TABLE "rampart"`, seq 100, 101, 102) sent on a raw `NETLINK_NETFILTER` socket
//! and each received datagram printed in hex (a throwaway debug program, not kept).

use super::*;

/// The first message of the GETSET dump: set `s`.
const KERNEL_SET_INTERVAL: &[u8] = &[
    0x7c, 0x00, 0x00, 0x00, // nlmsg_len 124
    0x09, 0x0a, // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSET
    0x02, 0x00, // NLM_F_MULTI
    0x64, 0x00, 0x00, 0x00, // nlmsg_seq 100
    0xc7, 0x6b, 0x00, 0x00, // nlmsg_pid 27591 (the capturing socket)
    0x01, 0x00, 0x00, 0x02, // nfgenmsg: NFPROTO_INET, v0, res_id 2 (generation)
    0x0c, 0x00, 0x01, 0x00, // NFTA_SET_TABLE, len 12
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x06, 0x00, 0x02, 0x00, // NFTA_SET_NAME, len 6
    b's', 0x00, 0x00, 0x00, // "s\0" + 2 padding
    0x0c, 0x00, 0x10, 0x00, // NFTA_SET_HANDLE, len 12
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, // handle 3
    0x08, 0x00, 0x03, 0x00, // NFTA_SET_FLAGS
    0x00, 0x00, 0x00, 0x04, // NFT_SET_INTERVAL
    0x08, 0x00, 0x04, 0x00, // NFTA_SET_KEY_TYPE
    0x00, 0x00, 0x00, 0x07, // 7: nft's ipv4_addr
    0x08, 0x00, 0x05, 0x00, // NFTA_SET_KEY_LEN
    0x00, 0x00, 0x00, 0x04, // 4 bytes
    0x0a, 0x00, 0x0d, 0x00, // NFTA_SET_USERDATA, len 10
    0x00, 0x04, 0x02, 0x00, 0x00, 0x00, // TLV 0 (key byte order), len 4, value 2 (host u32)
    0x00, 0x00, // padding
    0x04, 0x00, 0x09, 0x00, // NFTA_SET_DESC, len 4, empty
    0x17, 0x00, 0x13, 0x00, // NFTA_SET_TYPE, len 23: the backend, sent as a pointer string
    b'0', b'x', b'f', b'f', b'f', b'f', b'f', b'f', b'f', b'f', //
    b'8', b'2', b'5', b'0', b'6', b'7', b'a', b'0', 0x00, 0x00, // "…825067a0\0" + padding
    0x08, 0x00, 0x14, 0x00, // NFTA_SET_COUNT
    0x00, 0x00, 0x00, 0x00, // 0 elements
];

/// The first message of the GETCHAIN dump: base chain `input`.
const KERNEL_CHAIN_BASE: &[u8] = &[
    0x70, 0x00, 0x00, 0x00, // nlmsg_len 112
    0x03, 0x0a, // NFT_MSG_NEWCHAIN
    0x02, 0x00, // NLM_F_MULTI
    0x65, 0x00, 0x00, 0x00, // nlmsg_seq 101
    0xc7, 0x6b, 0x00, 0x00, // nlmsg_pid
    0x01, 0x00, 0x00, 0x02, // nfgenmsg: NFPROTO_INET, v0, res_id 2
    0x0c, 0x00, 0x01, 0x00, // NFTA_CHAIN_TABLE
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x0a, 0x00, 0x03, 0x00, // NFTA_CHAIN_NAME, len 10
    b'i', b'n', b'p', b'u', b't', 0x00, 0x00, 0x00, // "input\0" + 2 padding
    0x0c, 0x00, 0x02, 0x00, // NFTA_CHAIN_HANDLE
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // handle 1
    0x14, 0x00, 0x04, 0x00, // NFTA_CHAIN_HOOK, len 20, no NLA_F_NESTED
    0x08, 0x00, 0x01, 0x00, //   NFTA_HOOK_HOOKNUM
    0x00, 0x00, 0x00, 0x01, //   NF_INET_LOCAL_IN
    0x08, 0x00, 0x02, 0x00, //   NFTA_HOOK_PRIORITY
    0x00, 0x00, 0x00, 0x00, //   0
    0x08, 0x00, 0x05, 0x00, // NFTA_CHAIN_POLICY
    0x00, 0x00, 0x00, 0x01, // NF_ACCEPT
    0x0b, 0x00, 0x07, 0x00, // NFTA_CHAIN_TYPE, len 11
    b'f', b'i', b'l', b't', b'e', b'r', 0x00, 0x00, // "filter\0" + padding
    0x08, 0x00, 0x0a, 0x00, // NFTA_CHAIN_FLAGS
    0x00, 0x00, 0x00, 0x01, // NFT_CHAIN_BASE
    0x08, 0x00, 0x06, 0x00, // NFTA_CHAIN_USE
    0x00, 0x00, 0x00, 0x01, // 1 reference
];

/// The GETRULE dump's message for `tcp dport 22 counter accept comment "ssh"`.
pub(crate) const KERNEL_RULE_SSH: &[u8] = &[
    0x54, 0x01, 0x00, 0x00, // nlmsg_len 340
    0x06, 0x0a, // NFT_MSG_NEWRULE
    0x02, 0x08, // NLM_F_MULTI | NLM_F_APPEND
    0x66, 0x00, 0x00, 0x00, // nlmsg_seq 102
    0xc7, 0x6b, 0x00, 0x00, // nlmsg_pid
    0x01, 0x00, 0x00, 0x02, // nfgenmsg: NFPROTO_INET, v0, res_id 2
    0x0c, 0x00, 0x01, 0x00, // NFTA_RULE_TABLE
    b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00, // "rampart\0"
    0x0a, 0x00, 0x02, 0x00, // NFTA_RULE_CHAIN, len 10
    b'i', b'n', b'p', b'u', b't', 0x00, 0x00, 0x00, // "input\0" + padding
    0x0c, 0x00, 0x03, 0x00, // NFTA_RULE_HANDLE
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, // handle 5
    0x10, 0x01, 0x04, 0x00, // NFTA_RULE_EXPRESSIONS, len 272, no NLA_F_NESTED
    0x24, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 36
    0x09, 0x00, 0x01, 0x00, //     NFTA_EXPR_NAME, len 9
    b'm', b'e', b't', b'a', 0x00, 0x00, 0x00, 0x00, // "meta\0" + padding
    0x14, 0x00, 0x02, 0x00, //     NFTA_EXPR_DATA, len 20
    0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x10, // NFTA_META_KEY NFT_META_L4PROTO
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, // NFTA_META_DREG NFT_REG_1
    0x2c, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 44
    0x08, 0x00, 0x01, 0x00, b'c', b'm', b'p', 0x00, //     NFTA_EXPR_NAME "cmp\0"
    0x20, 0x00, 0x02, 0x00, //     NFTA_EXPR_DATA, len 32
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, // NFTA_CMP_SREG NFT_REG_1
    0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // NFTA_CMP_OP NFT_CMP_EQ
    0x0c, 0x00, 0x03, 0x00, //       NFTA_CMP_DATA, len 12
    0x05, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, // NFTA_DATA_VALUE 6 (IPPROTO_TCP)
    0x34, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 52
    0x0c, 0x00, 0x01, 0x00, //     NFTA_EXPR_NAME, len 12
    b'p', b'a', b'y', b'l', b'o', b'a', b'd', 0x00, // "payload\0"
    0x24, 0x00, 0x02, 0x00, //     NFTA_EXPR_DATA, len 36
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, // NFTA_PAYLOAD_DREG NFT_REG_1
    0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // NFTA_PAYLOAD_BASE transport header
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x02, // NFTA_PAYLOAD_OFFSET 2 (dport)
    0x08, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x02, // NFTA_PAYLOAD_LEN 2
    0x2c, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 44
    0x08, 0x00, 0x01, 0x00, b'c', b'm', b'p', 0x00, //     NFTA_EXPR_NAME "cmp\0"
    0x20, 0x00, 0x02, 0x00, //     NFTA_EXPR_DATA, len 32
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, // NFTA_CMP_SREG NFT_REG_1
    0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // NFTA_CMP_OP NFT_CMP_EQ
    0x0c, 0x00, 0x03, 0x00, //       NFTA_CMP_DATA, len 12
    0x06, 0x00, 0x01, 0x00, 0x00, 0x16, 0x00, 0x00, // NFTA_DATA_VALUE 22, big-endian
    0x2c, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 44
    0x0c, 0x00, 0x01, 0x00, //     NFTA_EXPR_NAME, len 12
    b'c', b'o', b'u', b'n', b't', b'e', b'r', 0x00, // "counter\0"
    0x1c, 0x00, 0x02, 0x00, //     NFTA_EXPR_DATA, len 28
    0x0c, 0x00, 0x01, 0x00, //       NFTA_COUNTER_BYTES, len 12
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0
    0x0c, 0x00, 0x02, 0x00, //       NFTA_COUNTER_PACKETS, len 12
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0
    0x30, 0x00, 0x01, 0x00, //   NFTA_LIST_ELEM, len 48
    0x0e, 0x00, 0x01, 0x00, //     NFTA_EXPR_NAME, len 14
    b'i', b'm', b'm', b'e', b'd', b'i', b'a', b't', b'e', 0x00, 0x00, 0x00, // + padding
    0x1c, 0x00, 0x02, 0x00, //     NFTA_EXPR_DATA, len 28
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // NFTA_IMMEDIATE_DREG NFT_REG_VERDICT
    0x10, 0x00, 0x02, 0x00, //       NFTA_IMMEDIATE_DATA, len 16
    0x0c, 0x00, 0x02, 0x00, //         NFTA_DATA_VERDICT, len 12
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, // NFTA_VERDICT_CODE NF_ACCEPT
    0x0a, 0x00, 0x07, 0x00, // NFTA_RULE_USERDATA, len 10
    0x00, 0x04, b's', b's', b'h', 0x00, // TLV NFTNL_UDATA_RULE_COMMENT, len 4, "ssh\0"
    0x00, 0x00, // padding
];

/// Offsets into [`KERNEL_RULE_SSH`]: the low byte of the counter's packets, the low byte
/// of the port, and the last letter of the comment.
pub(crate) const RULE_SSH_PACKETS_LOW: usize = 279;
pub(crate) const RULE_SSH_PORT_LOW: usize = 233;
pub(crate) const RULE_SSH_COMMENT_LAST: usize = 336;

fn round_trip(bytes: &[u8]) -> Message {
    let msg = Message::parse(&NlmsgBuffer::new_checked(bytes).unwrap()).unwrap();
    assert_eq!(msg.buffer_len(), bytes.len());
    let mut junk = vec![0xa5; bytes.len() + 5];
    msg.emit(&mut junk);
    assert_eq!(&junk[..bytes.len()], bytes, "emit gives the captured bytes");
    assert!(junk[bytes.len()..].iter().all(|b| *b == 0xa5));
    msg
}

#[test]
fn fixture_offsets_point_where_they_say() {
    assert_eq!(KERNEL_RULE_SSH[RULE_SSH_PORT_LOW], 0x16);
    assert_eq!(
        KERNEL_RULE_SSH[RULE_SSH_PACKETS_LOW - 11..][..4],
        [0x0c, 0, 2, 0]
    );
    assert_eq!(KERNEL_RULE_SSH[RULE_SSH_COMMENT_LAST], b'h');
}

#[test]
fn kernel_set_round_trips() {
    let msg = round_trip(KERNEL_SET_INTERVAL);
    let Body::Set { kind, nfgen, attrs } = msg.body else {
        panic!("set")
    };
    assert_eq!((kind, nfgen.res_id), (NftKind::NewSet, 2));
    assert_eq!(
        attrs[..7],
        [
            SetAttr::Table("rampart".into()),
            SetAttr::Name("s".into()),
            SetAttr::Handle(3),
            SetAttr::Flags(4),
            SetAttr::KeyType(7),
            SetAttr::KeyLen(4),
            SetAttr::Userdata(vec![0, 4, 2, 0, 0, 0]),
        ]
    );
    assert!(matches!(&attrs[7], SetAttr::Other(r) if r.kind == 9 && r.value.is_empty()));
    assert!(matches!(&attrs[8], SetAttr::Other(r) if r.kind == 19));
    assert_eq!(attrs[9], SetAttr::Count(0));
}

#[test]
fn kernel_base_chain_round_trips() {
    let msg = round_trip(KERNEL_CHAIN_BASE);
    let Body::Chain { kind, attrs, .. } = msg.body else {
        panic!("chain")
    };
    assert_eq!(kind, NftKind::NewChain);
    assert_eq!(
        attrs,
        [
            ChainAttr::Table("rampart".into()),
            ChainAttr::Name("input".into()),
            ChainAttr::Handle(1),
            ChainAttr::Hook(Nest {
                flagged: false,
                attrs: vec![HookAttr::Hooknum(1), HookAttr::Priority(0)],
            }),
            ChainAttr::Policy(1),
            ChainAttr::Type("filter".into()),
            ChainAttr::Flags(1),
            ChainAttr::Use(1),
        ]
    );
}

#[test]
fn a_negative_priority_is_twos_complement() {
    let hook = ChainAttr::Hook(Nest::new(vec![
        HookAttr::Hooknum(3),
        HookAttr::Priority(-150),
    ]));
    let mut junk = vec![0x5a; hook.buffer_len()];
    hook.emit(&mut junk);
    assert_eq!(
        junk,
        [
            0x14, 0x00, 0x04, 0x80, // NLA_F_NESTED | NFTA_CHAIN_HOOK, len 20
            0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03, // NF_INET_LOCAL_OUT
            0x08, 0x00, 0x02, 0x00, 0xff, 0xff, 0xff, 0x6a, // -150
        ]
    );
    let back = ChainAttr::parse(&NlaBuffer::new_checked(&junk).unwrap()).unwrap();
    assert_eq!(back, hook);
}

#[test]
fn kernel_rule_round_trips_with_counter_and_comment() {
    let msg = round_trip(KERNEL_RULE_SSH);
    assert_eq!(msg.header.flags, 0x802);
    let Body::Rule { kind, attrs, .. } = msg.body else {
        panic!("rule")
    };
    assert_eq!(kind, NftKind::NewRule);
    assert_eq!(attrs[1], RuleAttr::Chain("input".into()));
    assert_eq!(attrs[2], RuleAttr::Handle(5));
    let RuleAttr::Expressions(exprs) = &attrs[3] else {
        panic!("expressions")
    };
    assert!(!exprs.flagged);
    let names: Vec<&str> = exprs.attrs.iter().filter_map(Expr::name).collect();
    assert_eq!(
        names,
        ["meta", "cmp", "payload", "cmp", "counter", "immediate"]
    );
    assert_eq!(
        exprs.attrs[4].counter(),
        Some(Counter {
            packets: 0,
            bytes: 0
        })
    );
    assert_eq!(exprs.attrs[5].counter(), None);
    // The counter's data is all traffic; the immediate's is all rule.
    assert_eq!(exprs.attrs[4].stable_data().count(), 0);
    assert_eq!(exprs.attrs[5].stable_data().count(), 2);
    let RuleAttr::Userdata(u) = &attrs[4] else {
        panic!("userdata")
    };
    assert_eq!(Udata::comment_of_rule(u).as_deref(), Some("ssh"));
}

#[test]
fn counted_packets_parse() {
    let mut bytes = KERNEL_RULE_SSH.to_vec();
    bytes[RULE_SSH_PACKETS_LOW] = 3;
    let msg = round_trip(&bytes);
    let Body::Rule { attrs, .. } = msg.body else {
        panic!()
    };
    let RuleAttr::Expressions(exprs) = &attrs[3] else {
        panic!()
    };
    assert_eq!(exprs.attrs[4].counter().map(|c| c.packets), Some(3));
}

#[test]
fn a_rule_request_is_built_as_expected() {
    // What `table_shape` sends for the rule dump (seq 102), as sent for the captures.
    let msg = Message::new(
        NLM_F_REQUEST | NLM_F_DUMP,
        102,
        Body::Rule {
            kind: NftKind::GetRule,
            nfgen: NfGenMsg::new(1),
            attrs: vec![RuleAttr::Table("rampart".into())],
        },
    );
    let mut junk = vec![0xa5; msg.buffer_len()];
    msg.emit(&mut junk);
    assert_eq!(
        junk,
        [
            0x20, 0x00, 0x00, 0x00, // nlmsg_len 32
            0x07, 0x0a, // NFT_MSG_GETRULE
            0x01, 0x03, // NLM_F_REQUEST | NLM_F_DUMP
            0x66, 0x00, 0x00, 0x00, // nlmsg_seq 102
            0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
            0x01, 0x00, 0x00, 0x00, // nfgenmsg: NFPROTO_INET
            0x0c, 0x00, 0x01, 0x00, // NFTA_RULE_TABLE
            b'r', b'a', b'm', b'p', b'a', b'r', b't', 0x00,
        ]
    );
    assert_eq!(round_trip(&junk), msg);
}

#[test]
fn truncated_rules_are_errors() {
    for cut in [15, 19, 60, 339] {
        let r = NlmsgBuffer::new_checked(&KERNEL_RULE_SSH[..cut]).and_then(|v| Message::parse(&v));
        assert!(r.is_err(), "cut at {cut}");
    }
    // An expression list whose first element claims more than the list holds.
    let mut bytes = KERNEL_RULE_SSH.to_vec();
    bytes[61] = 0x02;
    assert!(Message::parse(&NlmsgBuffer::new_checked(&bytes).unwrap()).is_err());
}
