//! Fixture tests for the observers' messages: bytes the kernel sent, parsed to values and
//! emitted back (into junk-filled buffers) to the same bytes.
//!
//! Captures, kernel 6.18, inside `ip netns add` namespaces:
//! - ctnetlink: `strace -e trace=recvmsg -x -s 4096 conntrack -L` (conntrack-tools
//!   1.4.7, strace 6.x) after `conntrack -I -s 192.0.2.2 -d 192.0.2.1 -p tcp --sport
//!   40000 --dport 22 --state ESTABLISHED --timeout 300 -u ASSURED`, and after
//!   `nf_conntrack_acct=1`, `nf_conntrack_timestamp=1` and `conntrack -I -s 2001:db8::2
//!   -d 2001:db8::1 -p udp --sport 5353 --dport 53 --timeout 300 -w 7`;
//! - NFLOG: `strace -f -e trace=recvfrom -x -s 4096` of the `nflog_delivers_…` test of
//!   `tests/observe.rs` (rule `udp dport 9999 add @ban_4 { ip saddr } log prefix
//!   "rampart-ban:udp-flood " group 5 drop`, a UDP packet 192.0.2.2:40000 →
//!   192.0.2.1:9999 over a veth);
//! - sock_diag: `strace -e trace=sendmsg,recvmsg -x -s 4096 ss -tn -4` (iproute2 6.x)
//!   with one TCP connection 192.0.2.1:43118 → 192.0.2.1:22 on `lo`; strace decoded
//!   these structs field by field, written out here in the same order.

use super::*;

/// `conntrack -L`: one TCP entry, ESTABLISHED, ASSURED.
const CT_TCP: &[u8] = &[
    0xf0, 0x00, 0x00, 0x00, // nlmsg_len 240
    0x00, 0x01, // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW
    0x02, 0x00, // NLM_F_MULTI
    0x7e, 0xa4, 0x15, 0x6b, // nlmsg_seq 1796580478
    0xdc, 0x11, 0x00, 0x00, // nlmsg_pid 4572
    0x02, 0x00, 0x00, 0x00, // nfgenmsg: NFPROTO_IPV4, v0, res_id 0
    0x34, 0x00, 0x01, 0x80, // NLA_F_NESTED | CTA_TUPLE_ORIG, len 52
    0x14, 0x00, 0x01, 0x80, //   NLA_F_NESTED | CTA_TUPLE_IP, len 20
    0x08, 0x00, 0x01, 0x00, //     CTA_IP_V4_SRC
    0xc0, 0x00, 0x02, 0x02, //     192.0.2.2
    0x08, 0x00, 0x02, 0x00, //     CTA_IP_V4_DST
    0xc0, 0x00, 0x02, 0x01, //     192.0.2.1
    0x1c, 0x00, 0x02, 0x80, //   NLA_F_NESTED | CTA_TUPLE_PROTO, len 28
    0x05, 0x00, 0x01, 0x00, //     CTA_PROTO_NUM, len 5
    0x06, 0x00, 0x00, 0x00, //     6 (TCP) + 3 padding
    0x06, 0x00, 0x02, 0x00, //     CTA_PROTO_SRC_PORT, len 6
    0x9c, 0x40, 0x00, 0x00, //     40000 + 2 padding
    0x06, 0x00, 0x03, 0x00, //     CTA_PROTO_DST_PORT, len 6
    0x00, 0x16, 0x00, 0x00, //     22 + 2 padding
    0x34, 0x00, 0x02, 0x80, // NLA_F_NESTED | CTA_TUPLE_REPLY, len 52
    0x14, 0x00, 0x01, 0x80, //   NLA_F_NESTED | CTA_TUPLE_IP, len 20
    0x08, 0x00, 0x01, 0x00, //     CTA_IP_V4_SRC
    0xc0, 0x00, 0x02, 0x01, //     192.0.2.1
    0x08, 0x00, 0x02, 0x00, //     CTA_IP_V4_DST
    0xc0, 0x00, 0x02, 0x02, //     192.0.2.2
    0x1c, 0x00, 0x02, 0x80, //   NLA_F_NESTED | CTA_TUPLE_PROTO, len 28
    0x05, 0x00, 0x01, 0x00, //     CTA_PROTO_NUM
    0x06, 0x00, 0x00, 0x00, //     6
    0x06, 0x00, 0x02, 0x00, //     CTA_PROTO_SRC_PORT
    0x00, 0x16, 0x00, 0x00, //     22
    0x06, 0x00, 0x03, 0x00, //     CTA_PROTO_DST_PORT
    0x9c, 0x40, 0x00, 0x00, //     40000
    0x08, 0x00, 0x03, 0x00, // CTA_STATUS
    0x00, 0x00, 0x00, 0x0c, // IPS_ASSURED | IPS_CONFIRMED
    0x08, 0x00, 0x08, 0x00, // CTA_MARK
    0x00, 0x00, 0x00, 0x00, // 0
    0x08, 0x00, 0x0c, 0x00, // CTA_ID
    0xd2, 0x96, 0x28, 0x9e, // 0xd296289e
    0x08, 0x00, 0x0b, 0x00, // CTA_USE
    0x00, 0x00, 0x00, 0x01, // 1
    0x08, 0x00, 0x07, 0x00, // CTA_TIMEOUT
    0x00, 0x00, 0x01, 0x2b, // 299 s
    0x30, 0x00, 0x04, 0x80, // NLA_F_NESTED | CTA_PROTOINFO, len 48
    0x2c, 0x00, 0x01, 0x80, //   NLA_F_NESTED | CTA_PROTOINFO_TCP, len 44
    0x05, 0x00, 0x01, 0x00, //     CTA_PROTOINFO_TCP_STATE
    0x03, 0x00, 0x00, 0x00, //     TCP_CONNTRACK_ESTABLISHED
    0x05, 0x00, 0x02, 0x00, //     CTA_PROTOINFO_TCP_WSCALE_ORIGINAL
    0x00, 0x00, 0x00, 0x00, //     0
    0x05, 0x00, 0x03, 0x00, //     CTA_PROTOINFO_TCP_WSCALE_REPLY
    0x00, 0x00, 0x00, 0x00, //     0
    0x06, 0x00, 0x04, 0x00, //     CTA_PROTOINFO_TCP_FLAGS_ORIGINAL
    0x0a, 0x00, 0x00, 0x00, //     flags 0x0a, mask 0
    0x06, 0x00, 0x05, 0x00, //     CTA_PROTOINFO_TCP_FLAGS_REPLY
    0x0a, 0x00, 0x00, 0x00, //     flags 0x0a, mask 0
    0x1c, 0x00, 0x18, 0x80, // NLA_F_NESTED | CTA_SYNPROXY, len 28 (kept raw)
    0x08, 0x00, 0x01, 0x00, //   CTA_SYNPROXY_ISN
    0x00, 0x00, 0x00, 0x00, //   0
    0x08, 0x00, 0x02, 0x00, //   CTA_SYNPROXY_ITS
    0x00, 0x00, 0x00, 0x00, //   0
    0x08, 0x00, 0x03, 0x00, //   CTA_SYNPROXY_TSOFF
    0x00, 0x00, 0x00, 0x00, //   0
];

/// `conntrack -L -f ipv6` with accounting and timestamps on: one UDP entry in zone 7.
const CT_UDP6: &[u8] = &[
    0x40, 0x01, 0x00, 0x00, // nlmsg_len 320
    0x00, 0x01, // IPCTNL_MSG_CT_NEW
    0x22, 0x00, // NLM_F_MULTI | NLM_F_DUMP_FILTERED
    0x82, 0xa4, 0x15, 0x6b, // nlmsg_seq 1796580482
    0x70, 0x13, 0x00, 0x00, // nlmsg_pid 4976
    0x0a, 0x00, 0x00, 0x00, // nfgenmsg: NFPROTO_IPV6
    0x4c, 0x00, 0x01, 0x80, // NLA_F_NESTED | CTA_TUPLE_ORIG, len 76
    0x2c, 0x00, 0x01, 0x80, //   NLA_F_NESTED | CTA_TUPLE_IP, len 44
    0x14, 0x00, 0x03, 0x00, //     CTA_IP_V6_SRC, len 20
    0x20, 0x01, 0x0d, 0xb8, //     2001:db8::2
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x02, //
    0x14, 0x00, 0x04, 0x00, //     CTA_IP_V6_DST
    0x20, 0x01, 0x0d, 0xb8, //     2001:db8::1
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x01, //
    0x1c, 0x00, 0x02, 0x80, //   NLA_F_NESTED | CTA_TUPLE_PROTO, len 28
    0x05, 0x00, 0x01, 0x00, //     CTA_PROTO_NUM
    0x11, 0x00, 0x00, 0x00, //     17 (UDP)
    0x06, 0x00, 0x02, 0x00, //     CTA_PROTO_SRC_PORT
    0x14, 0xe9, 0x00, 0x00, //     5353
    0x06, 0x00, 0x03, 0x00, //     CTA_PROTO_DST_PORT
    0x00, 0x35, 0x00, 0x00, //     53
    0x4c, 0x00, 0x02, 0x80, // NLA_F_NESTED | CTA_TUPLE_REPLY, len 76
    0x2c, 0x00, 0x01, 0x80, //   NLA_F_NESTED | CTA_TUPLE_IP
    0x14, 0x00, 0x03, 0x00, //     CTA_IP_V6_SRC
    0x20, 0x01, 0x0d, 0xb8, //     2001:db8::1
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x01, //
    0x14, 0x00, 0x04, 0x00, //     CTA_IP_V6_DST
    0x20, 0x01, 0x0d, 0xb8, //     2001:db8::2
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x02, //
    0x1c, 0x00, 0x02, 0x80, //   NLA_F_NESTED | CTA_TUPLE_PROTO
    0x05, 0x00, 0x01, 0x00, //     CTA_PROTO_NUM
    0x11, 0x00, 0x00, 0x00, //     17
    0x06, 0x00, 0x02, 0x00, //     CTA_PROTO_SRC_PORT
    0x00, 0x35, 0x00, 0x00, //     53
    0x06, 0x00, 0x03, 0x00, //     CTA_PROTO_DST_PORT
    0x14, 0xe9, 0x00, 0x00, //     5353
    0x06, 0x00, 0x12, 0x00, // CTA_ZONE, len 6
    0x00, 0x07, 0x00, 0x00, // 7 + 2 padding
    0x08, 0x00, 0x03, 0x00, // CTA_STATUS
    0x00, 0x00, 0x00, 0x08, // IPS_CONFIRMED
    0x08, 0x00, 0x08, 0x00, // CTA_MARK
    0x00, 0x00, 0x00, 0x00, // 0
    0x08, 0x00, 0x0c, 0x00, // CTA_ID
    0x00, 0x50, 0xb0, 0x01, // 0x0050b001
    0x08, 0x00, 0x0b, 0x00, // CTA_USE
    0x00, 0x00, 0x00, 0x01, // 1
    0x08, 0x00, 0x07, 0x00, // CTA_TIMEOUT
    0x00, 0x00, 0x01, 0x2b, // 299 s
    0x1c, 0x00, 0x09, 0x80, // NLA_F_NESTED | CTA_COUNTERS_ORIG, len 28
    0x0c, 0x00, 0x01, 0x00, //   CTA_COUNTERS_PACKETS, len 12
    0x00, 0x00, 0x00, 0x00, //   0 (be64)
    0x00, 0x00, 0x00, 0x00, //
    0x0c, 0x00, 0x02, 0x00, //   CTA_COUNTERS_BYTES
    0x00, 0x00, 0x00, 0x00, //   0
    0x00, 0x00, 0x00, 0x00, //
    0x1c, 0x00, 0x0a, 0x80, // NLA_F_NESTED | CTA_COUNTERS_REPLY, len 28
    0x0c, 0x00, 0x01, 0x00, //   CTA_COUNTERS_PACKETS
    0x00, 0x00, 0x00, 0x00, //   0
    0x00, 0x00, 0x00, 0x00, //
    0x0c, 0x00, 0x02, 0x00, //   CTA_COUNTERS_BYTES
    0x00, 0x00, 0x00, 0x00, //   0
    0x00, 0x00, 0x00, 0x00, //
    0x10, 0x00, 0x14, 0x80, // NLA_F_NESTED | CTA_TIMESTAMP, len 16 (kept raw)
    0x0c, 0x00, 0x01, 0x00, //   CTA_TIMESTAMP_START
    0x18, 0xee, 0xbc, 0x6e, //   nanoseconds (be64)
    0x05, 0x57, 0x7f, 0xd6, //
    0x1c, 0x00, 0x18, 0x80, // NLA_F_NESTED | CTA_SYNPROXY, len 28 (kept raw)
    0x08, 0x00, 0x01, 0x00, //   CTA_SYNPROXY_ISN
    0x00, 0x00, 0x00, 0x00, //
    0x08, 0x00, 0x02, 0x00, //   CTA_SYNPROXY_ITS
    0x00, 0x00, 0x00, 0x00, //
    0x08, 0x00, 0x03, 0x00, //   CTA_SYNPROXY_TSOFF
    0x00, 0x00, 0x00, 0x00, //
];

/// NFLOG: the packet of a kernel ban (the first of three identical UDP packets).
const NFLOG_BAN: &[u8] = &[
    0xac, 0x00, 0x00, 0x00, // nlmsg_len 172
    0x00, 0x04, // NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET
    0x00, 0x00, // no flags
    0x00, 0x00, 0x00, 0x00, // nlmsg_seq 0
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x02, 0x00, 0x00, 0x05, // nfgenmsg: NFPROTO_IPV4, v0, res_id 5 (the group)
    0x08, 0x00, 0x01, 0x00, // NFULA_PACKET_HDR
    0x08, 0x00, 0x01, 0x00, // hw_protocol 0x0800, hook 1 (NF_INET_LOCAL_IN), pad
    0x1b, 0x00, 0x0a, 0x00, // NFULA_PREFIX, len 27
    b'r', b'a', b'm', b'p', b'a', b'r', b't', b'-', b'b', b'a', b'n', b':', //
    b'u', b'd', b'p', b'-', b'f', b'l', b'o', b'o', b'd', b' ', 0x00, // NUL
    0x00, // padding
    0x08, 0x00, 0x04, 0x00, // NFULA_IFINDEX_INDEV
    0x00, 0x00, 0x00, 0x02, // ifindex 2 (eth0)
    0x10, 0x00, 0x08, 0x00, // NFULA_HWADDR, len 16 (kept raw)
    0x00, 0x06, 0x00, 0x00, //   hw_addrlen 6, pad
    0x02, 0xbf, 0x37, 0x74, //   the sender's MAC, 8-byte field
    0x02, 0x92, 0x00, 0x00, //
    0x06, 0x00, 0x0f, 0x00, // NFULA_HWTYPE, len 6
    0x00, 0x01, 0x00, 0x00, // ARPHRD_ETHER + 2 padding
    0x06, 0x00, 0x11, 0x00, // NFULA_HWLEN, len 6
    0x00, 0x0e, 0x00, 0x00, // 14 + 2 padding
    0x12, 0x00, 0x10, 0x00, // NFULA_HWHEADER, len 18 (kept raw)
    0x0a, 0xf8, 0xa3, 0x31, //   destination MAC
    0x53, 0xe0, 0x02, 0xbf, //   … source MAC
    0x37, 0x74, 0x02, 0x92, //
    0x08, 0x00, 0x00, 0x00, //   ethertype 0x0800 + 2 padding
    0x14, 0x00, 0x03, 0x00, // NFULA_TIMESTAMP, len 20
    0x00, 0x00, 0x00, 0x00, //   seconds (be64): 0x6b15a498
    0x6b, 0x15, 0xa4, 0x98, //
    0x00, 0x00, 0x00, 0x00, //   microseconds (be64): 0x3d37d
    0x00, 0x03, 0xd3, 0x7d, //
    0x21, 0x00, 0x09, 0x00, // NFULA_PAYLOAD, len 33: the IPv4 packet
    0x45, 0x00, 0x00, 0x1d, //   version 4, ihl 5, tos 0, total length 29
    0x42, 0x7b, 0x40, 0x00, //   id, DF
    0x40, 0x11, 0x74, 0x51, //   ttl 64, protocol 17 (UDP), checksum
    0xc0, 0x00, 0x02, 0x02, //   source 192.0.2.2
    0xc0, 0x00, 0x02, 0x01, //   destination 192.0.2.1
    0x9c, 0x40, 0x27, 0x0f, //   UDP ports 40000 -> 9999
    0x00, 0x09, 0x84, 0x1e, //   length 9, checksum
    0x78, 0x00, 0x00, 0x00, //   "x" + 3 padding
];

/// `NflogListener::bind(5)`'s second request (the kernel ACKed it): copy mode, queue
/// threshold, flush timeout.
const NFLOG_CONFIG: &[u8] = &[
    0x30, 0x00, 0x00, 0x00, // nlmsg_len 48
    0x01, 0x04, // NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG
    0x05, 0x00, // NLM_F_REQUEST | NLM_F_ACK
    0x03, 0x00, 0x00, 0x00, // nlmsg_seq 3
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x00, 0x00, 0x00, 0x05, // nfgenmsg: AF_UNSPEC, v0, res_id 5 (the group)
    0x0a, 0x00, 0x02, 0x00, // NFULA_CFG_MODE, len 10
    0x00, 0x00, 0x01, 0x00, //   copy_range 256 (be32)
    0x02, 0x00, 0x00, 0x00, //   NFULNL_COPY_PACKET, pad, + 2 padding
    0x08, 0x00, 0x05, 0x00, // NFULA_CFG_QTHRESH
    0x00, 0x00, 0x00, 0x20, // 32 packets
    0x08, 0x00, 0x04, 0x00, // NFULA_CFG_TIMEOUT
    0x00, 0x00, 0x00, 0x0a, // 10 (1/100 s)
];

/// `ss -tn -4`'s request: every state but LISTEN, TIME_WAIT, SYN_RECV and CLOSE.
const DIAG_REQUEST: &[u8] = &[
    0x48, 0x00, 0x00, 0x00, // nlmsg_len 72
    0x14, 0x00, // SOCK_DIAG_BY_FAMILY
    0x01, 0x03, // NLM_F_REQUEST | NLM_F_DUMP
    0x40, 0xe2, 0x01, 0x00, // nlmsg_seq 123456
    0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
    0x02, 0x06, 0x00, 0x00, // AF_INET, IPPROTO_TCP, no extensions, pad
    0x37, 0x0b, 0x00, 0x00, // idiag_states 2871: 1<<1|1<<2|1<<4|1<<5|1<<8|1<<9|1<<11|1
    0x00, 0x00, 0x00, 0x00, // sport 0, dport 0
    0x00, 0x00, 0x00, 0x00, // src 0.0.0.0
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, // dst 0.0.0.0
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, // idiag_if 0
    0x00, 0x00, 0x00, 0x00, // cookie [0, 0]
    0x00, 0x00, 0x00, 0x00, //
];

/// The answer for the client side of the connection (the fixed part and its four
/// attributes).
const DIAG_ANSWER: &[u8] = &[
    0x7c, 0x00, 0x00, 0x00, // nlmsg_len 124
    0x14, 0x00, // SOCK_DIAG_BY_FAMILY
    0x02, 0x00, // NLM_F_MULTI
    0x40, 0xe2, 0x01, 0x00, // nlmsg_seq 123456
    0xdd, 0x1b, 0x00, 0x00, // nlmsg_pid 7133
    0x02, 0x01, 0x00, 0x00, // AF_INET, TCP_ESTABLISHED, timer 0, retrans 0
    0xa8, 0x6e, 0x00, 0x16, // sport 43118, dport 22
    0xc0, 0x00, 0x02, 0x01, // src 192.0.2.1
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0xc0, 0x00, 0x02, 0x01, // dst 192.0.2.1
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, // idiag_if 0
    0xec, 0x12, 0x00, 0x00, // cookie [4844,
    0x00, 0x00, 0x00, 0x00, //          0]
    0x00, 0x00, 0x00, 0x00, // expires 0
    0x00, 0x00, 0x00, 0x00, // rqueue 0
    0x00, 0x00, 0x00, 0x00, // wqueue 0
    0x00, 0x00, 0x00, 0x00, // uid 0
    0xaf, 0x6d, 0x17, 0x00, // inode 1535407
    0x05, 0x00, 0x08, 0x00, // INET_DIAG_SHUTDOWN, len 5
    0x00, 0x00, 0x00, 0x00, // 0 + padding
    0x08, 0x00, 0x0f, 0x00, // INET_DIAG_MARK
    0x00, 0x00, 0x00, 0x00, // 0
    0x0c, 0x00, 0x15, 0x00, // INET_DIAG_CGROUP_ID, len 12
    0x01, 0x00, 0x00, 0x00, // 1 (u64)
    0x00, 0x00, 0x00, 0x00, //
    0x06, 0x00, 0x16, 0x00, // INET_DIAG_SOCKOPT, len 6
    0x0d, 0x00, 0x00, 0x00, // is_icsk, mc_loop, mc_all + padding
];

fn round_trip(bytes: &[u8]) -> Message {
    let view = NlmsgBuffer::new_checked(bytes).unwrap();
    let msg = Message::parse(&view).unwrap();
    assert_eq!(msg.buffer_len(), bytes.len());
    let mut out = vec![0xa5; msg.buffer_len()];
    msg.emit(&mut out);
    assert_eq!(out, bytes, "{msg:#?}");
    msg
}

#[test]
fn conntrack_tcp_entry_round_trips() {
    let Body::Conntrack { kind, nfgen, entry } = round_trip(CT_TCP).body else {
        panic!("not a conntrack message");
    };
    assert_eq!((kind, nfgen.family), (CtKind::New, 2));
    let orig = entry.orig.unwrap();
    assert_eq!(
        orig,
        Tuple::ports(
            "192.0.2.2".parse().unwrap(),
            40000,
            "192.0.2.1".parse().unwrap(),
            22,
            6
        )
    );
    assert_eq!(entry.reply, Some(orig.reversed()));
    assert_eq!(entry.status, Some(IPS_ASSURED | IPS_CONFIRMED));
    assert_eq!(entry.tcp_state(), Some(CtTcpState::Established));
    assert_eq!(entry.tcp.unwrap().flags, Some(([0x0a, 0], [0x0a, 0])));
    assert_eq!(
        (entry.timeout, entry.mark, entry.use_count),
        (Some(299), Some(0), Some(1))
    );
    assert_eq!(entry.id, Some(0xd296_289e));
    assert_eq!(entry.other.len(), 1, "CTA_SYNPROXY kept raw");
}

#[test]
fn conntrack_udp6_entry_with_zone_and_counters_round_trips() {
    let Body::Conntrack { entry, nfgen, .. } = round_trip(CT_UDP6).body else {
        panic!("not a conntrack message");
    };
    assert_eq!(nfgen.family, 10);
    let orig = entry.orig.unwrap();
    assert_eq!(orig.src, "2001:db8::2".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(
        (orig.proto, orig.src_port, orig.dst_port),
        (17, Some(5353), Some(53))
    );
    assert_eq!(entry.zone, Some(7));
    assert_eq!(
        entry.counters,
        Some((Counters::default(), Counters::default()))
    );
    assert_eq!(entry.tcp, None);
    assert_eq!(entry.other.len(), 2, "timestamp and synproxy kept raw");
}

#[test]
fn conntrack_malformed_tuple_is_kept_raw() {
    // A tuple with a 3-byte address: not a Tuple, but the bytes survive.
    let mut bytes = CT_TCP.to_vec();
    bytes[20 + 8] = 0x07; // CTA_IP_V4_SRC length 8 -> 7
    let msg = Message::parse(&NlmsgBuffer::new_checked(&bytes).unwrap()).unwrap();
    let Body::Conntrack { entry, .. } = &msg.body else {
        panic!()
    };
    assert_eq!(entry.orig, None);
    assert!(entry.reply.is_some());
    let mut out = vec![0xa5; msg.buffer_len()];
    msg.emit(&mut out);
    // Emitted after the known attributes, whole.
    assert_eq!(out.len(), bytes.len());
    assert!(out.windows(52).any(|w| w == &bytes[20..72]));
}

#[test]
fn nflog_packet_round_trips_and_decodes() {
    let Body::NflogPacket { nfgen, attrs } = round_trip(NFLOG_BAN).body else {
        panic!("not an NFLOG packet");
    };
    assert_eq!((nfgen.family, nfgen.res_id), (2, 5));
    assert!(attrs.contains(&NflogAttr::Prefix("rampart-ban:udp-flood ".into())));
    assert!(attrs.contains(&NflogAttr::PacketHdr {
        hw_protocol: 0x0800,
        hook: 1
    }));
    assert!(attrs.contains(&NflogAttr::InDev(2)));
    assert!(attrs.contains(&NflogAttr::HwType(1)));
    let Some(NflogAttr::Payload(p)) = attrs.iter().find(|a| matches!(a, NflogAttr::Payload(_)))
    else {
        panic!("no payload")
    };
    let l3 = crate::nflog::decode_l3(p).unwrap();
    assert_eq!(l3.src, "192.0.2.2".parse::<std::net::IpAddr>().unwrap());
    assert_eq!((l3.protocol, l3.ports), (17, Some((40000, 9999))));
}

#[test]
fn nflog_config_round_trips() {
    let Body::NflogConfig { nfgen, attrs } = round_trip(NFLOG_CONFIG).body else {
        panic!("not an NFLOG config message");
    };
    assert_eq!(nfgen.res_id, 5);
    assert_eq!(
        attrs,
        [
            NflogConfigAttr::Mode {
                copy_range: 256,
                copy_mode: NFULNL_COPY_PACKET
            },
            NflogConfigAttr::QThresh(32),
            NflogConfigAttr::Timeout(10),
        ]
    );
}

#[test]
fn inet_diag_request_and_answer_round_trip() {
    let view = NlmsgBuffer::new_checked(DIAG_REQUEST).unwrap();
    let req = InetDiagReq::parse(view.payload()).unwrap();
    let states = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Closing,
    ]
    .iter()
    .fold(1, |acc, s| acc | s.bit());
    assert_eq!(
        req,
        InetDiagReq {
            states,
            id: SockId {
                cookie: 0,
                ..SockId::any(true)
            },
            ..InetDiagReq::dump(true, 6, 0)
        }
    );
    let mut out = vec![0xa5; req.buffer_len()];
    req.emit(&mut out);
    assert_eq!(out, view.payload());

    let view = NlmsgBuffer::new_checked(DIAG_ANSWER).unwrap();
    let msg = InetDiagMsg::parse(view.payload()).unwrap();
    assert_eq!(msg.state, TcpState::Established);
    assert_eq!(msg.id.local, "192.0.2.1:43118".parse().unwrap());
    assert_eq!(msg.id.remote, "192.0.2.1:22".parse().unwrap());
    assert_eq!((msg.id.cookie, msg.inode), (4844, 1_535_407));
    let mut out = vec![0xa5; msg.buffer_len()];
    msg.emit(&mut out);
    assert_eq!(out, view.payload()[..INET_DIAG_MSG_LEN]);
    assert!(InetDiagMsg::parse(&view.payload()[..71]).is_err());
}

#[test]
fn states_round_trip_through_their_numbers() {
    for raw in 0..=255u8 {
        assert_eq!(TcpState::from_raw(raw).raw(), raw);
        assert_eq!(CtTcpState::from_raw(raw).raw(), raw);
    }
    assert_eq!(TcpState::NewSynRecv.bit(), 1 << 12);
}

mod hostile {
    //! Kernel messages are trusted little, logged packets not at all (an attacker chooses
    //! every byte of an NFLOG payload): no input makes a parser panic, and whatever
    //! parses emits to the bytes it came from or to a message that parses the same.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packet_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = crate::nflog::decode_l3(&bytes);
        }

        #[test]
        fn conntrack_attributes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(ct) = Conntrack::parse(&bytes) {
                let mut out = vec![0xa5; ct.buffer_len()];
                ct.emit(&mut out);
                prop_assert_eq!(Conntrack::parse(&out).unwrap(), ct);
            }
        }

        #[test]
        fn damaged_fixtures_never_panic(at in 16usize..320, byte in any::<u8>(), cut in 0usize..320) {
            for fixture in [CT_TCP, CT_UDP6, NFLOG_BAN, NFLOG_CONFIG, DIAG_ANSWER] {
                let mut bytes = fixture.to_vec();
                if at < bytes.len() {
                    bytes[at] = byte;
                }
                bytes.truncate(cut.max(16));
                for m in MessageIter::new(&bytes) {
                    let _ = m;
                }
                let _ = InetDiagMsg::parse(&bytes[16.min(bytes.len())..]);
            }
        }
    }
}
