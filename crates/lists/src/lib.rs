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
//! # Hostile and huge inputs
//!
//! A list comes from a download, a pipe or another tool, and is read as root, so every
//! importer bounds what it reads (issue 15):
//!
//! - a line is read with a bounded `read_until`: one longer than [`MAX_LINE_LEN`] ends the
//!   import (`/dev/zero`, which has no line ends, is refused after 4 KiB, not when memory
//!   runs out);
//! - an input longer than [`ImportOptions::max_bytes`] (default [`MAX_INPUT_BYTES`]) ends
//!   the import;
//! - more entries than [`ImportOptions::max_entries`] (default [`DEFAULT_MAX_ENTRIES`])
//!   end the import;
//! - an error quotes at most [`EXCERPT_CHARS`] characters of its line, with control
//!   characters and escape sequences escaped (`\u{1b}`), and only the first
//!   [`MAX_ERRORS`] errors are kept, the rest counted (`... and N more`).
//!
//! These refusals are errors whatever [`ImportOptions::skip_invalid`] says: the rest of
//! the input is unknown, so nothing of it should be loaded.
//!
//! IPv4-mapped IPv6 addresses in input (`::ffff:192.0.2.1`) are folded into IPv4 when
//! [`ImportOptions::unmap_v4`] is set (the default): a list entry written that way means the
//! IPv4 host, which is how the kernel will see its packets.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod country;
mod db;
mod error;
mod geoip;
mod ipset;
mod mmdb;
mod plain;
mod rir;

pub use country::Country;
pub use db::{read_country_db, CountryDb, CountryDbError};
pub use error::{
    ImportErrors, LineError, LineErrorKind, MmdbError, Skipped, EXCERPT_CHARS, MAX_ERRORS,
};
pub use geoip::read_tor_geoip;
pub use ipset::{read_ipset, IpsetList, MAX_ROUNDS as IPSET_MAX_ROUNDS};
pub use mmdb::{is_mmdb, read_mmdb, read_mmdb_limited, write_country_mmdb};
pub use plain::{read_addresses, read_plain, read_zone};
pub use rir::read_rir;

/// The longest line a text importer reads, in bytes, without its end of line.
///
/// The longest valid list line, an IPv6 range (`a-b`, two addresses of at most 45
/// characters) or an `ipset save` `add` line, is under 200 bytes; 4 KiB leaves room for a
/// trailing comment. Each line is read with a bounded `read_until`, so a line of garbage
/// costs at most this much memory before it is refused.
pub const MAX_LINE_LEN: usize = 4096;

/// The largest input an importer reads, in bytes: 512 MiB.
///
/// The largest real inputs are far smaller (tor's geoip is 9 MB, a RIR extended
/// delegated-stats file 30 MB, a City `.mmdb` about 130 MB; [`DEFAULT_MAX_ENTRIES`] lines
/// of 20 bytes are 200 MB). An `ipset save` file and an `.mmdb` are held in memory whole,
/// so this also bounds that memory.
pub const MAX_INPUT_BYTES: u64 = 512 << 20;

/// The most entries one import yields unless [`ImportOptions::max_entries`] says otherwise:
/// ten million. The largest public block lists and a whole country database hold well
/// under a million; each entry costs memory here, in the store and in the kernel's set.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000_000;

/// Options common to the text importers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Skip malformed lines (counting them) instead of failing.
    pub skip_invalid: bool,
    /// Fold IPv4-mapped IPv6 entries into IPv4.
    pub unmap_v4: bool,
    /// The most entries to read: one more ends the import with
    /// [`LineErrorKind::TooManyEntries`].
    pub max_entries: usize,
    /// The most bytes to read (default [`MAX_INPUT_BYTES`]): one more ends the import with
    /// [`LineErrorKind::InputTooLarge`].
    pub max_bytes: u64,
    /// The longest line (default [`MAX_LINE_LEN`]): a longer one ends the import with
    /// [`LineErrorKind::LineTooLong`].
    pub max_line_len: usize,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            skip_invalid: false,
            unmap_v4: true,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: MAX_INPUT_BYTES,
            max_line_len: MAX_LINE_LEN,
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

    /// A read error or a refused limit ends the import whatever the options: the rest of
    /// the input is unknown.
    pub(crate) fn fatal(mut self, e: Fatal) -> ImportErrors {
        self.errors
            .push(LineError::new(&self.name, e.line, &e.text, e.kind));
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

/// What ends an import early: where, the start of the line, and why.
#[derive(Debug)]
pub(crate) struct Fatal {
    pub(crate) line: usize,
    pub(crate) text: String,
    pub(crate) kind: LineErrorKind,
}

/// Appends `item`, unless `items` already holds `max` entries.
pub(crate) fn push<T>(items: &mut Vec<T>, item: T, max: usize) -> Result<(), LineErrorKind> {
    if items.len() >= max {
        return Err(LineErrorKind::TooManyEntries { limit: max });
    }
    items.push(item);
    Ok(())
}

/// Calls `f(line_number, line)` for each line, without its end of line, reusing one buffer;
/// an error from `f` ends the reading. Invalid UTF-8 is replaced (and then fails to parse,
/// with the replaced text shown).
///
/// Reads within `opts.max_line_len` and `opts.max_bytes` ([`rampart_safeio::Lines`]): a
/// longer line or input is an error, so memory stays bounded whatever the input.
pub(crate) fn for_each_line(
    input: impl std::io::BufRead,
    opts: &ImportOptions,
    mut f: impl FnMut(usize, &str) -> Result<(), LineErrorKind>,
) -> Result<usize, Fatal> {
    use rampart_safeio::LimitError;
    let limits = rampart_safeio::Limits {
        max_line_len: opts.max_line_len,
        max_bytes: opts.max_bytes,
    };
    let mut lines = rampart_safeio::Lines::new(input, limits);
    let mut n = 0;
    while let Some(read) = lines.next_line() {
        let (number, line) = read.map_err(|e| {
            let line = e.line();
            let (text, kind) = match e {
                LimitError::LineTooLong { limit, start, .. } => {
                    (start, LineErrorKind::LineTooLong { limit })
                }
                LimitError::TooLarge { limit, .. } => {
                    (String::new(), LineErrorKind::InputTooLarge { limit })
                }
                LimitError::Io { source, .. } => {
                    (String::new(), LineErrorKind::Io(source.to_string()))
                }
                other => (String::new(), LineErrorKind::Io(other.to_string())),
            };
            Fatal { line, text, kind }
        })?;
        n = number;
        f(number, line).map_err(|kind| Fatal {
            line: number,
            text: line.to_string(),
            kind,
        })?;
    }
    Ok(n)
}
