//! [`PrefixMap`]: longest-prefix match from addresses to values (country codes, list names).
//!
//! # Data structure
//!
//! Building flattens the (possibly nested) prefixes into the partition of the address space
//! they induce: a sorted array of segment starts, each with the value of the longest prefix
//! covering it (or none). A lookup finds the last start not above the address. A direct
//! radix index on the address's top bits (more levels where the data is dense) narrows
//! that search to the few segments starting in the same block, then a binary search
//! finishes it.
//!
//! Why this and not a trie: GeoIP data is ranges, not prefixes (tor-geoipdb's 662k ranges
//! would be over a million CIDRs in a trie), and the flattened form is what the data
//! already is: 662k segments, 11 MiB with the index, built in tens of milliseconds. A
//! lookup touches one index entry per level (one level in sparse space, two or three in
//! dense IPv6 space) and then one or two cache lines of starts. A binary trie walks up to
//! 32 or 128 dependent nodes; the `maxminddb` crate's tree over the same data measured
//! 3–7 times slower (BENCHMARKS.md). A poptrie-style multibit trie was not tried.
//!
//! Values are stored once each and referenced by a `u32` slot, so 662k entries of 259
//! countries cost 259 values.
//!
//! Build cost: O(n log n) in the number of entries; memory about 12–20 bytes per segment.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::word::{range_blocks, Word};
use crate::{AddrRange, Prefix, PrefixSet};

/// Slot of a segment no prefix covers.
const NONE: u32 = u32::MAX;

/// Most segments a block of the index may hold before it gets a level of its own: the
/// binary search over them stays within a cache line or two.
const DENSE: usize = 16;
/// A node has about 2^-SPARSENESS blocks per start it covers: a few starts per block keep
/// the final search short while the index stays a fraction of the starts' size.
const SPARSENESS: u32 = 2;
/// Widest level: 2^16 + 1 position words (256 KiB).
const MAX_LEVEL_BITS: u8 = 16;

/// One family's table: segment starts, their value slots, and a radix index over the
/// starts.
///
/// ```text
///  key: | root bits | level-2 bits | level-3 bits | ...
///  node: blocks[c].0, blocks[c + 1].0 = positions in `starts` of the first start in
///        block c and in block c + 1; if more than DENSE starts fall in block c,
///        blocks[c].1 is a node indexing the next bits of that block the same way
///  then: binary search in starts[lo..hi] for the last start <= key (at most DENSE long,
///        unless the key's bits ran out)
/// ```
///
/// Each node has about one block per start it covers (at most 2^16), so a level costs at
/// most ~8 bytes per start; dense regions (thousands of /48s in one /32 of the GeoIP
/// data) get more levels, sparse ones stop at the root.
#[derive(Debug, Clone)]
struct Table<W> {
    starts: Vec<W>,
    slots: Vec<u32>,
    nodes: Vec<Node>,
    /// Per block: (position of its first start, child node or NONE); side by side so
    /// that one cache line answers both.
    blocks: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    /// Key bits above this node's field.
    skip: u8,
    /// Width of this node's field.
    bits: u8,
    /// Where its `2^bits + 1` blocks start in `blocks`.
    at: u32,
}

impl<W: Word> Table<W> {
    fn from_segments(segs: Vec<(W, u32)>) -> Table<W> {
        let (starts, slots): (Vec<W>, Vec<u32>) = segs.into_iter().unzip();
        let mut t = Table {
            starts,
            slots,
            nodes: Vec::new(),
            blocks: Vec::new(),
        };
        let n = t.starts.len();
        t.node(0, n, 0);
        t
    }

    /// Adds the node indexing `starts[lo..hi]` (which share their top `skip` bits) and,
    /// recursively, its dense blocks' nodes; returns its number.
    fn node(&mut self, lo: usize, hi: usize, skip: u8) -> u32 {
        let bits = (usize::BITS - (hi - lo).leading_zeros())
            .saturating_sub(SPARSENESS)
            .max(1)
            .min(u32::from(MAX_LEVEL_BITS))
            .min(u32::from(W::BITS - skip)) as u8;
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes");
        let at = self.blocks.len();
        self.nodes.push(Node {
            skip,
            bits,
            at: u32::try_from(at).expect("index below 2^32 entries"),
        });
        let blocks = 1usize << bits;
        let mut i = lo;
        for b in 0..blocks {
            while i < hi && self.starts[i].bits(skip, bits) < b {
                i += 1;
            }
            self.blocks.push((i as u32, NONE));
        }
        self.blocks.push((hi as u32, NONE));
        if skip + bits < W::BITS {
            for b in 0..blocks {
                let (l, h) = (
                    self.blocks[at + b].0 as usize,
                    self.blocks[at + b + 1].0 as usize,
                );
                if h - l > DENSE {
                    let c = self.node(l, h, skip + bits);
                    self.blocks[at + b].1 = c;
                }
            }
        }
        id
    }

    #[inline]
    fn slot(&self, key: W) -> u32 {
        let mut node = self.nodes[0];
        let (lo, hi) = loop {
            let c = key.bits(node.skip, node.bits);
            let i = node.at as usize + c;
            let ((lo, child), hi) = (self.blocks[i], self.blocks[i + 1].0);
            match child {
                NONE => break (lo as usize, hi as usize),
                n => node = self.nodes[n as usize],
            }
        };
        let k = self.starts[lo..hi].partition_point(|&s| s <= key);
        // starts[0] is zero, so some start is <= key and lo + k >= 1.
        self.slots[lo + k - 1]
    }

    /// `(start, end, slot)` of every covered segment.
    fn segments(&self) -> impl Iterator<Item = (W, W, u32)> + '_ {
        (0..self.starts.len()).filter_map(move |i| {
            let end = match self.starts.get(i + 1) {
                Some(&next) => next.checked_dec().expect("starts ascend"),
                None => W::MAX,
            };
            (self.slots[i] != NONE).then_some((self.starts[i], end, self.slots[i]))
        })
    }

    fn bytes(&self) -> usize {
        self.starts.len() * (std::mem::size_of::<W>() + 4)
            + self.blocks.len() * 8
            + self.nodes.len() * std::mem::size_of::<Node>()
    }
}

/// Slot of a /64 in the IPv6 table whose segment boundaries fall inside it: look the whole
/// address up in the full-width table.
const MIXED: u32 = u32::MAX - 1;

/// IPv6 segments, keyed by the top 64 bits: almost every boundary in GeoIP data is
/// /64-aligned (7,806 of 276,389 tor-geoipdb ranges are not), and 64-bit keys halve the
/// array and the cost of each comparison. A /64 holding unaligned boundaries gets the slot
/// [`MIXED`], and its addresses are looked up again, at full width, in a second table that
/// holds only the segments of such /64s.
#[derive(Debug, Clone)]
struct V6Table {
    narrow: Table<u64>,
    wide: Option<Table<u128>>,
}

impl V6Table {
    fn new(segs: Vec<(u128, u32)>) -> V6Table {
        let key = |s: u128| (s >> 64) as u64;
        let mut mixed: Vec<u64> = segs
            .iter()
            .filter(|&&(s, _)| s as u64 != 0)
            .map(|&(s, _)| key(s))
            .collect();
        mixed.dedup();
        let is_mixed = |k: u64| mixed.binary_search(&k).is_ok();
        let mut narrow: Vec<(u64, u32)> = Vec::with_capacity(segs.len());
        let mut wide: Vec<(u128, u32)> = Vec::new();
        let push = |v: &mut Vec<(u64, u32)>, k: u64, slot: u32| {
            if v.last().map_or(true, |l| l.1 != slot) {
                v.push((k, slot));
            }
        };
        // Key and slot of the previous segment, when its /64 was mixed.
        let mut prev_mixed: Option<u64> = None;
        let mut prev_slot = NONE;
        for &(s, slot) in &segs {
            let k = key(s);
            if let Some(pk) = prev_mixed.filter(|&pk| k > pk.saturating_add(1)) {
                // The /64 after a mixed one starts inside the previous segment.
                push(&mut narrow, pk + 1, prev_slot);
            }
            if is_mixed(k) {
                if prev_mixed != Some(k) && s != u128::from(k) << 64 {
                    wide.push((u128::from(k) << 64, prev_slot));
                }
                wide.push((s, slot));
                push(&mut narrow, k, MIXED);
                prev_mixed = Some(k);
            } else {
                push(&mut narrow, k, slot);
                prev_mixed = None;
            }
            prev_slot = slot;
        }
        if let Some(pk) = prev_mixed.filter(|&pk| pk < u64::MAX) {
            push(&mut narrow, pk + 1, prev_slot);
        }
        if wide.first().is_some_and(|&(s, _)| s != 0) {
            wide.insert(0, (0, NONE));
        }
        V6Table {
            narrow: Table::from_segments(narrow),
            wide: (!wide.is_empty()).then(|| Table::from_segments(wide)),
        }
    }

    #[inline]
    fn slot(&self, a: u128) -> u32 {
        match self.narrow.slot((a >> 64) as u64) {
            MIXED => self
                .wide
                .as_ref()
                .expect("a mixed /64 has a wide table")
                .slot(a),
            slot => slot,
        }
    }

    /// Covered segments at full width, adjacent equal slots merged.
    fn segments(&self) -> Vec<(u128, u128, u32)> {
        let mut wide = self
            .wide
            .as_ref()
            .map(|w| w.segments().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .peekable();
        let mut out: Vec<(u128, u128, u32)> = Vec::new();
        let mut push = |s: u128, e: u128, slot: u32| match out.last_mut() {
            Some(last) if last.2 == slot && last.1.checked_add(1) == Some(s) => last.1 = e,
            _ => out.push((s, e, slot)),
        };
        for (s, e, slot) in self.narrow.segments() {
            let (s, e) = (
                u128::from(s) << 64,
                u128::from(e) << 64 | u128::from(u64::MAX),
            );
            if slot != MIXED {
                push(s, e, slot);
                continue;
            }
            while let Some(&(ws, we, wslot)) = wide.peek() {
                if ws > e {
                    break;
                }
                if we >= s {
                    push(ws.max(s), we.min(e), wslot);
                }
                if we > e {
                    break;
                }
                wide.next();
            }
        }
        out
    }

    fn bytes(&self) -> usize {
        self.narrow.bytes() + self.wide.as_ref().map_or(0, Table::bytes)
    }
}

/// A longest-prefix-match table from prefixes (or ranges) of both families to values.
///
/// Build it with [`PrefixMapBuilder`] or by collecting `(Prefix, V)` pairs; look addresses
/// up with [`PrefixMap::get`]. Where prefixes nest, the longest (most specific) wins; where
/// the same prefix is inserted twice, the later value wins.
///
/// IPv4-mapped IPv6 addresses: [`PrefixMap::get`] keeps families apart (a mapped address is
/// looked up among the IPv6 entries), [`PrefixMap::get_unmapped`] looks `::ffff:a.b.c.d` up
/// as `a.b.c.d`, which is what a GeoIP query about a dual-stack socket's peer wants.
///
/// ```
/// use rampart_prefix::{Prefix, PrefixMap};
/// let p = |s: &str| s.parse::<Prefix>().unwrap();
/// let map: PrefixMap<&str> = [(p("192.0.2.0/24"), "lab"), (p("192.0.2.128/25"), "dmz")]
///     .into_iter()
///     .collect();
/// assert_eq!(map.get("192.0.2.7".parse().unwrap()), Some(&"lab"));
/// assert_eq!(map.get("192.0.2.200".parse().unwrap()), Some(&"dmz"));
/// assert_eq!(map.get("198.51.100.1".parse().unwrap()), None);
/// assert_eq!(map.get_unmapped("::ffff:192.0.2.200".parse().unwrap()), Some(&"dmz"));
/// ```
#[derive(Debug, Clone)]
pub struct PrefixMap<V> {
    v4: Table<u32>,
    v6: V6Table,
    values: Vec<V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> PrefixMap<V> {
        PrefixMap {
            v4: Table::from_segments(vec![(0, NONE)]),
            v6: V6Table::new(vec![(0, NONE)]),
            values: Vec::new(),
        }
    }
}

impl<V> PrefixMap<V> {
    /// The value of the longest prefix containing `ip`, families kept apart.
    #[inline]
    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        self.values.get(self.get_index(ip)?)
    }

    /// Like [`PrefixMap::get`], but an IPv4-mapped IPv6 address is looked up as IPv4.
    #[inline]
    pub fn get_unmapped(&self, ip: IpAddr) -> Option<&V> {
        self.get(crate::unmap_addr(ip))
    }

    /// The position in [`PrefixMap::values`] of `ip`'s value: for counting per value
    /// without hashing (families kept apart).
    #[inline]
    pub fn get_index(&self, ip: IpAddr) -> Option<usize> {
        let slot = match ip {
            IpAddr::V4(a) => self.v4.slot(u32::from(a)),
            IpAddr::V6(a) => self.v6.slot(u128::from(a)),
        };
        (slot != NONE).then_some(slot as usize)
    }

    /// The value for an IPv4 address.
    #[inline]
    pub fn get_v4(&self, ip: Ipv4Addr) -> Option<&V> {
        self.values.get(self.v4.slot(u32::from(ip)) as usize)
    }

    /// The value for an IPv6 address (no unmapping).
    #[inline]
    pub fn get_v6(&self, ip: Ipv6Addr) -> Option<&V> {
        self.values.get(self.v6.slot(u128::from(ip)) as usize)
    }

    /// The distinct values, each once, in order of first insertion.
    pub fn values(&self) -> &[V] {
        &self.values
    }

    /// True when no address has a value.
    pub fn is_empty(&self) -> bool {
        self.range_count() == 0
    }

    /// The number of maximal ranges with a value (adjacent ranges with equal values merged).
    pub fn range_count(&self) -> usize {
        self.v4.segments().count() + self.v6.segments().len()
    }

    /// Every maximal range with its value, IPv4 first, ascending.
    pub fn ranges(&self) -> impl Iterator<Item = (AddrRange, &V)> + '_ {
        self.slot_ranges()
            .map(|(r, i)| (r, &self.values[i as usize]))
    }

    fn slot_ranges(&self) -> impl Iterator<Item = (AddrRange, u32)> + '_ {
        let v4 = self
            .v4
            .segments()
            .map(|(s, e, v)| (s.to_ip(), e.to_ip(), v));
        let v6 = self
            .v6
            .segments()
            .into_iter()
            .map(|(s, e, v)| (s.to_ip(), e.to_ip(), v));
        v4.chain(v6)
            .map(|(s, e, v)| (AddrRange::new(s, e).expect("segments are ordered"), v))
    }

    /// The addresses of each value as an aggregated [`PrefixSet`], in the order of
    /// [`PrefixMap::values`] (a country's whole address space, say).
    pub fn sets(&self) -> Vec<PrefixSet> {
        let mut per: Vec<Vec<AddrRange>> = vec![Vec::new(); self.values.len()];
        for (r, i) in self.slot_ranges() {
            per[i as usize].push(r);
        }
        per.into_iter().map(PrefixSet::from_iter).collect()
    }

    /// Approximate heap size in bytes of the lookup tables (values not included).
    pub fn table_bytes(&self) -> usize {
        self.v4.bytes() + self.v6.bytes()
    }
}

/// Collects prefixes and ranges with values, then builds a [`PrefixMap`].
///
/// Ranges are stored as given when all ranges of a family are disjoint (the GeoIP case);
/// otherwise they are split into CIDRs so that "most specific wins" has a meaning.
#[derive(Debug, Clone)]
pub struct PrefixMapBuilder<V> {
    values: Vec<V>,
    slot_of: HashMap<V, u32>,
    v4: Vec<Entry<u32>>,
    v6: Vec<Entry<u128>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry<W> {
    start: W,
    end: W,
    /// Whether the entry is a CIDR block (nests properly) rather than an arbitrary range.
    cidr: bool,
    slot: u32,
}

impl<V: Clone + Eq + Hash> Default for PrefixMapBuilder<V> {
    fn default() -> PrefixMapBuilder<V> {
        PrefixMapBuilder {
            values: Vec::new(),
            slot_of: HashMap::new(),
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

impl<V: Clone + Eq + Hash> PrefixMapBuilder<V> {
    /// An empty builder.
    pub fn new() -> PrefixMapBuilder<V> {
        PrefixMapBuilder::default()
    }

    fn slot(&mut self, value: V) -> u32 {
        if let Some(&s) = self.slot_of.get(&value) {
            return s;
        }
        let s = u32::try_from(self.values.len()).expect("fewer than 2^32 distinct values");
        self.values.push(value.clone());
        self.slot_of.insert(value, s);
        s
    }

    /// Maps `prefix` to `value`.
    pub fn insert(&mut self, prefix: Prefix, value: V) {
        let slot = self.slot(value);
        self.push(prefix.range(), true, slot);
    }

    /// Maps every address of `range` to `value`. An overlapping range is split into its
    /// CIDRs, each then as specific as its length.
    pub fn insert_range(&mut self, range: AddrRange, value: V) {
        let slot = self.slot(value);
        self.push(range, false, slot);
    }

    fn push(&mut self, range: AddrRange, cidr: bool, slot: u32) {
        match (range.start(), range.end()) {
            (IpAddr::V4(s), IpAddr::V4(e)) => self.v4.push(Entry {
                start: u32::from(s),
                end: u32::from(e),
                cidr,
                slot,
            }),
            (IpAddr::V6(s), IpAddr::V6(e)) => self.v6.push(Entry {
                start: u128::from(s),
                end: u128::from(e),
                cidr,
                slot,
            }),
            _ => unreachable!("AddrRange ends share a family"),
        }
    }

    /// Builds the lookup table: O(n log n) in the number of entries.
    pub fn build(self) -> PrefixMap<V> {
        PrefixMap {
            v4: Table::from_segments(flatten(self.v4)),
            v6: V6Table::new(flatten(self.v6)),
            values: self.values,
        }
    }
}

impl<V: Clone + Eq + Hash> FromIterator<(Prefix, V)> for PrefixMap<V> {
    fn from_iter<I: IntoIterator<Item = (Prefix, V)>>(iter: I) -> PrefixMap<V> {
        let mut b = PrefixMapBuilder::new();
        for (p, v) in iter {
            b.insert(p, v);
        }
        b.build()
    }
}

impl<V: Clone + Eq + Hash> FromIterator<(AddrRange, V)> for PrefixMap<V> {
    fn from_iter<I: IntoIterator<Item = (AddrRange, V)>>(iter: I) -> PrefixMap<V> {
        let mut b = PrefixMapBuilder::new();
        for (r, v) in iter {
            b.insert_range(r, v);
        }
        b.build()
    }
}

/// Turns entries into the segment partition `(start, slot)`, starting at zero, with adjacent
/// equal slots merged.
fn flatten<W: Word>(mut entries: Vec<Entry<W>>) -> Vec<(W, u32)> {
    // Stable sort: for equal (start, end), insertion order is kept, so the later one ends up
    // on top of the stack and wins.
    entries.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let disjoint = entries.windows(2).all(|w| w[0].end < w[1].start);
    if !disjoint && entries.iter().any(|e| !e.cidr) {
        let mut split = Vec::with_capacity(entries.len() * 2);
        for e in &entries {
            range_blocks(e.start, e.end, |s, len| {
                split.push(Entry {
                    start: s,
                    end: s.block_end(W::BITS - len),
                    cidr: true,
                    slot: e.slot,
                })
            });
        }
        split.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        entries = split;
    }
    let mut segs: Vec<(W, u32)> = Vec::with_capacity(entries.len() * 2 + 1);
    let emit = |segs: &mut Vec<(W, u32)>, start: W, slot: u32| {
        if segs.last().is_some_and(|&(_, s)| s == slot) {
            return;
        }
        segs.push((start, slot));
    };
    // Everything below `pos` has been emitted; `None` once past the last address.
    let mut pos = Some(W::ZERO);
    let mut stack: Vec<(W, u32)> = Vec::new();
    for e in &entries {
        while let Some(&(end, slot)) = stack.last() {
            if end >= e.start {
                break;
            }
            stack.pop();
            if let Some(p) = pos.filter(|&p| p <= end) {
                emit(&mut segs, p, slot);
                pos = end.checked_inc();
            }
        }
        if let Some(p) = pos.filter(|&p| p < e.start) {
            emit(&mut segs, p, stack.last().map_or(NONE, |&(_, s)| s));
            pos = Some(e.start);
        }
        stack.push((e.end, e.slot));
    }
    while let Some((end, slot)) = stack.pop() {
        if let Some(p) = pos.filter(|&p| p <= end) {
            emit(&mut segs, p, slot);
            pos = end.checked_inc();
        }
    }
    if let Some(p) = pos {
        emit(&mut segs, p, NONE);
    }
    segs
}
