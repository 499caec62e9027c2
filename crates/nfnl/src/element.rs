//! What the client puts into sets: tables, set names and elements (addresses, prefixes,
//! ranges), and how an element becomes kernel keys.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rampart_prefix::{AddrRange, Prefix};

/// A netfilter family (`NFPROTO_*`), the `nfgen_family` of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// `inet` (`NFPROTO_INET`, 1): IPv4 and IPv6, where rampart's tables live.
    Inet,
    /// `ip` (`NFPROTO_IPV4`, 2).
    Ip,
    /// `ip6` (`NFPROTO_IPV6`, 10).
    Ip6,
    /// Any other family number (arp 3, netdev 5, bridge 7).
    Other(u8),
}

impl Family {
    /// The `NFPROTO_*` number.
    pub fn number(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Ip6 => 10,
            Family::Other(n) => n,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Family::Inet => f.write_str("inet"),
            Family::Ip => f.write_str("ip"),
            Family::Ip6 => f.write_str("ip6"),
            Family::Other(n) => write!(f, "family-{n}"),
        }
    }
}

/// A named set in a table: `inet rampart blocklist`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetRef {
    /// The table's family.
    pub family: Family,
    /// The table's name.
    pub table: String,
    /// The set's name.
    pub name: String,
}

impl SetRef {
    /// A set in an `inet` table.
    pub fn inet(table: &str, name: &str) -> SetRef {
        SetRef {
            family: Family::Inet,
            table: table.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for SetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.family, self.table, self.name)
    }
}

/// One element as the caller means it.
///
/// A plain set (`type ipv4_addr`) takes host prefixes only (`192.0.2.1`, which is
/// `192.0.2.1/32`). An interval set (`flags interval`) takes any prefix or range; each
/// becomes the kernel's `[start, end)` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Element {
    /// An address (host prefix) or a network.
    Prefix(Prefix),
    /// The addresses `start..end`; `end` is exclusive, `None` means "to the last address of
    /// the family" (which has no successor to name).
    Range {
        /// First address.
        start: IpAddr,
        /// First address after the range, or `None` for the top of the address space.
        end: Option<IpAddr>,
    },
}

impl From<Prefix> for Element {
    fn from(p: Prefix) -> Element {
        Element::Prefix(p)
    }
}

impl From<IpAddr> for Element {
    fn from(a: IpAddr) -> Element {
        Element::Prefix(Prefix::host(a))
    }
}

/// An inclusive range becomes one interval (a prefix when it is exactly one): in an
/// interval set that is two kernel keys however many CIDRs the range spans.
impl From<AddrRange> for Element {
    fn from(r: AddrRange) -> Element {
        let (start, v4) = to_bits(r.start());
        let (last, _) = to_bits(r.end());
        let end = last.checked_add(1).filter(|e| *e <= max_bits(v4));
        Element::from_bounds(start, end, v4)
    }
}

/// An address as a number, and whether it is IPv4.
fn to_bits(a: IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
        IpAddr::V6(v6) => (u128::from(v6), false),
    }
}

fn from_bits(bits: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

fn max_bits(v4: bool) -> u128 {
    if v4 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    }
}

impl Element {
    /// Whether the element is IPv4.
    pub fn is_ipv4(&self) -> bool {
        match self {
            Element::Prefix(p) => p.is_ipv4(),
            Element::Range { start, .. } => start.is_ipv4(),
        }
    }

    /// The addresses it covers, as an inclusive range.
    pub fn range(&self) -> AddrRange {
        match self {
            Element::Prefix(p) => p.range(),
            Element::Range { start, end } => {
                let (s, v4) = to_bits(*start);
                let last = end.map_or(max_bits(v4), |e| to_bits(e).0 - 1);
                AddrRange::new(*start, from_bits(last.max(s), v4)).expect("start <= last")
            }
        }
    }

    /// The CIDR of the element that holds `ip` (an interval the kernel returns spans
    /// one or more CIDRs; a list stores them as CIDRs), or `None` when it does not hold it.
    pub fn covering_prefix(&self, ip: IpAddr) -> Option<Prefix> {
        let r = self.range();
        if !r.contains(ip) {
            return None;
        }
        r.to_prefixes().into_iter().find(|p| p.contains(ip))
    }

    /// Whether the element is one address.
    pub fn is_single(&self) -> bool {
        match self {
            Element::Prefix(p) => p.is_host(),
            Element::Range { start, end } => {
                let (s, v4) = to_bits(*start);
                match end {
                    Some(e) => to_bits(*e).0 == s + 1,
                    None => s == max_bits(v4),
                }
            }
        }
    }

    /// `[start, end)` as numbers (`end` `None` at the top), or `None` for an empty or
    /// mixed-family range.
    pub(crate) fn bounds(&self) -> Option<(u128, Option<u128>, bool)> {
        match self {
            Element::Prefix(p) => {
                let (s, v4) = to_bits(p.addr());
                let host_bits = u32::from(if v4 { 32 } else { 128 } - p.len());
                let size = 1u128.checked_shl(host_bits);
                let end = size
                    .and_then(|n| s.checked_add(n))
                    .filter(|e| *e <= max_bits(v4));
                Some((s, end, v4))
            }
            Element::Range { start, end } => {
                let (s, v4) = to_bits(*start);
                match end {
                    None => Some((s, None, v4)),
                    Some(e) => {
                        let (e, ev4) = to_bits(*e);
                        (ev4 == v4 && e > s).then_some((s, Some(e), v4))
                    }
                }
            }
        }
    }

    /// The element for `[start, end)`: a prefix when the range is exactly one.
    pub(crate) fn from_bounds(start: u128, end: Option<u128>, v4: bool) -> Element {
        let size = match end {
            Some(e) => e.wrapping_sub(start),
            None => (max_bits(v4) - start).wrapping_add(1), // 0 for the whole v6 space
        };
        let width = if v4 { 32 } else { 128 };
        let aligned = if size == 0 {
            start == 0 && !v4
        } else {
            size.is_power_of_two() && start % size == 0
        };
        if aligned {
            let len = if size == 0 {
                0
            } else {
                width - size.trailing_zeros() as u8
            };
            if let Some(p) = Prefix::new(from_bits(start, v4), len) {
                return Element::Prefix(p);
            }
        }
        Element::Range {
            start: from_bits(start, v4),
            end: end.map(|e| from_bits(e, v4)),
        }
    }
}

/// The number in a 4- or 16-byte key.
pub(crate) fn key_bits(key: &[u8]) -> Option<(u128, bool)> {
    match key.len() {
        4 => Some((u128::from(u32::from_be_bytes(key.try_into().ok()?)), true)),
        16 => Some((u128::from_be_bytes(key.try_into().ok()?), false)),
        _ => None,
    }
}

impl fmt::Display for Element {
    /// nft's spelling: `192.0.2.1`, `192.0.2.0/24`, `192.0.2.10-192.0.2.20` (inclusive).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Prefix(p) if p.is_host() => write!(f, "{}", p.addr()),
            Element::Prefix(p) => write!(f, "{p}"),
            Element::Range { start, end } => {
                let (_, v4) = to_bits(*start);
                let last = match end {
                    Some(e) => from_bits(to_bits(*e).0.wrapping_sub(1), v4),
                    None => from_bits(max_bits(v4), v4),
                };
                write!(f, "{start}-{last}")
            }
        }
    }
}

/// An element as listed from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The address, prefix or range.
    pub element: Element,
    /// The timeout it was added with.
    pub timeout: Option<Duration>,
    /// Time left before the kernel removes it.
    pub expires: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Element {
        Element::Prefix(s.parse().unwrap())
    }

    #[test]
    fn ranges_become_one_interval_or_their_prefix() {
        let r = |a: &str, b: &str| {
            Element::from(AddrRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap())
        };
        assert_eq!(r("192.0.2.0", "192.0.2.255"), p("192.0.2.0/24"));
        assert_eq!(r("255.255.255.0", "255.255.255.255"), p("255.255.255.0/24"));
        assert_eq!(r("0.0.0.0", "255.255.255.255"), p("0.0.0.0/0"));
        assert_eq!(
            r("192.0.2.10", "192.0.2.20").bounds(),
            Some((0xc000_020a, Some(0xc000_0215), true))
        );
        assert_eq!(r("2001:db8::", "2001:db8::1").to_string(), "2001:db8::/127");
    }

    #[test]
    fn bounds_of_prefixes_and_the_top() {
        assert_eq!(
            p("192.0.2.0/24").bounds(),
            Some((0xc000_0200, Some(0xc000_0300), true))
        );
        assert_eq!(
            p("255.255.255.0/24").bounds(),
            Some((0xffff_ff00, None, true))
        );
        assert_eq!(p("0.0.0.0/0").bounds(), Some((0, None, true)));
        assert_eq!(p("::/0").bounds(), Some((0, None, false)));
    }

    #[test]
    fn from_bounds_gives_prefixes_when_aligned() {
        for text in [
            "192.0.2.0/24",
            "192.0.2.1/32",
            "2001:db8::/32",
            "255.255.255.0/24",
            "::/0",
        ] {
            let (s, e, v4) = p(text).bounds().unwrap();
            assert_eq!(Element::from_bounds(s, e, v4), p(text), "{text}");
        }
        let r = Element::from_bounds(0xc000_020a, Some(0xc000_0215), true);
        assert_eq!(r.to_string(), "192.0.2.10-192.0.2.20");
    }

    #[test]
    fn display_matches_nft() {
        assert_eq!(p("192.0.2.1/32").to_string(), "192.0.2.1");
        assert_eq!(p("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(
            SetRef::inet("rampart", "blocklist").to_string(),
            "inet rampart blocklist"
        );
    }
}
