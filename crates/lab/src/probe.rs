//! Probes: one packet or connection sent from one namespace, a listener in
//! the namespace owning the destination, and the fate the two observe.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    bind, recvfrom, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrIn, SockaddrIn6, SockaddrStorage,
};

use crate::cmd::invalid;

/// Transport of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP connect to `dst:port`.
    Tcp,
    /// One UDP datagram to `dst:port`.
    Udp,
    /// ICMP (v4) or ICMPv6 echo request to `dst`, by the family of `dst`.
    Icmp,
    /// One TCP segment with these flag bits ([`crate::packet::tcp_flags`]) to `dst:port`,
    /// no handshake: what conntrack sees as a first packet that is not a SYN. Sent from
    /// a raw socket, so `src` need not belong to the sender (martian sources). Delivered
    /// when a raw TCP socket in the destination's namespace sees it (past INPUT);
    /// rejected when a RST or an ICMP error for it comes back.
    Segment(u8),
    /// One UDP datagram to `dst:port` from a raw socket: `src` may be any address (a
    /// multicast, broadcast, 0.0.0.0/8 or loopback source: what routing drops as a
    /// martian). Delivered when the listener gets it; rejected on an ICMP error.
    RawUdp,
    /// [`Proto::RawUdp`] over IPv6 behind one extension header of this type: 0
    /// hop-by-hop or 60 destination options (padding only), 43 a routing header of type
    /// 0 with no segments left (which the receiver skips). How a packet carrying that
    /// header fares: delivered when the listener gets it.
    RawUdpExt(u8),
}

impl Proto {
    /// Whether the probe is sent from a raw socket with a source of its own choosing.
    pub fn is_raw(self) -> bool {
        matches!(
            self,
            Proto::Segment(_) | Proto::RawUdp | Proto::RawUdpExt(_)
        )
    }
}

/// One packet (or connection) to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Transport.
    pub proto: Proto,
    /// Source address the sender binds to (must be configured in the sending namespace).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port (ignored for ICMP).
    pub port: u16,
}

/// What happened to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// The listener got it and saw this source address.
    Delivered {
        /// Source address as seen by the receiver (differs from the probe's when NATed).
        seen_src: IpAddr,
    },
    /// The sender got a RST or an ICMP error.
    Rejected,
    /// Nothing came back before the timeout.
    Dropped,
}

/// What the sending side observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Handshake completed / reply received.
    Answered,
    /// RST or ICMP error.
    Refused,
    /// Timeout.
    Silent,
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

const POLL: Duration = Duration::from_millis(5);

/// Bind the TCP listener for `p`. The previous probe's accepted connection
/// on the same port may still be closing (FIN_WAIT / LAST_ACK); the kernel
/// then refuses an explicit bind of the port for a few milliseconds even
/// with SO_REUSEADDR, so `EADDRINUSE` is retried for up to 500 ms.
fn bind_listener(p: &Probe) -> io::Result<TcpListener> {
    let end = Instant::now() + Duration::from_millis(500);
    loop {
        match TcpListener::bind((unspecified(p.dst), p.port)) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < end => {
                thread::sleep(POLL);
            }
            r => return r,
        }
    }
}

/// Listen for the probe until it arrives, `stop` is set, or `deadline` passes.
pub(crate) fn listen(
    p: &Probe,
    echo_id: u16,
    deadline: Duration,
    stop: &AtomicBool,
    ready: mpsc::Sender<()>,
) -> io::Result<Option<IpAddr>> {
    let end = Instant::now() + deadline;
    let give_up = || stop.load(Ordering::SeqCst) || Instant::now() >= end;
    match p.proto {
        Proto::Tcp => {
            let l = bind_listener(p)?;
            l.set_nonblocking(true)?;
            let _ = ready.send(());
            loop {
                match l.accept() {
                    Ok((_conn, peer)) => return Ok(Some(canonical(peer.ip()))),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if give_up() {
                    return Ok(None);
                }
                thread::sleep(POLL);
            }
        }
        Proto::Segment(flags) => {
            let v6 = p.dst.is_ipv6();
            let fd = raw_socket(v6, SockProtocol::Tcp)?;
            let _ = ready.send(());
            let mut buf = [0u8; 2048];
            loop {
                match recvfrom::<SockaddrStorage>(fd.as_raw_fd_i32(), &mut buf) {
                    Ok((n, from)) => {
                        if let Some(src) =
                            segment_source(&buf[..n], from, v6, raw_sport(echo_id), p.port, flags)
                        {
                            return Ok(Some(src));
                        }
                        continue;
                    }
                    Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
                if give_up() {
                    return Ok(None);
                }
                thread::sleep(POLL);
            }
        }
        Proto::Udp | Proto::RawUdp | Proto::RawUdpExt(_) => {
            let s = UdpSocket::bind((unspecified(p.dst), p.port))?;
            s.set_read_timeout(Some(POLL))?;
            let _ = ready.send(());
            let mut buf = [0u8; 1500];
            loop {
                match s.recv_from(&mut buf) {
                    Ok((_, peer)) => {
                        let _ = s.send_to(b"rampart-reply", peer);
                        return Ok(Some(canonical(peer.ip())));
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(e),
                }
                if give_up() {
                    return Ok(None);
                }
            }
        }
        Proto::Icmp => {
            let v6 = p.dst.is_ipv6();
            let fd = raw_icmp_socket(v6)?;
            let _ = ready.send(());
            let mut buf = [0u8; 2048];
            loop {
                match recvfrom::<SockaddrStorage>(fd.as_raw_fd_i32(), &mut buf) {
                    Ok((n, from)) => {
                        if let Some(src) = echo_request_source(&buf[..n], from, v6, echo_id) {
                            return Ok(Some(src));
                        }
                        continue;
                    }
                    Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
                if give_up() {
                    return Ok(None);
                }
                thread::sleep(POLL);
            }
        }
    }
}

/// Send the probe and watch for an answer.
pub(crate) fn send(p: &Probe, echo_id: u16, timeout: Duration) -> io::Result<Outcome> {
    use socket2::{Domain, Protocol, Socket, Type};
    let dst = SocketAddr::new(p.dst, p.port);
    let src = SocketAddr::new(p.src, 0);
    match p.proto {
        Proto::Tcp => {
            let s = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
            s.bind(&src.into())?;
            keep_icmp_errors(&s, dst.is_ipv6())?;
            match s.connect_timeout(&dst.into(), timeout) {
                Ok(()) => Ok(Outcome::Answered),
                Err(e) => match classify_error(&e) {
                    Outcome::Silent if icmp_error_queued(&s) => Ok(Outcome::Refused),
                    other => Ok(other),
                },
            }
        }
        Proto::Udp => {
            let s = Socket::new(Domain::for_address(dst), Type::DGRAM, Some(Protocol::UDP))?;
            s.bind(&src.into())?;
            s.connect(&dst.into())?;
            let s = UdpSocket::from(s);
            s.set_read_timeout(Some(timeout))?;
            // A send error (EPERM: dropped or rejected by OUTPUT) is not
            // final: a local REJECT still delivers an ICMP error to us.
            let _ = s.send(b"rampart-probe");
            let mut buf = [0u8; 64];
            match s.recv(&mut buf) {
                Ok(_) => Ok(Outcome::Answered),
                Err(e) => Ok(classify_error(&e)),
            }
        }
        Proto::Segment(_) | Proto::RawUdp | Proto::RawUdpExt(_) => send_raw(p, echo_id, timeout),
        Proto::Icmp => {
            let v6 = p.dst.is_ipv6();
            let fd = raw_icmp_socket(v6)?;
            let raw = fd.as_raw_fd_i32();
            let seq = 1u16;
            let mut msg = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
            msg.extend_from_slice(&echo_id.to_be_bytes());
            msg.extend_from_slice(&seq.to_be_bytes());
            msg.extend_from_slice(b"rampart-probe");
            if !v6 {
                let c = checksum(&msg);
                msg[2..4].copy_from_slice(&c.to_be_bytes());
            }
            // Errors (EPERM from an OUTPUT drop/reject) are not final, see UDP.
            match (p.src, p.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    bind(raw, &SockaddrIn::from(std::net::SocketAddrV4::new(s, 0)))?;
                    let to = SockaddrIn::from(std::net::SocketAddrV4::new(d, 0));
                    let _ = sendto(raw, &msg, &to, MsgFlags::empty());
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    bind(
                        raw,
                        &SockaddrIn6::from(std::net::SocketAddrV6::new(s, 0, 0, 0)),
                    )?;
                    let to = SockaddrIn6::from(std::net::SocketAddrV6::new(d, 0, 0, 0));
                    let _ = sendto(raw, &msg, &to, MsgFlags::empty());
                }
                _ => return Err(invalid("ICMP probe mixes address families".into())),
            }
            let end = Instant::now() + timeout;
            let mut buf = [0u8; 2048];
            loop {
                match recvfrom::<SockaddrStorage>(raw, &mut buf) {
                    Ok((n, _)) => {
                        if let Some(o) = echo_answer(&buf[..n], v6, echo_id) {
                            return Ok(o);
                        }
                        continue;
                    }
                    Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
                if Instant::now() >= end {
                    return Ok(Outcome::Silent);
                }
                thread::sleep(POLL);
            }
        }
    }
}

/// Sets `IP_RECVERR` / `IPV6_RECVERR` on a connecting socket. Without it (the default),
/// the kernel's TCP takes an ICMPv6 error that arrives while `connect` still holds the
/// socket (a REJECT across a veth answers within the SYN's own transmission) as a soft
/// error: TcpExtLockDroppedIcmps counts it, and the connect fails only when the SYN
/// retransmitted a second later draws the next error, after the probe has given up
/// (kernel 6.18; IPv4 ends the connect at once either way). With it, the connect is
/// refused at once, and the error also waits in the socket's error queue.
fn keep_icmp_errors(s: &socket2::Socket, v6: bool) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    let set = if v6 {
        setsockopt(s, sockopt::Ipv6RecvErr, &true)
    } else {
        setsockopt(s, sockopt::Ipv4RecvErr, &true)
    };
    set.map_err(io::Error::from)
}

/// Whether an ICMP error for the socket came back (see [`keep_icmp_errors`]): the sender
/// was refused, whatever `connect` said.
fn icmp_error_queued(s: &socket2::Socket) -> bool {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 256];
    nix::sys::socket::recv(
        s.as_raw_fd(),
        &mut buf,
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .is_ok()
}

fn classify_error(e: &io::Error) -> Outcome {
    use nix::errno::Errno;
    if e.kind() == io::ErrorKind::ConnectionRefused {
        return Outcome::Refused;
    }
    match e.raw_os_error().map(Errno::from_raw) {
        // EACCES: an ICMPv6 "administratively prohibited" (firewalld's icmp6-adm-prohibited).
        Some(Errno::ECONNREFUSED | Errno::EHOSTUNREACH | Errno::ENETUNREACH | Errno::EACCES) => {
            Outcome::Refused
        }
        _ => Outcome::Silent,
    }
}

/// A non-blocking raw ICMP / ICMPv6 socket.
fn raw_icmp_socket(v6: bool) -> io::Result<std::os::fd::OwnedFd> {
    let proto = if v6 {
        SockProtocol::IcmpV6
    } else {
        SockProtocol::Icmp
    };
    raw_socket(v6, proto)
}

/// A non-blocking raw socket receiving `proto` packets delivered to this namespace.
fn raw_socket(v6: bool, proto: SockProtocol) -> io::Result<std::os::fd::OwnedFd> {
    let family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    Ok(socket(
        family,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK,
        proto,
    )?)
}

/// The source port of a raw probe: from its per-probe id, so the listener and the
/// sender know it and two probes differ.
fn raw_sport(id: u16) -> u16 {
    20_000 + id % 30_000
}

/// Send a raw probe ([`Proto::Segment`], [`Proto::RawUdp`]) with the IP header written
/// here, then watch for a RST or an ICMP error about it until `timeout`.
fn send_raw(p: &Probe, id: u16, timeout: Duration) -> io::Result<Outcome> {
    use crate::packet::{Datagram, TcpRepr, Transport, UdpRepr};
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = p.dst.is_ipv6();
    let sport = raw_sport(id);
    let (transport, proto) = match p.proto {
        Proto::Segment(flags) => (
            Transport::Tcp(TcpRepr {
                sport,
                dport: p.port,
                seq: 0x5eed_0000 | u32::from(id),
                ack: if flags & crate::packet::tcp_flags::ACK != 0 {
                    0x0ac0_0000 | u32::from(id)
                } else {
                    0
                },
                flags,
                window: 64_240,
                mss: None,
            }),
            SockProtocol::Tcp,
        ),
        _ => (
            Transport::Udp(UdpRepr {
                sport,
                dport: p.port,
                payload: b"rampart-probe".to_vec(),
            }),
            SockProtocol::Udp,
        ),
    };
    let d = Datagram {
        src: p.src,
        dst: p.dst,
        ttl: 64,
        ident: id,
        transport,
    };
    let mut buf = [0u8; crate::packet::MAX_DATAGRAM + 8];
    let mut n = d
        .emit(&mut buf)
        .map_err(|e| io::Error::other(format!("building the probe: {e}")))?;
    if let Proto::RawUdpExt(kind) = p.proto {
        if !v6 {
            return Err(invalid("extension headers are IPv6's".into()));
        }
        n = insert_ext_header(&mut buf, n, kind)?;
    }
    // Watch before sending, so a fast answer is not missed.
    let tcp = raw_socket(v6, SockProtocol::Tcp)?;
    let icmp = raw_icmp_socket(v6)?;
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let out = Socket::new(domain, Type::RAW, Some(Protocol::from(255)))?;
    // An OUTPUT drop gives EPERM: the probe is then simply not answered.
    let _ = out.send_to(&buf[..n], &SocketAddr::new(p.dst, 0).into());
    let end = Instant::now() + timeout;
    let mut rx = [0u8; 2048];
    loop {
        if matches!(p.proto, Proto::Segment(f) if f & crate::packet::tcp_flags::RST == 0) {
            while let Ok((n, from)) = recvfrom::<SockaddrStorage>(tcp.as_raw_fd_i32(), &mut rx) {
                if is_reset_for(&rx[..n], from, v6, p, sport) {
                    return Ok(Outcome::Refused);
                }
            }
        }
        while let Ok((n, _)) = recvfrom::<SockaddrStorage>(icmp.as_raw_fd_i32(), &mut rx) {
            if is_error_for(&rx[..n], v6, proto, p, sport) {
                return Ok(Outcome::Refused);
            }
        }
        if Instant::now() >= end {
            return Ok(Outcome::Silent);
        }
        thread::sleep(POLL);
    }
}

/// Inserts an 8-byte IPv6 extension header of type `kind` between the IPv6 header and
/// the upper layer of the datagram in `buf[..n]`; the new length. The upper layer's
/// checksum stays right: its pseudo-header holds the final destination and the upper
/// layer's own length.
fn insert_ext_header(buf: &mut [u8], n: usize, kind: u8) -> io::Result<usize> {
    const IPV6_HEADER: usize = 40;
    if n < IPV6_HEADER || buf.len() < n + 8 {
        return Err(invalid("no room for an extension header".into()));
    }
    let upper = buf[6];
    let ext = match kind {
        // Hop-by-hop / destination options: one PadN option filling the 6 bytes.
        0 | 60 => [upper, 0, 1, 4, 0, 0, 0, 0],
        // Routing header: length 0, type 0, no segments left, reserved.
        43 => [upper, 0, 0, 0, 0, 0, 0, 0],
        other => return Err(invalid(format!("extension header {other} is not built"))),
    };
    buf.copy_within(IPV6_HEADER..n, IPV6_HEADER + 8);
    buf[IPV6_HEADER..IPV6_HEADER + 8].copy_from_slice(&ext);
    buf[6] = kind;
    let payload = u16::from_be_bytes([buf[4], buf[5]]) + 8;
    buf[4..6].copy_from_slice(&payload.to_be_bytes());
    Ok(n + 8)
}

/// The transport header of a packet a raw socket received, and its source address
/// (IPv4 raw sockets include the IP header; IPv6 ones give the source in `from`).
fn transport_of(pkt: &[u8], from: Option<SockaddrStorage>, v6: bool) -> Option<(&[u8], IpAddr)> {
    if v6 {
        Some((pkt, IpAddr::V6(from?.as_sockaddr_in6()?.ip())))
    } else {
        let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
        let s: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
        Some((pkt.get(ihl..)?, IpAddr::V4(Ipv4Addr::from(s))))
    }
}

fn ports(l4: &[u8]) -> Option<(u16, u16)> {
    Some((
        u16::from_be_bytes([*l4.first()?, *l4.get(1)?]),
        u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]),
    ))
}

/// The source of our segment (`sport` → `dport`, these flags), as the receiver sees it.
fn segment_source(
    pkt: &[u8],
    from: Option<SockaddrStorage>,
    v6: bool,
    sport: u16,
    dport: u16,
    flags: u8,
) -> Option<IpAddr> {
    let (tcp, src) = transport_of(pkt, from, v6)?;
    let ok = ports(tcp)? == (sport, dport) && *tcp.get(13)? & 0x3f == flags & 0x3f;
    ok.then_some(canonical(src))
}

/// A RST from the probe's destination port back to our source port.
fn is_reset_for(
    pkt: &[u8],
    from: Option<SockaddrStorage>,
    v6: bool,
    p: &Probe,
    sport: u16,
) -> bool {
    transport_of(pkt, from, v6).is_some_and(|(tcp, src)| {
        src == p.dst
            && ports(tcp) == Some((p.port, sport))
            && tcp
                .get(13)
                .is_some_and(|f| f & crate::packet::tcp_flags::RST != 0)
    })
}

/// An ICMP destination unreachable quoting our probe (its protocol, our source port, the
/// destination port).
fn is_error_for(pkt: &[u8], v6: bool, proto: SockProtocol, p: &Probe, sport: u16) -> bool {
    let Some(icmp) = icmp_part(pkt, v6) else {
        return false;
    };
    if icmp.first() != Some(if v6 { &1 } else { &3 }) {
        return false;
    }
    let Some(inner) = icmp.get(8..) else {
        return false;
    };
    let number = if proto == SockProtocol::Tcp { 6 } else { 17 };
    let quoted = if v6 {
        (inner.get(6) == Some(&number))
            .then(|| inner.get(40..))
            .flatten()
    } else {
        (inner.get(9) == Some(&number))
            .then(|| icmp_part(inner, false))
            .flatten()
    };
    quoted.and_then(ports) == Some((sport, p.port))
}

trait RawFdI32 {
    fn as_raw_fd_i32(&self) -> std::os::fd::RawFd;
}

impl RawFdI32 for std::os::fd::OwnedFd {
    fn as_raw_fd_i32(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.as_raw_fd()
    }
}

/// The ICMP part of a received raw packet (IPv4 raw sockets include the IP header).
fn icmp_part(pkt: &[u8], v6: bool) -> Option<&[u8]> {
    if v6 {
        Some(pkt)
    } else {
        let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
        pkt.get(ihl..)
    }
}

fn echo_id_of(icmp: &[u8], want_type: u8) -> Option<u16> {
    if icmp.len() >= 8 && icmp[0] == want_type {
        Some(u16::from_be_bytes([icmp[4], icmp[5]]))
    } else {
        None
    }
}

/// Source of an echo request with our id, as seen by the destination.
fn echo_request_source(
    pkt: &[u8],
    from: Option<SockaddrStorage>,
    v6: bool,
    id: u16,
) -> Option<IpAddr> {
    let icmp = icmp_part(pkt, v6)?;
    if echo_id_of(icmp, if v6 { 128 } else { 8 })? != id {
        return None;
    }
    if v6 {
        Some(IpAddr::V6(from?.as_sockaddr_in6()?.ip()))
    } else {
        let s: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(s)))
    }
}

/// Is this an echo reply to us (answered) or an unreachable quoting our echo (refused)?
fn echo_answer(pkt: &[u8], v6: bool, id: u16) -> Option<Outcome> {
    let icmp = icmp_part(pkt, v6)?;
    let (reply, unreach, request) = if v6 { (129, 1, 128) } else { (0, 3, 8) };
    if echo_id_of(icmp, reply) == Some(id) {
        return Some(Outcome::Answered);
    }
    if icmp.first() == Some(&unreach) {
        let inner = icmp.get(8..)?;
        let inner_icmp = if v6 {
            inner.get(40..)?
        } else {
            icmp_part(inner, false)?
        };
        if echo_id_of(inner_icmp, request) == Some(id) {
            return Some(Outcome::Refused);
        }
    }
    None
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
