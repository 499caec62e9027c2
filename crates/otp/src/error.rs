//! Errors: one enum per stage, each variant carrying the offending value.

use std::path::PathBuf;

/// A secret file that does not parse. Logins for the user fail until it is fixed or
/// re-created with `rampart otp init`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct FormatError {
    /// 1-based line number (0 for whole-file problems).
    pub line: usize,
    /// What is wrong.
    pub kind: FormatErrorKind,
}

/// What is wrong with a secret file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// The first line is not `rampart-otp VERSION`.
    #[error("not a rampart OTP secret file (the first line must be `rampart-otp 1`)")]
    NotOtpFile,
    /// A version this build does not know.
    #[error("format version {0} is not supported by this build (it reads version 1)")]
    Version(String),
    /// The file ends before the `end` line: it was cut short.
    #[error("the file is truncated (no `end` line); re-create it with `rampart otp init`")]
    Truncated,
    /// A line with a known key (named here) but wrong fields. The line's text is not
    /// kept: it may hold the TOTP key or a hash, and errors are logged.
    #[error("cannot read the `{0}` line (its text is not shown: it may hold a secret)")]
    BadLine(&'static str),
    /// A line whose first word is none of the known keys (text not kept, as for
    /// [`FormatErrorKind::BadLine`]).
    #[error("unknown line (its text is not shown: it may hold a secret)")]
    UnknownLine,
    /// A required header line is missing.
    #[error("the `{0}` line is missing")]
    Missing(&'static str),
    /// A header line given twice.
    #[error("the `{0}` line is given twice")]
    Duplicate(&'static str),
    /// Entry numbers must be 1, 2, 3, … in order.
    #[error("entry {found} is out of order (expected {expected})")]
    EntryOrder {
        /// The number expected next.
        expected: u16,
        /// The number found.
        found: u16,
    },
    /// The `end` line's count differs from the number of entries.
    #[error("`end {declared}` but the file has {found} entries")]
    Count {
        /// Count on the `end` line.
        declared: usize,
        /// Entries read.
        found: usize,
    },
    /// Text after the `end` line.
    #[error("text after the `end` line")]
    TrailingText,
}

/// A secret that cannot be built from the given inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// `--count` outside 1..=999.
    #[error("count {0} is out of range: use 1 to 999 passwords per sheet")]
    Count(usize),
    /// More scratch codes than a secret file may hold (999).
    #[error("{0} scratch codes are too many: a secret file holds at most 999")]
    Scratch(usize),
    /// `--entropy` outside the allowed range.
    #[error("entropy {0} bits is out of range: use 40 to 128 bits")]
    Entropy(u32),
    /// A user name that cannot be a file name.
    #[error("user name {0:?} is not allowed: use letters, digits, `.`, `_`, `-` (at most 64, not starting with `.` or `-`)")]
    UserName(String),
    /// A prefix with characters that would be lost when typed.
    #[error("the prefix must not start or end with whitespace or contain control characters")]
    Prefix,
    /// Argon2 refused the parameters.
    #[error("Argon2 parameters m={m} KiB, t={t}, p={p} are invalid")]
    Kdf {
        /// Memory in KiB.
        m: u32,
        /// Iterations.
        t: u32,
        /// Lanes.
        p: u32,
    },
}

/// A failure reading or writing the state directory.
///
/// The message includes the OS error or format problem, which is therefore not also
/// reported as the error's `source()`: printed as a chain (`{:#}`), it appears once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// I/O error on a path.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The file exists but does not parse.
    #[error("{}: {error}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: FormatError,
    },
    /// Permissions or ownership that would let someone else read or change the secrets.
    #[error("{p}: {what}; fix with: chown root:root {p} && chmod {mode:o} {p}", p = path.display())]
    Insecure {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        what: String,
        /// The mode it should have.
        mode: u32,
    },
    /// A user name that cannot be a file name.
    #[error(transparent)]
    User(#[from] SecretsError),
}

impl StoreError {
    /// Whether the error says only that the user cannot have secrets here: the state
    /// directory does not exist, or the name cannot be a secret file's (`user@REALM`).
    /// With `nullok` such a user is passed over; every other error (a corrupt or insecure
    /// file, a failed read or write) refuses the login.
    pub fn is_not_enrolled(&self) -> bool {
        match self {
            StoreError::User(_) => true,
            StoreError::Io { error, .. } => error.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }
}
