//! Token buckets of `-m limit` and `-m hashlimit`, with the kernel's arithmetic.
//!
//! `xt_limit` and `xt_hashlimit` keep `credit` in units of time: each packet costs one
//! period (`unit / rate`), the bucket holds at most `burst` periods, and it refills by the
//! time elapsed since the previous packet. We run the same algorithm on a microsecond clock
//! taken from packet timestamps instead of jiffies, so results are deterministic and at
//! least as fine-grained as the kernel's (HZ=250 gives 4 ms ticks).

use rampart_ruleset::Rate;

/// Microseconds one packet costs at this rate.
pub(crate) fn cost_us(rate: Rate) -> u64 {
    u64::from(rate.unit.seconds()) * 1_000_000 / u64::from(rate.count.max(1))
}

/// One token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Credit in microseconds.
    credit: u64,
    /// Time of the previous packet, microseconds.
    prev_us: u64,
}

impl Bucket {
    /// A full bucket (the kernel starts every bucket full: `credit = credit_cap`).
    pub fn full(rate: Rate, burst: u32, now_us: u64) -> Bucket {
        Bucket {
            credit: cost_us(rate) * u64::from(burst.max(1)),
            prev_us: now_us,
        }
    }

    /// Refills by the elapsed time, then takes one packet's cost if there is enough credit.
    /// Returns whether the packet is within the rate.
    pub fn take(&mut self, rate: Rate, burst: u32, now_us: u64) -> bool {
        let cost = cost_us(rate);
        let cap = cost * u64::from(burst.max(1));
        // A timestamp earlier than the previous one refills nothing (the kernel's jiffies
        // never run backwards).
        let elapsed = now_us.saturating_sub(self.prev_us);
        self.prev_us = now_us.max(self.prev_us);
        self.credit = self.credit.saturating_add(elapsed).min(cap);
        if self.credit >= cost {
            self.credit -= cost;
            true
        } else {
            false
        }
    }

    /// Time of the previous packet, for hashlimit's idle expiry.
    pub fn prev_us(&self) -> u64 {
        self.prev_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_ruleset::RateUnit;

    #[test]
    fn burst_then_refill() {
        let rate = Rate {
            count: 100,
            unit: RateUnit::Second,
        };
        let mut b = Bucket::full(rate, 150, 0);
        assert!((0..150).all(|_| b.take(rate, 150, 0)));
        assert!(!b.take(rate, 150, 0));
        assert!(!b.take(rate, 150, 9_999));
        assert!(b.take(rate, 150, 10_000));
        assert!(!b.take(rate, 150, 10_000));
        // A long pause refills only up to the burst.
        assert!((0..150).all(|_| b.take(rate, 150, 100_000_000)));
        assert!(!b.take(rate, 150, 100_000_000));
    }
}
