//! Debian's tor-geoipdb files.
//!
//! `/usr/share/tor/geoip` has lines `INTSTART,INTEND,CC` with IPv4 addresses as integers
//! (`16777216,16777471,AU`); `/usr/share/tor/geoip6` has `START,END,CC` with IPv6 text
//! addresses (`2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP`). Both start with `#`
//! comments. The code `??` marks ranges the IPFire database has no country for: they are
//! skipped (looking them up gives no country), not reported.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr};

use rampart_prefix::AddrRange;

use crate::{
    for_each_line, push, Collector, Country, ImportErrors, ImportOptions, Imported, LineErrorKind,
};

/// Reads a tor geoip or geoip6 file (either; each line's form is recognised by itself).
pub fn read_tor_geoip(
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
            Ok(Some((r, c))) => push(
                &mut items,
                (if opts.unmap_v4 { r.unmapped() } else { r }, c),
                opts.max_entries,
            )?,
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
    let mut f = entry.split(',');
    let (Some(a), Some(b), Some(cc), None) = (f.next(), f.next(), f.next(), f.next()) else {
        return Err(LineErrorKind::Fields {
            expected: "3 (INTSTART,INTEND,CC)",
            sep: ',',
            found: entry.split(',').count(),
        });
    };
    let (a, b, cc) = (a.trim(), b.trim(), cc.trim());
    let addr = |t: &str| -> Result<IpAddr, LineErrorKind> {
        if t.contains(':') {
            rampart_prefix::parse_addr(t).map_err(LineErrorKind::Prefix)
        } else {
            t.parse::<u32>()
                .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
                .map_err(|_| LineErrorKind::BadInteger(t.to_string()))
        }
    };
    let (start, end) = (addr(a)?, addr(b)?);
    let range =
        AddrRange::new(start, end).ok_or_else(|| LineErrorKind::BadRange(format!("{a},{b}")))?;
    if cc == "??" {
        return Ok(None);
    }
    let c = Country::new(cc).ok_or_else(|| LineErrorKind::BadCountry(cc.to_string()))?;
    Ok(Some((range, c)))
}
