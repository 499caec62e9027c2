//! Where the daemon's events go besides its log: Prometheus metrics ([`Metrics`]) and
//! notices ([`Notices`], the digest mail and the webhook of rampart-notify); [`Sinks`]
//! hands each event to all of them.

use std::collections::HashMap;
use std::time::Duration;

use rampart_guard::{Decision, Origin, Target};
use rampart_metrics::{Counter, Gauge, Histogram, Registry};
use rampart_notify::{Notice, Notifier, NotifyConfig, Security, SmtpConfig, WebhookConfig};
use rampart_prefix::Prefix;

use crate::daemon::{Event, Sink};
use crate::log::Log;

/// The log and every other sink at once.
pub struct Sinks {
    /// The daemon's log.
    pub log: Log,
    /// Metrics, notices.
    pub others: Vec<Box<dyn Sink>>,
}

impl Sink for Sinks {
    fn event(&mut self, e: &Event) {
        self.log.event(e);
        for s in &mut self.others {
            s.event(e);
        }
    }
    fn lines(&mut self, read: u64, not_understood: u64) {
        self.log.lines(read, not_understood);
        for s in &mut self.others {
            s.lines(read, not_understood);
        }
    }
    fn scanned(&mut self, n: u64) {
        for s in &mut self.others {
            s.scanned(n);
        }
    }
    fn connections(&mut self, n: u64) {
        for s in &mut self.others {
            s.connections(n);
        }
    }
    fn active(&mut self, by: &HashMap<String, u64>) {
        for s in &mut self.others {
            s.active(by);
        }
    }
    fn finish(&mut self) {
        for s in &mut self.others {
            s.finish();
        }
    }
}

/// Detection latency buckets, in seconds: the target is under one.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The guard's metrics (`rampart_guard_*`) in a registry the metrics server renders.
pub struct Metrics {
    bans: Counter,
    refused: Counter,
    active: Gauge,
    sockets: Gauge,
    conntrack: Counter,
    lines: Counter,
    not_understood: Counter,
    latency: Histogram,
    troubles: Counter,
    known: Vec<String>,
}

impl Metrics {
    /// Registers the metrics in `r`.
    pub fn new(r: &Registry) -> Metrics {
        Metrics {
            bans: r.counter(
                "rampart_guard_bans_total",
                "Bans decided and enforced, by detector and origin.",
                &["reason", "origin"],
            ),
            refused: r.counter(
                "rampart_guard_bans_refused_total",
                "Decisions not enforced (allowlisted, or the kernel refused).",
                &[],
            ),
            active: r.gauge(
                "rampart_guard_bans_active",
                "Bans running now, by detector.",
                &["reason"],
            ),
            sockets: r.gauge(
                "rampart_guard_sockets_observed",
                "TCP sockets in the last sock_diag snapshot.",
                &[],
            ),
            conntrack: r.counter(
                "rampart_guard_conntrack_new_total",
                "New connections seen as conntrack NEW events.",
                &[],
            ),
            lines: r.counter("rampart_guard_log_lines_total", "Log lines read.", &[]),
            not_understood: r.counter(
                "rampart_guard_log_lines_not_understood_total",
                "Log lines that should have been an event and were not understood.",
                &[],
            ),
            latency: r.histogram(
                "rampart_guard_detection_latency_seconds",
                "From reading the observation that crossed a threshold to the ban in the kernel.",
                &[],
                &LATENCY_BUCKETS,
            ),
            troubles: r.counter(
                "rampart_guard_troubles_total",
                "Observer, store and kernel errors (each also logged).",
                &[],
            ),
            known: Vec::new(),
        }
    }
}

impl Sink for Metrics {
    fn event(&mut self, e: &Event) {
        match e {
            Event::Banned {
                decision, latency, ..
            } => {
                self.bans
                    .with(&[&decision.reason.detector, Origin::name(decision.origin)])
                    .inc();
                if decision.origin == Origin::Detector {
                    self.latency.with(&[]).observe(latency.as_secs_f64());
                }
            }
            Event::Refused { .. } => self.refused.with(&[]).inc(),
            Event::Lifted { .. } | Event::Note(_) => {}
            Event::Trouble(_) => self.troubles.with(&[]).inc(),
        }
    }
    fn lines(&mut self, read: u64, not_understood: u64) {
        self.lines.with(&[]).add(read);
        self.not_understood.with(&[]).add(not_understood);
    }
    fn scanned(&mut self, n: u64) {
        self.sockets.with(&[]).set(n as f64);
    }
    fn connections(&mut self, n: u64) {
        self.conntrack.with(&[]).add(n);
    }
    fn active(&mut self, by: &HashMap<String, u64>) {
        for k in by.keys() {
            if !self.known.contains(k) {
                self.known.push(k.clone());
            }
        }
        for k in &self.known {
            let n = by.get(k).copied().unwrap_or(0);
            self.active.with(&[k]).set(n as f64);
        }
    }
}

/// The notices of `[guard.notify]`: one per ban, batched by the notifier into a digest
/// per interval.
pub struct Notices(pub Option<Notifier>);

/// How long the notices still waiting at stop may take to go out.
pub const NOTIFY_GRACE: Duration = Duration::from_secs(5);

/// A decision told as a notice.
pub fn notice(d: &Decision) -> Notice {
    let target = match d.target {
        Target::Addr(a) => Prefix::host(a),
        Target::Prefix(p) => p,
    };
    Notice {
        target,
        reason: format!("{}: {}", d.reason.detector, d.reason.summary),
        evidence: d.evidence.samples.clone(),
        start: d.start,
        until: Some(d.until),
        origin: Origin::name(d.origin).to_string(),
    }
}

impl Sink for Notices {
    fn event(&mut self, e: &Event) {
        if let (Event::Banned { decision, .. }, Some(n)) = (e, &self.0) {
            // Never blocks: a full queue is counted by the notifier.
            let _ = n.notify(notice(decision));
        }
    }
    fn finish(&mut self) {
        if let Some(n) = self.0.take() {
            n.shutdown(NOTIFY_GRACE);
        }
    }
}

/// Why `[guard.notify]` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("[guard.notify]: {0}")]
pub struct NotifySetupError(pub String);

/// The notifier's settings from `[guard.notify]`; `None` when neither mail nor webhook is
/// set. The SMTP password is read from its file here.
pub fn notify_config(
    n: &rampart_guard::config::Notify,
) -> Result<Option<NotifyConfig>, NotifySetupError> {
    if n.smtp.is_none() && n.webhook.is_none() {
        return Ok(None);
    }
    let interval = Duration::from_secs(n.interval_secs.max(1));
    let mut config = NotifyConfig::default();
    if let Some(s) = &n.smtp {
        let security = match s.tls {
            rampart_guard::config::SmtpTls::Starttls => Security::StartTls,
            rampart_guard::config::SmtpTls::Tls => Security::Tls,
            rampart_guard::config::SmtpTls::None => Security::None,
        };
        let to: Vec<&str> = s.to.iter().map(String::as_str).collect();
        let mut smtp = SmtpConfig::new(&s.server, s.port, security, &s.from, &to);
        smtp.interval = interval;
        if let Some(user) = &s.user {
            let password = match &s.password_file {
                Some(f) => std::fs::read_to_string(f)
                    .map_err(|e| NotifySetupError(format!("password_file {f}: {e}")))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
                None => {
                    return Err(NotifySetupError(format!(
                        "smtp user {user} has no password_file"
                    )))
                }
            };
            smtp.credentials = Some(rampart_notify::Credentials {
                user: user.clone(),
                password,
            });
        }
        config.smtp = Some(smtp);
    }
    if let Some(w) = &n.webhook {
        let url = w
            .url
            .parse()
            .map_err(|e| NotifySetupError(format!("webhook url {}: {e}", w.url)))?;
        let mut hook = WebhookConfig::new(url);
        hook.interval = interval;
        config.webhook = Some(hook);
    }
    Ok(Some(config))
}
