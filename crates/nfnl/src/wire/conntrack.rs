//! ctnetlink (`NFNL_SUBSYS_CTNETLINK`): conntrack entries as dump answers, events and
//! requests, from `include/uapi/linux/netfilter/nfnetlink_conntrack.h`.
//!
//! ```text
//! nlmsghdr (type 1 << 8 | IPCTNL_MSG_CT_*) + nfgenmsg (family: NFPROTO_IPV4/IPV6,
//! AF_UNSPEC in a dump request for both) + attributes:
//!   CTA_TUPLE_ORIG, CTA_TUPLE_REPLY (nests) → CTA_TUPLE_IP  → CTA_IP_V4_SRC/DST | V6_SRC/DST
//!                                            → CTA_TUPLE_PROTO → CTA_PROTO_NUM (u8),
//!                                                 SRC_PORT, DST_PORT (be16) | ICMP(V6)_ID,
//!                                                 _TYPE, _CODE
//!                                            → CTA_TUPLE_ZONE (be16)
//!   CTA_STATUS (be32, IPS_*)   CTA_TIMEOUT (be32, seconds)   CTA_MARK (be32)
//!   CTA_PROTOINFO → CTA_PROTOINFO_TCP → STATE (u8), WSCALE_ORIGINAL/REPLY (u8),
//!                                       FLAGS_ORIGINAL/REPLY (struct nf_ct_tcp_flags)
//!   CTA_COUNTERS_ORIG/REPLY → PACKETS, BYTES (be64)     (with nf_conntrack_acct)
//!   CTA_USE (be32)   CTA_ID (be32)   CTA_ZONE (be16)
//!   anything else (helper, NAT sequence adjustment, timestamps, labels, secctx): raw
//! ```
//!
//! [`Conntrack`] is the value: the fields the observers read, typed, and every attribute
//! it does not interpret kept raw in [`Conntrack::other`], so parse → emit loses no byte
//! (it writes the known attributes in the kernel's order, then the rest). An attribute
//! that is known but malformed (a tuple without addresses, a port of three bytes) is kept
//! raw as well rather than refused: a dump must not fail on one strange entry. Parsing
//! allocates only for such raw attributes, so a million-entry dump costs no allocation
//! per entry beyond the entry itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::attr::{align, emit_nla, NlaIter, RawAttr, NLA_F_NESTED, NLA_HDRLEN};
use super::{Emitable, WireError};

/// `NFNL_SUBSYS_CTNETLINK`.
pub(crate) const NFNL_SUBSYS_CTNETLINK: u16 = 1;

const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
// IPCTNL_MSG_CT_GET_CTRZERO, _GET_STATS_CPU, _GET_STATS, _GET_DYING and _GET_UNCONFIRMED
// are not sent: they parse as `Body::Other`.

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_PROTOINFO: u16 = 4;
const CTA_TIMEOUT: u16 = 7;
const CTA_MARK: u16 = 8;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_USE: u16 = 11;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
// CTA_HELP, CTA_NAT_SRC/DST, CTA_TUPLE_MASTER, CTA_SEQ_ADJ_*, CTA_SECMARK, CTA_SECCTX,
// CTA_TIMESTAMP, CTA_MARK_MASK, CTA_LABELS*, CTA_SYNPROXY, CTA_FILTER, CTA_STATUS_MASK:
// nothing an observer counts; kept raw.

const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_TUPLE_ZONE: u16 = 3;

const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;

const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMP_CODE: u16 = 6;
const CTA_PROTO_ICMPV6_ID: u16 = 7;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const CTA_PROTO_ICMPV6_CODE: u16 = 9;

const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;
const CTA_PROTOINFO_TCP_WSCALE_ORIGINAL: u16 = 2;
const CTA_PROTOINFO_TCP_WSCALE_REPLY: u16 = 3;
const CTA_PROTOINFO_TCP_FLAGS_ORIGINAL: u16 = 4;
const CTA_PROTOINFO_TCP_FLAGS_REPLY: u16 = 5;

const CTA_COUNTERS_PACKETS: u16 = 1;
const CTA_COUNTERS_BYTES: u16 = 2;

/// `IPS_SRC_NAT`: the source was translated (masquerade, SNAT).
pub const IPS_SRC_NAT: u32 = 1 << 4;
/// `IPS_DST_NAT`: the destination was translated (DNAT, redirect).
pub const IPS_DST_NAT: u32 = 1 << 5;
/// `IPS_SEEN_REPLY`: packets went both ways.
pub const IPS_SEEN_REPLY: u32 = 1 << 1;
/// `IPS_ASSURED`: the entry is kept under table pressure.
pub const IPS_ASSURED: u32 = 1 << 2;
/// `IPS_CONFIRMED`: the entry is in the table (always set in dumps and events).
pub const IPS_CONFIRMED: u32 = 1 << 3;

/// The ctnetlink message types this crate reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CtKind {
    /// `IPCTNL_MSG_CT_NEW`: a dump answer, a NEW or UPDATE event, or a create request.
    New,
    /// `IPCTNL_MSG_CT_GET`: a dump request.
    Get,
    /// `IPCTNL_MSG_CT_DELETE`: a DESTROY event or a delete request.
    Delete,
}

impl CtKind {
    pub(crate) fn from_msg(msg: u16) -> Option<CtKind> {
        Some(match msg {
            IPCTNL_MSG_CT_NEW => CtKind::New,
            IPCTNL_MSG_CT_GET => CtKind::Get,
            IPCTNL_MSG_CT_DELETE => CtKind::Delete,
            _ => return None,
        })
    }
    /// `nlmsg_type` for this message.
    pub fn nlmsg_type(self) -> u16 {
        let msg = match self {
            CtKind::New => IPCTNL_MSG_CT_NEW,
            CtKind::Get => IPCTNL_MSG_CT_GET,
            CtKind::Delete => IPCTNL_MSG_CT_DELETE,
        };
        NFNL_SUBSYS_CTNETLINK << 8 | msg
    }
}

/// One direction of a connection: addresses, protocol and ports (or ICMP id, type, code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// `CTA_PROTO_NUM`: the IP protocol (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub proto: u8,
    /// `CTA_PROTO_SRC_PORT` (TCP, UDP, SCTP, DCCP).
    pub src_port: Option<u16>,
    /// `CTA_PROTO_DST_PORT`.
    pub dst_port: Option<u16>,
    /// ICMP or ICMPv6 echo id, type and code.
    pub icmp: Option<Icmp>,
    /// `CTA_TUPLE_ZONE`, when the zone is per direction.
    pub zone: Option<u16>,
}

/// The ICMP part of a tuple (`CTA_PROTO_ICMP_*`, or `_ICMPV6_*` for IPv6 addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmp {
    /// Echo id.
    pub id: u16,
    /// Type.
    pub kind: u8,
    /// Code.
    pub code: u8,
}

impl Tuple {
    /// A TCP or UDP tuple.
    pub fn ports(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16, proto: u8) -> Tuple {
        Tuple {
            src,
            dst,
            proto,
            src_port: Some(src_port),
            dst_port: Some(dst_port),
            icmp: None,
            zone: None,
        }
    }

    /// The same flow seen from the other end (addresses and ports swapped).
    pub fn reversed(&self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }

    fn parse(payload: &[u8]) -> Option<Tuple> {
        let (mut src, mut dst, mut zone) = (None, None, None);
        let mut proto = None;
        let (mut sport, mut dport) = (None, None);
        let (mut id, mut kind, mut code) = (None, None, None);
        for nla in NlaIter::new(payload) {
            let nla = nla.ok()?;
            match nla.kind() {
                CTA_TUPLE_IP => {
                    for ip in NlaIter::new(nla.value()) {
                        let ip = ip.ok()?;
                        let v = ip.value();
                        let addr = match ip.kind() {
                            CTA_IP_V4_SRC | CTA_IP_V4_DST => {
                                IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))
                            }
                            CTA_IP_V6_SRC | CTA_IP_V6_DST => {
                                IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))
                            }
                            _ => return None,
                        };
                        match ip.kind() {
                            CTA_IP_V4_SRC | CTA_IP_V6_SRC => src = Some(addr),
                            _ => dst = Some(addr),
                        }
                    }
                }
                CTA_TUPLE_PROTO => {
                    for p in NlaIter::new(nla.value()) {
                        let p = p.ok()?;
                        let v = p.value();
                        let be16 = || Some(u16::from_be_bytes(v.try_into().ok()?));
                        let byte = || (v.len() == 1).then(|| v[0]);
                        match p.kind() {
                            CTA_PROTO_NUM => proto = Some(byte()?),
                            CTA_PROTO_SRC_PORT => sport = Some(be16()?),
                            CTA_PROTO_DST_PORT => dport = Some(be16()?),
                            CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => id = Some(be16()?),
                            CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => kind = Some(byte()?),
                            CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => code = Some(byte()?),
                            _ => return None,
                        }
                    }
                }
                CTA_TUPLE_ZONE => zone = Some(u16::from_be_bytes(nla.value().try_into().ok()?)),
                _ => return None,
            }
        }
        let (src, dst) = (src?, dst?);
        if src.is_ipv4() != dst.is_ipv4() {
            return None;
        }
        let icmp = match (id, kind, code) {
            (Some(id), Some(kind), Some(code)) => Some(Icmp { id, kind, code }),
            (None, None, None) => None,
            _ => return None,
        };
        Some(Tuple {
            src,
            dst,
            proto: proto?,
            src_port: sport,
            dst_port: dport,
            icmp,
            zone,
        })
    }

    fn ip_len(&self) -> usize {
        let one = if self.src.is_ipv4() { 8 } else { 20 };
        NLA_HDRLEN + 2 * one
    }

    fn proto_len(&self) -> usize {
        NLA_HDRLEN
            + 8
            + 8 * usize::from(self.src_port.is_some())
            + 8 * usize::from(self.dst_port.is_some())
            + 24 * usize::from(self.icmp.is_some())
    }

    fn payload_len(&self) -> usize {
        self.ip_len() + self.proto_len() + 8 * usize::from(self.zone.is_some())
    }

    fn emit_payload(&self, b: &mut [u8]) {
        let v6 = self.src.is_ipv6();
        let mut at = emit_nla(
            b,
            NLA_F_NESTED | CTA_TUPLE_IP,
            self.ip_len() - NLA_HDRLEN,
            |b| {
                let mut at = 0;
                for (kind, addr) in [(0, self.src), (1, self.dst)] {
                    at += match addr {
                        IpAddr::V4(a) => emit_nla(&mut b[at..], CTA_IP_V4_SRC + kind, 4, |b| {
                            b.copy_from_slice(&a.octets())
                        }),
                        IpAddr::V6(a) => emit_nla(&mut b[at..], CTA_IP_V6_SRC + kind, 16, |b| {
                            b.copy_from_slice(&a.octets())
                        }),
                    };
                }
            },
        );
        at += emit_nla(
            &mut b[at..],
            NLA_F_NESTED | CTA_TUPLE_PROTO,
            self.proto_len() - NLA_HDRLEN,
            |b| {
                let mut at = emit_nla(b, CTA_PROTO_NUM, 1, |b| b[0] = self.proto);
                for (kind, port) in [
                    (CTA_PROTO_SRC_PORT, self.src_port),
                    (CTA_PROTO_DST_PORT, self.dst_port),
                ] {
                    if let Some(p) = port {
                        at += emit_be16(&mut b[at..], kind, p);
                    }
                }
                if let Some(icmp) = self.icmp {
                    let base = if v6 {
                        CTA_PROTO_ICMPV6_ID
                    } else {
                        CTA_PROTO_ICMP_ID
                    };
                    at += emit_be16(&mut b[at..], base, icmp.id);
                    at += emit_nla(&mut b[at..], base + 1, 1, |b| b[0] = icmp.kind);
                    emit_nla(&mut b[at..], base + 2, 1, |b| b[0] = icmp.code);
                }
            },
        );
        if let Some(zone) = self.zone {
            emit_be16(&mut b[at..], CTA_TUPLE_ZONE, zone);
        }
    }
}

fn emit_be16(b: &mut [u8], kind: u16, v: u16) -> usize {
    emit_nla(b, kind, 2, |b| b.copy_from_slice(&v.to_be_bytes()))
}
fn emit_be32(b: &mut [u8], kind: u16, v: u32) -> usize {
    emit_nla(b, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()))
}
fn emit_be64(b: &mut [u8], kind: u16, v: u64) -> usize {
    emit_nla(b, kind, 8, |b| b.copy_from_slice(&v.to_be_bytes()))
}

/// conntrack's TCP state (`enum tcp_conntrack` in `include/uapi/linux/netfilter/
/// nf_conntrack_tcp.h`): not the socket's state, the firewall's view of the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CtTcpState {
    /// `TCP_CONNTRACK_NONE` (0).
    None,
    /// `TCP_CONNTRACK_SYN_SENT` (1): a SYN seen, no answer.
    SynSent,
    /// `TCP_CONNTRACK_SYN_RECV` (2): the SYN-ACK seen, the last ACK not.
    SynRecv,
    /// `TCP_CONNTRACK_ESTABLISHED` (3).
    Established,
    /// `TCP_CONNTRACK_FIN_WAIT` (4).
    FinWait,
    /// `TCP_CONNTRACK_CLOSE_WAIT` (5).
    CloseWait,
    /// `TCP_CONNTRACK_LAST_ACK` (6).
    LastAck,
    /// `TCP_CONNTRACK_TIME_WAIT` (7).
    TimeWait,
    /// `TCP_CONNTRACK_CLOSE` (8).
    Close,
    /// `TCP_CONNTRACK_SYN_SENT2` (9): simultaneous open.
    SynSent2,
    /// Any other number, kept.
    Unknown(u8),
}

impl CtTcpState {
    /// The state for a kernel number.
    pub fn from_raw(raw: u8) -> CtTcpState {
        match raw {
            0 => CtTcpState::None,
            1 => CtTcpState::SynSent,
            2 => CtTcpState::SynRecv,
            3 => CtTcpState::Established,
            4 => CtTcpState::FinWait,
            5 => CtTcpState::CloseWait,
            6 => CtTcpState::LastAck,
            7 => CtTcpState::TimeWait,
            8 => CtTcpState::Close,
            9 => CtTcpState::SynSent2,
            other => CtTcpState::Unknown(other),
        }
    }
    /// The kernel number.
    pub fn raw(self) -> u8 {
        match self {
            CtTcpState::None => 0,
            CtTcpState::SynSent => 1,
            CtTcpState::SynRecv => 2,
            CtTcpState::Established => 3,
            CtTcpState::FinWait => 4,
            CtTcpState::CloseWait => 5,
            CtTcpState::LastAck => 6,
            CtTcpState::TimeWait => 7,
            CtTcpState::Close => 8,
            CtTcpState::SynSent2 => 9,
            CtTcpState::Unknown(raw) => raw,
        }
    }
}

/// `CTA_PROTOINFO_TCP`: the TCP tracker's state (window scales and flags when present).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// `CTA_PROTOINFO_TCP_STATE`.
    pub state: CtTcpState,
    /// `CTA_PROTOINFO_TCP_WSCALE_ORIGINAL` and `_REPLY`.
    pub wscale: Option<(u8, u8)>,
    /// `CTA_PROTOINFO_TCP_FLAGS_ORIGINAL` and `_REPLY`: (flags, mask) each.
    pub flags: Option<([u8; 2], [u8; 2])>,
}

impl TcpInfo {
    fn parse(payload: &[u8]) -> Option<TcpInfo> {
        let mut tcp = None;
        for nla in NlaIter::new(payload) {
            let nla = nla.ok()?;
            if nla.kind() != CTA_PROTOINFO_TCP || tcp.is_some() {
                return None;
            }
            tcp = Some(nla.value());
        }
        let (mut state, mut ws_o, mut ws_r, mut fl_o, mut fl_r) = (None, None, None, None, None);
        for nla in NlaIter::new(tcp?) {
            let nla = nla.ok()?;
            let v = nla.value();
            let byte = || (v.len() == 1).then(|| v[0]);
            match nla.kind() {
                CTA_PROTOINFO_TCP_STATE => state = Some(CtTcpState::from_raw(byte()?)),
                CTA_PROTOINFO_TCP_WSCALE_ORIGINAL => ws_o = Some(byte()?),
                CTA_PROTOINFO_TCP_WSCALE_REPLY => ws_r = Some(byte()?),
                CTA_PROTOINFO_TCP_FLAGS_ORIGINAL => fl_o = Some(<[u8; 2]>::try_from(v).ok()?),
                CTA_PROTOINFO_TCP_FLAGS_REPLY => fl_r = Some(<[u8; 2]>::try_from(v).ok()?),
                _ => return None,
            }
        }
        Some(TcpInfo {
            state: state?,
            wscale: pair(ws_o, ws_r)?,
            flags: pair(fl_o, fl_r)?,
        })
    }

    fn inner_len(&self) -> usize {
        8 + 16 * usize::from(self.wscale.is_some()) + 16 * usize::from(self.flags.is_some())
    }

    fn emit_payload(&self, b: &mut [u8]) {
        emit_nla(b, NLA_F_NESTED | CTA_PROTOINFO_TCP, self.inner_len(), |b| {
            let mut at = emit_nla(b, CTA_PROTOINFO_TCP_STATE, 1, |b| b[0] = self.state.raw());
            if let Some((o, r)) = self.wscale {
                at += emit_nla(&mut b[at..], CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 1, |b| {
                    b[0] = o
                });
                at += emit_nla(&mut b[at..], CTA_PROTOINFO_TCP_WSCALE_REPLY, 1, |b| {
                    b[0] = r
                });
            }
            if let Some((o, r)) = self.flags {
                at += emit_nla(&mut b[at..], CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, 2, |b| {
                    b.copy_from_slice(&o)
                });
                emit_nla(&mut b[at..], CTA_PROTOINFO_TCP_FLAGS_REPLY, 2, |b| {
                    b.copy_from_slice(&r)
                });
            }
        });
    }
}

/// Both or neither of a pair of attributes: `Some(None)` for neither, `None` (malformed)
/// for one alone.
fn pair<T>(a: Option<T>, b: Option<T>) -> Option<Option<(T, T)>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Some((a, b))),
        (None, None) => Some(None),
        _ => None,
    }
}

/// `CTA_COUNTERS_ORIG` / `_REPLY` (present with `nf_conntrack_acct=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Counters {
    fn parse(payload: &[u8]) -> Option<Counters> {
        let (mut packets, mut bytes) = (None, None);
        for nla in NlaIter::new(payload) {
            let nla = nla.ok()?;
            let v = u64::from_be_bytes(nla.value().try_into().ok()?);
            match nla.kind() {
                CTA_COUNTERS_PACKETS => packets = Some(v),
                CTA_COUNTERS_BYTES => bytes = Some(v),
                _ => return None,
            }
        }
        Some(Counters {
            packets: packets?,
            bytes: bytes?,
        })
    }
}

/// One conntrack entry, or a request about one (create: both tuples and a timeout;
/// delete: one tuple).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conntrack {
    /// `CTA_TUPLE_ORIG`: the direction of the first packet.
    pub orig: Option<Tuple>,
    /// `CTA_TUPLE_REPLY`: the answer's direction; differs from `orig` reversed when the
    /// flow is NATed.
    pub reply: Option<Tuple>,
    /// `CTA_ZONE`.
    pub zone: Option<u16>,
    /// `CTA_STATUS`: `IPS_*` bits.
    pub status: Option<u32>,
    /// `CTA_TIMEOUT`: seconds left.
    pub timeout: Option<u32>,
    /// `CTA_COUNTERS_ORIG`, `CTA_COUNTERS_REPLY`.
    pub counters: Option<(Counters, Counters)>,
    /// `CTA_PROTOINFO` for TCP.
    pub tcp: Option<TcpInfo>,
    /// `CTA_MARK`.
    pub mark: Option<u32>,
    /// `CTA_ID`: the entry's id.
    pub id: Option<u32>,
    /// `CTA_USE`: references.
    pub use_count: Option<u32>,
    /// Every attribute not interpreted above, raw, in received order.
    pub other: Vec<RawAttr>,
}

impl Conntrack {
    /// Reads an entry from a message's attributes (after the nfgenmsg).
    pub fn parse(attrs: &[u8]) -> Result<Conntrack, WireError> {
        let mut ct = Conntrack::default();
        let (mut c_orig, mut c_reply) = (None, None);
        for nla in NlaIter::new(attrs) {
            let nla = nla?;
            let v = nla.value();
            let be32 = || v.try_into().ok().map(u32::from_be_bytes);
            let known = match nla.kind() {
                CTA_TUPLE_ORIG if ct.orig.is_none() => Tuple::parse(v).map(|t| ct.orig = Some(t)),
                CTA_TUPLE_REPLY if ct.reply.is_none() => {
                    Tuple::parse(v).map(|t| ct.reply = Some(t))
                }
                CTA_ZONE if ct.zone.is_none() => v
                    .try_into()
                    .ok()
                    .map(|b| ct.zone = Some(u16::from_be_bytes(b))),
                CTA_STATUS if ct.status.is_none() => be32().map(|x| ct.status = Some(x)),
                CTA_TIMEOUT if ct.timeout.is_none() => be32().map(|x| ct.timeout = Some(x)),
                CTA_COUNTERS_ORIG if c_orig.is_none() => {
                    Counters::parse(v).map(|c| c_orig = Some(c))
                }
                CTA_COUNTERS_REPLY if c_reply.is_none() => {
                    Counters::parse(v).map(|c| c_reply = Some(c))
                }
                CTA_PROTOINFO if ct.tcp.is_none() => TcpInfo::parse(v).map(|t| ct.tcp = Some(t)),
                CTA_MARK if ct.mark.is_none() => be32().map(|x| ct.mark = Some(x)),
                CTA_ID if ct.id.is_none() => be32().map(|x| ct.id = Some(x)),
                CTA_USE if ct.use_count.is_none() => be32().map(|x| ct.use_count = Some(x)),
                _ => None,
            };
            if known.is_none() {
                ct.other.push(RawAttr::from_nla(&nla));
            }
        }
        match (c_orig, c_reply) {
            (Some(o), Some(r)) => ct.counters = Some((o, r)),
            (Some(o), None) => ct.other.push(counters_raw(CTA_COUNTERS_ORIG, o)),
            (None, Some(r)) => ct.other.push(counters_raw(CTA_COUNTERS_REPLY, r)),
            (None, None) => {}
        }
        Ok(ct)
    }

    /// The TCP tracker's state, if this is a TCP entry with one.
    pub fn tcp_state(&self) -> Option<CtTcpState> {
        self.tcp.map(|t| t.state)
    }
}

fn counters_raw(kind: u16, c: Counters) -> RawAttr {
    let mut value = vec![0; 24];
    let at = emit_be64(&mut value, CTA_COUNTERS_PACKETS, c.packets);
    emit_be64(&mut value[at..], CTA_COUNTERS_BYTES, c.bytes);
    RawAttr {
        kind: NLA_F_NESTED | kind,
        value,
    }
}

impl Emitable for Conntrack {
    fn buffer_len(&self) -> usize {
        let tuple = |t: &Option<Tuple>| t.map_or(0, |t| NLA_HDRLEN + t.payload_len());
        tuple(&self.orig)
            + tuple(&self.reply)
            + 8 * usize::from(self.zone.is_some())
            + 8 * usize::from(self.status.is_some())
            + 8 * usize::from(self.timeout.is_some())
            + 56 * usize::from(self.counters.is_some())
            + self.tcp.map_or(0, |t| 2 * NLA_HDRLEN + t.inner_len())
            + 8 * usize::from(self.mark.is_some())
            + 8 * usize::from(self.id.is_some())
            + 8 * usize::from(self.use_count.is_some())
            + self.other.iter().map(Emitable::buffer_len).sum::<usize>()
    }

    /// Writes the attributes in the order of the kernel's `ctnetlink_fill_info` (tuples,
    /// zone, status, mark, id, use, then `ctnetlink_dump_info`'s timeout, protoinfo,
    /// counters), the raw ones after: a kernel message without secctx, master or helper
    /// (which would sit between them) comes out byte for byte.
    fn emit(&self, b: &mut [u8]) {
        let mut at = 0;
        for (kind, t) in [(CTA_TUPLE_ORIG, &self.orig), (CTA_TUPLE_REPLY, &self.reply)] {
            if let Some(t) = t {
                at += emit_nla(&mut b[at..], NLA_F_NESTED | kind, t.payload_len(), |b| {
                    t.emit_payload(b)
                });
            }
        }
        if let Some(z) = self.zone {
            at += emit_be16(&mut b[at..], CTA_ZONE, z);
        }
        if let Some(s) = self.status {
            at += emit_be32(&mut b[at..], CTA_STATUS, s);
        }
        if let Some(m) = self.mark {
            at += emit_be32(&mut b[at..], CTA_MARK, m);
        }
        if let Some(id) = self.id {
            at += emit_be32(&mut b[at..], CTA_ID, id);
        }
        if let Some(u) = self.use_count {
            at += emit_be32(&mut b[at..], CTA_USE, u);
        }
        if let Some(t) = self.timeout {
            at += emit_be32(&mut b[at..], CTA_TIMEOUT, t);
        }
        if let Some(tcp) = self.tcp {
            at += emit_nla(
                &mut b[at..],
                NLA_F_NESTED | CTA_PROTOINFO,
                NLA_HDRLEN + tcp.inner_len(),
                |b| tcp.emit_payload(b),
            );
        }
        if let Some((o, r)) = self.counters {
            for (kind, c) in [(CTA_COUNTERS_ORIG, o), (CTA_COUNTERS_REPLY, r)] {
                let raw = counters_raw(kind, c);
                raw.emit(&mut b[at..at + raw.buffer_len()]);
                at += raw.buffer_len();
            }
        }
        for raw in &self.other {
            let len = raw.buffer_len();
            raw.emit(&mut b[at..at + len]);
            at += len;
        }
        debug_assert_eq!(at, align(at));
    }
}
