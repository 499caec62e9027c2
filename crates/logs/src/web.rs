//! nginx and Apache logs: access logs in the common and combined formats, and both
//! servers' error logs.
//!
//! # Access logs
//!
//! nginx's default `combined` format and Apache's `common`/`combined` are the same line
//! (nginx `log_format combined`, Apache `LogFormat "%h %l %u %t \"%r\" %>s %b"`):
//!
//! ```text
//! 192.0.2.1 - alice [06/Dec/2026:18:00:00 +0000] "GET /admin HTTP/1.1" 401 188 "-" "curl/7.88.1"
//! ```
//!
//! The address is the first field, which the server writes from the connection (or from
//! `real_ip`/`mod_remoteip`): nothing the client sends comes before it. The user (from
//! basic auth) and the request are the client's; nginx escapes `"` and `\` in them as
//! `\x22`, Apache as `\"`, so the request is read up to its first unescaped quote. A forged
//! time or request inside a user name can at worst change the status read for that line,
//! never the address.
//!
//! Every request is an event (`request`, for rates per source); statuses that point at
//! abuse have kinds of their own: 400, 401, 403, 404, 429 and nginx's 444.
//!
//! # Error logs
//!
//! nginx: `2026/12/06 18:00:00 [error] 1234#1234: *5 MESSAGE, client: A, server: S,
//! request: "…", host: "…"`. The message can hold client text (a basic-auth user name,
//! unescaped; a decoded path) and so can what follows the client field (request, host,
//! referrer). For `limiting requests`/`limiting connections` the message before the
//! client field is the server's own, and the first `, client: ` is taken; for the others,
//! the address is taken only if every `, client: A` in the line names the same address
//! (otherwise: not understood, never a guess).
//!
//! Apache 2.4: `[Sun Dec 06 18:00:00.123456 2026] [auth_basic:error] [pid 1:tid 2]
//! [client A:P] AH01618: user bob not found: /secret`; the bracketed fields before the
//! message are the server's, so `[client A:P]` among them is taken (Apache 2.2's `[client
//! A]` too).

use crate::scan::{self, find};
use crate::{Event, EventKind, Origin, Parsed};

fn web_event(kind: EventKind, origin: Origin<'_>, status: Option<u16>) -> Parsed<'_> {
    Parsed::Event(Event {
        kind,
        origin,
        user: None,
        port: None,
        status,
    })
}

/// The kind of a response status.
pub fn status_kind(status: u16) -> EventKind {
    match status {
        400 => EventKind::HttpBadRequest,
        401 => EventKind::HttpUnauthorized,
        403 => EventKind::HttpForbidden,
        404 => EventKind::HttpNotFound,
        429 => EventKind::HttpTooMany,
        444 => EventKind::HttpClosed,
        _ => EventKind::Request,
    }
}

/// One access-log line (nginx or Apache, common or combined).
pub fn access(line: &[u8]) -> Parsed<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Parsed::NotEvent;
    }
    let Some(sp) = memchr::memchr(b' ', line) else {
        return Parsed::NotUnderstood("no fields");
    };
    let Some(origin) = scan::origin(&line[..sp]) else {
        return Parsed::NotUnderstood("first field is not an address");
    };
    let rest = &line[sp..];
    // The time: ` [dd/Mon/yyyy:hh:mm:ss +zzzz] "`.
    let mut from = 0;
    let req = loop {
        let Some(i) = find(&rest[from..], b" [") else {
            return Parsed::NotUnderstood("no [time] field");
        };
        let t = from + i + 2;
        if rest.len() >= t + 29
            && rest[t + 2] == b'/'
            && rest[t + 6] == b'/'
            && rest[t + 11] == b':'
            && &rest[t + 26..t + 29] == b"] \""
        {
            break &rest[t + 29..];
        }
        from = t;
    };
    // The request, up to its first unescaped quote.
    let mut i = 0;
    loop {
        match memchr::memchr2(b'"', b'\\', &req[i..]) {
            Some(j) if req[i + j] == b'\\' => i += j + 2,
            Some(j) => {
                i += j;
                break;
            }
            None => return Parsed::NotUnderstood("request not closed"),
        }
        if i >= req.len() {
            return Parsed::NotUnderstood("request not closed");
        }
    }
    let after = &req[i + 1..];
    if after.len() < 4 || after[0] != b' ' {
        return Parsed::NotUnderstood("no status after the request");
    }
    let Some(status) = scan::port(&after[1..4]).filter(|s| (100..=999).contains(s)) else {
        return Parsed::NotUnderstood("status is not a number");
    };
    if after.len() > 4 && after[4] != b' ' {
        return Parsed::NotUnderstood("status is not a number");
    }
    web_event(status_kind(status), origin, Some(status))
}

/// One nginx error-log line.
pub fn nginx_error(line: &[u8]) -> Parsed<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // 2026/12/06 18:00:00 [error] 1234#1234: *5 MESSAGE
    if line.len() < 24 || line[4] != b'/' || line[7] != b'/' || line[19] != b' ' || line[20] != b'['
    {
        return if line.is_empty() {
            Parsed::NotEvent
        } else {
            Parsed::NotUnderstood("not an nginx error-log line")
        };
    }
    let Some(colon) = find(&line[20..], b": ").map(|i| 20 + i + 2) else {
        return Parsed::NotUnderstood("no `PID#TID: `");
    };
    let mut msg = &line[colon..];
    if msg.first() == Some(&b'*') {
        if let Some(sp) = memchr::memchr(b' ', msg) {
            msg = &msg[sp + 1..];
        }
    }
    let (kind, fixed) = if msg.starts_with(b"limiting requests, excess:") {
        (EventKind::LimitReq, true)
    } else if msg.starts_with(b"limiting connections by zone") {
        (EventKind::LimitConn, true)
    } else if msg.starts_with(b"no user/password was provided for basic authentication") {
        (EventKind::HttpUnauthorized, true)
    } else if msg.starts_with(b"access forbidden by rule") {
        (EventKind::HttpForbidden, true)
    } else if msg.starts_with(b"user \"")
        && (find(msg, b"\" was not found in \"").is_some()
            || find(msg, b"\": password mismatch").is_some())
    {
        (EventKind::HttpUnauthorized, false)
    } else if find(msg, b"(2: No such file or directory)").is_some() {
        (EventKind::HttpNotFound, false)
    } else {
        return Parsed::NotEvent;
    };
    let mut found: Option<Origin<'_>> = None;
    for i in memchr::memmem::find_iter(msg, b", client: ") {
        let v = &msg[i + 10..];
        let end = memchr::memchr(b',', v).unwrap_or(v.len());
        let Some(o) = scan::origin(&v[..end]) else {
            continue;
        };
        if fixed {
            return web_event(kind, o, None);
        }
        match found {
            Some(f) if f != o => return Parsed::NotUnderstood("ambiguous client (client text)"),
            _ => found = Some(o),
        }
    }
    match found {
        Some(o) => web_event(kind, o, None),
        None => Parsed::NotUnderstood("no `, client: ADDRESS`"),
    }
}

/// One Apache error-log line (2.4, and 2.2's shorter form).
pub fn apache_error(line: &[u8]) -> Parsed<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Parsed::NotEvent;
    }
    let mut rest = line;
    let mut client = None;
    // The server's fields: [time] [module:level] [pid N:tid M] [client A:P]
    for _ in 0..6 {
        let Some(r) = rest.strip_prefix(b"[") else {
            break;
        };
        let Some(end) = memchr::memchr(b']', r) else {
            return Parsed::NotUnderstood("unclosed [field]");
        };
        let field = &r[..end];
        if let Some(c) = field.strip_prefix(b"client ") {
            client = Some(c);
        }
        rest = r[end + 1..].strip_prefix(b" ").unwrap_or(&r[end + 1..]);
        if client.is_some() {
            break;
        }
    }
    if rest.len() == line.len() {
        return Parsed::NotUnderstood("not an Apache error-log line");
    }
    // AH01618: ... (2.4 message codes)
    let msg = match rest.strip_prefix(b"AH") {
        Some(r) => match find(&r[..r.len().min(8)], b": ") {
            Some(i) => &r[i + 2..],
            None => rest,
        },
        None => rest,
    };
    let kind = if msg.starts_with(b"user ")
        && (find(msg, b" not found").is_some() || find(msg, b": authentication failure").is_some())
    {
        EventKind::HttpUnauthorized
    } else if msg.starts_with(b"client denied by server configuration") {
        EventKind::HttpForbidden
    } else if msg.starts_with(b"File does not exist") || msg.starts_with(b"script not found") {
        EventKind::HttpNotFound
    } else if msg.starts_with(b"Invalid URI in request") || msg.starts_with(b"invalid URI path") {
        EventKind::HttpBadRequest
    } else {
        return Parsed::NotEvent;
    };
    let Some(c) = client else {
        return Parsed::NotUnderstood("no [client ADDRESS]");
    };
    // 2.4 writes A:P (IPv6 unbracketed: 2001:db8::1:51234), 2.2 only A.
    let origin = match memchr::memrchr(b':', c) {
        Some(i) if c[..i].contains(&b'.') || c[..i].contains(&b':') => {
            scan::origin(&c[..i]).or_else(|| scan::origin(c))
        }
        _ => scan::origin(c),
    };
    match origin {
        Some(o) => web_event(kind, o, None),
        None => Parsed::NotUnderstood("[client] is not an address"),
    }
}
