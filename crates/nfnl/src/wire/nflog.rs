//! NFLOG (`NFNL_SUBSYS_ULOG`): the configuration messages that bind a log group to a
//! socket, and the packet messages the kernel then sends it, from
//! `include/uapi/linux/netfilter/nfnetlink_log.h`.
//!
//! ```text
//! config: nlmsghdr (4 << 8 | NFULNL_MSG_CONFIG) + nfgenmsg (family AF_UNSPEC,
//!         res_id = group, big-endian) + NFULA_CFG_CMD { u8 command }
//!                                       | NFULA_CFG_MODE { be32 copy_range, u8 mode, pad }
//!                                       | NFULA_CFG_NLBUFSIZ, _TIMEOUT, _QTHRESH (be32)
//!                                       | NFULA_CFG_FLAGS (be16)
//! packet: nlmsghdr (4 << 8 | NFULNL_MSG_PACKET) + nfgenmsg (family: the packet's,
//!         NFPROTO_IPV4 or NFPROTO_IPV6; res_id = group) +
//!   NFULA_PACKET_HDR { be16 hw_protocol, u8 hook, pad }   NFULA_MARK (be32)
//!   NFULA_TIMESTAMP { be64 sec, be64 usec }   NFULA_IFINDEX_INDEV/OUTDEV/PHYSINDEV/
//!   PHYSOUTDEV (be32)   NFULA_PAYLOAD (the packet from its network header)
//!   NFULA_PREFIX (NUL-terminated)   NFULA_UID, NFULA_GID, NFULA_SEQ, NFULA_SEQ_GLOBAL (be32)
//!   NFULA_HWTYPE, NFULA_HWLEN (be16)   anything else (HWADDR, HWHEADER, CT, VLAN, L2HDR): raw
//! ```

use super::attr::{
    emit_nla, emit_string, parse_be32, parse_string, string_len, NlaBuffer, RawAttr,
};
use super::Emitable;

/// `NFNL_SUBSYS_ULOG`.
pub(crate) const NFNL_SUBSYS_ULOG: u16 = 4;
/// `NFULNL_MSG_PACKET`.
pub(crate) const NFULNL_MSG_PACKET: u16 = 0;
/// `NFULNL_MSG_CONFIG`.
pub(crate) const NFULNL_MSG_CONFIG: u16 = 1;

const NFULA_PACKET_HDR: u16 = 1;
const NFULA_MARK: u16 = 2;
const NFULA_TIMESTAMP: u16 = 3;
const NFULA_IFINDEX_INDEV: u16 = 4;
const NFULA_IFINDEX_OUTDEV: u16 = 5;
const NFULA_IFINDEX_PHYSINDEV: u16 = 6;
const NFULA_IFINDEX_PHYSOUTDEV: u16 = 7;
const NFULA_PAYLOAD: u16 = 9;
const NFULA_PREFIX: u16 = 10;
const NFULA_UID: u16 = 11;
const NFULA_SEQ: u16 = 12;
const NFULA_SEQ_GLOBAL: u16 = 13;
const NFULA_GID: u16 = 14;
const NFULA_HWTYPE: u16 = 15;
const NFULA_HWLEN: u16 = 17;
// NFULA_HWADDR (8), NFULA_HWHEADER (16), NFULA_CT (18), NFULA_CT_INFO (19), NFULA_VLAN
// (20) and NFULA_L2HDR (21) describe the link layer or need the conntrack flag: kept raw.

const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULA_CFG_NLBUFSIZ: u16 = 3;
const NFULA_CFG_TIMEOUT: u16 = 4;
const NFULA_CFG_QTHRESH: u16 = 5;
const NFULA_CFG_FLAGS: u16 = 6;

/// `NFULNL_CFG_CMD_BIND`: deliver the group's packets to this socket.
pub const NFULNL_CFG_CMD_BIND: u8 = 1;
/// `NFULNL_CFG_CMD_UNBIND`.
pub const NFULNL_CFG_CMD_UNBIND: u8 = 2;
/// `NFULNL_COPY_PACKET`: include up to `copy_range` bytes of the packet.
pub const NFULNL_COPY_PACKET: u8 = 2;

/// One NFLOG configuration attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NflogConfigAttr {
    /// `NFULA_CFG_CMD`: `NFULNL_CFG_CMD_*`.
    Cmd(u8),
    /// `NFULA_CFG_MODE`: how much of each packet to copy.
    Mode {
        /// Bytes of the packet to copy (from its network header).
        copy_range: u32,
        /// `NFULNL_COPY_NONE` 0, `_META` 1, `_PACKET` 2.
        copy_mode: u8,
    },
    /// `NFULA_CFG_NLBUFSIZ`: bytes the kernel gathers before it sends.
    BufSize(u32),
    /// `NFULA_CFG_TIMEOUT`: hundredths of a second the kernel may hold packets.
    Timeout(u32),
    /// `NFULA_CFG_QTHRESH`: packets the kernel may gather into one datagram.
    QThresh(u32),
    /// `NFULA_CFG_FLAGS`: `NFULNL_CFG_F_*`.
    Flags(u16),
    /// Anything else, raw.
    Other(RawAttr),
}

impl NflogConfigAttr {
    pub(crate) fn parse(nla: &NlaBuffer<'_>) -> NflogConfigAttr {
        let v = nla.value();
        match nla.raw_kind() {
            NFULA_CFG_CMD if v.len() == 1 => Some(NflogConfigAttr::Cmd(v[0])),
            NFULA_CFG_MODE if v.len() == 6 => Some(NflogConfigAttr::Mode {
                copy_range: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                copy_mode: v[4],
            }),
            NFULA_CFG_NLBUFSIZ => parse_be32(v).map(NflogConfigAttr::BufSize),
            NFULA_CFG_TIMEOUT => parse_be32(v).map(NflogConfigAttr::Timeout),
            NFULA_CFG_QTHRESH => parse_be32(v).map(NflogConfigAttr::QThresh),
            NFULA_CFG_FLAGS if v.len() == 2 => {
                Some(NflogConfigAttr::Flags(u16::from_be_bytes([v[0], v[1]])))
            }
            _ => None,
        }
        .unwrap_or_else(|| NflogConfigAttr::Other(RawAttr::from_nla(nla)))
    }
}

impl Emitable for NflogConfigAttr {
    fn buffer_len(&self) -> usize {
        match self {
            NflogConfigAttr::Cmd(_) | NflogConfigAttr::Flags(_) => 8,
            NflogConfigAttr::Mode { .. } => 12,
            NflogConfigAttr::BufSize(_)
            | NflogConfigAttr::Timeout(_)
            | NflogConfigAttr::QThresh(_) => 8,
            NflogConfigAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, b: &mut [u8]) {
        let be32 = |b: &mut [u8], kind, v: u32| {
            emit_nla(b, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        match self {
            NflogConfigAttr::Cmd(c) => {
                emit_nla(b, NFULA_CFG_CMD, 1, |b| b[0] = *c);
            }
            NflogConfigAttr::Mode {
                copy_range,
                copy_mode,
            } => {
                emit_nla(b, NFULA_CFG_MODE, 6, |b| {
                    b[..4].copy_from_slice(&copy_range.to_be_bytes());
                    b[4] = *copy_mode;
                    b[5] = 0;
                });
            }
            NflogConfigAttr::BufSize(v) => be32(b, NFULA_CFG_NLBUFSIZ, *v),
            NflogConfigAttr::Timeout(v) => be32(b, NFULA_CFG_TIMEOUT, *v),
            NflogConfigAttr::QThresh(v) => be32(b, NFULA_CFG_QTHRESH, *v),
            NflogConfigAttr::Flags(f) => {
                emit_nla(b, NFULA_CFG_FLAGS, 2, |b| {
                    b.copy_from_slice(&f.to_be_bytes())
                });
            }
            NflogConfigAttr::Other(raw) => raw.emit(b),
        }
    }
}

/// One attribute of a logged packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NflogAttr {
    /// `NFULA_PACKET_HDR`: the link-layer protocol and the netfilter hook
    /// (`NF_INET_PRE_ROUTING` 0, `LOCAL_IN` 1, `FORWARD` 2, `LOCAL_OUT` 3,
    /// `POST_ROUTING` 4).
    PacketHdr {
        /// `hw_protocol`: the ethertype (0x0800 IPv4, 0x86dd IPv6).
        hw_protocol: u16,
        /// `hook`.
        hook: u8,
    },
    /// `NFULA_MARK`.
    Mark(u32),
    /// `NFULA_TIMESTAMP`: when the packet arrived.
    Timestamp {
        /// Seconds since the epoch.
        sec: u64,
        /// Microseconds.
        usec: u64,
    },
    /// `NFULA_IFINDEX_INDEV`.
    InDev(u32),
    /// `NFULA_IFINDEX_OUTDEV`.
    OutDev(u32),
    /// `NFULA_IFINDEX_PHYSINDEV` (bridged packets).
    PhysInDev(u32),
    /// `NFULA_IFINDEX_PHYSOUTDEV`.
    PhysOutDev(u32),
    /// `NFULA_PAYLOAD`: the packet from its network header, cut at the copy range.
    Payload(Vec<u8>),
    /// `NFULA_PREFIX`: the rule's `log prefix`.
    Prefix(String),
    /// `NFULA_UID`: the local socket's owner.
    Uid(u32),
    /// `NFULA_GID`.
    Gid(u32),
    /// `NFULA_SEQ`: the group's sequence number (with `NFULNL_CFG_F_SEQ`).
    Seq(u32),
    /// `NFULA_SEQ_GLOBAL`.
    SeqGlobal(u32),
    /// `NFULA_HWTYPE`: the device type (`ARPHRD_*`).
    HwType(u16),
    /// `NFULA_HWLEN`: the link-layer header length.
    HwLen(u16),
    /// Anything else, raw.
    Other(RawAttr),
}

impl NflogAttr {
    pub(crate) fn parse(nla: &NlaBuffer<'_>) -> NflogAttr {
        let v = nla.value();
        let be16 = || (v.len() == 2).then(|| u16::from_be_bytes([v[0], v[1]]));
        match nla.raw_kind() {
            NFULA_PACKET_HDR if v.len() == 4 => Some(NflogAttr::PacketHdr {
                hw_protocol: u16::from_be_bytes([v[0], v[1]]),
                hook: v[2],
            }),
            NFULA_MARK => parse_be32(v).map(NflogAttr::Mark),
            NFULA_TIMESTAMP if v.len() == 16 => Some(NflogAttr::Timestamp {
                sec: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
                usec: u64::from_be_bytes(v[8..].try_into().expect("8 bytes")),
            }),
            NFULA_IFINDEX_INDEV => parse_be32(v).map(NflogAttr::InDev),
            NFULA_IFINDEX_OUTDEV => parse_be32(v).map(NflogAttr::OutDev),
            NFULA_IFINDEX_PHYSINDEV => parse_be32(v).map(NflogAttr::PhysInDev),
            NFULA_IFINDEX_PHYSOUTDEV => parse_be32(v).map(NflogAttr::PhysOutDev),
            NFULA_PAYLOAD => Some(NflogAttr::Payload(v.to_vec())),
            NFULA_PREFIX => parse_string(v).map(NflogAttr::Prefix),
            NFULA_UID => parse_be32(v).map(NflogAttr::Uid),
            NFULA_GID => parse_be32(v).map(NflogAttr::Gid),
            NFULA_SEQ => parse_be32(v).map(NflogAttr::Seq),
            NFULA_SEQ_GLOBAL => parse_be32(v).map(NflogAttr::SeqGlobal),
            NFULA_HWTYPE => be16().map(NflogAttr::HwType),
            NFULA_HWLEN => be16().map(NflogAttr::HwLen),
            _ => None,
        }
        .unwrap_or_else(|| NflogAttr::Other(RawAttr::from_nla(nla)))
    }
}

impl Emitable for NflogAttr {
    fn buffer_len(&self) -> usize {
        match self {
            NflogAttr::PacketHdr { .. }
            | NflogAttr::Mark(_)
            | NflogAttr::InDev(_)
            | NflogAttr::OutDev(_)
            | NflogAttr::PhysInDev(_)
            | NflogAttr::PhysOutDev(_)
            | NflogAttr::Uid(_)
            | NflogAttr::Gid(_)
            | NflogAttr::Seq(_)
            | NflogAttr::SeqGlobal(_)
            | NflogAttr::HwType(_)
            | NflogAttr::HwLen(_) => 8,
            NflogAttr::Timestamp { .. } => 20,
            NflogAttr::Payload(p) => super::align(4 + p.len()),
            NflogAttr::Prefix(s) => string_len(s),
            NflogAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, b: &mut [u8]) {
        let be32 = |b: &mut [u8], kind, v: u32| {
            emit_nla(b, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        let be16 = |b: &mut [u8], kind, v: u16| {
            emit_nla(b, kind, 2, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        match self {
            NflogAttr::PacketHdr { hw_protocol, hook } => {
                emit_nla(b, NFULA_PACKET_HDR, 4, |b| {
                    b[..2].copy_from_slice(&hw_protocol.to_be_bytes());
                    b[2] = *hook;
                    b[3] = 0;
                });
            }
            NflogAttr::Mark(v) => be32(b, NFULA_MARK, *v),
            NflogAttr::Timestamp { sec, usec } => {
                emit_nla(b, NFULA_TIMESTAMP, 16, |b| {
                    b[..8].copy_from_slice(&sec.to_be_bytes());
                    b[8..].copy_from_slice(&usec.to_be_bytes());
                });
            }
            NflogAttr::InDev(v) => be32(b, NFULA_IFINDEX_INDEV, *v),
            NflogAttr::OutDev(v) => be32(b, NFULA_IFINDEX_OUTDEV, *v),
            NflogAttr::PhysInDev(v) => be32(b, NFULA_IFINDEX_PHYSINDEV, *v),
            NflogAttr::PhysOutDev(v) => be32(b, NFULA_IFINDEX_PHYSOUTDEV, *v),
            NflogAttr::Payload(p) => {
                emit_nla(b, NFULA_PAYLOAD, p.len(), |b| b.copy_from_slice(p));
            }
            NflogAttr::Prefix(s) => {
                emit_string(b, NFULA_PREFIX, s);
            }
            NflogAttr::Uid(v) => be32(b, NFULA_UID, *v),
            NflogAttr::Gid(v) => be32(b, NFULA_GID, *v),
            NflogAttr::Seq(v) => be32(b, NFULA_SEQ, *v),
            NflogAttr::SeqGlobal(v) => be32(b, NFULA_SEQ_GLOBAL, *v),
            NflogAttr::HwType(v) => be16(b, NFULA_HWTYPE, *v),
            NflogAttr::HwLen(v) => be16(b, NFULA_HWLEN, *v),
            NflogAttr::Other(raw) => raw.emit(b),
        }
    }
}
