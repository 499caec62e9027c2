//! sshd's log lines (OpenSSH 8 and 9, and the PAM modules that log inside sshd).
//!
//! # Forms recognised, and where they come from
//!
//! The format strings are OpenSSH's (`strings /usr/sbin/sshd` of Debian 12's OpenSSH 9.2
//! shows each of them; sources: `auth.c` auth_log(), getpwnamallow(), allowed_user(),
//! auth_maxtries_exceeded(); `packet.c` sshpkt_fmt_connection_id() and sshpkt_vfatal();
//! `sshd.c` grace_alarm_handler(); `kex.c` kex_exchange_identification(); `auth-pam.c`
//! sshpam_query()), pam_unix's `authentication failure;` line, and rampart's own OTP
//! module (`crates/pam/src/lib.rs`).
//!
//! | line (after the syslog prefix) | kind |
//! |---|---|
//! | `Failed password for [invalid user ]U from A port P ssh2` | failed-password |
//! | `Failed publickey for U from A port P ssh2: ALG SHA256:…` | failed-publickey |
//! | `Failed keyboard-interactive/pam for U from A port P ssh2` | failed-keyboard-interactive |
//! | `Failed none for invalid user U from A port P ssh2` | failed-other |
//! | `Invalid user U from A port P` | invalid-user |
//! | `User U from A not allowed because …` (AllowUsers, DenyUsers, groups) | not-allowed |
//! | `ROOT LOGIN REFUSED FROM A port P` | root-refused |
//! | `error: maximum authentication attempts exceeded for [invalid user ]U from A port P ssh2` | max-auth-tries |
//! | `error: PAM: Authentication failure for [illegal user ]U from HOST` | pam-failure |
//! | `pam_unix(sshd:auth): authentication failure; … rhost=HOST  user=U` | pam-failure |
//! | `pam_rampart_otp: U: one-time password refused` | otp-refused (no address) |
//! | `pam_rampart_otp: U: throttled after repeated failures, N s left` | otp-throttled (no address) |
//! | `Connection closed by [authenticating user U \| invalid user U] A port P [preauth]` | closed-preauth |
//! | `Connection reset by … A port P [preauth]` | reset-preauth |
//! | `Disconnected from [authenticating user U \| invalid user U] A port P [preauth]` | disconnected-preauth |
//! | `Received disconnect from A port P:N: TEXT [preauth]` | disconnected-preauth |
//! | `fatal: Timeout before authentication for A port P` | auth-timeout |
//! | `Did not receive identification string from A [port P]` | no-banner |
//! | `banner exchange: Connection from A port P: invalid format` | no-banner |
//! | `Bad protocol version identification '…' from A port P` | no-banner |
//! | `Unable to negotiate with A port P: no matching … found. Their offer: …` | negotiation-failed |
//!
//! Not counted (no double counting of one attempt): `Disconnecting …: Too many
//! authentication failures` (always follows `maximum authentication attempts exceeded`),
//! `PAM N more authentication failures` (a summary), and everything after a successful
//! login (no `[preauth]`).
//!
//! # The address is never taken from what the client chose
//!
//! The user name (up to 100 bytes, any bytes but control characters, which sshd escapes)
//! is the client's; so is the text of a `Received disconnect` and the offer of a failed
//! negotiation. Each form is therefore anchored on the part sshd writes itself: forms
//! whose variable text is on the left (`Invalid user U from A port P`) are parsed from
//! the right end, forms whose variable text is on the right (`Received disconnect from
//! A port P:N: TEXT`) from the left. `Invalid user x from 192.0.2.1 port 22 from
//! 198.51.100.9 port 4` is 198.51.100.9. The one form with client text on both sides (a
//! failed certificate, whose key ID is the client's) is taken only if exactly one address
//! fits; otherwise it is not understood, never a guess.

use crate::scan::{self, find, last_token, rfind};
use crate::{syslog, Event, EventKind, Origin, Parsed};

/// Parses one line of an sshd log: a syslog line (only the programs `sshd`,
/// `sshd-session` and `sshd-auth` are looked at) or a bare message (journal MESSAGE,
/// `sshd -E FILE`).
pub fn parse(line: &[u8]) -> Parsed<'_> {
    match syslog::split(line) {
        Some(s) => {
            if matches!(s.program, b"sshd" | b"sshd-session" | b"sshd-auth") {
                message(s.message)
            } else {
                Parsed::NotEvent
            }
        }
        None => message(line),
    }
}

/// Parses sshd's message (the text after the syslog prefix).
pub fn message(msg: &[u8]) -> Parsed<'_> {
    let mut msg = msg;
    while let [rest @ .., b'\r' | b'\n' | b' '] = msg {
        msg = rest;
    }
    let (msg, preauth) = match msg.strip_suffix(b" [preauth]") {
        Some(m) => (m, true),
        None => (msg, false),
    };
    let msg = msg
        .strip_prefix(b"error: ")
        .or_else(|| msg.strip_prefix(b"fatal: "))
        .unwrap_or(msg);
    let Some(&first) = msg.first() else {
        return Parsed::NotEvent;
    };
    match first {
        b'F' => {
            if let Some(r) = msg.strip_prefix(b"Failed ") {
                return failed(r);
            }
        }
        b'I' => {
            if let Some(r) = msg
                .strip_prefix(b"Invalid user ")
                .or_else(|| msg.strip_prefix(b"Illegal user "))
            {
                return user_from(EventKind::InvalidUser, r);
            }
        }
        b'U' => {
            if let Some(r) = msg.strip_prefix(b"User ") {
                return not_allowed(r);
            }
            if let Some(r) = msg.strip_prefix(b"Unable to negotiate with ") {
                return left_anchored(EventKind::NegotiationFailed, r, b":");
            }
        }
        b'R' => {
            if let Some(r) = msg.strip_prefix(b"ROOT LOGIN REFUSED FROM ") {
                return match addr_port(r) {
                    Some((origin, port)) => event(EventKind::RootRefused, origin, None, port),
                    None => Parsed::NotUnderstood("ROOT LOGIN REFUSED without address"),
                };
            }
            if let Some(r) = msg.strip_prefix(b"Received disconnect from ") {
                if !preauth {
                    return Parsed::NotEvent;
                }
                return left_anchored(EventKind::DisconnectedPreauth, r, b":");
            }
        }
        b'm' => {
            if let Some(r) = msg.strip_prefix(b"maximum authentication attempts exceeded for ") {
                let r = r.strip_suffix(b" ssh2").unwrap_or(r);
                let r = r.strip_prefix(b"invalid user ").unwrap_or(r);
                return user_from(EventKind::MaxAuthTries, r);
            }
        }
        b'C' => {
            if let Some(r) = msg.strip_prefix(b"Connection closed by ") {
                return connection_id(EventKind::ClosedPreauth, r, preauth);
            }
            if let Some(r) = msg.strip_prefix(b"Connection reset by ") {
                return connection_id(EventKind::ResetPreauth, r, preauth);
            }
        }
        b'D' => {
            if let Some(r) = msg.strip_prefix(b"Disconnected from ") {
                return connection_id(EventKind::DisconnectedPreauth, r, preauth);
            }
            if let Some(r) = msg.strip_prefix(b"Did not receive identification string from ") {
                return match addr_port(r) {
                    Some((o, p)) => event(EventKind::NoBanner, o, None, p),
                    None => Parsed::NotUnderstood("no identification string: no address"),
                };
            }
        }
        b'T' => {
            if let Some(r) = msg.strip_prefix(b"Timeout before authentication for ") {
                return match addr_port(r) {
                    Some((o, p)) => event(EventKind::AuthTimeout, o, None, p),
                    None => Parsed::NotUnderstood("authentication timeout: no address"),
                };
            }
        }
        b'b' => {
            if let Some(r) = msg.strip_prefix(b"banner exchange: Connection from ") {
                return left_anchored(EventKind::NoBanner, r, b":");
            }
        }
        b'B' => {
            if let Some(r) = msg.strip_prefix(b"Bad protocol version identification '") {
                return match rfind(r, b"' from ") {
                    Some(i) => match addr_port(&r[i + 7..]) {
                        Some((o, p)) => event(EventKind::NoBanner, o, None, p),
                        None => Parsed::NotUnderstood("bad protocol version: no address"),
                    },
                    None => Parsed::NotUnderstood("bad protocol version: no address"),
                };
            }
        }
        b'P' => {
            if let Some(r) = msg.strip_prefix(b"PAM: ") {
                return pam_error(r);
            }
        }
        b'p' => {
            if let Some(r) = msg.strip_prefix(b"pam_rampart_otp: ") {
                return otp(r);
            }
            if msg.starts_with(b"pam_") {
                return pam_module(msg);
            }
        }
        _ => {}
    }
    Parsed::NotEvent
}

fn event<'a>(
    kind: EventKind,
    origin: Origin<'a>,
    user: Option<&'a [u8]>,
    port: Option<u16>,
) -> Parsed<'a> {
    Parsed::Event(Event {
        kind,
        origin,
        user,
        port,
        status: None,
    })
}

/// `A port P` or `A` (the whole of `s`).
fn addr_port(s: &[u8]) -> Option<(Origin<'_>, Option<u16>)> {
    if let Some(i) = rfind(s, b" port ") {
        if let Some(p) = scan::port(&s[i + 6..]) {
            return scan::origin(&s[..i]).map(|o| (o, Some(p)));
        }
    }
    scan::origin(s).map(|o| (o, None))
}

/// `… from A port P` at the very end of `s`: (`…`, origin, port).
fn from_suffix(s: &[u8]) -> Option<(&[u8], Origin<'_>, Option<u16>)> {
    let (before, port) = match rfind(s, b" port ") {
        Some(i) if scan::port(&s[i + 6..]).is_some() => (&s[..i], scan::port(&s[i + 6..])),
        _ => (s, None),
    };
    let i = rfind(before, b" from ")?;
    let origin = scan::origin(&before[i + 6..])?;
    Some((&before[..i], origin, port))
}

/// `U from A port P`, anchored on the right.
fn user_from(kind: EventKind, s: &[u8]) -> Parsed<'_> {
    match from_suffix(s) {
        Some((user, origin, port)) => event(kind, origin, Some(user), port),
        None => Parsed::NotUnderstood("no `from ADDRESS port N` at the end"),
    }
}

/// `Failed METHOD for [invalid user ]U from A port P ssh2[: KEY INFO]`.
fn failed(s: &[u8]) -> Parsed<'_> {
    let Some(sp) = memchr::memchr(b' ', s) else {
        return Parsed::NotUnderstood("Failed without method");
    };
    let kind = match &s[..sp] {
        b"password" => EventKind::FailedPassword,
        b"publickey" => EventKind::FailedPublickey,
        b"keyboard-interactive/pam" | b"keyboard-interactive" => {
            EventKind::FailedKeyboardInteractive
        }
        _ => EventKind::FailedOther,
    };
    let Some(rest) = s[sp..].strip_prefix(b" for ") else {
        return Parsed::NotUnderstood("Failed METHOD without `for`");
    };
    let rest = rest.strip_prefix(b"invalid user ").unwrap_or(rest);
    if let Some(body) = rest.strip_suffix(b" ssh2") {
        return user_from(kind, body);
    }
    // A key description follows: `ALG SHA256:…` for a plain key (nothing the client
    // chose), longer for a certificate (whose key ID is the client's).
    if let Some(i) = rfind(rest, b" ssh2: ") {
        let info = &rest[i + 7..];
        if memchr::memchr_iter(b' ', info).count() <= 1 && find(info, b" from ").is_none() {
            return user_from(kind, &rest[..i]);
        }
    }
    // Client text on both sides: take the address only if exactly one fits.
    let mut found: Option<(&[u8], Origin<'_>, Option<u16>)> = None;
    for i in memchr::memmem::find_iter(rest, b" ssh2: ") {
        if let Some(c) = from_suffix(&rest[..i]) {
            match found {
                Some(f) if f.1 != c.1 => {
                    return Parsed::NotUnderstood("ambiguous address (client text on both sides)")
                }
                Some(_) => {}
                None => found = Some(c),
            }
        }
    }
    match found {
        Some((user, origin, port)) => event(kind, origin, Some(user), port),
        None => Parsed::NotUnderstood("Failed line without `from ADDRESS port N ssh2`"),
    }
}

/// `U from A not allowed because REASON` (a reason sshd writes), or `U not allowed
/// because …` (no address).
fn not_allowed(s: &[u8]) -> Parsed<'_> {
    const REASONS: [&[u8]; 5] = [
        b"not listed in AllowUsers",
        b"listed in DenyUsers",
        b"not in any group",
        b"a group is listed in DenyGroups",
        b"none of user's groups are listed in AllowGroups",
    ];
    let Some(i) = rfind(s, b" not allowed because ") else {
        return Parsed::NotEvent;
    };
    let reason = &s[i + 21..];
    if !REASONS.contains(&reason) {
        // `User U not allowed because shell … does not exist` / `account is locked`: the
        // user exists, no address is logged on this line.
        return Parsed::NotEvent;
    }
    match from_suffix(&s[..i]) {
        Some((user, origin, _)) => event(EventKind::NotAllowed, origin, Some(user), None),
        None => Parsed::NotUnderstood("not allowed: no `from ADDRESS`"),
    }
}

/// sshpkt_fmt_connection_id(): `[authenticating user U |invalid user U |user U ]A port P`,
/// anchored on the right; an event only before authentication (`[preauth]`).
fn connection_id(kind: EventKind, s: &[u8], preauth: bool) -> Parsed<'_> {
    if !preauth {
        return Parsed::NotEvent;
    }
    let Some(i) = rfind(s, b" port ") else {
        return Parsed::NotUnderstood("connection id without port");
    };
    let Some(port) = scan::port(&s[i + 6..]) else {
        return Parsed::NotUnderstood("connection id without port");
    };
    let (user, host) = match last_token(&s[..i]) {
        Some((who, host)) => {
            let user = who
                .strip_prefix(b"authenticating user ")
                .or_else(|| who.strip_prefix(b"invalid user "))
                .or_else(|| who.strip_prefix(b"user "));
            if user.is_none() {
                return Parsed::NotUnderstood("connection id: unknown form");
            }
            (user, host)
        }
        None => (None, &s[..i]),
    };
    match scan::origin(host) {
        Some(origin) => event(kind, origin, user, Some(port)),
        None => Parsed::NotUnderstood("connection id: not an address"),
    }
}

/// `A port P<sep>…` where the client's text follows: anchored on the left.
fn left_anchored<'a>(kind: EventKind, s: &'a [u8], sep: &[u8]) -> Parsed<'a> {
    let Some(sp) = memchr::memchr(b' ', s) else {
        return Parsed::NotUnderstood("no address");
    };
    let Some(origin) = scan::origin(&s[..sp]) else {
        return Parsed::NotUnderstood("not an address");
    };
    let port = s[sp..].strip_prefix(b" port ").and_then(|r| {
        let end = find(r, sep).unwrap_or(r.len());
        scan::port(&r[..end])
    });
    event(kind, origin, None, port)
}

/// `Authentication failure for [illegal user ]U from HOST` and the other PAM errors
/// sshd logs as `PAM: MESSAGE for U from HOST`.
fn pam_error(s: &[u8]) -> Parsed<'_> {
    const MESSAGES: [&[u8]; 3] = [
        b"Authentication failure for ",
        b"User not known to the underlying authentication module for ",
        b"Maximum number of tries exceeded for ",
    ];
    let Some(body) = MESSAGES.iter().find_map(|m| s.strip_prefix(*m)) else {
        return Parsed::NotEvent;
    };
    let Some(i) = rfind(body, b" from ") else {
        return Parsed::NotUnderstood("PAM failure without `from HOST`");
    };
    let user = &body[..i];
    let user = user.strip_prefix(b"illegal user ").unwrap_or(user);
    match scan::origin(&body[i + 6..]) {
        Some(origin) => event(EventKind::PamFailure, origin, Some(user), None),
        None => Parsed::NotUnderstood("PAM failure: not an address or host name"),
    }
}

/// `pam_X(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=
/// rhost=HOST  user=U` (user last, so the first `rhost=` is the module's).
fn pam_module(s: &[u8]) -> Parsed<'_> {
    let Some(i) = find(s, b"(sshd:auth): authentication failure;") else {
        return Parsed::NotEvent;
    };
    let fields = &s[i + 36..];
    let Some(r) = find(fields, b" rhost=") else {
        return Parsed::NotUnderstood("PAM authentication failure without rhost");
    };
    let value = &fields[r + 7..];
    let end = memchr::memchr(b' ', value).unwrap_or(value.len());
    let host = &value[..end];
    let user = find(&value[end..], b" user=").map(|u| &value[end + u + 6..]);
    match scan::origin(host) {
        Some(origin) => event(EventKind::PamFailure, origin, user, None),
        None if host.is_empty() => Parsed::NotEvent,
        None => Parsed::NotUnderstood("PAM rhost: not an address or host name"),
    }
}

/// rampart's OTP module (crates/pam): `U: one-time password refused`, `U: throttled after
/// repeated failures, N s left`. They name no address: sshd's own line for the same
/// attempt does.
fn otp(s: &[u8]) -> Parsed<'_> {
    if let Some(user) = s.strip_suffix(b": one-time password refused") {
        return event(EventKind::OtpRefused, Origin::Unknown, Some(user), None);
    }
    if let Some(i) = rfind(s, b": throttled after repeated failures, ") {
        return event(
            EventKind::OtpThrottled,
            Origin::Unknown,
            Some(&s[..i]),
            None,
        );
    }
    Parsed::NotEvent
}
