//! `pam_rampart_otp.so`: the PAM module that lets sshd accept a one-time password from a
//! printed rampart sheet, or a TOTP code, as kept by `rampart otp init`.
//!
//! ```text
//! auth required pam_rampart_otp.so [nullok] [statedir=/var/lib/rampart/otp] [grace=120]
//!                                  [free_failures=3] [backoff=5] [backoff_max=900]
//!                                  [decoy=sheet|totp]
//! ```
//!
//! A refused login is delayed about 2 s (`pam_fail_delay`, as pam_unix does; `fail_delay=MS`
//! sets it). With
//! `nullok`, a user without secrets is passed over (`PAM_IGNORE`), also while the state
//! directory does not exist and for names that cannot have a secret file (`user@REALM`).
//!
//! One `pam_sm_authenticate` call does the whole login (see `rampart_otp::begin`):
//!
//! ```text
//!  lock user ─ load ─ begin ─ save ─ unlock      the hold is on disk before the prompt
//!  prompt "Password 017: " (conversation)
//!  lock user ─ load ─ finish ─ save ─ unlock     strike-out on disk before PAM_SUCCESS
//! ```
//!
//! All state changes happen inside authenticate because sshd runs keyboard-interactive
//! authentication in a child process that can be killed at any time; `pam_sm_setcred` does
//! nothing. Any error (unreadable or corrupt file, failed write, conversation failure)
//! fails the login. A panic is caught at the entry point and becomes `PAM_SYSTEM_ERR`: it
//! never unwinds into sshd.
//!
//! This crate holds the workspace's only `unsafe` code; `src/pam.rs` wraps it.
#![deny(missing_docs)]

mod ffi;
mod options;
mod pam;

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_otp::{Begin, Challenge, Kind, OsEntropy, Outcome, Store};

use ffi::*;
use options::Options;
use pam::{log, Handle};

/// Warn at login when this few passwords are left.
const LOW_WATER: usize = 20;

/// The PAM entry point for `auth` (see the crate doc).
///
/// # Safety
/// Called by libpam with a valid handle and `argc` valid argument strings.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: libpam passes argc/argv as its contract says.
    let args = unsafe { pam::args(argc, argv) };
    let handle = Handle(pamh);
    catch_unwind(AssertUnwindSafe(|| authenticate(&handle, flags, &args))).unwrap_or_else(|_| {
        log(
            libc::LOG_ERR,
            "internal error (panic caught); login refused",
        );
        PAM_SYSTEM_ERR
    })
}

/// `pam_setcred`: nothing to set; the login's outcome was decided and stored in
/// authenticate.
///
/// # Safety
/// Called by libpam; no argument is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_setcred(
    _pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    PAM_SUCCESS
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn authenticate(pamh: &Handle, flags: c_int, args: &[String]) -> c_int {
    let opts = match Options::parse(args.iter().map(String::as_str)) {
        Ok(o) => o,
        Err(e) => {
            log(libc::LOG_ERR, &format!("bad module arguments: {e}"));
            return PAM_SERVICE_ERR;
        }
    };
    pamh.fail_delay(opts.fail_delay_ms.saturating_mul(1000));
    let user = match pamh.user() {
        Ok(u) => u,
        Err(code) => return code,
    };
    let store = Store::new(&opts.statedir);
    let info = |text: &str| {
        if flags & PAM_SILENT == 0 {
            let _ = pamh.converse(PAM_TEXT_INFO, text);
        }
    };
    let error = |text: &str| {
        let _ = pamh.converse(PAM_ERROR_MSG, text);
    };

    // Step 1: pick and hold the challenge.
    let begun = (|| {
        // A name without secrets gets no lock file (nor any other file of its own).
        let Some(lock) = store.lock_existing(&user)? else {
            return Ok(None);
        };
        let Some(mut secrets) = store.load(&lock)? else {
            return Ok(None);
        };
        let b = rampart_otp::begin(&mut secrets, now(), &opts.policy, &mut OsEntropy);
        store.save(&lock, &secrets)?;
        Ok::<_, rampart_otp::StoreError>(Some(b))
    })();
    let challenge = match begun {
        Ok(Some(Begin::Ask(c))) => c,
        Ok(Some(Begin::Exhausted)) => {
            log(
                libc::LOG_WARNING,
                &format!("{user}: no one-time passwords left"),
            );
            error("No one-time passwords left; ask for a new sheet (rampart otp init).");
            return PAM_AUTH_ERR;
        }
        Ok(None) if opts.nullok => return PAM_IGNORE,
        Ok(None) => {
            // Unknown user or user without a sheet: asked and refused like a user with a
            // default secret (the same prompts, holds and back-off, the same hashing and the
            // same store reads and writes before the prompt and after the answer), so neither
            // the dialogue nor the time tells who has a sheet. The state goes to the one
            // fixed decoy file: no file is created for the name tried.
            let begun = store
                .decoy_round(|d| d.begin(&user, opts.decoy, now(), &opts.policy, &mut OsEntropy));
            let c = begun.unwrap_or_else(|e| {
                log(libc::LOG_ERR, &format!("decoy state: {e}"));
                rampart_otp::Decoys::default().begin(
                    &user,
                    opts.decoy,
                    now(),
                    &opts.policy,
                    &mut OsEntropy,
                )
            });
            if let Some(wait) = c.locked() {
                log_throttled(&user, wait);
            }
            if let Ok(Some(answer)) = pamh.converse(PAM_PROMPT_ECHO_OFF, &c.prompt()) {
                let answer = String::from_utf8_lossy(&answer).into_owned();
                let finished = store.decoy_round(|d| d.finish(&user, &c, &answer, now()));
                if let Err(e) = finished {
                    log(libc::LOG_ERR, &format!("decoy state: {e}"));
                    let _ = rampart_otp::Decoys::default().finish(&user, &c, &answer, now());
                }
                log(
                    libc::LOG_NOTICE,
                    &format!("{user}: one-time password refused"),
                );
            }
            return PAM_AUTH_ERR;
        }
        // No state directory yet, or a name that cannot have secrets (`user@REALM`): not
        // enrolled, so passed over like any other user without secrets.
        Err(e) if opts.nullok && e.is_not_enrolled() => return PAM_IGNORE,
        Err(e) => {
            log(libc::LOG_ERR, &format!("{user}: {e}"));
            return PAM_AUTH_ERR;
        }
    };
    if let Some(wait) = challenge.locked() {
        // Still asked, with the wait in the prompt (ssh's keyboard-interactive client may
        // not show a separate message); the answer is refused unchecked.
        log_throttled(&user, wait);
    }

    // Step 2: ask.
    let answer = match pamh.converse(PAM_PROMPT_ECHO_OFF, &challenge.prompt()) {
        Ok(Some(a)) => a,
        _ => return PAM_CONV_ERR,
    };
    // Not UTF-8: cannot be a right answer; it is checked as empty (and counted as a failure).
    let answer = String::from_utf8(answer).unwrap_or_else(|e| {
        wipe(e.into_bytes());
        String::new()
    });

    // Step 3: check, strike out, and store before answering.
    let result = finish(&store, &user, &challenge, &answer, &opts);
    wipe(answer.into_bytes());
    match result {
        Ok((Outcome::Accepted, remaining, kind_sheet)) => {
            if kind_sheet && remaining <= LOW_WATER {
                info(&format!(
                    "{remaining} one-time passwords left; print a new sheet soon (rampart otp init)."
                ));
            }
            PAM_SUCCESS
        }
        Ok((Outcome::Rejected, ..)) => {
            log(
                libc::LOG_NOTICE,
                &format!("{user}: one-time password refused"),
            );
            PAM_AUTH_ERR
        }
        Err(e) => {
            log(libc::LOG_ERR, &format!("{user}: {e}"));
            PAM_AUTH_ERR
        }
    }
}

fn log_throttled(user: &str, wait: u64) {
    log(
        libc::LOG_NOTICE,
        &format!("{user}: throttled after repeated failures, {wait} s left"),
    );
}

/// Overwrites a typed password before its memory is freed.
fn wipe(mut bytes: Vec<u8>) {
    bytes.fill(0);
    // Keeps the compiler from dropping the stores as dead before the deallocation.
    std::hint::black_box(&bytes);
}

fn finish(
    store: &Store,
    user: &str,
    challenge: &Challenge,
    answer: &str,
    opts: &Options,
) -> Result<(Outcome, usize, bool), rampart_otp::StoreError> {
    let revoked = || Ok((rampart_otp::decoy_finish(answer), 0, false));
    // Revoked while the user was typing: no file is created for the name.
    let Some(lock) = store.lock_existing(user)? else {
        return revoked();
    };
    let Some(mut secrets) = store.load(&lock)? else {
        return revoked();
    };
    let outcome = rampart_otp::finish(&mut secrets, challenge, answer, now(), &opts.policy);
    // The strike-out must be on disk before success is reported; if it cannot be written
    // the password would stay valid, so the login fails instead.
    store.save(&lock, &secrets)?;
    let sheet = matches!(secrets.kind, Kind::Sheet { .. });
    Ok((outcome, secrets.remaining(), sheet))
}
