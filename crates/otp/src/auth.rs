//! One login as two pure steps: [`begin`] picks what to ask, [`finish`] checks the answer.
//! Both change the [`Secrets`] they are given; the caller saves it (under the user's lock)
//! after each step, so every state change is on disk before the prompt is shown and before
//! the result is returned.
//!
//! Rules:
//! - A sheet login asks for one unused password and *holds* it until `now + grace`.
//! - While a hold is live, another login is asked for three other unused passwords at once
//!   (prefix typed once, then the three passwords) and holds nothing. This defeats the
//!   attacker who watches the user type and tries to press Enter first: the attacker is
//!   asked for passwords the user has not typed.
//! - A hold that its login never finishes (connection dropped, sshd child killed) lapses at
//!   `until`; OTPW's lock lasted 24 hours, during which every login needed three passwords.
//!   A lapsed hold counts as a failure (at its `until`), seen by the next [`begin`]: a
//!   dropped login is a refused login, so someone who drops connections at the prompt to
//!   force triple challenges on a user is throttled like someone who types wrong answers
//!   (issue 15, finding 1).
//! - A success releases the hold it was asked under: its own, or for a triple challenge the
//!   one that forced the triple (left by a dropped login); a hold placed by a login begun
//!   later is kept (issue 15, finding 2).
//! - Passwords are struck out only when the whole answer is right.
//! - Failures count towards the back-off ([`Throttle`]). A throttled login is still asked
//!   (numbers picked as usual, nothing held) with the wait in the prompt itself, `Password
//!   017 (locked for 40 s after failed logins): `, and its answer is refused unchecked and
//!   uncounted. The prompt is the only text ssh's keyboard-interactive client surely shows,
//!   and an unknown user ([`Decoys`](crate::Decoys)) is asked and locked out the same way.

use crate::format::{check_prefix, check_user};
use crate::kdf::SALT_LEN;
use crate::totp;
use crate::{Entropy, Entry, Held, KdfParams, Kind, Secrets, SecretsError, Throttle};

/// Scratch codes: digits each. Eight digits (26.6 bits) behind the back-off is what
/// google-authenticator-libpam uses too.
pub const SCRATCH_DIGITS: usize = 8;

/// The knobs of a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Seconds a challenge is held: match sshd's `LoginGraceTime` (default 120 s).
    pub grace: u64,
    /// Failures allowed before back-off starts.
    pub free_failures: u32,
    /// First back-off delay, seconds; doubles with each further failure.
    pub backoff_base: u64,
    /// Longest back-off delay, seconds.
    pub backoff_max: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            grace: 120,
            free_failures: 3,
            backoff_base: 5,
            backoff_max: 15 * 60,
        }
    }
}

/// What a login is asked.
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    pub(crate) numbers: Vec<u16>,
    pub(crate) token: Option<[u8; 16]>,
    pub(crate) totp: bool,
    pub(crate) decoy: bool,
    /// Seconds of back-off left when asked: the answer is refused unchecked.
    pub(crate) locked: Option<u64>,
    /// The token of the hold that made this a triple challenge: a success releases it.
    pub(crate) over: Option<[u8; 16]>,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token identifies the hold; keep it out of logs.
        f.debug_struct("Challenge")
            .field("numbers", &self.numbers)
            .field("holds", &self.token.is_some())
            .field("totp", &self.totp)
            .field("locked", &self.locked)
            .field("over_hold", &self.over.is_some())
            .finish()
    }
}

impl Challenge {
    /// The entry numbers asked for (empty for TOTP).
    pub fn numbers(&self) -> &[u16] {
        &self.numbers
    }

    /// Whether this is the triple challenge of a concurrent login.
    pub fn is_triple(&self) -> bool {
        self.numbers.len() == 3
    }

    /// Seconds of back-off left when the login was asked, if it was throttled: then the
    /// answer is refused whatever it is.
    pub fn locked(&self) -> Option<u64> {
        self.locked
    }

    /// The prompt: `Password 017: `, `Password 017/153/230: ` or `Verification code: `;
    /// throttled, `Password 017 (locked for 40 s after failed logins): `.
    pub fn prompt(&self) -> String {
        let ask = if self.totp {
            "Verification code".to_string()
        } else {
            let nums: Vec<String> = self.numbers.iter().map(|n| format!("{n:03}")).collect();
            format!("Password {}", nums.join("/"))
        };
        match self.locked {
            Some(wait) => format!("{ask} (locked for {wait} s after failed logins): "),
            None => format!("{ask}: "),
        }
    }
}

/// The result of [`begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Ask this (when throttled, a challenge whose answer is refused: see
    /// [`Challenge::locked`]).
    Ask(Challenge),
    /// No unused passwords left (or too few for a triple challenge): the user needs a new
    /// sheet.
    Exhausted,
}

/// The result of [`finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The answer was right; the passwords are struck out.
    Accepted,
    /// Wrong answer, a password used meanwhile by another login, or a throttled user.
    Rejected,
}

/// Picks the challenge for a login at `now` and records a hold on it in `secrets`.
pub fn begin(secrets: &mut Secrets, now: u64, policy: &Policy, rng: &mut dyn Entropy) -> Begin {
    if let Some(h) = secrets.held.filter(|h| h.until <= now) {
        // Its login never answered: a failure, dated when the hold lapsed.
        secrets.held = None;
        let at = h.until.max(secrets.throttle.last);
        secrets.throttle.fail(at);
    }
    let wait = secrets.throttle.wait(
        now,
        policy.free_failures,
        policy.backoff_base,
        policy.backoff_max,
    );
    let locked = (wait > 0).then_some(wait);
    if let Kind::Totp { .. } = secrets.kind {
        return Begin::Ask(Challenge {
            numbers: Vec::new(),
            token: None,
            totp: true,
            decoy: false,
            locked,
            over: None,
        });
    }
    let unused: Vec<u16> = secrets
        .entries
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            matches!(e, Entry::Unused { .. })
                && !matches!(secrets.held, Some(h) if usize::from(h.number) == i + 1)
        })
        .map(|(i, _)| i as u16 + 1)
        .collect();
    let want = if secrets.held.is_some() { 3 } else { 1 };
    if unused.len() < want {
        return Begin::Exhausted;
    }
    let numbers = pick(rng, unused, want);
    // A throttled login holds nothing: its answer is refused anyway.
    let token = if want == 1 && locked.is_none() {
        let mut token = [0u8; 16];
        rng.fill(&mut token);
        secrets.held = Some(Held {
            number: numbers[0],
            until: now.saturating_add(policy.grace),
            token,
        });
        Some(token)
    } else {
        None
    };
    Begin::Ask(Challenge {
        numbers,
        token,
        totp: false,
        decoy: false,
        locked,
        over: if want == 3 {
            secrets.held.map(|h| h.token)
        } else {
            None
        },
    })
}

/// `want` distinct numbers from `pool`, in random order (partial Fisher–Yates).
pub(crate) fn pick(rng: &mut dyn Entropy, mut pool: Vec<u16>, want: usize) -> Vec<u16> {
    for i in 0..want {
        let j = i + rng.below((pool.len() - i) as u32) as usize;
        pool.swap(i, j);
    }
    pool.truncate(want);
    pool
}

/// Checks `answer` to `challenge` at `now`, strikes out what it used, releases the hold
/// and counts a failure.
pub fn finish(
    secrets: &mut Secrets,
    challenge: &Challenge,
    answer: &str,
    now: u64,
    policy: &Policy,
) -> Outcome {
    if challenge.decoy {
        return decoy_finish(answer);
    }
    if challenge.locked.is_some() {
        // Asked while throttled: refused unchecked, not counted, nothing released (it
        // held nothing); the same work as an unknown user's locked refusal.
        refusal_work(challenge, answer);
        return Outcome::Rejected;
    }
    if let (Some(t), Some(h)) = (challenge.token, secrets.held) {
        if h.token == t {
            secrets.held = None;
        }
    }
    // Another login may have failed in the meantime; its back-off applies to us too.
    let throttled = secrets.throttle.wait(
        now,
        policy.free_failures,
        policy.backoff_base,
        policy.backoff_max,
    ) > 0;
    let ok = !throttled
        && match &mut secrets.kind {
            Kind::Sheet { length } => check_sheet(
                &mut secrets.entries,
                secrets.kdf,
                *length,
                challenge,
                answer,
            ),
            Kind::Totp {
                key,
                digits,
                period,
                last_step,
            } => {
                let given: String = answer.chars().filter(|c| !c.is_whitespace()).collect();
                if given.len() == SCRATCH_DIGITS && given.bytes().all(|b| b.is_ascii_digit()) {
                    check_scratch(&mut secrets.entries, secrets.kdf, &given)
                } else {
                    match totp::verify(key, &given, now, *period, *digits, *last_step) {
                        Some(step) => {
                            *last_step = step;
                            true
                        }
                        None => false,
                    }
                }
            }
        };
    if ok {
        secrets.throttle = Default::default();
        // A hold older than this login (left by a dropped one) is released too.
        if let (Some(o), Some(h)) = (challenge.over, secrets.held) {
            if h.token == o {
                secrets.held = None;
            }
        }
        Outcome::Accepted
    } else {
        secrets.throttle.fail(now);
        Outcome::Rejected
    }
}

/// Splits `prefix pw1 pw2 …` into the prefix and `n` passwords of `len` characters each,
/// reading from the end and ignoring whitespace among the passwords; passwords are
/// lower-cased (the alphabet has no upper case).
fn split_answer(answer: &str, n: usize, len: usize) -> Option<(&str, Vec<String>)> {
    let mut chars = Vec::with_capacity(n * len);
    let mut cut = answer.len();
    for (i, c) in answer.char_indices().rev() {
        if chars.len() == n * len {
            break;
        }
        cut = i;
        if !c.is_whitespace() {
            chars.push(c.to_ascii_lowercase());
        }
    }
    if chars.len() < n * len {
        return None;
    }
    chars.reverse();
    let prefix = answer[..cut].trim_end();
    let pws = chars.chunks(len).map(|c| c.iter().collect()).collect();
    Some((prefix, pws))
}

fn check_sheet(
    entries: &mut [Entry],
    kdf: KdfParams,
    len: usize,
    challenge: &Challenge,
    answer: &str,
) -> bool {
    let Some((prefix, pws)) = split_answer(answer, challenge.numbers.len(), len) else {
        // Still spend the hashing time: a short answer must not be faster to refuse.
        let _ = kdf.hash(&[0; SALT_LEN], b"", answer.as_bytes());
        return false;
    };
    // Check every password before deciding, so the time does not tell which was wrong.
    let mut all = true;
    for (n, pw) in challenge.numbers.iter().zip(&pws) {
        let ok = match entries.get(usize::from(*n).wrapping_sub(1)) {
            Some(Entry::Unused { salt, hash }) => {
                kdf.verify(salt, hash, prefix.as_bytes(), pw.as_bytes())
            }
            _ => {
                let _ = kdf.hash(&[0; SALT_LEN], prefix.as_bytes(), pw.as_bytes());
                false
            }
        };
        all &= ok;
    }
    if all {
        for n in &challenge.numbers {
            entries[usize::from(*n) - 1] = Entry::Used;
        }
    }
    all
}

fn check_scratch(entries: &mut [Entry], kdf: KdfParams, code: &str) -> bool {
    let mut hit = None;
    for (i, e) in entries.iter().enumerate() {
        if let Entry::Unused { salt, hash } = e {
            if kdf.verify(salt, hash, b"", code.as_bytes()) && hit.is_none() {
                hit = Some(i);
            }
        }
    }
    match hit {
        Some(i) => {
            entries[i] = Entry::Used;
            true
        }
        None => false,
    }
}

/// Refuses a decoy answer after the work a real check of one password costs (one
/// Argon2id hash at the default parameters), so unknown users take as long as known ones.
pub fn decoy_finish(answer: &str) -> Outcome {
    let _ = KdfParams::DEFAULT.hash(&[0; SALT_LEN], b"", answer.as_bytes());
    Outcome::Rejected
}

/// Length of a default sheet's passwords (64 bits).
pub(crate) const DEFAULT_LENGTH: usize = 13;
/// Scratch codes `rampart otp init --totp` makes by default.
pub(crate) const DEFAULT_SCRATCH: usize = 5;

/// The Argon2id work (default parameters) a check of `answer` to `challenge` costs for a
/// default sheet or TOTP secret, done for answers refused unchecked (throttled logins,
/// unknown users): one hash per password when the answer is long enough to hold them all,
/// else one; for TOTP, one per scratch code when the answer looks like one, else none.
pub(crate) fn refusal_work(challenge: &Challenge, answer: &str) {
    let hashes = if challenge.totp {
        let given: String = answer.chars().filter(|c| !c.is_whitespace()).collect();
        if given.len() == SCRATCH_DIGITS && given.bytes().all(|b| b.is_ascii_digit()) {
            DEFAULT_SCRATCH
        } else {
            0
        }
    } else {
        let n = challenge.numbers.len();
        if split_answer(answer, n, DEFAULT_LENGTH).is_some() {
            n
        } else {
            1
        }
    };
    for _ in 0..hashes {
        let _ = KdfParams::DEFAULT.hash(&[0; SALT_LEN], b"", answer.as_bytes());
    }
}

impl Secrets {
    /// Lifts the back-off and releases any hold, as a success would, without using a
    /// password: what an administrator does for a user locked out by someone else's
    /// failures (`rampart otp unlock`). Returns whether there was anything to lift.
    pub fn unlock(&mut self) -> bool {
        let had = self.throttle != Throttle::default() || self.held.is_some();
        self.throttle = Throttle::default();
        self.held = None;
        had
    }

    /// The secret file for a TOTP user: the key, and hashed scratch codes.
    pub fn from_totp(
        user: &str,
        key: &[u8],
        scratch: &[String],
        kdf: KdfParams,
        rng: &mut dyn Entropy,
    ) -> Result<Secrets, SecretsError> {
        check_user(user)?;
        check_prefix("")?;
        kdf.validate()?;
        // A file with more entries would not parse, locking the user out.
        if scratch.len() > crate::MAX_COUNT {
            return Err(SecretsError::Scratch(scratch.len()));
        }
        let entries = scratch
            .iter()
            .map(|c| {
                let (salt, hash) = kdf.new_entry(rng, b"", c.as_bytes())?;
                Ok(Entry::Unused { salt, hash })
            })
            .collect::<Result<_, SecretsError>>()?;
        Ok(Secrets {
            user: user.to_string(),
            kind: Kind::Totp {
                key: key.to_vec(),
                digits: 6,
                period: 30,
                last_step: 0,
            },
            kdf,
            entries,
            held: None,
            throttle: Default::default(),
        })
    }
}

/// `n` random scratch codes of [`SCRATCH_DIGITS`] digits.
pub fn scratch_codes(rng: &mut dyn Entropy, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("{:08}", rng.below(100_000_000)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheet::tests::Seeded;
    use crate::{Sheet, Throttle};

    const POLICY: Policy = Policy {
        grace: 120,
        free_failures: 3,
        backoff_base: 5,
        backoff_max: 900,
    };

    fn setup(count: usize) -> (Sheet, Secrets, Seeded) {
        let mut rng = Seeded(42);
        let sheet = Sheet::generate(&mut rng, count, 64).unwrap();
        let secrets =
            Secrets::from_sheet("alice", &sheet, "my pre", KdfParams::TEST, &mut rng).unwrap();
        (sheet, secrets, rng)
    }

    fn ask(b: Begin) -> Challenge {
        match b {
            Begin::Ask(c) => c,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn answer(sheet: &Sheet, prefix: &str, c: &Challenge) -> String {
        let pws: Vec<&str> = c
            .numbers()
            .iter()
            .map(|n| sheet.password(*n).unwrap())
            .collect();
        format!("{prefix}{}", pws.join(""))
    }

    #[test]
    fn right_password_logs_in_once() {
        let (sheet, mut s, mut rng) = setup(10);
        let c = ask(begin(&mut s, 1000, &POLICY, &mut rng));
        assert_eq!(c.numbers().len(), 1);
        assert_eq!(c.prompt(), format!("Password {:03}: ", c.numbers()[0]));
        assert!(s.held.is_some());
        let a = answer(&sheet, "my pre", &c);
        assert_eq!(finish(&mut s, &c, &a, 1005, &POLICY), Outcome::Accepted);
        assert_eq!(s.remaining(), 9);
        assert_eq!(s.held, None);
        assert_eq!(s.entry(c.numbers()[0]), Some(&Entry::Used));
        // Replaying the same challenge and answer fails: the entry is struck out.
        assert_eq!(finish(&mut s, &c, &a, 1006, &POLICY), Outcome::Rejected);
        // A new login is never asked for a used entry.
        for t in 0..50 {
            let c2 = ask(begin(&mut s, 2000 + t * 200, &POLICY, &mut rng));
            assert_ne!(c2.numbers()[0], c.numbers()[0]);
        }
    }

    #[test]
    fn spaces_and_case_in_the_password_are_forgiven_not_in_the_prefix() {
        let (sheet, mut s, mut rng) = setup(3);
        let c = ask(begin(&mut s, 10, &POLICY, &mut rng));
        let pw = sheet.password(c.numbers()[0]).unwrap();
        let typed = format!("my pre  {} ", Sheet::grouped(pw).to_uppercase());
        assert_eq!(finish(&mut s, &c, &typed, 11, &POLICY), Outcome::Accepted);

        for wrong in [
            "MY PREPW".to_string(),
            "myprePW".to_string(),
            "PW".to_string(),
            "my preXPW".to_string(),
            "my pre".to_string(),
            String::new(),
        ] {
            s.held = None;
            let c = ask(begin(&mut s, 20, &POLICY, &mut rng));
            let typed = wrong.replace("PW", sheet.password(c.numbers()[0]).unwrap());
            assert_eq!(
                finish(&mut s, &c, &typed, 20, &POLICY),
                Outcome::Rejected,
                "{wrong}"
            );
            s.throttle = Throttle::default();
        }
    }

    #[test]
    fn wrong_answers_strike_nothing() {
        let (sheet, mut s, mut rng) = setup(5);
        let c = ask(begin(&mut s, 10, &POLICY, &mut rng));
        let n = c.numbers()[0];
        let pw = sheet.password(n).unwrap();
        let other = sheet.password(if n == 1 { 2 } else { 1 }).unwrap();
        assert_eq!(
            finish(&mut s, &c, &format!("wrong{pw}"), 11, &POLICY),
            Outcome::Rejected
        );
        assert_eq!(
            finish(&mut s, &c, &format!("my pre{other}"), 11, &POLICY),
            Outcome::Rejected
        );
        assert_eq!(s.remaining(), 5);
        assert_eq!(s.held, None, "a finished login releases its hold");
        assert_eq!(s.throttle.failures, 2);
    }

    #[test]
    fn concurrent_login_gets_three_other_passwords() {
        let (sheet, mut s, mut rng) = setup(10);
        let first = ask(begin(&mut s, 100, &POLICY, &mut rng));
        let second = ask(begin(&mut s, 101, &POLICY, &mut rng));
        assert!(second.is_triple());
        assert!(!second.numbers().contains(&first.numbers()[0]));
        let mut uniq = second.numbers().to_vec();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 3);
        let p = second.prompt();
        assert!(
            p.starts_with("Password ") && p.matches('/').count() == 2,
            "{p}"
        );
        // The attacker who saw the user's password cannot answer the triple challenge.
        let seen = answer(&sheet, "my pre", &first);
        assert_eq!(
            finish(&mut s, &second, &seen, 102, &POLICY),
            Outcome::Rejected
        );
        // The hold belongs to the first login: the second does not release it.
        assert!(s.held.is_some());
        // Triple answered correctly (prefix once, three passwords, spaces allowed).
        let third = ask(begin(&mut s, 103, &POLICY, &mut rng));
        assert!(third.is_triple());
        let pws: Vec<String> = third
            .numbers()
            .iter()
            .map(|n| Sheet::grouped(sheet.password(*n).unwrap()))
            .collect();
        let a = format!("my pre {}", pws.join(" "));
        assert_eq!(finish(&mut s, &third, &a, 104, &POLICY), Outcome::Accepted);
        assert_eq!(s.remaining(), 7);
        // The success released the hold it was asked under (issue 15, finding 2).
        assert_eq!(s.held, None);
        // The first login still succeeds with its own password.
        let a = answer(&sheet, "my pre", &first);
        assert_eq!(finish(&mut s, &first, &a, 105, &POLICY), Outcome::Accepted);
        assert_eq!(s.held, None);
        assert_eq!(s.remaining(), 6);
    }

    /// Issue 15, finding 1: a login dropped at the prompt counts as a failure once its
    /// hold lapses, so dropping connections to force triple challenges is throttled like
    /// wrong answers; a success still resets the count.
    #[test]
    fn issue15_a_dropped_login_counts_as_a_failure() {
        let (sheet, mut s, mut rng) = setup(20);
        let mut t = 100;
        for dropped in 0..3 {
            let c = ask(begin(&mut s, t, &POLICY, &mut rng));
            assert_eq!((c.locked(), s.throttle.failures), (None, dropped), "at {t}");
            assert!(s.held.is_some());
            t += POLICY.grace + 1;
        }
        // The third dropped hold lapsed: the user is throttled from its end, and a
        // throttled login holds nothing, so no more triples are forced meanwhile.
        let c = ask(begin(&mut s, t, &POLICY, &mut rng));
        assert_eq!(s.throttle.failures, 3);
        assert_eq!(s.throttle.last, t - 1);
        assert_eq!(c.locked(), Some(POLICY.backoff_base - 1));
        assert_eq!(s.held, None);
        let c = ask(begin(&mut s, t + 10, &POLICY, &mut rng));
        assert!(!c.is_triple() && c.locked().is_none());
        let a = answer(&sheet, "my pre", &c);
        assert_eq!(finish(&mut s, &c, &a, t + 11, &POLICY), Outcome::Accepted);
        assert_eq!(s.throttle, Throttle::default());
    }

    /// Issue 15, finding 2: a success clears the hold a dropped login left, so the next
    /// login is asked for one password again, not three.
    #[test]
    fn issue15_a_success_clears_the_hold_of_a_dropped_login() {
        let (sheet, mut s, mut rng) = setup(20);
        let _dropped = ask(begin(&mut s, 100, &POLICY, &mut rng));
        for t in [110, 120] {
            let c = ask(begin(&mut s, t, &POLICY, &mut rng));
            assert!(c.is_triple(), "at {t}");
            let a = answer(&sheet, "my pre", &c);
            assert_eq!(finish(&mut s, &c, &a, t + 1, &POLICY), Outcome::Accepted);
            assert_eq!(s.held, None, "at {t}");
            // The next login is asked one password (it then holds it: answer it).
            let c = ask(begin(&mut s, t + 2, &POLICY, &mut rng));
            assert!(!c.is_triple(), "at {t}");
            let a = answer(&sheet, "my pre", &c);
            assert_eq!(finish(&mut s, &c, &a, t + 3, &POLICY), Outcome::Accepted);
            // Drop another for the next round.
            let _ = ask(begin(&mut s, t + 4, &POLICY, &mut rng));
        }
        // A failure does not release another login's hold.
        let c = ask(begin(&mut s, 130, &POLICY, &mut rng));
        assert!(c.is_triple());
        assert_eq!(finish(&mut s, &c, "nope", 131, &POLICY), Outcome::Rejected);
        assert!(s.held.is_some());
    }

    #[test]
    fn a_held_challenge_expires_after_the_grace_time() {
        let (_, mut s, mut rng) = setup(10);
        let _killed = ask(begin(&mut s, 100, &POLICY, &mut rng));
        assert!(ask(begin(&mut s, 219, &POLICY, &mut rng)).is_triple());
        let after = ask(begin(&mut s, 220, &POLICY, &mut rng));
        assert!(!after.is_triple());
        assert_eq!(s.held.unwrap().until, 340);
    }

    #[test]
    fn a_stale_login_cannot_release_a_newer_hold() {
        let (sheet, mut s, mut rng) = setup(10);
        let old = ask(begin(&mut s, 100, &POLICY, &mut rng));
        let new = ask(begin(&mut s, 300, &POLICY, &mut rng));
        assert!(!new.is_triple());
        let a = answer(&sheet, "my pre", &old);
        assert_eq!(finish(&mut s, &old, &a, 301, &POLICY), Outcome::Accepted);
        assert_eq!(s.held.map(|h| h.number), Some(new.numbers()[0]));
    }

    #[test]
    fn exhaustion() {
        let (sheet, mut s, mut rng) = setup(3);
        let c = ask(begin(&mut s, 1, &POLICY, &mut rng));
        assert_eq!(
            begin(&mut s, 2, &POLICY, &mut rng),
            Begin::Exhausted,
            "2 left, 3 needed"
        );
        let a = answer(&sheet, "my pre", &c);
        assert_eq!(finish(&mut s, &c, &a, 3, &POLICY), Outcome::Accepted);
        for t in 4..6 {
            let c = ask(begin(&mut s, t, &POLICY, &mut rng));
            let a = answer(&sheet, "my pre", &c);
            assert_eq!(finish(&mut s, &c, &a, t, &POLICY), Outcome::Accepted);
        }
        assert_eq!(s.remaining(), 0);
        assert_eq!(begin(&mut s, 10, &POLICY, &mut rng), Begin::Exhausted);
    }

    #[test]
    fn throttling_backs_off_and_success_resets() {
        let (sheet, mut s, mut rng) = setup(10);
        for t in 0..3 {
            let c = ask(begin(&mut s, 100 + t, &POLICY, &mut rng));
            assert_eq!(
                finish(&mut s, &c, "nope", 100 + t, &POLICY),
                Outcome::Rejected
            );
        }
        // Third failure at 102: wait 5 s. A throttled login is still asked, with the wait
        // in the prompt, holds nothing, and its answer is refused even when right, without
        // counting as a failure (issue 15, finding 2).
        let locked = ask(begin(&mut s, 103, &POLICY, &mut rng));
        assert_eq!(locked.locked(), Some(4));
        assert_eq!(
            locked.prompt(),
            format!(
                "Password {:03} (locked for 4 s after failed logins): ",
                locked.numbers()[0]
            )
        );
        assert_eq!(s.held, None, "a throttled login holds nothing");
        let a = answer(&sheet, "my pre", &locked);
        assert_eq!(finish(&mut s, &locked, &a, 104, &POLICY), Outcome::Rejected);
        assert_eq!((s.throttle.failures, s.remaining()), (3, 10));
        let c = ask(begin(&mut s, 107, &POLICY, &mut rng));
        assert_eq!(c.locked(), None);
        assert_eq!(finish(&mut s, &c, "nope", 107, &POLICY), Outcome::Rejected);
        assert_eq!(ask(begin(&mut s, 116, &POLICY, &mut rng)).locked(), Some(1));
        // A login begun before the back-off that finishes during it is refused, even with
        // the right password, and the password stays unused.
        let c = ask(begin(&mut s, 117, &POLICY, &mut rng));
        let other = ask(begin(&mut s, 117, &POLICY, &mut rng));
        assert_eq!(
            finish(&mut s, &other, "nope", 118, &POLICY),
            Outcome::Rejected
        );
        let a = answer(&sheet, "my pre", &c);
        assert_eq!(finish(&mut s, &c, &a, 119, &POLICY), Outcome::Rejected);
        assert_eq!(s.remaining(), 10);
        // After the wait, the right password works and the count resets.
        let wait = ask(begin(&mut s, 120, &POLICY, &mut rng))
            .locked()
            .expect("throttled");
        let c = ask(begin(&mut s, 120 + wait, &POLICY, &mut rng));
        let a = answer(&sheet, "my pre", &c);
        assert_eq!(
            finish(&mut s, &c, &a, 120 + wait, &POLICY),
            Outcome::Accepted
        );
        assert_eq!(s.throttle, Throttle::default());
    }

    #[test]
    fn totp_codes_and_scratch_codes() {
        let mut rng = Seeded(5);
        let key = b"12345678901234567890";
        let scratch = scratch_codes(&mut rng, 3);
        assert!(scratch.iter().all(|c| c.len() == 8));
        let mut s = Secrets::from_totp("bob", key, &scratch, KdfParams::TEST, &mut rng).unwrap();
        let now = 1_700_000_000;
        let c = ask(begin(&mut s, now, &POLICY, &mut rng));
        assert_eq!(c.prompt(), "Verification code: ");
        let code = totp::code(key, now, 30, 6);
        assert_eq!(finish(&mut s, &c, &code, now, &POLICY), Outcome::Accepted);
        assert_eq!(
            finish(&mut s, &c, &code, now + 1, &POLICY),
            Outcome::Rejected,
            "replay"
        );
        let next = totp::code(key, now + 30, 30, 6);
        assert_eq!(
            finish(&mut s, &c, &next, now + 31, &POLICY),
            Outcome::Accepted
        );
        assert_eq!(
            finish(&mut s, &c, &scratch[1], now + 32, &POLICY),
            Outcome::Accepted
        );
        assert_eq!(
            finish(&mut s, &c, &scratch[1], now + 33, &POLICY),
            Outcome::Rejected
        );
        assert_eq!(s.remaining(), 2);
        let text = s.emit();
        assert_eq!(Secrets::parse(&text), Ok(s));
    }

    #[test]
    fn at_most_999_scratch_codes() {
        let codes = vec!["12345678".to_string(); crate::MAX_COUNT + 1];
        assert_eq!(
            Secrets::from_totp("hana", &[1; 20], &codes, KdfParams::TEST, &mut Seeded(1)),
            Err(SecretsError::Scratch(1000))
        );
    }

    #[test]
    fn decoys_look_like_challenges_and_always_fail() {
        let mut rng = Seeded(8);
        let c = crate::Decoys::default().begin("x", crate::DecoyKind::Sheet, 1, &POLICY, &mut rng);
        assert_eq!(c.numbers().len(), 1);
        assert!((1..=280).contains(&c.numbers()[0]));
        let (_, mut s, _) = setup(1);
        assert_eq!(finish(&mut s, &c, "x", 1, &POLICY), Outcome::Rejected);
    }

    /// A TOTP user is throttled the same way: asked, with the wait in the prompt.
    #[test]
    fn a_throttled_totp_user_is_asked_with_the_wait() {
        let mut rng = Seeded(6);
        let key = b"12345678901234567890";
        let mut s = Secrets::from_totp("bob", key, &[], KdfParams::TEST, &mut rng).unwrap();
        s.throttle = Throttle {
            failures: 3,
            last: 1000,
        };
        let c = ask(begin(&mut s, 1001, &POLICY, &mut rng));
        assert_eq!(
            c.prompt(),
            "Verification code (locked for 4 s after failed logins): "
        );
        let code = totp::code(key, 1001, 30, 6);
        assert_eq!(finish(&mut s, &c, &code, 1001, &POLICY), Outcome::Rejected);
        assert_eq!(s.throttle.failures, 3);
    }

    /// The property behind "unknown users are refused in the same time": a decoy refusal
    /// does exactly the hashing work of a known user's refused single-password login (one
    /// Argon2id evaluation at the default parameters, which `rampart otp init` writes),
    /// whatever was typed. Counted, not timed; the timing is in BENCHMARKS.md.
    #[test]
    fn decoys_do_the_same_hashing_work_as_a_refused_login() {
        use crate::kdf::evaluations;
        let mut rng = Seeded(9);
        let sheet = Sheet::generate(&mut rng, 2, 64).unwrap();
        let mut s =
            Secrets::from_sheet("alice", &sheet, "pre", KdfParams::DEFAULT, &mut rng).unwrap();
        // Entry 2 struck out by another login while this one was typing.
        s.entries[1] = Entry::Used;
        let full_length = format!("pre{}", "x".repeat(sheet.password(1).unwrap().len()));
        for typed in [full_length.as_str(), "pre", ""] {
            for n in [1, 2] {
                let c = Challenge {
                    numbers: vec![n],
                    token: None,
                    totp: false,
                    decoy: false,
                    locked: None,
                    over: None,
                };
                s.throttle = Throttle::default();
                evaluations::take();
                assert_eq!(finish(&mut s, &c, typed, 11, &POLICY), Outcome::Rejected);
                let known = evaluations::take();
                assert_eq!(known, [KdfParams::DEFAULT], "typed {typed:?} for {n}");
                let mut decoys = crate::Decoys::default();
                let decoy = decoys.begin("bob", crate::DecoyKind::Sheet, 10, &POLICY, &mut rng);
                assert_eq!(
                    decoy.numbers().len(),
                    c.numbers().len(),
                    "same prompt shape"
                );
                evaluations::take();
                assert_eq!(decoys.finish("bob", &decoy, typed, 11), Outcome::Rejected);
                assert_eq!(evaluations::take(), known, "typed {typed:?} for {n}");
                // Locked out, both refuse unchecked after the same work.
                let mut locked = c.clone();
                locked.locked = Some(5);
                let mut decoy = decoy.clone();
                decoy.locked = Some(5);
                assert_eq!(
                    finish(&mut s, &locked, typed, 11, &POLICY),
                    Outcome::Rejected
                );
                let known = evaluations::take();
                assert_eq!(decoys.finish("bob", &decoy, typed, 11), Outcome::Rejected);
                assert_eq!(evaluations::take(), known, "locked, typed {typed:?}");
            }
        }
    }

    #[test]
    fn split_answer_reads_from_the_end() {
        assert_eq!(
            split_answer("my pre AbCd eFgh", 2, 4),
            Some(("my pre", vec!["abcd".to_string(), "efgh".to_string()]))
        );
        assert_eq!(
            split_answer("abcd", 1, 4),
            Some(("", vec!["abcd".to_string()]))
        );
        assert_eq!(split_answer("abc", 1, 4), None);
        assert_eq!(
            split_answer("pré€ab cd", 1, 4),
            Some(("pré€", vec!["abcd".to_string()]))
        );
    }
}
