//! How much history a namespace keeps: the engines trim each channel's
//! log to it.
//!
//! Invariant: a retention always keeps something (`size` ≥ 1); a
//! namespace without history has no retention at all (`None`).

use std::time::Duration;

/// How much history a namespace keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Publications kept per channel.
    pub size: usize,
    /// How long a publication is kept (zero: no time limit).
    pub ttl: Duration,
}

impl Retention {
    /// Whether `ts_ms` is still within the TTL at `now_ms`.
    pub fn keeps(&self, ts_ms: u64, now_ms: u64) -> bool {
        self.ttl.is_zero()
            || now_ms.saturating_sub(ts_ms)
                <= u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_zero_keeps_everything() {
        let forever = Retention {
            size: 1,
            ttl: Duration::ZERO,
        };
        assert!(forever.keeps(0, u64::MAX));
        let minute = Retention {
            size: 1,
            ttl: Duration::from_secs(60),
        };
        assert!(minute.keeps(1_000, 61_000));
        assert!(!minute.keeps(1_000, 61_001));
        assert!(minute.keeps(5_000, 1_000), "a clock step back keeps");
    }
}
