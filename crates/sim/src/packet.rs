//! The packet as the simulator sees it: the header fields rules can test, plus what the
//! caller knows about its context (arrival interface, conntrack state, time).
//!
//! Every optional field means "not given". A rule that tests a field the packet leaves
//! unset cannot be decided, and the walk forks (see [`crate::Trace`]) instead of guessing.

use std::fmt;
use std::net::IpAddr;

use rampart_ruleset::{CtStates, Family, MacAddr, PktType, Protocol, TcpFlags};
use serde::{Deserialize, Serialize};

use crate::exthdr::ExtHeader;

/// A conntrack state, as `-m state` / `-m conntrack --ctstate` see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CtState {
    /// First packet(s) of a connection: no reply seen yet.
    New,
    /// A reply has been seen for the connection.
    Established,
    /// Related to a known connection (ICMP errors, FTP data).
    Related,
    /// Not matching any valid connection.
    Invalid,
    /// Exempted from tracking by `NOTRACK` / `CT --notrack`.
    Untracked,
}

impl CtState {
    /// The bit of this state in [`CtStates`].
    pub fn bit(self) -> u8 {
        match self {
            CtState::New => CtStates::NEW,
            CtState::Established => CtStates::ESTABLISHED,
            CtState::Related => CtStates::RELATED,
            CtState::Invalid => CtStates::INVALID,
            CtState::Untracked => CtStates::UNTRACKED,
        }
    }

    /// The name as iptables prints it.
    pub fn name(self) -> &'static str {
        match self {
            CtState::New => "NEW",
            CtState::Established => "ESTABLISHED",
            CtState::Related => "RELATED",
            CtState::Invalid => "INVALID",
            CtState::Untracked => "UNTRACKED",
        }
    }
}

/// One packet to send through the simulated host.
///
/// The family is implied by the addresses (both must be of the same family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// IP protocol.
    pub protocol: Protocol,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (TCP, UDP, SCTP, ...).
    #[serde(default)]
    pub sport: Option<u16>,
    /// Destination port.
    #[serde(default)]
    pub dport: Option<u16>,
    /// Interface the packet arrives on; `None` for a locally generated packet, which takes
    /// the OUTPUT path.
    #[serde(default)]
    pub in_iface: Option<String>,
    /// TCP flags.
    #[serde(default)]
    pub tcp_flags: Option<TcpFlags>,
    /// ICMP / ICMPv6 type.
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP / ICMPv6 code.
    #[serde(default)]
    pub icmp_code: Option<u8>,
    /// ICMP / ICMPv6 echo identifier (the kernel's conntrack keys echo flows on it, so an
    /// echo reply answers only the request with the same id). `None` counts as
    /// [`Packet::DEFAULT_ECHO_ID`]: packets that do not say belong to one echo session, so
    /// a trace of a request and its reply still pairs them.
    #[serde(default)]
    pub echo_id: Option<u16>,
    /// Conntrack state forced by the caller; `None` lets the simulator's conntrack model
    /// decide from the flows it has seen.
    #[serde(default)]
    pub ct_state: Option<CtState>,
    /// Packet mark (nfmark) on arrival.
    #[serde(default)]
    pub mark: u32,
    /// IP total length in bytes.
    #[serde(default)]
    pub length: Option<u16>,
    /// True for a second or later fragment (what `-f` matches): it carries no ports.
    #[serde(default)]
    pub fragment: bool,
    /// Source MAC address of the arriving frame.
    #[serde(default)]
    pub mac_src: Option<MacAddr>,
    /// Arrival time in seconds on the simulation's own clock; rate limits and `recent`
    /// measure elapsed time between packets with it.
    #[serde(default)]
    pub time: f64,
    /// Wall-clock time (Unix seconds, UTC) at [`Packet::time`] 0, for `-m time`.
    #[serde(default)]
    pub clock: Option<i64>,
    /// The kernel's time-zone offset from UTC in minutes (`-m time --kerneltz`; 0 when
    /// not given, the kernel's usual setting).
    #[serde(default)]
    pub utc_offset_min: Option<i32>,
    /// Uid of the local socket sending the packet (`-m owner --uid-owner`).
    #[serde(default)]
    pub uid: Option<u32>,
    /// Gid of the local socket sending the packet (`-m owner --gid-owner`).
    #[serde(default)]
    pub gid: Option<u32>,
    /// Link-layer class (`-m pkttype`); when not given it follows the destination
    /// address (multicast, broadcast, else unicast), as the frame's address would.
    #[serde(default)]
    pub pkttype: Option<PktType>,
    /// The IPv4 TOS byte / IPv6 traffic class (`-m tos`; its top six bits for `-m dscp`).
    #[serde(default)]
    pub tos: Option<u8>,
    /// IPv4 TTL / IPv6 hop limit (`-m ttl`, `-m hl`).
    #[serde(default)]
    pub ttl: Option<u8>,
    /// The TCP MSS option of a SYN (`-m tcpmss`).
    #[serde(default)]
    pub mss: Option<u16>,
    /// Bytes of the payload, as text (`-m string`).
    #[serde(default)]
    pub payload: Option<String>,
    /// Whether the packet came in (or leaves) through IPsec (`-m policy`).
    #[serde(default)]
    pub ipsec: Option<bool>,
    /// Whether the packet crosses a bridge (`-m physdev`); implied by a bridge port.
    #[serde(default)]
    pub bridged: Option<bool>,
    /// The bridge port the packet came in by (`--physdev-in`).
    #[serde(default)]
    pub physdev_in: Option<String>,
    /// The bridge port the packet leaves by (`--physdev-out`).
    #[serde(default)]
    pub physdev_out: Option<String>,
    /// IPv6 extension headers, in packet order (`-m rt`, `frag`, `hbh`, `dst`,
    /// `ipv6header`, `srh`, `ah`). None unless given, as on a plain packet: a module
    /// looking for a header the packet lacks does not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_headers: Vec<ExtHeader>,
}

impl Packet {
    /// The echo id conntrack assumes for an ICMP packet that sets none.
    pub const DEFAULT_ECHO_ID: u16 = 0;

    /// A packet with only protocol and addresses set; every other field unknown.
    pub fn new(protocol: Protocol, src: IpAddr, dst: IpAddr) -> Packet {
        Packet {
            protocol,
            src,
            dst,
            sport: None,
            dport: None,
            in_iface: None,
            tcp_flags: None,
            icmp_type: None,
            icmp_code: None,
            echo_id: None,
            ct_state: None,
            mark: 0,
            length: None,
            fragment: false,
            mac_src: None,
            time: 0.0,
            clock: None,
            utc_offset_min: None,
            uid: None,
            gid: None,
            pkttype: None,
            tos: None,
            ttl: None,
            mss: None,
            payload: None,
            ipsec: None,
            bridged: None,
            physdev_in: None,
            physdev_out: None,
            ext_headers: Vec::new(),
        }
    }

    /// A TCP packet between two addresses and ports (flags unknown).
    ///
    /// # Panics
    /// When an address does not parse: this is a convenience for tests and examples.
    pub fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
        Packet::new(
            Protocol::TCP,
            src.parse().expect("source address"),
            dst.parse().expect("destination address"),
        )
        .ports(sport, dport)
    }

    /// A UDP packet between two addresses and ports.
    ///
    /// # Panics
    /// When an address does not parse.
    pub fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
        Packet::new(
            Protocol::UDP,
            src.parse().expect("source address"),
            dst.parse().expect("destination address"),
        )
        .ports(sport, dport)
    }

    /// Sets both ports.
    pub fn ports(mut self, sport: u16, dport: u16) -> Packet {
        self.sport = Some(sport);
        self.dport = Some(dport);
        self
    }

    /// Sets the arrival interface (the packet then takes the PREROUTING path).
    pub fn on(mut self, iface: &str) -> Packet {
        self.in_iface = Some(iface.to_string());
        self
    }

    /// Sets the TCP flags.
    pub fn flags(mut self, bits: u8) -> Packet {
        self.tcp_flags = Some(TcpFlags(bits));
        self
    }

    /// Marks the packet as a TCP SYN (connection opening).
    pub fn syn(self) -> Packet {
        self.flags(TcpFlags::SYN)
    }

    /// Sets the ICMP type, code and echo id (an echo request is type 8 / ICMPv6 128).
    pub fn icmp(mut self, ty: u8, code: u8, echo_id: u16) -> Packet {
        self.icmp_type = Some(ty);
        self.icmp_code = Some(code);
        self.echo_id = Some(echo_id);
        self
    }

    /// Sets the arrival time in seconds.
    pub fn at(mut self, time: f64) -> Packet {
        self.time = time;
        self
    }

    /// Forces the conntrack state instead of letting the model decide.
    pub fn state(mut self, state: CtState) -> Packet {
        self.ct_state = Some(state);
        self
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(self.src)
    }

    /// The packet time as whole microseconds: the simulator's clock tick.
    ///
    /// Negative and non-finite times count as 0 so a bad timestamp cannot poison the
    /// rate-limit arithmetic.
    pub(crate) fn time_us(&self) -> u64 {
        if self.time.is_finite() && self.time > 0.0 {
            (self.time * 1_000_000.0).round() as u64
        } else {
            0
        }
    }
}

/// A wall-clock time for [`Packet::clock`]: Unix seconds, or `YYYY-MM-DD[THH:MM[:SS]]`
/// read as UTC.
pub fn parse_clock(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let (day, time) = text.split_once(['T', ' ']).unwrap_or((text, "00:00"));
    let d: Vec<u32> = day
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<u32> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, dd], [hh, mm, rest @ ..]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    let ss = rest.first().copied().unwrap_or(0);
    if !(1..=12).contains(m) || !(1..=31).contains(dd) || *hh > 23 || *mm > 59 || ss > 59 {
        return None;
    }
    let days = rampart_ruleset::days_from_civil(i64::from(*y), *m, *dd);
    Some(days * 86_400 + i64::from(hh * 3600 + mm * 60 + ss))
}

/// One line for a trace header: `tcp 192.0.2.10:40000 → 198.51.100.7:80 [SYN] in eth0`.
/// Unset fields are left out; a locally generated packet says `local`.
impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |addr: IpAddr, port: Option<u16>| crate::trace::Endpoint { addr, port };
        write!(
            f,
            "{} {} → {}",
            self.protocol,
            end(self.src, self.sport),
            end(self.dst, self.dport)
        )?;
        if let Some(flags) = self.tcp_flags {
            let names: Vec<&str> = TcpFlags::NAMES
                .iter()
                .filter(|(_, b)| flags.0 & b != 0)
                .map(|(n, _)| *n)
                .collect();
            let names = if names.is_empty() {
                "NONE".to_string()
            } else {
                names.join(",")
            };
            write!(f, " [{names}]")?;
        }
        match (self.icmp_type, self.icmp_code) {
            (Some(t), Some(c)) => write!(f, " type {t}/{c}")?,
            (Some(t), None) => write!(f, " type {t}")?,
            _ => {}
        }
        if let Some(id) = self.echo_id {
            write!(f, " id {id}")?;
        }
        match &self.in_iface {
            Some(iface) => write!(f, " in {iface}")?,
            None => f.write_str(" local")?,
        }
        if let Some(state) = self.ct_state {
            write!(f, " state {}", state.name())?;
        }
        if self.mark != 0 {
            write!(f, " mark {:#x}", self.mark)?;
        }
        if let Some(len) = self.length {
            write!(f, " length {len}")?;
        }
        if self.fragment {
            f.write_str(" fragment")?;
        }
        if let Some(mac) = self.mac_src {
            write!(f, " mac {mac}")?;
        }
        if self.time != 0.0 {
            write!(f, " at {}s", self.time)?;
        }
        if let Some(uid) = self.uid {
            write!(f, " uid {uid}")?;
        }
        if let Some(gid) = self.gid {
            write!(f, " gid {gid}")?;
        }
        if let Some(t) = self.pkttype {
            write!(f, " {}", t.name())?;
        }
        if let Some(tos) = self.tos {
            write!(f, " tos {tos:#04x}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, " ttl {ttl}")?;
        }
        if let Some(mss) = self.mss {
            write!(f, " mss {mss}")?;
        }
        if let Some(port) = &self.physdev_in {
            write!(f, " bridge-in {port}")?;
        }
        if let Some(port) = &self.physdev_out {
            write!(f, " bridge-out {port}")?;
        }
        if !self.ext_headers.is_empty() {
            let names: Vec<String> = self.ext_headers.iter().map(ToString::to_string).collect();
            write!(f, " ext-headers {}", names.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_clock;

    #[test]
    fn clocks_read_as_utc() {
        assert_eq!(parse_clock("1704067200"), Some(1_704_067_200));
        assert_eq!(parse_clock("2024-01-01T00:00"), Some(1_704_067_200));
        assert_eq!(
            parse_clock("2024-01-01 09:30:15"),
            Some(1_704_067_200 + 34_215)
        );
        assert_eq!(parse_clock("2024-01-01"), Some(1_704_067_200));
        assert_eq!(parse_clock("2024-13-01"), None);
        assert_eq!(parse_clock("noon"), None);
    }
}
