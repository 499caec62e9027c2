//! Seeded mutations of byte strings.

/// A small seeded random source (xorshift64*): the same seed gives the same inputs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source seeded with `seed` (0 is replaced: xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.bits() % n as u64) as usize
        }
    }
}

/// Bytes that break parsers: ends of lines and quotes, escapes and controls, separators,
/// UTF-8 lead bytes without their continuation.
const INTERESTING: &[u8] = &[
    0, 0x1b, 0x07, b'\n', b'\r', b'\t', b' ', b'"', b'\'', b'\\', b'-', b'/', b':', b'.', b',',
    b';', b'#', b'[', b']', b'{', b'}', b'=', b'!', b'$', b'`', b'|', b'&', 0x7f, 0x80, 0xc3, 0xe2,
    0xff,
];

/// Tokens every target gets besides its own: numbers at the edges of their types.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "/0",
    "/32",
    "/33",
    "/128",
    "/129",
    "::",
    "::ffff:192.0.2.1",
    "0.0.0.0",
    "255.255.255.255",
    "1e9",
    "\u{2013}",
    "\u{201c}",
    "\u{202e}",
];

/// One to four mutations of `base` (sometimes spliced with `other`), at most `max` bytes.
pub fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], dict: &[&str], max: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        let at = rng.below(len + 1);
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if !dict.is_empty() => {
                let t = dict[rng.below(dict.len())];
                v.splice(at..at, t.bytes());
            }
            3 => {
                let t = NUMBERS[rng.below(NUMBERS.len())];
                v.splice(at..at, t.bytes());
            }
            4 if len > 0 => {
                let end = (at + 1 + rng.below(64)).min(len);
                v.drain(at.min(len - 1)..end.max(at.min(len - 1)));
            }
            5 if len > 0 => {
                // A run repeated: long lines, long tokens, many lines.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let chunk = v[start..end].to_vec();
                let most = if rng.below(8) == 0 { 4096 } else { 16 };
                let times = 1 + rng.below(most);
                let mut run = Vec::with_capacity(chunk.len() * times);
                for _ in 0..times {
                    run.extend_from_slice(&chunk);
                }
                v.splice(start..start, run);
            }
            6 if !other.is_empty() => {
                let s = rng.below(other.len());
                let e = (s + 1 + rng.below(256)).min(other.len());
                v.splice(at..at, other[s..e].iter().copied());
            }
            7 => v.truncate(at),
            8 => {
                // A whole line repeated or moved.
                let lines: Vec<&[u8]> = v.split(|b| *b == b'\n').collect();
                if !lines.is_empty() {
                    let l = lines[rng.below(lines.len())].to_vec();
                    let mut out = Vec::new();
                    let dup = rng.below(lines.len() + 1);
                    for (i, x) in lines.iter().enumerate() {
                        if i == dup {
                            out.extend_from_slice(&l);
                            out.push(b'\n');
                        }
                        out.extend_from_slice(x);
                        out.push(b'\n');
                    }
                    v = out;
                }
            }
            9 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.bits() as u8;
            }
            _ => {
                let b = INTERESTING[rng.below(INTERESTING.len())];
                v.insert(at, b);
            }
        }
    }
    v.truncate(max);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_inputs_and_bounded() {
        let run = |seed| {
            let mut r = Rng::new(seed);
            (0..200)
                .map(|_| mutate(&mut r, b"iptables -A INPUT\n-j DROP\n", b"x", &["-m"], 1000))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().all(|v| v.len() <= 1000));
    }
}
