//! The syslog prefix in front of a daemon's message in a log file.
//!
//! Recognised, as rsyslog and journalctl write them:
//!
//! ```text
//! Dec  6 18:00:00 host sshd[1234]: MESSAGE                      (RFC 3164, rsyslog's classic)
//! Dec 06 18:00:00 host sshd[1234]: MESSAGE                      (journalctl -o short)
//! 2026-12-06T18:00:00.123456+00:00 host sshd[1234]: MESSAGE     (rsyslog's RFC 3339 format)
//! ```
//!
//! A line without one of these prefixes is a bare message (journal MESSAGE, `sshd -E
//! FILE`, nginx and Apache logs).

/// A syslog line split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syslog<'a> {
    /// The host field.
    pub host: &'a [u8],
    /// The tag's program name (`sshd`).
    pub program: &'a [u8],
    /// The tag's process id, if it has one.
    pub pid: Option<u32>,
    /// The message after `: `.
    pub message: &'a [u8],
}

/// The longest tag (program[pid]) looked for; real ones are short.
const MAX_TAG: usize = 64;

/// Splits `line` into prefix and message, if it has a syslog prefix.
pub fn split(line: &[u8]) -> Option<Syslog<'_>> {
    let rest = timestamp(line)?;
    let sp = memchr::memchr(b' ', rest)?;
    let (host, rest) = (&rest[..sp], &rest[sp + 1..]);
    let colon = memchr::memmem::find(&rest[..rest.len().min(MAX_TAG + 2)], b": ")?;
    let (tag, message) = (&rest[..colon], &rest[colon + 2..]);
    if tag.is_empty() || tag.contains(&b' ') {
        return None;
    }
    let (program, pid) = match tag.strip_suffix(b"]") {
        Some(t) => {
            let open = memchr::memrchr(b'[', t)?;
            let pid = std::str::from_utf8(&t[open + 1..]).ok()?.parse().ok()?;
            (&t[..open], Some(pid))
        }
        None => (tag, None),
    };
    Some(Syslog {
        host,
        program,
        pid,
        message,
    })
}

/// The rest of `line` after a timestamp and one space.
fn timestamp(line: &[u8]) -> Option<&[u8]> {
    let first = *line.first()?;
    if first.is_ascii_digit() {
        // RFC 3339: 2026-12-06T18:00:00[.frac](Z|+hh:mm)
        let sp = memchr::memchr(b' ', &line[..line.len().min(40)])?;
        let ts = &line[..sp];
        let ok = ts.len() >= 20
            && ts[4] == b'-'
            && ts[7] == b'-'
            && ts[10] == b'T'
            && ts[13] == b':'
            && ts[16] == b':';
        return ok.then(|| &line[sp + 1..]);
    }
    // RFC 3164: Mmm dd hh:mm:ss (day space-padded or zero-padded)
    if line.len() < 16 || !line[..3].iter().all(u8::is_ascii_alphabetic) || line[3] != b' ' {
        return None;
    }
    let day = &line[4..6];
    let day_ok = (day[0] == b' ' || day[0].is_ascii_digit()) && day[1].is_ascii_digit();
    let t = &line[7..15];
    let time_ok = line[6] == b' '
        && t[2] == b':'
        && t[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| t[i].is_ascii_digit());
    (day_ok && time_ok && line[15] == b' ').then(|| &line[16..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let s = split(b"Dec  6 18:00:00 web1 sshd[1234]: Invalid user x from 192.0.2.1 port 2")
            .unwrap();
        assert_eq!(s.host, b"web1");
        assert_eq!(s.program, b"sshd");
        assert_eq!(s.pid, Some(1234));
        assert_eq!(s.message, b"Invalid user x from 192.0.2.1 port 2");
        let s = split(b"2026-12-06T18:00:00.123456+00:00 web1 sshd-session[9]: m").unwrap();
        assert_eq!(s.program, b"sshd-session");
        assert_eq!(s.message, b"m");
        let s = split(b"Dec 06 18:00:00 web1 kernel: x").unwrap();
        assert_eq!((s.program, s.pid), (&b"kernel"[..], None));
        assert_eq!(split(b"Invalid user x from 192.0.2.1 port 2"), None);
        assert_eq!(
            split(b"Failed password for root from 192.0.2.1 port 2 ssh2"),
            None
        );
        assert_eq!(split(b"2026/12/06 18:00:00 [error] 1#1: x"), None);
    }
}
