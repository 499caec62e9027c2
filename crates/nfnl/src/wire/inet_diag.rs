//! sock_diag for TCP and UDP sockets (`NETLINK_SOCK_DIAG`, `SOCK_DIAG_BY_FAMILY`): the
//! dump request (`struct inet_diag_req_v2`) and each answer's fixed part
//! (`struct inet_diag_msg`), from `include/uapi/linux/inet_diag.h`.
//!
//! ```text
//! request: nlmsghdr (type 20, NLM_F_REQUEST | NLM_F_DUMP) +
//!  0      1        2     3     4            8
//! +------+--------+-----+-----+------------+------------------------------+
//! |family|protocol| ext | pad | states u32 | inet_diag_sockid (48 bytes)  |
//! +------+--------+-----+-----+------------+------------------------------+
//!
//! answer: nlmsghdr (type 20) +
//!  0      1       2       3        4                              52
//! +------+-------+-------+--------+------------------------------+---------+
//! |family| state | timer | retrans| inet_diag_sockid (48 bytes)  | expires |
//! +------+-------+-------+--------+------------------------------+---------+
//!  56      60       64    68      72
//! | rqueue | wqueue | uid | inode | INET_DIAG_* attributes (not read) …
//!
//! inet_diag_sockid:
//!  0       2       4                  20                 36     40
//! | sport | dport | src: 4 x be32     | dst: 4 x be32    | if   | cookie: 2 x u32 |
//!   (be16)  (be16)  (IPv4: first word)
//! ```
//!
//! Only the fixed part is read: the attributes that follow (`INET_DIAG_SHUTDOWN`,
//! `INET_DIAG_CGROUP_ID`, …) carry nothing the observers need, and skipping them keeps
//! a 100k-socket scan free of allocations per socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Emitable, WireError};

/// `SOCK_DIAG_BY_FAMILY`: the request and every answer of the dump.
pub(crate) const SOCK_DIAG_BY_FAMILY: u16 = 20;

/// Size of `struct inet_diag_sockid`.
const SOCKID_LEN: usize = 48;
/// Size of `struct inet_diag_req_v2`.
pub(crate) const INET_DIAG_REQ_LEN: usize = 8 + SOCKID_LEN;
/// Size of `struct inet_diag_msg`.
pub(crate) const INET_DIAG_MSG_LEN: usize = 4 + SOCKID_LEN + 20;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

mod field {
    use std::ops::Range;
    // inet_diag_req_v2
    pub const REQ_FAMILY: usize = 0;
    pub const REQ_PROTOCOL: usize = 1;
    pub const REQ_EXT: usize = 2;
    pub const REQ_PAD: usize = 3;
    pub const REQ_STATES: Range<usize> = 4..8;
    pub const REQ_ID: usize = 8;
    // inet_diag_msg
    pub const FAMILY: usize = 0;
    pub const STATE: usize = 1;
    pub const TIMER: usize = 2;
    pub const RETRANS: usize = 3;
    pub const ID: usize = 4;
    pub const EXPIRES: Range<usize> = 52..56;
    pub const RQUEUE: Range<usize> = 56..60;
    pub const WQUEUE: Range<usize> = 60..64;
    pub const UID: Range<usize> = 64..68;
    pub const INODE: Range<usize> = 68..72;
    // inet_diag_sockid, relative
    pub const SPORT: Range<usize> = 0..2;
    pub const DPORT: Range<usize> = 2..4;
    pub const SRC: Range<usize> = 4..20;
    pub const DST: Range<usize> = 20..36;
    pub const IF: Range<usize> = 36..40;
    pub const COOKIE: Range<usize> = 40..48;
}

/// A socket's state as sock_diag reports it (`TCP_*` in `include/net/tcp_states.h`).
/// UDP sockets are `Established` when connected and `Close` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TcpState {
    /// `TCP_ESTABLISHED` (1).
    Established,
    /// `TCP_SYN_SENT` (2).
    SynSent,
    /// `TCP_SYN_RECV` (3): a Fast Open child not yet acknowledged.
    SynRecv,
    /// `TCP_FIN_WAIT1` (4).
    FinWait1,
    /// `TCP_FIN_WAIT2` (5).
    FinWait2,
    /// `TCP_TIME_WAIT` (6).
    TimeWait,
    /// `TCP_CLOSE` (7): also an unconnected UDP socket.
    Close,
    /// `TCP_CLOSE_WAIT` (8).
    CloseWait,
    /// `TCP_LAST_ACK` (9).
    LastAck,
    /// `TCP_LISTEN` (10).
    Listen,
    /// `TCP_CLOSING` (11).
    Closing,
    /// `TCP_NEW_SYN_RECV` (12): a request socket, the half-open connection of a SYN
    /// backlog (what `ss` prints as SYN-RECV).
    NewSynRecv,
    /// Any other number (`TCP_BOUND_INACTIVE` 13 on newer kernels), kept.
    Unknown(u8),
}

impl TcpState {
    /// The state for a kernel number.
    pub fn from_raw(raw: u8) -> TcpState {
        match raw {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            12 => TcpState::NewSynRecv,
            other => TcpState::Unknown(other),
        }
    }

    /// The kernel number.
    pub fn raw(self) -> u8 {
        match self {
            TcpState::Established => 1,
            TcpState::SynSent => 2,
            TcpState::SynRecv => 3,
            TcpState::FinWait1 => 4,
            TcpState::FinWait2 => 5,
            TcpState::TimeWait => 6,
            TcpState::Close => 7,
            TcpState::CloseWait => 8,
            TcpState::LastAck => 9,
            TcpState::Listen => 10,
            TcpState::Closing => 11,
            TcpState::NewSynRecv => 12,
            TcpState::Unknown(raw) => raw,
        }
    }

    /// The bit of this state in a request's `idiag_states`.
    pub fn bit(self) -> u32 {
        1u32.checked_shl(u32::from(self.raw())).unwrap_or(0)
    }
}

/// `idiag_states` asking for every state of a connection or listener, `TCP_ESTABLISHED`
/// (1) to `TCP_NEW_SYN_RECV` (12): request sockets (a SYN backlog) and time-wait sockets
/// included. Not `TCP_BOUND_INACTIVE` (13): a socket bound and never used is no
/// connection, and asking for it makes the kernel walk its whole bind hash as well.
pub const ALL_STATES: u32 = 0x1ffe;

/// `struct inet_diag_sockid`: the socket's addresses as the kernel names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockId {
    /// Local address and port (`idiag_src`, `idiag_sport`).
    pub local: SocketAddr,
    /// Remote address and port (`idiag_dst`, `idiag_dport`); unspecified for a listener.
    pub remote: SocketAddr,
    /// `idiag_if`: the bound interface index, 0 for none.
    pub interface: u32,
    /// `idiag_cookie`, as one number (low word first, as the kernel stores it).
    pub cookie: u64,
}

impl SockId {
    /// A wildcard id of a family (what a dump request carries).
    pub fn any(ipv4: bool) -> SockId {
        let ip = if ipv4 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        SockId {
            local: SocketAddr::new(ip, 0),
            remote: SocketAddr::new(ip, 0),
            interface: 0,
            cookie: u64::MAX,
        }
    }

    fn parse(b: &[u8], family: u8) -> SockId {
        let addr = |r: std::ops::Range<usize>| -> IpAddr {
            let bytes: [u8; 16] = b[r].try_into().expect("16-byte address");
            if family == AF_INET {
                IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
            } else {
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
        };
        let be16 = |r: std::ops::Range<usize>| u16::from_be_bytes([b[r.start], b[r.start + 1]]);
        let lo = u32::from_ne_bytes(b[40..44].try_into().expect("4 bytes"));
        let hi = u32::from_ne_bytes(b[44..48].try_into().expect("4 bytes"));
        SockId {
            local: SocketAddr::new(addr(field::SRC), be16(field::SPORT)),
            remote: SocketAddr::new(addr(field::DST), be16(field::DPORT)),
            interface: u32::from_ne_bytes(b[field::IF].try_into().expect("4 bytes")),
            cookie: u64::from(hi) << 32 | u64::from(lo),
        }
    }

    fn emit(&self, b: &mut [u8]) {
        let put = |b: &mut [u8], ip: IpAddr| {
            b.fill(0);
            match ip {
                IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => b.copy_from_slice(&v6.octets()),
            }
        };
        b[field::SPORT].copy_from_slice(&self.local.port().to_be_bytes());
        b[field::DPORT].copy_from_slice(&self.remote.port().to_be_bytes());
        put(&mut b[field::SRC], self.local.ip());
        put(&mut b[field::DST], self.remote.ip());
        b[field::IF].copy_from_slice(&self.interface.to_ne_bytes());
        b[field::COOKIE.start..field::COOKIE.start + 4]
            .copy_from_slice(&(self.cookie as u32).to_ne_bytes());
        b[field::COOKIE.start + 4..field::COOKIE.end]
            .copy_from_slice(&((self.cookie >> 32) as u32).to_ne_bytes());
    }
}

/// `struct inet_diag_req_v2`: a dump request for one family and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InetDiagReq {
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    /// `IPPROTO_TCP` (6) or `IPPROTO_UDP` (17).
    pub protocol: u8,
    /// `idiag_ext`: extensions asked for (`1 << (INET_DIAG_* - 1)`); 0 for none.
    pub extensions: u8,
    /// `idiag_states`: one bit per [`TcpState`].
    pub states: u32,
    /// The socket to look up; a wildcard for dumps.
    pub id: SockId,
}

impl InetDiagReq {
    /// A dump request for every socket of one family and protocol in `states`.
    pub fn dump(ipv4: bool, protocol: u8, states: u32) -> InetDiagReq {
        InetDiagReq {
            family: if ipv4 { AF_INET } else { AF_INET6 },
            protocol,
            extensions: 0,
            states,
            id: SockId::any(ipv4),
        }
    }

    /// Reads a request payload.
    pub fn parse(b: &[u8]) -> Result<InetDiagReq, WireError> {
        if b.len() < INET_DIAG_REQ_LEN {
            return Err(WireError::Truncated("inet_diag_req_v2"));
        }
        let family = b[field::REQ_FAMILY];
        Ok(InetDiagReq {
            family,
            protocol: b[field::REQ_PROTOCOL],
            extensions: b[field::REQ_EXT],
            states: u32::from_ne_bytes(b[field::REQ_STATES].try_into().expect("4 bytes")),
            id: SockId::parse(&b[field::REQ_ID..], family),
        })
    }
}

impl Emitable for InetDiagReq {
    fn buffer_len(&self) -> usize {
        INET_DIAG_REQ_LEN
    }
    fn emit(&self, b: &mut [u8]) {
        b[field::REQ_FAMILY] = self.family;
        b[field::REQ_PROTOCOL] = self.protocol;
        b[field::REQ_EXT] = self.extensions;
        b[field::REQ_PAD] = 0;
        b[field::REQ_STATES].copy_from_slice(&self.states.to_ne_bytes());
        self.id
            .emit(&mut b[field::REQ_ID..field::REQ_ID + SOCKID_LEN]);
    }
}

/// `struct inet_diag_msg`: one socket of a dump (the attributes after it are not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InetDiagMsg {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// `idiag_state`.
    pub state: TcpState,
    /// `idiag_timer`: which timer runs (0 none, 1 retransmit, 2 keepalive, 3 time-wait,
    /// 4 zero-window probe).
    pub timer: u8,
    /// `idiag_retrans`.
    pub retrans: u8,
    /// Addresses, interface, cookie.
    pub id: SockId,
    /// `idiag_expires`: milliseconds until the timer fires.
    pub expires: u32,
    /// `idiag_rqueue`: bytes received not read (listener: accept backlog).
    pub rqueue: u32,
    /// `idiag_wqueue`: bytes sent not acknowledged (listener: backlog limit).
    pub wqueue: u32,
    /// `idiag_uid`: the owner.
    pub uid: u32,
    /// `idiag_inode`: the socket inode (0 for time-wait and request sockets).
    pub inode: u32,
}

impl InetDiagMsg {
    /// Reads the fixed part of an answer's payload.
    pub fn parse(b: &[u8]) -> Result<InetDiagMsg, WireError> {
        if b.len() < INET_DIAG_MSG_LEN {
            return Err(WireError::Truncated("inet_diag_msg"));
        }
        let family = b[field::FAMILY];
        let u32_at = |r: std::ops::Range<usize>| u32::from_ne_bytes(b[r].try_into().expect("4"));
        Ok(InetDiagMsg {
            family,
            state: TcpState::from_raw(b[field::STATE]),
            timer: b[field::TIMER],
            retrans: b[field::RETRANS],
            id: SockId::parse(&b[field::ID..field::ID + SOCKID_LEN], family),
            expires: u32_at(field::EXPIRES),
            rqueue: u32_at(field::RQUEUE),
            wqueue: u32_at(field::WQUEUE),
            uid: u32_at(field::UID),
            inode: u32_at(field::INODE),
        })
    }
}

impl Emitable for InetDiagMsg {
    fn buffer_len(&self) -> usize {
        INET_DIAG_MSG_LEN
    }
    fn emit(&self, b: &mut [u8]) {
        b[field::FAMILY] = self.family;
        b[field::STATE] = self.state.raw();
        b[field::TIMER] = self.timer;
        b[field::RETRANS] = self.retrans;
        self.id.emit(&mut b[field::ID..field::ID + SOCKID_LEN]);
        b[field::EXPIRES].copy_from_slice(&self.expires.to_ne_bytes());
        b[field::RQUEUE].copy_from_slice(&self.rqueue.to_ne_bytes());
        b[field::WQUEUE].copy_from_slice(&self.wqueue.to_ne_bytes());
        b[field::UID].copy_from_slice(&self.uid.to_ne_bytes());
        b[field::INODE].copy_from_slice(&self.inode.to_ne_bytes());
    }
}
