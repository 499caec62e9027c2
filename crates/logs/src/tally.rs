//! [`Tally`]: counts over parsed lines (what `check-log` summarises; the guard keeps
//! windows of its own).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

use crate::{EventKind, Origin, Parsed};

/// An origin that owns its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Culprit {
    /// An address.
    Addr(IpAddr),
    /// A host name as logged.
    Name(String),
}

impl fmt::Display for Culprit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Culprit::Addr(a) => a.fmt(f),
            Culprit::Name(n) => write!(f, "name:{n}"),
        }
    }
}

impl Culprit {
    /// The owned form of an event's origin (`None` for [`Origin::Unknown`]).
    pub fn of(origin: &Origin<'_>) -> Option<Culprit> {
        match origin {
            Origin::Addr(a) => Some(Culprit::Addr(*a)),
            Origin::Name(n) => Some(Culprit::Name((*n).to_string())),
            Origin::Unknown => None,
        }
    }
}

/// Counts of lines, events, kinds and origins.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Lines read (overlong ones included).
    pub lines: u64,
    /// Lines that are events.
    pub events: u64,
    /// Lines that are not events.
    pub not_events: u64,
    /// Lines not understood (malformed, ambiguous).
    pub not_understood: u64,
    /// Lines longer than the limit, skipped.
    pub overlong: u64,
    /// Events that name no origin.
    pub unattributed: u64,
    /// Events per kind.
    pub kinds: BTreeMap<EventKind, u64>,
    addrs: HashMap<IpAddr, u64>,
    names: HashMap<String, u64>,
}

impl Tally {
    /// Counts one parsed line.
    #[inline]
    pub fn add(&mut self, parsed: &Parsed<'_>) {
        self.lines += 1;
        match parsed {
            Parsed::Event(e) => {
                self.events += 1;
                *self.kinds.entry(e.kind).or_default() += 1;
                match e.origin {
                    Origin::Addr(a) => *self.addrs.entry(a).or_default() += 1,
                    Origin::Name(n) => match self.names.get_mut(n) {
                        Some(c) => *c += 1,
                        None => {
                            self.names.insert(n.to_string(), 1);
                        }
                    },
                    Origin::Unknown => self.unattributed += 1,
                }
            }
            Parsed::NotEvent => self.not_events += 1,
            Parsed::NotUnderstood(_) => self.not_understood += 1,
        }
    }

    /// Counts one overlong line.
    pub fn add_overlong(&mut self) {
        self.lines += 1;
        self.overlong += 1;
    }

    /// Distinct origins seen.
    pub fn origins(&self) -> usize {
        self.addrs.len() + self.names.len()
    }

    /// The `n` origins with the most events, most first (ties by origin).
    pub fn top(&self, n: usize) -> Vec<(Culprit, u64)> {
        let mut all: Vec<(Culprit, u64)> = self
            .addrs
            .iter()
            .map(|(a, c)| (Culprit::Addr(*a), *c))
            .chain(
                self.names
                    .iter()
                    .map(|(s, c)| (Culprit::Name(s.clone()), *c)),
            )
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}
