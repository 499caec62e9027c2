//! The header space: dimensions, interval sets over them, and cubes (one interval set per
//! dimension).
//!
//! Every field a rule can test exactly is a dimension over a range of integers: addresses
//! as `u128` (IPv4 in the low 32 bits), ports, protocol, TCP flags, ICMP type/code,
//! length, mark, fragment flag, conntrack state, interfaces (as indices into the
//! [`Universe`]'s names) and one yes/no dimension per set looked up as an address class.

use std::fmt;

/// An inclusive interval of a dimension.
pub type Interval = (u128, u128);

/// A set of values of one dimension: sorted, disjoint, non-adjacent inclusive intervals.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ranges(pub Vec<Interval>);

impl Ranges {
    /// The empty set.
    pub fn empty() -> Ranges {
        Ranges(Vec::new())
    }

    /// `lo..=hi`.
    pub fn span(lo: u128, hi: u128) -> Ranges {
        Ranges(vec![(lo, hi)])
    }

    /// One value.
    pub fn one(v: u128) -> Ranges {
        Ranges::span(v, v)
    }

    /// The set made of `parts` (any order, overlaps allowed).
    pub fn from_parts(mut parts: Vec<Interval>) -> Ranges {
        parts.sort_unstable();
        let mut out: Vec<Interval> = Vec::with_capacity(parts.len());
        for (lo, hi) in parts {
            if lo > hi {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ranges(out)
    }

    /// True when no value is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `v` is in the set.
    pub fn contains(&self, v: u128) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < v);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= v)
    }

    /// The values in both.
    pub fn intersect(&self, other: &Ranges) -> Ranges {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < a.len() && j < b.len() {
            let lo = a[i].0.max(b[j].0);
            let hi = a[i].1.min(b[j].1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ranges(out)
    }

    /// The values of `0..=max` not in the set.
    pub fn complement(&self, max: u128) -> Ranges {
        let mut out = Vec::new();
        let mut next = Some(0u128);
        for &(lo, hi) in &self.0 {
            if let Some(n) = next {
                if lo > n {
                    out.push((n, lo - 1));
                }
            }
            next = hi.checked_add(1);
        }
        if let Some(n) = next {
            if n <= max {
                out.push((n, max));
            }
        }
        Ranges(out)
    }

    /// The values in either.
    pub fn union(&self, other: &Ranges) -> Ranges {
        let mut parts = self.0.clone();
        parts.extend_from_slice(&other.0);
        Ranges::from_parts(parts)
    }

    /// Whether every value of `self` is in `other`.
    pub fn is_subset(&self, other: &Ranges) -> bool {
        self.intersect(other) == *self
    }

    /// The smallest value.
    pub fn first(&self) -> Option<u128> {
        self.0.first().map(|r| r.0)
    }
}

/// The fields rules test, in the order the partition splits them. The destination address
/// and port come last so that a DNAT rewrite can be re-matched against the rules that
/// match on everything else (see `partition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// IP protocol number.
    Proto,
    /// Conntrack state (see [`CT_NAMES`]).
    Ct,
    /// Input interface, as an index into [`Universe::ifaces`].
    InIface,
    /// Output interface.
    OutIface,
    /// 1 for a second or later fragment.
    Fragment,
    /// TCP flags byte.
    TcpFlags,
    /// ICMP type * 256 + code.
    Icmp,
    /// IP total length.
    Length,
    /// Packet mark on arrival.
    Mark,
    /// Source address.
    Src,
    /// Source port.
    Sport,
    /// Membership of the packet's address in a set (index into [`Universe::classes`]).
    Member(u16),
    /// Destination address.
    Dst,
    /// Destination port.
    Dport,
}

/// Conntrack states in [`Dim::Ct`] order.
pub const CT_NAMES: [&str; 5] = ["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"];
/// The [`Dim::Ct`] value of NEW.
pub const CT_NEW: u128 = 0;

/// What the dimensions range over for one analysis: the interface names the rules mention
/// and the sets looked up as address classes.
#[derive(Debug, Clone, Default)]
pub struct Universe {
    /// Representative interface names: each literal name, each wildcard stem followed by
    /// `\u{1}` (a name that only the wildcards with that stem or shorter match), and `*`
    /// (any other name). Every real name behaves as exactly one of them.
    pub ifaces: Vec<String>,
    /// Sets whose members are not expanded into addresses (timeouts: bans that change at
    /// run time; address-and-port sets; sets not defined in the input), by name and the
    /// directions looked up.
    pub classes: Vec<(String, Vec<rampart_ruleset::SetDir>)>,
    /// True for IPv6 analyses (address width 128).
    pub ipv6: bool,
}

impl Universe {
    /// The dimensions in partition order.
    pub fn dims(&self) -> Vec<Dim> {
        let mut d = vec![
            Dim::Proto,
            Dim::Ct,
            Dim::InIface,
            Dim::OutIface,
            Dim::Fragment,
            Dim::TcpFlags,
            Dim::Icmp,
            Dim::Length,
            Dim::Mark,
            Dim::Src,
            Dim::Sport,
        ];
        d.extend((0..self.classes.len()).map(|i| Dim::Member(i as u16)));
        d.extend([Dim::Dst, Dim::Dport]);
        d
    }

    /// The largest value of a dimension.
    pub fn max(&self, dim: Dim) -> u128 {
        match dim {
            Dim::Proto | Dim::TcpFlags => 255,
            Dim::Ct => CT_NAMES.len() as u128 - 1,
            Dim::InIface | Dim::OutIface => self.ifaces.len().max(1) as u128 - 1,
            Dim::Fragment | Dim::Member(_) => 1,
            Dim::Icmp | Dim::Length | Dim::Sport | Dim::Dport => 65535,
            Dim::Mark => u128::from(u32::MAX),
            Dim::Src | Dim::Dst => {
                if self.ipv6 {
                    u128::MAX
                } else {
                    u128::from(u32::MAX)
                }
            }
        }
    }

    /// The whole dimension.
    pub fn full(&self, dim: Dim) -> Ranges {
        Ranges::span(0, self.max(dim))
    }

    /// Adds the interface names `names` mentions (literals and `+` wildcards).
    pub fn add_iface_names<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        for n in names {
            let rep = match n.strip_suffix('+') {
                Some(stem) => format!("{stem}\u{1}"),
                None => n.to_string(),
            };
            if !self.ifaces.contains(&rep) {
                self.ifaces.push(rep);
            }
        }
        if !self.ifaces.iter().any(|n| n == "*") {
            self.ifaces.push("*".into());
        }
    }

    /// The representatives an interface match (`eth0`, `eth+`) covers.
    pub fn iface_ranges(&self, pattern: &str) -> Ranges {
        let m = rampart_ruleset::Interface(pattern.to_string());
        Ranges::from_parts(
            self.ifaces
                .iter()
                .enumerate()
                .filter(|(_, rep)| *rep != "*" && m.matches(rep))
                .map(|(i, _)| (i as u128, i as u128))
                .collect(),
        )
    }

    /// The index of a set class, added when new.
    pub fn class(&mut self, name: &str, dirs: &[rampart_ruleset::SetDir]) -> u16 {
        if let Some(i) = self
            .classes
            .iter()
            .position(|(n, d)| n == name && d == dirs)
        {
            return i as u16;
        }
        self.classes.push((name.to_string(), dirs.to_vec()));
        (self.classes.len() - 1) as u16
    }

    /// An interface representative as people read it.
    pub fn iface_name(&self, i: u128) -> String {
        match self.ifaces.get(i as usize).map(String::as_str) {
            Some("*") | None => "any other interface".into(),
            Some(n) => match n.strip_suffix('\u{1}') {
                Some(stem) => format!("{stem}+ (other)"),
                None => n.to_string(),
            },
        }
    }
}

/// A product of per-dimension sets: `None` for a dimension not constrained.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Cube(pub Vec<(Dim, Ranges)>);

impl Cube {
    /// Constrains `dim` to `r` (intersecting with what is there).
    pub fn and(&mut self, dim: Dim, r: Ranges) {
        match self.0.iter_mut().find(|(d, _)| *d == dim) {
            Some((_, have)) => *have = have.intersect(&r),
            None => {
                self.0.push((dim, r));
                self.0.sort_by_key(|(d, _)| *d);
            }
        }
    }

    /// The set of `dim`, `None` when not constrained.
    pub fn get(&self, dim: Dim) -> Option<&Ranges> {
        self.0.iter().find(|(d, _)| *d == dim).map(|(_, r)| r)
    }

    /// True when no packet is in the cube.
    pub fn is_empty(&self) -> bool {
        self.0.iter().any(|(_, r)| r.is_empty())
    }

    /// The conjunction of two cubes.
    pub fn meet(&self, other: &Cube) -> Cube {
        let mut c = self.clone();
        for (d, r) in &other.0 {
            c.and(*d, r.clone());
        }
        c
    }

    /// Whether every packet of `self` is in `other`.
    pub fn is_subset(&self, other: &Cube, u: &Universe) -> bool {
        other
            .0
            .iter()
            .all(|(d, r)| self.get(*d).unwrap_or(&u.full(*d)).is_subset(r))
    }

    /// Whether some packet is in both.
    pub fn overlaps(&self, other: &Cube) -> bool {
        !self.meet(other).is_empty()
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// One concrete packet as a point of the header space (for checking a class against a
/// packet, as the tests do against the simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// IP protocol.
    pub proto: u8,
    /// Source address.
    pub src: std::net::IpAddr,
    /// Destination address.
    pub dst: std::net::IpAddr,
    /// Source port (0 when the protocol has none).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Conntrack state, an index into [`CT_NAMES`].
    pub ct: u8,
    /// Arrival interface.
    pub in_iface: Option<String>,
    /// Leaving interface.
    pub out_iface: Option<String>,
    /// TCP flags byte.
    pub tcp_flags: u8,
    /// ICMP type and code.
    pub icmp: (u8, u8),
    /// IP total length.
    pub length: u16,
    /// Mark on arrival.
    pub mark: u32,
    /// Second or later fragment.
    pub fragment: bool,
    /// The set classes the packet's addresses are in, by set name.
    pub members: Vec<String>,
}

impl Universe {
    /// The representative that an interface called `name` behaves as.
    pub fn iface_index(&self, name: Option<&str>) -> u128 {
        let other = self.ifaces.iter().position(|n| n == "*").unwrap_or(0) as u128;
        let Some(name) = name else { return other };
        if let Some(i) = self.ifaces.iter().position(|n| n == name) {
            return i as u128;
        }
        self.ifaces
            .iter()
            .enumerate()
            .filter_map(|(i, rep)| rep.strip_suffix('\u{1}').map(|stem| (i, stem)))
            .filter(|(_, stem)| name.starts_with(stem))
            .max_by_key(|(_, stem)| stem.len())
            .map_or(other, |(i, _)| i as u128)
    }

    /// The point's coordinates in [`Universe::dims`] order.
    pub fn coords(&self, p: &Point) -> Vec<u128> {
        let addr = |a: std::net::IpAddr| match a {
            std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
            std::net::IpAddr::V6(a) => u128::from(a),
        };
        self.dims()
            .iter()
            .map(|d| match d {
                Dim::Proto => u128::from(p.proto),
                Dim::Ct => u128::from(p.ct),
                Dim::InIface => self.iface_index(p.in_iface.as_deref()),
                Dim::OutIface => self.iface_index(p.out_iface.as_deref()),
                Dim::Fragment => u128::from(p.fragment),
                Dim::TcpFlags => u128::from(p.tcp_flags),
                Dim::Icmp => (u128::from(p.icmp.0) << 8) | u128::from(p.icmp.1),
                Dim::Length => u128::from(p.length),
                Dim::Mark => u128::from(p.mark),
                Dim::Src => addr(p.src),
                Dim::Sport => u128::from(p.sport),
                Dim::Member(i) => u128::from(p.members.contains(&self.classes[*i as usize].0)),
                Dim::Dst => addr(p.dst),
                Dim::Dport => u128::from(p.dport),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_algebra() {
        let a = Ranges::from_parts(vec![(5, 10), (1, 2), (11, 12), (20, 30)]);
        assert_eq!(a.0, vec![(1, 2), (5, 12), (20, 30)]);
        assert_eq!(a.complement(40).0, vec![(0, 0), (3, 4), (13, 19), (31, 40)]);
        assert_eq!(
            a.intersect(&Ranges::span(10, 25)).0,
            vec![(10, 12), (20, 25)]
        );
        assert!(a.contains(7) && !a.contains(15) && a.contains(30));
        assert!(Ranges::span(6, 8).is_subset(&a));
        let full = Ranges::span(0, u128::MAX);
        assert!(full.complement(u128::MAX).is_empty());
        assert_eq!(Ranges::empty().complement(u128::MAX), full);
        assert_eq!(Ranges::from_parts(vec![(0, u128::MAX), (3, 4)]), full);
    }
}
