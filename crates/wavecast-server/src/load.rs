//! The server-wide delivery rate, and whether it is high enough for
//! writers to coalesce (`[delivery]`).
//!
//! The hub records how many frames each publication queued; writers ask
//! [`LoadGauge::busy`] before a write. The rate is measured over windows
//! of about [`WINDOW`]: the first record after a window ends computes
//! `deliveries / elapsed` and sets the flag, so a lone publication after
//! a quiet period sees a low rate (its window spans the quiet time) and
//! is written at once.
//!
//! Invariants: recording is one relaxed atomic add on the hot path (plus
//! one clock read); the flag is only advisory, never a correctness input;
//! a threshold of 0 or a window of zero disables coalescing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often the rate is recomputed.
pub const WINDOW: Duration = Duration::from_millis(10);

/// Deliveries per second, measured in short windows.
pub struct LoadGauge {
    /// Deliveries since `window_start`.
    count: AtomicU64,
    window_start: Mutex<Instant>,
    /// Nanoseconds since `epoch` at which the current window ends.
    window_end: AtomicU64,
    epoch: Instant,
    busy: AtomicBool,
    /// Deliveries per second at or above which the server is busy.
    threshold: u64,
    /// How long a writer may hold frames back while busy.
    coalesce: Duration,
}

impl LoadGauge {
    /// A gauge that calls the server busy at `threshold` deliveries/s;
    /// writers then wait up to `coalesce` between writes.
    pub fn new(threshold: u64, coalesce: Duration) -> LoadGauge {
        let now = Instant::now();
        LoadGauge {
            count: AtomicU64::new(0),
            window_start: Mutex::new(now),
            window_end: AtomicU64::new(nanos(WINDOW)),
            epoch: now,
            busy: AtomicBool::new(false),
            threshold,
            coalesce,
        }
    }

    /// Counts `n` frames queued by one publication.
    pub fn record(&self, n: u64) {
        if n == 0 || self.threshold == 0 || self.coalesce.is_zero() {
            return;
        }
        self.record_at(n, Instant::now());
    }

    fn record_at(&self, n: u64, now: Instant) {
        self.count.fetch_add(n, Relaxed);
        let since_epoch = nanos(now.saturating_duration_since(self.epoch));
        if since_epoch < self.window_end.load(Relaxed) {
            return;
        }
        // One recorder closes the window; the others go on counting.
        let Some(mut start) = self.window_start.try_lock() else {
            return;
        };
        let elapsed = now.saturating_duration_since(*start);
        if elapsed < WINDOW {
            return;
        }
        let count = self.count.swap(0, Relaxed);
        let rate = count as f64 / elapsed.as_secs_f64();
        self.busy.store(rate >= self.threshold as f64, Relaxed);
        *start = now;
        self.window_end.store(since_epoch + nanos(WINDOW), Relaxed);
    }

    /// Whether writers should coalesce now.
    pub fn busy(&self) -> bool {
        self.busy.load(Relaxed)
    }

    /// How long a writer may hold frames back after its last write while
    /// the server is busy.
    pub fn coalesce_window(&self) -> Duration {
        self.coalesce
    }

    /// The earliest time a writer that last wrote at `last_write` should
    /// write again, or `None` to write now.
    pub fn hold_until(&self, last_write: Option<Instant>) -> Option<Instant> {
        if !self.busy() {
            return None;
        }
        self.hold_at(last_write?, Instant::now())
    }

    fn hold_at(&self, last_write: Instant, now: Instant) -> Option<Instant> {
        let at = last_write + self.coalesce;
        (now < at).then_some(at)
    }
}

impl Default for LoadGauge {
    /// A gauge that never reports busy.
    fn default() -> Self {
        LoadGauge::new(0, Duration::ZERO)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn gauge() -> (LoadGauge, Instant) {
        let g = LoadGauge::new(1000, 5 * MS);
        let t0 = g.epoch;
        (g, t0)
    }

    #[test]
    fn quiet_server_is_not_busy() {
        let (g, t0) = gauge();
        g.record_at(1, t0 + 11 * MS);
        assert!(!g.busy());
        assert_eq!(g.hold_until(Some(Instant::now())), None);
    }

    #[test]
    fn a_burst_makes_it_busy_and_quiet_time_ends_it() {
        let (g, t0) = gauge();
        // 100 deliveries per millisecond = 100,000/s, for 11 ms.
        for ms in 0..=11 {
            g.record_at(100, t0 + ms * MS);
        }
        assert!(g.busy(), "a burst well above the threshold is busy");
        let wrote = t0 + 11 * MS;
        assert_eq!(g.hold_at(wrote, wrote + MS), Some(wrote + 5 * MS));
        assert_eq!(g.hold_at(wrote, wrote + 6 * MS), None, "the window passed");
        // After 300 ms of silence one publication sees a low rate.
        g.record_at(1, t0 + 311 * MS);
        assert!(!g.busy());
    }

    #[test]
    fn disabled_gauge_never_holds() {
        let g = LoadGauge::default();
        for _ in 0..10_000 {
            g.record(1000);
        }
        assert!(!g.busy());
        assert_eq!(g.hold_until(Some(Instant::now())), None);
    }
}
