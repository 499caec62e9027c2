//! Plain address lists and per-country zone files.

use std::io::BufRead;

use rampart_prefix::{AddrRange, Prefix};

use crate::{for_each_line, push, Collector, ImportErrors, ImportOptions, Imported, LineErrorKind};

/// Reads a plain list: one address (`192.0.2.1`), CIDR (`192.0.2.0/24`, or
/// `192.0.2.0/255.255.255.0`) or range (`192.0.2.1-192.0.2.9`, spaces allowed around the
/// dash) per line, IPv4 or IPv6. `#` and `;` start comments, whole-line or trailing; blank
/// lines are skipped.
pub fn read_plain(
    input: impl BufRead,
    name: &str,
    opts: ImportOptions,
) -> Result<Imported<AddrRange>, ImportErrors> {
    read(input, name, opts, false)
}

/// Reads a per-country zone file (`cn.zone`): one CIDR per line, comments and blank lines
/// as in [`read_plain`]. A bare address counts as its /32 or /128; a range is an error.
pub fn read_zone(
    input: impl BufRead,
    name: &str,
    opts: ImportOptions,
) -> Result<Imported<AddrRange>, ImportErrors> {
    read(input, name, opts, true)
}

fn read(
    input: impl BufRead,
    name: &str,
    opts: ImportOptions,
    zone: bool,
) -> Result<Imported<AddrRange>, ImportErrors> {
    let mut errs = Collector::new(name, opts);
    let mut items = Vec::new();
    let lines = for_each_line(input, &opts, |n, line| {
        let entry = strip_comment(line);
        if entry.is_empty() {
            return Ok(());
        }
        match parse_entry(entry, zone) {
            Ok(r) => push(
                &mut items,
                if opts.unmap_v4 { r.unmapped() } else { r },
                opts.max_entries,
            )?,
            Err(kind) => errs.error(n, line, kind),
        }
        Ok(())
    });
    match lines {
        Ok(lines) => errs.finish(items, lines),
        Err(fatal) => Err(errs.fatal(fatal)),
    }
}

/// The line without its comment and surrounding blanks (and a leading byte-order mark).
pub(crate) fn strip_comment(line: &str) -> &str {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let end = line.find(['#', ';']).unwrap_or(line.len());
    line[..end].trim()
}

fn parse_entry(entry: &str, zone: bool) -> Result<AddrRange, LineErrorKind> {
    if let Some((a, b)) = entry.split_once('-') {
        if zone {
            return Err(LineErrorKind::NotCidr(entry.to_string()));
        }
        let (a, b) = (a.trim(), b.trim());
        let bad = || LineErrorKind::BadEntry(entry.to_string());
        let a = rampart_prefix::parse_addr(a).map_err(|_| bad())?;
        let b = rampart_prefix::parse_addr(b).map_err(|_| bad())?;
        return AddrRange::new(a, b).ok_or_else(|| LineErrorKind::BadRange(entry.to_string()));
    }
    if entry.contains(char::is_whitespace) {
        return Err(if zone {
            LineErrorKind::NotCidr(entry.to_string())
        } else {
            LineErrorKind::BadEntry(entry.to_string())
        });
    }
    match entry.parse::<Prefix>() {
        Ok(p) => Ok(p.range()),
        Err(rampart_prefix::PrefixError::BadAddress(_)) if zone => {
            Err(LineErrorKind::NotCidr(entry.to_string()))
        }
        Err(rampart_prefix::PrefixError::BadAddress(_)) => {
            Err(LineErrorKind::BadEntry(entry.to_string()))
        }
        Err(e) => Err(LineErrorKind::Prefix(e)),
    }
}

/// Reads addresses to look up, one per line (comments and blank lines as in
/// [`read_plain`]). Networks and ranges are errors: a lookup is about one address.
pub fn read_addresses(
    input: impl BufRead,
    name: &str,
    opts: ImportOptions,
) -> Result<Imported<std::net::IpAddr>, ImportErrors> {
    let mut errs = Collector::new(name, opts);
    let mut items = Vec::new();
    let lines = for_each_line(input, &opts, |n, line| {
        let entry = strip_comment(line);
        if entry.is_empty() {
            return Ok(());
        }
        match entry.parse::<std::net::IpAddr>() {
            Ok(a) => push(
                &mut items,
                if opts.unmap_v4 {
                    rampart_prefix::unmap_addr(a)
                } else {
                    a
                },
                opts.max_entries,
            )?,
            Err(_) => errs.error(n, line, LineErrorKind::NotAddress(entry.to_string())),
        }
        Ok(())
    });
    match lines {
        Ok(lines) => errs.finish(items, lines),
        Err(fatal) => Err(errs.fatal(fatal)),
    }
}
