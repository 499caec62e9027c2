//! Stage 2: the validated policy, profile defaults with the file's keys laid over them.

use std::fmt;
use std::net::IpAddr;

use rampart_prefix::Prefix;
use rampart_ruleset::{PortRange, Rate, RateUnit, Source, Span};
use rampart_safeio::ErrorCap;
use serde::Serialize;
use toml::Spanned;

use crate::error::{did_you_mean, PolicyError, PolicyErrorKind, PolicyErrors};
use crate::flood::Flood;
use crate::schema::{self, PortText};

/// Where the policy file is installed.
pub const DEFAULT_PATH: &str = "/etc/rampart/rampart.toml";

/// A built-in profile: the defaults a policy starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Default deny inbound; loopback; established/related; ping rate-limited; ssh, http
    /// and https in; everything out; forwarding left to other tools.
    Webserver,
    /// Default deny in, out and forward; loopback; established; ssh in; DNS, HTTP(S) and
    /// NTP out.
    Hardened,
    /// The webserver's input side plus a LAN masqueraded (or SNATed) out the WAN; LAN→WAN
    /// forwarded, replies back, nothing else forwarded.
    Router,
    /// No defaults: input, output and forward accept, no ports; for imports.
    None,
}

impl Profile {
    /// All profiles with their names.
    pub const NAMES: [(&'static str, Profile); 4] = [
        ("webserver", Profile::Webserver),
        ("hardened", Profile::Hardened),
        ("router", Profile::Router),
        ("none", Profile::None),
    ];

    /// The profile's name.
    pub fn name(self) -> &'static str {
        Profile::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .expect("every profile is named")
    }

    /// The profile with this name.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a chain does with packets no rule accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainPolicy {
    /// Let them through.
    Accept,
    /// Discard them silently (the peer times out).
    Drop,
    /// Answer TCP with a reset and other protocols with port unreachable (the peer sees
    /// "connection refused" at once); the chain's policy is DROP behind the reject rules.
    Reject,
}

impl ChainPolicy {
    const NAMES: [(&'static str, ChainPolicy); 3] = [
        ("accept", ChainPolicy::Accept),
        ("drop", ChainPolicy::Drop),
        ("reject", ChainPolicy::Reject),
    ];

    /// True unless the policy accepts.
    pub fn denies(self) -> bool {
        self != ChainPolicy::Accept
    }
}

/// Where a setting came from: a profile default or a line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum Origin {
    /// The profile's default.
    Profile {
        /// The profile.
        profile: Profile,
    },
    /// The policy file.
    File {
        /// 1-based line of the value.
        line: u32,
        /// 1-based column.
        column: u32,
    },
}

/// A setting's reason, for the rule comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Why {
    /// Where it came from.
    pub origin: Origin,
    /// The admin's own comment, when the file gives one.
    pub comment: Option<String>,
}

impl Why {
    fn profile(profile: Profile) -> Why {
        Why {
            origin: Origin::Profile { profile },
            comment: None,
        }
    }

    /// The span a rule built from this setting carries (the file line), if any.
    pub fn span(&self) -> Option<Span> {
        match self.origin {
            Origin::File { line, column } => Some(Span {
                line,
                col: column,
                len: 1,
            }),
            Origin::Profile { .. } => None,
        }
    }

    /// The rule comment: `rampart: webserver: ssh in`, `rampart: policy: tcp 8080 in` or
    /// `rampart: <the admin's comment>`.
    pub fn comment(&self, what: &str) -> String {
        let text = match (&self.comment, &self.origin) {
            (Some(c), _) => format!("rampart: {c}"),
            (None, Origin::Profile { profile }) => format!("rampart: {profile}: {what}"),
            (None, Origin::File { .. }) => format!("rampart: policy: {what}"),
        };
        // xt_comment holds 256 bytes with the terminating NUL.
        truncate(text, 255)
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
    s
}

/// A port or range opened by the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortRule {
    /// The ports.
    pub ports: PortRange,
    /// Why.
    pub why: Why,
}

impl PortRule {
    /// The service name of a well-known single port (`ssh`), else the number or range.
    pub fn label(&self) -> String {
        let PortRange { lo, hi } = self.ports;
        match SERVICES.iter().find(|(_, p)| *p == lo) {
            Some((name, _)) if lo == hi => (*name).to_string(),
            _ if lo == hi => format!("port {lo}"),
            _ => format!("ports {lo}-{hi}"),
        }
    }
}

/// An address or network in `allow_from` / `deny_from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addr {
    /// The network.
    #[serde(serialize_with = "display")]
    pub prefix: Prefix,
    /// Why.
    pub why: Why,
}

fn display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// The rate-limited answer to ping (ICMP echo request, ICMPv6 echo request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ping {
    /// Sustained rate.
    pub rate: Rate,
    /// Burst allowed above the rate.
    pub burst: u32,
    /// Why.
    pub why: Why,
}

/// How the router translates LAN addresses going out the WAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Nat {
    /// MASQUERADE: to the WAN interface's address, whatever it is now (dynamic addresses).
    Masquerade,
    /// SNAT to a fixed address (static WAN address; cheaper, survives no link flap).
    Snat {
        /// The address.
        to: IpAddr,
    },
    /// Route without translation.
    None,
}

/// The router settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterPolicy {
    /// LAN interface (trusted: reaches the router and is forwarded out the WAN).
    pub lan: String,
    /// WAN interface.
    pub wan: String,
    /// Translation out the WAN.
    pub nat: Nat,
    /// Why.
    pub why: Why,
}

/// An imported iptables script or iptables-save file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportFile {
    /// The path as written.
    pub path: String,
    /// Byte span of the path in the policy file.
    #[serde(skip)]
    pub(crate) span: std::ops::Range<usize>,
}

/// A validated policy: what the admin means, with every default filled in.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// The profile the defaults came from.
    pub profile: Profile,
    /// Input chain policy.
    pub input_policy: ChainPolicy,
    /// TCP ports open inbound.
    pub input_tcp: Vec<PortRule>,
    /// UDP ports open inbound.
    pub input_udp: Vec<PortRule>,
    /// Ping answered at a rate, or not at all.
    pub ping: Option<Ping>,
    /// Sources accepted whatever they send (after `deny_from`).
    pub allow_from: Vec<Addr>,
    /// Sources dropped before anything else.
    pub deny_from: Vec<Addr>,
    /// Output chain policy.
    pub output_policy: ChainPolicy,
    /// TCP ports reachable outbound when output denies.
    pub output_tcp: Vec<PortRule>,
    /// UDP ports reachable outbound when output denies.
    pub output_udp: Vec<PortRule>,
    /// Forward chain policy.
    pub forward_policy: ChainPolicy,
    /// Why the input, output and forward policies are what they are.
    pub policy_why: [Why; 3],
    /// Router settings.
    pub router: Option<RouterPolicy>,
    /// Files imported through the ruleset engine, in order.
    pub imports: Vec<ImportFile>,
    /// Flood defence: rate limits, meters, kernel bans.
    pub flood: Option<Flood>,
    /// The text the policy was read from (for import errors); `None` for a built-in.
    #[serde(skip)]
    pub(crate) source: Option<Source>,
}

/// Well-known services, for labels and for names in port lists.
const SERVICES: &[(&str, u16)] = &[
    ("ssh", 22),
    ("smtp", 25),
    ("dns", 53),
    ("domain", 53),
    ("http", 80),
    ("ntp", 123),
    ("imap", 143),
    ("https", 443),
    ("submissions", 465),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
];

impl Policy {
    /// The profile's defaults, as `rampart up` uses them when there is no policy file.
    pub fn builtin(profile: Profile) -> Policy {
        let why = Why::profile(profile);
        let ports = |list: &[u16]| {
            list.iter()
                .map(|p| PortRule {
                    ports: PortRange::single(*p),
                    why: why.clone(),
                })
                .collect::<Vec<_>>()
        };
        let ping = Some(Ping {
            rate: Rate {
                count: 5,
                unit: RateUnit::Second,
            },
            burst: 10,
            why: why.clone(),
        });
        let base = Policy {
            profile,
            input_policy: ChainPolicy::Drop,
            input_tcp: ports(&[22, 80, 443]),
            input_udp: Vec::new(),
            ping,
            allow_from: Vec::new(),
            deny_from: Vec::new(),
            output_policy: ChainPolicy::Accept,
            output_tcp: Vec::new(),
            output_udp: Vec::new(),
            forward_policy: ChainPolicy::Accept,
            policy_why: [why.clone(), why.clone(), why.clone()],
            router: None,
            imports: Vec::new(),
            flood: None,
            source: None,
        };
        match profile {
            Profile::Webserver => base,
            Profile::Hardened => Policy {
                input_tcp: ports(&[22]),
                ping: None,
                output_policy: ChainPolicy::Drop,
                output_tcp: ports(&[53, 80, 443]),
                output_udp: ports(&[53, 123]),
                forward_policy: ChainPolicy::Drop,
                ..base
            },
            Profile::Router => Policy {
                input_tcp: ports(&[22]),
                forward_policy: ChainPolicy::Drop,
                ..base
            },
            Profile::None => Policy {
                input_policy: ChainPolicy::Accept,
                input_tcp: Vec::new(),
                ping: None,
                ..base
            },
        }
    }

    /// Reads and validates a policy file, reporting every error found.
    pub fn parse(source: &Source) -> Result<Policy, PolicyErrors> {
        // First every syntax error and every unknown key, all at once; serde alone stops
        // at the first.
        let early = unknown_keys(source);
        if !early.is_empty() {
            return Err(PolicyErrors::from_cap(early));
        }
        let file: schema::File = toml::from_str(source.text())
            .map_err(|e| PolicyErrors::from(toml_error(source, &e)))?;
        let mut v = Validator {
            source,
            errors: ErrorCap::default(),
        };
        let policy = v.policy(file);
        if v.errors.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyErrors::from_cap(v.errors))
        }
    }

    /// The name of the file the policy came from (`<built-in webserver>` for a built-in).
    pub fn source_name(&self) -> String {
        match &self.source {
            Some(s) => s.name().to_string(),
            None => format!("<built-in {}>", self.profile),
        }
    }
}

/// Turns a toml/serde error into a policy error at its span, with a hint.
fn toml_error(source: &Source, e: &toml::de::Error) -> PolicyError {
    let message = e.message().trim().to_string();
    let span = e.span().unwrap_or(0..0);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let error = PolicyError::at(
            source,
            span.clone(),
            PolicyErrorKind::UnknownKey(name.to_string()),
        );
        let valid: Vec<&str> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .collect();
        let valid = if valid.is_empty() {
            known_keys(error.key.as_deref())
        } else {
            valid
        };
        let hint = match did_you_mean(name, &valid) {
            Some(m) => format!("did you mean `{m}`? valid keys here: {}", valid.join(", ")),
            None => format!("valid keys here: {}", valid.join(", ")),
        };
        // The key path names the table the unknown key sits in, plus the key itself.
        let mut error = error.with_hint(hint);
        error.key = Some(
            match error.key.as_deref().and_then(|k| k.rsplit_once('.')) {
                Some((table, _)) => format!("{table}.{name}"),
                None => name.to_string(),
            },
        );
        return error;
    }
    let error = PolicyError::at(source, span, PolicyErrorKind::Toml(message.clone()));
    let hint = if message.contains("invalid type") {
        Some("check the value's type: ports are numbers or \"lo-hi\" strings, lists use [ ]")
    } else if message.contains("duplicate key") {
        Some("each key may appear once per table; merge the two")
    } else if message.contains("invalid table header") || message.contains("duplicate table") {
        Some("each [table] may appear once")
    } else {
        None
    };
    match hint {
        Some(h) => error.with_hint(h),
        None => error,
    }
}

/// Syntax errors and unknown keys of the whole document, in file order.
fn unknown_keys(source: &Source) -> ErrorCap<PolicyError> {
    use toml::de::{DeTable, DeValue};
    let (doc, syntax) = DeTable::parse_recoverable(source.text());
    let mut errors = ErrorCap::default();
    for e in &syntax {
        errors.push_with(|| toml_error(source, e));
    }
    if !errors.is_empty() {
        return errors;
    }
    fn walk(
        source: &Source,
        table: &DeTable<'_>,
        path: &str,
        known: &[&str],
        errors: &mut ErrorCap<PolicyError>,
    ) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let dotted = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            if !known.contains(&name) {
                errors.push_with(|| {
                    let hint = match did_you_mean(name, known) {
                        Some(m) => {
                            format!("did you mean `{m}`? valid keys here: {}", known.join(", "))
                        }
                        None => format!("valid keys here: {}", known.join(", ")),
                    };
                    let mut e = PolicyError::at(
                        source,
                        key.span(),
                        PolicyErrorKind::UnknownKey(name.to_string()),
                    )
                    .with_hint(hint);
                    e.key = Some(rampart_safeio::excerpt(
                        &dotted,
                        rampart_safeio::EXCERPT_CHARS,
                    ));
                    e
                });
                continue;
            }
            let inner: &[&str] = match (path, name) {
                ("", "input") => schema::INPUT_KEYS,
                ("", "output") => schema::OUTPUT_KEYS,
                ("", "forward") => schema::FORWARD_KEYS,
                ("", "router") => schema::ROUTER_KEYS,
                ("", "import") => schema::IMPORT_KEYS,
                ("", "flood") => schema::FLOOD_KEYS,
                ("flood", "syn_flood" | "icmp" | "udp") => schema::RATED_KEYS,
                ("flood", "limit") => schema::LIMIT_KEYS,
                ("input" | "output", "tcp" | "udp") => &["port", "comment"],
                ("input", "ping") => &["rate", "burst"],
                _ => continue,
            };
            match value.get_ref() {
                DeValue::Table(t) => walk(source, t, &dotted, inner, errors),
                DeValue::Array(items) => {
                    for item in items.iter() {
                        if let DeValue::Table(t) = item.get_ref() {
                            walk(source, t, &dotted, inner, errors);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    walk(source, doc.get_ref(), "", schema::TOP_KEYS, &mut errors);
    errors
}

fn known_keys(key: Option<&str>) -> Vec<&'static str> {
    let table = key.and_then(|k| k.split('.').next()).unwrap_or("");
    match table {
        "input" => schema::INPUT_KEYS,
        "output" => schema::OUTPUT_KEYS,
        "forward" => schema::FORWARD_KEYS,
        "router" => schema::ROUTER_KEYS,
        "import" => schema::IMPORT_KEYS,
        "flood" => schema::FLOOD_KEYS,
        _ => schema::TOP_KEYS,
    }
    .to_vec()
}

pub(crate) struct Validator<'s> {
    source: &'s Source,
    errors: ErrorCap<PolicyError>,
}

impl Validator<'_> {
    pub(crate) fn error(
        &mut self,
        span: std::ops::Range<usize>,
        kind: PolicyErrorKind,
        hint: impl Into<String>,
    ) {
        let source = self.source;
        self.errors
            .push_with(|| PolicyError::at(source, span, kind).with_hint(hint));
    }

    pub(crate) fn why(&self, span: std::ops::Range<usize>, comment: Option<String>) -> Why {
        let e = PolicyError::at(self.source, span, PolicyErrorKind::Toml(String::new()));
        Why {
            origin: Origin::File {
                line: e.line,
                column: e.column,
            },
            comment,
        }
    }

    pub(crate) fn bad(&mut self, value: &Spanned<String>, reason: &str, hint: impl Into<String>) {
        self.error(
            value.span(),
            PolicyErrorKind::BadValue {
                value: value.get_ref().clone(),
                reason: reason.to_string(),
            },
            hint,
        );
    }

    fn policy(&mut self, file: schema::File) -> Policy {
        let profile = match &file.profile {
            None => Profile::Webserver,
            Some(p) => match Profile::from_name(p.get_ref()) {
                Some(profile) => profile,
                None => {
                    let names: Vec<&str> = Profile::NAMES.iter().map(|(n, _)| *n).collect();
                    let hint = match did_you_mean(p.get_ref(), &names) {
                        Some(m) => format!("did you mean `{m}`? profiles: {}", names.join(", ")),
                        None => format!("profiles: {}", names.join(", ")),
                    };
                    self.bad(p, "no such profile", hint);
                    Profile::Webserver
                }
            },
        };
        let mut policy = Policy::builtin(profile);
        policy.source = Some(self.source.clone());
        if let Some(input) = file.input {
            if let Some(p) = &input.policy {
                policy.input_policy = self.chain_policy(p, true);
                policy.policy_why[0] = self.why(p.span(), None);
            }
            if let Some(list) = input.tcp {
                policy.input_tcp = self.ports(list);
            }
            if let Some(list) = input.udp {
                policy.input_udp = self.ports(list);
            }
            if let Some(ping) = input.ping {
                policy.ping = self.ping(ping);
            }
            if let Some(list) = input.allow_from {
                policy.allow_from = self.addrs(list);
            }
            if let Some(list) = input.deny_from {
                policy.deny_from = self.addrs(list);
            }
        }
        if let Some(output) = file.output {
            if let Some(p) = &output.policy {
                policy.output_policy = self.chain_policy(p, true);
                policy.policy_why[1] = self.why(p.span(), None);
            }
            if let Some(list) = output.tcp {
                policy.output_tcp = self.ports(list);
            }
            if let Some(list) = output.udp {
                policy.output_udp = self.ports(list);
            }
        }
        if let Some(forward) = file.forward {
            if let Some(p) = &forward.policy {
                policy.forward_policy = self.chain_policy(p, true);
                policy.policy_why[2] = self.why(p.span(), None);
            }
        }
        match (file.router, profile) {
            (Some(router), _) => policy.router = self.router(router, profile),
            (None, Profile::Router) => {
                let span = file.profile.as_ref().map_or(0..0, |p| p.span());
                self.error(
                    span,
                    PolicyErrorKind::Missing("router".into()),
                    "the router profile needs a [router] table with `lan` and `wan` interfaces, \
                     e.g. [router] lan = \"eth1\", wan = \"eth0\"",
                );
            }
            (None, _) => {}
        }
        if let Some(flood) = file.flood {
            let why = self.why(flood.span(), None);
            policy.flood = Some(self.flood(flood.into_inner(), why));
        }
        if let Some(import) = file.import {
            policy.imports = import
                .files
                .into_iter()
                .map(|f| ImportFile {
                    span: f.span(),
                    path: f.into_inner(),
                })
                .collect();
        }
        policy
    }

    fn chain_policy(&mut self, p: &Spanned<String>, reject_ok: bool) -> ChainPolicy {
        match ChainPolicy::NAMES.iter().find(|(n, _)| *n == p.get_ref()) {
            Some((_, ChainPolicy::Reject)) if !reject_ok => ChainPolicy::Drop,
            Some((_, c)) => *c,
            None => {
                self.bad(
                    p,
                    "not a chain policy",
                    "write \"accept\", \"drop\" (silent) or \"reject\" (refused at once)",
                );
                ChainPolicy::Drop
            }
        }
    }

    fn ports(&mut self, list: Vec<Spanned<schema::PortEntry>>) -> Vec<PortRule> {
        let mut out: Vec<PortRule> = Vec::new();
        for entry in list {
            let span = entry.span();
            let entry = entry.into_inner();
            let Some(ports) = self.port(&entry.port, span.clone()) else {
                continue;
            };
            if out.iter().any(|p| p.ports == ports) {
                self.error(
                    span,
                    PolicyErrorKind::BadValue {
                        value: ports.to_string(),
                        reason: "listed twice".into(),
                    },
                    "remove one of the two",
                );
                continue;
            }
            out.push(PortRule {
                ports,
                why: self.why(span, entry.comment),
            });
        }
        out
    }

    pub(crate) fn port(
        &mut self,
        text: &PortText,
        span: std::ops::Range<usize>,
    ) -> Option<PortRange> {
        let hint = "write a port 1-65535 (22), a range (\"8000-8100\") or a service name \
                    (ssh, http, https, dns, ntp, smtp, ...)";
        let number = |n: i64| u16::try_from(n).ok().filter(|n| *n > 0);
        let result = match text {
            PortText::Number(n) => number(*n).map(PortRange::single),
            PortText::Text(t) => {
                let t = t.trim();
                if let Some((_, p)) = SERVICES.iter().find(|(name, _)| *name == t) {
                    Some(PortRange::single(*p))
                } else if let Some((lo, hi)) = t.split_once(['-', ':']) {
                    match (lo.trim().parse::<i64>(), hi.trim().parse::<i64>()) {
                        (Ok(lo), Ok(hi)) => number(lo)
                            .zip(number(hi))
                            .filter(|(lo, hi)| lo <= hi)
                            .map(|(lo, hi)| PortRange { lo, hi }),
                        _ => None,
                    }
                } else {
                    t.parse::<i64>()
                        .ok()
                        .and_then(number)
                        .map(PortRange::single)
                }
            }
        };
        if result.is_none() {
            let value = match text {
                PortText::Number(n) => n.to_string(),
                PortText::Text(t) => t.clone(),
            };
            self.error(
                span,
                PolicyErrorKind::BadValue {
                    value,
                    reason: "not a port, range or known service".into(),
                },
                hint,
            );
        }
        result
    }

    fn ping(&mut self, ping: Spanned<schema::Ping>) -> Option<Ping> {
        let span = ping.span();
        let schema::Ping::On { rate, burst } = ping.into_inner() else {
            return None;
        };
        let mut out = Policy::builtin(Profile::Webserver).ping?;
        out.why = self.why(span.clone(), None);
        if let Some(text) = rate {
            match parse_rate(&text) {
                Some(rate) => out.rate = rate,
                None => self.error(
                    span.clone(),
                    PolicyErrorKind::BadValue {
                        value: text,
                        reason: "not a rate".into(),
                    },
                    "write COUNT/UNIT with UNIT second, minute, hour or day, e.g. \"5/second\"",
                ),
            }
        }
        if let Some(b) = burst {
            match u32::try_from(b).ok().filter(|b| (1..=10_000).contains(b)) {
                Some(b) => out.burst = b,
                None => self.error(
                    span,
                    PolicyErrorKind::BadValue {
                        value: b.to_string(),
                        reason: "burst out of range".into(),
                    },
                    "write a burst between 1 and 10000",
                ),
            }
        }
        Some(out)
    }

    fn addrs(&mut self, list: Vec<Spanned<String>>) -> Vec<Addr> {
        let mut out = Vec::new();
        for item in list {
            match item.get_ref().trim().parse::<Prefix>() {
                Ok(prefix) => out.push(Addr {
                    prefix,
                    why: self.why(item.span(), None),
                }),
                Err(e) => self.bad(
                    &item,
                    &e.to_string(),
                    "write an address or network: 192.0.2.7, 192.0.2.0/24, 2001:db8::/32",
                ),
            }
        }
        out
    }

    fn router(&mut self, router: schema::Router, profile: Profile) -> Option<RouterPolicy> {
        let iface = |v: &mut Self, name: &str, value: Option<Spanned<String>>| match value {
            Some(s) if valid_ifname(s.get_ref()) => Some(s),
            Some(s) => {
                v.bad(
                    &s,
                    "not an interface name",
                    "interface names are 1-15 characters without spaces or `/`, e.g. eth0",
                );
                None
            }
            None => {
                v.error(
                    0..0,
                    PolicyErrorKind::Missing(format!("router.{name}")),
                    format!("add `{name} = \"IFACE\"` to the [router] table"),
                );
                None
            }
        };
        let lan = iface(self, "lan", router.lan);
        let wan = iface(self, "wan", router.wan);
        if let (Some(lan), Some(wan)) = (&lan, &wan) {
            if lan.get_ref() == wan.get_ref() {
                self.error(
                    wan.span(),
                    PolicyErrorKind::Conflict("router.wan".into(), "router.lan".into()),
                    "the LAN and WAN must be different interfaces",
                );
            }
        }
        let nat = match (&router.nat, &router.snat) {
            (Some(n), Some(s)) if n.get_ref() != "snat" => {
                self.error(
                    s.span(),
                    PolicyErrorKind::Conflict("router.snat".into(), "router.nat".into()),
                    "give either nat = \"masquerade\" or snat = \"ADDRESS\", not both",
                );
                Nat::Masquerade
            }
            (_, Some(s)) => match s.get_ref().trim().parse::<IpAddr>() {
                Ok(to) if to.is_ipv4() => Nat::Snat { to },
                Ok(_) => {
                    self.bad(
                        s,
                        "IPv6 is routed, not translated",
                        "give the WAN's IPv4 address",
                    );
                    Nat::Masquerade
                }
                Err(_) => {
                    self.bad(s, "not an IPv4 address", "e.g. snat = \"203.0.113.2\"");
                    Nat::Masquerade
                }
            },
            (Some(n), None) => match n.get_ref().as_str() {
                "masquerade" => Nat::Masquerade,
                "none" => Nat::None,
                "snat" => {
                    self.error(
                        n.span(),
                        PolicyErrorKind::Missing("router.snat".into()),
                        "give the address: snat = \"203.0.113.2\"",
                    );
                    Nat::Masquerade
                }
                _ => {
                    self.bad(
                        n,
                        "not a NAT mode",
                        "write \"masquerade\" (dynamic WAN address), \"none\", or give \
                         snat = \"ADDRESS\" for a static one",
                    );
                    Nat::Masquerade
                }
            },
            (None, None) => Nat::Masquerade,
        };
        let why = match (&lan, profile) {
            (_, Profile::Router) => Why::profile(Profile::Router),
            (Some(l), _) => self.why(l.span(), None),
            (None, _) => Why::profile(Profile::Router),
        };
        Some(RouterPolicy {
            lan: lan?.into_inner(),
            wan: wan?.into_inner(),
            nat,
            why,
        })
    }
}

/// `5/second`, `30/minute`, `5/s`.
pub(crate) fn parse_rate(text: &str) -> Option<Rate> {
    let (count, unit) = text.trim().split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
    let unit = match unit.trim() {
        "s" | "sec" | "second" => RateUnit::Second,
        "m" | "min" | "minute" => RateUnit::Minute,
        "h" | "hour" => RateUnit::Hour,
        "d" | "day" => RateUnit::Day,
        _ => return None,
    };
    Some(Rate { count, unit })
}

/// The kernel's rule: 1-15 bytes, no `/`, no whitespace; a trailing `+` is iptables'
/// wildcard.
pub(crate) fn valid_ifname(name: &str) -> bool {
    (1..16).contains(&name.len())
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace)
}
