//! [`PrefixSet`]: a set of addresses of both families, kept as sorted disjoint ranges.

use std::net::IpAddr;

use crate::intervals;
use crate::word::{range_blocks, Word};
use crate::{AddrRange, Prefix};

/// A set of IPv4 and IPv6 addresses, with set algebra and minimal CIDR output.
///
/// Internally each family is a sorted list of disjoint, non-adjacent inclusive ranges, so
/// two sets holding the same addresses are equal whatever prefixes built them, every
/// operation is linear in the sizes of its operands, and [`PrefixSet::prefixes`] is the
/// aggregated list: adjacent and overlapping prefixes merged, the minimal number of CIDRs
/// covering exactly the set.
///
/// Families are kept apart: `::ffff:192.0.2.1` is an IPv6 address here, as it is to
/// netfilter. Call [`PrefixSet::unmapped`] to fold the IPv4-mapped block into IPv4.
///
/// ```
/// use rampart_prefix::{Prefix, PrefixSet};
/// let p = |s: &str| s.parse::<Prefix>().unwrap();
/// let block: PrefixSet = [p("192.0.2.0/25"), p("192.0.2.128/25"), p("192.0.2.7")].into_iter().collect();
/// assert_eq!(block.prefixes(), vec![p("192.0.2.0/24")]);
/// let allow: PrefixSet = [p("192.0.2.64/26")].into_iter().collect();
/// let effective = block.difference(&allow);
/// assert_eq!(effective.prefixes(), vec![p("192.0.2.0/26"), p("192.0.2.128/25")]);
/// assert_eq!(effective.v4_addresses(), 192);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PrefixSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// The first IPv4-mapped IPv6 address, `::ffff:0.0.0.0`.
const MAPPED_START: u128 = 0xffff_0000_0000;
/// The last IPv4-mapped IPv6 address, `::ffff:255.255.255.255`.
const MAPPED_END: u128 = 0xffff_ffff_ffff;

impl PrefixSet {
    /// The empty set.
    pub fn new() -> PrefixSet {
        PrefixSet::default()
    }

    /// Adds a prefix. Each call is linear in the set's size: to add many, use
    /// [`Extend`] or [`FromIterator`], which sort once.
    pub fn insert(&mut self, prefix: Prefix) {
        self.extend(std::iter::once(prefix));
    }

    /// Adds a range of addresses.
    pub fn insert_range(&mut self, range: AddrRange) {
        self.extend(std::iter::once(range));
    }

    /// Removes every address of `prefix` (an allow exception).
    pub fn remove(&mut self, prefix: Prefix) {
        *self = self.difference(&std::iter::once(prefix).collect());
    }

    /// Addresses in either set.
    pub fn union(&self, other: &PrefixSet) -> PrefixSet {
        PrefixSet {
            v4: intervals::union(&self.v4, &other.v4),
            v6: intervals::union(&self.v6, &other.v6),
        }
    }

    /// Addresses in both sets.
    pub fn intersection(&self, other: &PrefixSet) -> PrefixSet {
        PrefixSet {
            v4: intervals::intersection(&self.v4, &other.v4),
            v6: intervals::intersection(&self.v6, &other.v6),
        }
    }

    /// Addresses in `self` but not in `other`: a block list minus its allow exceptions.
    pub fn difference(&self, other: &PrefixSet) -> PrefixSet {
        PrefixSet {
            v4: intervals::difference(&self.v4, &other.v4),
            v6: intervals::difference(&self.v6, &other.v6),
        }
    }

    /// Whether `ip` is in the set (exact family: a mapped IPv6 address is not an IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => intervals::find(&self.v4, u32::from(a)).is_some(),
            IpAddr::V6(a) => intervals::find(&self.v6, u128::from(a)).is_some(),
        }
    }

    /// Whether every address of `prefix` is in the set.
    pub fn contains_prefix(&self, prefix: Prefix) -> bool {
        let (s, e) = bounds(prefix);
        match prefix.addr() {
            IpAddr::V4(_) => {
                intervals::find(&self.v4, s as u32).is_some_and(|i| self.v4[i].1 >= e as u32)
            }
            IpAddr::V6(_) => intervals::find(&self.v6, s).is_some_and(|i| self.v6[i].1 >= e),
        }
    }

    /// Whether any address of `prefix` is in the set (blocking a prefix that contains an
    /// allowlisted address, say).
    pub fn overlaps(&self, prefix: Prefix) -> bool {
        !self
            .intersection(&std::iter::once(prefix).collect())
            .is_empty()
    }

    /// True when the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The number of IPv4 addresses (at most 2^32).
    pub fn v4_addresses(&self) -> u64 {
        self.v4.iter().map(|&(s, e)| u64::from(e - s) + 1).sum()
    }

    /// The number of IPv6 addresses, saturating at `u128::MAX` (only when the set is all of
    /// `::/0`, which has one more).
    pub fn v6_addresses(&self) -> u128 {
        self.v6
            .iter()
            .fold(0u128, |n, &(s, e)| n.saturating_add(u128::span(s, e)))
    }

    /// The number of CIDRs in [`PrefixSet::prefixes`], counted without building the list.
    pub fn prefix_count(&self) -> usize {
        let mut n = 0;
        for &(s, e) in &self.v4 {
            range_blocks(s, e, |_, _| n += 1);
        }
        for &(s, e) in &self.v6 {
            range_blocks(s, e, |_, _| n += 1);
        }
        n
    }

    /// The number of maximal ranges (what an nftables interval set stores).
    pub fn range_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// The minimal CIDR list covering exactly the set: IPv4 first, each family ascending.
    pub fn prefixes(&self) -> Vec<Prefix> {
        let mut out = Vec::with_capacity(self.range_count());
        self.for_each_prefix(|p| out.push(p));
        out
    }

    /// Calls `f` for each prefix of [`PrefixSet::prefixes`] without collecting them.
    pub fn for_each_prefix(&self, mut f: impl FnMut(Prefix)) {
        for &(s, e) in &self.v4 {
            range_blocks(s, e, |a, len| {
                f(Prefix::new(a.to_ip(), len).expect("len <= 32"))
            });
        }
        for &(s, e) in &self.v6 {
            range_blocks(s, e, |a, len| {
                f(Prefix::new(a.to_ip(), len).expect("len <= 128"))
            });
        }
    }

    /// The maximal ranges, IPv4 first, ascending.
    pub fn ranges(&self) -> impl Iterator<Item = AddrRange> + '_ {
        let v4 = self.v4.iter().map(|&(s, e)| (s.to_ip(), e.to_ip()));
        let v6 = self.v6.iter().map(|&(s, e)| (s.to_ip(), e.to_ip()));
        v4.chain(v6)
            .map(|(s, e)| AddrRange::new(s, e).expect("canonical ranges are ordered"))
    }

    /// The same set with the IPv4-mapped block `::ffff:0:0/96` moved into IPv4
    /// (`::ffff:192.0.2.0/120` becomes `192.0.2.0/24`); other IPv6 addresses stay.
    pub fn unmapped(&self) -> PrefixSet {
        let mapped = [(MAPPED_START, MAPPED_END)];
        let moved: Vec<(u32, u32)> = intervals::intersection(&self.v6, &mapped)
            .into_iter()
            .map(|(s, e)| (s as u32, e as u32))
            .collect();
        PrefixSet {
            v4: intervals::union(&self.v4, &moved),
            v6: intervals::difference(&self.v6, &mapped),
        }
    }
}

/// First and last address of `p` as integers (IPv4 in the low 32 bits).
fn bounds(p: Prefix) -> (u128, u128) {
    match p.addr() {
        IpAddr::V4(a) => {
            let s = u32::from(a);
            (u128::from(s), u128::from(s.block_end(32 - p.len())))
        }
        IpAddr::V6(a) => {
            let s = u128::from(a);
            (s, s.block_end(128 - p.len()))
        }
    }
}

impl Extend<Prefix> for PrefixSet {
    fn extend<I: IntoIterator<Item = Prefix>>(&mut self, iter: I) {
        self.extend(iter.into_iter().map(|p| p.range()));
    }
}

impl Extend<AddrRange> for PrefixSet {
    fn extend<I: IntoIterator<Item = AddrRange>>(&mut self, iter: I) {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for r in iter {
            match (r.start(), r.end()) {
                (IpAddr::V4(s), IpAddr::V4(e)) => v4.push((u32::from(s), u32::from(e))),
                (IpAddr::V6(s), IpAddr::V6(e)) => v6.push((u128::from(s), u128::from(e))),
                _ => unreachable!("AddrRange ends share a family"),
            }
        }
        intervals::normalise(&mut v4);
        intervals::normalise(&mut v6);
        if self.v4.is_empty() {
            self.v4 = v4;
        } else if !v4.is_empty() {
            self.v4 = intervals::union(&self.v4, &v4);
        }
        if self.v6.is_empty() {
            self.v6 = v6;
        } else if !v6.is_empty() {
            self.v6 = intervals::union(&self.v6, &v6);
        }
    }
}

impl FromIterator<Prefix> for PrefixSet {
    fn from_iter<I: IntoIterator<Item = Prefix>>(iter: I) -> PrefixSet {
        let mut s = PrefixSet::new();
        s.extend(iter);
        s
    }
}

impl FromIterator<AddrRange> for PrefixSet {
    fn from_iter<I: IntoIterator<Item = AddrRange>>(iter: I) -> PrefixSet {
        let mut s = PrefixSet::new();
        s.extend(iter);
        s
    }
}

/// Aggregates prefixes: merges adjacent and overlapping ones into the minimal CIDR list
/// covering exactly the same addresses (IPv4 first, ascending). Families are kept apart.
///
/// ```
/// use rampart_prefix::{aggregate, Prefix};
/// let p = |s: &str| s.parse::<Prefix>().unwrap();
/// assert_eq!(
///     aggregate([p("10.0.0.0/24"), p("10.0.1.0/24"), p("10.0.0.5")]),
///     vec![p("10.0.0.0/23")]
/// );
/// ```
pub fn aggregate(prefixes: impl IntoIterator<Item = Prefix>) -> Vec<Prefix> {
    prefixes.into_iter().collect::<PrefixSet>().prefixes()
}
