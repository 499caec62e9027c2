//! The secret file: one per user, text, versioned, complete or rejected.
//!
//! ```text
//! rampart-otp 1                          version header (first line, exact)
//! user alice
//! kind sheet 13                          or: kind totp <BASE32 secret> <digits> <period> <last step>
//! kdf argon2id 19456 2 1                 memory KiB, iterations, lanes
//! entry 1 <salt hex> <hash hex>          numbered 1, 2, 3, … in order
//! entry 2 used                           struck out
//! challenge 17 1700000120 <token hex>    held challenge: number, expiry (Unix s), owner token
//! failures 2 1700000000                  consecutive failures, time of the last
//! end 280                                number of entries: a cut-short file is detected
//! ```
//!
//! For TOTP users the entries are the hashed scratch codes. `challenge` and `failures`
//! are optional. Unknown lines are errors: a file is never half-understood.

use std::fmt::Write as _;

use data_encoding::{BASE32_NOPAD, HEXLOWER};

use crate::kdf::{HASH_LEN, SALT_LEN};
use crate::sheet::length_for;
use crate::{Entropy, FormatError, FormatErrorKind, KdfParams, SecretsError, Sheet, Throttle};

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The keys of the lines after the header, as errors name them.
const KEYS: [&str; 7] = [
    "user",
    "kind",
    "kdf",
    "entry",
    "challenge",
    "failures",
    "end",
];
/// Most entries a file may hold (bounds the memory a corrupt file can make us allocate).
const MAX_ENTRIES: usize = crate::MAX_COUNT;

/// One numbered entry: a password of the sheet, or a TOTP scratch code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Not yet used: its salt and the Argon2id hash of prefix + password.
    Unused {
        /// Salt.
        salt: [u8; SALT_LEN],
        /// Hash.
        hash: [u8; HASH_LEN],
    },
    /// Used (struck out).
    Used,
}

/// The kind of secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A printed sheet of passwords of `length` characters.
    Sheet {
        /// Characters per password.
        length: usize,
    },
    /// RFC 6238 TOTP.
    Totp {
        /// The shared key.
        key: Vec<u8>,
        /// Digits per code (6 to 8).
        digits: u32,
        /// Seconds per step.
        period: u64,
        /// The last step whose code was accepted (codes at or before it are replays).
        last_step: u64,
    },
}

/// A challenge held by a login in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The entry asked for.
    pub number: u16,
    /// When the hold lapses (Unix seconds).
    pub until: u64,
    /// Identifies the login holding it.
    pub token: [u8; 16],
}

/// One user's secret file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    /// The user.
    pub user: String,
    /// Sheet or TOTP.
    pub kind: Kind,
    /// Argon2id parameters of every entry.
    pub kdf: KdfParams,
    /// Entries numbered from 1.
    pub entries: Vec<Entry>,
    /// A login's challenge in progress, if any.
    pub held: Option<Held>,
    /// Consecutive failures.
    pub throttle: Throttle,
}

/// Checks that a user name can be a file name in the state directory.
pub(crate) fn check_user(user: &str) -> Result<(), SecretsError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with(['.', '-'])
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SecretsError::UserName(user.to_string()))
    }
}

/// Checks that a prefix survives being typed into a prompt unchanged.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), SecretsError> {
    if prefix.trim() != prefix || prefix.chars().any(char::is_control) {
        return Err(SecretsError::Prefix);
    }
    Ok(())
}

impl Secrets {
    /// The secret file for a sheet: hashes of `prefix + password` for every password.
    pub fn from_sheet(
        user: &str,
        sheet: &Sheet,
        prefix: &str,
        kdf: KdfParams,
        rng: &mut dyn Entropy,
    ) -> Result<Secrets, SecretsError> {
        check_user(user)?;
        check_prefix(prefix)?;
        kdf.validate()?;
        let entries = sheet
            .iter()
            .map(|(_, p)| {
                let (salt, hash) = kdf.new_entry(rng, prefix.as_bytes(), p.as_bytes())?;
                Ok(Entry::Unused { salt, hash })
            })
            .collect::<Result<_, SecretsError>>()?;
        Ok(Secrets {
            user: user.to_string(),
            kind: Kind::Sheet {
                length: sheet.password_len(),
            },
            kdf,
            entries,
            held: None,
            throttle: Throttle::default(),
        })
    }

    /// Unused entries.
    pub fn remaining(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::Unused { .. }))
            .count()
    }

    /// The entry numbered `n`.
    pub fn entry(&self, n: u16) -> Option<&Entry> {
        self.entries.get(usize::from(n).checked_sub(1)?)
    }

    /// Writes the file's text.
    pub fn emit(&self) -> String {
        let mut s = format!("rampart-otp {FORMAT_VERSION}\nuser {}\n", self.user);
        match &self.kind {
            Kind::Sheet { length } => writeln!(s, "kind sheet {length}"),
            Kind::Totp {
                key,
                digits,
                period,
                last_step,
            } => writeln!(
                s,
                "kind totp {} {digits} {period} {last_step}",
                BASE32_NOPAD.encode(key)
            ),
        }
        .expect("write to String");
        let k = &self.kdf;
        let _ = writeln!(s, "kdf argon2id {} {} {}", k.m, k.t, k.p);
        for (i, e) in self.entries.iter().enumerate() {
            match e {
                Entry::Unused { salt, hash } => {
                    let _ = writeln!(
                        s,
                        "entry {} {} {}",
                        i + 1,
                        HEXLOWER.encode(salt),
                        HEXLOWER.encode(hash)
                    );
                }
                Entry::Used => {
                    let _ = writeln!(s, "entry {} used", i + 1);
                }
            }
        }
        if let Some(h) = &self.held {
            let _ = writeln!(
                s,
                "challenge {} {} {}",
                h.number,
                h.until,
                HEXLOWER.encode(&h.token)
            );
        }
        if self.throttle.failures > 0 {
            let _ = writeln!(
                s,
                "failures {} {}",
                self.throttle.failures, self.throttle.last
            );
        }
        let _ = writeln!(s, "end {}", self.entries.len());
        s
    }

    /// Reads a file's text; anything but an exact, complete file is an error.
    pub fn parse(text: &str) -> Result<Secrets, FormatError> {
        let err = |line: usize, kind| FormatError { line, kind };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, l)) if l == format!("rampart-otp {FORMAT_VERSION}") => {}
            Some((n, l)) => match l.strip_prefix("rampart-otp ") {
                Some(v) => return Err(err(n, FormatErrorKind::Version(v.to_string()))),
                None => return Err(err(n, FormatErrorKind::NotOtpFile)),
            },
            None => return Err(err(0, FormatErrorKind::NotOtpFile)),
        }
        let mut user = None;
        let mut kind = None;
        let mut kdf = None;
        let mut entries = Vec::new();
        let mut held = None;
        let mut throttle = None;
        let mut ended = false;
        for (n, line) in lines {
            if ended {
                return Err(err(n, FormatErrorKind::TrailingText));
            }
            let f: Vec<&str> = line.split(' ').collect();
            // Errors name the line's key, never its text: the text may hold the TOTP key
            // or a hash, and the PAM module logs these errors.
            let key = KEYS.iter().copied().find(|k| *k == f[0]);
            let bad = || {
                err(
                    n,
                    key.map_or(FormatErrorKind::UnknownLine, FormatErrorKind::BadLine),
                )
            };
            let once = |set: bool, key: &'static str| {
                if set {
                    Err(err(n, FormatErrorKind::Duplicate(key)))
                } else {
                    Ok(())
                }
            };
            match f.as_slice() {
                ["user", u] => {
                    once(user.is_some(), "user")?;
                    check_user(u).map_err(|_| bad())?;
                    user = Some(u.to_string());
                }
                ["kind", "sheet", len] => {
                    once(kind.is_some(), "kind")?;
                    let length: usize = num(len).ok_or_else(bad)?;
                    if !(length_for(crate::MIN_ENTROPY)..=length_for(crate::MAX_ENTROPY))
                        .contains(&length)
                    {
                        return Err(bad());
                    }
                    kind = Some(Kind::Sheet { length });
                }
                ["kind", "totp", key, digits, period, last] => {
                    once(kind.is_some(), "kind")?;
                    let key = BASE32_NOPAD.decode(key.as_bytes()).map_err(|_| bad())?;
                    let digits: u32 = num(digits).ok_or_else(bad)?;
                    let period: u64 = num(period).ok_or_else(bad)?;
                    if key.len() < 10 || !(6..=8).contains(&digits) || period == 0 {
                        return Err(bad());
                    }
                    kind = Some(Kind::Totp {
                        key,
                        digits,
                        period,
                        last_step: num(last).ok_or_else(bad)?,
                    });
                }
                ["kdf", "argon2id", m, t, p] => {
                    once(kdf.is_some(), "kdf")?;
                    let k = KdfParams {
                        m: num(m).ok_or_else(bad)?,
                        t: num(t).ok_or_else(bad)?,
                        p: num(p).ok_or_else(bad)?,
                    };
                    k.validate().map_err(|_| bad())?;
                    kdf = Some(k);
                }
                ["entry", no, rest @ ..] => {
                    let no: u16 = num(no).ok_or_else(bad)?;
                    let expected = entries.len() + 1;
                    if usize::from(no) != expected {
                        return Err(err(
                            n,
                            FormatErrorKind::EntryOrder {
                                expected: expected as u16,
                                found: no,
                            },
                        ));
                    }
                    if entries.len() >= MAX_ENTRIES || held.is_some() || throttle.is_some() {
                        return Err(bad());
                    }
                    let e = match rest {
                        ["used"] => Entry::Used,
                        [salt, hash] => Entry::Unused {
                            salt: hex_array(salt).ok_or_else(bad)?,
                            hash: hex_array(hash).ok_or_else(bad)?,
                        },
                        _ => return Err(bad()),
                    };
                    entries.push(e);
                }
                ["challenge", no, until, token] => {
                    once(held.is_some(), "challenge")?;
                    held = Some(Held {
                        number: num(no).ok_or_else(bad)?,
                        until: num(until).ok_or_else(bad)?,
                        token: hex_array(token).ok_or_else(bad)?,
                    });
                }
                ["failures", count, last] => {
                    once(throttle.is_some(), "failures")?;
                    throttle = Some(Throttle {
                        failures: num(count).ok_or_else(bad)?,
                        last: num(last).ok_or_else(bad)?,
                    });
                }
                ["end", count] => {
                    let declared: usize = num(count).ok_or_else(bad)?;
                    if declared != entries.len() {
                        return Err(err(
                            n,
                            FormatErrorKind::Count {
                                declared,
                                found: entries.len(),
                            },
                        ));
                    }
                    ended = true;
                }
                _ => return Err(bad()),
            }
        }
        if !ended {
            return Err(err(0, FormatErrorKind::Truncated));
        }
        let missing = |k| err(0, FormatErrorKind::Missing(k));
        let secrets = Secrets {
            user: user.ok_or_else(|| missing("user"))?,
            kind: kind.ok_or_else(|| missing("kind"))?,
            kdf: kdf.ok_or_else(|| missing("kdf"))?,
            entries,
            held,
            throttle: throttle.unwrap_or_default(),
        };
        if matches!(secrets.kind, Kind::Sheet { .. }) && secrets.entries.is_empty() {
            return Err(missing("entry"));
        }
        Ok(secrets)
    }
}

/// A decimal number without sign, leading `+` or leading zeros beyond one digit.
fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    HEXLOWER.decode(s.as_bytes()).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheet::tests::Seeded;

    fn sample() -> Secrets {
        let sheet = Sheet::generate(&mut Seeded(3), 4, 64).unwrap();
        let mut s =
            Secrets::from_sheet("alice", &sheet, "pre", KdfParams::TEST, &mut Seeded(4)).unwrap();
        s.entries[1] = Entry::Used;
        s.held = Some(Held {
            number: 3,
            until: 1_700_000_120,
            token: [0xab; 16],
        });
        s.throttle = Throttle {
            failures: 2,
            last: 1_700_000_000,
        };
        s
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let text = s.emit();
        assert!(text.starts_with(
            "rampart-otp 1\nuser alice\nkind sheet 13\nkdf argon2id 64 1 1\nentry 1 "
        ));
        assert!(text.contains("\nentry 2 used\n"));
        assert!(text.ends_with(&format!(
            "challenge 3 1700000120 {}\nfailures 2 1700000000\nend 4\n",
            "ab".repeat(16)
        )));
        assert_eq!(Secrets::parse(&text), Ok(s));
    }

    #[test]
    fn totp_round_trip() {
        let mut s = sample();
        s.kind = Kind::Totp {
            key: b"12345678901234567890".to_vec(),
            digits: 6,
            period: 30,
            last_step: 5,
        };
        s.held = None;
        s.throttle = Throttle::default();
        let text = s.emit();
        assert!(text.contains("kind totp GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ 6 30 5\n"));
        assert!(!text.contains("failures"));
        assert_eq!(Secrets::parse(&text), Ok(s));
    }

    #[test]
    fn corruption_is_detected() {
        let text = sample().emit();
        let kind = |t: &str| Secrets::parse(t).unwrap_err().kind;
        // Cut short anywhere (but the final newline): always an error, never a smaller
        // valid file.
        for cut in 0..text.len() - 1 {
            if text.is_char_boundary(cut) {
                assert!(Secrets::parse(&text[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert_eq!(kind(""), FormatErrorKind::NotOtpFile);
        assert_eq!(kind("otpw\n"), FormatErrorKind::NotOtpFile);
        assert_eq!(
            kind(&text.replace("rampart-otp 1", "rampart-otp 2")),
            FormatErrorKind::Version("2".into())
        );
        assert_eq!(
            kind(&text.replace("\nend 4\n", "\n")),
            FormatErrorKind::Truncated
        );
        assert_eq!(
            kind(&text.replace("end 4", "end 5")),
            FormatErrorKind::Count {
                declared: 5,
                found: 4
            }
        );
        assert_eq!(
            kind(&text.replace("entry 2 used", "entry 3 used")),
            FormatErrorKind::EntryOrder {
                expected: 2,
                found: 3
            }
        );
        assert_eq!(
            kind(&format!("{text}entry 5 used\n")),
            FormatErrorKind::TrailingText
        );
        assert_eq!(
            kind(&text.replace("user alice\n", "user alice\nuser bob\n")),
            FormatErrorKind::Duplicate("user")
        );
        assert_eq!(
            kind(&text.replace("user alice\n", "")),
            FormatErrorKind::Missing("user")
        );
        assert!(matches!(
            kind(&text.replace("user alice", "user ../etc")),
            FormatErrorKind::BadLine("user")
        ));
        assert!(matches!(
            kind(&text.replace("entry 2 used", "entry 2 usd")),
            FormatErrorKind::BadLine(_)
        ));
        assert!(matches!(
            kind(&text.replace("kdf argon2id 64 1 1", "kdf argon2id 064 1 1")),
            FormatErrorKind::BadLine(_)
        ));
        // A flipped hex digit that is no longer hex.
        let e1 = text.lines().nth(4).unwrap();
        assert!(matches!(
            kind(&text.replace(e1, &e1.replacen(' ', " z", 2))),
            FormatErrorKind::BadLine(_)
        ));
    }

    /// Issue 15, finding 3: an error about a malformed line names the line number and
    /// the line's key, never its text, which can hold the TOTP key (or a hash): the PAM
    /// module logs these errors to syslog.
    #[test]
    fn errors_do_not_quote_a_line_that_may_hold_a_secret() {
        let key = b"rampart-totp-test-key";
        let s = Secrets::from_totp(
            "hana",
            key,
            &["12345678".to_string()],
            KdfParams::TEST,
            &mut crate::sheet::tests::Seeded(3),
        )
        .unwrap();
        let text = s.emit();
        let b32 = BASE32_NOPAD.encode(key);
        let kind_line = text.lines().nth(2).unwrap();
        assert!(kind_line.contains(&b32), "{kind_line}");
        let entry_line = text.lines().nth(4).unwrap();
        let hash = entry_line.rsplit(' ').next().unwrap();
        for (broken, line, field) in [
            // 9 digits: not allowed.
            (kind_line.replace(" 6 30 ", " 9 30 "), 3, "kind"),
            (format!("{entry_line} x"), 5, "entry"),
            (format!("kind-ish {b32}"), 3, "kind-ish"),
        ] {
            let e = Secrets::parse(
                &text.replace(if line == 3 { kind_line } else { entry_line }, &broken),
            )
            .unwrap_err();
            let shown = e.to_string();
            assert_eq!(e.line, line, "{shown}");
            assert!(!shown.contains(&b32) && !shown.contains(hash), "{shown}");
            if field == "kind-ish" {
                assert_eq!(e.kind, FormatErrorKind::UnknownLine);
            } else {
                assert_eq!(e.kind, FormatErrorKind::BadLine(field));
                assert!(shown.contains(&format!("`{field}`")), "{shown}");
            }
        }
    }

    #[test]
    fn names_and_prefixes_are_checked() {
        for ok in ["alice", "a.b-c_d", "u1"] {
            check_user(ok).unwrap();
        }
        for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_user(bad).is_err(), "{bad}");
        }
        check_prefix("my secret").unwrap();
        check_prefix("").unwrap();
        assert!(check_prefix(" x").is_err());
        assert!(check_prefix("x ").is_err());
        assert!(check_prefix("x\ty").is_err());
    }
}
