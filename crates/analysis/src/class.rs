//! Classes of packets as people read them, and merging many classes into few.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_prefix::AddrRange;
use rampart_ruleset::Protocol;
use serde::Serialize;

use crate::space::{Dim, Ranges, Universe, CT_NAMES};

/// A class of packets in words: one entry per field it restricts (fields left out take
/// any value).
///
/// In JSON, an object: `{"proto": "tcp", "src": "192.0.2.0/24", "dport": "8080"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Class {
    /// (`proto`, `tcp`), (`src`, `192.0.2.0/24`), (`dport`, `8080`)...
    pub fields: Vec<(String, String)>,
}

impl Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Values listed before "and N more".
const MAX_LISTED: usize = 4;

/// Interval sets listed in full above this many intervals are shown by their complement
/// when that is shorter.
fn prefer_complement(r: &Ranges, full: &Ranges, max: u128) -> Option<Ranges> {
    let c = r.complement(max).intersect(full);
    (c.0.len() < r.0.len()).then_some(c)
}

fn addr(v: u128, ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

fn list(items: Vec<String>) -> String {
    let n = items.len();
    let mut s: Vec<String> = items.into_iter().take(MAX_LISTED).collect();
    if n > MAX_LISTED {
        s.push(format!("and {} more", n - MAX_LISTED));
    }
    s.join(",")
}

/// One dimension's set in words, `None` when it is the whole dimension.
pub fn describe_dim(u: &Universe, dim: Dim, r: &Ranges) -> Option<(String, String)> {
    let max = u.max(dim);
    let full = u.full(dim);
    if *r == full {
        return None;
    }
    let (r, not) = match prefer_complement(r, &full, max) {
        Some(c) if !matches!(dim, Dim::Member(_) | Dim::Fragment) => (c, "not "),
        _ => (r.clone(), ""),
    };
    let values = |f: &dyn Fn(u128) -> String| -> String {
        let mut items = Vec::new();
        for &(lo, hi) in &r.0 {
            if lo == hi {
                items.push(f(lo));
            } else if hi - lo < 3 {
                items.extend((lo..=hi).map(f));
            } else {
                items.push(format!("{}-{}", f(lo), f(hi)));
            }
        }
        list(items)
    };
    let (name, text) = match dim {
        Dim::Proto => ("proto", values(&|v| Protocol(v as u8).to_string())),
        Dim::Ct => ("state", values(&|v| CT_NAMES[v as usize].to_string())),
        Dim::InIface => ("in", values(&|v| u.iface_name(v))),
        Dim::OutIface => ("out", values(&|v| u.iface_name(v))),
        Dim::Fragment => (
            "fragment",
            if r.contains(1) { "yes" } else { "no" }.to_string(),
        ),
        Dim::TcpFlags => ("tcp-flags", values(&|v| format!("{v:#04x}"))),
        Dim::Icmp => ("icmp", values(&|v| format!("{}/{}", v >> 8, v & 255))),
        Dim::Length => ("length", values(&|v| v.to_string())),
        Dim::Mark => ("mark", values(&|v| format!("{v:#x}"))),
        Dim::Sport => ("sport", values(&|v| v.to_string())),
        Dim::Dport => ("dport", values(&|v| v.to_string())),
        Dim::Src | Dim::Dst => {
            let mut items = Vec::new();
            for &(lo, hi) in &r.0 {
                if let Some(range) = AddrRange::new(addr(lo, u.ipv6), addr(hi, u.ipv6)) {
                    items.extend(range.to_prefixes().iter().map(|p| p.to_string()));
                }
            }
            (if dim == Dim::Src { "src" } else { "dst" }, list(items))
        }
        Dim::Member(i) => {
            let (set, dirs) = &u.classes[i as usize];
            let dirs: Vec<&str> = dirs
                .iter()
                .map(|d| match d {
                    rampart_ruleset::SetDir::Src => "src",
                    rampart_ruleset::SetDir::Dst => "dst",
                })
                .collect();
            return Some((
                format!("set {set} ({})", dirs.join(",")),
                if r.contains(1) {
                    "member"
                } else {
                    "not member"
                }
                .to_string(),
            ));
        }
    };
    Some((name.to_string(), format!("{not}{text}")))
}

/// A cube (one set per dimension of `dims`) in words.
pub fn describe(u: &Universe, dims: &[Dim], cube: &[Ranges]) -> Class {
    Class {
        fields: dims
            .iter()
            .zip(cube)
            .filter_map(|(d, r)| describe_dim(u, *d, r))
            .collect(),
    }
}

impl std::fmt::Display for Class {
    /// `tcp from 192.0.2.0/24 to port 8080 (in eth0)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let get = |k: &str| self.fields.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        let mut words = vec![get("proto")
            .cloned()
            .unwrap_or_else(|| "any protocol".into())];
        words.push(format!("from {}", get("src").map_or("anywhere", |s| s)));
        if let Some(s) = get("sport") {
            words.push(format!("port {s}"));
        }
        match (get("dst"), get("dport")) {
            (Some(d), Some(p)) => words.push(format!("to {d} port {p}")),
            (Some(d), None) => words.push(format!("to {d}")),
            (None, Some(p)) => words.push(format!("to port {p}")),
            (None, None) => {}
        }
        let rest: Vec<String> = self
            .fields
            .iter()
            .filter(|(n, _)| !["proto", "src", "sport", "dst", "dport"].contains(&n.as_str()))
            // Unfragmented is what port rules imply; said in JSON, noise in a line.
            .filter(|(n, v)| !(n == "fragment" && v == "no"))
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        write!(f, "{}", words.join(" "))?;
        if !rest.is_empty() {
            write!(f, " ({})", rest.join(", "))?;
        }
        Ok(())
    }
}

/// Merges cubes with equal keys that differ in one dimension only, until no more merge (at
/// most a few rounds): the leaves of a partition become a short list. Addresses are
/// merged first and the destination port last, so a list reads per service ("to port 80
/// from anywhere") rather than per source.
///
/// Keys are numbered once and cubes are looked up by a hash of every dimension but the
/// one merged (no copy of the cube per item and dimension): a diff of two unrelated
/// random rulesets hands over hundreds of thousands of classes.
pub fn merge<K: Clone + Eq + std::hash::Hash + Ord>(
    items: Vec<(K, Vec<Ranges>)>,
    dims: &[Dim],
) -> Vec<(K, Vec<Ranges>)> {
    let rank = |d: &Dim| match d {
        Dim::Src => 0,
        Dim::Dst => 1,
        Dim::Sport => 2,
        Dim::Dport => 4,
        _ => 3,
    };
    let mut keys: Vec<K> = Vec::new();
    let mut key_ids: HashMap<K, u32> = HashMap::new();
    let mut items: Vec<(u32, Vec<Ranges>)> = items
        .into_iter()
        .map(|(k, cube)| {
            let id = *key_ids.entry(k).or_insert_with_key(|k| {
                keys.push(k.clone());
                keys.len() as u32 - 1
            });
            (id, cube)
        })
        .collect();
    drop(key_ids);
    // Only dimensions on which the items differ can merge anything.
    let mut order: Vec<usize> = (0..dims.len())
        .filter(|&d| items.iter().any(|(_, c)| c[d] != items[0].1[d]))
        .collect();
    order.sort_by_key(|&i| rank(&dims[i]));
    for _round in 0..3 {
        let before = items.len();
        for &d in &order {
            // Hash of (key, cube but `d`) → first item with it; `chain` links the rest.
            let mut first: HashMap<u64, usize, BuildFx> = HashMap::default();
            let mut chain: Vec<usize> = Vec::with_capacity(items.len());
            let mut out: Vec<(u32, Vec<Ranges>)> = Vec::with_capacity(items.len());
            for (k, cube) in items {
                let h = hash_but(k, &cube, d);
                let mut at = first.get(&h).copied();
                while let Some(i) = at {
                    let (ok, oc) = &out[i];
                    if *ok == k && equal_but(oc, &cube, d) {
                        break;
                    }
                    at = (chain[i] != usize::MAX).then_some(chain[i]);
                }
                match at {
                    Some(i) => {
                        let merged = out[i].1[d].union(&cube[d]);
                        out[i].1[d] = merged;
                    }
                    None => {
                        chain.push(first.insert(h, out.len()).unwrap_or(usize::MAX));
                        out.push((k, cube));
                    }
                }
            }
            items = out;
        }
        if items.len() == before {
            break;
        }
    }
    let mut items: Vec<(K, Vec<Ranges>)> = items
        .into_iter()
        .map(|(k, cube)| (keys[k as usize].clone(), cube))
        .collect();
    items.sort();
    items
}

/// Adds a class to `items`, merged into the last one when it has the same key and differs
/// from it in the source address only: the partition hands over siblings one after the
/// other, so much of [`merge`]'s work is done before the classes pile up (a diff of two
/// unrelated random rulesets finds hundreds of thousands). Only the source, the dimension
/// [`merge`] takes first, so the list it makes stays the same.
pub fn push_merged<K: PartialEq>(
    items: &mut Vec<(K, Vec<Ranges>)>,
    dims: &[Dim],
    key: K,
    cube: &[Ranges],
) {
    if let Some((k, last)) = items.last_mut() {
        if *k == key {
            let mut differ = last
                .iter()
                .zip(cube)
                .enumerate()
                .filter(|(_, (a, b))| a != b);
            match (differ.next(), differ.next()) {
                (None, _) => return,
                (Some((d, _)), None) if dims[d] == Dim::Src => {
                    last[d] = last[d].union(&cube[d]);
                    return;
                }
                _ => {}
            }
        }
    }
    items.push((key, cube.to_vec()));
}

fn equal_but(a: &[Ranges], b: &[Ranges], d: usize) -> bool {
    a.iter()
        .zip(b)
        .enumerate()
        .all(|(i, (x, y))| i == d || x == y)
}

/// FxHash's step (rustc's hasher): fast, and enough to spread cubes over buckets.
fn fx(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

fn hash_but(k: u32, cube: &[Ranges], d: usize) -> u64 {
    let mut h = fx(0, u64::from(k));
    for (i, r) in cube.iter().enumerate() {
        if i == d {
            continue;
        }
        h = fx(h, r.0.len() as u64);
        for &(lo, hi) in &r.0 {
            h = fx(h, lo as u64);
            h = fx(h, (lo >> 64) as u64);
            h = fx(h, hi as u64);
            h = fx(h, (hi >> 64) as u64);
        }
    }
    h
}

/// A map keyed by an already mixed `u64` needs no further hashing.
#[derive(Default, Clone, Copy)]
struct BuildFx;

#[derive(Default)]
struct PassHasher(u64);

impl std::hash::Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = fx(self.0, u64::from(*b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

impl std::hash::BuildHasher for BuildFx {
    type Hasher = PassHasher;
    fn build_hasher(&self) -> PassHasher {
        PassHasher::default()
    }
}
