//! Argon2id hashing of *prefix + password* and its constant-time check.
//!
//! Why Argon2id with a salt per entry: OTPW stored unsalted 72-bit RIPEMD-160 hashes, so
//! one stolen file could be attacked for all entries at once at GPU speed. With a 16-byte
//! salt per entry and a memory-hard function, every entry costs the attacker the full work
//! of the user's prefix search separately.

use argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq;

use crate::{Entropy, SecretsError};

/// Bytes of salt per entry.
pub(crate) const SALT_LEN: usize = 16;
/// Bytes of hash per entry.
pub(crate) const HASH_LEN: usize = 32;

/// Argon2id cost parameters, stored in the secret file's header so they can be raised later
/// without breaking old sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// OWASP's recommendation for Argon2id (19 MiB, 2 passes, 1 lane): about 25 ms per
    /// hash on the 2-vCPU machines this runs on; a triple challenge costs three.
    pub const DEFAULT: KdfParams = KdfParams {
        m: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// Cheap parameters for tests only (never for real secrets).
    pub const TEST: KdfParams = KdfParams { m: 64, t: 1, p: 1 };

    fn argon2(&self) -> Result<Argon2<'static>, SecretsError> {
        let params =
            Params::new(self.m, self.t, self.p, Some(HASH_LEN)).map_err(|_| SecretsError::Kdf {
                m: self.m,
                t: self.t,
                p: self.p,
            })?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Checks that Argon2 accepts these parameters.
    pub fn validate(&self) -> Result<(), SecretsError> {
        self.argon2().map(|_| ())
    }

    /// Hashes `prefix` followed by `password` with `salt`.
    pub(crate) fn hash(
        &self,
        salt: &[u8; SALT_LEN],
        prefix: &[u8],
        password: &[u8],
    ) -> Result<[u8; HASH_LEN], SecretsError> {
        let argon2 = self.argon2()?;
        let mut input = Vec::with_capacity(prefix.len() + password.len());
        input.extend_from_slice(prefix);
        input.extend_from_slice(password);
        let mut out = [0u8; HASH_LEN];
        #[cfg(test)]
        evaluations::record(*self);
        let res = argon2.hash_password_into(&input, salt, &mut out);
        input.fill(0);
        res.map_err(|_| SecretsError::Kdf {
            m: self.m,
            t: self.t,
            p: self.p,
        })?;
        Ok(out)
    }

    /// A fresh salt and the hash of `prefix + password`.
    pub(crate) fn new_entry(
        &self,
        rng: &mut dyn Entropy,
        prefix: &[u8],
        password: &[u8],
    ) -> Result<([u8; SALT_LEN], [u8; HASH_LEN]), SecretsError> {
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt);
        Ok((salt, self.hash(&salt, prefix, password)?))
    }

    /// Whether `prefix + password` hashes to `hash`; the comparison takes the same time
    /// wherever the first differing byte is. Bad parameters count as a mismatch.
    pub(crate) fn verify(
        &self,
        salt: &[u8; SALT_LEN],
        hash: &[u8; HASH_LEN],
        prefix: &[u8],
        password: &[u8],
    ) -> bool {
        match self.hash(salt, prefix, password) {
            Ok(h) => h.ct_eq(hash).into(),
            Err(_) => false,
        }
    }
}

/// Test-only record of every Argon2id evaluation made on the current thread, so tests can
/// prove that two code paths do the same hashing work (how many hashes, with which
/// parameters) without timing them.
#[cfg(test)]
pub(crate) mod evaluations {
    use std::cell::RefCell;

    use super::KdfParams;

    thread_local! {
        static SEEN: RefCell<Vec<KdfParams>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn record(params: KdfParams) {
        SEEN.with(|s| s.borrow_mut().push(params));
    }

    /// The evaluations since the last call, oldest first.
    pub(crate) fn take() -> Vec<KdfParams> {
        SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_only_the_same_input() {
        let p = KdfParams::TEST;
        let salt = [7u8; SALT_LEN];
        let h = p.hash(&salt, b"pre", b"abc").unwrap();
        assert!(p.verify(&salt, &h, b"pre", b"abc"));
        assert!(!p.verify(&salt, &h, b"pre", b"abd"));
        assert!(!p.verify(&salt, &h, b"prf", b"abc"));
        assert!(!p.verify(&[8u8; SALT_LEN], &h, b"pre", b"abc"));
    }

    #[test]
    fn every_evaluation_is_recorded_with_its_parameters() {
        evaluations::take();
        let p = KdfParams::TEST;
        let h = p.hash(&[1; SALT_LEN], b"", b"x").unwrap();
        p.verify(&[1; SALT_LEN], &h, b"", b"y");
        assert_eq!(evaluations::take(), [p, p]);
        assert_eq!(evaluations::take(), []);
    }

    #[test]
    fn bad_params_are_an_error() {
        let p = KdfParams { m: 1, t: 0, p: 0 };
        assert!(p.validate().is_err());
        assert!(!p.verify(&[0; SALT_LEN], &[0; HASH_LEN], b"", b""));
    }
}
