//! Per-user failure throttling with exponential back-off.
//!
//! The first [`Policy::free_failures`](crate::Policy) failures cost nothing (typos happen);
//! after that every login waits `base · 2^(failures - free)` seconds from the last failure,
//! capped at `max`. A success resets the count. The count lives in the user's secret file,
//! so it holds across sshd restarts and across concurrent connections.

/// Consecutive failures of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// Failures since the last success.
    pub failures: u32,
    /// Time of the last failure (Unix seconds).
    pub last: u64,
}

impl Throttle {
    /// Seconds to wait after `self.last` before the next attempt, given the policy's free
    /// failures, base and maximum delay.
    pub fn delay(&self, free: u32, base: u64, max: u64) -> u64 {
        if self.failures < free {
            return 0;
        }
        let exp = (self.failures - free).min(40);
        base.saturating_mul(1u64 << exp).min(max)
    }

    /// Seconds left until an attempt is allowed at `now` (0: allowed).
    pub fn wait(&self, now: u64, free: u32, base: u64, max: u64) -> u64 {
        let until = self.last.saturating_add(self.delay(free, base, max));
        until.saturating_sub(now)
    }

    /// Records a failure at `now`.
    pub fn fail(&mut self, now: u64) {
        self.failures = self.failures.saturating_add(1);
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let mut t = Throttle::default();
        let delays: Vec<u64> = (0..12)
            .map(|i| {
                let d = t.delay(3, 5, 900);
                t.fail(100 + i);
                d
            })
            .collect();
        assert_eq!(delays, [0, 0, 0, 5, 10, 20, 40, 80, 160, 320, 640, 900]);
        let t = Throttle {
            failures: 4,
            last: 1000,
        };
        assert_eq!(t.wait(1000, 3, 5, 900), 10);
        assert_eq!(t.wait(1009, 3, 5, 900), 1);
        assert_eq!(t.wait(1010, 3, 5, 900), 0);
        assert_eq!(t.wait(5, 3, 5, 900), 1005);
        let huge = Throttle {
            failures: u32::MAX,
            last: u64::MAX,
        };
        assert_eq!(huge.wait(0, 3, 5, 900), u64::MAX);
    }
}
