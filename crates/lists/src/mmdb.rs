//! MaxMind / DB-IP `.mmdb` country databases: a reader over the `maxminddb` crate, and a
//! minimal writer for tests and benchmarks.

use std::collections::HashMap;
use std::net::IpAddr;

use rampart_prefix::{Prefix, PrefixMap};
use serde::Deserialize;

use crate::{Country, Imported, MmdbError, Skipped, MAX_INPUT_BYTES};

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Names<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// The marker that starts a MaxMind DB's metadata section.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// Whether `bytes` look like a MaxMind DB (the metadata marker is in its last 128 KiB,
/// where the format puts it), as opposed to a text file.
pub fn is_mmdb(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(128 * 1024)..];
    tail.windows(METADATA_MARKER.len())
        .any(|w| w == METADATA_MARKER)
}

/// Reads every network of a country database (GeoLite2-Country, GeoIP2-Country,
/// dbip-country-lite, or a City database, which has the same `country` field) with its
/// country: `country.iso_code`, else `registered_country.iso_code`. Networks with neither
/// are skipped and counted in [`Imported::skipped`]. IPv4 networks come out as IPv4
/// whether the database stores them in an IPv4 tree or under `::/96`.
///
/// Reads at most [`DEFAULT_MAX_ENTRIES`](crate::DEFAULT_MAX_ENTRIES) networks; see
/// [`read_mmdb_limited`].
pub fn read_mmdb(bytes: Vec<u8>, name: &str) -> Result<Imported<(Prefix, Country)>, MmdbError> {
    read_mmdb_limited(bytes, name, crate::DEFAULT_MAX_ENTRIES)
}

/// [`read_mmdb`], refusing a database of more than [`MAX_INPUT_BYTES`] bytes or with more
/// than `max_entries` networks ([`MmdbError::TooLarge`], [`MmdbError::TooManyEntries`]).
pub fn read_mmdb_limited(
    bytes: Vec<u8>,
    name: &str,
    max_entries: usize,
) -> Result<Imported<(Prefix, Country)>, MmdbError> {
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(MmdbError::TooLarge {
            name: name.to_string(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let name = &rampart_safeio::escaped(name);
    // The reader's messages may quote bytes of the file: shortened and escaped.
    let format = |e: maxminddb::MaxMindDbError| MmdbError::Format {
        name: name.to_string(),
        reason: rampart_safeio::excerpt(&e.to_string(), 4 * crate::EXCERPT_CHARS),
    };
    let reader = maxminddb::Reader::from_source(bytes).map_err(format)?;
    let mut items = Vec::new();
    let mut skipped = Skipped::default();
    let mut any_record = false;
    for item in reader
        .networks(maxminddb::WithinOptions::default())
        .map_err(format)?
    {
        let item = item.map_err(format)?;
        let net = item.network().map_err(format)?;
        let prefix = Prefix::new(net.ip(), net.prefix()).ok_or_else(|| MmdbError::Format {
            name: name.to_string(),
            reason: format!("network {}/{} is not valid", net.ip(), net.prefix()),
        })?;
        any_record = true;
        if items.len() + skipped.count >= max_entries {
            return Err(MmdbError::TooManyEntries {
                name: name.to_string(),
                limit: max_entries,
            });
        }
        let rec: Option<Record> = item.decode().map_err(format)?;
        let code = rec.and_then(|r| {
            r.country
                .and_then(|c| c.iso_code)
                .or_else(|| r.registered_country.and_then(|c| c.iso_code))
        });
        match code.and_then(Country::new) {
            Some(c) => items.push((prefix, c)),
            None => skipped.count += 1,
        }
    }
    if items.is_empty() && any_record {
        return Err(MmdbError::NoCountries {
            name: name.to_string(),
            // Text from the file: shortened and escaped (found by scripts/fuzz).
            kind: rampart_safeio::excerpt(&reader.metadata().database_type, crate::EXCERPT_CHARS),
        });
    }
    Ok(Imported {
        lines: items.len() + skipped.count,
        items,
        skipped,
    })
}

/// Writes a minimal MaxMind DB (format 2.0, IPv6 tree with IPv4 under `::/96`, 32-bit
/// records) whose records are `{"country": {"iso_code": CC}}`, as a country database has.
/// For tests and benchmarks: it lets them build a `.mmdb` from known data without
/// downloading one.
///
/// ```text
///   search tree: node_count nodes × 8 bytes (left record u32 BE, right record u32 BE)
///                record <  node_count: child node
///                record == node_count: no data
///                record >  node_count: data at (record - node_count - 16)
///   16 zero bytes
///   data section: one map per country
///   "\xAB\xCD\xEFMaxMind.com" + metadata map
/// ```
pub fn write_country_mmdb(map: &PrefixMap<Country>, build_epoch: u64) -> Vec<u8> {
    #[derive(Clone, Copy)]
    enum Rec {
        Empty,
        Node(u32),
        Data(u32),
    }
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty; 2]];
    let mut data = Vec::new();
    let mut offsets: HashMap<Country, u32> = HashMap::new();
    let mut insert = |key: u128, len: u8, c: Country, nodes: &mut Vec<[Rec; 2]>| {
        let off = *offsets.entry(c).or_insert_with(|| {
            let off = data.len() as u32;
            map_header(&mut data, 1);
            string(&mut data, "country");
            map_header(&mut data, 1);
            string(&mut data, "iso_code");
            string(&mut data, c.as_str());
            off
        });
        let mut node = 0usize;
        for depth in 0..len {
            let bit = ((key >> (127 - depth)) & 1) as usize;
            if depth + 1 == len {
                nodes[node][bit] = Rec::Data(off);
                return;
            }
            node = match nodes[node][bit] {
                Rec::Node(n) => n as usize,
                Rec::Empty => {
                    nodes.push([Rec::Empty; 2]);
                    let n = nodes.len() - 1;
                    nodes[node][bit] = Rec::Node(n as u32);
                    n
                }
                Rec::Data(_) => unreachable!("the map's ranges are disjoint"),
            };
        }
    };
    for (range, &c) in map.ranges() {
        for p in range.to_prefixes() {
            let (key, len) = match p.addr() {
                IpAddr::V4(a) => (u128::from(u32::from(a)), 96 + p.len()),
                IpAddr::V6(a) => (u128::from(a), p.len()),
            };
            if len == 0 {
                insert(0, 1, c, &mut nodes);
                insert(1 << 127, 1, c, &mut nodes);
            } else {
                insert(key, len, c, &mut nodes);
            }
        }
    }
    let node_count = nodes.len() as u32;
    let mut out = Vec::with_capacity(nodes.len() * 8 + data.len() + 256);
    for n in &nodes {
        for r in n {
            let v = match *r {
                Rec::Empty => node_count,
                Rec::Node(i) => i,
                Rec::Data(off) => node_count + 16 + off,
            };
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(METADATA_MARKER);
    map_header(&mut out, 9);
    string(&mut out, "binary_format_major_version");
    uint(&mut out, 5, 2);
    string(&mut out, "binary_format_minor_version");
    uint(&mut out, 5, 0);
    string(&mut out, "build_epoch");
    uint(&mut out, 9, build_epoch);
    string(&mut out, "database_type");
    string(&mut out, "rampart-Country");
    string(&mut out, "description");
    map_header(&mut out, 0);
    string(&mut out, "languages");
    out.extend_from_slice(&[0, 11 - 7]);
    string(&mut out, "ip_version");
    uint(&mut out, 5, 6);
    string(&mut out, "node_count");
    uint(&mut out, 6, u64::from(node_count));
    string(&mut out, "record_size");
    uint(&mut out, 5, 32);
    out
}

/// A control byte for `kind` (1..=7 in the byte itself, 8.. as an extended type) and a
/// size below 29.
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    assert!(size < 29, "short sizes only");
    if kind <= 7 {
        out.push(kind << 5 | size as u8);
    } else {
        out.push(size as u8);
        out.push(kind - 7);
    }
}

fn map_header(out: &mut Vec<u8>, pairs: usize) {
    control(out, 7, pairs);
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, 2, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// An unsigned integer of type `kind` (5 = uint16, 6 = uint32, 9 = uint64) in the fewest
/// bytes.
fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of `tree` (node_count nodes of two 32-bit records), no data section to
    /// speak of, and metadata saying `node_count`, `record_size` and `ip_version`.
    fn crafted(tree: &[[u32; 2]], node_count: u64, record_size: u64, ip_version: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for n in tree {
            for r in n {
                out.extend_from_slice(&r.to_be_bytes());
            }
        }
        out.extend_from_slice(&[0; 16]);
        // One record: {"country": {"iso_code": "AU"}}.
        map_header(&mut out, 1);
        string(&mut out, "country");
        map_header(&mut out, 1);
        string(&mut out, "iso_code");
        string(&mut out, "AU");
        out.extend_from_slice(METADATA_MARKER);
        map_header(&mut out, 9);
        string(&mut out, "description");
        map_header(&mut out, 0);
        string(&mut out, "languages");
        out.extend_from_slice(&[0, 11 - 7]);
        string(&mut out, "binary_format_major_version");
        uint(&mut out, 5, 2);
        string(&mut out, "binary_format_minor_version");
        uint(&mut out, 5, 0);
        string(&mut out, "build_epoch");
        uint(&mut out, 9, 1);
        string(&mut out, "database_type");
        string(&mut out, "x-Country");
        string(&mut out, "ip_version");
        uint(&mut out, 5, ip_version);
        string(&mut out, "node_count");
        uint(&mut out, 6, node_count);
        string(&mut out, "record_size");
        uint(&mut out, 5, record_size);
        out
    }

    /// Issue 15: crafted metadata and trees (cycles, records past the data, node counts
    /// and record sizes that do not fit the file) end in an error or a result, never a
    /// panic or an endless walk (maxminddb 0.32 refuses a cycle: "traversal exceeded the
    /// address bit length"; a pointer past the data: "resolves to an invalid location").
    #[test]
    fn issue15_crafted_trees_and_metadata_never_panic() {
        let n = 3u32;
        let data = n + 16;
        let trees: Vec<Vec<[u32; 2]>> = vec![
            // A cycle: every record back to the root.
            vec![[0, 0], [0, 0], [0, 0]],
            // Records to nodes past the tree, and to data far past the file.
            vec![[1, 2], [7, u32::MAX], [data, data + 1_000_000]],
            // A well-formed shape: root → node 1 → data.
            vec![[1, n], [data, n], [n, n]],
            // Data pointers into the metadata and to the separator.
            vec![[n + 1, n + 15], [data + 40, data + 3], [n, data]],
        ];
        for tree in &trees {
            for node_count in [0, 1, 2, 3, 4, 1 << 20, u64::from(u32::MAX)] {
                for record_size in [0, 24, 28, 32, 31, 1000] {
                    for ip_version in [4, 6, 0, 5] {
                        let db = crafted(tree, node_count, record_size, ip_version);
                        let got = std::panic::catch_unwind(|| read_mmdb(db, "crafted.mmdb"));
                        let Ok(got) = got else {
                            panic!("panic: nodes {node_count} record {record_size} ip {ip_version} tree {tree:?}");
                        };
                        if let Err(e) = &got {
                            let shown = e.to_string();
                            assert!(shown.len() < 600 && !shown.contains('\u{1b}'), "{shown}");
                        }
                        if (tree == &trees[2], node_count, record_size, ip_version)
                            == (true, 3, 32, 6)
                        {
                            // The crafted writer makes a readable database: ::/2 is AU.
                            let got = got.unwrap();
                            assert_eq!(got.items.len(), 1, "{got:?}");
                            assert_eq!(got.items[0].0.to_string(), "::/2");
                        }
                    }
                }
            }
        }
    }
}
