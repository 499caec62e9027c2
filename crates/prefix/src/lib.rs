//! IP prefixes and address ranges, the address vocabulary every other rampart crate speaks.
//!
//! Central types:
//! - [`Prefix`]: an IPv4 or IPv6 network (`192.0.2.0/24`), always stored with its host bits
//!   zeroed, as the kernel and `iptables-save` print it;
//! - [`AddrRange`]: an inclusive range of addresses (`192.0.2.10-192.0.2.20`), as used by
//!   the iptables `iprange` match and by NAT targets.
//!
//! ```
//! use rampart_prefix::Prefix;
//! let lan: Prefix = "192.0.2.77/24".parse().unwrap();
//! assert_eq!(lan.to_string(), "192.0.2.0/24");
//! assert!(lan.contains("192.0.2.200".parse().unwrap()));
//! ```
//!
//! - [`PrefixSet`]: a set of addresses of both families with set algebra (union,
//!   intersection, difference for allow exceptions) and minimal CIDR output
//!   ([`aggregate`], [`AddrRange::to_prefixes`]);
//! - [`PrefixMap`]: a longest-prefix-match table from prefixes or ranges to values, built
//!   with [`PrefixMapBuilder`], for GeoIP lookups at tens of millions of addresses a second.
//!
//! ```
//! use rampart_prefix::{AddrRange, Prefix, PrefixSet};
//! let range: AddrRange = "192.0.2.1-192.0.2.6".parse().unwrap();
//! let cidrs: Vec<String> = range.to_prefixes().iter().map(|p| p.to_string()).collect();
//! assert_eq!(cidrs, ["192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"]);
//! let set: PrefixSet = range.to_prefixes().into_iter().collect();
//! assert_eq!(set.prefix_count(), 4);
//! assert_eq!(set.v4_addresses(), 6);
//! ```
//!
//! IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are kept as IPv6 by default: netfilter
//! keeps the families apart, so a mapped address never matches an IPv4 rule. Each API says
//! what it does; the ones that fold mapped addresses into IPv4 do so only when asked:
//! [`unmap_addr`], [`Prefix::unmapped`], [`PrefixSet::unmapped`] and
//! [`PrefixMap::get_unmapped`].
#![forbid(unsafe_code)]

mod intervals;
mod map;
mod set;
mod word;

pub use map::{PrefixMap, PrefixMapBuilder};
pub use set::{aggregate, PrefixSet};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a prefix, address or range could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The text is not an IPv4 or IPv6 address.
    #[error("`{0}` is not an IP address (rampart does not resolve host names: write the address)")]
    BadAddress(String),
    /// The prefix length is not a number within the family's width.
    #[error("`{text}` has a bad prefix length: IPv{family} allows 0 to {max}")]
    BadLength {
        /// The whole prefix text.
        text: String,
        /// 4 or 6.
        family: u8,
        /// 32 or 128.
        max: u8,
    },
    /// A dotted netmask that is not a contiguous run of one bits.
    #[error("`{0}` is not a contiguous netmask (write a prefix length such as /24)")]
    BadNetmask(String),
    /// A range whose two ends differ in family or whose start lies after its end.
    #[error("`{0}` is not a range: both ends must be the same family and start <= end")]
    BadRange(String),
}

/// An IP network: an address with its host bits zeroed and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// Builds a prefix, zeroing the host bits; `None` when `len` exceeds the family width.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        if len > width(addr) {
            return None;
        }
        Some(Prefix {
            addr: mask_addr(addr, len),
            len,
        })
    }

    /// The single-address prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: width(addr),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for `0.0.0.0/0` and `::/0`, which match every address of the family.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the prefix is a single address.
    pub fn is_host(&self) -> bool {
        self.len == width(self.addr)
    }

    /// True for IPv4 prefixes.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Whether `ip` lies inside this prefix; addresses of the other family never do.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask_addr(ip, self.len) == self.addr
            }
            _ => false,
        }
    }

    /// The last address of the prefix (the broadcast address of an IPv4 network).
    pub fn last(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | !mask_bits32(self.len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) | !mask_bits128(self.len))),
        }
    }

    /// The prefix as a range of addresses.
    pub fn range(&self) -> AddrRange {
        AddrRange {
            start: self.addr,
            end: self.last(),
        }
    }

    /// An IPv6 prefix inside `::ffff:0:0/96` as the IPv4 prefix it maps
    /// (`::ffff:192.0.2.0/120` → `192.0.2.0/24`); any other prefix unchanged.
    pub fn unmapped(&self) -> Prefix {
        match self.addr {
            IpAddr::V6(a) if self.len >= 96 => match a.to_ipv4_mapped() {
                Some(v4) => Prefix {
                    addr: IpAddr::V4(v4),
                    len: self.len - 96,
                },
                None => *self,
            },
            _ => *self,
        }
    }

    /// The netmask as an address (`255.255.255.0` for a /24).
    pub fn netmask(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(mask_bits32(self.len))),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(mask_bits128(self.len))),
        }
    }
}

/// Number of bits in an address of `addr`'s family.
pub fn width(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_bits32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask_bits128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

fn mask_addr(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_bits32(len))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_bits128(len))),
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; any other address unchanged.
pub fn unmap_addr(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Parses an address, rejecting host names with a hint.
pub fn parse_addr(text: &str) -> Result<IpAddr, PrefixError> {
    text.parse()
        .map_err(|_| PrefixError::BadAddress(text.to_string()))
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Accepts `ADDR`, `ADDR/LEN` and, for IPv4, `ADDR/NETMASK` (as iptables does).
    fn from_str(text: &str) -> Result<Prefix, PrefixError> {
        let Some((addr, len)) = text.split_once('/') else {
            return Ok(Prefix::host(parse_addr(text)?));
        };
        let addr = parse_addr(addr)?;
        let max = width(addr);
        let bad_len = || PrefixError::BadLength {
            text: text.to_string(),
            family: if addr.is_ipv4() { 4 } else { 6 },
            max,
        };
        let len = if addr.is_ipv4() && len.contains('.') {
            let mask: Ipv4Addr = len.parse().map_err(|_| bad_len())?;
            let bits = u32::from(mask);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(PrefixError::BadNetmask(text.to_string()));
            }
            bits.leading_ones() as u8
        } else {
            len.parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(bad_len)?
        };
        Ok(Prefix::new(addr, len).expect("length checked above"))
    }
}

impl fmt::Display for Prefix {
    /// Prints a host prefix as `ADDR/32` (`/128`), as `iptables-save` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl From<Prefix> for String {
    fn from(p: Prefix) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Prefix {
    type Error = PrefixError;
    fn try_from(s: String) -> Result<Prefix, PrefixError> {
        s.parse()
    }
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct AddrRange {
    start: IpAddr,
    end: IpAddr,
}

impl AddrRange {
    /// A range from `start` to `end` inclusive; `None` when the families differ or start > end.
    pub fn new(start: IpAddr, end: IpAddr) -> Option<AddrRange> {
        let same_family = start.is_ipv4() == end.is_ipv4();
        (same_family && start <= end).then_some(AddrRange { start, end })
    }

    /// First address.
    pub fn start(&self) -> IpAddr {
        self.start
    }

    /// Last address.
    pub fn end(&self) -> IpAddr {
        self.end
    }

    /// The minimal list of CIDRs covering exactly the range, ascending.
    pub fn to_prefixes(&self) -> Vec<Prefix> {
        let mut out = Vec::new();
        match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                word::range_blocks(u32::from(s), u32::from(e), |a, len| {
                    out.push(Prefix::new(IpAddr::V4(Ipv4Addr::from(a)), len).expect("len <= 32"))
                })
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => {
                word::range_blocks(u128::from(s), u128::from(e), |a, len| {
                    out.push(Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), len).expect("len <= 128"))
                })
            }
            _ => unreachable!("AddrRange ends share a family"),
        }
        out
    }

    /// A range inside `::ffff:0:0/96` as the IPv4 range it maps; any other range unchanged.
    pub fn unmapped(&self) -> AddrRange {
        match (unmap_addr(self.start), unmap_addr(self.end)) {
            (s @ IpAddr::V4(_), e @ IpAddr::V4(_)) => AddrRange { start: s, end: e },
            _ => *self,
        }
    }

    /// The number of addresses, saturating at `u128::MAX` (only for all of IPv6).
    pub fn address_count(&self) -> u128 {
        match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => u128::from(u32::from(e) - u32::from(s)) + 1,
            (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(e) - u128::from(s)).saturating_add(1),
            _ => unreachable!("AddrRange ends share a family"),
        }
    }

    /// Whether `ip` lies within the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.start.is_ipv4() && self.start <= ip && ip <= self.end
    }
}

impl FromStr for AddrRange {
    type Err = PrefixError;

    /// Accepts `START-END` or a single address.
    fn from_str(text: &str) -> Result<AddrRange, PrefixError> {
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let (a, b) = (parse_addr(a)?, parse_addr(b)?);
        AddrRange::new(a, b).ok_or_else(|| PrefixError::BadRange(text.to_string()))
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl From<AddrRange> for String {
    fn from(r: AddrRange) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for AddrRange {
    type Error = PrefixError;
    fn try_from(s: String) -> Result<AddrRange, PrefixError> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_normalises() {
        let p: Prefix = "198.51.100.7/24".parse().unwrap();
        assert_eq!(p.to_string(), "198.51.100.0/24");
        let p: Prefix = "203.0.113.9".parse().unwrap();
        assert_eq!(p.to_string(), "203.0.113.9/32");
        let p: Prefix = "192.0.2.0/255.255.255.128".parse().unwrap();
        assert_eq!(p.len(), 25);
        let p: Prefix = "2001:db8::1/32".parse().unwrap();
        assert_eq!(p.to_string(), "2001:db8::/32");
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        assert_eq!(
            "example.com".parse::<Prefix>().unwrap_err().to_string(),
            "`example.com` is not an IP address (rampart does not resolve host names: write the address)"
        );
        assert!(matches!(
            "192.0.2.0/33".parse::<Prefix>(),
            Err(PrefixError::BadLength { max: 32, .. })
        ));
        assert!(matches!(
            "192.0.2.0/255.0.255.0".parse::<Prefix>(),
            Err(PrefixError::BadNetmask(_))
        ));
        assert!("192.0.2.9-192.0.2.1".parse::<AddrRange>().is_err());
    }

    #[test]
    fn contains_respects_family() {
        let p: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(p.contains("192.0.2.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        let r: AddrRange = "192.0.2.10-192.0.2.20".parse().unwrap();
        assert!(r.contains("192.0.2.15".parse().unwrap()));
        assert!(!r.contains("192.0.2.21".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(a: u32, len in 0u8..=32) {
            let p = Prefix::new(IpAddr::V4(Ipv4Addr::from(a)), len).unwrap();
            prop_assert_eq!(p.to_string().parse::<Prefix>().unwrap(), p);
            prop_assert!(p.contains(IpAddr::V4(Ipv4Addr::from(a))));
        }

        #[test]
        fn v6_round_trip(a: u128, len in 0u8..=128) {
            let p = Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), len).unwrap();
            prop_assert_eq!(p.to_string().parse::<Prefix>().unwrap(), p);
        }
    }
}
