//! [`Flow`]: one connection, from a socket or a conntrack entry.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use rampart_nfnl::wire::{Conntrack, CtTcpState, IPS_DST_NAT, IPS_SRC_NAT};
use rampart_nfnl::{InetSocket, Protocol, TcpState};
use rampart_prefix::unmap_addr;
use serde::Serialize;

/// The transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP, ICMPv6.
    Icmp,
    /// Any other IP protocol (conntrack only), by number.
    Other(u8),
}

impl Proto {
    fn from_number(n: u8) -> Proto {
        match n {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            1 | 58 => Proto::Icmp,
            n => Proto::Other(n),
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proto::Tcp => f.write_str("tcp"),
            Proto::Udp => f.write_str("udp"),
            Proto::Icmp => f.write_str("icmp"),
            Proto::Other(n) => write!(f, "proto-{n}"),
        }
    }
}

/// A connection's state, as `netstat` and `ss` name it; conntrack's TCP states map onto
/// the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum State {
    /// `ESTABLISHED`.
    Established,
    /// `SYN_RECV`: half-open, the SYN answered and the last ACK not come (a SYN flood).
    SynRecv,
    /// `SYN_SENT`.
    SynSent,
    /// `FIN_WAIT` (1 and 2).
    FinWait,
    /// `CLOSE_WAIT`.
    CloseWait,
    /// `LAST_ACK`.
    LastAck,
    /// `CLOSING`.
    Closing,
    /// `TIME_WAIT`.
    TimeWait,
    /// `CLOSE`.
    Close,
    /// UDP, ICMP and other protocols without states.
    Stateless,
}

impl State {
    /// The name `ss` prints.
    pub fn name(self) -> &'static str {
        match self {
            State::Established => "ESTABLISHED",
            State::SynRecv => "SYN_RECV",
            State::SynSent => "SYN_SENT",
            State::FinWait => "FIN_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME_WAIT",
            State::Close => "CLOSE",
            State::Stateless => "-",
        }
    }

    fn from_socket(s: TcpState) -> State {
        match s {
            TcpState::Established => State::Established,
            TcpState::SynRecv | TcpState::NewSynRecv => State::SynRecv,
            TcpState::SynSent => State::SynSent,
            TcpState::FinWait1 | TcpState::FinWait2 => State::FinWait,
            TcpState::CloseWait => State::CloseWait,
            TcpState::LastAck => State::LastAck,
            TcpState::Closing => State::Closing,
            TcpState::TimeWait => State::TimeWait,
            _ => State::Close,
        }
    }

    fn from_conntrack(s: CtTcpState) -> State {
        match s {
            CtTcpState::Established => State::Established,
            CtTcpState::SynRecv => State::SynRecv,
            CtTcpState::SynSent | CtTcpState::SynSent2 => State::SynSent,
            CtTcpState::FinWait => State::FinWait,
            CtTcpState::CloseWait => State::CloseWait,
            CtTcpState::LastAck => State::LastAck,
            CtTcpState::TimeWait => State::TimeWait,
            _ => State::Close,
        }
    }
}

/// Who started a connection, as seen from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A remote host connected to a service here.
    Incoming,
    /// This host connected out.
    Outgoing,
    /// Routed through this host (conntrack only), NATed or not.
    Forwarded,
}

/// One connection as `top` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Its protocol.
    pub proto: Proto,
    /// This host's end (for a forwarded flow: its original destination).
    pub local: SocketAddr,
    /// The other end, whose address is counted (for a forwarded flow: the initiator).
    pub remote: SocketAddr,
    /// Its state.
    pub state: State,
    /// Who started it.
    pub direction: Direction,
    /// Source or destination NAT applied (conntrack only).
    pub nat: bool,
}

impl Flow {
    /// The service port: the remote port of an outgoing flow, the local port (for a
    /// forwarded flow: the original destination's) of the others.
    pub fn service_port(&self) -> u16 {
        match self.direction {
            Direction::Outgoing => self.remote.port(),
            _ => self.local.port(),
        }
    }
}

fn unmap(sa: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmap_addr(sa.ip()), sa.port())
}

/// The connections among a sock_diag dump: listeners and unconnected UDP sockets are not
/// connections but tell which local ports serve (incoming); IPv4-mapped addresses of
/// dual-stack sockets are unmapped.
pub fn from_sockets(sockets: &[InetSocket]) -> Vec<Flow> {
    let mut serving: HashSet<(Protocol, u16)> = HashSet::new();
    for s in sockets {
        if is_server(s) {
            serving.insert((s.protocol, s.local.port()));
        }
    }
    sockets
        .iter()
        .filter(|s| !is_server(s) && !s.remote.ip().is_unspecified())
        .map(|s| {
            let incoming = serving.contains(&(s.protocol, s.local.port()));
            Flow {
                proto: match s.protocol {
                    Protocol::Tcp => Proto::Tcp,
                    Protocol::Udp => Proto::Udp,
                },
                local: unmap(s.local),
                remote: unmap(s.remote),
                state: match s.protocol {
                    Protocol::Tcp => State::from_socket(s.state),
                    Protocol::Udp => State::Stateless,
                },
                direction: if incoming {
                    Direction::Incoming
                } else {
                    Direction::Outgoing
                },
                nat: false,
            }
        })
        .collect()
}

/// A TCP listener, or a UDP socket bound but not connected (a UDP server).
fn is_server(s: &InetSocket) -> bool {
    match s.protocol {
        Protocol::Tcp => s.state == TcpState::Listen,
        Protocol::Udp => s.remote.ip().is_unspecified() && s.local.port() != 0,
    }
}

/// The flows of a conntrack dump; `local` holds this host's addresses (unmapped), which
/// tell incoming from outgoing from forwarded. Entries without an original tuple are
/// skipped.
pub fn from_conntrack(entries: &[Conntrack], local: &HashSet<IpAddr>) -> Vec<Flow> {
    entries
        .iter()
        .filter_map(|e| {
            let o = e.orig?;
            let port = |p: Option<u16>| p.unwrap_or(0);
            let src = SocketAddr::new(unmap_addr(o.src), port(o.src_port));
            let dst = SocketAddr::new(unmap_addr(o.dst), port(o.dst_port));
            let nat = e.status.unwrap_or(0) & (IPS_SRC_NAT | IPS_DST_NAT) != 0;
            // A DNATed flow is incoming when it is translated to this host (a local
            // redirect), forwarded when to another (a port forward).
            let dnat = e.status.unwrap_or(0) & IPS_DST_NAT != 0;
            let to_here = !dnat || e.reply.is_some_and(|r| local.contains(&unmap_addr(r.src)));
            let (direction, local_end, remote_end) = if local.contains(&dst.ip()) && to_here {
                (Direction::Incoming, dst, src)
            } else if local.contains(&src.ip()) {
                (Direction::Outgoing, src, dst)
            } else {
                (Direction::Forwarded, dst, src)
            };
            let proto = Proto::from_number(o.proto);
            let state = match (proto, e.tcp_state()) {
                (Proto::Tcp, Some(s)) => State::from_conntrack(s),
                (Proto::Tcp, None) => State::Close,
                _ => State::Stateless,
            };
            Some(Flow {
                proto,
                local: local_end,
                remote: remote_end,
                state,
                direction,
                nat,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_nfnl::wire::{TcpInfo, Tuple};

    fn sock(protocol: Protocol, state: TcpState, local: &str, remote: &str) -> InetSocket {
        InetSocket {
            protocol,
            state,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            inode: 1,
            uid: 0,
            rqueue: 0,
            wqueue: 0,
        }
    }

    #[test]
    fn sockets_become_flows_by_listening_port() {
        let sockets = [
            sock(Protocol::Tcp, TcpState::Listen, "[::]:443", "[::]:0"),
            sock(
                Protocol::Tcp,
                TcpState::Established,
                "[::ffff:198.51.100.1]:443",
                "[::ffff:192.0.2.7]:5000",
            ),
            sock(
                Protocol::Tcp,
                TcpState::NewSynRecv,
                "198.51.100.1:443",
                "192.0.2.8:5001",
            ),
            sock(
                Protocol::Tcp,
                TcpState::Established,
                "198.51.100.1:40000",
                "203.0.113.5:25",
            ),
            sock(Protocol::Udp, TcpState::Close, "0.0.0.0:53", "0.0.0.0:0"),
            sock(
                Protocol::Udp,
                TcpState::Established,
                "198.51.100.1:53",
                "192.0.2.9:3333",
            ),
        ];
        let flows = from_sockets(&sockets);
        assert_eq!(flows.len(), 4, "{flows:#?}");
        // The dual-stack socket's addresses are unmapped.
        assert_eq!(flows[0].remote, "192.0.2.7:5000".parse().unwrap());
        assert_eq!(flows[0].local, "198.51.100.1:443".parse().unwrap());
        assert_eq!(flows[0].direction, Direction::Incoming);
        assert_eq!(flows[1].state, State::SynRecv);
        assert_eq!(flows[2].direction, Direction::Outgoing);
        assert_eq!(flows[2].service_port(), 25);
        assert_eq!(
            (flows[3].proto, flows[3].direction),
            (Proto::Udp, Direction::Incoming)
        );
        assert_eq!(flows[3].state, State::Stateless);
    }

    #[test]
    fn conntrack_entries_become_flows_by_local_address() {
        let local: HashSet<IpAddr> = ["198.51.100.1".parse().unwrap()].into();
        let t = |s: &str, sp, d: &str, dp| {
            Tuple::ports(s.parse().unwrap(), sp, d.parse().unwrap(), dp, 6)
        };
        let entry = |orig: Tuple, reply: Tuple, status, state| Conntrack {
            orig: Some(orig),
            reply: Some(reply),
            status: Some(status),
            tcp: Some(TcpInfo {
                state,
                wscale: None,
                flags: None,
            }),
            ..Conntrack::default()
        };
        let inbound = t("192.0.2.7", 5000, "198.51.100.1", 22);
        let outbound = t("198.51.100.1", 40000, "203.0.113.5", 443);
        let routed = t("192.0.2.50", 6000, "203.0.113.9", 80);
        // A port forward: 198.51.100.1:8080 is DNATed to 203.0.113.20:80.
        let forward = t("192.0.2.60", 7000, "198.51.100.1", 8080);
        let forward_reply = t("203.0.113.20", 80, "192.0.2.60", 7000);
        // A local redirect: :80 to :8080 on this host.
        let redirect = t("192.0.2.61", 7001, "198.51.100.1", 80);
        let redirect_reply = t("198.51.100.1", 8080, "192.0.2.61", 7001);
        let flows = from_conntrack(
            &[
                entry(inbound, inbound.reversed(), 0, CtTcpState::SynRecv),
                entry(outbound, outbound.reversed(), 0, CtTcpState::Established),
                entry(routed, routed.reversed(), 0, CtTcpState::TimeWait),
                entry(forward, forward_reply, IPS_DST_NAT, CtTcpState::Established),
                entry(
                    redirect,
                    redirect_reply,
                    IPS_DST_NAT,
                    CtTcpState::Established,
                ),
                Conntrack::default(),
            ],
            &local,
        );
        let got: Vec<_> = flows
            .iter()
            .map(|f| (f.direction, f.remote.to_string(), f.state, f.nat))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Direction::Incoming,
                    "192.0.2.7:5000".into(),
                    State::SynRecv,
                    false
                ),
                (
                    Direction::Outgoing,
                    "203.0.113.5:443".into(),
                    State::Established,
                    false
                ),
                (
                    Direction::Forwarded,
                    "192.0.2.50:6000".into(),
                    State::TimeWait,
                    false
                ),
                (
                    Direction::Forwarded,
                    "192.0.2.60:7000".into(),
                    State::Established,
                    true
                ),
                (
                    Direction::Incoming,
                    "192.0.2.61:7001".into(),
                    State::Established,
                    true
                ),
            ]
        );
    }
}
