//! Importers: block lists and GeoIP databases read into [`rampart_prefix`] types.
//!
//! Every text importer reads a [`BufRead`](std::io::BufRead) (it never opens files), checks
//! every line, and either returns what it read or all the malformed lines at once
//! ([`ImportErrors`]), each with file:line, the line's text and a hint. With
//! [`ImportOptions::skip_invalid`] bad lines are skipped instead, and [`Skipped`] says how
//! many and shows the first few.
//!
//! | format | function | yields |
//! |---|---|---|
//! | plain list: IP, CIDR, `a-b` range, `#`/`;` comments | [`read_plain`] | ranges |
//! | per-country zone file: one CIDR per line | [`read_zone`] | ranges |
//! | `ipset save` output | [`read_ipset`] | sets of prefixes |
//! | Debian tor-geoipdb `geoip` / `geoip6` | [`read_tor_geoip`] | ranges with countries |
//! | RIR delegated-stats | [`read_rir`] | ranges with countries |
//! | MaxMind / DB-IP `.mmdb` country database | [`read_mmdb`] | prefixes with countries |
//!
//! ```
//! use rampart_lists::{read_plain, ImportOptions};
//! use rampart_prefix::PrefixSet;
//! let text = "# bad hosts\n192.0.2.1\n192.0.2.0/30 ; whole net\n198.51.100.1-198.51.100.2\n";
//! let got = read_plain(text.as_bytes(), "bad.txt", ImportOptions::default()).unwrap();
//! let set: PrefixSet = got.items.into_iter().collect();
//! assert_eq!(set.prefixes().len(), 3); // 192.0.2.0/30, 198.51.100.1/32, 198.51.100.2/32
//! ```
//!
//! This is its own crate rather than part of `rampart-prefix` so that the prefix crate,
//! which the ruleset, simulator and compiler all depend on, stays small and free of the
//! `maxminddb` dependency, and so that the `ipset save` importer can reuse
//! `rampart-ruleset`'s parser (which itself depends on `rampart-prefix`).
//!
//! IPv4-mapped IPv6 addresses in input (`::ffff:192.0.2.1`) are folded into IPv4 when
//! [`ImportOptions::unmap_v4`] is set (the default): a list entry written that way means the
//! IPv4 host, which is how the kernel will see its packets.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod country;
mod error;
mod geoip;
mod ipset;
mod mmdb;
mod plain;
mod rir;

pub use country::Country;
pub use error::{ImportErrors, LineError, LineErrorKind, MmdbError, Skipped};
pub use geoip::read_tor_geoip;
pub use ipset::{read_ipset, IpsetList, MAX_ROUNDS as IPSET_MAX_ROUNDS};
pub use mmdb::{is_mmdb, read_mmdb, write_country_mmdb};
pub use plain::{read_addresses, read_plain, read_zone};
pub use rir::read_rir;

/// Options common to the text importers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Skip malformed lines (counting them) instead of failing.
    pub skip_invalid: bool,
    /// Fold IPv4-mapped IPv6 entries into IPv4.
    pub unmap_v4: bool,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            skip_invalid: false,
            unmap_v4: true,
        }
    }
}

/// What an importer read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported<T> {
    /// The entries, in file order.
    pub items: Vec<T>,
    /// Lines skipped under [`ImportOptions::skip_invalid`] (none otherwise).
    pub skipped: Skipped,
    /// Lines read, comments and blanks included.
    pub lines: usize,
}

/// Collects per-line errors while an importer runs, then decides between failing and
/// skipping.
#[derive(Debug)]
pub(crate) struct Collector {
    name: String,
    opts: ImportOptions,
    errors: Vec<LineError>,
    count: usize,
}

impl Collector {
    pub(crate) fn new(name: &str, opts: ImportOptions) -> Collector {
        Collector {
            name: name.to_string(),
            opts,
            errors: Vec::new(),
            count: 0,
        }
    }

    pub(crate) fn error(&mut self, line: usize, text: &str, kind: LineErrorKind) {
        self.count += 1;
        let keep = if self.opts.skip_invalid {
            error::SKIPPED_SHOWN
        } else {
            error::MAX_ERRORS
        };
        if self.errors.len() < keep {
            self.errors
                .push(LineError::new(&self.name, line, text, kind));
        }
    }

    /// An I/O error ends the import whatever the options: the rest of the input is unknown.
    pub(crate) fn io(mut self, line: usize, e: &std::io::Error) -> ImportErrors {
        self.errors.push(LineError::new(
            &self.name,
            line,
            "",
            LineErrorKind::Io(e.to_string()),
        ));
        ImportErrors {
            errors: self.errors,
            total: self.count + 1,
        }
    }

    pub(crate) fn finish<T>(
        self,
        items: Vec<T>,
        lines: usize,
    ) -> Result<Imported<T>, ImportErrors> {
        if self.count > 0 && !self.opts.skip_invalid {
            return Err(ImportErrors {
                errors: self.errors,
                total: self.count,
            });
        }
        Ok(Imported {
            items,
            skipped: Skipped {
                count: self.count,
                first: self.errors,
            },
            lines,
        })
    }
}

/// Calls `f(line_number, line)` for each line, without its end of line, reusing one buffer.
/// Invalid UTF-8 is replaced (and then fails to parse, with the replaced text shown).
pub(crate) fn for_each_line(
    mut input: impl std::io::BufRead,
    mut f: impl FnMut(usize, &str),
) -> Result<usize, (usize, std::io::Error)> {
    let mut buf = Vec::with_capacity(128);
    let mut n = 0usize;
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => return Ok(n),
            Ok(_) => {
                n += 1;
                let text = String::from_utf8_lossy(&buf);
                f(n, text.trim_end_matches(['\n', '\r']));
            }
            Err(e) => return Err((n + 1, e)),
        }
    }
}
