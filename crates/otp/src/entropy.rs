//! Where randomness comes from: injected, so tests are deterministic and the core never
//! touches the OS.

/// A source of random bytes.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);

    /// A uniformly random number in `0..bound` (rejection sampling, no modulo bias).
    ///
    /// # Panics
    /// If `bound` is 0.
    fn below(&mut self, bound: u32) -> u32 {
        assert!(bound > 0, "below(0)");
        // The largest multiple of `bound` that fits in u32; values at or above it would
        // make the low residues more likely.
        let zone = u32::MAX - (u32::MAX % bound);
        loop {
            let mut b = [0u8; 4];
            self.fill(&mut b);
            let v = u32::from_le_bytes(b);
            if v < zone {
                return v % bound;
            }
        }
    }
}

/// The kernel's random number generator (`getrandom(2)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        // getrandom(2) only fails before the kernel pool is initialised at boot or on a
        // kernel without the syscall; a password generator must not continue then.
        getrandom::fill(buf).expect("the kernel's random number generator failed");
    }
}
