//! Per-field lookup tables: each answers "which rules of this chain may match a packet
//! whose field has this value" as a bitset over the chain's rule positions.
//!
//! Every table has the same shape: `any`, the bitset of rules that do not constrain the
//! field (or constrain it in a way the table does not model, such as a negation), plus
//! the rule lists keyed by the values they accept. A lookup is `any` OR the lists the
//! value hits; the classifier ANDs the lookups of all fields.
//!
//! Lists hold rule positions (`u32`), not bitsets, so memory stays linear in the rules
//! (a bitset per key would make 5,000 distinct source addresses cost 5,000 × 5,000 bits).

use std::collections::HashMap as StdMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use rampart_prefix::Prefix;
use rampart_ruleset::{Interface, PortRange};

/// The tables' maps, with [`FastHash`].
type HashMap<K, V> = StdMap<K, V, FastHash>;

/// A multiply-rotate hash (FxHash's): a lookup hashes an address or a port in a few
/// cycles where SipHash takes tens of nanoseconds, which at a million packets a second
/// is most of the budget. Not collision-resistant: the keys are the ruleset's own values
/// (the admin's file), so nobody sending packets chooses them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// The state of a [`FastHash`].
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A bitset over a chain's rule positions, as 64-bit words.
pub(crate) type Words = Vec<u64>;

/// Words needed for `rules` bits.
pub(crate) fn word_count(rules: usize) -> usize {
    rules.div_ceil(64)
}

pub(crate) fn set_bit(words: &mut [u64], rule: u32) {
    words[rule as usize / 64] |= 1 << (rule % 64);
}

/// The first set bit at or after `from`, if any.
pub(crate) fn next_set(words: &[u64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    let first = words.get(w)? & (!0u64 << (from % 64));
    if first != 0 {
        return Some(w * 64 + first.trailing_zeros() as usize);
    }
    w += 1;
    while let Some(word) = words.get(w) {
        if *word != 0 {
            return Some(w * 64 + word.trailing_zeros() as usize);
        }
        w += 1;
    }
    None
}

/// The rules a key holds: a list while sparse, a bitset once the list would be longer
/// than the bitset's words (`-p tcp` on half the rules: setting 2,500 bits one by one
/// costs more than OR-ing 79 words). At most 64 keys of a table can be dense, so the
/// bitsets cost at most 64 × the chain's words per table.
#[derive(Debug)]
pub(crate) enum Rules {
    List(Vec<u32>),
    Bits(Words),
}

impl Rules {
    fn new(list: Vec<u32>, words: usize) -> Rules {
        if list.len() > words {
            let mut bits = vec![0; words];
            for &rule in &list {
                set_bit(&mut bits, rule);
            }
            Rules::Bits(bits)
        } else {
            Rules::List(list)
        }
    }
}

/// Turns each list of a map into [`Rules`].
fn dense<K: std::hash::Hash + Eq>(map: HashMap<K, Vec<u32>>, words: usize) -> HashMap<K, Rules> {
    map.into_iter()
        .map(|(k, list)| (k, Rules::new(list, words)))
        .collect()
}

/// Keys one lookup hits at most before [`narrow`] falls back to iterating twice.
const MAX_HITS: usize = 32;

/// `out &= any | rules...`, with `scratch` as a buffer; `rules` is iterated once (each
/// step may be a hash lookup) unless it yields more than [`MAX_HITS`] keys.
fn narrow<'a>(
    out: &mut [u64],
    scratch: &mut Words,
    any: &[u64],
    rules: impl Iterator<Item = &'a Rules> + Clone,
) {
    let mut hits: [Option<&Rules>; MAX_HITS] = [None; MAX_HITS];
    let mut n = 0;
    for r in rules.clone() {
        if n == MAX_HITS {
            return narrow_bits(out, scratch, any, rules);
        }
        hits[n] = Some(r);
        n += 1;
    }
    let hits = hits[..n].iter().flatten().copied();
    if hits.clone().all(|r| matches!(r, Rules::List(_))) {
        // Lists only (the usual case: a few rules per key): keep the listed rules that
        // are still candidates, AND with `any`, put them back: no bitset copied.
        let mut kept = [0u32; 64];
        let mut k = 0;
        for r in hits.clone() {
            let Rules::List(list) = r else { continue };
            for &rule in list {
                if out[rule as usize / 64] & (1 << (rule % 64)) != 0 {
                    if k == kept.len() {
                        return narrow_bits(out, scratch, any, hits);
                    }
                    kept[k] = rule;
                    k += 1;
                }
            }
        }
        for (o, a) in out.iter_mut().zip(any) {
            *o &= a;
        }
        for &rule in &kept[..k] {
            set_bit(out, rule);
        }
        return;
    }
    narrow_bits(out, scratch, any, hits)
}

/// [`narrow`] through a bitset of `any | rules...` built in `scratch`.
fn narrow_bits<'a>(
    out: &mut [u64],
    scratch: &mut Words,
    any: &[u64],
    rules: impl Iterator<Item = &'a Rules>,
) {
    scratch.clear();
    scratch.extend_from_slice(any);
    for r in rules {
        match r {
            Rules::List(list) => {
                for &rule in list {
                    set_bit(scratch, rule);
                }
            }
            Rules::Bits(bits) => {
                for (s, b) in scratch.iter_mut().zip(bits) {
                    *s |= b;
                }
            }
        }
    }
    for (o, s) in out.iter_mut().zip(scratch.iter()) {
        *o &= s;
    }
}

/// Builder state shared by all tables: the `any` bitset.
struct Any {
    words: Words,
}

impl Any {
    fn new(rules: usize) -> Any {
        Any {
            words: vec![0; word_count(rules)],
        }
    }
}

/// Addresses (`-s`, `-d`): prefixes grouped by family and length, each group a hash of
/// network address to rules, so a lookup costs one probe per distinct length in use (at
/// most 33 + 129), whatever the number of rules.
#[derive(Debug)]
pub(crate) struct AddrTable {
    any: Words,
    /// (IPv4?, length, network → rules), longest first.
    groups: Vec<(bool, u8, HashMap<IpAddr, Rules>)>,
}

/// Builds an [`AddrTable`]: one call per rule, in rule order.
pub(crate) struct AddrBuilder {
    any: Any,
    groups: HashMap<(bool, u8), HashMap<IpAddr, Vec<u32>>>,
}

impl AddrBuilder {
    pub fn new(rules: usize) -> AddrBuilder {
        AddrBuilder {
            any: Any::new(rules),
            groups: HashMap::default(),
        }
    }

    /// Rule `rule` accepts only addresses inside `prefix` (`None`: any address).
    pub fn add(&mut self, rule: u32, prefix: Option<Prefix>) {
        match prefix {
            Some(p) => self
                .groups
                .entry((p.is_ipv4(), p.len()))
                .or_default()
                .entry(p.addr())
                .or_default()
                .push(rule),
            None => set_bit(&mut self.any.words, rule),
        }
    }

    /// The table, or `None` when no rule constrains the field (nothing to narrow).
    pub fn finish(self) -> Option<AddrTable> {
        if self.groups.is_empty() {
            return None;
        }
        let words = self.any.words.len();
        let mut groups: Vec<_> = self
            .groups
            .into_iter()
            .map(|((v4, len), nets)| (v4, len, dense(nets, words)))
            .collect();
        groups.sort_by_key(|(v4, len, _)| (*v4, std::cmp::Reverse(*len)));
        Some(AddrTable {
            any: self.any.words,
            groups,
        })
    }
}

impl AddrTable {
    /// Narrows `out` to the rules that may match address `ip`.
    pub fn narrow(&self, ip: IpAddr, out: &mut [u64], scratch: &mut Words) {
        let v4 = ip.is_ipv4();
        let lists = self
            .groups
            .iter()
            .filter(|(g4, _, _)| *g4 == v4)
            .filter_map(|(_, len, nets)| {
                let net = Prefix::new(ip, *len)?.addr();
                nets.get(&net)
            });
        narrow(out, scratch, &self.any, lists);
    }
}

/// Levels of the port tree: blocks of 2^0 … 2^16 ports.
const PORT_LEVELS: usize = 17;

/// Ports (`--sport`, `--dport`, `--sports`, `--dports`): each range is split into at most
/// 32 aligned power-of-two blocks (a segment tree over 0–65535), and a port's lookup
/// visits the 17 blocks holding it. Memory is linear in the ranges even when they nest.
#[derive(Debug)]
pub(crate) struct PortTable {
    any: Words,
    /// Per level k in use: (k, block number (port >> k) → rules).
    levels: Vec<(usize, HashMap<u32, Rules>)>,
}

/// Builds a [`PortTable`].
pub(crate) struct PortBuilder {
    any: Any,
    levels: Vec<HashMap<u32, Vec<u32>>>,
    used: bool,
}

/// The aligned blocks (level, number) that exactly cover `lo..=hi`.
pub(crate) fn port_blocks(range: PortRange) -> Vec<(usize, u32)> {
    let (mut lo, hi) = (u32::from(range.lo), u32::from(range.hi));
    let mut blocks = Vec::new();
    while lo <= hi {
        // The largest block aligned at `lo` that stays within `hi`.
        let mut k = if lo == 0 {
            16
        } else {
            lo.trailing_zeros().min(16) as usize
        };
        while lo + (1 << k) - 1 > hi {
            k -= 1;
        }
        blocks.push((k, lo >> k));
        lo += 1 << k;
    }
    blocks
}

impl PortBuilder {
    pub fn new(rules: usize) -> PortBuilder {
        PortBuilder {
            any: Any::new(rules),
            levels: vec![HashMap::default(); PORT_LEVELS],
            used: false,
        }
    }

    /// Rule `rule` accepts only ports in `ranges` (`None`: any port).
    pub fn add(&mut self, rule: u32, ranges: Option<&[PortRange]>) {
        let Some(ranges) = ranges else {
            set_bit(&mut self.any.words, rule);
            return;
        };
        self.used = true;
        for range in ranges {
            for (k, block) in port_blocks(*range) {
                let list = self.levels[k].entry(block).or_default();
                // Two ranges of one rule may share a block: list the rule once.
                if list.last() != Some(&rule) {
                    list.push(rule);
                }
            }
        }
    }

    pub fn finish(self) -> Option<PortTable> {
        let words = self.any.words.len();
        self.used.then(|| PortTable {
            levels: self
                .levels
                .into_iter()
                .enumerate()
                .filter(|(_, level)| !level.is_empty())
                .map(|(k, level)| (k, dense(level, words)))
                .collect(),
            any: self.any.words,
        })
    }
}

impl PortTable {
    /// Narrows `out` to the rules that may match `port`.
    pub fn narrow(&self, port: u16, out: &mut [u64], scratch: &mut Words) {
        let port = u32::from(port);
        let lists = self
            .levels
            .iter()
            .filter_map(|(k, blocks)| blocks.get(&(port >> k)));
        narrow(out, scratch, &self.any, lists);
    }
}

/// Small keys compared for equality: the protocol number.
#[derive(Debug)]
pub(crate) struct ProtoTable {
    any: Words,
    by_proto: HashMap<u8, Rules>,
}

/// Builds a [`ProtoTable`].
pub(crate) struct ProtoBuilder {
    any: Any,
    by_proto: HashMap<u8, Vec<u32>>,
}

impl ProtoBuilder {
    pub fn new(rules: usize) -> ProtoBuilder {
        ProtoBuilder {
            any: Any::new(rules),
            by_proto: HashMap::default(),
        }
    }

    pub fn add(&mut self, rule: u32, proto: Option<u8>) {
        match proto {
            Some(p) => self.by_proto.entry(p).or_default().push(rule),
            None => set_bit(&mut self.any.words, rule),
        }
    }

    pub fn finish(self) -> Option<ProtoTable> {
        let words = self.any.words.len();
        (!self.by_proto.is_empty()).then(|| ProtoTable {
            by_proto: dense(self.by_proto, words),
            any: self.any.words,
        })
    }
}

impl ProtoTable {
    pub fn narrow(&self, proto: u8, out: &mut [u64], scratch: &mut Words) {
        narrow(
            out,
            scratch,
            &self.any,
            self.by_proto.get(&proto).into_iter(),
        );
    }
}

/// Interfaces (`-i`, `-o`): exact names hashed; `eth+` stems checked one by one (a
/// ruleset has few distinct stems).
#[derive(Debug)]
pub(crate) struct IfaceTable {
    any: Words,
    exact: HashMap<String, Rules>,
    stems: Vec<(String, Rules)>,
}

/// Builds an [`IfaceTable`].
pub(crate) struct IfaceBuilder {
    any: Any,
    exact: HashMap<String, Vec<u32>>,
    stems: HashMap<String, Vec<u32>>,
}

impl IfaceBuilder {
    pub fn new(rules: usize) -> IfaceBuilder {
        IfaceBuilder {
            any: Any::new(rules),
            exact: HashMap::default(),
            stems: HashMap::default(),
        }
    }

    pub fn add(&mut self, rule: u32, iface: Option<&Interface>) {
        let Some(iface) = iface else {
            set_bit(&mut self.any.words, rule);
            return;
        };
        match iface.0.strip_suffix('+') {
            Some(stem) => self.stems.entry(stem.to_string()).or_default().push(rule),
            None => self.exact.entry(iface.0.clone()).or_default().push(rule),
        }
    }

    pub fn finish(self) -> Option<IfaceTable> {
        if self.exact.is_empty() && self.stems.is_empty() {
            return None;
        }
        let words = self.any.words.len();
        let mut stems: Vec<_> = dense(self.stems, words).into_iter().collect();
        stems.sort_by(|a, b| a.0.cmp(&b.0));
        Some(IfaceTable {
            exact: dense(self.exact, words),
            any: self.any.words,
            stems,
        })
    }
}

impl IfaceTable {
    /// Narrows `out` to the rules that may match interface `name` (empty: none, as for a
    /// locally generated packet's input interface).
    pub fn narrow(&self, name: &str, out: &mut [u64], scratch: &mut Words) {
        let exact = self.exact.get(name);
        let stems = self
            .stems
            .iter()
            .filter(|(stem, _)| name.starts_with(stem.as_str()))
            .map(|(_, rules)| rules);
        narrow(out, scratch, &self.any, exact.into_iter().chain(stems));
    }
}

/// Conntrack state bits (`-m state`, `-m conntrack --ctstate`): rules grouped by the bits
/// they accept; a rule may match when its bits meet the packet's.
#[derive(Debug)]
pub(crate) struct BitsTable {
    any: Words,
    by_mask: Vec<(u8, Rules)>,
}

/// Builds a [`BitsTable`].
pub(crate) struct BitsBuilder {
    any: Any,
    by_mask: HashMap<u8, Vec<u32>>,
}

impl BitsBuilder {
    pub fn new(rules: usize) -> BitsBuilder {
        BitsBuilder {
            any: Any::new(rules),
            by_mask: HashMap::default(),
        }
    }

    pub fn add(&mut self, rule: u32, mask: Option<u8>) {
        match mask {
            Some(m) => self.by_mask.entry(m).or_default().push(rule),
            None => set_bit(&mut self.any.words, rule),
        }
    }

    pub fn finish(self) -> Option<BitsTable> {
        if self.by_mask.is_empty() {
            return None;
        }
        let words = self.any.words.len();
        let mut by_mask: Vec<_> = dense(self.by_mask, words).into_iter().collect();
        by_mask.sort_by_key(|(mask, _)| *mask);
        Some(BitsTable {
            any: self.any.words,
            by_mask,
        })
    }
}

impl BitsTable {
    pub fn narrow(&self, bits: u8, out: &mut [u64], scratch: &mut Words) {
        let lists = self
            .by_mask
            .iter()
            .filter(|(mask, _)| mask & bits != 0)
            .map(|(_, rules)| rules);
        narrow(out, scratch, &self.any, lists);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(rules: usize) -> Words {
        let mut w = vec![0; word_count(rules)];
        for r in 0..rules {
            set_bit(&mut w, r as u32);
        }
        w
    }

    fn members(words: &[u64]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(i) = next_set(words, at) {
            out.push(i);
            at = i + 1;
        }
        out
    }

    fn range(lo: u16, hi: u16) -> PortRange {
        PortRange { lo, hi }
    }

    #[test]
    fn next_set_crosses_words() {
        let mut w = vec![0; 3];
        set_bit(&mut w, 3);
        set_bit(&mut w, 64);
        set_bit(&mut w, 130);
        assert_eq!(next_set(&w, 0), Some(3));
        assert_eq!(next_set(&w, 4), Some(64));
        assert_eq!(next_set(&w, 65), Some(130));
        assert_eq!(next_set(&w, 131), None);
        assert_eq!(next_set(&w, 500), None);
        assert_eq!(members(&w), [3, 64, 130]);
    }

    #[test]
    fn port_blocks_cover_exactly() {
        for (lo, hi) in [
            (0, 65535),
            (0, 0),
            (65535, 65535),
            (22, 22),
            (1000, 1001),
            (1, 1024),
            (8000, 8080),
            (1023, 65534),
        ] {
            let blocks = port_blocks(range(lo, hi));
            assert!(blocks.len() <= 32, "{lo}:{hi}: {} blocks", blocks.len());
            let mut covered = vec![false; 65536];
            for (k, b) in blocks {
                for p in (b << k)..((b + 1) << k) {
                    assert!(!covered[p as usize], "{lo}:{hi}: port {p} twice");
                    covered[p as usize] = true;
                }
            }
            for (p, c) in covered.iter().enumerate() {
                assert_eq!(
                    *c,
                    (lo as usize..=hi as usize).contains(&p),
                    "{lo}:{hi} port {p}"
                );
            }
        }
        assert_eq!(port_blocks(range(0, 65535)), [(16, 0)]);
    }

    #[test]
    fn port_lookup_matches_ranges() {
        let rules: [Option<Vec<PortRange>>; 5] = [
            Some(vec![range(22, 22)]),
            None,
            Some(vec![range(1000, 2000), range(1500, 1600)]),
            Some(vec![range(0, 65535)]),
            Some(vec![range(80, 80), range(443, 443)]),
        ];
        let mut b = PortBuilder::new(rules.len());
        for (i, r) in rules.iter().enumerate() {
            b.add(i as u32, r.as_deref());
        }
        let table = b.finish().unwrap();
        let mut scratch = Vec::new();
        for port in [0, 21, 22, 23, 80, 443, 999, 1000, 1550, 2000, 2001, 65535] {
            let mut out = ones(rules.len());
            table.narrow(port, &mut out, &mut scratch);
            let want: Vec<usize> = (0..rules.len())
                .filter(|&i| {
                    rules[i]
                        .as_ref()
                        .is_none_or(|rs| rs.iter().any(|r| r.contains(port)))
                })
                .collect();
            assert_eq!(members(&out), want, "port {port}");
        }
    }

    #[test]
    fn addr_lookup_is_longest_and_shorter_prefixes() {
        let prefixes = [
            Some("192.0.2.0/24"),
            Some("192.0.2.7/32"),
            None,
            Some("2001:db8::/32"),
            Some("0.0.0.0/0"),
            Some("198.51.100.0/25"),
        ];
        let mut b = AddrBuilder::new(prefixes.len());
        for (i, p) in prefixes.iter().enumerate() {
            b.add(i as u32, p.map(|p| p.parse().unwrap()));
        }
        let table = b.finish().unwrap();
        let mut scratch = Vec::new();
        for ip in [
            "192.0.2.7",
            "192.0.2.8",
            "198.51.100.127",
            "198.51.100.128",
            "2001:db8::1",
            "2001:db9::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = ones(prefixes.len());
            table.narrow(ip, &mut out, &mut scratch);
            let want: Vec<usize> = (0..prefixes.len())
                .filter(|&i| prefixes[i].is_none_or(|p| p.parse::<Prefix>().unwrap().contains(ip)))
                .collect();
            assert_eq!(members(&out), want, "{ip}");
        }
    }

    #[test]
    fn iface_lookup_exact_and_stems() {
        let names = [Some("eth0"), Some("eth+"), None, Some("ppp0"), Some("+")];
        let mut b = IfaceBuilder::new(names.len());
        for (i, n) in names.iter().enumerate() {
            b.add(i as u32, n.map(|n| Interface(n.into())).as_ref());
        }
        let table = b.finish().unwrap();
        let mut scratch = Vec::new();
        for name in ["eth0", "eth1", "ppp0", "lo", ""] {
            let mut out = ones(names.len());
            table.narrow(name, &mut out, &mut scratch);
            let want: Vec<usize> = (0..names.len())
                .filter(|&i| names[i].is_none_or(|n| Interface(n.into()).matches(name)))
                .collect();
            assert_eq!(members(&out), want, "{name:?}");
        }
    }

    #[test]
    fn dense_keys_become_bitsets_with_the_same_answers() {
        // 300 rules, every other one tcp: the tcp list outgrows the 5 words of a bitset.
        let n = 300;
        let mut p = ProtoBuilder::new(n);
        for i in 0..n {
            p.add(
                i as u32,
                (i % 2 == 0).then_some(6).or((i % 97 == 1).then_some(17)),
            );
        }
        let table = p.finish().unwrap();
        assert!(matches!(table.by_proto[&6], Rules::Bits(_)));
        assert!(matches!(table.by_proto[&17], Rules::List(_)));
        let mut scratch = Vec::new();
        for proto in [6u8, 17, 1] {
            let mut out = ones(n);
            table.narrow(proto, &mut out, &mut scratch);
            let want: Vec<usize> = (0..n)
                .filter(|&i| match (i % 2 == 0, i % 97 == 1) {
                    (true, _) => proto == 6,
                    (false, true) => proto == 17,
                    (false, false) => true,
                })
                .collect();
            assert_eq!(members(&out), want, "proto {proto}");
        }
    }

    #[test]
    fn many_listed_candidates_take_the_bitset_path() {
        // 10,000 rules (157 words): 125 rules on port 22 stay a list, more than the 64
        // the list-only path keeps.
        let n = 10_000;
        let mut b = PortBuilder::new(n);
        for i in 0..n {
            let port = if i % 80 == 0 {
                Some(22)
            } else if i % 2 == 0 {
                Some(80)
            } else {
                None
            };
            b.add(i as u32, port.map(|p| vec![range(p, p)]).as_deref());
        }
        let table = b.finish().unwrap();
        let mut scratch = Vec::new();
        let mut out = ones(n);
        table.narrow(22, &mut out, &mut scratch);
        let want: Vec<usize> = (0..n).filter(|i| i % 80 == 0 || i % 2 == 1).collect();
        assert!(matches!(table.levels[0].1[&22], Rules::List(_)));
        assert_eq!(members(&out), want);
    }

    #[test]
    fn bits_and_proto_lookups() {
        let mut b = BitsBuilder::new(3);
        b.add(0, Some(0x06));
        b.add(1, None);
        b.add(2, Some(0x01));
        let table = b.finish().unwrap();
        let mut scratch = Vec::new();
        let mut out = ones(3);
        table.narrow(0x04 | 0x20, &mut out, &mut scratch);
        assert_eq!(members(&out), [0, 1]);

        let mut p = ProtoBuilder::new(3);
        p.add(0, Some(6));
        p.add(1, Some(17));
        p.add(2, None);
        let table = p.finish().unwrap();
        let mut out = ones(3);
        table.narrow(17, &mut out, &mut scratch);
        assert_eq!(members(&out), [1, 2]);
        assert!(ProtoBuilder::new(2).finish().is_none(), "nothing to narrow");
    }
}
