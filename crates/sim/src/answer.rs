//! What a REJECT sends back. The TCP reset or ICMP error is a packet the host generates:
//! it crosses the host's own OUTPUT and POSTROUTING chains like any other, attached to
//! the rejected packet's connection (`nf_ct_attach`: RELATED, in the reply direction), so
//! a ruleset whose OUTPUT drops it leaves the sender with a timeout, not a refusal. And
//! the kernel sends nothing at all in some cases: a reset in answer to a reset, an ICMP
//! error about an ICMP error, an answer to a broadcast or a non-first fragment, an ICMP
//! error beyond the per-destination rate limit. The answer has no owner: a reset has no
//! socket, an ICMP error the kernel's own (no uid).

use std::collections::HashMap;
use std::net::IpAddr;

use rampart_ruleset::{Family, Protocol, RejectWith, TcpFlags};

use crate::conntrack::{self, Dir, Flow};
use crate::host::{Host, RouteDecision};
use crate::packet::Packet;

/// The rejected packet as the REJECT rule saw it, and its connection.
#[derive(Debug, Clone)]
pub(crate) struct RejectSeed {
    pub with: RejectWith,
    pub protocol: Protocol,
    /// Addresses and ports after any NAT so far.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub tcp_flags: Option<TcpFlags>,
    pub icmp_type: Option<u8>,
    pub fragment: bool,
    /// The link-layer class of the rejected packet was not "to us" (a broadcast or
    /// multicast frame).
    pub not_unicast: bool,
    /// The connection the answer is attached to: `None` when the rejected packet had
    /// none (INVALID, UNTRACKED), and the answer then meets conntrack as a packet of its
    /// own.
    pub attach: Option<Attach>,
    pub time: f64,
}

/// The rejected packet's connection, as the answer sees it.
#[derive(Debug, Clone)]
pub(crate) struct Attach {
    /// The flow's id when it is in the table (a rejected first packet's connection is
    /// never confirmed: `None`).
    pub id: Option<usize>,
    /// The answer's direction in the flow.
    pub dir: Dir,
    pub flow: Flow,
}

impl Attach {
    /// The direction opposite to the rejected packet's.
    pub fn answering(id: Option<usize>, rejected_dir: Dir, flow: Flow) -> Attach {
        let dir = match rejected_dir {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        };
        Attach { id, dir, flow }
    }
}

/// What a REJECT sends.
enum Kind {
    Reset,
    /// ICMP type and code.
    Icmp(u8, u8),
}

/// `None` for a `--reject-with` this module does not know.
fn kind_of(with: RejectWith) -> Option<Kind> {
    let (ty, code) = match with {
        RejectWith::IcmpNetUnreachable => (3, 0),
        RejectWith::IcmpHostUnreachable => (3, 1),
        RejectWith::IcmpProtoUnreachable => (3, 2),
        RejectWith::IcmpPortUnreachable => (3, 3),
        RejectWith::IcmpNetProhibited => (3, 9),
        RejectWith::IcmpHostProhibited => (3, 10),
        RejectWith::IcmpAdminProhibited => (3, 13),
        RejectWith::Icmp6NoRoute => (1, 0),
        RejectWith::Icmp6AdmProhibited => (1, 1),
        RejectWith::Icmp6AddrUnreachable => (1, 3),
        RejectWith::Icmp6PortUnreachable => (1, 4),
        RejectWith::Icmp6PolicyFail => (1, 5),
        RejectWith::Icmp6RejectRoute => (1, 6),
        RejectWith::TcpReset => return Some(Kind::Reset),
        _ => return None,
    };
    Some(Kind::Icmp(ty, code))
}

/// `net.ipv4.icmp_ratelimit` and `net.ipv6.icmp.ratelimit` (their defaults on kernel
/// 6.18), in microseconds: the time one ICMP error to a destination costs.
const V4_RATELIMIT_US: u64 = 1_000_000;
const V6_RATELIMIT_US: u64 = 100_000;
/// `XRLIM_BURST_FACTOR`: a destination's bucket holds six errors' worth of time.
const BURST_FACTOR: u64 = 6;

/// One destination's ICMP error bucket (`inet_peer.rate_tokens` / `rate_last`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IcmpPeer {
    tokens_us: u64,
    last_us: u64,
}

/// The kernel's per-destination ICMP error rate limit (`icmpv4_xrlim_allow`,
/// `icmpv6_xrlim_allow` → `inet_peer_xrlim_allow`): an error costs the rate limit's
/// time and the bucket holds six (a new destination's is full): six at once, then one
/// per period (20 rejected datagrams at once draw 6 errors on kernel 6.18, IPv4 and IPv6
/// alike: IcmpOutRateLimitHost counts the other 14). For
/// IPv6 the period shrinks with the route's width (`>> (128 - prefix length) / 32`). The
/// kernel's global limit (`icmp_msgs_per_sec` 1000, burst 50, with random credit) is not
/// modelled. `Err` says why the error is not sent.
pub(crate) fn icmp_rate_limit(
    peers: &mut HashMap<IpAddr, IcmpPeer>,
    host: &Host,
    answer: &Packet,
) -> Result<(), String> {
    let dst = answer.dst;
    if host.is_local(dst) {
        // No rate limit towards the loopback device.
        return Ok(());
    }
    let (period, sysctl) = match dst {
        IpAddr::V4(_) => (V4_RATELIMIT_US, "net.ipv4.icmp_ratelimit 1000 ms"),
        IpAddr::V6(_) => {
            let len = host.route_len(dst).unwrap_or(0);
            let shift = (128 - u32::from(len.min(128))) >> 5;
            (V6_RATELIMIT_US >> shift, "net.ipv6.icmp.ratelimit 100 ms")
        }
    };
    let now = answer.time_us();
    let full = BURST_FACTOR * period;
    let peer = peers.entry(dst).or_insert(IcmpPeer {
        tokens_us: full,
        last_us: now,
    });
    peer.tokens_us = (peer.tokens_us + now.saturating_sub(peer.last_us)).min(full);
    peer.last_us = peer.last_us.max(now);
    if peer.tokens_us >= period {
        peer.tokens_us -= period;
        Ok(())
    } else {
        Err(format!(
            "the ICMP error rate limit towards {dst} is reached ({sysctl}, burst 6)"
        ))
    }
}

/// The hop limit the kernel gives packets it generates (`net.ipv4.ip_default_ttl`,
/// `net.ipv6.conf.*.hop_limit`).
const DEFAULT_TTL: u8 = 64;

/// The answer packet, or why the kernel sends none (`nf_send_reset`, `icmp_send`,
/// `icmp6_send`).
pub(crate) fn answer_packet(seed: &RejectSeed, host: &Host) -> Result<Packet, String> {
    let v6 = seed.src.is_ipv6();
    let to_group = seed.dst.is_multicast()
        || host.is_broadcast(seed.dst)
        || matches!(seed.dst, IpAddr::V4(a) if a.is_broadcast());
    if to_group || seed.not_unicast {
        return Err(format!(
            "no answer to a packet sent to a broadcast or multicast address ({})",
            seed.dst
        ));
    }
    if seed.src.is_unspecified() || seed.src.is_multicast() || host.is_broadcast(seed.src) {
        return Err(format!("no answer to the source {}", seed.src));
    }
    if seed.fragment {
        return Err("no answer to a fragment other than the first".to_string());
    }
    let Some(kind) = kind_of(seed.with) else {
        return Err(format!(
            "the answer of --reject-with {} is not simulated",
            seed.with.name()
        ));
    };
    let mut answer = match kind {
        Kind::Reset => {
            if seed.protocol != Protocol::TCP {
                return Err("tcp-reset answers TCP only".to_string());
            }
            let flags = seed.tcp_flags.unwrap_or(TcpFlags(TcpFlags::SYN));
            if flags.has(TcpFlags::RST) {
                return Err("no reset is sent in answer to a reset".to_string());
            }
            // nf_reject_ip_tcphdr_put: a segment with ACK gets a bare RST carrying its
            // acknowledgement number as sequence; one without gets RST,ACK.
            let bits = if flags.has(TcpFlags::ACK) {
                TcpFlags::RST
            } else {
                TcpFlags::RST | TcpFlags::ACK
            };
            let mut p = Packet::new(Protocol::TCP, seed.dst, seed.src);
            p.sport = seed.dport;
            p.dport = seed.sport;
            p.tcp_flags = Some(TcpFlags(bits));
            p
        }
        Kind::Icmp(ty, code) => {
            let quoted_error = seed
                .icmp_type
                .is_some_and(|t| conntrack::icmp_is_error(seed.protocol, t));
            if quoted_error {
                return Err("no ICMP error is sent about an ICMP error".to_string());
            }
            let proto = if v6 { Protocol::ICMPV6 } else { Protocol::ICMP };
            let mut p = Packet::new(proto, error_source(seed, host), seed.src);
            p.icmp_type = Some(ty);
            p.icmp_code = Some(code);
            p
        }
    };
    answer.time = seed.time;
    answer.ttl = Some(DEFAULT_TTL);
    Ok(answer)
}

/// An ICMP error comes from the address the rejected packet was sent to when it is the
/// host's own, else from the host's address on the interface towards the sender.
fn error_source(seed: &RejectSeed, host: &Host) -> IpAddr {
    if host.is_local(seed.dst) {
        return seed.dst;
    }
    let family = Family::of(seed.src);
    match host.route(seed.src) {
        RouteDecision::Out { dev, .. } => host.primary_addr(&dev, family).unwrap_or(seed.dst),
        _ => seed.dst,
    }
}
