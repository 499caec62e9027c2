//! How rampart, running as root, reads files others may have written and writes files
//! others must not read. One place for each of these rules, used by every crate that
//! touches a file (issue 15):
//!
//! - [`Lines`], [`read_text`]: text read with a maximum line length and input size
//!   ([`Limits`]), so `/dev/zero` or a gigabyte line costs a bounded amount of memory and
//!   ends in a [`LimitError`] that says where and which limit.
//! - [`excerpt`], [`escaped`]: what an error may quote of hostile text: at most
//!   [`EXCERPT_CHARS`] characters, control characters and bidi overrides escaped, so a
//!   line cannot retitle the terminal or fill it. [`ErrorCap`] keeps the first
//!   [`MAX_ERRORS`] errors of an input and counts the rest (`... and N more`).
//! - [`write_atomic`], [`create_private_dir`], [`open_private`]: state files created 0600
//!   in 0700 directories whatever the umask, never through a symbolic link (`O_NOFOLLOW`).
//! - [`open_trusted`], [`check_trusted`]: a file whose content becomes the firewall is
//!   refused when another user could have changed it (writable by group or others, or
//!   owned by another non-root user, the file or a directory above it) ([`Untrusted`]).
//!
//! ```
//! use rampart_safeio::{excerpt, Limits, Lines};
//! let mut lines = Lines::new("a\nb\u{1b}]0;x\n".as_bytes(), Limits::default());
//! assert_eq!(lines.next_line().unwrap().unwrap(), (1, "a"));
//! let (n, l) = lines.next_line().unwrap().unwrap();
//! assert_eq!((n, excerpt(l, 80).as_str()), (2, "b\\u{1b}]0;x"));
//! assert!(lines.next_line().is_none());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod files;
mod text;
mod trust;

pub use files::{create_private_dir, open_private, open_read, write_atomic, FileError, Private};
pub use text::{
    escaped, escaped_lines, excerpt, read_text, ErrorCap, LimitError, Limits, Lines, EXCERPT_CHARS,
    MAX_ERRORS,
};
pub use trust::{check_trusted, open_trusted, TrustError, Untrusted};
