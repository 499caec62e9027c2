//! What to send where: typed settings, checked once by [`crate::Notifier::start`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// Plain connection upgraded by `STARTTLS` before anything else is said (port 587);
    /// a server that does not offer it is refused.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a relay on the same host (`localhost:25`). Credentials are
    /// never sent over it.
    None,
}

/// Credentials for `AUTH PLAIN` (preferred) or `AUTH LOGIN`, whichever the server offers.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password (never printed by `Debug`).
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The digest mail: server, protection, sender, recipients, interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The server's host name (checked against its certificate) or address.
    pub host: String,
    /// The port: 587 for STARTTLS, 465 for TLS, 25 for a local relay.
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
    /// A PEM file of CA certificates to trust instead of the system's roots (a private
    /// mail server's CA).
    pub ca_file: Option<PathBuf>,
    /// Login, when the server wants one.
    pub credentials: Option<Credentials>,
    /// The envelope and `From:` address.
    pub from: String,
    /// The recipients (at least one).
    pub to: Vec<String>,
    /// The subject's start; the digest adds the host and the number of bans.
    pub subject: String,
    /// The name said in `EHLO` and shown in the digest; the kernel's host name when `None`.
    pub hello: Option<String>,
    /// At most one mail per interval: notices arriving meanwhile wait for the next.
    pub interval: Duration,
    /// Limit on connecting and on each exchange with the server.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// Settings with the defaults: a digest every 10 minutes, 30 s timeout, subject
    /// "rampart guard", the system's roots, no login.
    pub fn new(host: &str, port: u16, security: Security, from: &str, to: &[&str]) -> SmtpConfig {
        SmtpConfig {
            host: host.to_owned(),
            port,
            security,
            ca_file: None,
            credentials: None,
            from: from.to_owned(),
            to: to.iter().map(|t| (*t).to_owned()).collect(),
            subject: "rampart guard".to_owned(),
            hello: None,
            interval: Duration::from_secs(600),
            timeout: Duration::from_secs(30),
        }
    }
}

/// An `http://` or `https://` address for the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https://` (TLS) or `http://`.
    pub https: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// The port (80 or 443 unless given).
    pub port: u16,
    /// The path and query, starting with `/`.
    pub path: String,
}

impl FromStr for Url {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Url, ConfigError> {
        let bad = |why: &'static str| ConfigError::Url {
            url: s.chars().take(80).flat_map(char::escape_debug).collect(),
            why,
        };
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("it must start with http:// or https://"));
        };
        if s.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("it contains spaces or control characters"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not supported: use a header",
            ));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed `[` in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("text after the IPv6 address")),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| bad("the port is not a number"))?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        Ok(Url {
            https,
            host,
            port,
            path,
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// The webhook: where to POST the JSON batch, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The endpoint.
    pub url: Url,
    /// A PEM file of CA certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Extra headers (an `Authorization: Bearer …`).
    pub headers: Vec<(String, String)>,
    /// Notices arriving within one interval go in one POST (0: each as soon as possible).
    pub interval: Duration,
    /// Limit on connecting and on each exchange.
    pub timeout: Duration,
}

impl WebhookConfig {
    /// Settings with the defaults: a POST at most every 10 s, 10 s timeout, system roots.
    pub fn new(url: Url) -> WebhookConfig {
        WebhookConfig {
            url,
            ca_file: None,
            headers: Vec::new(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// How failed deliveries are retried: exponential backoff from `initial`, doubling up to
/// `max`, until `give_up_after` has passed since the batch's first failure (then the batch
/// is dropped and reported as [`crate::Event::GaveUp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How long a batch is retried.
    pub give_up_after: Duration,
}

impl Default for Retry {
    /// 5 s doubling to 5 min, for a day.
    fn default() -> Retry {
        Retry {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(86_400),
        }
    }
}

/// Both sinks, each optional, and the retry policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    /// The digest mail, if any.
    pub smtp: Option<SmtpConfig>,
    /// The webhook, if any.
    pub webhook: Option<WebhookConfig>,
    /// Retrying failed deliveries.
    pub retry: Retry,
}

/// A setting that cannot work, found before the thread starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The webhook URL does not parse.
    #[error("webhook URL `{url}`: {why}")]
    Url {
        /// The URL (at most 80 characters, escaped).
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A mail address cannot be used in an SMTP envelope.
    #[error("mail address `{address}`: {why}")]
    Address {
        /// The address (at most 80 characters, escaped).
        address: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Other SMTP settings.
    #[error("smtp: {0}")]
    Smtp(&'static str),
    /// A header name or value would break the request.
    #[error("webhook header `{0}`: names are letters, digits and `-`; values have no line breaks")]
    Header(String),
    /// The CA file cannot be read or holds no certificate.
    #[error("CA file {path}: {why}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// No usable root certificate on this system and no CA file given.
    #[error("no trusted root certificates found on this system ({0}); give a CA file")]
    NoRoots(String),
    /// rustls refused the TLS settings.
    #[error("TLS settings: {0}")]
    Tls(String),
    /// The thread could not start.
    #[error("starting the notifier thread: {0}")]
    Thread(std::io::Error),
}

fn check_address(a: &str) -> Result<(), ConfigError> {
    let bad = |why| ConfigError::Address {
        address: a.chars().take(80).flat_map(char::escape_debug).collect(),
        why,
    };
    if a.chars()
        .any(|c| c.is_control() || c == '<' || c == '>' || c == ' ')
    {
        return Err(bad(
            "no spaces, angle brackets or control characters allowed",
        ));
    }
    if !a.contains('@') {
        return Err(bad("expected user@domain"));
    }
    Ok(())
}

impl SmtpConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.host.is_empty() || self.host.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ConfigError::Smtp(
                "the server's host name is empty or has spaces",
            ));
        }
        if self.port == 0 {
            return Err(ConfigError::Smtp(
                "port 0: use 587 (STARTTLS), 465 (TLS) or 25",
            ));
        }
        if self.to.is_empty() {
            return Err(ConfigError::Smtp(
                "no recipient: give at least one `to` address",
            ));
        }
        check_address(&self.from)?;
        for t in &self.to {
            check_address(t)?;
        }
        if self.security == Security::None && self.credentials.is_some() {
            return Err(ConfigError::Smtp(
                "credentials over a connection without TLS: use starttls or tls",
            ));
        }
        if self.interval.is_zero() {
            return Err(ConfigError::Smtp(
                "interval 0 would send one mail per ban: give at least 1 s",
            ));
        }
        if [&self.subject, self.hello.as_deref().unwrap_or("")]
            .iter()
            .any(|s| s.contains(['\r', '\n']))
        {
            return Err(ConfigError::Smtp("subject and hello name must be one line"));
        }
        Ok(())
    }
}

impl WebhookConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        for (name, value) in &self.headers {
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                || value.contains(['\r', '\n'])
            {
                return Err(ConfigError::Header(
                    name.chars().take(80).flat_map(char::escape_debug).collect(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u: Url = "https://hooks.example.org/a/b?c=d".parse().unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "hooks.example.org", 443, "/a/b?c=d")
        );
        let u: Url = "http://[2001:db8::1]:8080".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("2001:db8::1", 8080, "/")
        );
        assert_eq!(u.to_string(), "http://[2001:db8::1]:8080/");
        let e = "ftp://x".parse::<Url>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "webhook URL `ftp://x`: it must start with http:// or https://"
        );
        assert!("http://u:p@x/".parse::<Url>().is_err());
        assert!("http://x:port/".parse::<Url>().is_err());
    }

    #[test]
    fn smtp_checks() {
        let mut c = SmtpConfig::new(
            "mail.example.org",
            587,
            Security::StartTls,
            "guard@example.org",
            &["admin@example.org"],
        );
        c.check().unwrap();
        c.to.push("evil>\r\nRCPT TO:<x@y".into());
        assert!(matches!(c.check(), Err(ConfigError::Address { .. })));
        c.to.pop();
        c.security = Security::None;
        c.credentials = Some(Credentials {
            user: "u".into(),
            password: "secret".into(),
        });
        assert!(c.check().is_err());
        assert!(format!("{:?}", c.credentials).contains("<hidden>"));
        assert!(!format!("{:?}", c.credentials).contains("secret"));
    }
}
