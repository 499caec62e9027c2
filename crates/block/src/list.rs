//! Named lists and timed bans, and their text forms.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use rampart_prefix::{AddrRange, Prefix, PrefixSet};
use serde::Serialize;

/// The list `block add` uses without `--list`.
pub const DEFAULT_LIST: &str = "manual";

/// Longest list name: `bl_` + name + `_4` stays far below nft's 255-byte set names, and
/// names stay readable in `nft list` output.
pub const MAX_NAME_LEN: usize = 32;

/// Why a list name, a target or a stored file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// A list name with characters other than `a-z 0-9 - _`, or too long.
    #[error("`{0}` is not a list name: use 1 to 32 of a-z, 0-9, `-` and `_`, starting with a letter or digit")]
    BadName(String),
    /// A target that is no address, CIDR or range.
    #[error("`{0}` is not an address, CIDR (192.0.2.0/24) or range (192.0.2.1-192.0.2.9)")]
    BadTarget(String),
    /// A bad line in a stored file (written by hand?).
    #[error("{file}:{line}: {what}\n  | {text}")]
    BadLine {
        /// The file's name.
        file: String,
        /// 1-based line.
        line: usize,
        /// The line.
        text: String,
        /// What is wrong.
        what: String,
    },
}

/// A validated list name: 1 to [`MAX_NAME_LEN`] of `a-z 0-9 - _`, first a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ListName(String);

impl ListName {
    /// Checks `name` (upper case is folded: `CN` names the list `cn`).
    pub fn new(name: &str) -> Result<ListName, ListError> {
        let n = name.to_ascii_lowercase();
        let ok = !n.is_empty()
            && n.len() <= MAX_NAME_LEN
            && n.as_bytes()[0].is_ascii_alphanumeric()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(ListName(n))
        } else {
            Err(ListError::BadName(name.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file name in the `lists/` directory of the state dir.
    pub fn file_name(&self) -> String {
        format!("{}.list", self.0)
    }
}

impl fmt::Display for ListName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ADDR`, `CIDR` or `START-END` as prefixes (a range becomes its minimal CIDR list;
/// IPv4-mapped IPv6 is folded into IPv4).
pub fn parse_target(text: &str) -> Result<Vec<Prefix>, ListError> {
    let t = text.trim();
    let bad = || ListError::BadTarget(text.to_string());
    if t.contains('-') {
        let r: AddrRange = t.parse().map_err(|_| bad())?;
        return Ok(r.unmapped().to_prefixes());
    }
    if t.contains('/') {
        let p: Prefix = t.parse().map_err(|_| bad())?;
        return Ok(vec![p.unmapped()]);
    }
    let a: IpAddr = t.parse().map_err(|_| bad())?;
    Ok(vec![Prefix::host(rampart_prefix::unmap_addr(a))])
}

/// A named list: an aggregated set of prefixes, with comments on some of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// Its name.
    pub name: ListName,
    set: PrefixSet,
    comments: BTreeMap<Prefix, String>,
}

/// Where an address is blocked: the list and the stored prefix that covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// The list's name.
    pub list: String,
    /// The stored prefix holding the address.
    #[serde(serialize_with = "display")]
    pub prefix: Prefix,
    /// Its comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

fn display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl List {
    /// An empty list.
    pub fn new(name: ListName) -> List {
        List {
            name,
            set: PrefixSet::new(),
            comments: BTreeMap::new(),
        }
    }

    /// A list holding exactly `set`.
    pub fn from_set(name: ListName, set: PrefixSet) -> List {
        List {
            name,
            set,
            comments: BTreeMap::new(),
        }
    }

    /// Its contents.
    pub fn set(&self) -> &PrefixSet {
        &self.set
    }

    /// The minimal CIDR list, IPv4 first.
    pub fn prefixes(&self) -> Vec<Prefix> {
        self.set.prefixes()
    }

    /// Number of stored prefixes.
    pub fn len(&self) -> usize {
        self.set.prefix_count()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Adds `p`; returns false when it was already wholly in the list.
    pub fn insert(&mut self, p: Prefix, comment: Option<String>) -> bool {
        if self.set.contains_prefix(p) {
            return false;
        }
        self.set.insert(p);
        if let Some(c) = comment.filter(|c| !c.is_empty()) {
            self.comments.insert(p, c);
        }
        self.prune_comments();
        true
    }

    /// Removes `p`; returns false when no part of it was in the list.
    pub fn remove(&mut self, p: Prefix) -> bool {
        if !self.set.overlaps(p) {
            return false;
        }
        self.set.remove(p);
        self.prune_comments();
        true
    }

    /// Removes every address of `other` (allow exceptions).
    pub fn subtract(&mut self, other: &PrefixSet) {
        self.set = self.set.difference(other);
        self.prune_comments();
    }

    /// Whether `p` is stored exactly as one prefix (then the kernel holds that element,
    /// and one netlink delete removes it).
    pub fn has_exact(&self, p: Prefix) -> bool {
        self.set.contains_prefix(p) && self.covering(p.addr()) == Some(p)
    }

    /// The stored prefix covering `ip`.
    pub fn covering(&self, ip: IpAddr) -> Option<Prefix> {
        if !self.set.contains(ip) {
            return None;
        }
        let range = self.set.ranges().find(|r| r.contains(ip))?;
        range.to_prefixes().into_iter().find(|p| p.contains(ip))
    }

    /// The comment stored with exactly `p`.
    pub fn comment(&self, p: Prefix) -> Option<&str> {
        self.comments.get(&p).map(String::as_str)
    }

    /// Where `ip` is in this list, if it is.
    pub fn locate(&self, ip: IpAddr) -> Option<Located> {
        let prefix = self.covering(ip)?;
        Some(Located {
            list: self.name.to_string(),
            prefix,
            comment: self.comments.get(&prefix).cloned(),
        })
    }

    /// Its sizes.
    pub fn summary(&self) -> ListSummary {
        let ipv6_prefixes = self.set.prefixes().iter().filter(|p| !p.is_ipv4()).count();
        ListSummary {
            prefixes: self.len(),
            ipv4_addresses: self.set.v4_addresses(),
            ipv6_prefixes,
            comments: self.comments.len(),
        }
    }

    fn prune_comments(&mut self) {
        if self.comments.is_empty() {
            return;
        }
        let keep: std::collections::BTreeSet<Prefix> = self.set.prefixes().into_iter().collect();
        self.comments.retain(|p, _| keep.contains(p));
    }

    /// The stored form: a header, then one prefix per line (`PREFIX # comment`).
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.len() * 20 + 128);
        out.push_str(&self.summary().header(&self.name));
        self.set.for_each_prefix(|p| {
            out.push_str(&p.to_string());
            if let Some(c) = self.comments.get(&p) {
                out.push_str(" # ");
                out.push_str(&c.replace('\n', " "));
            }
            out.push('\n');
        });
        out
    }

    /// Reads the stored form. `file` names the file in errors; the list's name comes
    /// from the file name (`manual.list`).
    pub fn parse(text: &str, file: &str) -> Result<List, ListError> {
        let base = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(file);
        let name = ListName::new(base)?;
        let mut list = List::new(name);
        let mut prefixes = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let (entry, comment) = match line.split_once('#') {
                Some((e, c)) => (e.trim(), Some(c.trim().to_string())),
                None => (line.trim(), None),
            };
            if entry.is_empty() {
                continue;
            }
            let p: Prefix = entry.parse().map_err(|_| ListError::BadLine {
                file: file.to_string(),
                line: i + 1,
                text: line.to_string(),
                what: "not a CIDR".into(),
            })?;
            if let Some(c) = comment.filter(|c| !c.is_empty()) {
                list.comments.insert(p, c);
            }
            prefixes.push(p);
        }
        list.set = prefixes.into_iter().collect();
        list.prune_comments();
        Ok(list)
    }
}

/// The sizes of a list, written in its file's header line so that they are read without
/// parsing the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListSummary {
    /// Stored (aggregated) prefixes.
    pub prefixes: usize,
    /// IPv4 addresses covered.
    pub ipv4_addresses: u64,
    /// IPv6 prefixes stored.
    pub ipv6_prefixes: usize,
    /// Prefixes stored with a comment (none: a reader needs no scan for one).
    pub comments: usize,
}

impl ListSummary {
    const TAG: &'static str = "# rampart block list ";

    /// The header line of list `name`'s file.
    pub fn header(&self, name: &ListName) -> String {
        format!(
            "{}{name}: {} prefixes, {} IPv4 addresses, {} IPv6 prefixes, {} comments; aggregated, written by rampart, edit with `rampart block`\n",
            Self::TAG, self.prefixes, self.ipv4_addresses, self.ipv6_prefixes, self.comments
        )
    }

    /// Reads a header line written by [`ListSummary::header`] (`None` for anything else).
    pub fn from_header(line: &str) -> Option<ListSummary> {
        let rest = line.strip_prefix(Self::TAG)?;
        let (_, rest) = rest.split_once(": ")?;
        let (sizes, _) = rest.split_once(';')?;
        let mut n = sizes.split(", ").map(|part| part.split(' ').next());
        Some(ListSummary {
            prefixes: n.next()??.parse().ok()?,
            ipv4_addresses: n.next()??.parse().ok()?,
            ipv6_prefixes: n.next()??.parse().ok()?,
            comments: n.next()??.parse().ok()?,
        })
    }
}

/// One timed ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ban {
    /// The address.
    pub addr: IpAddr,
    /// When it ends, in seconds since the Unix epoch.
    pub expires: u64,
    /// The list it was given for (for `block list`).
    pub list: String,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The timed bans (`lists/bans`): one line per ban, `ADDR EXPIRES LIST [# comment]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bans {
    /// The bans, one per address.
    pub bans: BTreeMap<IpAddr, Ban>,
}

impl Bans {
    /// Reads the stored form.
    pub fn parse(text: &str, file: &str) -> Result<Bans, ListError> {
        let mut bans = Bans::default();
        for (i, line) in text.lines().enumerate() {
            let (entry, comment) = match line.split_once('#') {
                Some((e, c)) => (e.trim(), Some(c.trim().to_string())),
                None => (line.trim(), None),
            };
            if entry.is_empty() {
                continue;
            }
            let bad = |what: &str| ListError::BadLine {
                file: file.to_string(),
                line: i + 1,
                text: line.to_string(),
                what: what.to_string(),
            };
            let mut f = entry.split_whitespace();
            let addr: IpAddr = f
                .next()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| bad("not an address"))?;
            let expires: u64 = f
                .next()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| bad("no expiry time"))?;
            let list = f.next().unwrap_or(DEFAULT_LIST).to_string();
            bans.bans.insert(
                addr,
                Ban {
                    addr,
                    expires,
                    list,
                    comment: comment.filter(|c| !c.is_empty()),
                },
            );
        }
        Ok(bans)
    }

    /// The stored form, without bans expired at `now`.
    pub fn to_text(&self, now: u64) -> String {
        let mut out = String::from("# rampart timed bans: ADDR EXPIRES(unix) LIST # comment\n");
        for b in self.bans.values().filter(|b| b.expires > now) {
            out.push_str(&Bans::line(b));
        }
        out
    }

    /// One ban's line, as [`Bans::to_text`] writes it and [`Bans::parse`] reads it; a
    /// later line for the same address replaces an earlier one, so lines can be appended.
    pub fn line(b: &Ban) -> String {
        let mut out = format!("{} {} {}", b.addr, b.expires, b.list);
        if let Some(c) = &b.comment {
            out.push_str(&format!(" # {}", c.replace('\n', " ")));
        }
        out.push('\n');
        out
    }

    /// Bans still running at `now`.
    pub fn active_count(&self, now: u64) -> usize {
        self.bans.values().filter(|b| b.expires > now).count()
    }

    /// Drops bans expired at `now`.
    pub fn prune(&mut self, now: u64) {
        self.bans.retain(|_, b| b.expires > now);
    }

    /// The ban on `ip` still running at `now`.
    pub fn active(&self, ip: IpAddr, now: u64) -> Option<&Ban> {
        self.bans.get(&ip).filter(|b| b.expires > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(ListName::new("CN").unwrap().as_str(), "cn");
        assert!(ListName::new("country-cn_2").is_ok());
        for bad in ["", "-x", "a b", "a/b", &"x".repeat(33)] {
            assert!(ListName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("192.0.2.1").unwrap(), vec![p("192.0.2.1/32")]);
        assert_eq!(
            parse_target("::ffff:192.0.2.1").unwrap(),
            vec![p("192.0.2.1/32")]
        );
        assert_eq!(
            parse_target("192.0.2.0-192.0.2.2").unwrap(),
            vec![p("192.0.2.0/31"), p("192.0.2.2/32")]
        );
        assert_eq!(
            parse_target("nonsense").unwrap_err().to_string(),
            "`nonsense` is not an address, CIDR (192.0.2.0/24) or range (192.0.2.1-192.0.2.9)"
        );
    }

    #[test]
    fn list_round_trip_keeps_comments_of_surviving_prefixes() {
        let mut l = List::new(ListName::new("x").unwrap());
        assert!(l.insert(p("198.51.100.7/32"), Some("scanner".into())));
        assert!(l.insert(p("2001:db8::/48"), None));
        assert!(!l.insert(p("2001:db8::1/128"), None));
        let back = List::parse(&l.to_text(), "/var/lib/rampart/lists/x.list").unwrap();
        assert_eq!(back, l);
        assert_eq!(
            back.locate("198.51.100.7".parse().unwrap())
                .unwrap()
                .comment
                .as_deref(),
            Some("scanner")
        );
        assert_eq!(
            back.locate("2001:db8::5".parse().unwrap()).unwrap().prefix,
            p("2001:db8::/48")
        );
        assert!(l.has_exact(p("198.51.100.7/32")));
        assert!(!l.has_exact(p("2001:db8::/64")));
        assert!(l.remove(p("2001:db8::/64")));
        assert!(!l.remove(p("203.0.113.0/24")));
        assert_eq!(
            List::parse("192.0.2.x\n", "x.list")
                .unwrap_err()
                .to_string(),
            "x.list:1: not a CIDR\n  | 192.0.2.x"
        );
    }

    #[test]
    fn bans_round_trip_and_expire() {
        let text = "# header\n203.0.113.9 200 manual # ssh brute force\n2001:db8::9 50 guard\n";
        let b = Bans::parse(text, "bans").unwrap();
        assert_eq!(b.bans.len(), 2);
        assert!(b.active("2001:db8::9".parse().unwrap(), 100).is_none());
        let out = b.to_text(100);
        assert_eq!(
            out.lines().skip(1).collect::<Vec<_>>(),
            ["203.0.113.9 200 manual # ssh brute force"]
        );
    }
}
