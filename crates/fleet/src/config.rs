//! [`FleetConfig`]: the `[fleet]` table of the policy file.
//!
//! ```toml
//! [fleet]
//! url = "postgresql://web1@db.example.net/rampart"   # the role is this server's name
//! password_file = "/etc/rampart/fleet.password"       # root's only (mode 0600)
//! ca_file = "/etc/rampart/fleet-ca.pem"               # the server certificate's CA
//! min_prefix_v4 = 16                                  # shorter fleet bans are refused
//! min_prefix_v6 = 48
//! ```
//!
//! The password is never in the URL (a policy file is readable by more than root, and is
//! copied between servers); TLS is always on and verifies the certificate and the host
//! name, except over a Unix socket (`host=/run/postgresql`), which never leaves the
//! machine.

use std::path::{Path, PathBuf};

use rampart_guard::{ConfigError, ConfigErrors};
use serde::Deserialize;
use toml::Spanned;

/// Where the password file is looked for when `password_file` is not given.
pub const DEFAULT_PASSWORD_FILE: &str = "/etc/rampart/fleet.password";
/// The shortest IPv4 prefix a fleet decision may ban by default (a /16: 65,536
/// addresses, the guides' "neighbouring addresses").
pub const DEFAULT_MIN_PREFIX_V4: u8 = 16;
/// The shortest IPv6 prefix a fleet decision may ban by default.
pub const DEFAULT_MIN_PREFIX_V6: u8 = 48;
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT_SECS: u64 = 5;

/// The `[fleet]` table, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The connection URL, without a password.
    pub url: String,
    /// The file holding this server's password (root's only), if the server wants one.
    pub password_file: Option<PathBuf>,
    /// The CA certificate(s) the database server's certificate must chain to; `None`:
    /// the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Fleet decisions banning an IPv4 prefix shorter than this are refused.
    pub min_prefix_v4: u8,
    /// Fleet decisions banning an IPv6 prefix shorter than this are refused.
    pub min_prefix_v6: u8,
}

#[derive(Deserialize)]
struct Doc {
    fleet: Option<Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    url: Spanned<String>,
    password_file: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    min_prefix_v4: Option<Spanned<i64>>,
    min_prefix_v6: Option<Spanned<i64>>,
}

impl FleetConfig {
    /// Reads the `[fleet]` table of a policy file's text (`file` names it in errors).
    /// `Ok(None)` when there is none: this server is not in a fleet.
    pub fn from_policy(file: &str, text: &str) -> Result<Option<FleetConfig>, ConfigErrors> {
        let doc: Doc = toml::from_str(text)
            .map_err(|e| ConfigErrors(vec![ConfigError::toml(file, text, &e)]))?;
        let Some(t) = doc.fleet else {
            return Ok(None);
        };
        let mut errors = Vec::new();
        let mut err = |span, key: &str, message: String, hint: &str| {
            errors.push(ConfigError::at(file, text, span, key, message, hint))
        };
        let url = t.url.get_ref().trim().to_string();
        if let Err((message, hint)) = check_url(&url) {
            err(t.url.span(), "fleet.url", message, hint);
        }
        let mut path = |v: Option<Spanned<String>>, key: &str| {
            let v = v?;
            let p = PathBuf::from(v.get_ref());
            if p.is_absolute() {
                return Some(p);
            }
            err(
                v.span(),
                key,
                format!("`{}` is not an absolute path", excerpt(v.get_ref())),
                "give the file's full path, /etc/rampart/…",
            );
            None
        };
        let password_file = path(t.password_file, "fleet.password_file");
        let ca_file = path(t.ca_file, "fleet.ca_file");
        let mut prefix = |v: Option<Spanned<i64>>, key: &str, max: i64, default: u8| match v {
            None => default,
            Some(v) if (1..=max).contains(v.get_ref()) => {
                u8::try_from(*v.get_ref()).unwrap_or(default)
            }
            Some(v) => {
                err(
                    v.span(),
                    key,
                    format!("{} is not a prefix length from 1 to {max}", v.get_ref()),
                    "the shortest prefix a fleet ban may cover: 16 (IPv4) and 48 (IPv6) are the defaults",
                );
                default
            }
        };
        let min_prefix_v4 = prefix(
            t.min_prefix_v4,
            "fleet.min_prefix_v4",
            32,
            DEFAULT_MIN_PREFIX_V4,
        );
        let min_prefix_v6 = prefix(
            t.min_prefix_v6,
            "fleet.min_prefix_v6",
            128,
            DEFAULT_MIN_PREFIX_V6,
        );
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Some(FleetConfig {
            url,
            password_file,
            ca_file,
            min_prefix_v4,
            min_prefix_v6,
        }))
    }

    /// This server's name in the fleet: the URL's role.
    pub fn server(&self) -> String {
        self.url
            .parse::<postgres::Config>()
            .ok()
            .and_then(|c| c.get_user().map(str::to_string))
            .unwrap_or_default()
    }

    /// The password file to read: the one named, else [`DEFAULT_PASSWORD_FILE`] when it
    /// exists.
    pub fn password_path(&self) -> Option<PathBuf> {
        match &self.password_file {
            Some(p) => Some(p.clone()),
            None => {
                let p = Path::new(DEFAULT_PASSWORD_FILE);
                p.exists().then(|| p.to_path_buf())
            }
        }
    }
}

/// Whether `url` is a PostgreSQL URL rampart accepts: `postgresql://` or `postgres://`,
/// a user (this server's role), no password. Else the message and a hint.
fn check_url(url: &str) -> Result<(), (String, &'static str)> {
    let hint = "postgresql://SERVER@HOST[:PORT]/DATABASE, the password in password_file";
    let Some(rest) = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
    else {
        return Err((
            format!("`{}` is not a postgresql:// URL", excerpt(url)),
            hint,
        ));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let Some((user, _host)) = authority.rsplit_once('@') else {
        return Err((
            "the URL names no role: each server connects as its own role, its name".into(),
            hint,
        ));
    };
    if user.contains(':') {
        return Err((
            "the URL holds a password: policy files are copied and read by more than root".into(),
            "put the password alone in password_file (mode 0600, owned by root)",
        ));
    }
    if url.contains("password=") {
        return Err((
            "the URL holds a password parameter".into(),
            "put the password alone in password_file (mode 0600, owned by root)",
        ));
    }
    if user.is_empty() {
        return Err(("the URL's role is empty".into(), hint));
    }
    url.parse::<postgres::Config>()
        .map(drop)
        .map_err(|e| (format!("not a valid URL: {e}"), hint))
}

fn excerpt(s: &str) -> String {
    rampart_safeio::excerpt(s, 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<FleetConfig>, String> {
        FleetConfig::from_policy("rampart.toml", text).map_err(|e| e.to_string())
    }

    #[test]
    fn no_table_no_fleet_and_defaults() {
        assert_eq!(parse("profile = \"webserver\"\n"), Ok(None));
        let c = parse("[fleet]\nurl = \"postgresql://web1@db.example.net/rampart\"\n")
            .unwrap()
            .unwrap();
        assert_eq!((c.min_prefix_v4, c.min_prefix_v6), (16, 48));
        assert_eq!(c.password_file, None);
    }

    #[test]
    fn bad_values_are_errors_at_their_place() {
        let e = parse("[fleet]\nurl = \"postgresql://web1:secret@db/rampart\"\n").unwrap_err();
        assert!(
            e.contains("rampart.toml:2") && e.contains("password"),
            "{e}"
        );
        let e = parse("[fleet]\nurl = \"mysql://web1@db/x\"\n").unwrap_err();
        assert!(e.contains("not a postgresql:// URL"), "{e}");
        let e = parse("[fleet]\nurl = \"postgresql://db/x\"\n").unwrap_err();
        assert!(e.contains("names no role"), "{e}");
        let e = parse("[fleet]\nurl = \"postgresql://w@db/x\"\nmin_prefix_v4 = 0\n").unwrap_err();
        assert!(
            e.contains("rampart.toml:3") && e.contains("prefix length"),
            "{e}"
        );
        let e =
            parse("[fleet]\nurl = \"postgresql://w@db/x\"\npassword_file = \"p\"\n").unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = parse("[fleet]\nurl = \"postgresql://w@db/x\"\nmin_prefix = 8\n").unwrap_err();
        assert!(e.contains("did you mean `min_prefix_v4`"), "{e}");
    }
}
