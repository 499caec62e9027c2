//! RFC 4226 HOTP and RFC 6238 TOTP (HMAC-SHA1, the algorithm every authenticator app
//! supports), and the `otpauth://` URI apps read from a QR code.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Bytes in a generated key: 160 bits, the HMAC-SHA1 block RFC 4226 recommends.
pub const KEY_LEN: usize = 20;
/// Steps either side of now that are accepted (clock drift of up to one period).
pub const SKEW: u64 = 1;

/// The HOTP value for `counter` (RFC 4226 §5.3), as a number below 10^digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    bin % 10u32.pow(digits)
}

/// The TOTP code at Unix time `now`, zero-padded to `digits`.
pub fn code(key: &[u8], now: u64, period: u64, digits: u32) -> String {
    format!(
        "{:0width$}",
        hotp(key, now / period, digits),
        width = digits as usize
    )
}

/// The step within [`SKEW`] of `now` whose code is `given` and which is later than
/// `last_step` (a code is accepted once). Every candidate is compared in constant time.
pub fn verify(
    key: &[u8],
    given: &str,
    now: u64,
    period: u64,
    digits: u32,
    last_step: u64,
) -> Option<u64> {
    let now_step = now / period;
    let mut found = None;
    for step in now_step.saturating_sub(SKEW)..=now_step.saturating_add(SKEW) {
        let want = format!(
            "{:0width$}",
            hotp(key, step, digits),
            width = digits as usize
        );
        let same: bool = want.as_bytes().ct_eq(given.as_bytes()).into();
        if same && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The key in base32 without padding, as apps want it typed.
pub fn key_base32(key: &[u8]) -> String {
    BASE32_NOPAD.encode(key)
}

/// The `otpauth://totp/ISSUER:ACCOUNT?...` URI (Google Authenticator's key URI format).
pub fn uri(key: &[u8], issuer: &str, account: &str, digits: u32, period: u64) -> String {
    format!(
        "otpauth://totp/{i}:{a}?secret={k}&issuer={i}&algorithm=SHA1&digits={digits}&period={period}",
        i = pct(issuer),
        a = pct(account),
        k = key_base32(key)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d() {
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(hotp(KEY, c as u64, 6), *w);
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        for (t, want) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code(KEY, t, 30, 8), want, "T={t}");
        }
    }

    #[test]
    fn verify_accepts_skew_and_rejects_replays() {
        let now = 1_111_111_111;
        let step = now / 30;
        let c = code(KEY, now, 30, 6);
        assert_eq!(verify(KEY, &c, now, 30, 6, 0), Some(step));
        assert_eq!(verify(KEY, &c, now + 30, 30, 6, 0), Some(step));
        assert_eq!(verify(KEY, &c, now - 30, 30, 6, 0), Some(step));
        assert_eq!(verify(KEY, &c, now + 60, 30, 6, 0), None);
        assert_eq!(verify(KEY, &c, now, 30, 6, step), None, "replay");
        assert_eq!(verify(KEY, "000000", now, 30, 6, 0), None);
        assert_eq!(verify(KEY, &c[..5], now, 30, 6, 0), None);
    }

    #[test]
    fn uri_is_what_apps_read() {
        assert_eq!(
            uri(KEY, "rampart", "alice@web 1", 6, 30),
            "otpauth://totp/rampart:alice%40web%201?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=rampart&algorithm=SHA1&digits=6&period=30"
        );
    }
}
