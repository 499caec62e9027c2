//! What a parser makes of one line: [`Parsed`], [`Event`], [`EventKind`], [`Origin`].

use std::fmt;
use std::net::IpAddr;

/// What one line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Something happened that the guard counts against an origin.
    Event(Event<'a>),
    /// A line of the source understood as nothing to count (a login, a 200 response, a
    /// line of another program in the same syslog file).
    NotEvent,
    /// A line that should have been one of the source's forms but is not (malformed,
    /// truncated, or ambiguous about its address); the reason is for `check-log`.
    NotUnderstood(&'static str),
}

impl<'a> Parsed<'a> {
    /// The event, if the line is one.
    pub fn event(&self) -> Option<&Event<'a>> {
        match self {
            Parsed::Event(e) => Some(e),
            _ => None,
        }
    }
}

/// One event: what happened, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    /// What happened.
    pub kind: EventKind,
    /// Who did it: an address, or a host name as the daemon logged it.
    pub origin: Origin<'a>,
    /// The user name tried, as the daemon logged it (escaped by it; chosen by the client:
    /// never trust it, render it escaped).
    pub user: Option<&'a [u8]>,
    /// The client's source port, where logged.
    pub port: Option<u16>,
    /// The HTTP status, for web server lines.
    pub status: Option<u16>,
}

impl Event<'_> {
    /// The address, if the origin is one (never a resolved host name).
    pub fn addr(&self) -> Option<IpAddr> {
        match self.origin {
            Origin::Addr(a) => Some(a),
            _ => None,
        }
    }
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin<'a> {
    /// A client address (IPv4-mapped IPv6 addresses are given as IPv4).
    Addr(IpAddr),
    /// A host name, as logged (sshd's PAM lines with `UseDNS yes`). Never resolved here:
    /// the client controls its reverse DNS, so a name is no ground for a ban.
    Name(&'a str),
    /// The line names no client (rampart's OTP module logs the user only; sshd's own
    /// `Failed keyboard-interactive/pam` line for the same attempt carries the address).
    Unknown,
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Addr(a) => a.fmt(f),
            Origin::Name(n) => write!(f, "name:{n}"),
            Origin::Unknown => f.write_str("-"),
        }
    }
}

/// How the guard should weigh an event kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A failed or refused login.
    Failure,
    /// A connection that never got to authenticate (scanner, closed or reset before
    /// authentication, no banner, failed key exchange).
    Probe,
    /// A web request: counted for rates per source.
    Request,
    /// A web request the server refused or limited (401, 403, 404, 429, 444, limit_req).
    Refused,
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $v:ident = $name:literal, $class:ident;)*) => {
        /// What happened. The names are the stable ones `check-log --json` prints.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventKind {
            $($(#[$doc])* $v,)*
        }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$v,)*];

            /// The stable name (`failed-password`, ...).
            pub fn name(self) -> &'static str {
                match self { $(EventKind::$v => $name,)* }
            }

            /// How the guard should weigh it.
            pub fn class(self) -> Class {
                match self { $(EventKind::$v => Class::$class,)* }
            }
        }
    };
}

kinds! {
    /// sshd: `Failed password for [invalid user ]U from A port P ssh2`.
    FailedPassword = "failed-password", Failure;
    /// sshd: `Failed publickey for ...` (a key the server does not accept; a client
    /// offering several keys logs one per key).
    FailedPublickey = "failed-publickey", Failure;
    /// sshd: `Failed keyboard-interactive/pam for ...`.
    FailedKeyboardInteractive = "failed-keyboard-interactive", Failure;
    /// sshd: `Failed none|hostbased|gssapi-with-mic for ...`.
    FailedOther = "failed-other", Failure;
    /// sshd: `Invalid user U from A port P`.
    InvalidUser = "invalid-user", Failure;
    /// sshd: `User U from A not allowed because ...` (AllowUsers, DenyUsers, groups).
    NotAllowed = "not-allowed", Failure;
    /// sshd: `ROOT LOGIN REFUSED FROM A port P`.
    RootRefused = "root-refused", Failure;
    /// sshd: `maximum authentication attempts exceeded for U from A port P ssh2`, and
    /// `Disconnecting ... : Too many authentication failures`.
    MaxAuthTries = "max-auth-tries", Failure;
    /// `error: PAM: Authentication failure for U from HOST`, and pam_unix's
    /// `authentication failure; ... rhost=HOST`.
    PamFailure = "pam-failure", Failure;
    /// rampart's OTP module: `pam_rampart_otp: U: one-time password refused`.
    OtpRefused = "otp-refused", Failure;
    /// rampart's OTP module: `pam_rampart_otp: U: throttled after repeated failures`.
    OtpThrottled = "otp-throttled", Failure;
    /// sshd: `Connection closed by [authenticating|invalid user U] A port P [preauth]`.
    ClosedPreauth = "closed-preauth", Probe;
    /// sshd: `Connection reset by ... [preauth]`.
    ResetPreauth = "reset-preauth", Probe;
    /// sshd: `Disconnected from [authenticating|invalid user U] A port P [preauth]`, and
    /// `Received disconnect from A port P:N: ... [preauth]`.
    DisconnectedPreauth = "disconnected-preauth", Probe;
    /// sshd: `Timeout before authentication for A port P`.
    AuthTimeout = "auth-timeout", Probe;
    /// sshd: `Did not receive identification string from A`, `banner exchange:
    /// Connection from A port P: invalid format`, `Bad protocol version identification`.
    NoBanner = "no-banner", Probe;
    /// sshd: `Unable to negotiate with A port P: no matching ... found`.
    NegotiationFailed = "negotiation-failed", Probe;
    /// Web: a request (any status not below).
    Request = "request", Request;
    /// Web: 401 Unauthorized, and error-log basic-auth failures.
    HttpUnauthorized = "http-401", Refused;
    /// Web: 403 Forbidden, and error-log `access forbidden by rule` / `client denied`.
    HttpForbidden = "http-403", Refused;
    /// Web: 404 Not Found, and error-log `No such file or directory` / `File does not exist`.
    HttpNotFound = "http-404", Refused;
    /// Web: 400 Bad Request (malformed requests: scanners).
    HttpBadRequest = "http-400", Refused;
    /// Web: 429 Too Many Requests.
    HttpTooMany = "http-429", Refused;
    /// nginx: 444, the connection closed without a response.
    HttpClosed = "http-444", Refused;
    /// nginx error log: `limiting requests, excess: ... by zone`.
    LimitReq = "limit-req", Refused;
    /// nginx error log: `limiting connections by zone`.
    LimitConn = "limit-conn", Refused;
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EventKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        EventKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or(())
    }
}
