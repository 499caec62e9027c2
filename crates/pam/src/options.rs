//! Module arguments from the PAM stack line, e.g.
//! `auth required pam_rampart_otp.so nullok statedir=/var/lib/rampart/otp grace=120`.

use std::path::PathBuf;

use rampart_otp::{DecoyKind, Policy};

/// Parsed module arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Users without a secret file are passed over (`PAM_IGNORE`) instead of refused.
    pub nullok: bool,
    /// The state directory.
    pub statedir: PathBuf,
    /// Hold time, free failures and back-off.
    pub policy: Policy,
    /// What users without a secret file seem to have (`decoy=sheet|totp`).
    pub decoy: DecoyKind,
    /// Delay of a refused login, milliseconds (`fail_delay=MS`, default 2000: pam_unix's).
    pub fail_delay_ms: u32,
}

impl Options {
    /// Parses the arguments; an unknown or malformed one is an error (a typo such as
    /// `nulok` must not silently change who may log in).
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Options, String> {
        let mut o = Options {
            nullok: false,
            statedir: PathBuf::from(rampart_otp::DEFAULT_DIR),
            policy: Policy::default(),
            decoy: DecoyKind::Sheet,
            fail_delay_ms: 2000,
        };
        for a in args {
            let secs = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{a}: expected a number of seconds"))
            };
            match a.split_once('=') {
                None if a == "nullok" => o.nullok = true,
                Some(("statedir", v)) if v.starts_with('/') => o.statedir = PathBuf::from(v),
                Some(("grace", v)) => o.policy.grace = secs(v)?.max(1),
                Some(("backoff", v)) => o.policy.backoff_base = secs(v)?,
                Some(("backoff_max", v)) => o.policy.backoff_max = secs(v)?,
                Some(("decoy", "sheet")) => o.decoy = DecoyKind::Sheet,
                Some(("decoy", "totp")) => o.decoy = DecoyKind::Totp,
                Some(("fail_delay", v)) => {
                    o.fail_delay_ms = v
                        .parse::<u32>()
                        .ok()
                        .filter(|ms| *ms <= 60_000)
                        .ok_or_else(|| format!("{a}: expected milliseconds, at most 60000"))?
                }
                Some(("free_failures", v)) => {
                    o.policy.free_failures =
                        v.parse().map_err(|_| format!("{a}: expected a count"))?
                }
                _ => {
                    return Err(format!(
                        "unknown or malformed argument {a:?} (known: nullok, statedir=/ABS/PATH, \
                         grace=SECS, free_failures=N, backoff=SECS, backoff_max=SECS, \
                         decoy=sheet|totp, fail_delay=MS)"
                    ))
                }
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_arguments_and_refuses_others() {
        let o = Options::parse(["nullok", "statedir=/tmp/x", "grace=30", "backoff=2"]).unwrap();
        assert_eq!(o.decoy, DecoyKind::Sheet);
        assert_eq!(
            Options::parse(["decoy=totp"]).unwrap().decoy,
            DecoyKind::Totp
        );
        assert!(o.nullok);
        assert_eq!(o.statedir, PathBuf::from("/tmp/x"));
        assert_eq!(o.policy.grace, 30);
        assert_eq!(o.policy.backoff_base, 2);
        let d = Options::parse([]).unwrap();
        assert!(!d.nullok);
        assert_eq!(d.policy, Policy::default());
        for bad in [
            "nulok",
            "statedir=relative",
            "grace=soon",
            "x=1",
            "decoy=app",
        ] {
            assert!(Options::parse([bad]).is_err(), "{bad}");
        }
    }
}
