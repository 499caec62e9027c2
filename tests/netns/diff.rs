//! The simulator's side of the differential test: what the kernel test would
//! observe for a probe, predicted by running the probe's packets through
//! `rampart_sim`.
//!
//! A probe is not one packet for the kernel test, so the prediction replays
//! what the lab does:
//!
//! * TCP: the handshake. SYN client → server; SYN-ACK server → client as the
//!   reply (out through the host's OUTPUT path when the server is the host,
//!   back in through FORWARD when the host forwarded the SYN; in through
//!   INPUT when the host is the client); ACK client → server. Delivered only
//!   when all three pass and each one reaches the namespace it is meant for. A SYN that
//!   reaches a namespace holding its (NATed) destination but not the probe's listener is
//!   answered with a RST, replayed back: rejected when it reaches the client.
//! * UDP, ICMP echo, and the raw probes (one TCP segment with any flags, one UDP
//!   datagram from any source): one packet, one way.
//!
//! Whether a peer can route a reply (an upstream peer has no route back to an
//! un-NATed LAN address) and whether a forwarded packet's destination exists
//! behind the interface it leaves by is the lab's topology knowledge
//! ([`Topology`]), not the simulator's.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::IpAddr;

use rampart_ruleset::{Protocol, TcpFlags};
use rampart_sim::{ExtHeader, Fate as SimFate, Packet, Simulator};

use crate::lab::{Fate, Proto};
use crate::spec::{Origin, ProbeSpec};
use crate::{Holder, Topology};

/// Seconds between two probes on the simulation clock.
pub const PROBE_INTERVAL: f64 = 0.5;
/// Seconds between the packets of one exchange.
const PACKET_GAP: f64 = 0.001;

/// The simulator's answer for one probe.
pub struct Prediction {
    /// The fate the kernel test should observe.
    pub fate: Fate,
    /// Every packet simulated, with its trace, for failure messages.
    pub log: String,
}

/// Runs one probe's packets through `sim` (state carries over between
/// calls, as conntrack and rate limits do in the kernel). `time` is the
/// probe's start on the simulation clock; `sport` the client's source port.
pub fn predict(
    sim: &mut Simulator<'_>,
    topo: &Topology,
    p: &ProbeSpec,
    time: f64,
    sport: u16,
) -> Prediction {
    let mut x = Exchange {
        sim,
        topo,
        log: String::new(),
        time,
    };
    let fate = match p.probe.proto {
        Proto::Tcp => x.tcp(p, sport),
        Proto::Udp | Proto::Icmp | Proto::RawUdp | Proto::RawUdpExt(_) | Proto::Segment(_) => {
            x.one_way(p, sport)
        }
    };
    Prediction { fate, log: x.log }
}

/// `addr:port`, `[addr6]:port`, or the bare address without a port.
fn endpoint(addr: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => std::net::SocketAddr::new(addr, p).to_string(),
        None => addr.to_string(),
    }
}

/// Where the client sits.
fn client_iface(p: &ProbeSpec) -> Option<&str> {
    match &p.origin {
        Origin::In(i) => Some(i),
        Origin::Local => None,
    }
}

struct Exchange<'a, 's> {
    sim: &'a mut Simulator<'s>,
    topo: &'a Topology,
    log: String,
    time: f64,
}

/// Where a packet ended up, as the lab's namespaces see it.
enum Arrival {
    /// In the host's own stack, addressed to `addr:port`, coming from `src`.
    Host { addr: IpAddr, port: Option<u16> },
    /// Out of host interface `iface` (to its peer), as `src:sport → dst:dport`.
    Peer {
        iface: String,
        src: IpAddr,
        dst: IpAddr,
        sport: Option<u16>,
        dport: Option<u16>,
    },
    /// Not past the host: the fate a sender would observe for it.
    Stopped(Fate),
}

impl Exchange<'_, '_> {
    /// Simulate one packet, log it, and say where it went.
    fn send(&mut self, what: &str, mut packet: Packet) -> Arrival {
        packet.time = self.time;
        self.time += PACKET_GAP;
        let trace = self.sim.run(&packet);
        let branch = trace.branches.get(trace.committed_branch);
        let fate = branch.map(|b| b.fate.clone());
        // A REJECT's answer that the host's own OUTPUT stops (or that the kernel never
        // sends) leaves the sender waiting, as a DROP does.
        let answered = branch
            .and_then(|b| b.answer.as_ref())
            .is_none_or(|a| a.reaches_sender());
        let _ = writeln!(
            self.log,
            "    {what} (protocol {}) {} -> {} in {} at {:.3}s:",
            packet.protocol.0,
            endpoint(packet.src, packet.sport),
            endpoint(packet.dst, packet.dport),
            packet.in_iface.as_deref().unwrap_or("(locally generated)"),
            packet.time
        );
        for line in trace.to_string().lines() {
            let _ = writeln!(self.log, "      {line}");
        }
        match fate {
            Some(SimFate::DeliveredLocally { addr, port }) => Arrival::Host { addr, port },
            Some(
                SimFate::Forwarded {
                    out_iface,
                    src,
                    dst,
                    sport,
                    dport,
                }
                | SimFate::SentOut {
                    out_iface,
                    src,
                    dst,
                    sport,
                    dport,
                },
            ) => Arrival::Peer {
                iface: out_iface,
                src,
                dst,
                sport,
                dport,
            },
            // REJECT answers with a RST or an ICMP error; so does a host
            // without a route (ENETUNREACH locally, ICMP unreachable when
            // forwarding).
            Some(SimFate::Rejected { .. }) if !answered => Arrival::Stopped(Fate::Dropped),
            Some(SimFate::Rejected { .. } | SimFate::NoRoute { .. }) => {
                Arrival::Stopped(Fate::Rejected)
            }
            // With forwarding off the kernel drops silently (ip_error).
            // Aborted walks, and fates added to the simulator later: nothing
            // gets through.
            _ => Arrival::Stopped(Fate::Dropped),
        }
    }

    fn note(&mut self, msg: &str) {
        let _ = writeln!(self.log, "    => {msg}");
    }

    /// UDP datagram or ICMP echo request: delivered when it reaches the
    /// namespace holding its destination.
    fn one_way(&mut self, p: &ProbeSpec, sport: u16) -> Fate {
        let pr = p.probe;
        let mut pkt = match pr.proto {
            Proto::Udp | Proto::RawUdp | Proto::RawUdpExt(_) => {
                let mut k = Packet::new(Protocol::UDP, pr.src, pr.dst);
                k.sport = Some(sport);
                k.dport = Some(pr.port);
                k.ext_headers = match pr.proto {
                    Proto::RawUdpExt(0) => vec![ExtHeader::HopByHop],
                    Proto::RawUdpExt(60) => vec![ExtHeader::DestOpts],
                    Proto::RawUdpExt(43) => vec![ExtHeader::Routing { ty: Some(0) }],
                    _ => Vec::new(),
                };
                k
            }
            Proto::Segment(flags) => {
                let mut k = Packet::new(Protocol::TCP, pr.src, pr.dst);
                k.sport = Some(sport);
                k.dport = Some(pr.port);
                k.tcp_flags = Some(TcpFlags(flags));
                k
            }
            _ => {
                let (proto, ty) = if pr.dst.is_ipv4() {
                    (Protocol::ICMP, 8)
                } else {
                    (Protocol::ICMPV6, 128)
                };
                // The lab gives every probe's echo its own id, as the
                // kernel's conntrack sees it; `sport` is per probe too.
                Packet::new(proto, pr.src, pr.dst).icmp(ty, 0, sport)
            }
        };
        pkt.in_iface = client_iface(p).map(str::to_owned);
        match self.send("request", pkt) {
            Arrival::Host { addr, .. } => {
                if self.reaches_listener(p, None, addr) {
                    Fate::Delivered { seen_src: pr.src }
                } else {
                    Fate::Dropped
                }
            }
            Arrival::Peer {
                iface, src, dst, ..
            } => {
                if self.reaches_listener(p, Some(&iface), dst) {
                    Fate::Delivered { seen_src: src }
                } else {
                    Fate::Dropped
                }
            }
            // A raw probe from an address no namespace holds (a martian source) never
            // gets the RST or ICMP error back.
            Arrival::Stopped(Fate::Rejected)
                if pr.proto.is_raw() && self.topo.holder(pr.src) == Holder::Nobody =>
            {
                self.note("the answer goes to a source no namespace holds: not seen");
                Fate::Dropped
            }
            Arrival::Stopped(f) => f,
        }
    }

    /// The lab listens for a probe only in the namespace holding the
    /// probe's destination. Does a packet that arrived in the host (`None`)
    /// or left by host interface `iface`, addressed to `dst`, get there?
    fn reaches_listener(&mut self, p: &ProbeSpec, iface: Option<&str>, dst: IpAddr) -> bool {
        let want = self.topo.holder(p.probe.dst);
        let got = match iface {
            None => Holder::Host,
            Some(i) if self.topo.peer_owns(i, dst) => Holder::Peer(i),
            Some(_) => Holder::Nobody,
        };
        let ok = got == want;
        if !ok {
            self.note(&format!(
                "the packet ends in {got} as {dst}, but the probe's listener for {} is in \
                 {want}: the lab would not see it delivered",
                p.probe.dst
            ));
        }
        ok
    }

    /// A RST answering the probe's SYN from a namespace without its listener: the client
    /// sees the connection refused when the RST comes back to it, else times out.
    fn refused(&mut self, p: &ProbeSpec, rst: Packet, sport: u16) -> Fate {
        let client_if = client_iface(p).map(str::to_owned);
        let back = match self.send("RST", rst) {
            Arrival::Stopped(_) => false,
            Arrival::Host { addr, port } => {
                client_if.is_none() && addr == p.probe.src && port == Some(sport)
            }
            Arrival::Peer {
                iface, dst, dport, ..
            } => {
                client_if.as_deref() == Some(iface.as_str())
                    && dst == p.probe.src
                    && dport == Some(sport)
            }
        };
        if back {
            Fate::Rejected
        } else {
            self.note("the RST does not reach the client");
            Fate::Dropped
        }
    }

    /// The TCP handshake.
    fn tcp(&mut self, p: &ProbeSpec, sport: u16) -> Fate {
        let pr = p.probe;
        let client_if = client_iface(p).map(str::to_owned);
        let segment = |src, sp, dst, dp, iface: Option<String>, flags| {
            let mut k = Packet::new(Protocol::TCP, src, dst);
            k.sport = Some(sp);
            k.dport = Some(dp);
            k.in_iface = iface;
            k.tcp_flags = Some(TcpFlags(flags));
            k
        };
        let syn = segment(
            pr.src,
            sport,
            pr.dst,
            pr.port,
            client_if.clone(),
            TcpFlags::SYN,
        );
        // The SYN-ACK as the server sends it, and the interface it arrives
        // on (None: the server is the host, so it is locally generated).
        let (seen_src, synack) = match self.send("SYN", syn) {
            Arrival::Stopped(f) => return f,
            Arrival::Host { addr, port } => {
                if !self.reaches_listener(p, None, addr) {
                    // The host's own stack has no socket there: it answers with a RST.
                    let rst = segment(
                        addr,
                        port.unwrap_or(pr.port),
                        pr.src,
                        sport,
                        None,
                        TcpFlags::RST | TcpFlags::ACK,
                    );
                    return self.refused(p, rst, sport);
                }
                if client_if.is_none() {
                    self.note("a local client connecting to the host: not a lab probe");
                    return Fate::Dropped;
                }
                let port = port.unwrap_or(pr.port);
                (
                    pr.src,
                    segment(
                        addr,
                        port,
                        pr.src,
                        sport,
                        None,
                        TcpFlags::SYN | TcpFlags::ACK,
                    ),
                )
            }
            Arrival::Peer {
                iface,
                src,
                dst,
                sport: sp,
                dport: dp,
            } => {
                if !self.reaches_listener(p, Some(&iface), dst) {
                    // A namespace holding the (NATed) destination but not the probe's
                    // listener answers with a RST, if it can route to the source.
                    if !self.topo.peer_owns(&iface, dst) || !self.topo.peer_reaches(&iface, src) {
                        return Fate::Dropped;
                    }
                    let rst = segment(
                        dst,
                        dp.unwrap_or(pr.port),
                        src,
                        sp.unwrap_or(sport),
                        Some(iface),
                        TcpFlags::RST | TcpFlags::ACK,
                    );
                    return self.refused(p, rst, sport);
                }
                if !self.topo.peer_reaches(&iface, src) {
                    self.note(&format!(
                        "the peer behind {iface} cannot send the SYN-ACK to {src} (no route back, or \
                         on its link but held by nobody): the client times out"
                    ));
                    return Fate::Dropped;
                }
                (
                    src,
                    segment(
                        dst,
                        dp.unwrap_or(pr.port),
                        src,
                        sp.unwrap_or(sport),
                        Some(iface),
                        TcpFlags::SYN | TcpFlags::ACK,
                    ),
                )
            }
        };
        // The SYN-ACK must come back to the client: into the host's stack
        // for a local client, out of the client's interface otherwise.
        let back = match self.send("SYN-ACK", synack) {
            Arrival::Stopped(_) => {
                self.note("the SYN-ACK is lost: the client times out");
                return Fate::Dropped;
            }
            Arrival::Host { addr, port } => {
                client_if.is_none() && addr == pr.src && port == Some(sport)
            }
            Arrival::Peer {
                iface, dst, dport, ..
            } => {
                client_if.as_deref() == Some(iface.as_str())
                    && dst == pr.src
                    && dport == Some(sport)
            }
        };
        if !back {
            self.note("the SYN-ACK does not reach the client");
            return Fate::Dropped;
        }
        let ack = segment(pr.src, sport, pr.dst, pr.port, client_if, TcpFlags::ACK);
        match self.send("ACK", ack) {
            Arrival::Stopped(_) => {
                self.note("the ACK is lost: the server never accepts");
                Fate::Dropped
            }
            Arrival::Host { addr, .. } if self.reaches_listener(p, None, addr) => {
                Fate::Delivered { seen_src }
            }
            Arrival::Peer { iface, dst, .. } if self.reaches_listener(p, Some(&iface), dst) => {
                Fate::Delivered { seen_src }
            }
            _ => Fate::Dropped,
        }
    }
}
