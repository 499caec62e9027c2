//! Alerts: the guard's bans told to the administrator in one digest mail per interval
//! over SMTP, and to other programs as a JSON webhook — from a background thread, so a
//! ban never waits for a mail server.
//!
//! Central types: [`Notice`] (one ban told: target, reason, evidence lines, start, until,
//! origin — the guard's decision in words, no dependency on the guard's types),
//! [`NotifyConfig`] (an optional [`SmtpConfig`] and an optional [`WebhookConfig`], each with
//! its interval, and the [`Retry`] policy), and [`Notifier`] (the thread: `notify` never
//! blocks; notices are batched per sink and sent when the sink's interval has passed).
//! What happens is reported as [`Event`]s to a callback the caller gives (the daemon logs
//! them and counts them in its metrics).
//!
//! ```text
//!  guard ── Notifier::notify(Notice) ──▶ bounded channel ──▶ thread
//!             (try_send: never blocks,                         │ per sink: pending batch,
//!              a full queue drops and counts)                  │ due every interval
//!                                                              ├──▶ SMTP: one digest mail
//!                                                              │    (STARTTLS / TLS, AUTH)
//!                                                              └──▶ HTTPS/HTTP POST: JSON
//!           failure ─▶ Event::Failed, batch kept, retried with exponential backoff
//! ```
//!
//! Decisions:
//! - **A small SMTP client, not lettre.** lettre (0.11, MSRV 1.74) would fit the MSRV but
//!   brings `url`/`idna` (the ICU tables), `nom`, `email-encoding` and friends for the
//!   dozen commands a digest needs (EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA,
//!   QUIT); the client here is a few hundred lines over `rustls` (ring provider, the
//!   system's roots through `rustls-native-certs`, or a given CA file).
//! - **Bounded, lossless on a transient failure.** The channel holds [`QUEUE`] notices;
//!   each sink's pending batch holds [`MAX_PENDING`]; beyond that, notices are counted
//!   (the digest says how many were left out) rather than kept. A failed delivery keeps
//!   its batch and retries with backoff until it succeeds or [`Retry::give_up_after`]
//!   passes; new notices keep joining the batch meanwhile.
//! - **The clock is read here.** This is an adapter (it does I/O on its own thread); the
//!   notices carry their own times as seconds since the epoch.
//!
//! ```no_run
//! use std::time::Duration;
//! use rampart_notify::{Notice, Notifier, NotifyConfig, WebhookConfig};
//!
//! let config = NotifyConfig {
//!     webhook: Some(WebhookConfig::new("http://127.0.0.1:9000/hook".parse().unwrap())),
//!     ..NotifyConfig::default()
//! };
//! let notifier = Notifier::start(config, |event| eprintln!("{event}")).unwrap();
//! notifier.notify(Notice {
//!     target: "198.51.100.7/32".parse().unwrap(),
//!     reason: "sshd: 5 failures in 600 s".into(),
//!     evidence: vec!["Failed password for root from 198.51.100.7 port 4711 ssh2".into()],
//!     start: 1_796_000_000,
//!     until: Some(1_796_000_600),
//!     origin: "detector".into(),
//! });
//! notifier.shutdown(Duration::from_secs(10));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod digest;
mod http;
mod notifier;
mod smtp;
mod tls;

pub use config::{
    ConfigError, Credentials, NotifyConfig, Retry, Security, SmtpConfig, Url, WebhookConfig,
};
pub use digest::Notice;
pub use http::HttpError;
pub use notifier::{Event, Notifier, NotifyStats, Sink, MAX_PENDING, QUEUE};
pub use smtp::SmtpError;

/// Why one delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The mail server refused or the connection failed.
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    /// The webhook endpoint refused or the connection failed.
    #[error(transparent)]
    Http(#[from] HttpError),
}
