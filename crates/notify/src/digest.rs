//! Notices and what they become: the digest mail's text and the webhook's JSON.

use std::fmt::Write as _;

use rampart_prefix::Prefix;
use serde::Serialize;

/// Evidence lines shown per notice; the rest are counted. Bans are explained in full by
/// `rampart bans explain`; the mail only has to say enough to judge.
const MAX_EVIDENCE: usize = 5;

/// Characters kept of each reason or evidence line (log lines are client-controlled).
const MAX_LINE: usize = 200;

/// One ban told to the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The banned address (a host prefix, shown without its length) or network.
    pub target: Prefix,
    /// Why, in a few words: the detector and the threshold crossed.
    pub reason: String,
    /// A few lines of evidence: counts, the first and last log lines or sockets.
    pub evidence: Vec<String>,
    /// When the ban started, seconds since the epoch.
    pub start: u64,
    /// When it ends, seconds since the epoch (`None`: until lifted).
    pub until: Option<u64>,
    /// Who decided: `detector`, `kernel`, `manual`.
    pub origin: String,
}

/// The target as people write it: an address alone, a network with its length.
fn target_text(p: &Prefix) -> String {
    if p.is_host() {
        p.addr().to_string()
    } else {
        p.to_string()
    }
}

/// Printable ASCII only, at most [`MAX_LINE`] characters: evidence comes from logs a
/// client writes into, and must neither break the mail's lines nor need 8BITMIME.
fn clean(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == MAX_LINE {
            out.push_str("...");
            break;
        }
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// `2026-12-06 18:40:41 UTC`.
pub(crate) fn utc(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

/// `Sun, 06 Dec 2026 18:40:41 +0000` (RFC 5322 `Date:`).
pub(crate) fn rfc5322(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss) = civil(secs);
    let wd = DAYS[((secs / 86_400) % 7) as usize];
    format!(
        "{wd}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} +0000",
        MONTHS[m as usize - 1]
    )
}

/// Seconds since the epoch → (year, month, day, hour, minute, second), proleptic
/// Gregorian (Howard Hinnant's `civil_from_days`).
fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The digest's subject and plain-text body for a batch.
pub(crate) fn mail_text(
    host: &str,
    subject: &str,
    notices: &[Notice],
    left_out: u64,
) -> (String, String) {
    let total = notices.len() as u64 + left_out;
    let subject = format!(
        "{}: {total} ban{} on {}",
        clean(subject),
        if total == 1 { "" } else { "s" },
        clean(host)
    );
    let mut body = String::new();
    let first = notices.iter().map(|n| n.start).min().unwrap_or(0);
    let last = notices.iter().map(|n| n.start).max().unwrap_or(0);
    let _ = writeln!(
        body,
        "rampart guard on {}: {total} ban{} between {} and {}.\n",
        clean(host),
        if total == 1 { "" } else { "s" },
        utc(first),
        utc(last)
    );
    for n in notices {
        let until = match n.until {
            Some(u) => format!("until {} ({} s)", utc(u), u.saturating_sub(n.start)),
            None => "until lifted".to_owned(),
        };
        let _ = writeln!(
            body,
            "{}  banned {}  {until}  by {}",
            target_text(&n.target),
            utc(n.start),
            clean(&n.origin)
        );
        let _ = writeln!(body, "    {}", clean(&n.reason));
        for e in n.evidence.iter().take(MAX_EVIDENCE) {
            let _ = writeln!(body, "    | {}", clean(e));
        }
        if n.evidence.len() > MAX_EVIDENCE {
            let _ = writeln!(
                body,
                "    | ({} more lines)",
                n.evidence.len() - MAX_EVIDENCE
            );
        }
        body.push('\n');
    }
    if left_out > 0 {
        let _ = writeln!(
            body,
            "{left_out} further ban{} left out of this mail (batch limit {}).",
            if left_out == 1 { "" } else { "s" },
            crate::MAX_PENDING
        );
    }
    body.push_str("Every ban, its evidence and its expiry: `rampart bans list`, `rampart bans explain ADDR`.\n");
    (subject, body)
}

#[derive(Serialize)]
struct JsonNotice<'a> {
    target: String,
    reason: &'a str,
    evidence: &'a [String],
    start: u64,
    until: Option<u64>,
    origin: &'a str,
}

#[derive(Serialize)]
struct JsonBatch<'a> {
    host: &'a str,
    sent: u64,
    notices: Vec<JsonNotice<'a>>,
    left_out: u64,
}

/// The webhook's body:
/// `{"host", "sent", "notices": [{"target", "reason", "evidence", "start", "until", "origin"}], "left_out"}`.
pub(crate) fn json(host: &str, sent: u64, notices: &[Notice], left_out: u64) -> String {
    let batch = JsonBatch {
        host,
        sent,
        notices: notices
            .iter()
            .map(|n| JsonNotice {
                target: target_text(&n.target),
                reason: &n.reason,
                evidence: &n.evidence,
                start: n.start,
                until: n.until,
                origin: &n.origin,
            })
            .collect(),
        left_out,
    };
    serde_json::to_string(&batch).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(t: &str) -> Notice {
        Notice {
            target: t.parse().unwrap(),
            reason: "connections: 151 > 150".into(),
            evidence: (0..7).map(|i| format!("line {i}\x1b[31m é")).collect(),
            start: 1_796_582_441,
            until: Some(1_796_583_041),
            origin: "detector".into(),
        }
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(rfc5322(1_796_582_441), "Sun, 06 Dec 2026 18:40:41 +0000");
    }

    #[test]
    fn mail_is_ascii_and_bounded() {
        let (subject, body) = mail_text(
            "web1",
            "rampart guard",
            &[notice("198.51.100.7/32"), notice("203.0.113.0/24")],
            3,
        );
        assert_eq!(subject, "rampart guard: 5 bans on web1");
        assert!(body.is_ascii());
        assert!(body.contains("198.51.100.7  banned 2026-12-06 18:40:41 UTC  until 2026-12-06 18:50:41 UTC (600 s)  by detector\n"));
        assert!(body.contains("203.0.113.0/24  banned"));
        assert!(body.contains("    | line 0\\u{1b}[31m \\u{e9}\n"));
        assert!(body.contains("(2 more lines)"));
        assert!(body.contains("3 further bans left out"));
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&json("web1", 5, &[notice("198.51.100.7/32")], 0)).unwrap();
        assert_eq!(v["notices"][0]["target"], "198.51.100.7");
        assert_eq!(v["notices"][0]["until"], 1_796_583_041);
        assert_eq!(v["notices"][0]["evidence"].as_array().unwrap().len(), 7);
    }
}
