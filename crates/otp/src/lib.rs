//! One-time passwords for SSH logins from machines the administrator does not trust.
//!
//! Two kinds of secret, chosen per user:
//!
//! - **Sheets** (OTPW's scheme): numbered passwords generated ahead of time
//!   ([`Sheet::generate`]) and printed. The server keeps only one salted Argon2id hash of
//!   *prefix + password* per number. A login is asked for one numbered password, which is
//!   then struck out; while one login holds a challenge, a concurrent login must answer three
//!   other numbers ([`begin`]), so an attacker who watches the user type cannot win the race
//!   by pressing Enter first.
//! - **TOTP** (RFC 6238, [`totp`]): a shared secret for an authenticator app, with hashed
//!   scratch codes for when the phone is lost.
//!
//! Central types: [`Secrets`] (one user's secret file: format version, key-derivation
//! parameters, entries, held challenge, failure count) and [`Challenge`] (what one login was
//! asked). A login is two pure steps over a `Secrets` value and the current time:
//!
//! ```text
//!   Store::lock_existing ─▶ load ─▶ begin(now) ─▶ save ─▶ unlock ─▶ (user types) ─▶
//!   Store::lock_existing ─▶ load ─▶ finish(answer, now) ─▶ save ─▶ unlock ─▶ Outcome
//! ```
//!
//! A name without secrets (`lock_existing` returns `None`) gets [`Decoys::begin`] and
//! [`Decoys::finish`] inside [`Store::decoy_round`] instead: the same prompts, back-off and
//! work as an enrolled sheet user, with its state in one fixed file, creating no file for
//! the name.
//!
//! Decisions and their reasons:
//! - **Pure core, time passed in.** [`begin`] and [`finish`] read no clock and take their
//!   randomness from an [`Entropy`] they are given, so every rule (expiry, back-off, the
//!   triple challenge) is tested to the second without sleeping.
//! - **State lives in the secret file.** The held challenge and the failure count are lines
//!   of the same file the hashes are in, written with one atomic rename ([`Store`]); a login
//!   killed at any point leaves either the old or the new file, and a held challenge simply
//!   expires after the login grace time (OTPW's lock file lived 24 h).
//! - **Fail closed.** A file that does not parse exactly ([`FormatError`]) refuses every
//!   login; nothing is guessed.
//!
//! ```
//! use rampart_otp::{begin, finish, Begin, Entropy, KdfParams, Outcome, Policy, Secrets, Sheet};
//!
//! struct Counter(u8);
//! impl Entropy for Counter {
//!     fn fill(&mut self, buf: &mut [u8]) {
//!         for b in buf { self.0 = self.0.wrapping_mul(37).wrapping_add(11); *b = self.0; }
//!     }
//! }
//! let mut rng = Counter(1);
//! let sheet = Sheet::generate(&mut rng, 5, 64).unwrap();
//! let mut secrets =
//!     Secrets::from_sheet("alice", &sheet, "pre", KdfParams::TEST, &mut rng).unwrap();
//! let policy = Policy::default();
//! let Begin::Ask(challenge) = begin(&mut secrets, 1000, &policy, &mut rng) else { panic!() };
//! let n = challenge.numbers()[0];
//! let answer = format!("pre{}", sheet.password(n).unwrap());
//! assert_eq!(finish(&mut secrets, &challenge, &answer, 1001, &policy), Outcome::Accepted);
//! // The same password never works again.
//! assert_eq!(secrets.remaining(), 4);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
mod decoy;
mod entropy;
mod error;
mod format;
mod kdf;
mod sheet;
mod store;
mod throttle;
pub mod totp;

pub use auth::{
    begin, decoy_finish, finish, scratch_codes, Begin, Challenge, Outcome, Policy, SCRATCH_DIGITS,
};
pub use decoy::{DecoyKind, Decoys, DECOY_SHEET, MAX_DECOYS};
pub use entropy::{Entropy, OsEntropy};
pub use error::{FormatError, FormatErrorKind, SecretsError, StoreError};
pub use format::{Entry, Held, Kind, Secrets, FORMAT_VERSION};
pub use kdf::KdfParams;
pub use sheet::{Sheet, ALPHABET, MAX_COUNT, MAX_ENTROPY, MIN_ENTROPY};
pub use store::{Locked, Store, DEFAULT_DIR};
pub use throttle::Throttle;
