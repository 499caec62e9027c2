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
