//! The client's errors: one variant per failure, each naming the set and, where the kernel
//! said which, the element (and its index in the caller's slice).

use std::io;

use nix::errno::Errno;

use crate::{Element, Family, SetRef, WireError};

/// Why a set operation failed. A failed transaction changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The netfilter netlink socket could not be opened or set up.
    #[error("cannot open a netfilter netlink socket: {0}")]
    Open(#[source] io::Error),
    /// Sending or receiving failed.
    #[error("netlink {what} failed: {source}")]
    Io {
        /// "send" or "receive".
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The table or the set is not there.
    #[error("set {0} does not exist")]
    SetMissing(SetRef),
    /// `add` met an element that is already in the set (or, in an interval set, overlaps
    /// one that is).
    #[error("element {element} already exists in set {set}")]
    Exists {
        /// The set.
        set: SetRef,
        /// The element the kernel rejected.
        element: Element,
        /// Its index in the caller's slice.
        index: usize,
    },
    /// `merge` or `replace` met an interval that overlaps one already in the set or
    /// earlier in the same call (the kernel keeps an identical element without
    /// complaint, so EEXIST there means an overlap).
    #[error("element {element} overlaps an element of interval set {set}")]
    Overlaps {
        /// The set.
        set: SetRef,
        /// The element the kernel rejected.
        element: Element,
        /// Its index in the caller's slice.
        index: usize,
    },
    /// `delete` met an element that is not in the set.
    #[error("element {element} does not exist in set {set}")]
    Missing {
        /// The set.
        set: SetRef,
        /// The element the kernel rejected.
        element: Element,
        /// Its index in the caller's slice.
        index: usize,
    },
    /// An IPv6 element for an IPv4 set or the reverse.
    #[error("set {set} holds IPv{set_family} addresses; element {element} is not one")]
    WrongFamily {
        /// The set.
        set: SetRef,
        /// 4 or 6.
        set_family: u8,
        /// The element.
        element: Element,
        /// Its index in the caller's slice.
        index: usize,
    },
    /// A network or range for a set without `flags interval`.
    #[error("set {set} has no `flags interval`: element {element} is not a single address")]
    NotInterval {
        /// The set.
        set: SetRef,
        /// The element.
        element: Element,
        /// Its index in the caller's slice.
        index: usize,
    },
    /// An empty or mixed-family range.
    #[error("element {element} is an empty range or mixes IPv4 and IPv6")]
    BadRange {
        /// The element.
        element: Element,
        /// Its index in the caller's slice.
        index: usize,
    },
    /// A timeout for a set without `flags timeout`.
    #[error("set {0} has no `flags timeout`: its elements cannot carry a timeout")]
    NoTimeout(SetRef),
    /// A set whose key is not an IPv4 or IPv6 address.
    #[error("set {set} has {key_len}-byte keys: only ipv4_addr and ipv6_addr sets are supported")]
    UnsupportedKey {
        /// The set.
        set: SetRef,
        /// `NFTA_SET_KEY_LEN`.
        key_len: u32,
    },
    /// Any other refusal, with the element when the kernel pointed at one.
    #[error("kernel refused {} in set {set}: {errno}{}", element.map_or("the request".to_owned(), |e| format!("element {e}")), reason.as_ref().map_or(String::new(), |r| format!(" ({r})")))]
    Kernel {
        /// The set.
        set: SetRef,
        /// The element, if the kernel pointed at one.
        element: Option<Element>,
        /// Its index in the caller's slice.
        index: Option<usize>,
        /// What the kernel said.
        errno: Errno,
        /// The kernel's extended-ACK message, if any.
        reason: Option<String>,
    },
    /// The kernel refused a dump of a table's chains, sets or rules (other than for a
    /// missing table, which [`SetClient::table_shape`](crate::SetClient::table_shape)
    /// reports as `None`).
    #[error("kernel refused the {what} dump of table {family} {table}: {errno}{}", reason.as_ref().map_or(String::new(), |r| format!(" ({r})")))]
    Dump {
        /// The table's family.
        family: Family,
        /// The table's name.
        table: String,
        /// "chain", "set" or "rule".
        what: &'static str,
        /// What the kernel said.
        errno: Errno,
        /// The kernel's extended-ACK message, if any.
        reason: Option<String>,
    },
    /// The kernel's reply could not be read.
    #[error("malformed netlink reply: {0}")]
    Wire(#[from] WireError),
}

impl Error {
    /// The errno behind a kernel refusal, if this is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::SetMissing(_) | Error::Missing { .. } => Some(Errno::ENOENT),
            Error::Exists { .. } | Error::Overlaps { .. } => Some(Errno::EEXIST),
            Error::Kernel { errno, .. } | Error::Dump { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The index of the failing element in the caller's slice, if known.
    pub fn index(&self) -> Option<usize> {
        match self {
            Error::Exists { index, .. }
            | Error::Overlaps { index, .. }
            | Error::Missing { index, .. }
            | Error::WrongFamily { index, .. }
            | Error::NotInterval { index, .. }
            | Error::BadRange { index, .. } => Some(*index),
            Error::Kernel { index, .. } => *index,
            _ => None,
        }
    }
}
