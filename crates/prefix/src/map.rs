//! [`PrefixMap`]: longest-prefix match from addresses to values (country codes, list names).
//!
//! # Data structure
//!
//! Building flattens the (possibly nested) prefixes into the partition of the address space
//! they induce: a sorted array of segment starts, each with the value of the longest prefix
//! covering it (or none). A lookup finds the last start not above the address. A direct
//! radix index on the address's bits (more levels where the data is dense) narrows that
//! search to the few segments starting in the same block, then a binary search finishes
//! it. Each index node first skips the bits all its starts share (path compression: the
//! IPv6 data lies in 2000::/4, and a dense /32 holds thousands of /48s under one /44), and
//! a block that lies inside one segment holds that segment's value, so the lookup ends in
//! the index.
//!
//! Why this and not a trie: GeoIP data is ranges, not prefixes (tor-geoipdb's 662k ranges
//! would be over a million CIDRs in a trie), and the flattened form is what the data
//! already is: 662k segments, 15 MiB with the index, built in tens of milliseconds. A
//! lookup touches one index entry per level (one level in sparse space, two to four in
//! dense IPv6 space) and then one or two cache lines of starts. A binary trie walks up to
//! 32 or 128 dependent nodes; the `maxminddb` crate's tree over the same data measured
//! 3–7 times slower (BENCHMARKS.md). A poptrie-style multibit trie was not tried.
//!
//! What was measured and not kept (tor-geoipdb, IPv6 lookups; callgrind counts per lookup
//! are repeatable where the shared machine's wall clock is not): a batch lookup in
//! lockstep over 16 addresses, so that their cache misses overlap, was no faster than one
//! lookup after another, and slower for IPv4 (the out-of-order core already overlaps
//! independent lookups, and the lanes' bookkeeping costs what it saves); a root of 2^20
//! or 2^22 blocks instead of 2^17 grew the index 2.5 or 8 times for no clear gain;
//! searching a fixed 16 starts (predictable branches) or counting them linearly instead
//! of a binary search was no faster; one block per start below the root saved a little
//! more (131 instructions, 3.8 L1 misses) for 4.6 MiB more index.
//!
//! Values are stored once each and referenced by a `u32` slot, so 662k entries of 259
//! countries cost 259 values.
//!
//! Build cost: O(n log n) in the number of entries; memory about 16–30 bytes per segment.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::word::{range_blocks, Word};
use crate::{AddrRange, Prefix, PrefixSet};

/// Slot of a segment no prefix covers. Slots stay below 2^31 so that an index block can
/// hold one beside its tag.
const NONE: u32 = 0x7fff_ffff;

/// Most segments a block of the index may hold before it gets a level of its own: the
/// binary search over them stays within a cache line or two.
const DENSE: usize = 16;
/// The root has about 2^-ROOT_SPARSENESS blocks per start it covers, a node below it
/// 2^-SPARSENESS: a few starts per block keep the final search short while the index
/// stays a fraction of the starts' size. Nodes below the root cover the dense regions;
/// two starts per block there instead of four cut a level from many IPv6 lookups
/// (tor-geoipdb: 149 instead of 161 instructions and 4.6 instead of 4.8 L1 misses per
/// lookup under callgrind) for 2.4 MiB more index.
const ROOT_SPARSENESS: u32 = 2;
const SPARSENESS: u32 = 1;
/// Widest level below the root: 2^16 + 1 blocks (512 KiB).
const MAX_LEVEL_BITS: u8 = 16;
/// Widest root: 2^18 + 1 blocks (2 MiB), for the million-start tables.
const MAX_ROOT_BITS: u8 = 18;

/// `Block::child` of a block whose starts are searched.
const SEARCH: u32 = 0;
/// Tag of `Block::child` for a block inside one segment: the rest is the segment's slot.
const LEAF: u32 = 0x8000_0000;

/// One family's table: segment starts, their value slots, and a radix index over the
/// starts.
///
/// ```text
///  key:  | prefix bits | field bits | low bits
///  node: the starts it covers share their prefix bits; `base` is that prefix with zero
///        low bits, `last` all ones below the prefix. x = key - base (wrapping): if
///        x > last, the key lies below or above all the node's starts and its slot is that
///        of the start before them (`below`) or of their last (`above`). Otherwise
///        c = x >> low chooses block c:
///        blocks[c].pos, blocks[c + 1].pos = positions in `segs` of the first start in
///        block c and in block c + 1; blocks[c].child is LEAF | slot when block c lies
///        inside one segment (the lookup ends there), a child node when more than DENSE
///        starts fall in it, else SEARCH
///  then: binary search in segs[lo..hi] for the last start <= key (at most DENSE long)
/// ```
///
/// Each node skips the bits its starts share (path compression: the IPv6 data all lies in
/// 2000::/4, and a dense /32 may hold thousands of /48s under one /44), so every level
/// splits its starts. The root has about one block per four starts it covers (at most
/// 2^18), a node below it one per two (at most 2^16), so the index costs a few bytes per
/// start.
#[derive(Debug, Clone)]
struct Table<W> {
    /// Segment starts, ascending from zero, each beside its slot: the search's last
    /// probe and the slot share a cache line.
    segs: Vec<(W, u32)>,
    nodes: Vec<Node<W>>,
    blocks: Vec<Block>,
}

/// Per block: position of its first start and what to do next; side by side so that one
/// cache line answers both.
#[derive(Debug, Clone, Copy)]
struct Block {
    pos: u32,
    child: u32,
}

#[derive(Debug, Clone, Copy)]
struct Node<W> {
    /// The top bits every start under the node shares (its prefix), the rest zero: the
    /// node's first key.
    base: W,
    /// Offset from `base` of the node's last key (ones below the prefix).
    last: W,
    /// Slot of keys below `base`, and of keys above `base + last`.
    below: u32,
    above: u32,
    /// Where its `2^bits + 1` blocks start in `blocks`.
    at: u32,
    /// Key bits below the node's field: a key's block is `(key - base) >> low`.
    low: u8,
}

impl<W: Word> Table<W> {
    fn from_segments(segs: Vec<(W, u32)>) -> Table<W> {
        let mut t = Table {
            segs,
            nodes: Vec::new(),
            blocks: Vec::new(),
        };
        // The root covers every start but the first (zero), unless that is the only one:
        // then its prefix is the common prefix of the data, not zero.
        let n = t.segs.len();
        t.node(usize::from(n > 1), n, 0);
        t
    }

    /// Adds the node indexing `starts[lo..hi]` (which share at least their top `skip`
    /// bits) and, recursively, its dense blocks' nodes; returns its number.
    fn node(&mut self, lo: usize, hi: usize, skip: u8) -> u32 {
        let skip = skip
            .max(self.segs[lo].0.common(self.segs[hi - 1].0))
            .min(W::BITS - 1);
        let (max, sparseness) = if self.nodes.is_empty() {
            (MAX_ROOT_BITS, ROOT_SPARSENESS)
        } else {
            (MAX_LEVEL_BITS, SPARSENESS)
        };
        let bits = (usize::BITS - (hi - lo).leading_zeros())
            .saturating_sub(sparseness)
            .max(1)
            .min(u32::from(max))
            .min(u32::from(W::BITS - skip)) as u8;
        let id = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&id| id < LEAF)
            .expect("fewer than 2^31 nodes");
        let at = self.blocks.len();
        self.nodes.push(Node {
            base: self.segs[lo].0.high(skip),
            last: W::MAX.shr(skip),
            // lo is 0 only at the root of a table with one start, zero: no key is below.
            below: lo.checked_sub(1).map_or(NONE, |p| self.segs[p].1),
            above: self.segs[hi - 1].1,
            at: u32::try_from(at).expect("index below 2^32 entries"),
            low: W::BITS - skip - bits,
        });
        let blocks = 1usize << bits;
        let mut i = lo;
        for b in 0..blocks {
            while i < hi && self.segs[i].0.bits(skip, bits) < b {
                i += 1;
            }
            self.blocks.push(Block {
                pos: i as u32,
                child: SEARCH,
            });
        }
        self.blocks.push(Block {
            pos: hi as u32,
            child: SEARCH,
        });
        // Key bits below this node's field.
        let below = W::BITS - skip - bits;
        for b in 0..blocks {
            let (l, h) = (
                self.blocks[at + b].pos as usize,
                self.blocks[at + b + 1].pos as usize,
            );
            let child = if l == h {
                // No start inside: the segment before covers the whole block (l >= 1:
                // the only node covering starts[0] is a root with that start alone, and
                // its first block holds it).
                LEAF | self.segs[l - 1].1
            } else if h == l + 1 && self.segs[l].0.trailing_zeros() >= below {
                // One start, at the block's first address.
                LEAF | self.segs[l].1
            } else if h - l > DENSE && below > 0 {
                self.node(l, h, skip + bits)
            } else {
                SEARCH
            };
            self.blocks[at + b].child = child;
        }
        id
    }

    #[inline]
    fn slot(&self, key: W) -> u32 {
        let mut node = &self.nodes[0];
        let (lo, hi) = loop {
            // One subtraction checks the prefix and finds the field: keys outside the
            // node wrap around to offsets above `last`.
            let x = key.wrapping_sub(node.base);
            if x > node.last {
                return if key < node.base {
                    node.below
                } else {
                    node.above
                };
            }
            let i = node.at as usize + x.shr(node.low).as_index();
            let b = self.blocks[i];
            if b.child >= LEAF {
                return b.child & !LEAF;
            }
            if b.child == SEARCH {
                break (b.pos as usize, self.blocks[i + 1].pos as usize);
            }
            node = &self.nodes[b.child as usize];
        };
        let k = self.segs[lo..hi].partition_point(|&(s, _)| s <= key);
        // The segment before lo covers the block's keys below starts[lo]: lo + k >= 1,
        // as a key below starts[0] = 0 does not exist.
        self.segs[lo + k - 1].1
    }

    /// `(start, end, slot)` of every covered segment.
    fn segments(&self) -> impl Iterator<Item = (W, W, u32)> + '_ {
        (0..self.segs.len()).filter_map(move |i| {
            let end = match self.segs.get(i + 1) {
                Some(&(next, _)) => next.checked_dec().expect("starts ascend"),
                None => W::MAX,
            };
            let (start, slot) = self.segs[i];
            (slot != NONE).then_some((start, end, slot))
        })
    }

    fn bytes(&self) -> usize {
        self.segs.len() * std::mem::size_of::<(W, u32)>()
            + self.blocks.len() * std::mem::size_of::<Block>()
            + self.nodes.len() * std::mem::size_of::<Node<W>>()
    }
}

/// Slot of a /64 in the IPv6 table whose segment boundaries fall inside it: look the whole
/// address up in the full-width table.
const MIXED: u32 = NONE - 1;

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
            if v.last().is_none_or(|l| l.1 != slot) {
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
        let s = u32::try_from(self.values.len())
            .ok()
            .filter(|&s| s < MIXED)
            .expect("fewer than 2^31 - 2 distinct values");
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
