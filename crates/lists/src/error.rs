//! Per-line import errors.

use std::fmt;

use rampart_safeio::{escaped, excerpt};
pub use rampart_safeio::{EXCERPT_CHARS, MAX_ERRORS};

/// Most characters of a message from the ipset parser, which quotes tokens itself.
const MESSAGE_CHARS: usize = 4 * EXCERPT_CHARS;

/// Skipped lines shown under `skip_invalid`.
pub(crate) const SKIPPED_SHOWN: usize = 5;

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineErrorKind {
    /// Not an address, CIDR or range.
    #[error("`{0}` is not an IP address, CIDR or range")]
    BadEntry(String),
    /// An address, prefix or range the prefix parser rejected, with its reason.
    #[error("{0}")]
    Prefix(rampart_prefix::PrefixError),
    /// A line of an address file that is not one address.
    #[error("`{0}` is not an IP address")]
    NotAddress(String),
    /// A zone-file line that is not a network.
    #[error("`{0}` is not a CIDR")]
    NotCidr(String),
    /// Wrong number of separated fields.
    #[error("expected {expected} `{sep}`-separated fields, found {found}")]
    Fields {
        /// How many the format has.
        expected: &'static str,
        /// The separator.
        sep: char,
        /// How many the line has.
        found: usize,
    },
    /// A tor geoip IPv4 bound that is not a 32-bit integer.
    #[error("`{0}` is not an IPv4 address as an integer (0 to 4294967295)")]
    BadInteger(String),
    /// A field that should be a country code.
    #[error("`{0}` is not a two-letter country code")]
    BadCountry(String),
    /// A range whose start lies after its end or whose ends differ in family.
    #[error("`{0}` is not a range: both ends must be the same family and start <= end")]
    BadRange(String),
    /// A RIR IPv4 record whose count runs past the end of the address space.
    #[error("{count} addresses from {start} run past 255.255.255.255")]
    RirOverflow {
        /// The start address as written.
        start: String,
        /// The count as written.
        count: u64,
    },
    /// A RIR count or IPv6 prefix length that is not a number in range.
    #[error("`{0}` is not a valid {1}")]
    RirValue(String, &'static str),
    /// An error from the ipset parser, as it words it.
    #[error("{0}")]
    Ipset(String),
    /// Reading failed.
    #[error("read error: {0}")]
    Io(String),
    /// A line longer than [`crate::MAX_LINE_LEN`] (ends the import).
    #[error(
        "line longer than {limit} bytes, the most a list line may have; nothing was read past it"
    )]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// An input larger than [`crate::ImportOptions::max_bytes`] (ends the import).
    #[error("input larger than {limit} bytes, the most rampart reads from one list")]
    InputTooLarge {
        /// The limit.
        limit: u64,
    },
    /// More entries than [`crate::ImportOptions::max_entries`] (ends the import).
    #[error("more than {limit} entries, the most one import loads")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
}

impl LineErrorKind {
    fn hint(&self) -> Option<String> {
        Some(match self {
            LineErrorKind::BadEntry(_) | LineErrorKind::Prefix(_) => {
                "write one address (192.0.2.1), network (192.0.2.0/24) or range \
                 (192.0.2.1-192.0.2.9) per line; comments start with # or ;"
                    .into()
            }
            LineErrorKind::NotAddress(_) => {
                "write one address per line, such as 192.0.2.1 or 2001:db8::1".into()
            }
            LineErrorKind::NotCidr(_) => {
                "a zone file holds one network per line, such as 192.0.2.0/24".into()
            }
            LineErrorKind::Fields { expected, .. } if expected.contains("INTSTART") => {
                "tor geoip lines are INTSTART,INTEND,CC (IPv4) or START,END,CC (IPv6)".into()
            }
            LineErrorKind::Fields { .. } => {
                "RIR delegated-stats lines are registry|cc|type|start|value|date|status".into()
            }
            LineErrorKind::BadInteger(_) => {
                "the IPv4 geoip file gives addresses as integers, e.g. 16777216 for 1.0.0.0".into()
            }
            LineErrorKind::BadCountry(_) => "use an ISO 3166 code such as CN or DE".into(),
            LineErrorKind::BadRange(_) => "write the lower address first".into(),
            LineErrorKind::RirOverflow { .. } | LineErrorKind::RirValue(..) => {
                "ipv4 records give an address count, ipv6 records a prefix length".into()
            }
            LineErrorKind::LineTooLong { .. } | LineErrorKind::InputTooLarge { .. } => {
                "is this a list of addresses? (a binary file, /dev/zero?)".into()
            }
            LineErrorKind::TooManyEntries { .. } => {
                "give --max-entries N to load more, or aggregate the list first".into()
            }
            LineErrorKind::Ipset(_) | LineErrorKind::Io(_) => return None,
        })
    }

    /// The kind with the values it quotes shortened to [`EXCERPT_CHARS`] and escaped.
    fn quoted(self) -> LineErrorKind {
        use rampart_prefix::PrefixError as P;
        let q = |s: String| excerpt(&s, EXCERPT_CHARS);
        match self {
            LineErrorKind::BadEntry(s) => LineErrorKind::BadEntry(q(s)),
            LineErrorKind::Prefix(P::BadAddress(s)) => LineErrorKind::Prefix(P::BadAddress(q(s))),
            LineErrorKind::Prefix(P::BadLength { text, family, max }) => {
                LineErrorKind::Prefix(P::BadLength {
                    text: q(text),
                    family,
                    max,
                })
            }
            LineErrorKind::Prefix(P::BadNetmask(s)) => LineErrorKind::Prefix(P::BadNetmask(q(s))),
            LineErrorKind::Prefix(P::BadRange(s)) => LineErrorKind::Prefix(P::BadRange(q(s))),
            LineErrorKind::NotAddress(s) => LineErrorKind::NotAddress(q(s)),
            LineErrorKind::NotCidr(s) => LineErrorKind::NotCidr(q(s)),
            LineErrorKind::BadInteger(s) => LineErrorKind::BadInteger(q(s)),
            LineErrorKind::BadCountry(s) => LineErrorKind::BadCountry(q(s)),
            LineErrorKind::BadRange(s) => LineErrorKind::BadRange(q(s)),
            LineErrorKind::RirOverflow { start, count } => LineErrorKind::RirOverflow {
                start: q(start),
                count,
            },
            LineErrorKind::RirValue(s, what) => LineErrorKind::RirValue(q(s), what),
            LineErrorKind::Ipset(s) => LineErrorKind::Ipset(excerpt(&s, MESSAGE_CHARS)),
            LineErrorKind::Io(s) => LineErrorKind::Io(escaped(&s)),
            other => other,
        }
    }
}

/// One malformed line: where, what it says, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The input's name (path, `<stdin>`).
    pub source_name: String,
    /// 1-based line number.
    pub line: usize,
    /// The start of the line as written: at most [`EXCERPT_CHARS`] characters (then `…`),
    /// control characters escaped.
    pub text: String,
    /// What is wrong.
    pub kind: LineErrorKind,
    /// How to fix it, when a fix can be guessed.
    pub hint: Option<String>,
}

impl LineError {
    /// The error, quoting at most [`EXCERPT_CHARS`] characters of `text` and of the values
    /// in `kind`, escaped.
    pub(crate) fn new(source: &str, line: usize, text: &str, kind: LineErrorKind) -> LineError {
        let kind = kind.quoted();
        LineError {
            source_name: escaped(source),
            line,
            text: excerpt(text, EXCERPT_CHARS),
            hint: kind.hint(),
            kind,
        }
    }
}

impl fmt::Display for LineError {
    /// `file:line: message`, then the line, then the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source_name, self.line, self.kind)?;
        if !self.text.is_empty() {
            write!(f, "\n  | {}", self.text)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LineError {}

/// Every malformed line of one input (the first [`MAX_ERRORS`] kept, all counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors {
    /// The errors kept, in file order.
    pub errors: Vec<LineError>,
    /// How many lines were bad in all.
    pub total: usize,
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.total > self.errors.len() {
            write!(f, "\n... and {} more", self.total - self.errors.len())?;
        }
        if self.total > 1 {
            write!(f, "\n{} bad lines", self.total)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}

/// Lines skipped under `skip_invalid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many.
    pub count: usize,
    /// The first few, to show.
    pub first: Vec<LineError>,
}

impl fmt::Display for Skipped {
    /// `skipped N invalid lines; the first: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.count == 1 { "" } else { "s" };
        write!(f, "skipped {} invalid line{s}", self.count)?;
        if !self.first.is_empty() {
            write!(f, "; the first:")?;
            for e in &self.first {
                write!(f, "\n{e}")?;
            }
        }
        Ok(())
    }
}

/// Why an `.mmdb` database could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MmdbError {
    /// The bytes are not a MaxMind DB.
    #[error("{name}: not a MaxMind DB file: {reason}")]
    Format {
        /// The input's name.
        name: String,
        /// The reader's explanation.
        reason: String,
    },
    /// The database holds no country data (a City or ASN database without countries, say).
    #[error("{name}: database type `{kind}` has no country codes")]
    NoCountries {
        /// The input's name.
        name: String,
        /// The metadata's `database_type`.
        kind: String,
    },
    /// The file is larger than [`crate::MAX_INPUT_BYTES`].
    #[error("{name}: larger than {limit} bytes, the most rampart reads from one database")]
    TooLarge {
        /// The input's name.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// The database has more networks than the import may load.
    #[error("{name}: more than {limit} networks, the most one import loads")]
    TooManyEntries {
        /// The input's name.
        name: String,
        /// The limit.
        limit: usize,
    },
}
