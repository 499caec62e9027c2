//! The systemd journal, read through `journalctl -o json` (Debian 12 has no auth.log
//! unless rsyslog is installed).
//!
//! [`Journal`] builds the `journalctl` command for a unit (from a saved cursor on, or
//! following), [`JournalEntry::parse`] reads one line of its output, and [`Cursor`] is the
//! position saved between runs. The entries' MESSAGE is given to a [`crate::Source`]'s
//! parser as a bare message; the caller runs the command and reads its output with a
//! [`crate::LineReader`] (bounded lines: journald caps a message at 48 KiB by default,
//! JSON escaping can triple that).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// Where journald listens: present when a journal is running on this machine.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The longest `journalctl -o json` line kept (see the module doc).
pub const MAX_JSON_LINE: usize = 256 * 1024;

/// Whether a journal is running here (its socket exists).
pub fn journal_running() -> bool {
    Path::new(JOURNAL_SOCKET).exists()
}

/// A journalctl invocation for one unit's entries.
#[derive(Debug, Clone)]
pub struct Journal {
    /// The systemd unit (`ssh.service`, `ssh`).
    pub unit: String,
    /// Continue after this entry.
    pub after: Option<Cursor>,
    /// Keep reading new entries (`-f`).
    pub follow: bool,
}

impl Journal {
    /// The command: `journalctl -u UNIT -o json --all --no-pager [--after-cursor C] [-f]`.
    /// `--all` keeps long and unprintable MESSAGE fields (else journalctl prints `null`).
    pub fn command(&self) -> Command {
        let mut c = Command::new("journalctl");
        c.args(["-u", &self.unit, "-o", "json", "--all", "--no-pager", "-q"]);
        if let Some(cur) = &self.after {
            c.arg(format!("--after-cursor={}", cur.0));
        }
        if self.follow {
            c.arg("-f");
        }
        c
    }
}

/// A journal cursor (the `__CURSOR` of the last entry read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub String);

impl Cursor {
    /// The cursor saved at `path`, if any.
    pub fn load(path: &Path) -> io::Result<Option<Cursor>> {
        match fs::read_to_string(path) {
            Ok(s) if !s.trim().is_empty() => Ok(Some(Cursor(s.trim().to_string()))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves the cursor atomically (a temporary file renamed over `path`).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let tmp: PathBuf = path.with_extension("tmp");
        fs::write(&tmp, format!("{}\n", self.0))?;
        fs::rename(&tmp, path)
    }
}

/// One journal entry, the fields the log parsers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Its cursor.
    pub cursor: Cursor,
    /// MESSAGE, as bytes (journalctl gives non-UTF-8 messages as arrays of bytes).
    pub message: Vec<u8>,
    /// SYSLOG_IDENTIFIER (`sshd`, `sshd-session`).
    pub identifier: Option<String>,
    /// _PID.
    pub pid: Option<u32>,
    /// __REALTIME_TIMESTAMP, microseconds since the epoch.
    pub realtime_us: Option<u64>,
}

/// A line of `journalctl -o json` output that is not an entry.
#[derive(Debug, thiserror::Error)]
#[error("not a journal entry: {0}")]
pub struct JournalError(String);

#[derive(Deserialize)]
#[serde(untagged)]
enum Field {
    Text(String),
    Bytes(Vec<u8>),
    Many(Vec<serde_json::Value>),
}

impl Field {
    fn bytes(self) -> Vec<u8> {
        match self {
            Field::Text(s) => s.into_bytes(),
            Field::Bytes(b) => b,
            // A field set more than once: the first value.
            Field::Many(v) => match v.into_iter().next() {
                Some(serde_json::Value::String(s)) => s.into_bytes(),
                _ => Vec::new(),
            },
        }
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "__CURSOR")]
    cursor: String,
    #[serde(rename = "MESSAGE")]
    message: Option<Field>,
    #[serde(rename = "SYSLOG_IDENTIFIER")]
    identifier: Option<String>,
    #[serde(rename = "_PID")]
    pid: Option<String>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<String>,
}

impl JournalEntry {
    /// Parses one line of `journalctl -o json`.
    pub fn parse(line: &[u8]) -> Result<JournalEntry, JournalError> {
        let raw: Raw = serde_json::from_slice(line).map_err(|e| JournalError(e.to_string()))?;
        Ok(JournalEntry {
            cursor: Cursor(raw.cursor),
            message: raw.message.map(Field::bytes).unwrap_or_default(),
            identifier: raw.identifier,
            pid: raw.pid.and_then(|p| p.parse().ok()),
            realtime_us: raw.realtime.and_then(|t| t.parse().ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        // Shape of `journalctl -o json` (systemd 252, Debian 12), fields trimmed.
        let e = JournalEntry::parse(
            br#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1765044000000000","_PID":"812","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"Invalid user x from 192.0.2.1 port 5"}"#,
        )
        .unwrap();
        assert_eq!(e.cursor, Cursor("s=1;i=2".into()));
        assert_eq!(e.pid, Some(812));
        assert_eq!(e.message, b"Invalid user x from 192.0.2.1 port 5");
        let e = JournalEntry::parse(br#"{"__CURSOR":"c","MESSAGE":[255,65]}"#).unwrap();
        assert_eq!(e.message, [255, 65]);
        assert!(JournalEntry::parse(b"{}").is_err());
        let j = Journal {
            unit: "ssh".into(),
            after: Some(Cursor("c".into())),
            follow: false,
        };
        let args: Vec<_> = j
            .command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--after-cursor=c".to_string()), "{args:?}");
    }
}
