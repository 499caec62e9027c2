//! [`GuardConfig`]: the `[guard]` table of the policy file (/etc/rampart/rampart.toml).
//!
//! Read with the toml crate, every key checked (`deny_unknown_fields`: an unknown key is an
//! error at its line and column with a "did you mean" hint), every default documented here
//! and in dist/rampart.toml. The rest of the policy file is the policy crate's, which
//! accepts the `[guard]` table and ignores it; this module ignores everything else.
//!
//! Defaults follow the tools administrators know: DDoS Deflate's 150 connections per
//! source (and its `PORT:LIMIT:BAN_SECONDS` per-port form, `80:150:600`), fail2ban's 5
//! sshd failures in 10 minutes and 10-minute first ban.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;

use rampart_prefix::Prefix;
use serde::Deserialize;
use toml::Spanned;

/// Connections per source (DDoS Deflate's `NO_OF_CONNECTIONS`).
pub const DEFAULT_CONNECTIONS: u32 = 150;
/// Half-open (SYN_RECV) sockets per source.
pub const DEFAULT_SYN_RECV: u32 = 50;
/// New connections per source per window (conntrack NEW events).
pub const DEFAULT_NEW_RATE: u32 = 300;
/// Its window, in seconds.
pub const DEFAULT_NEW_RATE_WINDOW: u64 = 10;
/// HTTP requests per source per window (access logs).
pub const DEFAULT_HTTP_RATE: u32 = 600;
/// Its window, in seconds.
pub const DEFAULT_HTTP_RATE_WINDOW: u64 = 60;
/// Refused HTTP requests (401, 403, 404, 400, 429, 444, limit_req) per source per window.
pub const DEFAULT_HTTP_ERRORS: u32 = 30;
/// Its window, in seconds.
pub const DEFAULT_HTTP_ERRORS_WINDOW: u64 = 60;
/// sshd failures per source per window (fail2ban's `maxretry`).
pub const DEFAULT_SSHD: u32 = 5;
/// Its window, in seconds (fail2ban's `findtime`, 10 minutes).
pub const DEFAULT_SSHD_WINDOW: u64 = 600;
/// First ban, in seconds (DDoS Deflate's and fail2ban's 600).
pub const DEFAULT_BAN_SECS: u64 = 600;
/// Each repeat offence multiplies the ban by this.
pub const DEFAULT_BAN_FACTOR: u32 = 4;
/// The longest ban, in seconds (one week).
pub const DEFAULT_BAN_MAX_SECS: u64 = 7 * 86_400;
/// How long a past ban counts as an offence for escalation, in seconds (one week).
pub const DEFAULT_FORGET_SECS: u64 = 7 * 86_400;
/// Banned sources of one neighbourhood that get the neighbourhood banned.
pub const DEFAULT_ROLLUP_SOURCES: u32 = 5;
/// Sources each windowed detector tracks at once (least recently seen evicted).
pub const DEFAULT_MAX_SOURCES: u32 = 65_536;
/// The most sources a windowed detector may be told to track: its memory is this times
/// its limit times 4 bytes, plus the table (see [`crate::RateTable`]).
pub const MAX_SOURCES: u32 = 4_194_304;
/// The highest limit of a windowed detector: each tracked source keeps up to `limit`
/// timestamps (4 bytes each), so this bounds a source's entry at 16 KiB.
pub const MAX_WINDOW_LIMIT: u32 = 4_096;
/// Digest mail interval, in seconds.
pub const DEFAULT_NOTIFY_INTERVAL: u64 = 600;

/// The guard's settings. [`GuardConfig::default`] is what an empty `[guard]` table gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// `enabled` (default true when the table is present).
    pub enabled: bool,
    /// `[guard.connections]`: ESTABLISHED sockets per source (sock_diag snapshots).
    pub connections: Connections,
    /// `[guard.syn_recv]`: SYN_RECV sockets per source (sock_diag snapshots).
    pub syn_recv: Snapshot,
    /// `[guard.new_rate]`: new connections per source (conntrack NEW events).
    pub new_rate: Window,
    /// `[guard.http_rate]`: requests per source (access logs).
    pub http_rate: Window,
    /// `[guard.http_errors]`: refused requests per source (access and error logs).
    pub http_errors: Window,
    /// `[guard.sshd]`: failed logins per source.
    pub sshd: Sshd,
    /// Ban times: `ban_time`, `ban_factor`, `ban_max`, `forget`.
    pub ban: BanTimes,
    /// `[guard.rollup]`: neighbourhood bans.
    pub rollup: Rollup,
    /// `max_sources`: sources each windowed detector tracks at once.
    pub max_sources: u32,
    /// `[guard.allow]`: ranges never banned, and files of ranges (a CDN's list).
    pub allow: Allow,
    /// `[[guard.log]]`: log files followed.
    pub logs: Vec<LogFile>,
    /// `[[guard.journal]]`: journal units followed.
    pub journal: Vec<JournalUnit>,
    /// `sockets`: take sock_diag snapshots every second (default true).
    pub sockets: bool,
    /// `conntrack`: follow conntrack NEW events (default true).
    pub conntrack: bool,
    /// `kernel_bans`: record the kernel's own `[flood]` bans, heard over NFLOG (default
    /// true).
    pub kernel_bans: bool,
    /// `[guard.metrics] listen`: where Prometheus scrapes `/metrics` (default: off).
    pub metrics: Option<SocketAddr>,
    /// `[guard.notify]`: digest mail and webhook (default: off).
    pub notify: Notify,
}

/// A snapshot detector: a count at one moment against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `limit`: a source holding this many is banned.
    pub limit: u32,
}

/// `[guard.connections]`: DDoS Deflate's check, with its per-port overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connections {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `limit`: ESTABLISHED sockets one source holds, all ports together (default 150).
    pub limit: u32,
    /// `ports`: per-port limits and ban times, `"PORT:LIMIT:BAN_SECONDS"`.
    pub ports: Vec<PortLimit>,
}

/// One per-port override, DDoS Deflate's `80:150:600`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortLimit {
    /// The local port.
    pub port: u16,
    /// Sockets one source holds to it.
    pub limit: u32,
    /// The first ban's time for this port, in seconds.
    pub ban_secs: u64,
}

/// A windowed detector: `limit` events from one source within `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `limit`: the count that bans (at most [`MAX_WINDOW_LIMIT`]).
    pub limit: u32,
    /// `window`: seconds (`"10m"`, `"1h"` or a number of seconds).
    pub window_secs: u64,
}

/// `[guard.sshd]`: fail2ban's sshd jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sshd {
    /// `limit` and `window` (default 5 in 10 minutes).
    pub window: Window,
    /// `probes`: also count connections that never authenticated (scanners, preauth
    /// disconnects; fail2ban's `mode = aggressive`). Default false.
    pub probes: bool,
}

/// Ban times and escalation: the n-th ban of a target (n = 0 for the first) lasts
/// `ban_secs × factorⁿ`, at most `max_secs`; bans older than `forget_secs` no longer count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanTimes {
    /// `ban_time` (default 10 minutes).
    pub ban_secs: u64,
    /// `ban_factor` (default 4).
    pub factor: u32,
    /// `ban_max` (default one week).
    pub max_secs: u64,
    /// `forget` (default one week).
    pub forget_secs: u64,
}

impl BanTimes {
    /// How long the ban of an offender with `offence` earlier bans lasts, starting from
    /// `base` seconds for a first ban.
    pub fn duration(&self, base: u64, offence: u32) -> u64 {
        let mut secs = base.max(1);
        for _ in 0..offence {
            secs = secs.saturating_mul(u64::from(self.factor));
            if secs >= self.max_secs {
                break;
            }
        }
        secs.min(self.max_secs.max(base))
    }
}

/// `[guard.rollup]`: when `sources` addresses of one neighbourhood are banned, the
/// neighbourhood is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollup {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `sources` (default 5).
    pub sources: u32,
    /// `ipv4_prefix` (default 24, at least 16).
    pub v4_len: u8,
    /// `ipv6_prefix` (default 64, at least 48).
    pub v6_len: u8,
}

/// `[guard.allow]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    /// `ranges`: addresses and networks never banned.
    pub ranges: Vec<Prefix>,
    /// `files`: files of ranges, one per line (`#` comments), read by the runtime with
    /// [`parse_ranges`] (a CDN's published list).
    pub files: Vec<String>,
}

/// `[[guard.log]]`: one log file and the parser its lines need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// `path`.
    pub path: String,
    /// `source`: `sshd`, `nginx-access`, `nginx-error`, `apache-access`, `apache-error`.
    pub source: rampart_logs::Source,
}

/// `[[guard.journal]]`: one systemd unit's journal and its parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalUnit {
    /// `unit` (`ssh.service`).
    pub unit: String,
    /// `source` (as for log files).
    pub source: rampart_logs::Source,
}

/// `[guard.notify]`: passed through to the runtime's notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// `interval`: one digest per this many seconds (default 10 minutes).
    pub interval_secs: u64,
    /// `[guard.notify.smtp]`.
    pub smtp: Option<Smtp>,
    /// `[guard.notify.webhook]`.
    pub webhook: Option<Webhook>,
}

/// How a mail server is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on the same host or the lab.
    None,
}

/// `[guard.notify.smtp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// `server`: host name or address.
    pub server: String,
    /// `port` (default 587, or 465 with `tls = "tls"`, 25 with `tls = "none"`).
    pub port: u16,
    /// `tls`: `"starttls"` (default), `"tls"`, `"none"`.
    pub tls: SmtpTls,
    /// `from`.
    pub from: String,
    /// `to`: one or more recipients.
    pub to: Vec<String>,
    /// `user`, for AUTH.
    pub user: Option<String>,
    /// `password_file`: a file holding the password (never the password in the policy).
    pub password_file: Option<String>,
}

/// `[guard.notify.webhook]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `url`: where a JSON document is POSTed per digest.
    pub url: String,
}

impl Default for GuardConfig {
    fn default() -> GuardConfig {
        let window = |limit, window_secs| Window {
            enabled: true,
            limit,
            window_secs,
        };
        GuardConfig {
            enabled: true,
            connections: Connections {
                enabled: true,
                limit: DEFAULT_CONNECTIONS,
                ports: Vec::new(),
            },
            syn_recv: Snapshot {
                enabled: true,
                limit: DEFAULT_SYN_RECV,
            },
            new_rate: window(DEFAULT_NEW_RATE, DEFAULT_NEW_RATE_WINDOW),
            http_rate: window(DEFAULT_HTTP_RATE, DEFAULT_HTTP_RATE_WINDOW),
            http_errors: window(DEFAULT_HTTP_ERRORS, DEFAULT_HTTP_ERRORS_WINDOW),
            sshd: Sshd {
                window: window(DEFAULT_SSHD, DEFAULT_SSHD_WINDOW),
                probes: false,
            },
            ban: BanTimes {
                ban_secs: DEFAULT_BAN_SECS,
                factor: DEFAULT_BAN_FACTOR,
                max_secs: DEFAULT_BAN_MAX_SECS,
                forget_secs: DEFAULT_FORGET_SECS,
            },
            rollup: Rollup {
                enabled: true,
                sources: DEFAULT_ROLLUP_SOURCES,
                v4_len: 24,
                v6_len: 64,
            },
            max_sources: DEFAULT_MAX_SOURCES,
            allow: Allow::default(),
            logs: Vec::new(),
            journal: Vec::new(),
            sockets: true,
            conntrack: true,
            kernel_bans: true,
            metrics: None,
            notify: Notify {
                interval_secs: DEFAULT_NOTIFY_INTERVAL,
                smtp: None,
                webhook: None,
            },
        }
    }
}

/// One error in the `[guard]` table: where, what, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file's name as given.
    pub file: String,
    /// 1-based line (0 when about the file as a whole).
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// Length of the offending text on its line, in characters (at least 1).
    pub len: u32,
    /// The key, dotted (`guard.sshd.limit`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The source line, cut to 80 characters.
    pub excerpt: String,
}

/// Shown as the policy crate shows its errors: `file:line:column: `key`: message`, the
/// line with the offending text underlined, the hint.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(k) = &self.key {
            write!(f, "`{k}`: ")?;
        }
        f.write_str(&self.message)?;
        if self.line != 0 {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let indent = " ".repeat(self.column.saturating_sub(1) as usize);
            let marks = "^".repeat(self.len.max(1) as usize);
            write!(f, "\n{pad} |\n{number} | {}", self.excerpt)?;
            write!(f, "\n{pad} | {indent}{marks}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  = hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in the `[guard]` table, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            e.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl GuardConfig {
    /// Reads the `[guard]` table of a policy file's text (`file` names it in errors).
    /// `Ok(None)` when the file has no `[guard]` table: the guard is not wanted.
    pub fn from_policy(file: &str, text: &str) -> Result<Option<GuardConfig>, ConfigErrors> {
        let doc: schema::Doc = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            ConfigErrors(vec![toml_error(file, text, span, &message)])
        })?;
        let Some(table) = doc.guard else {
            return Ok(None);
        };
        let mut v = Validate {
            file,
            text,
            errors: Vec::new(),
        };
        let config = v.guard(table);
        if v.errors.is_empty() {
            Ok(Some(config))
        } else {
            v.errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(v.errors))
        }
    }
}

/// Reads a file of ranges (one address, CIDR prefix or `A-B` range per line; `#` starts a
/// comment; blank lines skipped), for `[guard.allow] files`. Every bad line is reported.
pub fn parse_ranges(file: &str, text: &str) -> Result<Vec<Prefix>, ConfigErrors> {
    /// A line longer than this is no range: reported, not parsed.
    const MAX_RANGE_LINE: usize = 200;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| ConfigError {
            file: file.to_string(),
            line: u32::try_from(n + 1).unwrap_or(u32::MAX),
            column: 1,
            len: u32::try_from(raw.chars().count().clamp(1, 80)).unwrap_or(1),
            key: None,
            message,
            hint: Some("write one address, prefix (192.0.2.0/24) or range (A-B) per line".into()),
            excerpt: excerpt(raw),
        };
        if line.len() > MAX_RANGE_LINE {
            errors.push(bad("line too long for a range".into()));
            continue;
        }
        if let Some((a, b)) = line.split_once('-') {
            let parsed = (
                rampart_prefix::parse_addr(a.trim()),
                rampart_prefix::parse_addr(b.trim()),
            );
            match parsed {
                (Ok(a), Ok(b)) => match rampart_prefix::AddrRange::new(a, b) {
                    Some(r) => out.extend(r.to_prefixes()),
                    None => errors.push(bad(format!("bad range `{}`", excerpt(line)))),
                },
                _ => errors.push(bad(format!("bad range `{}`", excerpt(line)))),
            }
            continue;
        }
        match line.parse::<Prefix>() {
            Ok(p) => out.push(p),
            Err(e) => errors.push(bad(format!("`{}`: {e}", excerpt(line)))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// At most 80 characters of `s`, control characters escaped.
fn excerpt(s: &str) -> String {
    rampart_logs::escape(s.as_bytes(), 80)
}

/// [`excerpt`] for the crate's other error messages.
pub(crate) fn excerpt_str(s: &str) -> String {
    excerpt(s)
}

/// Line and column (1-based, in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (u32, u32, &str) {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[..start].matches('\n').count() + 1;
    let column = text[start..offset].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
        &text[start..end],
    )
}

/// The span's length in characters, on its first line (at least 1).
fn span_chars(text: &str, span: &Range<usize>) -> u32 {
    let end = span.end.min(text.len()).max(span.start.min(text.len()));
    let start = span.start.min(end);
    let s = text.get(start..end).unwrap_or("");
    let n = s.split('\n').next().unwrap_or("").chars().count();
    u32::try_from(n.clamp(1, 80)).unwrap_or(1)
}

fn toml_error(file: &str, text: &str, span: Range<usize>, message: &str) -> ConfigError {
    let (line, column, source_line) = line_column(text, span.start);
    let mut e = ConfigError {
        file: file.to_string(),
        line,
        column,
        len: span_chars(text, &span),
        key: None,
        message: message.lines().next().unwrap_or("").to_string(),
        hint: None,
        excerpt: excerpt(source_line),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .collect();
        e.message = format!("unknown key `{name}`");
        e.hint = Some(match did_you_mean(name, &valid) {
            Some(m) => format!("did you mean `{m}`? valid keys here: {}", valid.join(", ")),
            None => format!("valid keys here: {}", valid.join(", ")),
        });
    } else if message.contains("invalid type") {
        e.hint = Some("check the value's type: limits are numbers, times are \"10m\" strings or seconds, lists use [ ]".into());
    }
    e
}

fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    fn levenshtein(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Seconds from `"90s"`, `"10m"`, `"1h"`, `"1d"`, `"1w"` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    // The policy's `[flood]` words too, so one file reads one way.
    let mult = match unit.trim() {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The file's shape, as serde reads it: values with their byte spans.
mod schema {
    use super::*;

    /// The whole policy file: only `[guard]` is read here.
    #[derive(Deserialize)]
    pub(super) struct Doc {
        pub guard: Option<Guard>,
    }

    /// A duration: `"10m"` or a number of seconds.
    #[derive(Deserialize, Clone)]
    #[serde(untagged)]
    pub(super) enum Duration {
        Secs(i64),
        Text(String),
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Guard {
        pub enabled: Option<bool>,
        pub ban_time: Option<Spanned<Duration>>,
        pub ban_factor: Option<Spanned<i64>>,
        pub ban_max: Option<Spanned<Duration>>,
        pub forget: Option<Spanned<Duration>>,
        pub max_sources: Option<Spanned<i64>>,
        pub sockets: Option<bool>,
        pub conntrack: Option<bool>,
        pub kernel_bans: Option<bool>,
        pub connections: Option<Connections>,
        pub syn_recv: Option<Snapshot>,
        pub new_rate: Option<Window>,
        pub http_rate: Option<Window>,
        pub http_errors: Option<Window>,
        pub sshd: Option<Sshd>,
        pub rollup: Option<Rollup>,
        pub allow: Option<Allow>,
        pub log: Option<Vec<Log>>,
        pub journal: Option<Vec<Journal>>,
        pub metrics: Option<Metrics>,
        pub notify: Option<Notify>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Connections {
        pub enabled: Option<bool>,
        pub limit: Option<Spanned<i64>>,
        pub ports: Option<Vec<Spanned<String>>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Snapshot {
        pub enabled: Option<bool>,
        pub limit: Option<Spanned<i64>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Window {
        pub enabled: Option<bool>,
        pub limit: Option<Spanned<i64>>,
        pub window: Option<Spanned<Duration>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Sshd {
        pub enabled: Option<bool>,
        pub limit: Option<Spanned<i64>>,
        pub window: Option<Spanned<Duration>>,
        pub probes: Option<bool>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Rollup {
        pub enabled: Option<bool>,
        pub sources: Option<Spanned<i64>>,
        pub ipv4_prefix: Option<Spanned<i64>>,
        pub ipv6_prefix: Option<Spanned<i64>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Allow {
        pub ranges: Option<Vec<Spanned<String>>>,
        pub files: Option<Vec<Spanned<String>>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Log {
        pub path: Spanned<String>,
        pub source: Spanned<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Journal {
        pub unit: Spanned<String>,
        pub source: Spanned<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Metrics {
        pub listen: Spanned<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Notify {
        pub interval: Option<Spanned<Duration>>,
        pub smtp: Option<Smtp>,
        pub webhook: Option<Webhook>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Smtp {
        pub server: Spanned<String>,
        pub port: Option<Spanned<i64>>,
        pub tls: Option<Spanned<String>>,
        pub from: Spanned<String>,
        pub to: Spanned<Vec<String>>,
        pub user: Option<String>,
        pub password_file: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Webhook {
        pub url: Spanned<String>,
    }
}

/// The pass after parsing: ranges, forms and combinations, every error collected.
struct Validate<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl ConfigError {
    /// An error about the value at `span` of `text` (the policy file `file`), for the
    /// other tables of the policy file read the same way (`[fleet]`).
    pub fn at(
        file: &str,
        text: &str,
        span: Range<usize>,
        key: &str,
        message: String,
        hint: &str,
    ) -> ConfigError {
        let (line, column, source_line) = line_column(text, span.start);
        ConfigError {
            file: file.to_string(),
            line,
            column,
            len: span_chars(text, &span),
            key: Some(key.to_string()),
            message,
            hint: Some(hint.to_string()),
            excerpt: excerpt(source_line),
        }
    }

    /// The toml crate's error for `text`, at its place, with a "did you mean" hint for
    /// an unknown key.
    pub fn toml(file: &str, text: &str, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        toml_error(file, text, span, e.message().trim())
    }
}

impl Validate<'_> {
    fn error(&mut self, span: Range<usize>, key: &str, message: String, hint: &str) {
        self.errors.push(ConfigError::at(
            self.file, self.text, span, key, message, hint,
        ));
    }

    /// An integer in `lo..=hi`, else an error and `default`.
    fn int(&mut self, v: Option<Spanned<i64>>, key: &str, lo: i64, hi: i64, default: u64) -> u64 {
        let Some(v) = v else { return default };
        let n = *v.get_ref();
        if n < lo || n > hi {
            self.error(
                v.span(),
                key,
                format!("{n} is out of range"),
                &format!("write a whole number from {lo} to {hi}"),
            );
            return default;
        }
        u64::try_from(n).unwrap_or(default)
    }

    fn secs(&mut self, v: Option<Spanned<schema::Duration>>, key: &str, default: u64) -> u64 {
        let Some(v) = v else { return default };
        let span = v.span();
        let parsed = match v.into_inner() {
            schema::Duration::Secs(n) => u64::try_from(n).ok().filter(|n| *n > 0),
            schema::Duration::Text(t) => parse_duration(&t).filter(|n| *n > 0),
        };
        match parsed {
            // Ten years: longer is a typo, and keeps every sum far from overflow.
            Some(n) if n <= 10 * 365 * 86_400 => n,
            _ => {
                self.error(
                    span,
                    key,
                    "bad duration".into(),
                    "write a positive time such as \"90s\", \"10m\", \"1h\", \"1d\", \"1w\" (at most 10 years) or a number of seconds",
                );
                default
            }
        }
    }

    fn window(&mut self, w: Option<schema::Window>, key: &str, default: Window) -> Window {
        let Some(w) = w else { return default };
        Window {
            enabled: w.enabled.unwrap_or(true),
            limit: self.limit(w.limit, &format!("{key}.limit"), default.limit),
            window_secs: self.secs(w.window, &format!("{key}.window"), default.window_secs),
        }
    }

    fn limit(&mut self, v: Option<Spanned<i64>>, key: &str, default: u32) -> u32 {
        let n = self.int(v, key, 1, i64::from(MAX_WINDOW_LIMIT), u64::from(default));
        u32::try_from(n).unwrap_or(default)
    }

    fn guard(&mut self, g: schema::Guard) -> GuardConfig {
        let d = GuardConfig::default();
        let mut c = GuardConfig {
            enabled: g.enabled.unwrap_or(true),
            sockets: g.sockets.unwrap_or(d.sockets),
            conntrack: g.conntrack.unwrap_or(d.conntrack),
            kernel_bans: g.kernel_bans.unwrap_or(d.kernel_bans),
            ..d.clone()
        };
        c.ban.ban_secs = self.secs(g.ban_time, "guard.ban_time", d.ban.ban_secs);
        c.ban.factor = u32::try_from(self.int(
            g.ban_factor,
            "guard.ban_factor",
            1,
            100,
            u64::from(d.ban.factor),
        ))
        .unwrap_or(d.ban.factor);
        let max_span = g.ban_max.as_ref().map(|s| s.span());
        c.ban.max_secs = self.secs(g.ban_max, "guard.ban_max", d.ban.max_secs);
        if let Some(span) = max_span {
            if c.ban.max_secs < c.ban.ban_secs {
                self.error(
                    span,
                    "guard.ban_max",
                    "shorter than ban_time".into(),
                    "ban_max caps escalated bans: make it at least ban_time",
                );
            }
        }
        c.ban.forget_secs = self.secs(g.forget, "guard.forget", d.ban.forget_secs);
        c.max_sources = u32::try_from(self.int(
            g.max_sources,
            "guard.max_sources",
            16,
            i64::from(MAX_SOURCES),
            u64::from(d.max_sources),
        ))
        .unwrap_or(d.max_sources);

        if let Some(conn) = g.connections {
            c.connections.enabled = conn.enabled.unwrap_or(true);
            c.connections.limit =
                self.int(conn.limit, "guard.connections.limit", 1, 1_000_000, 150) as u32;
            for p in conn.ports.unwrap_or_default() {
                match parse_port_limit(p.get_ref()) {
                    Some(pl) => c.connections.ports.push(pl),
                    None => self.error(
                        p.span(),
                        "guard.connections.ports",
                        format!("bad port limit `{}`", excerpt(p.get_ref())),
                        "write \"PORT:LIMIT:BAN_SECONDS\" as DDoS Deflate does, e.g. \"80:150:600\" (port 1-65535, limit and seconds above 0)",
                    ),
                }
            }
        }
        if let Some(s) = g.syn_recv {
            c.syn_recv = Snapshot {
                enabled: s.enabled.unwrap_or(true),
                limit: self.int(s.limit, "guard.syn_recv.limit", 1, 1_000_000, 50) as u32,
            };
        }
        c.new_rate = self.window(g.new_rate, "guard.new_rate", d.new_rate);
        c.http_rate = self.window(g.http_rate, "guard.http_rate", d.http_rate);
        c.http_errors = self.window(g.http_errors, "guard.http_errors", d.http_errors);
        if let Some(s) = g.sshd {
            c.sshd = Sshd {
                window: self.window(
                    Some(schema::Window {
                        enabled: s.enabled,
                        limit: s.limit,
                        window: s.window,
                    }),
                    "guard.sshd",
                    d.sshd.window,
                ),
                probes: s.probes.unwrap_or(false),
            };
        }
        if let Some(r) = g.rollup {
            c.rollup = Rollup {
                enabled: r.enabled.unwrap_or(true),
                sources: self.int(r.sources, "guard.rollup.sources", 2, 65_536, 5) as u32,
                v4_len: self.int(r.ipv4_prefix, "guard.rollup.ipv4_prefix", 16, 31, 24) as u8,
                v6_len: self.int(r.ipv6_prefix, "guard.rollup.ipv6_prefix", 48, 127, 64) as u8,
            };
        }
        if let Some(a) = g.allow {
            for r in a.ranges.unwrap_or_default() {
                let text = r.get_ref().trim();
                let parsed = match text.split_once('-') {
                    Some(_) => parse_ranges(self.file, text).ok(),
                    None => text.parse::<Prefix>().ok().map(|p| vec![p]),
                };
                match parsed {
                    Some(ps) => c.allow.ranges.extend(ps),
                    None => self.error(
                        r.span(),
                        "guard.allow.ranges",
                        format!("bad range `{}`", excerpt(text)),
                        "write an address, a prefix (192.0.2.0/24, 2001:db8::/32) or a range (A-B)",
                    ),
                }
            }
            c.allow.files = a
                .files
                .unwrap_or_default()
                .into_iter()
                .map(Spanned::into_inner)
                .collect();
        }
        for l in g.log.unwrap_or_default() {
            if let Some(source) = self.source(&l.source, "guard.log.source") {
                c.logs.push(LogFile {
                    path: l.path.into_inner(),
                    source,
                });
            }
        }
        for j in g.journal.unwrap_or_default() {
            if let Some(source) = self.source(&j.source, "guard.journal.source") {
                c.journal.push(JournalUnit {
                    unit: j.unit.into_inner(),
                    source,
                });
            }
        }
        if let Some(m) = g.metrics {
            match m.listen.get_ref().parse::<SocketAddr>() {
                Ok(a) => c.metrics = Some(a),
                Err(_) => self.error(
                    m.listen.span(),
                    "guard.metrics.listen",
                    format!("bad address `{}`", excerpt(m.listen.get_ref())),
                    "write ADDRESS:PORT, e.g. \"127.0.0.1:9477\" or \"[::1]:9477\"",
                ),
            }
        }
        if let Some(n) = g.notify {
            c.notify.interval_secs =
                self.secs(n.interval, "guard.notify.interval", DEFAULT_NOTIFY_INTERVAL);
            if let Some(s) = n.smtp {
                let tls = match s.tls.as_ref().map(|t| t.get_ref().as_str()) {
                    None | Some("starttls") => SmtpTls::Starttls,
                    Some("tls") => SmtpTls::Tls,
                    Some("none") => SmtpTls::None,
                    Some(other) => {
                        let span = s.tls.as_ref().map(|t| t.span()).unwrap_or(0..0);
                        self.error(
                            span,
                            "guard.notify.smtp.tls",
                            format!("unknown TLS mode `{}`", excerpt(other)),
                            "write \"starttls\" (port 587), \"tls\" (port 465) or \"none\"",
                        );
                        SmtpTls::Starttls
                    }
                };
                let default_port = match tls {
                    SmtpTls::Starttls => 587,
                    SmtpTls::Tls => 465,
                    SmtpTls::None => 25,
                };
                let port =
                    self.int(s.port, "guard.notify.smtp.port", 1, 65_535, default_port) as u16;
                let to_span = s.to.span();
                let to = s.to.into_inner();
                if to.is_empty() {
                    self.error(
                        to_span,
                        "guard.notify.smtp.to",
                        "no recipient".into(),
                        "give at least one address: to = [\"admin@example.org\"]",
                    );
                }
                c.notify.smtp = Some(Smtp {
                    server: s.server.into_inner(),
                    port,
                    tls,
                    from: s.from.into_inner(),
                    to,
                    user: s.user,
                    password_file: s.password_file,
                });
            }
            if let Some(w) = n.webhook {
                let url = w.url.get_ref();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.error(
                        w.url.span(),
                        "guard.notify.webhook.url",
                        format!("bad URL `{}`", excerpt(url)),
                        "write an http:// or https:// URL",
                    );
                }
                c.notify.webhook = Some(Webhook {
                    url: w.url.into_inner(),
                });
            }
        }
        c
    }

    fn source(&mut self, s: &Spanned<String>, key: &str) -> Option<rampart_logs::Source> {
        match s.get_ref().parse::<rampart_logs::Source>() {
            Ok(src) => Some(src),
            Err(e) => {
                self.error(
                    s.span(),
                    key,
                    e.to_string(),
                    "name the parser the log's lines need",
                );
                None
            }
        }
    }
}

/// DDoS Deflate's `PORT:LIMIT:BAN_SECONDS`.
fn parse_port_limit(text: &str) -> Option<PortLimit> {
    let mut parts = text.trim().split(':');
    let port: u16 = parts.next()?.trim().parse().ok().filter(|p| *p > 0)?;
    let limit: u32 = parts.next()?.trim().parse().ok().filter(|l| *l > 0)?;
    let ban_secs = parse_duration(parts.next()?).filter(|s| *s > 0)?;
    if parts.next().is_some() {
        return None;
    }
    Some(PortLimit {
        port,
        limit,
        ban_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> GuardConfig {
        match GuardConfig::from_policy("rampart.toml", text) {
            Ok(Some(c)) => c,
            Ok(None) => panic!("no [guard] in {text}"),
            Err(e) => panic!("{e}"),
        }
    }

    fn errors(text: &str) -> ConfigErrors {
        match GuardConfig::from_policy("rampart.toml", text) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn no_table_no_guard() {
        assert_eq!(
            GuardConfig::from_policy("p", "profile = \"webserver\"\n[input]\ntcp = [80]\n"),
            Ok(None)
        );
    }

    #[test]
    fn an_empty_table_gives_the_documented_defaults() {
        let c = parse("profile = \"webserver\"\n[guard]\n");
        assert_eq!(c, GuardConfig::default());
        assert_eq!(c.connections.limit, 150);
        assert_eq!((c.sshd.window.limit, c.sshd.window.window_secs), (5, 600));
        assert_eq!(c.ban.ban_secs, 600);
        assert_eq!(
            (c.rollup.sources, c.rollup.v4_len, c.rollup.v6_len),
            (5, 24, 64)
        );
        assert!(c.enabled && c.sockets && c.conntrack && c.kernel_bans);
        assert_eq!(c.metrics, None);
    }

    /// Every key, each with a value other than its default, reads back.
    #[test]
    fn every_key() {
        let c = parse(
            r#"
[guard]
enabled = true
ban_time = "15m"
ban_factor = 2
ban_max = "2d"
forget = 86400
max_sources = 1000
sockets = false
conntrack = true
kernel_bans = false

[guard.connections]
limit = 100
ports = ["80:150:600", "443:200:1h"]

[guard.syn_recv]
limit = 30

[guard.new_rate]
limit = 60
window = "10s"

[guard.http_rate]
enabled = false

[guard.http_errors]
limit = 20
window = "1m"

[guard.sshd]
limit = 3
window = "1h"
probes = true

[guard.rollup]
sources = 3
ipv4_prefix = 16
ipv6_prefix = 48

[guard.allow]
ranges = ["192.0.2.0/24", "2001:db8::/32", "198.51.100.1-198.51.100.2"]
files = ["/etc/rampart/cdn.txt"]

[[guard.log]]
path = "/var/log/auth.log"
source = "sshd"

[[guard.log]]
path = "/var/log/nginx/access.log"
source = "nginx-access"

[[guard.journal]]
unit = "ssh.service"
source = "sshd"

[guard.metrics]
listen = "127.0.0.1:9477"

[guard.notify]
interval = "5m"

[guard.notify.smtp]
server = "mail.example.org"
tls = "tls"
from = "rampart@example.org"
to = ["admin@example.org"]
user = "rampart"
password_file = "/etc/rampart/smtp-password"

[guard.notify.webhook]
url = "https://hooks.example.org/rampart"
"#,
        );
        assert_eq!(
            c.ban,
            BanTimes {
                ban_secs: 900,
                factor: 2,
                max_secs: 172_800,
                forget_secs: 86_400
            }
        );
        assert_eq!(c.max_sources, 1000);
        assert!(!c.sockets && c.conntrack && !c.kernel_bans);
        assert_eq!(c.connections.limit, 100);
        assert_eq!(
            c.connections.ports,
            vec![
                PortLimit {
                    port: 80,
                    limit: 150,
                    ban_secs: 600
                },
                PortLimit {
                    port: 443,
                    limit: 200,
                    ban_secs: 3600
                }
            ]
        );
        assert_eq!(c.syn_recv.limit, 30);
        assert_eq!((c.new_rate.limit, c.new_rate.window_secs), (60, 10));
        assert!(!c.http_rate.enabled);
        assert_eq!(
            (
                c.sshd.window.limit,
                c.sshd.window.window_secs,
                c.sshd.probes
            ),
            (3, 3600, true)
        );
        assert_eq!(
            (c.rollup.sources, c.rollup.v4_len, c.rollup.v6_len),
            (3, 16, 48)
        );
        assert_eq!(c.allow.ranges.len(), 4, "{:?}", c.allow.ranges);
        assert_eq!(c.allow.files, vec!["/etc/rampart/cdn.txt".to_string()]);
        assert_eq!(c.logs[1].source, rampart_logs::Source::NginxAccess);
        assert_eq!(c.journal[0].unit, "ssh.service");
        assert_eq!(c.metrics, Some("127.0.0.1:9477".parse().unwrap()));
        let smtp = c.notify.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls), (465, SmtpTls::Tls));
        assert_eq!(c.notify.interval_secs, 300);
        assert_eq!(
            c.notify.webhook.unwrap().url,
            "https://hooks.example.org/rampart"
        );
    }

    /// dist/rampart.toml's commented `[guard]` example, uncommented, parses, and the
    /// defaults it states are the defaults.
    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../dist/rampart.toml");
        let start = text.find("\n# [guard]\n").expect("a [guard] example");
        let end = start
            + text[start..]
                .find("\n# [import]")
                .expect("followed by [import]");
        let mut example = String::new();
        for line in text[start..end].lines() {
            let Some(rest) = line.strip_prefix("# ") else {
                continue;
            };
            let is_key = rest.starts_with('[')
                || rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            if is_key {
                example.push_str(rest);
                example.push('\n');
            }
        }
        let c = parse(&example);
        let d = GuardConfig::default();
        assert_eq!(c.ban, d.ban);
        assert_eq!(c.max_sources, d.max_sources);
        assert_eq!(c.connections.limit, d.connections.limit);
        assert_eq!(c.syn_recv, d.syn_recv);
        assert_eq!(c.new_rate, d.new_rate);
        assert_eq!(c.http_rate, d.http_rate);
        assert_eq!(c.http_errors, d.http_errors);
        assert_eq!(c.sshd, d.sshd);
        assert_eq!(c.rollup, d.rollup);
        assert_eq!(c.notify.interval_secs, d.notify.interval_secs);
        assert_eq!(c.connections.ports.len(), 1);
        assert_eq!(c.logs.len(), 1);
        assert_eq!(c.journal.len(), 1);
        assert!(c.notify.smtp.is_some() && c.notify.webhook.is_some() && c.metrics.is_some());
    }

    /// Each bad value: reported at its line and column, with the key and a hint.
    #[test]
    fn bad_values_are_reported_where_they_are() {
        // (text, line, column, fragment of the message, fragment of the hint)
        let cases: &[(&str, u32, u32, &str, &str)] = &[
            ("[guard]\nban_tme = \"1h\"\n", 2, 1, "unknown key `ban_tme`", "did you mean `ban_time`?"),
            ("[guard.sshd]\nlimt = 3\n", 2, 1, "unknown key `limt`", "did you mean `limit`?"),
            ("[guard]\nban_time = \"10 parsecs\"\n", 2, 12, "bad duration", "\"10m\""),
            ("[guard.connections]\nports = [\"80:150\"]\n", 2, 10, "bad port limit `80:150`", "80:150:600"),
            ("[guard.connections]\nports = [\"0:150:600\"]\n", 2, 10, "bad port limit", "port 1-65535"),
            ("[guard.sshd]\nlimit = 0\n", 2, 9, "0 is out of range", "from 1 to 4096"),
            ("[guard.rollup]\nipv4_prefix = 8\n", 2, 15, "out of range", "from 16 to 31"),
            ("[guard.rollup]\nipv6_prefix = 32\n", 2, 15, "out of range", "from 48 to 127"),
            ("[guard.allow]\nranges = [\"192.0.2.0/33\"]\n", 2, 11, "bad range", "prefix"),
            ("[[guard.log]]\npath = \"/x\"\nsource = \"postfix\"\n", 3, 10, "unknown log source `postfix`", "parser"),
            ("[guard.metrics]\nlisten = \"localhost\"\n", 2, 10, "bad address", "127.0.0.1:9477"),
            ("[guard.notify.smtp]\nserver = \"m\"\nfrom = \"a@b\"\nto = []\n", 4, 6, "no recipient", "at least one"),
            ("[guard.notify.smtp]\nserver = \"m\"\nfrom = \"a@b\"\nto = [\"x\"]\ntls = \"ssl\"\n", 5, 7, "unknown TLS mode", "starttls"),
            ("[guard.notify.webhook]\nurl = \"ftp://x\"\n", 2, 7, "bad URL", "https://"),
            ("[guard]\nban_time = \"1h\"\nban_max = \"10m\"\n", 3, 11, "shorter than ban_time", "at least ban_time"),
            ("[guard]\nban_factor = \"2\"\n", 2, 14, "invalid type", "value's type"),
        ];
        for (text, line, column, message, hint) in cases {
            let e = errors(text);
            let first = &e.0[0];
            assert_eq!((first.line, first.column), (*line, *column), "{text}: {e}");
            assert!(first.message.contains(message), "{text}: {e}");
            assert!(
                first.hint.as_deref().unwrap_or("").contains(hint),
                "{text}: {e}"
            );
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("rampart.toml:{line}:{column}: ")),
                "{shown}"
            );
        }
    }

    /// Shown as policy errors are: the line, the offending text underlined, the hint.
    #[test]
    fn shown_with_the_line_underlined() {
        let e = errors("[guard.sshd]\nwindow = \"10 parsecs\"\n");
        assert_eq!(
            e.to_string(),
            "rampart.toml:2:10: `guard.sshd.window`: bad duration\n  |\n2 | window = \"10 parsecs\"\n  |          ^^^^^^^^^^^^\n  = hint: write a positive time such as \"90s\", \"10m\", \"1h\", \"1d\", \"1w\" (at most 10 years) or a number of seconds"
        );
    }

    /// Several errors at once, in file order.
    #[test]
    fn every_error_at_once() {
        let e = errors("[guard]\nban_time = \"x\"\n[guard.sshd]\nlimit = 0\n[guard.connections]\nports = [\"x\"]\n");
        let lines: Vec<u32> = e.0.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 4, 6]);
    }

    #[test]
    fn range_files() {
        let ranges = parse_ranges(
            "cdn.txt",
            "# a CDN's list\n192.0.2.0/24\n\n2001:db8::/48 # IPv6\n198.51.100.1-198.51.100.3\n203.0.113.9\n",
        )
        .unwrap();
        let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "192.0.2.0/24",
                "2001:db8::/48",
                "198.51.100.1/32",
                "198.51.100.2/31",
                "203.0.113.9/32"
            ]
        );
        let e = parse_ranges(
            "cdn.txt",
            "192.0.2.0/24\nnot a range\x1b[31m\n10.0.0.0/99\n",
        )
        .unwrap_err();
        assert_eq!(e.0.len(), 2);
        assert_eq!(e.0[0].line, 2);
        assert!(e.0[0].to_string().contains("\\x1b"), "{}", e.0[0]);
        assert_eq!(e.0[1].line, 3);
    }

    #[test]
    fn durations_and_escalation() {
        for (text, secs) in [
            ("90s", Some(90)),
            ("10m", Some(600)),
            ("2 h", Some(7200)),
            ("1w", Some(604_800)),
            ("600", Some(600)),
            ("1y", None),
            ("", None),
        ] {
            assert_eq!(parse_duration(text), secs, "{text}");
        }
        let b = BanTimes {
            ban_secs: 600,
            factor: 4,
            max_secs: 3600,
            forget_secs: 0,
        };
        assert_eq!(b.duration(600, 0), 600);
        assert_eq!(b.duration(600, 1), 2400);
        assert_eq!(b.duration(600, 2), 3600);
        assert_eq!(b.duration(600, 1000), 3600);
        // A port's own ban time above the cap is kept for a first ban.
        assert_eq!(b.duration(7200, 0), 7200);
    }
}
