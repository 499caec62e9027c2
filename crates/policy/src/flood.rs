//! `[flood]`: rate limits, per-source meters and the kernel's own bans (stage 2: checked
//! values), lowered in `lower.rs` to hashlimit, connlimit, limit, `-j SET` and `-j NFLOG`
//! rules, which the nft compiler turns into meters (`update @meter { ip saddr limit rate
//! over … }`), `ct count` and `add @ban { ip saddr }` from the packet path.
//!
//! A per-source limit with `action = "ban"` bans the source into its own timed set
//! (`flood_NAME_4` / `_6`) on the packet that crosses the limit; the first rules of INPUT
//! drop every banned source, established connections included, until the ban expires in
//! the kernel. Each ban is also sent to NFLOG group `log_group` with the prefix
//! `rampart-ban NAME`, for `rampart guard`.

use rampart_ruleset::{PortRange, Rate, RateUnit};
use serde::Serialize;
use toml::Spanned;

use crate::error::PolicyErrorKind;
use crate::policy::{parse_rate, Validator, Why};
use crate::schema;

/// Default ban length: an hour, fail2ban's and DDoS Deflate's order of magnitude.
pub const DEFAULT_BAN_SECONDS: u32 = 3600;
/// Default number of sources one meter tracks (nft's usual dynamic set size). Each entry
/// costs the kernel about 100-200 bytes: 65,535 sources stay under 16 MB per meter.
pub const DEFAULT_METER_SIZE: u32 = 65_535;
/// IPv6 sources are counted per /64: one host usually owns a whole /64 and can rotate
/// addresses inside it at will.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;
/// The NFLOG group kernel bans are reported to.
pub const DEFAULT_LOG_GROUP: u16 = 5;
/// The prefix of the NFLOG message each kernel ban sends, followed by the limit's name.
pub const BAN_LOG_PREFIX: &str = "rampart-ban ";
/// Names of the chains `[flood]` makes for its own limits (`flood_udp`, `flood_icmp`).
const RESERVED: [&str; 2] = ["udp", "icmp"];
/// The default shared rate of a per-source limit is this many sources' worth.
const TOTAL_SOURCES: u32 = 100;
/// Limit names become set and chain names (`flood_NAME_4`): short, lower case.
const MAX_NAME: usize = 16;
/// The kernel's log prefix limit (29 characters after iptables' own checks).
const MAX_LOG_PREFIX: usize = 29;

/// The `[flood]` table, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flood {
    /// Seconds a kernel ban lasts.
    pub ban_time: u32,
    /// Sources a per-source meter tracks at most (its set's size).
    pub meter_size: u32,
    /// IPv6 sources are counted per this prefix.
    pub ipv6_prefix: u8,
    /// NFLOG group the kernel's bans are reported to.
    pub log_group: u16,
    /// The guides' syn-flood chain: new SYNs over a rate (all sources) dropped.
    pub syn_flood: Option<GlobalLimit>,
    /// ICMP and ICMPv6 over a rate (all sources) dropped.
    pub icmp: Option<GlobalLimit>,
    /// New UDP flows over a rate (all sources) dropped.
    pub udp: Option<GlobalLimit>,
    /// Per-source (or per-service) limits, in file order.
    pub limits: Vec<SourceLimit>,
    /// Interfaces whose ingress hook also drops banned and blocked sources, before
    /// conntrack and routing.
    pub early_drop: Vec<String>,
    /// Where `[flood]` is written: the rules of the table as a whole (the jump to it, the
    /// allowlist inside it) say so.
    pub why: Why,
}

/// A limit shared by every source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlobalLimit {
    /// Sustained rate.
    pub rate: Rate,
    /// Burst above it.
    pub burst: u32,
    /// Log prefix for the dropped packets (logged at most once a second).
    pub log: Option<String>,
    /// Why.
    pub why: Why,
}

/// What a [`SourceLimit`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "count", rename_all = "lowercase")]
pub enum Measure {
    /// New connections (or UDP flows) at a rate.
    New {
        /// Rate.
        rate: Rate,
        /// Burst.
        burst: u32,
    },
    /// Packets of new connections at a rate (also counts repeated SYNs).
    Packets {
        /// Rate.
        rate: Rate,
        /// Burst.
        burst: u32,
    },
    /// Connections open at once (conntrack entries).
    Connections {
        /// At most this many.
        max: u32,
    },
}

/// Who shares one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Per {
    /// Each source address (IPv6: each `ipv6_prefix`).
    Source,
    /// Each source and destination port.
    SourcePort,
    /// Everyone together.
    All,
}

/// What happens to the packet over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverAction {
    /// Drop the excess only.
    Drop,
    /// Ban the source for `ban_time`: everything it sends is dropped.
    Ban,
}

/// One `[[flood.limit]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLimit {
    /// Its name (chains, sets, log prefixes, bans).
    pub name: String,
    /// TCP ports it applies to (none and no `udp`: every port and protocol).
    pub tcp: Vec<PortRange>,
    /// UDP ports it applies to.
    pub udp: Vec<PortRange>,
    /// What it counts.
    pub measure: Measure,
    /// Who shares a counter.
    pub per: Per,
    /// A rate all sources share on top of a per-source one (rate, burst): every new
    /// connection counts against it, so the sources a full meter cannot track are still
    /// limited. `None` for `per = "all"` and connection counts.
    pub total: Option<(Rate, u32)>,
    /// Over the limit.
    pub action: OverAction,
    /// Log prefix (logged at most once a second).
    pub log: Option<String>,
    /// Why.
    pub why: Why,
}

impl SourceLimit {
    /// The timed set this limit bans into, per family (`flood_web_4`).
    pub fn ban_set(&self, v4: bool) -> String {
        rampart_block::flood_ban_set(&self.name, v4)
    }
}

impl Flood {
    /// The guides' port-80 rules, per source: new connections to 80 and 443 above
    /// 50/minute with a burst of 200 dropped.
    fn http_guide(why: Why) -> SourceLimit {
        SourceLimit {
            name: "http".into(),
            tcp: vec![PortRange::single(80), PortRange::single(443)],
            udp: Vec::new(),
            measure: Measure::New {
                rate: Rate {
                    count: 50,
                    unit: RateUnit::Minute,
                },
                burst: 200,
            },
            per: Per::Source,
            total: Some(default_total(
                Rate {
                    count: 50,
                    unit: RateUnit::Minute,
                },
                200,
            )),
            action: OverAction::Drop,
            log: None,
            why,
        }
    }
}

impl Validator<'_> {
    pub(crate) fn flood(&mut self, f: schema::Flood, why: Why) -> Flood {
        let mut out = Flood {
            ban_time: DEFAULT_BAN_SECONDS,
            meter_size: DEFAULT_METER_SIZE,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
            log_group: DEFAULT_LOG_GROUP,
            syn_flood: None,
            icmp: None,
            udp: None,
            limits: Vec::new(),
            early_drop: Vec::new(),
            why,
        };
        for dev in f.early_drop.unwrap_or_default() {
            if crate::policy::valid_ifname(dev.get_ref()) && !dev.get_ref().ends_with('+') {
                out.early_drop.push(dev.into_inner());
            } else {
                self.bad(
                    &dev,
                    "not an interface name",
                    "write the interface's name as `ip link` shows it, e.g. \"eth0\" (no wildcard)",
                );
            }
        }
        if let Some(t) = f.ban_time {
            match parse_duration(t.get_ref()) {
                Some(s) => out.ban_time = s,
                None => self.bad(
                    &t,
                    "not a duration",
                    "write a number with a unit: \"90s\", \"30m\", \"1h\", \"2d\" (at most 24d)",
                ),
            }
        }
        if let Some(n) = f.meter_size {
            if let Some(n) = self.number(&n, 16..=1_048_576, "a meter tracks 16 to 1048576 sources")
            {
                out.meter_size = n;
            }
        }
        if let Some(n) = f.ipv6_prefix {
            if let Some(n) =
                self.number(&n, 16..=128, "write a prefix length 16-128 (64: one host)")
            {
                out.ipv6_prefix = n as u8;
            }
        }
        if let Some(n) = f.log_group {
            if let Some(n) = self.number(&n, 0..=65_535, "an NFLOG group is 0-65535") {
                out.log_group = n as u16;
            }
        }
        if let Some(s) = f.syn_flood {
            let span = s.span();
            let default = schema::Rated {
                rate: Some("100/second".into()),
                burst: Some(150),
                log: Some("SYN flood: ".into()),
            };
            out.syn_flood = match s.into_inner() {
                schema::Toggle::Switch(false) => None,
                schema::Toggle::Switch(true) => self.rated(default, span),
                schema::Toggle::Set(r) => self.rated(
                    schema::Rated {
                        rate: r.rate.or(default.rate),
                        burst: r.burst.or(default.burst),
                        log: r.log.or(default.log),
                    },
                    span,
                ),
            };
        }
        if let Some(http) = f.http {
            if *http.get_ref() {
                let why = self.why(http.span(), None);
                out.limits.push(Flood::http_guide(why));
            }
        }
        if let Some(r) = f.icmp {
            let span = r.span();
            out.icmp = self.rated(r.into_inner(), span);
        }
        if let Some(r) = f.udp {
            let span = r.span();
            out.udp = self.rated(r.into_inner(), span);
        }
        for l in f.limit.unwrap_or_default() {
            let span = l.span();
            if let Some(l) = self.limit(l) {
                if out.limits.iter().any(|o| o.name == l.name) {
                    self.error(
                        span,
                        PolicyErrorKind::BadValue {
                            value: l.name.clone(),
                            reason: "two limits have this name".into(),
                        },
                        "give each [[flood.limit]] its own name",
                    );
                    continue;
                }
                out.limits.push(l);
            }
        }
        out
    }

    fn number(
        &mut self,
        n: &Spanned<i64>,
        range: std::ops::RangeInclusive<i64>,
        hint: &str,
    ) -> Option<u32> {
        if range.contains(n.get_ref()) {
            return Some(*n.get_ref() as u32);
        }
        self.error(
            n.span(),
            PolicyErrorKind::BadValue {
                value: n.get_ref().to_string(),
                reason: "out of range".into(),
            },
            hint,
        );
        None
    }

    fn rate_burst(
        &mut self,
        rate: Option<&str>,
        burst: Option<i64>,
        span: std::ops::Range<usize>,
    ) -> Option<(Rate, u32)> {
        let Some(text) = rate else {
            self.error(
                span,
                PolicyErrorKind::Missing("rate".into()),
                "write a rate, e.g. rate = \"100/second\"",
            );
            return None;
        };
        let Some(rate) = parse_rate(text) else {
            self.error(
                span,
                PolicyErrorKind::BadValue {
                    value: text.to_string(),
                    reason: "not a rate".into(),
                },
                "write COUNT/UNIT with UNIT second, minute, hour or day, e.g. \"50/minute\"",
            );
            return None;
        };
        let burst = match burst {
            None => rate.count.clamp(5, 10_000),
            Some(b) => match u32::try_from(b).ok().filter(|b| (1..=10_000).contains(b)) {
                Some(b) => b,
                None => {
                    self.error(
                        span,
                        PolicyErrorKind::BadValue {
                            value: b.to_string(),
                            reason: "burst out of range".into(),
                        },
                        "write a burst between 1 and 10000",
                    );
                    return None;
                }
            },
        };
        Some((rate, burst))
    }

    fn log_prefix(&mut self, log: Option<String>, span: std::ops::Range<usize>) -> Option<String> {
        let log = log?;
        let n = log.chars().count();
        if n == 0 || n > MAX_LOG_PREFIX || log.chars().any(char::is_control) {
            self.error(
                span,
                PolicyErrorKind::BadValue {
                    value: log,
                    reason: format!("a log prefix is 1 to {MAX_LOG_PREFIX} printable characters"),
                },
                "shorten it, e.g. log = \"web flood: \"",
            );
            return None;
        }
        Some(log)
    }

    fn rated(&mut self, r: schema::Rated, span: std::ops::Range<usize>) -> Option<GlobalLimit> {
        let (rate, burst) = self.rate_burst(r.rate.as_deref(), r.burst, span.clone())?;
        Some(GlobalLimit {
            rate,
            burst,
            log: self.log_prefix(r.log, span.clone()),
            why: self.why(span, None),
        })
    }

    fn limit(&mut self, l: Spanned<schema::Limit>) -> Option<SourceLimit> {
        let span = l.span();
        let l = l.into_inner();
        let missing = |v: &mut Self, what: &str, hint: &str| {
            v.error(span.clone(), PolicyErrorKind::Missing(what.into()), hint);
        };
        let Some(name) = l.name else {
            missing(self, "name", "give the limit a name, e.g. name = \"web\"");
            return None;
        };
        let name_ok = !RESERVED.contains(&name.as_str())
            && !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name.as_bytes()[0].is_ascii_lowercase();
        if !name_ok {
            self.error(
                span.clone(),
                PolicyErrorKind::BadValue {
                    value: name,
                    reason: format!(
                        "a limit name is 1 to {MAX_NAME} characters a-z, 0-9 and -, starting with a letter, and not udp or icmp"
                    ),
                },
                "e.g. name = \"web\"",
            );
            return None;
        }
        let ports = |list: Option<Vec<schema::PortEntry>>, v: &mut Self| {
            list.unwrap_or_default()
                .iter()
                .filter_map(|e| v.port(&e.port, span.clone()))
                .collect::<Vec<_>>()
        };
        let tcp = ports(l.tcp, self);
        let udp = ports(l.udp, self);
        let measure = match (l.new, l.packets, l.connections) {
            (Some(rate), None, None) => {
                let (rate, burst) = self.rate_burst(Some(&rate), l.burst, span.clone())?;
                Measure::New { rate, burst }
            }
            (None, Some(rate), None) => {
                let (rate, burst) = self.rate_burst(Some(&rate), l.burst, span.clone())?;
                Measure::Packets { rate, burst }
            }
            (None, None, Some(max)) => match u32::try_from(max).ok().filter(|m| *m >= 1) {
                Some(max) => Measure::Connections { max },
                None => {
                    self.error(
                        span.clone(),
                        PolicyErrorKind::BadValue {
                            value: max.to_string(),
                            reason: "at least one connection".into(),
                        },
                        "e.g. connections = 150",
                    );
                    return None;
                }
            },
            _ => {
                missing(
                    self,
                    "new, packets or connections",
                    "give exactly one of new = \"50/minute\", packets = \"100/second\" or connections = 150",
                );
                return None;
            }
        };
        let per = match l.per.as_deref() {
            None | Some("source") => Per::Source,
            Some("source-port") => Per::SourcePort,
            Some("all") => Per::All,
            Some(other) => {
                self.error(
                    span.clone(),
                    PolicyErrorKind::BadValue {
                        value: other.into(),
                        reason: "not a counter key".into(),
                    },
                    "write per = \"source\", \"source-port\" or \"all\"",
                );
                return None;
            }
        };
        let action = match l.action.as_deref() {
            None | Some("drop") => OverAction::Drop,
            Some("ban") => OverAction::Ban,
            Some(other) => {
                self.error(
                    span.clone(),
                    PolicyErrorKind::BadValue {
                        value: other.into(),
                        reason: "not an action".into(),
                    },
                    "write action = \"drop\" (the excess) or \"ban\" (the source, for ban_time)",
                );
                return None;
            }
        };
        if action == OverAction::Ban && per == Per::All {
            self.error(
                span.clone(),
                PolicyErrorKind::BadValue {
                    value: "ban".into(),
                    reason: "a limit shared by all sources cannot say whom to ban".into(),
                },
                "use per = \"source\" with action = \"ban\", or action = \"drop\"",
            );
            return None;
        }
        if matches!(measure, Measure::Connections { .. }) && per == Per::SourcePort {
            self.error(
                span.clone(),
                PolicyErrorKind::BadValue {
                    value: "source-port".into(),
                    reason: "connections are counted per source or for all".into(),
                },
                "use per = \"source\" or \"all\"",
            );
            return None;
        }
        let total = match (measure, per) {
            (_, Per::All) | (Measure::Connections { .. }, _) => {
                if l.total.is_some() || l.total_burst.is_some() {
                    self.error(
                        span.clone(),
                        PolicyErrorKind::BadValue {
                            value: "total".into(),
                            reason: "total goes with a per-source rate".into(),
                        },
                        "remove total, or count new or packets per source",
                    );
                    return None;
                }
                None
            }
            (Measure::New { rate, burst } | Measure::Packets { rate, burst }, _) => match l.total {
                Some(text) => Some(self.rate_burst(Some(&text), l.total_burst, span.clone())?),
                None => Some(default_total(rate, burst)),
            },
        };
        Some(SourceLimit {
            name,
            tcp,
            udp,
            measure,
            per,
            total,
            action,
            log: self.log_prefix(l.log, span.clone()),
            why: self.why(span, l.comment),
        })
    }
}

/// What all sources share by default on top of a per-source rate: a hundred sources'
/// worth (within iptables' limits, 10,000 per unit and a burst of 10,000).
fn default_total(rate: Rate, burst: u32) -> (Rate, u32) {
    let count = rate.count.saturating_mul(TOTAL_SOURCES).min(10_000);
    (
        Rate {
            count,
            unit: rate.unit,
        },
        burst.saturating_mul(TOTAL_SOURCES).min(10_000),
    )
}

/// `90s`, `30m`, `1h`, `2d`; at most 24 days (the kernel's set timeouts are milliseconds
/// in 32 bits: ~24.8 days).
fn parse_duration(text: &str) -> Option<u32> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let unit = match unit.trim() {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    let secs = n.checked_mul(unit)?;
    (1..=24 * 86_400).contains(&secs).then_some(secs as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("1h"), Some(3600));
        assert_eq!(parse_duration("2 d"), Some(172_800));
        assert_eq!(parse_duration("25d"), None);
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("10"), None);
    }
}

#[cfg(test)]
mod policy_tests {
    use rampart_ruleset::Source;

    use crate::Policy;

    fn errors(text: &str) -> String {
        match Policy::parse(&Source::new("p.toml", text)) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn limits_are_checked_with_a_hint() {
        let e = errors("[flood]\n[[flood.limit]]\nname = \"Web\"\nnew = \"5/second\"\n");
        assert!(e.contains("a limit name is 1 to 16 characters"), "{e}");
        let e = errors("[flood]\n[[flood.limit]]\nname = \"udp\"\nnew = \"5/second\"\n");
        assert!(e.contains("not udp or icmp"), "{e}");
        let e = errors("[flood]\n[[flood.limit]]\nname = \"web\"\n");
        assert!(
            e.contains("new = \\\"50/minute\\\"") || e.contains("new, packets or connections"),
            "{e}"
        );
        let e = errors(
            "[flood]\n[[flood.limit]]\nname = \"web\"\nnew = \"5/second\"\nper = \"all\"\naction = \"ban\"\n",
        );
        assert!(e.contains("cannot say whom to ban"), "{e}");
        let e = errors("[flood]\nban_time = \"30d\"\n");
        assert!(e.contains("not a duration"), "{e}");
        let e = errors("[flood]\nmeter_size = 3\n");
        assert!(e.contains("16 to 1048576"), "{e}");
        let e = errors("[flood]\n[[flood.limit]]\nname = \"web\"\nnew = \"5/second\"\n[[flood.limit]]\nname = \"web\"\nnew = \"9/second\"\n");
        assert!(e.contains("two limits have this name"), "{e}");
        let e = errors("[flood]\nsyn_flod = true\n");
        assert!(e.contains("did you mean `syn_flood`"), "{e}");
    }

    /// The `[guard]` table is rampart-guard's: accepted whatever it holds, ignored here.
    #[test]
    fn the_guard_table_is_accepted_and_ignored() {
        let text = "profile = \"webserver\"\n[guard]\nban_time = \"1h\"\nanything = 1\n[guard.sshd]\nlimit = 3\n[[guard.log]]\npath = \"/var/log/auth.log\"\nsource = \"sshd\"\n";
        let with = Policy::parse(&Source::new("p.toml", text)).expect("parses");
        let without =
            Policy::parse(&Source::new("p.toml", "profile = \"webserver\"\n")).expect("parses");
        assert_eq!(with.input_tcp, without.input_tcp);
        let e = errors("[gaurd]\n");
        assert!(e.contains("did you mean `guard`"), "{e}");
    }

    #[test]
    fn defaults_and_presets() {
        let p = Policy::parse(&Source::new(
            "p.toml",
            "[flood]\nsyn_flood = true\nhttp = true\n[[flood.limit]]\nname = \"web\"\ntcp = [80]\nconnections = 150\n",
        ))
        .expect("parses");
        let f = p.flood.expect("flood");
        assert_eq!(f.ban_time, super::DEFAULT_BAN_SECONDS);
        let syn = f.syn_flood.expect("syn_flood");
        assert_eq!((syn.rate.count, syn.burst), (100, 150));
        assert_eq!(syn.log.as_deref(), Some("SYN flood: "));
        assert_eq!(f.limits[0].name, "http");
        assert_eq!(
            f.limits[1].measure,
            super::Measure::Connections { max: 150 }
        );
        assert_eq!(f.limits[1].total, None);
    }
}
