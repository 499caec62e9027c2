//! The notifier: one thread per sink, fed by a bounded channel, batching and retrying.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::ClientConfig;

use crate::config::{ConfigError, NotifyConfig, Retry, SmtpConfig, WebhookConfig};
use crate::digest::{json, mail_text, rfc5322, Notice};
use crate::{http, smtp, tls, DeliveryError};

/// Notices each sink's channel holds while its thread is busy delivering: a flood of
/// 10,000 bans in the seconds one SMTP exchange takes still fits; beyond, notices are
/// counted as left out (the digest says how many), never waited for.
pub const QUEUE: usize = 10_000;

/// Notices one batch (one mail, one POST) carries at most; the rest are counted. A mail
/// of 1,000 bans is already more than anyone reads; `rampart bans list` has them all.
pub const MAX_PENDING: usize = 1_000;

/// Which way a notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sink {
    /// The digest mail.
    Smtp,
    /// The JSON webhook.
    Webhook,
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sink::Smtp => "smtp",
            Sink::Webhook => "webhook",
        })
    }
}

/// What the notifier did, for the caller's log and metrics. `Display` gives one line
/// that reads well in journald.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A batch went out.
    Delivered {
        /// Where.
        sink: Sink,
        /// Notices in it (left-out ones not included).
        notices: usize,
        /// Attempts it took.
        attempts: u32,
    },
    /// A delivery failed; the batch is kept and retried.
    Failed {
        /// Where.
        sink: Sink,
        /// Notices waiting.
        notices: usize,
        /// This attempt's number, from 1.
        attempt: u32,
        /// When the next attempt is.
        retry_in: Duration,
        /// Why.
        error: DeliveryError,
    },
    /// A batch failed for longer than [`Retry::give_up_after`] and was dropped.
    GaveUp {
        /// Where.
        sink: Sink,
        /// Notices dropped.
        notices: usize,
        /// The last error.
        error: DeliveryError,
    },
    /// Notices were counted instead of kept: the channel or the batch was full.
    LeftOut {
        /// Where.
        sink: Sink,
        /// How many since the last such event.
        notices: u64,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Delivered { sink, notices, attempts } => {
                write!(f, "notify {sink}: delivered {notices} notice(s) (attempt {attempts})")
            }
            Event::Failed { sink, notices, attempt, retry_in, error } => write!(
                f,
                "notify {sink}: delivery of {notices} notice(s) failed (attempt {attempt}), retrying in {:.1} s: {error}",
                retry_in.as_secs_f64()
            ),
            Event::GaveUp { sink, notices, error } => {
                write!(f, "notify {sink}: gave up on {notices} notice(s) after retrying: {error}")
            }
            Event::LeftOut { sink, notices } => write!(
                f,
                "notify {sink}: {notices} notice(s) left out (queue or batch full); the next batch counts them"
            ),
        }
    }
}

/// Counters since start, summed over both sinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStats {
    /// Notices taken by [`Notifier::notify`] (once per sink).
    pub accepted: u64,
    /// Notices counted instead of kept (full queue or batch).
    pub left_out: u64,
    /// Batches delivered (mails sent, POSTs answered 2xx).
    pub delivered: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Batches given up.
    pub gave_up: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    left_out: AtomicU64,
    delivered: AtomicU64,
    failures: AtomicU64,
    gave_up: AtomicU64,
}

type Callback = Arc<dyn Fn(&Event) + Send + Sync>;

struct Lane {
    tx: Option<SyncSender<Notice>>,
    /// Notices the channel refused, not yet told to the worker's batch.
    refused: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// Sends notices by mail and webhook from background threads.
///
/// [`Notifier::notify`] never blocks. [`Notifier::shutdown`] sends what is pending (one
/// attempt per sink) and waits; dropping the notifier lets its threads finish alone.
pub struct Notifier {
    lanes: Vec<Lane>,
    counters: Arc<Counters>,
}

impl Notifier {
    /// Checks the settings (addresses, URL, CA file, roots) and starts one thread per
    /// configured sink; `on_event` is called from those threads.
    ///
    /// # Errors
    /// A setting that cannot work ([`ConfigError`]), or a thread that cannot start.
    pub fn start(
        config: NotifyConfig,
        on_event: impl Fn(&Event) + Send + Sync + 'static,
    ) -> Result<Notifier, ConfigError> {
        let on_event: Callback = Arc::new(on_event);
        let counters = Arc::new(Counters::default());
        let host = host_name();
        let mut lanes = Vec::new();
        if let Some(smtp) = config.smtp {
            smtp.check()?;
            let tls = match smtp.security {
                crate::Security::None => None,
                _ => Some(tls::client_config(smtp.ca_file.as_deref())?),
            };
            let hello = smtp.hello.clone().unwrap_or_else(|| host.clone());
            let interval = smtp.interval;
            let deliver = Deliver::Smtp {
                config: smtp,
                tls,
                hello,
            };
            lanes.push(spawn(
                deliver,
                interval,
                config.retry,
                &on_event,
                &counters,
            )?);
        }
        if let Some(hook) = config.webhook {
            hook.check()?;
            let tls = if hook.url.https {
                Some(tls::client_config(hook.ca_file.as_deref())?)
            } else {
                None
            };
            let interval = hook.interval;
            let deliver = Deliver::Webhook {
                config: hook,
                tls,
                host: host.clone(),
            };
            lanes.push(spawn(
                deliver,
                interval,
                config.retry,
                &on_event,
                &counters,
            )?);
        }
        Ok(Notifier { lanes, counters })
    }

    /// Queues `notice` for every sink without waiting; false when a sink's queue was full
    /// (the notice is then counted as left out there).
    pub fn notify(&self, notice: Notice) -> bool {
        let mut all = true;
        for lane in &self.lanes {
            let Some(tx) = &lane.tx else { continue };
            match tx.try_send(notice.clone()) {
                Ok(()) => {
                    self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    lane.refused.fetch_add(1, Ordering::Relaxed);
                    self.counters.left_out.fetch_add(1, Ordering::Relaxed);
                    all = false;
                }
            }
        }
        all
    }

    /// Whether any sink is configured (a notifier without sinks accepts and drops).
    pub fn is_enabled(&self) -> bool {
        !self.lanes.is_empty()
    }

    /// Counters since start.
    pub fn stats(&self) -> NotifyStats {
        let c = &self.counters;
        NotifyStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            left_out: c.left_out.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            gave_up: c.gave_up.load(Ordering::Relaxed),
        }
    }

    /// Stops taking notices, sends what is pending now (one attempt per sink, whatever
    /// the interval) and waits for the threads up to `grace`; a thread still talking to a
    /// server then is left to finish alone. Returns whether all threads finished.
    pub fn shutdown(mut self, grace: Duration) -> bool {
        for lane in &mut self.lanes {
            lane.tx = None;
        }
        let deadline = Instant::now() + grace;
        let mut all = true;
        for lane in &mut self.lanes {
            let Some(thread) = lane.thread.take() else {
                continue;
            };
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                all = false;
            }
        }
        all
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

enum Deliver {
    Smtp {
        config: SmtpConfig,
        tls: Option<Arc<ClientConfig>>,
        hello: String,
    },
    Webhook {
        config: WebhookConfig,
        tls: Option<Arc<ClientConfig>>,
        host: String,
    },
}

impl Deliver {
    fn sink(&self) -> Sink {
        match self {
            Deliver::Smtp { .. } => Sink::Smtp,
            Deliver::Webhook { .. } => Sink::Webhook,
        }
    }

    fn send(&self, notices: &[Notice], left_out: u64) -> Result<(), DeliveryError> {
        let now = epoch();
        match self {
            Deliver::Smtp { config, tls, hello } => {
                let (subject, body) = mail_text(hello, &config.subject, notices, left_out);
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let message = format!(
                    "From: {}\nTo: {}\nSubject: {subject}\nDate: {}\nMessage-ID: <{now}.{nanos}.{}@{hello}>\n\
                     MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\
                     Content-Transfer-Encoding: 7bit\nAuto-Submitted: auto-generated\n\n{body}",
                    config.from,
                    config.to.join(", "),
                    rfc5322(now),
                    std::process::id(),
                );
                smtp::send(config, tls.as_ref(), hello, &message)?;
            }
            Deliver::Webhook { config, tls, host } => {
                http::post(config, tls.as_ref(), &json(host, now, notices, left_out))?;
            }
        }
        Ok(())
    }
}

fn spawn(
    deliver: Deliver,
    interval: Duration,
    retry: Retry,
    on_event: &Callback,
    counters: &Arc<Counters>,
) -> Result<Lane, ConfigError> {
    let (tx, rx) = mpsc::sync_channel::<Notice>(QUEUE);
    let refused = Arc::new(AtomicU64::new(0));
    let worker = Worker {
        deliver,
        interval,
        retry,
        on_event: on_event.clone(),
        counters: counters.clone(),
        refused: refused.clone(),
        pending: Vec::new(),
        left_out: 0,
        opened: None,
        failing: None,
    };
    let thread = std::thread::Builder::new()
        .name(format!("rampart-notify-{}", worker.deliver.sink()))
        .spawn(move || worker.run(rx))
        .map_err(ConfigError::Thread)?;
    Ok(Lane {
        tx: Some(tx),
        refused,
        thread: Some(thread),
    })
}

struct Failing {
    /// When the batch first failed.
    first: Instant,
    attempt: u32,
    retry_at: Instant,
}

struct Worker {
    deliver: Deliver,
    interval: Duration,
    retry: Retry,
    on_event: Callback,
    counters: Arc<Counters>,
    refused: Arc<AtomicU64>,
    pending: Vec<Notice>,
    left_out: u64,
    /// When the batch's first notice arrived: it goes out `interval` later.
    opened: Option<Instant>,
    failing: Option<Failing>,
}

/// Longest sleep: left-out counts are looked at this often.
const TICK: Duration = Duration::from_secs(1);

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Notice>) {
        loop {
            let now = Instant::now();
            let wait = self
                .due()
                .map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
            match rx.recv_timeout(wait) {
                Ok(n) => {
                    self.take(n);
                    // Drain what else is waiting before looking at the clock.
                    while let Ok(n) = rx.try_recv() {
                        self.take(n);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.collect_refused();
                    if !self.pending.is_empty() || self.left_out > 0 {
                        self.attempt(Instant::now());
                    }
                    return;
                }
            }
            self.collect_refused();
            let now = Instant::now();
            if self.due().is_some_and(|d| d <= now) {
                self.attempt(now);
            }
        }
    }

    /// When the pending batch may go: its interval after it opened, or its retry time.
    fn due(&self) -> Option<Instant> {
        if self.pending.is_empty() && self.left_out == 0 {
            return None;
        }
        match &self.failing {
            Some(f) => Some(f.retry_at),
            None => self.opened.map(|o| o + self.interval),
        }
    }

    fn take(&mut self, n: Notice) {
        if self.opened.is_none() {
            self.opened = Some(Instant::now());
        }
        if self.pending.len() < MAX_PENDING {
            self.pending.push(n);
        } else {
            self.left_out += 1;
            self.counters.left_out.fetch_add(1, Ordering::Relaxed);
            (self.on_event)(&Event::LeftOut {
                sink: self.deliver.sink(),
                notices: 1,
            });
        }
    }

    fn collect_refused(&mut self) {
        let n = self.refused.swap(0, Ordering::Relaxed);
        if n > 0 {
            if self.opened.is_none() {
                self.opened = Some(Instant::now());
            }
            self.left_out += n;
            (self.on_event)(&Event::LeftOut {
                sink: self.deliver.sink(),
                notices: n,
            });
        }
    }

    fn attempt(&mut self, now: Instant) {
        let sink = self.deliver.sink();
        let result = self.deliver.send(&self.pending, self.left_out);
        let attempt = self.failing.as_ref().map_or(1, |f| f.attempt + 1);
        match result {
            Ok(()) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                (self.on_event)(&Event::Delivered {
                    sink,
                    notices: self.pending.len(),
                    attempts: attempt,
                });
                self.reset();
            }
            Err(error) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                let first = self.failing.as_ref().map_or(now, |f| f.first);
                if now.duration_since(first) >= self.retry.give_up_after {
                    self.counters.gave_up.fetch_add(1, Ordering::Relaxed);
                    (self.on_event)(&Event::GaveUp {
                        sink,
                        notices: self.pending.len(),
                        error,
                    });
                    self.reset();
                    return;
                }
                let shift = (attempt - 1).min(20);
                let retry_in = self
                    .retry
                    .initial
                    .saturating_mul(1 << shift)
                    .min(self.retry.max);
                (self.on_event)(&Event::Failed {
                    sink,
                    notices: self.pending.len(),
                    attempt,
                    retry_in,
                    error,
                });
                self.failing = Some(Failing {
                    first,
                    attempt,
                    retry_at: now + retry_in,
                });
            }
        }
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.left_out = 0;
        self.opened = None;
        self.failing = None;
    }
}
