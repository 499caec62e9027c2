//! [`NflogListener`]: the packets a ruleset logs to an NFLOG group
//! (`log prefix "…" group N`), with their prefix and decoded headers.
//!
//! ```text
//! bind(group) ──▶ NFULNL_MSG_CONFIG { CMD_BIND } (res_id = group), ACK
//!             ──▶ NFULNL_MSG_CONFIG { MODE: copy 256 bytes, QTHRESH 32, TIMEOUT 10 }, ACK
//! recv(timeout) ◀── NFULNL_MSG_PACKET × n ──decode──▶ Vec<NflogPacket>
//!                     (prefix, hook, in/out interface, IPv4/IPv6 header, ports)
//! ```
//!
//! This is how the kernel tells user space about the bans its own rules make (`[flood]`
//! limits compile to `add @flood_NAME_4 { ip saddr } log prefix "rampart-ban NAME"
//! group 5 drop`, rampart-policy's `BAN_LOG_PREFIX` and `DEFAULT_LOG_GROUP`): the packet
//! that crossed the line arrives here with its prefix and source address.
//!
//! Decisions:
//! - **Copy 256 bytes of each packet**: enough for an IPv6 header, a few extension
//!   headers and the ports, and small enough that a flood costs little to copy.
//! - **Latency at most 100 ms**: the kernel gathers up to 32 packets or 0.1 s (the
//!   defaults, 100 packets or 1 s, would hold a lone ban's packet for a second).
//! - **Names from the socket's namespace**: interface indexes become names through an
//!   `RTM_GETLINK` on a route socket opened beside the NFLOG socket, so the names are
//!   those of the namespace the group was bound in, whichever thread asks later.
//! - **Overflow is counted, not fatal**: under a flood the socket's buffer can fill; the
//!   kernel drops packets and reports ENOBUFS, which [`NflogListener::lost`] counts.
//! - Packets whose payload is not an IPv4 or IPv6 header (an `arp` or `bridge` table's
//!   log, or a truncated copy) are counted in [`NflogListener::undecoded`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use netlink_sys::protocols::{NETLINK_NETFILTER, NETLINK_ROUTE};
use nix::errno::Errno;

use crate::conn::{Conn, ObserveError};
use crate::wire::{
    align, Body, Emitable, Message, MessageIter, NetlinkHeader, NfGenMsg, NflogAttr,
    NflogConfigAttr, NlaIter, NlmsgBuffer, NFULNL_CFG_CMD_BIND, NFULNL_COPY_PACKET, NLMSG_HDRLEN,
    NLM_F_ACK, NLM_F_REQUEST,
};

/// Bytes of each packet the kernel copies.
const COPY_RANGE: u32 = 256;
/// Packets the kernel gathers into one datagram at most.
const QTHRESH: u32 = 32;
/// Hundredths of a second the kernel may hold a packet before sending.
const FLUSH_TIMEOUT: u32 = 10;
/// Receive buffer: a flood's burst between two polls.
const RCVBUF: usize = 8 << 20;
/// IPv6 extension headers walked before giving up on finding the ports.
const MAX_EXT_HEADERS: usize = 8;

/// One logged packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NflogPacket {
    /// The group it was logged to.
    pub group: u16,
    /// The rule's `log prefix` ("" when it had none).
    pub prefix: String,
    /// The packet's family: `NFPROTO_IPV4` (2) or `NFPROTO_IPV6` (10).
    pub family: u8,
    /// The netfilter hook: 0 prerouting (also netdev ingress), 1 input, 2 forward,
    /// 3 output, 4 postrouting.
    pub hook: u8,
    /// The interface it came in on.
    pub indev: Option<Interface>,
    /// The interface it was going out of.
    pub outdev: Option<Interface>,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The transport protocol (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …).
    pub protocol: u8,
    /// Source port (TCP, UDP, SCTP, DCCP, UDP-Lite; not for a later fragment).
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// The packet mark.
    pub mark: Option<u32>,
    /// The local socket's owner (output packets).
    pub uid: Option<u32>,
}

impl NflogPacket {
    /// The hook's name as nft writes it.
    pub fn hook_name(&self) -> &'static str {
        match self.hook {
            0 => "prerouting",
            1 => "input",
            2 => "forward",
            3 => "output",
            4 => "postrouting",
            _ => "unknown",
        }
    }
}

/// A network interface, by index and (when it still exists) name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// `ifindex`.
    pub index: u32,
    /// The name in the listener's namespace, if it could be resolved.
    pub name: Option<String>,
}

/// A socket bound to one NFLOG group.
///
/// ```no_run
/// use std::time::Duration;
/// use rampart_nfnl::NflogListener;
/// let mut bans = NflogListener::bind(5)?;
/// loop {
///     for p in bans.recv(Duration::from_millis(200))? {
///         if let Some(limit) = p.prefix.strip_prefix("rampart-ban ") {
///             println!("kernel banned {} (flood limit {limit})", p.src);
///         }
///     }
/// #   break;
/// }
/// # Ok::<(), rampart_nfnl::ObserveError>(())
/// ```
pub struct NflogListener {
    conn: Conn,
    route: Conn,
    group: u16,
    names: HashMap<u32, Option<String>>,
    lost: u64,
    undecoded: u64,
}

impl std::fmt::Debug for NflogListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NflogListener")
            .field("group", &self.group)
            .field("lost", &self.lost)
            .field("undecoded", &self.undecoded)
            .finish_non_exhaustive()
    }
}

impl NflogListener {
    /// Binds `group` in the calling thread's network namespace (needs CAP_NET_ADMIN).
    /// Fails with EPERM when another socket (ulogd, another listener) holds the group.
    /// The group is released when the listener is dropped.
    pub fn bind(group: u16) -> Result<NflogListener, ObserveError> {
        let mut conn = Conn::open(NETLINK_NETFILTER, "netfilter")?;
        conn.grow_rcvbuf(RCVBUF);
        let route = Conn::open(NETLINK_ROUTE, "route")?;
        let what = format!("binding NFLOG group {group}");
        let nfgen = NfGenMsg {
            res_id: group,
            ..NfGenMsg::new(0)
        };
        for attrs in [
            vec![NflogConfigAttr::Cmd(NFULNL_CFG_CMD_BIND)],
            vec![
                NflogConfigAttr::Mode {
                    copy_range: COPY_RANGE,
                    copy_mode: NFULNL_COPY_PACKET,
                },
                NflogConfigAttr::QThresh(QTHRESH),
                NflogConfigAttr::Timeout(FLUSH_TIMEOUT),
            ],
        ] {
            let seq = conn.next_seq();
            let msg = Message::new(
                NLM_F_REQUEST | NLM_F_ACK,
                seq,
                Body::NflogConfig { nfgen, attrs },
            );
            let mut buf = vec![0; msg.buffer_len()];
            msg.emit(&mut buf);
            conn.request_ack(&buf, seq, &what)?;
        }
        Ok(NflogListener {
            conn,
            route,
            group,
            names: HashMap::new(),
            lost: 0,
            undecoded: 0,
        })
    }

    /// The group this listener is bound to.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// Waits up to `timeout` for logged packets, then returns every packet already
    /// queued (none when the time passed without any). `Duration::ZERO` only drains.
    pub fn recv(&mut self, timeout: Duration) -> Result<Vec<NflogPacket>, ObserveError> {
        let mut out = Vec::new();
        if !self.conn.wait(timeout)? {
            return Ok(out);
        }
        loop {
            let mut raw = Vec::new();
            match self.conn.recv(true) {
                Ok(Some(datagram)) => {
                    for m in MessageIter::new(datagram) {
                        if let Body::NflogPacket { nfgen, attrs } = m?.body {
                            raw.push((nfgen, attrs));
                        }
                    }
                }
                Ok(None) => return Ok(out),
                Err(e) if e.raw_os_error() == Some(Errno::ENOBUFS as i32) => {
                    self.lost += 1;
                    continue;
                }
                Err(source) => {
                    return Err(ObserveError::Io {
                        what: "receive",
                        source,
                    })
                }
            }
            for (nfgen, attrs) in raw {
                match self.packet(nfgen, attrs) {
                    Some(p) => out.push(p),
                    None => self.undecoded += 1,
                }
            }
        }
    }

    /// How many times the kernel reported dropped packets (ENOBUFS) since binding.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Packets received whose payload was not an IPv4 or IPv6 header.
    pub fn undecoded(&self) -> u64 {
        self.undecoded
    }

    fn packet(&mut self, nfgen: NfGenMsg, attrs: Vec<NflogAttr>) -> Option<NflogPacket> {
        let (mut prefix, mut hook, mut payload) = (String::new(), 0, None);
        let (mut indev, mut outdev, mut mark, mut uid) = (None, None, None, None);
        for a in attrs {
            match a {
                NflogAttr::Prefix(p) => prefix = p,
                NflogAttr::PacketHdr { hook: h, .. } => hook = h,
                NflogAttr::Payload(p) => payload = Some(p),
                NflogAttr::InDev(i) => indev = Some(i),
                NflogAttr::OutDev(i) => outdev = Some(i),
                NflogAttr::Mark(m) => mark = Some(m),
                NflogAttr::Uid(u) => uid = Some(u),
                _ => {}
            }
        }
        let l3 = decode_l3(&payload?)?;
        Some(NflogPacket {
            group: nfgen.res_id,
            prefix,
            family: nfgen.family,
            hook,
            indev: indev.map(|i| self.interface(i)),
            outdev: outdev.map(|i| self.interface(i)),
            src: l3.src,
            dst: l3.dst,
            protocol: l3.protocol,
            src_port: l3.ports.map(|p| p.0),
            dst_port: l3.ports.map(|p| p.1),
            mark,
            uid,
        })
    }

    fn interface(&mut self, index: u32) -> Interface {
        let name = match self.names.get(&index) {
            Some(Some(name)) => Some(name.clone()),
            _ => {
                let name = link_name(&mut self.route, index);
                self.names.insert(index, name.clone());
                name
            }
        };
        Interface { index, name }
    }
}

impl AsFd for NflogListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }
}

/// `RTM_GETLINK` / `RTM_NEWLINK` and `IFLA_IFNAME` (`include/uapi/linux/rtnetlink.h`,
/// `if_link.h`).
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
/// Size of `struct ifinfomsg` { family, pad, type u16, index i32, flags u32, change u32 }.
const IFINFOMSG_LEN: usize = 16;

/// The interface's name in the route socket's namespace, by one `RTM_GETLINK`.
fn link_name(route: &mut Conn, index: u32) -> Option<String> {
    let seq = route.next_seq();
    let header = NetlinkHeader {
        length: (NLMSG_HDRLEN + IFINFOMSG_LEN) as u32,
        kind: RTM_GETLINK,
        flags: NLM_F_REQUEST,
        seq,
        pid: 0,
    };
    let mut buf = vec![0u8; header.length as usize];
    header.emit(&mut buf);
    buf[NLMSG_HDRLEN + 4..NLMSG_HDRLEN + 8].copy_from_slice(&(index as i32).to_ne_bytes());
    route.send(&buf).ok()?;
    if !route.wait(Duration::from_secs(1)).ok()? {
        return None;
    }
    let datagram = route.recv(true).ok()??;
    let view = NlmsgBuffer::new_checked(datagram).ok()?;
    if view.kind() != RTM_NEWLINK || view.seq() != seq {
        return None;
    }
    let attrs = view.payload().get(align(IFINFOMSG_LEN)..)?;
    NlaIter::new(attrs).filter_map(Result::ok).find_map(|nla| {
        (nla.kind() == IFLA_IFNAME)
            .then(|| nla.value().split(|b| *b == 0).next())
            .flatten()
            .and_then(|n| String::from_utf8(n.to_vec()).ok())
    })
}

/// What the network header of a logged packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L3 {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub ports: Option<(u16, u16)>,
}

/// Protocols whose first four bytes are the source and destination ports.
fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
}

fn ports(l4: &[u8], protocol: u8) -> Option<(u16, u16)> {
    (has_ports(protocol) && l4.len() >= 4).then(|| {
        (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    })
}

/// Reads an IPv4 or IPv6 header (and the ports after it) from a copied packet. Bounded:
/// at most [`MAX_EXT_HEADERS`] IPv6 extension headers are walked.
pub(crate) fn decode_l3(p: &[u8]) -> Option<L3> {
    match p.first()? >> 4 {
        4 => {
            if p.len() < 20 {
                return None;
            }
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let protocol = p[9];
            let frag_offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
            let l4 = p.get(ihl..).filter(|_| ihl >= 20 && frag_offset == 0);
            Some(L3 {
                src: IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
                dst: IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
                protocol,
                ports: l4.and_then(|l4| ports(l4, protocol)),
            })
        }
        6 => {
            if p.len() < 40 {
                return None;
            }
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).ok()?);
            let (mut next, mut at, mut first_fragment) = (p[6], 40usize, true);
            for _ in 0..MAX_EXT_HEADERS {
                let h = p.get(at..at + 2);
                match (next, h) {
                    // Hop-by-hop, routing, destination options: (len + 1) * 8 bytes.
                    (0 | 43 | 60, Some(h)) => {
                        next = h[0];
                        at += (usize::from(h[1]) + 1) * 8;
                    }
                    // Fragment: 8 bytes; only the first fragment carries the ports.
                    (44, Some(h)) => {
                        next = h[0];
                        let off = p.get(at + 2..at + 4)?;
                        first_fragment = u16::from_be_bytes([off[0], off[1]]) >> 3 == 0;
                        at += 8;
                    }
                    // Authentication header: (len + 2) * 4 bytes.
                    (51, Some(h)) => {
                        next = h[0];
                        at += (usize::from(h[1]) + 2) * 4;
                    }
                    _ => break,
                }
            }
            let l4 = p.get(at..).filter(|_| first_fragment);
            Some(L3 {
                src: IpAddr::V6(src),
                dst: IpAddr::V6(dst),
                protocol: next,
                ports: l4.and_then(|l4| ports(l4, next)),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_ipv4_udp() {
        let mut p = vec![
            0x45, 0x00, 0x00, 0x1c, // version 4, ihl 5, tos, total length 28
            0x00, 0x01, 0x00, 0x00, // id 1, no fragment
            0x40, 0x11, 0x00, 0x00, // ttl 64, protocol 17 (UDP), checksum
            192, 0, 2, 2, // source
            192, 0, 2, 1, // destination
            0x30, 0x39, 0x00, 0x35, // ports 12345 -> 53
            0x00, 0x08, 0x00, 0x00, // length, checksum
        ];
        let l3 = decode_l3(&p).unwrap();
        assert_eq!(l3.src, "192.0.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(l3.dst, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!((l3.protocol, l3.ports), (17, Some((12345, 53))));
        // A later fragment has no ports.
        p[6] = 0x00;
        p[7] = 0x10;
        assert_eq!(decode_l3(&p).unwrap().ports, None);
        // Truncated headers and other versions are not decoded.
        assert_eq!(decode_l3(&p[..19]), None);
        assert_eq!(decode_l3(&[0x00; 40]), None);
    }

    #[test]
    fn decodes_ipv6_tcp_after_extension_headers() {
        let mut p = vec![
            0x60, 0x00, 0x00, 0x00, // version 6
            0x00, 0x1c, 0x00, 0x40, // payload length 28, next header 0 (hop-by-hop), hops
        ];
        p.extend("2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend([60, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop: next 60 (dest opts), len 0
        p.extend([6, 0, 1, 4, 0, 0, 0, 0]); // destination options: next 6 (TCP), len 0
        p.extend([0x04, 0xd2, 0x00, 0x16]); // ports 1234 -> 22
        let l3 = decode_l3(&p).unwrap();
        assert_eq!(l3.src, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert_eq!((l3.protocol, l3.ports), (6, Some((1234, 22))));
        // An extension-header loop (a hostile packet) stops after MAX_EXT_HEADERS.
        let mut looped = p[..40].to_vec();
        looped[6] = 60;
        for _ in 0..20 {
            looped.extend([60, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(decode_l3(&looped).unwrap().ports, None);
    }
}
