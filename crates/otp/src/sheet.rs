//! Password sheets: generation from an injected RNG, and the printed forms (text, HTML).

use crate::{Entropy, SecretsError};

/// Password characters: lower-case letters and digits without the look-alikes
/// `0 o 1 l i` (31 symbols, 4.95 bits each). Lower case only, so Caps Lock and phone
/// keyboards do not matter; input is lower-cased before checking.
pub const ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Most passwords per sheet: numbers are printed and prompted with three digits.
pub const MAX_COUNT: usize = 999;
/// Least entropy per password: below 40 bits an attacker who sees the file and knows the
/// prefix could search an entry offline in days even at Argon2's cost.
pub const MIN_ENTROPY: u32 = 40;
/// Most entropy per password: above 128 bits there is nothing to gain and more to type.
pub const MAX_ENTROPY: u32 = 128;

/// A generated sheet: `count` numbered passwords (numbered from 1). Lives only in the
/// memory of `rampart otp init`; the server stores hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct Sheet {
    passwords: Vec<String>,
}

impl std::fmt::Debug for Sheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print passwords by accident (logs, panics).
        write!(f, "Sheet {{ {} passwords }}", self.passwords.len())
    }
}

/// Characters needed for `bits` of entropy from [`ALPHABET`].
pub(crate) fn length_for(bits: u32) -> usize {
    let per = (ALPHABET.len() as f64).log2();
    (f64::from(bits) / per).ceil() as usize
}

impl Sheet {
    /// Generates `count` passwords of at least `entropy_bits` bits each.
    pub fn generate(
        rng: &mut dyn Entropy,
        count: usize,
        entropy_bits: u32,
    ) -> Result<Sheet, SecretsError> {
        if count == 0 || count > MAX_COUNT {
            return Err(SecretsError::Count(count));
        }
        if !(MIN_ENTROPY..=MAX_ENTROPY).contains(&entropy_bits) {
            return Err(SecretsError::Entropy(entropy_bits));
        }
        let len = length_for(entropy_bits);
        let passwords = (0..count)
            .map(|_| {
                (0..len)
                    .map(|_| ALPHABET[rng.below(ALPHABET.len() as u32) as usize] as char)
                    .collect()
            })
            .collect();
        Ok(Sheet { passwords })
    }

    /// Number of passwords.
    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    /// Whether the sheet is empty (never, for a generated sheet).
    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Characters per password.
    pub fn password_len(&self) -> usize {
        self.passwords.first().map_or(0, String::len)
    }

    /// Password number `n` (1-based), without spaces.
    pub fn password(&self, n: u16) -> Option<&str> {
        let i = usize::from(n).checked_sub(1)?;
        self.passwords.get(i).map(String::as_str)
    }

    /// The passwords with their numbers.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &str)> {
        self.passwords
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u16 + 1, p.as_str()))
    }

    /// A password in groups of four for reading off paper (spaces are ignored on input).
    pub fn grouped(password: &str) -> String {
        let mut out = String::new();
        for (i, c) in password.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }

    /// The sheet as plain text, in `columns` columns, headed with user and host.
    pub fn to_text(&self, user: &str, host: &str, columns: usize) -> String {
        let columns = columns.max(1);
        let rows = self.len().div_ceil(columns);
        let mut out = format!(
            "rampart OTP sheet for {user}@{host} ({} passwords)\n\
             Type your prefix, then the password with the number you are asked for.\n\n",
            self.len()
        );
        for r in 0..rows {
            let mut line = String::new();
            for c in 0..columns {
                let i = c * rows + r;
                if let Some(p) = self.passwords.get(i) {
                    if c > 0 {
                        line.push_str("   ");
                    }
                    line.push_str(&format!("{:03} {}", i + 1, Sheet::grouped(p)));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The sheet as a printable HTML page (one A4/Letter page for 280 passwords).
    pub fn to_html(&self, user: &str, host: &str) -> String {
        let title = format!("rampart OTP sheet for {}@{}", escape(user), escape(host));
        let mut cells = String::new();
        for (n, p) in self.iter() {
            cells.push_str(&format!(
                "<li><b>{n:03}</b> {}</li>\n",
                escape(&Sheet::grouped(p))
            ));
        }
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
             <title>{title}</title>\n<style>\n\
             body {{ font-family: monospace; font-size: 8.5pt; margin: 1cm; }}\n\
             h1 {{ font-size: 11pt; margin: 0 0 .3em; }}\n\
             p {{ margin: 0 0 .6em; }}\n\
             ol {{ list-style: none; padding: 0; margin: 0; columns: 4; column-gap: 1.5em; }}\n\
             li {{ white-space: nowrap; line-height: 1.3; }}\n\
             li:nth-child(5n) {{ border-bottom: 1px solid #999; }}\n\
             @page {{ size: auto; margin: 0.8cm; }}\n\
             </style></head><body>\n<h1>{title}</h1>\n\
             <p>Type your prefix, then the password with the number you are asked for. \
             Cross out each password once used. Keep this sheet apart from your prefix.</p>\n\
             <ol>\n{cells}</ol>\n</body></html>\n"
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deterministic generator for tests (splitmix64).
    pub(crate) struct Seeded(pub u64);
    impl Entropy for Seeded {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                *b = (z ^ (z >> 31)) as u8;
            }
        }
    }

    #[test]
    fn lengths_cover_the_entropy() {
        assert_eq!(length_for(64), 13);
        assert_eq!(length_for(40), 9);
        assert_eq!(length_for(128), 26);
        for bits in MIN_ENTROPY..=MAX_ENTROPY {
            assert!(length_for(bits) as f64 * (31f64).log2() >= f64::from(bits));
        }
    }

    #[test]
    fn generation_is_deterministic_and_uses_only_the_alphabet() {
        let a = Sheet::generate(&mut Seeded(1), 280, 64).unwrap();
        let b = Sheet::generate(&mut Seeded(1), 280, 64).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 280);
        assert_eq!(a.password_len(), 13);
        for (_, p) in a.iter() {
            assert!(p.bytes().all(|c| ALPHABET.contains(&c)), "{p}");
            for bad in ['0', 'o', '1', 'l', 'i'] {
                assert!(!p.contains(bad));
            }
        }
        // All distinct (64 bits each).
        let mut all: Vec<_> = a.iter().map(|(_, p)| p).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 280);
    }

    #[test]
    fn every_symbol_appears_roughly_evenly() {
        let s = Sheet::generate(&mut Seeded(9), 999, 128).unwrap();
        let mut counts = [0usize; 31];
        for (_, p) in s.iter() {
            for c in p.bytes() {
                counts[ALPHABET.iter().position(|&a| a == c).unwrap()] += 1;
            }
        }
        let mean = 999 * 26 / 31;
        for c in counts {
            assert!(c > mean * 8 / 10 && c < mean * 12 / 10, "{counts:?}");
        }
    }

    #[test]
    fn bounds_are_checked() {
        assert_eq!(
            Sheet::generate(&mut Seeded(1), 0, 64),
            Err(SecretsError::Count(0))
        );
        assert_eq!(
            Sheet::generate(&mut Seeded(1), 1000, 64),
            Err(SecretsError::Count(1000))
        );
        assert_eq!(
            Sheet::generate(&mut Seeded(1), 10, 39),
            Err(SecretsError::Entropy(39))
        );
    }

    #[test]
    fn printed_forms_hold_every_numbered_password() {
        let s = Sheet::generate(&mut Seeded(2), 12, 64).unwrap();
        let text = s.to_text("alice", "web1", 4);
        let html = s.to_html("alice<", "web1");
        for (n, p) in s.iter() {
            let line = format!("{n:03} {}", Sheet::grouped(p));
            assert!(text.contains(&line), "{text}");
            assert!(html.contains(&format!("<b>{n:03}</b> {}", Sheet::grouped(p))));
        }
        assert!(html.contains("alice&lt;@web1"));
        assert_eq!(format!("{s:?}"), "Sheet { 12 passwords }");
    }
}
