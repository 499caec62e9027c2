//! RIR delegated-stats files (`delegated-apnic-extended-latest` and the like).
//!
//! ```text
//! 2|apnic|20240101|71234|19830613|20231231|+1000       version line
//! apnic|*|ipv4|*|50000|summary                        summary lines
//! apnic|CN|ipv4|1.0.1.0|256|20110414|allocated        records
//! apnic|JP|ipv6|2001:200::|35|19990813|allocated
//! apnic|AU|asn|173|1|20020801|allocated               (ignored)
//! ```
//!
//! An ipv4 record's value is an address count, not always a power of two (`1.0.1.0|768`),
//! so it becomes a range (and the caller's [`PrefixSet`](rampart_prefix::PrefixSet) its
//! CIDRs); an ipv6 record's value is a prefix length. Records without a country (`available`
//! and `reserved` blocks, whose cc is empty or `ZZ`) and `asn` records are skipped.
//! Extended files' extra fields (opaque id, extensions) are ignored.

use std::io::BufRead;
use std::net::IpAddr;

use rampart_prefix::{AddrRange, Prefix};

use crate::{
    for_each_line, push, Collector, Country, ImportErrors, ImportOptions, Imported, LineErrorKind,
};

/// Reads a delegated-stats file into ranges with their countries.
pub fn read_rir(
    input: impl BufRead,
    name: &str,
    opts: ImportOptions,
) -> Result<Imported<(AddrRange, Country)>, ImportErrors> {
    let mut errs = Collector::new(name, opts);
    let mut items = Vec::new();
    let lines = for_each_line(input, &opts, |n, line| {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            return Ok(());
        }
        match parse_line(entry) {
            Ok(Some(r)) => push(&mut items, r, opts.max_entries)?,
            Ok(None) => {}
            Err(kind) => errs.error(n, line, kind),
        }
        Ok(())
    });
    match lines {
        Ok(lines) => errs.finish(items, lines),
        Err(fatal) => Err(errs.fatal(fatal)),
    }
}

fn parse_line(entry: &str) -> Result<Option<(AddrRange, Country)>, LineErrorKind> {
    let f: Vec<&str> = entry.split('|').collect();
    // The version line starts with the format version, a number.
    if f[0].chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(None);
    }
    if f.len() >= 6 && f[5] == "summary" {
        return Ok(None);
    }
    if f.len() < 7 {
        return Err(LineErrorKind::Fields {
            expected: "at least 7",
            sep: '|',
            found: f.len(),
        });
    }
    let (cc, kind, start, value) = (f[1], f[2], f[3], f[4]);
    if kind == "asn" {
        return Ok(None);
    }
    if kind != "ipv4" && kind != "ipv6" {
        return Err(LineErrorKind::RirValue(
            kind.to_string(),
            "type (ipv4, ipv6 or asn)",
        ));
    }
    if cc.is_empty() || cc == "*" || cc.eq_ignore_ascii_case("ZZ") {
        return Ok(None);
    }
    let country = Country::new(cc).ok_or_else(|| LineErrorKind::BadCountry(cc.to_string()))?;
    let addr = rampart_prefix::parse_addr(start).map_err(LineErrorKind::Prefix)?;
    let range =
        match (kind, addr) {
            ("ipv4", IpAddr::V4(a)) => {
                let count: u64 =
                    value.parse().ok().filter(|c| *c >= 1).ok_or_else(|| {
                        LineErrorKind::RirValue(value.to_string(), "address count")
                    })?;
                let last = u64::from(u32::from(a)) + count - 1;
                let last = u32::try_from(last).map_err(|_| LineErrorKind::RirOverflow {
                    start: start.to_string(),
                    count,
                })?;
                AddrRange::new(addr, IpAddr::V4(last.into())).expect("last >= start")
            }
            ("ipv6", IpAddr::V6(_)) => {
                let len: u8 = value.parse().ok().filter(|l| *l <= 128).ok_or_else(|| {
                    LineErrorKind::RirValue(value.to_string(), "IPv6 prefix length")
                })?;
                Prefix::new(addr, len).expect("len <= 128").range()
            }
            _ => {
                return Err(LineErrorKind::RirValue(
                    start.to_string(),
                    if kind == "ipv4" {
                        "IPv4 start address"
                    } else {
                        "IPv6 start address"
                    },
                ))
            }
        };
    Ok(Some((range, country)))
}
