//! Logins for names without secrets, made to look like logins of an enrolled sheet user.
//!
//! What an observer compares is the dialogue (prompt texts and count, numbers asked,
//! messages), the result and the time. An unknown name is asked like a user with a
//! default sheet ([`DECOY_SHEET`] passwords, or a TOTP secret with `decoy=totp`): one
//! number, or three while an earlier login of the same name is still "holding" its
//! challenge; after [`Policy::free_failures`](crate::Policy) refusals it is locked out with
//! the same back-off and the same prompt text as a real user; the refusal costs the same
//! Argon2id work ([`refusal_work`]) and, through [`Store::decoy_round`](crate::Store), the
//! same disk work on one fixed file.
//!
//! That needs per-name state (failures, last failure, hold) without a file per name: it
//! is [`Decoys`], one small table kept in the fixed `.decoy` file, at most [`MAX_DECOYS`]
//! names. A name without state (no failures, no hold) is not kept; a lapsed hold is kept
//! until the name's next login counts it as a failure.
//!
//! DoS warning / limit: the table is bounded; when it is full the name with the oldest
//! activity is dropped, which to that name looks like a success resetting its count. An
//! observer who first fails [`MAX_DECOYS`] other names can therefore tell an unknown name
//! by its lost back-off; each of those names costs its own refused logins.

use crate::auth::{pick, refusal_work, Challenge, Outcome, Policy};
use crate::format::check_user;
use crate::{Entropy, Throttle};

/// Names the decoy table keeps: the table then stays under 128 KiB (a name of at most 64
/// bytes and three numbers per line), read and written on every unknown-user login.
pub const MAX_DECOYS: usize = 1024;

/// Passwords on the sheet an unknown user seems to have: `rampart otp init`'s default.
pub const DECOY_SHEET: u16 = 280;

/// What an unknown user seems to have: choose what most enrolled users have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DecoyKind {
    /// A default sheet: `Password 017: `.
    #[default]
    Sheet,
    /// A TOTP secret: `Verification code: `.
    Totp,
}

/// One name's state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DecoyEntry {
    name: String,
    throttle: Throttle,
    /// End of the hold of the name's last single-password challenge (0: none).
    held_until: u64,
}

impl DecoyEntry {
    /// Failures, or a hold (live, or lapsed and so a failure to count at the next
    /// `begin`, as for an enrolled user).
    fn live(&self) -> bool {
        self.throttle.failures > 0 || self.held_until != 0
    }
    fn activity(&self) -> u64 {
        self.throttle.last.max(self.held_until)
    }
}

/// The per-name state of logins for names without secrets (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoys {
    entries: Vec<DecoyEntry>,
}

/// First line of the `.decoy` file.
const HEADER: &str = "rampart-decoys 1";

impl Decoys {
    /// Reads the table; anything unreadable (another version, a damaged line, a name that
    /// is not a user name) is dropped: this state only shapes refusals, never grants a login.
    pub fn parse(text: &str) -> Decoys {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Decoys::default();
        }
        let entries = lines
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let [name, failures, last, held_until] = f[..] else {
                    return None;
                };
                check_user(name).ok()?;
                Some(DecoyEntry {
                    name: name.to_string(),
                    throttle: Throttle {
                        failures: failures.parse().ok()?,
                        last: last.parse().ok()?,
                    },
                    held_until: held_until.parse().ok()?,
                })
            })
            .take(MAX_DECOYS)
            .collect();
        Decoys { entries }
    }

    /// The table as text (`NAME FAILURES LAST HELD_UNTIL` lines after a header).
    pub fn emit(&self) -> String {
        let mut out = format!("{HEADER}\n");
        for e in &self.entries {
            out.push_str(&format!(
                "{} {} {} {}\n",
                e.name, e.throttle.failures, e.throttle.last, e.held_until
            ));
        }
        out
    }

    /// Names with state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no name has state.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of `user`, created (dropping the least recently active name if full).
    fn entry(&mut self, user: &str) -> &mut DecoyEntry {
        self.entries.retain(|e| e.live() || e.name == user);
        let i = match self.entries.iter().position(|e| e.name == user) {
            Some(i) => i,
            None => {
                if self.entries.len() >= MAX_DECOYS {
                    let oldest = (0..self.entries.len())
                        .min_by_key(|&i| self.entries[i].activity())
                        .expect("table is full, so not empty");
                    self.entries.swap_remove(oldest);
                }
                self.entries.push(DecoyEntry {
                    name: user.to_string(),
                    throttle: Throttle::default(),
                    held_until: 0,
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[i]
    }

    /// What `begin` would ask `user` if `user` had a default secret of `kind`, recording
    /// the hold a real login would.
    pub fn begin(
        &mut self,
        user: &str,
        kind: DecoyKind,
        now: u64,
        policy: &Policy,
        rng: &mut dyn Entropy,
    ) -> Challenge {
        let e = self.entry(user);
        if e.held_until != 0 && e.held_until <= now {
            // As `begin`: a lapsed hold is a failure at its end.
            let at = e.held_until.max(e.throttle.last);
            e.held_until = 0;
            e.throttle.fail(at);
        }
        let wait = e.throttle.wait(
            now,
            policy.free_failures,
            policy.backoff_base,
            policy.backoff_max,
        );
        let locked = (wait > 0).then_some(wait);
        if kind == DecoyKind::Totp {
            return Challenge {
                numbers: Vec::new(),
                token: None,
                totp: true,
                decoy: true,
                locked,
                over: None,
            };
        }
        let want = if e.held_until > now { 3 } else { 1 };
        if want == 1 && locked.is_none() {
            e.held_until = now.saturating_add(policy.grace);
        }
        Challenge {
            numbers: pick(rng, (1..=DECOY_SHEET).collect(), want),
            token: None,
            totp: false,
            decoy: true,
            locked,
            over: None,
        }
    }

    /// Refuses the answer to a decoy challenge after the work a real refusal costs, and
    /// counts the failure as `finish` would (a locked challenge is not counted).
    pub fn finish(&mut self, user: &str, challenge: &Challenge, answer: &str, now: u64) -> Outcome {
        refusal_work(challenge, answer);
        if challenge.locked.is_some() {
            return Outcome::Rejected;
        }
        let e = self.entry(user);
        if challenge.numbers.len() == 1 {
            e.held_until = 0;
        }
        e.throttle.fail(now);
        Outcome::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheet::tests::Seeded;
    use crate::{begin, finish, Begin, KdfParams, Secrets, Sheet};

    const POLICY: Policy = Policy {
        grace: 120,
        free_failures: 3,
        backoff_base: 5,
        backoff_max: 900,
    };

    /// A prompt with its numbers blanked: what an observer can compare.
    fn shape(p: &str) -> String {
        p.chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    }

    /// Issue 15, findings 1 and 2: one sequence of logins (wrong answers, concurrent and
    /// throttled ones, time passing) through an enrolled user and through an unknown name
    /// gives the same prompts (numbers blanked, lock times exactly), the same results, and
    /// numbers within a default sheet.
    #[test]
    fn unknown_names_are_asked_and_locked_out_like_an_enrolled_user() {
        let mut rng = Seeded(3);
        let sheet = Sheet::generate(&mut rng, 280, 64).unwrap();
        let mut real =
            Secrets::from_sheet("alice", &sheet, "pre", KdfParams::TEST, &mut rng).unwrap();
        let mut decoys = Decoys::default();
        // (time, answer now or leave the login open)
        let script: &[(u64, bool)] = &[
            (100, true),
            (101, true),
            (102, false), // left open: holds its password
            (103, true),  // concurrent: triple
            (104, true),  // 4th failure with free_failures 3: locked from here
            (105, true),
            (110, true),
            (200, true),
            (300, true),
            (2000, true),
        ];
        let mut open = Vec::new();
        for &(now, answer) in script {
            let Begin::Ask(r) = begin(&mut real, now, &POLICY, &mut rng) else {
                panic!("exhausted")
            };
            let d = decoys.begin("nosuchuser", DecoyKind::Sheet, now, &POLICY, &mut rng);
            assert_eq!(shape(&r.prompt()), shape(&d.prompt()), "at {now}");
            assert_eq!(r.locked(), d.locked(), "at {now}");
            assert!(d.numbers().iter().all(|n| (1..=DECOY_SHEET).contains(n)));
            if answer {
                let wrong = "pre".to_string() + &"x".repeat(13 * r.numbers().len());
                assert_eq!(
                    finish(&mut real, &r, &wrong, now, &POLICY),
                    decoys.finish("nosuchuser", &d, &wrong, now)
                );
            } else {
                open.push((r, d));
            }
        }
        assert!(open.len() == 1);
        // Written and read back, the table gives the same answers.
        let back = Decoys::parse(&decoys.emit());
        assert_eq!(back, decoys);
        let d = decoys.begin("nosuchuser", DecoyKind::Sheet, 2001, &POLICY, &mut rng);
        let Begin::Ask(r) = begin(&mut real, 2001, &POLICY, &mut rng) else {
            panic!()
        };
        assert_eq!(r.locked(), d.locked());
        assert!(d.prompt().contains("(locked for "), "{}", d.prompt());
        // TOTP decoys ask for a verification code, locked the same way.
        let t = decoys.begin("nosuchuser", DecoyKind::Totp, 2001, &POLICY, &mut rng);
        assert!(t.prompt().starts_with("Verification code (locked for "));
    }

    #[test]
    fn the_table_is_bounded_and_keeps_only_live_names() {
        let mut decoys = Decoys::default();
        let mut rng = Seeded(4);
        // A name asked once and never answered holds until the grace time ends; the lapsed
        // hold is kept, to count as a failure at the name's next login (issue 15, finding 1).
        let c = decoys.begin("a", DecoyKind::Sheet, 10, &POLICY, &mut rng);
        assert_eq!(decoys.len(), 1);
        let _ = decoys.begin("b", DecoyKind::Sheet, 10 + POLICY.grace, &POLICY, &mut rng);
        assert_eq!(decoys.len(), 2, "a's lapsed hold is kept");
        let _ = decoys.begin("a", DecoyKind::Sheet, 11 + POLICY.grace, &POLICY, &mut rng);
        assert!(decoys
            .emit()
            .contains(&format!("\na 1 {} ", 10 + POLICY.grace)));
        let _ = c;
        for i in 0..MAX_DECOYS + 10 {
            let name = format!("n{i}");
            let c = decoys.begin(&name, DecoyKind::Sheet, 1000 + i as u64, &POLICY, &mut rng);
            decoys.finish(&name, &c, "", 1000 + i as u64);
        }
        assert_eq!(decoys.len(), MAX_DECOYS);
        assert!(decoys.emit().len() < 128 * 1024);
        // The oldest were dropped; the newest kept.
        let text = decoys.emit();
        assert!(!text.contains("\nn0 ") && text.contains(&format!("\nn{} ", MAX_DECOYS + 9)));
        // Damaged lines are dropped, not fatal.
        let d = Decoys::parse("rampart-decoys 1\n../x 1 2 3\nok 1 2\nfine 1 2 3\n");
        assert_eq!(d.len(), 1);
        assert_eq!(Decoys::parse("####"), Decoys::default());
    }
}
