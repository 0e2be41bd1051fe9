//! Reconnect delays: exponential backoff with full jitter. Attempt `n`
//! (0-based) waits a uniformly random time in `[0, min(cap, base · 2ⁿ)]`,
//! so a crowd of clients that lost the same server does not come back in
//! lockstep.

use std::time::Duration;

/// The reconnect policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay bound of the first retry.
    pub base: Duration,
    /// The largest delay bound.
    pub cap: Duration,
    /// Connection attempts in a row before giving up (`None`: never).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The upper bound of the delay before retry number `attempt` (0-based).
    pub fn bound(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random delay in `[0, bound(attempt)]` (full jitter).
    pub fn delay(&self, attempt: u32) -> Duration {
        let bound = self.bound(attempt).as_micros() as u64;
        Duration::from_micros(fastrand::u64(0..=bound))
    }

    /// Whether another attempt is allowed after `attempts` failures.
    pub fn allows(&self, attempts: u32) -> bool {
        self.max_attempts.is_none_or(|m| attempts < m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_double_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: Some(3),
        };
        assert_eq!(b.bound(0), Duration::from_millis(100));
        assert_eq!(b.bound(1), Duration::from_millis(200));
        assert_eq!(b.bound(3), Duration::from_millis(800));
        assert_eq!(b.bound(4), Duration::from_secs(1));
        assert_eq!(b.bound(200), Duration::from_secs(1));
        for a in 0..10 {
            assert!(b.delay(a) <= b.bound(a));
        }
        assert!(b.allows(2));
        assert!(!b.allows(3));
    }
}
