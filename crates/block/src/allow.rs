//! Addresses that must never be blocked, and the check against them.

use std::fmt;

use rampart_prefix::{Prefix, PrefixSet};
use serde::Serialize;

/// One allowed prefix and why it is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allowed {
    /// The prefix.
    #[serde(serialize_with = "display")]
    pub prefix: Prefix,
    /// Why (`loopback`, `this host's address on eth0`, `admin SSH session`,
    /// `policy allow_from (rampart.toml:7)`).
    pub why: String,
}

fn display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// What must not be blocked (DESIGN decision 6): loopback, the host's own addresses, the
/// admin's SSH sources, the policy's `allow_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// The entries.
    pub entries: Vec<Allowed>,
}

/// How a block target meets an allowed prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ConflictKind {
    /// The target lies inside the allowed prefix (blocking the admin's own address).
    Inside,
    /// The target contains (part of) the allowed prefix (blocking a /16 around it).
    Contains,
}

/// A block target that would block an allowed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// What was to be blocked.
    #[serde(serialize_with = "display")]
    pub target: Prefix,
    /// The allowed prefix it meets.
    pub allowed: Allowed,
    /// How.
    pub kind: ConflictKind,
}

/// Addresses taken out of a list because they are allowlisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Carved {
    /// What the list held of the allowed prefix (the list's own prefixes, cut to it).
    #[serde(serialize_with = "display_all")]
    pub removed: Vec<Prefix>,
    /// The allowed prefix and why.
    pub allowed: Allowed,
}

fn display_all<S: serde::Serializer>(v: &[Prefix], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_string()))
}

impl fmt::Display for Carved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.removed.iter().take(4).map(|p| p.to_string()).collect();
        let more = self.removed.len().saturating_sub(4);
        write!(
            f,
            "{}{} ({}: {})",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            self.allowed.prefix,
            self.allowed.why
        )
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ConflictKind::Inside => write!(
                f,
                "{} is allowlisted: {} ({})",
                self.target, self.allowed.prefix, self.allowed.why
            ),
            ConflictKind::Contains => write!(
                f,
                "{} contains allowlisted {} ({})",
                self.target, self.allowed.prefix, self.allowed.why
            ),
        }
    }
}

impl Allowlist {
    /// Loopback (127.0.0.0/8, ::1/128) only.
    pub fn loopback() -> Allowlist {
        let mut a = Allowlist::default();
        a.push("127.0.0.0/8".parse().expect("valid"), "loopback");
        a.push("::1/128".parse().expect("valid"), "loopback");
        a
    }

    /// Adds an entry.
    pub fn push(&mut self, prefix: Prefix, why: impl Into<String>) {
        let a = Allowed {
            prefix: prefix.unmapped(),
            why: why.into(),
        };
        if !self.entries.contains(&a) {
            self.entries.push(a);
        }
    }

    /// Whether `p` lies inside loopback (127.0.0.0/8, ::1): never blockable, `--force` or
    /// not, since traffic on `lo` is never dropped anyway.
    pub fn is_loopback(p: Prefix) -> bool {
        let p = p.unmapped();
        match p.addr() {
            std::net::IpAddr::V4(a) => a.is_loopback() && p.len() >= 8,
            std::net::IpAddr::V6(a) => a.is_loopback(),
        }
    }

    /// `set` without the allowlisted addresses, and what was taken out and why: for list
    /// imports, countries and neighbourhoods, which load the rest. With `only_loopback`
    /// (`--force`) only loopback is carved out.
    pub fn carve(&self, set: &PrefixSet, only_loopback: bool) -> (PrefixSet, Vec<Carved>) {
        let mut out = set.clone();
        let mut carved = Vec::new();
        for a in &self.entries {
            if only_loopback && !Allowlist::is_loopback(a.prefix) {
                continue;
            }
            if !out.overlaps(a.prefix) {
                continue;
            }
            let mut one = PrefixSet::new();
            one.insert(a.prefix);
            let removed = out.intersection(&one);
            out = out.difference(&one);
            carved.push(Carved {
                removed: removed.prefixes(),
                allowed: a.clone(),
            });
        }
        (out, carved)
    }

    /// Every allowed prefix that `target` would block, and how.
    pub fn conflicts(&self, target: Prefix) -> Vec<Conflict> {
        let t = target.unmapped();
        let t_range = t.range();
        let mut out = Vec::new();
        for a in &self.entries {
            if a.prefix.is_ipv4() != t.is_ipv4() {
                continue;
            }
            let kind = if a.prefix.contains(t.addr()) && a.prefix.len() <= t.len() {
                ConflictKind::Inside
            } else if t_range.contains(a.prefix.addr()) {
                ConflictKind::Contains
            } else {
                continue;
            };
            out.push(Conflict {
                target: t,
                allowed: a.clone(),
                kind,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn carving_takes_out_allowed_addresses_and_says_why() {
        let mut a = Allowlist::loopback();
        a.push(p("192.0.2.1/32"), "this host's address on eth0");
        let mut set = PrefixSet::new();
        for x in ["127.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24"] {
            set.insert(p(x));
        }
        let (rest, carved) = a.carve(&set, false);
        assert!(!rest.contains("127.0.0.1".parse().unwrap()));
        assert!(!rest.contains("192.0.2.1".parse().unwrap()));
        assert!(rest.contains("192.0.2.2".parse().unwrap()));
        assert_eq!(carved.len(), 2);
        assert_eq!(carved[0].to_string(), "127.0.0.0/8 (127.0.0.0/8: loopback)");
        assert_eq!(
            carved[1].to_string(),
            "192.0.2.1/32 (192.0.2.1/32: this host's address on eth0)"
        );
        let (rest, carved) = a.carve(&set, true);
        assert!(rest.contains("192.0.2.1".parse().unwrap()));
        assert_eq!(carved.len(), 1);
        assert!(Allowlist::is_loopback(p("127.0.0.1/32")));
        assert!(!Allowlist::is_loopback(p("0.0.0.0/0")));
    }

    #[test]
    fn inside_and_containing() {
        let mut a = Allowlist::loopback();
        a.push(p("198.51.100.10/32"), "admin SSH session");
        a.push(p("203.0.113.0/24"), "policy allow_from (rampart.toml:3)");
        let c = a.conflicts(p("198.51.100.10/32"));
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].to_string(),
            "198.51.100.10/32 is allowlisted: 198.51.100.10/32 (admin SSH session)"
        );
        let c = a.conflicts(p("198.51.0.0/16"));
        assert_eq!(
            c[0].to_string(),
            "198.51.0.0/16 contains allowlisted 198.51.100.10/32 (admin SSH session)"
        );
        assert_eq!(
            a.conflicts(p("203.0.113.7/32"))[0].kind,
            ConflictKind::Inside
        );
        assert_eq!(a.conflicts(p("0.0.0.0/0")).len(), 3);
        assert!(a.conflicts(p("192.0.2.0/24")).is_empty());
        assert_eq!(
            a.conflicts(p("::ffff:127.0.0.1/128"))[0].kind,
            ConflictKind::Inside
        );
        assert!(a.conflicts(p("2001:db8::/32")).is_empty());
    }
}
