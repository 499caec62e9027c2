//! [`Source`]: which parser a log is read with.

use std::fmt;
use std::str::FromStr;

use crate::{sshd, web, Parsed};

/// The kind of log a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// sshd: auth.log / secure (syslog lines), the journal's MESSAGE, `sshd -E FILE`.
    Sshd,
    /// nginx access log (combined or common format).
    NginxAccess,
    /// nginx error log.
    NginxError,
    /// Apache access log (combined or common format).
    ApacheAccess,
    /// Apache error log (2.4; 2.2's form too).
    ApacheError,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 5] = [
        Source::Sshd,
        Source::NginxAccess,
        Source::NginxError,
        Source::ApacheAccess,
        Source::ApacheError,
    ];

    /// The name used on the command line and in config (`nginx-access`).
    pub fn name(self) -> &'static str {
        match self {
            Source::Sshd => "sshd",
            Source::NginxAccess => "nginx-access",
            Source::NginxError => "nginx-error",
            Source::ApacheAccess => "apache-access",
            Source::ApacheError => "apache-error",
        }
    }

    /// Parses one line (without its newline; a trailing `\r` is ignored). Never fails:
    /// a line that is no event, or not understood, says so.
    #[inline]
    pub fn parse(self, line: &[u8]) -> Parsed<'_> {
        match self {
            Source::Sshd => sshd::parse(line),
            Source::NginxAccess | Source::ApacheAccess => web::access(line),
            Source::NginxError => web::nginx_error(line),
            Source::ApacheError => web::apache_error(line),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown source name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown log source `{0}`: expected one of sshd, nginx-access, nginx-error, apache-access, apache-error")]
pub struct UnknownSource(pub String);

impl FromStr for Source {
    type Err = UnknownSource;
    fn from_str(s: &str) -> Result<Source, UnknownSource> {
        Source::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| UnknownSource(s.chars().take(80).collect()))
    }
}
