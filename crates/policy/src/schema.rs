//! Stage 1: the file as written. Every struct denies unknown fields, and the values whose
//! meaning is checked later keep their byte span so that stage-2 errors point at them.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    pub profile: Option<Spanned<String>>,
    pub input: Option<Input>,
    pub output: Option<Output>,
    pub forward: Option<Forward>,
    pub router: Option<Router>,
    pub import: Option<Import>,
    pub flood: Option<Spanned<Flood>>,
    /// `[guard]`: the guard daemon's table, read by rampart-guard; accepted and ignored
    /// here.
    #[allow(dead_code)]
    pub guard: Option<serde::de::IgnoredAny>,
    /// `[fleet]`: the shared store's table, read by rampart-fleet; accepted and ignored
    /// here.
    #[allow(dead_code)]
    pub fleet: Option<serde::de::IgnoredAny>,
}

/// Top-level keys, for "did you mean" hints.
pub(crate) const TOP_KEYS: &[&str] = &[
    "profile", "input", "output", "forward", "router", "import", "flood", "guard", "fleet",
];

/// `[flood]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Flood {
    pub ban_time: Option<Spanned<String>>,
    pub meter_size: Option<Spanned<i64>>,
    pub ipv6_prefix: Option<Spanned<i64>>,
    pub log_group: Option<Spanned<i64>>,
    pub syn_flood: Option<Spanned<Toggle<Rated>>>,
    pub http: Option<Spanned<bool>>,
    pub icmp: Option<Spanned<Rated>>,
    pub udp: Option<Spanned<Rated>>,
    pub limit: Option<Vec<Spanned<Limit>>>,
    pub early_drop: Option<Vec<Spanned<String>>>,
}

pub(crate) const FLOOD_KEYS: &[&str] = &[
    "ban_time",
    "meter_size",
    "ipv6_prefix",
    "log_group",
    "syn_flood",
    "http",
    "icmp",
    "udp",
    "limit",
    "early_drop",
];

/// `true`, `false` or a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Toggle<T> {
    Switch(bool),
    Set(T),
}

/// `{ rate = "100/second", burst = 150, log = "SYN flood: " }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rated {
    pub rate: Option<String>,
    pub burst: Option<i64>,
    pub log: Option<String>,
}

pub(crate) const RATED_KEYS: &[&str] = &["rate", "burst", "log"];

/// One `[[flood.limit]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limit {
    pub name: Option<String>,
    pub tcp: Option<Vec<PortEntry>>,
    pub udp: Option<Vec<PortEntry>>,
    pub new: Option<String>,
    pub packets: Option<String>,
    pub connections: Option<i64>,
    pub burst: Option<i64>,
    pub total: Option<String>,
    pub total_burst: Option<i64>,
    pub per: Option<String>,
    pub action: Option<String>,
    pub log: Option<String>,
    pub comment: Option<String>,
}

pub(crate) const LIMIT_KEYS: &[&str] = &[
    "name",
    "tcp",
    "udp",
    "new",
    "packets",
    "connections",
    "burst",
    "total",
    "total_burst",
    "per",
    "action",
    "log",
    "comment",
];

/// `[input]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Input {
    pub policy: Option<Spanned<String>>,
    pub tcp: Option<Vec<Spanned<PortEntry>>>,
    pub udp: Option<Vec<Spanned<PortEntry>>>,
    pub ping: Option<Spanned<Ping>>,
    pub allow_from: Option<Vec<Spanned<String>>>,
    pub deny_from: Option<Vec<Spanned<String>>>,
}

pub(crate) const INPUT_KEYS: &[&str] = &["policy", "tcp", "udp", "ping", "allow_from", "deny_from"];

/// `[output]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Output {
    pub policy: Option<Spanned<String>>,
    pub tcp: Option<Vec<Spanned<PortEntry>>>,
    pub udp: Option<Vec<Spanned<PortEntry>>>,
}

pub(crate) const OUTPUT_KEYS: &[&str] = &["policy", "tcp", "udp"];

/// `[forward]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Forward {
    pub policy: Option<Spanned<String>>,
}

pub(crate) const FORWARD_KEYS: &[&str] = &["policy"];

/// `[router]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Router {
    pub lan: Option<Spanned<String>>,
    pub wan: Option<Spanned<String>>,
    pub nat: Option<Spanned<String>>,
    pub snat: Option<Spanned<String>>,
}

pub(crate) const ROUTER_KEYS: &[&str] = &["lan", "wan", "nat", "snat"];

/// `[import]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Import {
    pub files: Vec<Spanned<String>>,
}

pub(crate) const IMPORT_KEYS: &[&str] = &["files"];

/// A port list entry: `22`, `"8000-8100"`, `"ssh"`, or `{ port = 8443, comment = "why" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortEntry {
    /// The port or range as written (number, range or service name), checked in stage 2.
    pub port: PortText,
    /// The admin's reason, carried into the rule's comment.
    pub comment: Option<String>,
}

/// A port as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortText {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for PortEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PortEntry, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a port (22), a range (\"8000-8100\"), a service name (\"https\") or \
                     { port = 8443, comment = \"why\" }",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortEntry, E> {
                Ok(PortEntry {
                    port: PortText::Number(v),
                    comment: None,
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortEntry, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortEntry, E> {
                Ok(PortEntry {
                    port: PortText::Text(v.to_string()),
                    comment: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PortEntry, A::Error> {
                let mut port = None;
                let mut comment = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "port" => {
                            let p: PortEntry = map.next_value()?;
                            port = Some(p.port);
                        }
                        "comment" => comment = Some(map.next_value::<String>()?),
                        other => return Err(de::Error::unknown_field(other, &["port", "comment"])),
                    }
                }
                let port = port.ok_or_else(|| de::Error::missing_field("port"))?;
                Ok(PortEntry { port, comment })
            }
        }
        d.deserialize_any(V)
    }
}

/// `ping = false`, `ping = true` or `ping = { rate = "5/second", burst = 10 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ping {
    Off,
    On {
        rate: Option<String>,
        burst: Option<i64>,
    },
}

impl<'de> Deserialize<'de> for Ping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ping, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ping;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or { rate = \"5/second\", burst = 10 }")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Ping, E> {
                Ok(if v {
                    Ping::On {
                        rate: None,
                        burst: None,
                    }
                } else {
                    Ping::Off
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ping, A::Error> {
                let (mut rate, mut burst) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "rate" => rate = Some(map.next_value::<String>()?),
                        "burst" => burst = Some(map.next_value::<i64>()?),
                        other => return Err(de::Error::unknown_field(other, &["rate", "burst"])),
                    }
                }
                Ok(Ping::On { rate, burst })
            }
        }
        d.deserialize_any(V)
    }
}
