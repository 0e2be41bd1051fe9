//! Pacing of outgoing frames: one token bucket for everything the client
//! sends (subscribe requests, control frames, the queued messages), so the
//! client stays below the server's message rate (docs/protocol.md §3.5).
//!
//! Invariants: the bucket holds at most `burst` tokens and refills at
//! `rate` per second. Frames that must go now (control frames) are
//! [`charged`](TokenBucket::charge) and may take it into debt; queued
//! frames [`take`](TokenBucket::take) a token or learn when one will be
//! there, so a debt delays the queue, never a reply. A rate of 0 means no
//! pacing. Time is passed in, so the maths is testable without sleeping.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket of `1.5 × rate` tokens refilled at `rate` per second.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    /// Tokens per second; 0: unlimited.
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` frames per second (0: no limit).
    pub(crate) fn new(rate: u32, now: Instant) -> TokenBucket {
        let burst = (rate as f64 * 1.5).max(1.0);
        TokenBucket {
            rate: rate as f64,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
    }

    /// Takes a token for a frame that must go now (it may go into debt).
    pub(crate) fn charge(&mut self, now: Instant) {
        if self.rate > 0.0 {
            self.refill(now);
            self.tokens -= 1.0;
        }
    }

    /// Takes a token if there is one; otherwise tells when there will be.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Instant> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err(self.last + Duration::from_secs_f64(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        for _ in 0..15 {
            assert_eq!(b.take(t0), Ok(()));
        }
        let at = b.take(t0).unwrap_err();
        assert_eq!(at - t0, Duration::from_millis(100));
        assert_eq!(b.take(at), Ok(()));
        assert!(b.take(at).is_err());
    }

    #[test]
    fn charges_go_into_debt_and_delay_the_queue() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        for _ in 0..16 {
            b.charge(t0);
        }
        // 15 tokens spent, one more owed: the next queued frame waits 0.2 s.
        let at = b.take(t0).unwrap_err();
        assert_eq!(at - t0, Duration::from_millis(200));
        assert!(b.take(t0 + Duration::from_millis(150)).is_err());
        assert_eq!(b.take(at), Ok(()));
    }

    #[test]
    fn rate_zero_never_waits() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0, t0);
        for _ in 0..1000 {
            b.charge(t0);
            assert_eq!(b.take(t0), Ok(()));
        }
    }
}
