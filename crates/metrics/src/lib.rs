//! Metrics for the guard: a small registry of counters, gauges and histograms with labels,
//! rendered in the Prometheus text format (0.0.4) and served at `GET /metrics`.
//!
//! Central types: [`Registry`] (the families, cheap to clone and share between threads),
//! the families [`Counter`], [`Gauge`] and [`Histogram`] (one metric name, its help and
//! label names) whose `with(&[label values])` gives a series ([`CounterSeries`],
//! [`GaugeSeries`], [`HistogramSeries`]: atomics, no lock on the hot path), and
//! [`MetricsServer`] (a std `TcpListener` thread answering scrapes). [`parse`] reads an
//! exposition back into [`Sample`]s (tests, the lab), [`scrape`] fetches one.
//!
//! ```text
//!  daemon threads ── series.inc()/set()/observe() (atomics) ──▶ Registry
//!                                                                  │ render()
//!  Prometheus ── GET /metrics ──▶ MetricsServer (one thread) ◀─────┘
//! ```
//!
//! Decisions:
//! - **No dependency.** The format is a dozen lines of text rules; a client crate would
//!   bring a runtime and a larger MSRV for nothing the guard needs.
//! - **Bounded.** A family holds at most [`MAX_SERIES`] label sets (labels may come from
//!   observed data: a reason, a detector); further label sets share one series that is not
//!   exported, so hostile input cannot grow memory. Requests are bounded in size and time
//!   (see [`MetricsServer`]).
//! - **Programming errors panic.** A bad metric name, or a label count that differs from
//!   the family's, is a bug in the caller, found by its first test run.
//!
//! ```
//! use rampart_metrics::{parse, Registry};
//!
//! let registry = Registry::new();
//! let bans = registry.counter("rampart_bans_total", "Bans decided.", &["reason"]);
//! bans.with(&["sshd"]).inc();
//! let latency = registry.histogram("rampart_detect_seconds", "Detection latency.", &[], &[0.1, 1.0]);
//! latency.observe(0.25);
//! let text = registry.render();
//! let scrape = parse(&text).unwrap();
//! assert_eq!(scrape.value("rampart_bans_total", &[("reason", "sshd")]), Some(1.0));
//! assert_eq!(scrape.value("rampart_detect_seconds_bucket", &[("le", "1")]), Some(1.0));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod registry;
mod server;
mod text;

pub use registry::{
    Counter, CounterSeries, Gauge, GaugeSeries, Histogram, HistogramSeries, MetricKind, Registry,
    MAX_SERIES,
};
pub use server::{scrape, MetricsServer, ScrapeError, MAX_REQUEST};
pub use text::{parse, ParseError, Sample, Scrape, MAX_EXPOSITION};
