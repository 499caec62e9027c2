//! Byte-scanning helpers shared by the parsers: no regex, no backtracking; every helper
//! is linear in its input and looks at bounded spans.

use std::net::IpAddr;

use crate::Origin;

/// The longest text taken as an address or host name (a host name is at most 253 bytes;
/// an IPv6 address with a zone fits easily).
const MAX_HOST: usize = 255;

/// The last index of `needle` in `hay`.
#[inline]
pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::rfind(hay, needle)
}

/// The first index of `needle` in `hay`.
#[inline]
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// A decimal number of at most 5 digits that fits in u16.
#[inline]
pub fn port(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter()
        .try_fold(0u32, |n, d| Some(n * 10 + u32::from(d - b'0')))
        .and_then(|n| u16::try_from(n).ok())
}

/// An IP address (an IPv6 zone `%eth0` dropped; IPv4-mapped IPv6 as IPv4).
#[inline]
pub fn addr(s: &[u8]) -> Option<IpAddr> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let s = match memchr::memchr(b'%', s) {
        Some(i) => &s[..i],
        None => s,
    };
    let a: IpAddr = std::str::from_utf8(s).ok()?.parse().ok()?;
    Some(a.to_canonical())
}

/// An address, else a syntactically valid host name (letters, digits, `-`, `.`; at least
/// one letter), else nothing.
pub fn origin(s: &[u8]) -> Option<Origin<'_>> {
    if let Some(a) = addr(s) {
        return Some(Origin::Addr(a));
    }
    if s.is_empty() || s.len() > MAX_HOST {
        return None;
    }
    let ok = s
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.' || *c == b'_')
        && s.iter().any(u8::is_ascii_alphabetic)
        && s[0] != b'.'
        && s[0] != b'-';
    // ASCII checked above.
    ok.then(|| Origin::Name(std::str::from_utf8(s).unwrap_or_default()))
}

/// Splits off the last space-separated token: (`rest`, `token`).
#[inline]
pub fn last_token(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = memchr::memrchr(b' ', s)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Escapes a line (or part of one) for display: printable ASCII as is (and `\\` doubled),
/// everything else as `\xHH` (bytes) or `\n`, `\t`, `\r`; at most `max` input bytes, then
/// `…`. Attacker-chosen text (user names, URLs) never reaches a terminal raw.
pub fn escape(s: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 8);
    for &b in s.iter().take(max) {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if s.len() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_ports_names() {
        assert_eq!(addr(b"192.0.2.1"), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(
            addr(b"::ffff:192.0.2.1"),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(addr(b"fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(addr(b"192.0.2"), None);
        assert_eq!(port(b"65535"), Some(65535));
        assert_eq!(port(b"65536"), None);
        assert_eq!(port(b""), None);
        assert_eq!(
            origin(b"host.example.com"),
            Some(Origin::Name("host.example.com"))
        );
        assert_eq!(origin(b"1234"), None);
        assert_eq!(origin(b"a b"), None);
        assert_eq!(escape(b"a\x1b[31m\\\xff", 80), "a\\x1b[31m\\\\\\xff");
        assert_eq!(escape(b"abcdef", 3), "abc…");
    }
}
