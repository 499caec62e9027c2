//! The daemon's log: one line per event on standard error, `key=value` fields after a
//! sentence, with the syslog priority prefix (`<4>`) that journald reads when standard
//! error is the journal (`JOURNAL_STREAM` set), so `journalctl -p warning` works.

use std::io::Write;

use rampart_guard::Target;

use crate::daemon::{Event, Sink};

/// Writes events to standard error.
#[derive(Debug, Default)]
pub struct Log {
    journal: bool,
    /// Lines read and not understood since start.
    pub lines: (u64, u64),
    /// Bans made since start.
    pub bans: u64,
}

/// `Target` as text: `192.0.2.7` or `192.0.2.0/24`.
pub fn target_text(t: &Target) -> String {
    match t {
        Target::Addr(a) => a.to_string(),
        Target::Prefix(p) => p.to_string(),
    }
}

impl Log {
    /// To standard error; priority prefixes when it is the journal.
    pub fn new() -> Log {
        Log {
            journal: std::env::var_os("JOURNAL_STREAM").is_some(),
            ..Log::default()
        }
    }

    /// One line at syslog `priority` (3 error, 4 warning, 5 notice, 6 info).
    pub fn line(&self, priority: u8, text: &str) {
        line(self.journal, priority, text);
    }
}

/// One line on standard error, with the priority prefix when `journal`; for threads
/// that have no [`Log`] (the notifier's).
pub fn line(journal: bool, priority: u8, text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = if journal {
        writeln!(err, "<{priority}>{text}")
    } else {
        writeln!(err, "{text}")
    };
}

impl Sink for Log {
    fn event(&mut self, e: &Event) {
        match e {
            Event::Banned {
                decision: d,
                id,
                latency,
            } => {
                self.bans += 1;
                self.line(
                    5,
                    &format!(
                        "ban {} until {} ({}s): {} [detector={} origin={:?}{} offence={} count={} id={id} latency_ms={}]",
                        target_text(&d.target),
                        d.until,
                        d.until.saturating_sub(d.start),
                        d.reason.summary,
                        d.reason.detector,
                        d.origin,
                        d.fleet
                            .as_ref()
                            .map(|f| format!(" from={} fleet_id={}", f.server, f.id))
                            .unwrap_or_default(),
                        d.reason.offence,
                        d.evidence.count,
                        latency.as_millis()
                    ),
                );
            }
            Event::Refused { target, why } => {
                self.line(4, &format!("not banned {}: {why}", target_text(target)))
            }
            Event::Lifted { target, why } => {
                self.line(6, &format!("lifted {}: {why}", target_text(target)))
            }
            Event::Note(text) => self.line(6, text),
            Event::Trouble(t) => self.line(4, t),
        }
    }

    fn lines(&mut self, read: u64, not_understood: u64) {
        self.lines.0 += read;
        self.lines.1 += not_understood;
    }
}
