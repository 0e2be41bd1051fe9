//! Compact instants for what every connection keeps: microseconds since
//! the process's clock epoch in 8 bytes (an `Instant` takes 16), with a
//! niche, so an `Option<Moment>` takes 8 too.
//!
//! Invariant: the epoch is fixed on first use ([`init`] at start-up), and
//! an instant before it reads as the epoch itself; the server makes its
//! first `Moment` before any connection exists.

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Fixes the epoch now (the server calls it before it accepts anyone).
pub fn init() {
    epoch();
}

/// An instant, to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(NonZeroU64);

impl Moment {
    pub fn now() -> Moment {
        Moment::from(Instant::now())
    }

    /// Microseconds since the epoch (what rate buckets count in).
    pub fn micros(self) -> u64 {
        self.0.get() - 1
    }

    /// The same instant as an `Instant`.
    pub fn instant(self) -> Instant {
        epoch() + Duration::from_micros(self.micros())
    }

    /// Time from `self` to `now` (zero if `now` is earlier).
    pub fn until(self, now: Instant) -> Duration {
        now.saturating_duration_since(self.instant())
    }

    /// Time since `self`.
    pub fn elapsed(self) -> Duration {
        self.until(Instant::now())
    }
}

impl From<Instant> for Moment {
    fn from(i: Instant) -> Moment {
        let us =
            u64::try_from(i.saturating_duration_since(epoch()).as_micros()).unwrap_or(u64::MAX - 1);
        Moment(NonZeroU64::new(us.saturating_add(1)).unwrap_or(NonZeroU64::MIN))
    }
}

impl std::ops::Add<Duration> for Moment {
    type Output = Moment;
    fn add(self, d: Duration) -> Moment {
        Moment::from(self.instant() + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_to_the_microsecond_and_orders_like_instants() {
        init();
        let t = Instant::now() + Duration::from_nanos(1_234_567);
        let m = Moment::from(t);
        let back = m.instant();
        assert!(back <= t && t - back < Duration::from_micros(1));
        let later = m + Duration::from_millis(5);
        assert!(later > m);
        assert_eq!(later.until(t + Duration::from_millis(6)).as_millis(), 1);
        assert_eq!(later.until(t), Duration::ZERO);
        assert_eq!(std::mem::size_of::<Option<Moment>>(), 8);
        // Before the epoch reads as the epoch.
        let early = epoch().checked_sub(Duration::from_secs(1));
        if let Some(early) = early {
            assert_eq!(Moment::from(early).instant(), epoch());
        }
    }
}
