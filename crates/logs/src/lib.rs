//! Log observers: the lines sshd, nginx and Apache write, turned into typed events, read
//! from files that rotate and from the systemd journal.
//!
//! Central types: [`Source`] (which parser: sshd, nginx or Apache access and error logs)
//! whose [`Source::parse`] turns one line into a [`Parsed`] — an [`Event`] (an
//! [`EventKind`], an [`Origin`]: the client address, or a host name as logged, never
//! resolved), not an event, or not understood (counted, never fatal); [`LineReader`]
//! (lines from any reader with bounded memory: a 10 MB line is skipped and counted, never
//! held); [`Follower`] (a file followed across rotation by rename and by copytruncate,
//! its [`Position`] saved to continue after a restart); [`Journal`] and [`JournalEntry`]
//! (`journalctl -o json`, a [`Cursor`] saved); [`Tally`] (counts and top origins).
//!
//! ```text
//!  file ──▶ Follower (rotation, Position) ─┐
//!  journalctl -o json ─▶ JournalEntry ─────┼─▶ Line ─▶ Source::parse ─▶ Parsed ─▶ guard / Tally
//!  any Read ─▶ LineReader ─────────────────┘             (no regex, no backtracking)
//! ```
//!
//! Decisions:
//! - **Bytes, not strings.** Lines are parsed as bytes: invalid UTF-8 (a client's user
//!   name) is carried, not rejected or replaced, and costs nothing on the hot path.
//! - **Anchored on what the daemon writes.** A client chooses its user name, its request
//!   and its disconnect text; each form is parsed from the end the daemon wrote, and a line
//!   whose address is ambiguous is not understood rather than guessed (see [`sshd`] and
//!   [`web`]). No address is ever taken from the client's text.
//! - **No clock.** Nothing here reads the time: the caller stamps events as it reads them.
//!
//! ```
//! use rampart_logs::{EventKind, Parsed, Source};
//!
//! let line = b"Dec  6 18:00:00 web1 sshd[812]: Invalid user x from 192.0.2.1 port 22 from 198.51.100.9 port 4711";
//! let Parsed::Event(e) = Source::Sshd.parse(line) else { panic!() };
//! assert_eq!(e.kind, EventKind::InvalidUser);
//! assert_eq!(e.addr(), Some("198.51.100.9".parse().unwrap()));
//! assert_eq!(e.user, Some(&b"x from 192.0.2.1 port 22"[..]));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod event;
mod follow;
mod journal;
mod lines;
mod scan;
mod source;
pub mod sshd;
pub mod syslog;
mod tally;
pub mod web;

pub use event::{Class, Event, EventKind, Origin, Parsed};
pub use follow::{Follower, Polled, Position, PositionError, Start};
pub use journal::{
    journal_running, Cursor, Journal, JournalEntry, JournalError, JOURNAL_SOCKET, MAX_JSON_LINE,
};
pub use lines::{Line, LineReader, MAX_LINE};
pub use scan::escape;
pub use source::{Source, UnknownSource};
pub use tally::{Culprit, Tally};
