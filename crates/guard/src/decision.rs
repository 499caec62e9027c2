//! A ban decision: what is banned, until when, and why, with the evidence.

use std::net::IpAddr;

use rampart_prefix::Prefix;
use serde::{Deserialize, Serialize};

/// What is banned: one address, or a neighbourhood (a /24, an IPv6 /64, up to /16 and /48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// One address.
    Addr(IpAddr),
    /// A network.
    #[serde(with = "prefix_text")]
    Prefix(Prefix),
}

/// Why: the detector (or other origin) and the threshold crossed, in words and as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The detector's name (`connections`, `syn-recv`, `new-rate`, `http-rate`,
    /// `http-errors`, `sshd`, `rollup`, `kernel:LIMIT`, `manual`).
    pub detector: String,
    /// The rule crossed, in words: "152 connections to port 80 (limit 150)".
    pub summary: String,
    /// How many times this target was banned before (escalation step, 0 for the first).
    pub offence: u32,
}

/// What was seen: counts and samples, bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The count that crossed the threshold.
    pub count: u64,
    /// The window it was counted over, in seconds (0 for a snapshot).
    pub window_secs: u64,
    /// The first and the last samples (log lines, sockets), escaped, at most a few.
    pub samples: Vec<String>,
}

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A detector of the guard.
    Detector,
    /// The kernel, by itself (a `[flood]` meter).
    Kernel,
    /// An administrator (`rampart block add --timeout`, `rampart bans`).
    Manual,
    /// Another server of the fleet (its decision, received through the shared store).
    Fleet,
}

/// Where a decision received from the fleet was made: the deciding server and its id
/// there (the fleet-wide key; a decision received twice is enforced once).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FleetRef {
    /// The deciding server (its role name in the shared store).
    pub server: String,
    /// The decision's id in that server's own store.
    pub id: i64,
}

/// One ban decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What.
    pub target: Target,
    /// Why.
    pub reason: Reason,
    /// What was seen.
    pub evidence: Evidence,
    /// Who decided.
    pub origin: Origin,
    /// When it starts (seconds since the epoch).
    pub start: u64,
    /// When it ends (seconds since the epoch).
    pub until: u64,
    /// For a decision received from the fleet: which server made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetRef>,
}

mod prefix_text {
    use rampart_prefix::Prefix;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Prefix, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(p)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Prefix, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Target {
    /// Whether this target is `other` or lies inside it.
    pub fn within(&self, other: &Target) -> bool {
        match (self, other) {
            (a, b) if a == b => true,
            (Target::Addr(a), Target::Prefix(p)) => p.contains(*a),
            (Target::Prefix(a), Target::Prefix(p)) => a.len() >= p.len() && p.contains(a.addr()),
            _ => false,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Addr(a) => a.fmt(f),
            Target::Prefix(p) => p.fmt(f),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    /// An address, or a network in CIDR form.
    fn from_str(s: &str) -> Result<Target, String> {
        let s = s.trim();
        let shown = || crate::config::excerpt_str(s);
        if s.contains('/') {
            s.parse::<Prefix>()
                .map(|p| {
                    if p.is_host() {
                        Target::Addr(p.addr())
                    } else {
                        Target::Prefix(p)
                    }
                })
                .map_err(|e| format!("`{}` is not a network: {e}", shown()))
        } else {
            rampart_prefix::parse_addr(s)
                .map(|a| Target::Addr(rampart_prefix::unmap_addr(a)))
                .map_err(|_| {
                    format!(
                        "`{}` is not an address or a network (192.0.2.0/24)",
                        shown()
                    )
                })
        }
    }
}

impl Origin {
    /// `detector`, `kernel`, `manual`, `fleet`.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Detector => "detector",
            Origin::Kernel => "kernel",
            Origin::Manual => "manual",
            Origin::Fleet => "fleet",
        }
    }
}

/// Which running decisions an unban lifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Those about this address, or inside this network.
    Target(Target),
    /// Those of this detector (`sshd`, `connections`, `rollup`, `kernel:LIMIT`), or of
    /// this origin (`kernel` for every kernel ban, `manual`).
    Reason(String),
    /// Every one.
    All,
}

impl Selector {
    /// Whether `d` is selected.
    pub fn matches(&self, d: &Decision) -> bool {
        match self {
            Selector::Target(t) => d.target.within(t),
            Selector::Reason(r) => d.reason.detector == *r || d.origin.name() == r,
            Selector::All => true,
        }
    }
}

/// `2026-12-06 18:00:00Z` for seconds since the epoch (UTC; no time zone database).
pub fn format_utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(format_utc(1_796_580_000), "2026-12-06 18:00:00Z");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31 23:59:59Z");
    }

    #[test]
    fn targets_and_selectors() {
        let t: Target = "198.51.100.9".parse().unwrap();
        let p: Target = "198.51.100.0/24".parse().unwrap();
        assert_eq!("198.51.100.9/32".parse::<Target>().unwrap(), t);
        assert_eq!("::ffff:198.51.100.9".parse::<Target>().unwrap(), t);
        assert!(t.within(&p) && !p.within(&t));
        assert!("2001:db8:1::/48"
            .parse::<Target>()
            .unwrap()
            .within(&"2001:db8::/32".parse().unwrap()));
        let e = "198.51.100.999".parse::<Target>().unwrap_err();
        assert!(e.contains("not an address"), "{e}");
        let e = "x/99\u{1b}".parse::<Target>().unwrap_err();
        assert!(e.contains("\\x1b"), "{e}");
        let d = Decision {
            target: t,
            reason: Reason {
                detector: "kernel:http".into(),
                summary: String::new(),
                offence: 0,
            },
            evidence: Evidence::default(),
            origin: Origin::Kernel,
            start: 0,
            until: 1,
            fleet: None,
        };
        assert!(Selector::Reason("kernel".into()).matches(&d));
        assert!(Selector::Reason("kernel:http".into()).matches(&d));
        assert!(!Selector::Reason("sshd".into()).matches(&d));
        assert!(Selector::Target(p).matches(&d));
        assert!(!Selector::Target("198.51.100.10".parse().unwrap()).matches(&d));
        assert!(Selector::All.matches(&d));
    }
}
