//! Building (and reading back) the IPv4/IPv6 + TCP/UDP packets the flood
//! generator writes to raw sockets.
//!
//! [`Datagram`] is the high-level value: addresses, TTL and a [`Transport`]
//! (a [`TcpRepr`] or a [`UdpRepr`]); [`Datagram::emit`] writes it with every
//! length and checksum filled in, [`Datagram::parse`] reads one back and
//! checks them all (tests use it both ways, and it decodes what a packet
//! socket captures).
//!
//! ```text
//!  IPv4 header (20 bytes, no options)         IPv6 header (40 bytes)
//!  0      4      8             16      19    31   0    4        12       16         24      31
//!  +------+------+-------------+-------+-----+    +----+--------+--------+----------+-------+
//!  | 4    | IHL 5| TOS 0       | total length |    | 6  | class 0| flow label 0               |
//!  | identification            | flags | frag |    | payload length      | next hdr | hop lim|
//!  | TTL         | protocol    | header checksum |  | source address (16 bytes)               |
//!  | source address                             |  | destination address (16 bytes)          |
//!  | destination address                        |  +-----------------------------------------+
//!  +--------------------------------------------+
//!  TCP: sport, dport, seq, ack, data offset/flags, window, checksum, urgent, options (MSS)
//!  UDP: sport, dport, length, checksum, payload
//! ```
//!
//! TCP and UDP checksums cover the pseudo-header (RFC 793 / RFC 768 for
//! IPv4, RFC 8200 section 8.1 for IPv6). A UDP checksum that computes to 0 is
//! sent as 0xffff (0 means "none" in IPv4 and is illegal in IPv6).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IANA protocol numbers (`IPPROTO_TCP`, `IPPROTO_UDP`).
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const TCP_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
/// TCP option kinds (RFC 793): end of list, no-op, maximum segment size.
const TCPOPT_EOL: u8 = 0;
const TCPOPT_NOP: u8 = 1;
const TCPOPT_MSS: u8 = 2;
/// IPv4 "don't fragment" flag, in the flags/fragment-offset field.
const IP_DF: u16 = 0x4000;
/// The largest datagram built or parsed: an Ethernet MTU. Floods send small
/// packets; anything bigger would be fragmented by nobody (raw sockets with
/// the header included do not fragment).
pub const MAX_DATAGRAM: usize = 1500;

/// TCP flag bits, as in the header's flags byte.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// A TCP segment without payload (floods send SYNs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits ([`tcp_flags`]); any combination, SYN+FIN included.
    pub flags: u8,
    /// Receive window.
    pub window: u16,
    /// The MSS option, as a real SYN carries.
    pub mss: Option<u16>,
}

/// A UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Payload.
    pub payload: Vec<u8>,
}

/// The transport part of a [`Datagram`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TCP.
    Tcp(TcpRepr),
    /// UDP.
    Udp(UdpRepr),
}

impl Transport {
    fn protocol(&self) -> u8 {
        match self {
            Transport::Tcp(_) => IPPROTO_TCP,
            Transport::Udp(_) => IPPROTO_UDP,
        }
    }

    fn len(&self) -> usize {
        match self {
            Transport::Tcp(t) => TCP_HEADER_LEN + if t.mss.is_some() { 4 } else { 0 },
            Transport::Udp(u) => UDP_HEADER_LEN + u.payload.len(),
        }
    }
}

/// One IP packet: both addresses of one family, a TTL (hop limit) and a
/// transport segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Source address (spoofed or not: nothing here checks it).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ident: u16,
    /// The segment.
    pub transport: Transport,
}

/// Why bytes are not a packet this module reads, or a value cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// Source and destination are of different families.
    MixedFamilies,
    /// The packet would be longer than [`MAX_DATAGRAM`], or the buffer is too short.
    Length {
        /// Bytes needed.
        need: usize,
        /// Bytes available (or allowed).
        have: usize,
    },
    /// Not IP version 4 or 6.
    Version(u8),
    /// IPv4 options, IPv6 extension headers and fragments are not read.
    Unsupported(&'static str),
    /// Neither TCP nor UDP.
    Protocol(u8),
    /// A checksum does not verify.
    Checksum(&'static str),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::MixedFamilies => f.write_str("source and destination families differ"),
            PacketError::Length { need, have } => {
                write!(f, "length: {need} bytes needed, {have} available")
            }
            PacketError::Version(v) => write!(f, "IP version {v}, not 4 or 6"),
            PacketError::Unsupported(what) => write!(f, "{what} not supported"),
            PacketError::Protocol(p) => write!(f, "protocol {p}, not TCP (6) or UDP (17)"),
            PacketError::Checksum(what) => write!(f, "bad {what} checksum"),
        }
    }
}

impl std::error::Error for PacketError {}

impl Datagram {
    /// Length of the emitted packet, IP header included.
    pub fn buffer_len(&self) -> usize {
        let ip = if self.src.is_ipv4() {
            IPV4_HEADER_LEN
        } else {
            IPV6_HEADER_LEN
        };
        ip + self.transport.len()
    }

    /// Write the packet into the start of `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, PacketError> {
        let len = self.buffer_len();
        if len > MAX_DATAGRAM {
            return Err(PacketError::Length {
                need: len,
                have: MAX_DATAGRAM,
            });
        }
        if buf.len() < len {
            return Err(PacketError::Length {
                need: len,
                have: buf.len(),
            });
        }
        let buf = &mut buf[..len];
        let l4_len = self.transport.len();
        let proto = self.transport.protocol();
        let ip_len = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let h = &mut buf[..IPV4_HEADER_LEN];
                h[0] = 0x45;
                h[1] = 0;
                h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                h[4..6].copy_from_slice(&self.ident.to_be_bytes());
                h[6..8].copy_from_slice(&IP_DF.to_be_bytes());
                h[8] = self.ttl;
                h[9] = proto;
                h[10..12].fill(0);
                h[12..16].copy_from_slice(&s.octets());
                h[16..20].copy_from_slice(&d.octets());
                let c = checksum(0, h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                IPV4_HEADER_LEN
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let h = &mut buf[..IPV6_HEADER_LEN];
                h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
                h[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                h[6] = proto;
                h[7] = self.ttl;
                h[8..24].copy_from_slice(&s.octets());
                h[24..40].copy_from_slice(&d.octets());
                IPV6_HEADER_LEN
            }
            _ => return Err(PacketError::MixedFamilies),
        };
        let l4 = &mut buf[ip_len..];
        match &self.transport {
            Transport::Tcp(t) => {
                l4[0..2].copy_from_slice(&t.sport.to_be_bytes());
                l4[2..4].copy_from_slice(&t.dport.to_be_bytes());
                l4[4..8].copy_from_slice(&t.seq.to_be_bytes());
                l4[8..12].copy_from_slice(&t.ack.to_be_bytes());
                l4[12] = ((l4_len / 4) as u8) << 4;
                l4[13] = t.flags;
                l4[14..16].copy_from_slice(&t.window.to_be_bytes());
                l4[16..20].fill(0);
                if let Some(mss) = t.mss {
                    l4[20] = TCPOPT_MSS;
                    l4[21] = 4;
                    l4[22..24].copy_from_slice(&mss.to_be_bytes());
                }
                let c = checksum(pseudo_sum(self.src, self.dst, proto, l4_len), l4);
                l4[16..18].copy_from_slice(&c.to_be_bytes());
            }
            Transport::Udp(u) => {
                l4[0..2].copy_from_slice(&u.sport.to_be_bytes());
                l4[2..4].copy_from_slice(&u.dport.to_be_bytes());
                l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                l4[6..8].fill(0);
                l4[8..].copy_from_slice(&u.payload);
                let c = match checksum(pseudo_sum(self.src, self.dst, proto, l4_len), l4) {
                    0 => 0xffff,
                    c => c,
                };
                l4[6..8].copy_from_slice(&c.to_be_bytes());
            }
        }
        Ok(len)
    }

    /// Read a packet (IP header first), checking lengths and every checksum.
    pub fn parse(buf: &[u8]) -> Result<Datagram, PacketError> {
        let short = |need: usize| PacketError::Length {
            need,
            have: buf.len(),
        };
        let version = buf.first().ok_or(short(1))? >> 4;
        let (src, dst, ttl, ident, proto, l4) = match version {
            4 => {
                let h = buf.get(..IPV4_HEADER_LEN).ok_or(short(IPV4_HEADER_LEN))?;
                if h[0] & 0x0f != 5 {
                    return Err(PacketError::Unsupported("IPv4 options"));
                }
                let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
                if total < IPV4_HEADER_LEN {
                    return Err(PacketError::Length {
                        need: IPV4_HEADER_LEN,
                        have: total,
                    });
                }
                let pkt = buf.get(..total).ok_or(short(total))?;
                if u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
                    return Err(PacketError::Unsupported("IPv4 fragments"));
                }
                if checksum(0, h) != 0 {
                    return Err(PacketError::Checksum("IPv4 header"));
                }
                let s: [u8; 4] = h[12..16].try_into().expect("4 bytes");
                let d: [u8; 4] = h[16..20].try_into().expect("4 bytes");
                (
                    IpAddr::V4(Ipv4Addr::from(s)),
                    IpAddr::V4(Ipv4Addr::from(d)),
                    h[8],
                    u16::from_be_bytes([h[4], h[5]]),
                    h[9],
                    &pkt[IPV4_HEADER_LEN..],
                )
            }
            6 => {
                let h = buf.get(..IPV6_HEADER_LEN).ok_or(short(IPV6_HEADER_LEN))?;
                let total = IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([h[4], h[5]]));
                let pkt = buf.get(..total).ok_or(short(total))?;
                let s: [u8; 16] = h[8..24].try_into().expect("16 bytes");
                let d: [u8; 16] = h[24..40].try_into().expect("16 bytes");
                (
                    IpAddr::V6(Ipv6Addr::from(s)),
                    IpAddr::V6(Ipv6Addr::from(d)),
                    h[7],
                    0,
                    h[6],
                    &pkt[IPV6_HEADER_LEN..],
                )
            }
            v => return Err(PacketError::Version(v)),
        };
        let l4_short = |need: usize| PacketError::Length {
            need,
            have: l4.len(),
        };
        let transport = match proto {
            IPPROTO_TCP => {
                let h = l4.get(..TCP_HEADER_LEN).ok_or(l4_short(TCP_HEADER_LEN))?;
                let off = usize::from(h[12] >> 4) * 4;
                if off < TCP_HEADER_LEN || off > l4.len() {
                    return Err(l4_short(off.max(TCP_HEADER_LEN)));
                }
                if checksum(pseudo_sum(src, dst, proto, l4.len()), l4) != 0 {
                    return Err(PacketError::Checksum("TCP"));
                }
                Transport::Tcp(TcpRepr {
                    sport: u16::from_be_bytes([h[0], h[1]]),
                    dport: u16::from_be_bytes([h[2], h[3]]),
                    seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
                    flags: h[13],
                    window: u16::from_be_bytes([h[14], h[15]]),
                    mss: tcp_mss(&l4[TCP_HEADER_LEN..off]),
                })
            }
            IPPROTO_UDP => {
                let h = l4.get(..UDP_HEADER_LEN).ok_or(l4_short(UDP_HEADER_LEN))?;
                let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
                let seg = l4.get(..len).ok_or(l4_short(len))?;
                if len < UDP_HEADER_LEN {
                    return Err(l4_short(UDP_HEADER_LEN));
                }
                let sum = u16::from_be_bytes([h[6], h[7]]);
                let unchecked = sum == 0 && src.is_ipv4();
                if !unchecked && checksum(pseudo_sum(src, dst, proto, len), seg) != 0 {
                    return Err(PacketError::Checksum("UDP"));
                }
                Transport::Udp(UdpRepr {
                    sport: u16::from_be_bytes([h[0], h[1]]),
                    dport: u16::from_be_bytes([h[2], h[3]]),
                    payload: seg[UDP_HEADER_LEN..].to_vec(),
                })
            }
            p if version == 6 && matches!(p, 0 | 43 | 44 | 60) => {
                return Err(PacketError::Unsupported("IPv6 extension headers"))
            }
            p => return Err(PacketError::Protocol(p)),
        };
        Ok(Datagram {
            src,
            dst,
            ttl,
            ident,
            transport,
        })
    }
}

/// The MSS option among TCP options, if present and well formed.
fn tcp_mss(mut opts: &[u8]) -> Option<u16> {
    while let Some(&kind) = opts.first() {
        match kind {
            TCPOPT_EOL => return None,
            TCPOPT_NOP => opts = &opts[1..],
            _ => {
                let len = usize::from(*opts.get(1)?);
                if len < 2 || len > opts.len() {
                    return None;
                }
                if kind == TCPOPT_MSS && len == 4 {
                    return Some(u16::from_be_bytes([opts[2], opts[3]]));
                }
                opts = &opts[len..];
            }
        }
    }
    None
}

/// The one's-complement sum of the pseudo-header, not yet folded.
fn pseudo_sum(src: IpAddr, dst: IpAddr, proto: u8, l4_len: usize) -> u32 {
    let mut sum = 0u32;
    let mut add = |bytes: &[u8]| {
        for c in bytes.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            add(&s.octets());
            add(&d.octets());
            add(&[0, proto]);
            add(&(l4_len as u16).to_be_bytes());
        }
        (s, d) => {
            let bytes = |ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6.octets(),
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            };
            add(&bytes(s));
            add(&bytes(d));
            add(&(l4_len as u32).to_be_bytes());
            add(&[0, 0, 0, proto]);
        }
    }
    sum
}

/// The Internet checksum (RFC 1071) of `data`, starting from `initial`
/// (a pseudo-header sum). Over bytes that include a correct checksum it is 0.
pub fn checksum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = u64::from(initial);
    for c in data.chunks(2) {
        sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syn4() -> Datagram {
        Datagram {
            src: "192.0.2.1".parse().unwrap(),
            dst: "203.0.113.10".parse().unwrap(),
            ttl: 64,
            ident: 0x1234,
            transport: Transport::Tcp(TcpRepr {
                sport: 40000,
                dport: 80,
                seq: 0x0102_0304,
                ack: 0,
                flags: tcp_flags::SYN,
                window: 64240,
                mss: Some(1460),
            }),
        }
    }

    /// A SYN, one field per line. The checksums come from an independent
    /// implementation (Python's `struct` and RFC 1071's fold, over the same
    /// fields); Linux accepts such packets (the netns test
    /// `lab_flood::flood_syn_arrives_from_spoofed_sources` sees no InCsumErrors).
    const SYN4_BYTES: &[u8] = &[
        0x45, 0x00, // version 4, IHL 5, TOS 0
        0x00, 0x2c, // total length 44
        0x12, 0x34, // identification
        0x40, 0x00, // DF, offset 0
        0x40, 0x06, // TTL 64, TCP
        0x2a, 0x8c, // header checksum
        192, 0, 2, 1, // source
        203, 0, 113, 10, // destination
        0x9c, 0x40, // source port 40000
        0x00, 0x50, // destination port 80
        0x01, 0x02, 0x03, 0x04, // sequence
        0x00, 0x00, 0x00, 0x00, // acknowledgement
        0x60, 0x02, // data offset 6 words, SYN
        0xfa, 0xf0, // window 64240
        0xfe, 0x92, // checksum
        0x00, 0x00, // urgent pointer
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
    ];

    #[test]
    fn syn_v4_emits_the_bytes_and_parses_back() {
        let mut buf = [0xa5u8; 64]; // junk: emit must overwrite every byte it uses
        let n = syn4().emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], SYN4_BYTES, "{:02x?}", &buf[..n]);
        assert_eq!(Datagram::parse(SYN4_BYTES).unwrap(), syn4());
        // Trailing bytes (Ethernet padding) are ignored.
        assert_eq!(Datagram::parse(&buf).unwrap(), syn4());
    }

    #[test]
    fn checksums_verify_to_zero() {
        let mut buf = [0u8; 64];
        let n = syn4().emit(&mut buf).unwrap();
        assert_eq!(checksum(0, &buf[..20]), 0);
        let src = "192.0.2.1".parse().unwrap();
        let dst = "203.0.113.10".parse().unwrap();
        assert_eq!(checksum(pseudo_sum(src, dst, 6, n - 20), &buf[20..n]), 0);
    }

    #[test]
    fn udp_v6_round_trip_and_zero_checksum_rule() {
        for payload in [b"rampart-flood".to_vec(), vec![], vec![0xff; 1000]] {
            let d = Datagram {
                src: "2001:db8::1".parse().unwrap(),
                dst: "2001:db8:0:113::10".parse().unwrap(),
                ttl: 64,
                ident: 0,
                transport: Transport::Udp(UdpRepr {
                    sport: 53000,
                    dport: 53,
                    payload,
                }),
            };
            let mut buf = vec![0x5au8; d.buffer_len() + 7];
            let n = d.emit(&mut buf).unwrap();
            assert_eq!(n, d.buffer_len());
            assert_eq!(buf[0] >> 4, 6);
            assert_ne!(u16::from_be_bytes([buf[46], buf[47]]), 0);
            assert_eq!(Datagram::parse(&buf[..n]).unwrap(), d);
        }
    }

    #[test]
    fn tcp_v6_and_udp_v4_round_trip() {
        let tcp6 = Datagram {
            src: "2001:db8:2::31".parse().unwrap(),
            dst: "2001:db8:113::10".parse().unwrap(),
            ttl: 1,
            ident: 0,
            transport: Transport::Tcp(TcpRepr {
                sport: 1,
                dport: 65535,
                seq: u32::MAX,
                ack: 7,
                flags: tcp_flags::SYN | tcp_flags::FIN,
                window: 0,
                mss: None,
            }),
        };
        let udp4 = Datagram {
            src: "198.51.100.7".parse().unwrap(),
            dst: "203.0.113.10".parse().unwrap(),
            ttl: 255,
            ident: 9,
            transport: Transport::Udp(UdpRepr {
                sport: 9,
                dport: 9,
                payload: b"x".to_vec(),
            }),
        };
        for d in [tcp6, udp4] {
            let mut buf = [0xeeu8; 128];
            let n = d.emit(&mut buf).unwrap();
            assert_eq!(Datagram::parse(&buf[..n]).unwrap(), d);
        }
    }

    #[test]
    fn corrupt_and_short_packets_are_refused() {
        let mut bad = SYN4_BYTES.to_vec();
        bad[30] ^= 1; // a TCP byte
        assert_eq!(
            Datagram::parse(&bad).unwrap_err(),
            PacketError::Checksum("TCP")
        );
        let mut bad = SYN4_BYTES.to_vec();
        bad[8] = 1; // TTL, covered by the header checksum
        assert_eq!(
            Datagram::parse(&bad).unwrap_err(),
            PacketError::Checksum("IPv4 header")
        );
        assert!(matches!(
            Datagram::parse(&SYN4_BYTES[..30]).unwrap_err(),
            PacketError::Length { need: 44, have: 30 }
        ));
        assert_eq!(
            Datagram::parse(&[0x20; 40]).unwrap_err(),
            PacketError::Version(2)
        );
        assert_eq!(
            Datagram::parse(&[]).unwrap_err().to_string(),
            "length: 1 bytes needed, 0 available"
        );
        let mixed = Datagram {
            dst: "2001:db8::1".parse().unwrap(),
            ..syn4()
        };
        assert_eq!(
            mixed.emit(&mut [0; 64]).unwrap_err(),
            PacketError::MixedFamilies
        );
        assert!(matches!(
            syn4().emit(&mut [0; 10]).unwrap_err(),
            PacketError::Length { need: 44, have: 10 }
        ));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
            prop_oneof![
                (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (
                    IpAddr::V4(Ipv4Addr::from(a)),
                    IpAddr::V4(Ipv4Addr::from(b))
                )),
                (any::<u128>(), any::<u128>()).prop_map(|(a, b)| (
                    IpAddr::V6(Ipv6Addr::from(a)),
                    IpAddr::V6(Ipv6Addr::from(b))
                )),
            ]
        }

        fn transport() -> impl Strategy<Value = Transport> {
            prop_oneof![
                (
                    any::<u16>(),
                    any::<u16>(),
                    any::<u32>(),
                    any::<u32>(),
                    any::<u8>(),
                    any::<u16>(),
                    proptest::option::of(any::<u16>())
                )
                    .prop_map(|(sport, dport, seq, ack, flags, window, mss)| {
                        Transport::Tcp(TcpRepr {
                            sport,
                            dport,
                            seq,
                            ack,
                            flags,
                            window,
                            mss,
                        })
                    }),
                (
                    any::<u16>(),
                    any::<u16>(),
                    proptest::collection::vec(any::<u8>(), 0..1400)
                )
                    .prop_map(|(sport, dport, payload)| Transport::Udp(UdpRepr {
                        sport,
                        dport,
                        payload
                    })),
            ]
        }

        proptest! {
            /// Any value emits into a junk-filled buffer and parses back equal.
            #[test]
            fn emit_then_parse_is_identity(
                (src, dst) in addrs(),
                ttl in any::<u8>(),
                ident in any::<u16>(),
                transport in transport(),
                junk in any::<u8>(),
            ) {
                let d = Datagram {
                    src,
                    dst,
                    ttl,
                    ident: if src.is_ipv4() { ident } else { 0 },
                    transport,
                };
                let mut buf = vec![junk; MAX_DATAGRAM];
                let n = d.emit(&mut buf).unwrap();
                prop_assert_eq!(Datagram::parse(&buf[..n]).unwrap(), d);
            }

            /// A valid packet with one byte changed, or cut short: an error
            /// or a packet, never a panic.
            #[test]
            fn damaged_packets_never_panic(
                (src, dst) in addrs(),
                transport in transport(),
                at in any::<usize>(),
                xor in 1..=255u8,
                cut in any::<usize>(),
            ) {
                let d = Datagram { src, dst, ttl: 64, ident: 0, transport };
                let mut buf = vec![0u8; MAX_DATAGRAM];
                let n = d.emit(&mut buf).unwrap();
                buf[at % n] ^= xor;
                let _ = Datagram::parse(&buf[..n]);
                let _ = Datagram::parse(&buf[..cut % (n + 1)]);
            }

            /// Arbitrary bytes: an error or a packet, never a panic.
            #[test]
            fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = Datagram::parse(&bytes);
            }
        }
    }
}
