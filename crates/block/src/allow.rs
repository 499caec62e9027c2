//! Addresses that must never be blocked, and the check against them.

use std::fmt;

use rampart_prefix::Prefix;
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
