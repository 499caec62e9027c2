//! Property tests against naive models on a universe of 64 addresses: a `u64` bitset per
//! set, a linear scan for longest-prefix match, and a trie recursion for the minimal CIDR
//! count. The universe sits at the bottom, the middle or the top of each family, so the
//! overflow edges (`0.0.0.0`, `255.255.255.255`, `ffff:...:ffff`) are exercised.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rampart_prefix::{aggregate, AddrRange, Prefix, PrefixMap, PrefixSet};

/// A 64-address universe: family and first address.
#[derive(Debug, Clone, Copy)]
struct Universe {
    v6: bool,
    base: u128,
}

impl Universe {
    fn ip(self, offset: u8) -> IpAddr {
        let a = self.base + u128::from(offset);
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            IpAddr::V4(Ipv4Addr::from(a as u32))
        }
    }
    fn width(self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }
    /// The prefix of `offset` with `host_bits` (0..=6) host bits.
    fn prefix(self, offset: u8, host_bits: u8) -> Prefix {
        Prefix::new(self.ip(offset), self.width() - host_bits).unwrap()
    }
    fn offset(self, ip: IpAddr) -> Option<u8> {
        let a = match ip {
            IpAddr::V4(a) if !self.v6 => u128::from(u32::from(a)),
            IpAddr::V6(a) if self.v6 => u128::from(a),
            _ => return None,
        };
        a.checked_sub(self.base)
            .filter(|o| *o < 64)
            .map(|o| o as u8)
    }
    /// The bitset of a set's addresses; panics if the set leaves the universe.
    fn bits(self, set: &PrefixSet) -> u64 {
        let mut b = 0u64;
        for r in set.ranges() {
            let (s, e) = (
                self.offset(r.start()).unwrap(),
                self.offset(r.end()).unwrap(),
            );
            for o in s..=e {
                b |= 1 << o;
            }
        }
        b
    }
}

fn universe() -> impl Strategy<Value = Universe> {
    prop_oneof![
        Just(Universe { v6: false, base: 0 }),
        Just(Universe {
            v6: false,
            base: 0xffff_ffc0
        }),
        (0u32..(1 << 26)).prop_map(|b| Universe {
            v6: false,
            base: u128::from(b) << 6
        }),
        Just(Universe { v6: true, base: 0 }),
        Just(Universe {
            v6: true,
            base: u128::MAX - 63
        }),
        any::<u128>().prop_map(|b| Universe {
            v6: true,
            base: b & !63
        }),
    ]
}

/// (offset, host bits) pairs.
fn prefixes() -> impl Strategy<Value = Vec<(u8, u8)>> {
    proptest::collection::vec((0u8..64, 0u8..=6), 0..12)
}

fn prefix_bits(offset: u8, host_bits: u8) -> u64 {
    let size = 1u64 << host_bits;
    let start = offset & !((size - 1) as u8);
    let block = if size == 64 {
        u64::MAX
    } else {
        (1u64 << size) - 1
    };
    block << start
}

/// Fewest CIDRs covering exactly `bits` within the aligned block at `start` of `2^k`.
fn min_cover(bits: u64, start: u8, k: u8) -> usize {
    let size = 1u64 << k;
    let mask = if size == 64 {
        u64::MAX
    } else {
        ((1u64 << size) - 1) << start
    };
    match bits & mask {
        0 => 0,
        m if m == mask => 1,
        _ => min_cover(bits, start, k - 1) + min_cover(bits, start + (1 << (k - 1)), k - 1),
    }
}

fn set_of(u: Universe, ps: &[(u8, u8)]) -> (PrefixSet, u64) {
    let set = ps.iter().map(|&(o, h)| u.prefix(o, h)).collect();
    let bits = ps.iter().fold(0, |b, &(o, h)| b | prefix_bits(o, h));
    (set, bits)
}

proptest! {
    #[test]
    fn aggregation_is_exact_and_minimal(u in universe(), ps in prefixes()) {
        let (_, bits) = set_of(u, &ps);
        let agg = aggregate(ps.iter().map(|&(o, h)| u.prefix(o, h)));
        let again: PrefixSet = agg.iter().copied().collect();
        prop_assert_eq!(u.bits(&again), bits);
        prop_assert_eq!(agg.len(), min_cover(bits, 0, 6));
        prop_assert_eq!(again.prefix_count(), agg.len());
        prop_assert!(agg.windows(2).all(|w| w[0] < w[1]), "sorted: {:?}", agg);
    }

    #[test]
    fn algebra_agrees_with_bitsets(u in universe(), a in prefixes(), b in prefixes()) {
        let (sa, ba) = set_of(u, &a);
        let (sb, bb) = set_of(u, &b);
        prop_assert_eq!(u.bits(&sa.union(&sb)), ba | bb);
        prop_assert_eq!(u.bits(&sa.intersection(&sb)), ba & bb);
        prop_assert_eq!(u.bits(&sa.difference(&sb)), ba & !bb);
        prop_assert_eq!(sa.union(&sb), sb.union(&sa));
        let count = if u.v6 { sa.v6_addresses() } else { u128::from(sa.v4_addresses()) };
        prop_assert_eq!(count, u128::from(ba.count_ones()));
        for o in 0..64u8 {
            prop_assert_eq!(sa.contains(u.ip(o)), ba >> o & 1 == 1);
        }
        for &(o, h) in &b {
            let pb = prefix_bits(o, h);
            prop_assert_eq!(sa.contains_prefix(u.prefix(o, h)), ba & pb == pb);
            prop_assert_eq!(sa.overlaps(u.prefix(o, h)), ba & pb != 0);
        }
        // Removing one by one equals the difference.
        let mut r = sa.clone();
        for &(o, h) in &b {
            r.remove(u.prefix(o, h));
        }
        prop_assert_eq!(r, sa.difference(&sb));
    }

    #[test]
    fn range_to_cidrs_is_exact_and_minimal(u in universe(), x in 0u8..64, y in 0u8..64) {
        let (s, e) = (x.min(y), x.max(y));
        let r = AddrRange::new(u.ip(s), u.ip(e)).unwrap();
        let cidrs = r.to_prefixes();
        let bits = if e - s == 63 { u64::MAX } else { ((1u64 << (e - s + 1)) - 1) << s };
        let set: PrefixSet = cidrs.iter().copied().collect();
        prop_assert_eq!(u.bits(&set), bits);
        prop_assert_eq!(cidrs.len(), min_cover(bits, 0, 6));
        prop_assert_eq!(r.address_count(), u128::from(e - s) + 1);
    }

    #[test]
    fn lpm_agrees_with_linear_scan(
        u in universe(),
        entries in proptest::collection::vec((0u8..64, 0u8..=6, 0u8..5), 0..16),
        ranges in proptest::collection::vec((0u8..64, 0u8..64, 0u8..5), 0..4),
    ) {
        let ps: Vec<(Prefix, u8)> = entries.iter().map(|&(o, h, v)| (u.prefix(o, h), v)).collect();
        let map: PrefixMap<u8> = ps.iter().copied().collect();
        for o in 0..64u8 {
            let ip = u.ip(o);
            // Longest wins; among equals, the last inserted.
            let mut best: Option<(u8, u8)> = None;
            for &(p, v) in &ps {
                if p.contains(ip) && best.is_none_or_le(p.len()) {
                    best = Some((p.len(), v));
                }
            }
            prop_assert_eq!(map.get(ip).copied(), best.map(|b| b.1), "at {}", ip);
        }
        // Disjoint ranges are stored as given; overlapping ones are split into CIDRs.
        let rs: Vec<(AddrRange, u8)> = ranges
            .iter()
            .map(|&(x, y, v)| (AddrRange::new(u.ip(x.min(y)), u.ip(x.max(y))).unwrap(), v))
            .collect();
        let map: PrefixMap<u8> = rs.iter().copied().collect();
        let disjoint = rs.iter().enumerate().all(|(i, a)| {
            rs.iter().skip(i + 1).all(|b| a.0.end() < b.0.start() || b.0.end() < a.0.start())
        });
        for o in 0..64u8 {
            let ip = u.ip(o);
            let covered = rs.iter().any(|(r, _)| r.contains(ip));
            prop_assert_eq!(map.get(ip).is_some(), covered);
            if disjoint {
                let v = rs.iter().find(|(r, _)| r.contains(ip)).map(|r| r.1);
                prop_assert_eq!(map.get(ip).copied(), v);
            }
        }
        // Per-value sets partition the covered addresses.
        let sets = map.sets();
        let total: u64 = sets.iter().map(|s| u.bits(s)).fold(0, |a, b| {
            assert_eq!(a & b, 0, "values overlap");
            a | b
        });
        let covered: PrefixSet = rs.iter().map(|r| r.0).collect();
        prop_assert_eq!(total, u.bits(&covered));
    }
}

trait BestExt {
    fn is_none_or_le(&self, len: u8) -> bool;
}

impl BestExt for Option<(u8, u8)> {
    fn is_none_or_le(&self, len: u8) -> bool {
        self.is_none_or(|(l, _)| l <= len)
    }
}

#[test]
fn whole_spaces_and_mapped_addresses() {
    let p = |s: &str| s.parse::<Prefix>().unwrap();
    let all: PrefixSet = [p("0.0.0.0/0"), p("::/0")].into_iter().collect();
    assert_eq!(all.v4_addresses(), 1 << 32);
    assert_eq!(all.v6_addresses(), u128::MAX);
    assert_eq!(all.prefixes(), vec![p("0.0.0.0/0"), p("::/0")]);
    let no_lan = all.difference(&[p("10.0.0.0/8")].into_iter().collect());
    assert_eq!(no_lan.prefix_count(), 8 + 1);
    let mapped: PrefixSet = [p("::ffff:192.0.2.0/120"), p("2001:db8::/32")]
        .into_iter()
        .collect();
    assert!(!mapped.contains("192.0.2.1".parse().unwrap()));
    let unmapped = mapped.unmapped();
    assert_eq!(
        unmapped.prefixes(),
        vec![p("192.0.2.0/24"), p("2001:db8::/32")]
    );
    assert_eq!(p("::ffff:192.0.2.0/120").unmapped(), p("192.0.2.0/24"));
    assert_eq!(p("::ffff:0:0/95").unmapped(), p("::ffff:0:0/95"));
    let map: PrefixMap<&str> = [(p("0.0.0.0/0"), "v4"), (p("::/0"), "v6")]
        .into_iter()
        .collect();
    assert_eq!(map.get("255.255.255.255".parse().unwrap()), Some(&"v4"));
    assert_eq!(map.get("::ffff:1.2.3.4".parse().unwrap()), Some(&"v6"));
    assert_eq!(
        map.get_unmapped("::ffff:1.2.3.4".parse().unwrap()),
        Some(&"v4")
    );
    assert_eq!(map.range_count(), 2);
    let empty: PrefixMap<u8> = PrefixMap::default();
    assert!(empty.is_empty());
    assert_eq!(empty.get("::".parse().unwrap()), None);
}

/// Lookups that agree with a linear scan on tables large enough to use both index levels,
/// and, for IPv6 prefixes no longer than /64, the table keyed by the top 64 bits.
fn lpm_large_case(ps: &[(Prefix, u16)], probes: &[IpAddr]) -> Result<(), TestCaseError> {
    let map: PrefixMap<u16> = ps.iter().copied().collect();
    let mut all: Vec<IpAddr> = probes.to_vec();
    for (p, _) in ps {
        all.push(p.addr());
        all.push(p.last());
    }
    for ip in all {
        let mut best: Option<(u8, u16)> = None;
        for &(p, v) in ps {
            if p.contains(ip) && best.is_none_or(|(l, _)| l <= p.len()) {
                best = Some((p.len(), v));
            }
        }
        prop_assert_eq!(map.get(ip).copied(), best.map(|b| b.1), "at {}", ip);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lpm_large_tables_agree_with_linear_scan(
        v4 in proptest::collection::vec((any::<u32>(), 8u8..=32, any::<u16>()), 0..300),
        v6 in proptest::collection::vec((any::<u128>(), 8u8..=64, any::<u16>()), 0..300),
        wide in proptest::collection::vec((any::<u128>(), 65u8..=128, any::<u16>()), 0..3),
        probe4 in proptest::collection::vec(any::<u32>(), 200),
        probe6 in proptest::collection::vec(any::<u128>(), 200),
    ) {
        // Cluster addresses in a few /8s and /16s so that blocks get dense.
        let ps: Vec<(Prefix, u16)> = v4
            .iter()
            .map(|&(a, l, v)| (IpAddr::V4(Ipv4Addr::from(a & 0x03ff_ffff | 0x0a00_0000)), l, v))
            .chain(v6.iter().map(|&(a, l, v)| {
                (IpAddr::V6(Ipv6Addr::from(a & (u128::MAX >> 20) | 0x2a00 << 112)), l, v)
            }))
            .map(|(a, l, v)| (Prefix::new(a, l).unwrap(), v))
            .collect();
        let probes: Vec<IpAddr> = probe4
            .iter()
            .map(|&a| IpAddr::V4(Ipv4Addr::from(a & 0x03ff_ffff | 0x0a00_0000)))
            .chain(probe6.iter().map(|&a| IpAddr::V6(Ipv6Addr::from(a & (u128::MAX >> 20) | 0x2a00 << 112))))
            .collect();
        lpm_large_case(&ps, &probes)?;
        // The same with a few long IPv6 prefixes, which force the full-width table.
        let mut ps = ps;
        ps.extend(wide.iter().map(|&(a, l, v)| (Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), l).unwrap(), v)));
        lpm_large_case(&ps, &probes)?;
    }
}

/// Clustered tables: prefixes nested in a few far-apart blocks of several depths (like
/// the GeoIP data's thousands of /48s under a few /32s), so that index nodes skip the bits
/// their starts share at every level, each prefix with its own value, and probes anywhere
/// (outside every cluster too) and next to every boundary.
fn clustered(bases: &[(u128, u8)], width: u8, a: u128, pick: u8, len: u8) -> (u128, u8) {
    let (base, base_len) = bases[usize::from(pick) % bases.len()];
    let len = base_len + len % (width - base_len + 1);
    (base | (a & (u128::MAX >> (128 - width + base_len))), len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lpm_clustered_tables_agree_with_linear_scan(
        v4 in proptest::collection::vec((any::<u32>(), any::<u8>(), any::<u8>()), 0..300),
        v6 in proptest::collection::vec((any::<u128>(), any::<u8>(), any::<u8>()), 0..300),
        wide in proptest::collection::vec((any::<u128>(), any::<u8>(), 65u8..=128), 0..4),
        probe4 in proptest::collection::vec((any::<u32>(), any::<u8>(), any::<bool>()), 100),
        probe6 in proptest::collection::vec((any::<u128>(), any::<u8>(), any::<bool>()), 100),
    ) {
        let b4: [(u128, u8); 4] = [(0x0a01_0000, 16), (0x0a01_4000, 20), (0x0a01_4a00, 24), (0xc000_0200, 24)];
        let b6: [(u128, u8); 4] = [
            (0x2a00_1450 << 96, 32),
            (0x2a00_1450_4000 << 80, 44),
            (0x2a00_1450_4000_ab00 << 64, 56),
            (0x2001_0db8 << 96, 32),
        ];
        let v4p = |a: u32, pick: u8, len: u8| {
            let (a, l) = clustered(&b4, 32, u128::from(a), pick, len);
            (IpAddr::V4(Ipv4Addr::from(a as u32)), l)
        };
        let v6p = |a: u128, pick: u8, len: u8| {
            let (a, l) = clustered(&b6, 64, a >> 64 << 64, pick, len);
            (IpAddr::V6(Ipv6Addr::from(a | (a & u128::from(u64::MAX)))), l)
        };
        let mut ps: Vec<(Prefix, u16)> = v4
            .iter()
            .map(|&(a, pick, l)| v4p(a, pick, l))
            .chain(v6.iter().map(|&(a, pick, l)| v6p(a, pick, l)))
            .chain(wide.iter().map(|&(a, pick, l)| {
                let (base, _) = b6[usize::from(pick) % b6.len()];
                (IpAddr::V6(Ipv6Addr::from(base | (a & (u128::MAX >> 64)))), l)
            }))
            .enumerate()
            .map(|(i, (a, l))| (Prefix::new(a, l).unwrap(), i as u16))
            .collect();
        // Probes: in the clusters, or anywhere (below and above every cluster).
        let mut probes: Vec<IpAddr> = probe4
            .iter()
            .map(|&(a, pick, inside)| if inside { v4p(a, pick, 32).0 } else { IpAddr::V4(Ipv4Addr::from(a)) })
            .chain(probe6.iter().map(|&(a, pick, inside)| {
                if inside {
                    let (IpAddr::V6(p), _) = v6p(a, pick, 64) else { unreachable!() };
                    IpAddr::V6(Ipv6Addr::from(u128::from(p) | (a & u128::from(u64::MAX))))
                } else {
                    IpAddr::V6(Ipv6Addr::from(a))
                }
            }))
            .collect();
        for (p, _) in &ps {
            let (first, last) = match (p.addr(), p.last()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => (
                    IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_sub(1))),
                    IpAddr::V4(Ipv4Addr::from(u32::from(b).wrapping_add(1))),
                ),
                (IpAddr::V6(a), IpAddr::V6(b)) => (
                    IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_sub(1))),
                    IpAddr::V6(Ipv6Addr::from(u128::from(b).wrapping_add(1))),
                ),
                _ => unreachable!(),
            };
            probes.extend([first, p.addr(), p.last(), last]);
        }
        let wide_ps = ps.split_off(ps.len() - wide.len());
        let scan = |ps: &[(Prefix, u16)], ip: IpAddr| {
            // Where the same prefix appears twice, the later one wins.
            ps.iter()
                .enumerate()
                .filter(|(_, (p, _))| p.contains(ip))
                .max_by_key(|&(i, (p, _))| (p.len(), i))
                .map(|(_, &(_, v))| v)
        };
        for ps in [ps.clone(), [ps, wide_ps].concat()] {
            let map: PrefixMap<u16> = ps.iter().copied().collect();
            for &ip in &probes {
                prop_assert_eq!(map.get(ip).copied(), scan(&ps, ip), "at {}", ip);
            }
        }
    }
}
