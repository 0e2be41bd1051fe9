//! The raw points of one metric over the last hour, with running sums over
//! the trailing five minutes for the z-score.
//!
//! Invariants:
//! - points are in non-decreasing timestamp order (the aggregator refuses
//!   older points before they get here);
//! - at most `capacity` points are held; when a point would exceed it, the
//!   oldest is dropped and [`RawSeries::complete_after`] moves past it;
//! - points are numbered in arrival order (the ring holds numbers
//!   `head_seq..next_seq()`); the raw chunks the server persists are cut
//!   by these numbers ([`RawSeries::since`]);
//! - the trailing window relative to the newest timestamp `t` is the suffix
//!   of the ring with timestamps in `(t − 5 min, t]`, starting at sequence
//!   number `trail_start`; `sums` hold exactly its values.
//!
//! Ingest is O(1) amortized: each point enters and leaves the ring and the
//! trailing window once, and rebases cost O(n) once per n removals.

use std::collections::VecDeque;

use crate::running::ShiftedSums;
use crate::window::{Point, RAW_RETENTION_MS};

/// Mean, standard deviation and count of the trailing window, as seen by a
/// new point before it joins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trailing {
    /// Points in the trailing window.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Their population standard deviation.
    pub stddev: f64,
}

/// Raw points of one metric.
#[derive(Debug, Clone)]
pub(crate) struct RawSeries {
    points: VecDeque<Point>,
    /// Sequence number of `points[0]`.
    head_seq: u64,
    /// Sequence number of the first point of the trailing window.
    trail_start: u64,
    sums: ShiftedSums,
    capacity: usize,
    trailing_ms: i64,
    /// Raw points are complete for timestamps above this (points at or
    /// before it may have been dropped by the capacity bound or never seen).
    complete_after: i64,
}

impl RawSeries {
    pub(crate) fn new(capacity: usize, trailing_ms: i64, complete_after: i64) -> Self {
        RawSeries {
            points: VecDeque::new(),
            head_seq: 0,
            trail_start: 0,
            sums: ShiftedSums::default(),
            capacity: capacity.max(1),
            trailing_ms,
            complete_after,
        }
    }

    fn at(&self, seq: u64) -> Option<&Point> {
        self.points.get(usize::try_from(seq - self.head_seq).ok()?)
    }

    /// Adds a point (timestamp not older than the newest) and returns the
    /// trailing window as it was just before the point joined.
    pub(crate) fn push(&mut self, point: Point) -> Trailing {
        let horizon = point.timestamp_ms - self.trailing_ms;
        while let Some(old) = self.at(self.trail_start).copied() {
            if old.timestamp_ms > horizon {
                break;
            }
            self.sums.remove(old.value);
            self.trail_start += 1;
        }
        let trailing = self.trailing();
        self.points.push_back(point);
        self.sums.add(point.value);
        self.drop_front_until(point.timestamp_ms - RAW_RETENTION_MS);
        while self.points.len() > self.capacity {
            self.pop_front();
        }
        trailing
    }

    /// The trailing window's count, mean and standard deviation, rebasing
    /// the sums when they ask for it.
    fn trailing(&mut self) -> Trailing {
        if self.sums.needs_rebase() {
            let start = usize::try_from(self.trail_start - self.head_seq).unwrap_or(0);
            self.sums
                .rebase(self.points.range(start..).map(|p| p.value));
        }
        let count = self.sums.count();
        if count == 0 {
            return Trailing {
                count,
                mean: f64::NAN,
                stddev: f64::NAN,
            };
        }
        Trailing {
            count,
            mean: self.sums.mean(),
            stddev: self.sums.variance().sqrt(),
        }
    }

    fn pop_front(&mut self) -> Option<Point> {
        let old = self.points.pop_front()?;
        if self.head_seq >= self.trail_start {
            self.sums.remove(old.value);
            self.trail_start = self.head_seq + 1;
        }
        self.head_seq += 1;
        self.complete_after = self.complete_after.max(old.timestamp_ms);
        Some(old)
    }

    /// Drops the points with timestamps at or before `cutoff`; returns how
    /// many.
    pub(crate) fn drop_front_until(&mut self, cutoff: i64) -> usize {
        let mut dropped = 0;
        while self
            .points
            .front()
            .is_some_and(|p| p.timestamp_ms <= cutoff)
        {
            self.pop_front();
            dropped += 1;
        }
        dropped
    }

    /// Number of points held.
    pub(crate) fn len(&self) -> usize {
        self.points.len()
    }

    /// The number the next point will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.head_seq + self.points.len() as u64
    }

    /// The points numbered `seq` or later that are still held, oldest
    /// first.
    pub(crate) fn since(&self, seq: u64) -> impl Iterator<Item = &Point> + '_ {
        let skip = usize::try_from(seq.saturating_sub(self.head_seq)).unwrap_or(usize::MAX);
        self.points.range(skip.min(self.points.len())..)
    }

    /// Raw points are complete for timestamps strictly above this.
    pub(crate) fn complete_after(&self) -> i64 {
        self.complete_after
    }

    /// The points with `from < timestamp <= to`, oldest first.
    pub(crate) fn range(&self, from: i64, to: i64) -> impl Iterator<Item = &Point> + '_ {
        let start = self.points.partition_point(|p| p.timestamp_ms <= from);
        let end = self.points.partition_point(|p| p.timestamp_ms <= to);
        self.points.range(start..end.max(start))
    }

    /// Number of points in the trailing window (for tests).
    #[cfg(test)]
    fn trailing_len(&self) -> u64 {
        self.head_seq + self.points.len() as u64 - self.trail_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(timestamp_ms: i64, value: f64) -> Point {
        Point {
            timestamp_ms,
            value,
        }
    }

    #[test]
    fn trailing_window_excludes_the_new_point_and_old_ones() {
        let mut s = RawSeries::new(100, 300_000, i64::MIN);
        let t0 = s.push(p(0, 1.0));
        assert_eq!(t0.count, 0);
        s.push(p(1_000, 3.0));
        let t = s.push(p(300_000, 100.0));
        // The point at 0 is exactly 5 minutes old: out. Only the 3.0 is in.
        assert_eq!((t.count, t.mean, t.stddev), (1, 3.0, 0.0));
        assert_eq!(s.trailing_len(), 2);
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn capacity_drops_the_oldest_and_records_it() {
        let mut s = RawSeries::new(3, 300_000, i64::MIN);
        for i in 0..5 {
            s.push(p(i * 10, i as f64));
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.complete_after(), 10);
        let t = s.push(p(50, 5.0));
        assert_eq!((t.count, t.mean), (3, 3.0));
        let kept: Vec<f64> = s.range(i64::MIN, i64::MAX).map(|q| q.value).collect();
        assert_eq!(kept, vec![3.0, 4.0, 5.0]);
    }

    #[test]
    fn hour_old_points_leave_on_push_and_on_expiry() {
        let mut s = RawSeries::new(100, 300_000, i64::MIN);
        s.push(p(0, 1.0));
        s.push(p(1_000, 2.0));
        s.push(p(RAW_RETENTION_MS, 3.0));
        assert_eq!(s.len(), 2);
        assert_eq!(s.drop_front_until(RAW_RETENTION_MS), 2);
        assert_eq!(s.len(), 0);
        assert_eq!(s.trailing_len(), 0);
        let t = s.push(p(RAW_RETENTION_MS + 1, 4.0));
        assert_eq!(t.count, 0);
    }

    /// Two-pass mean and population stddev of the points of `(t − 5 min, t]`
    /// recorded before index `i`.
    fn reference(all: &[Point], i: usize) -> (u64, f64, f64, f64) {
        let t = all[i].timestamp_ms;
        let w: Vec<f64> = all[..i]
            .iter()
            .filter(|p| p.timestamp_ms > t - 300_000)
            .map(|p| p.value)
            .collect();
        let n = w.len() as f64;
        let mean = w.iter().sum::<f64>() / n;
        let var = w.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let peak = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        (w.len() as u64, mean, var.sqrt(), peak)
    }

    /// Hard data: 1e9 + noise of 0.01, spikes of 1e15, a level shift to
    /// 0.005 ± 1e-9, a constant stretch, timestamps with jitter and ties.
    fn hard_series() -> Vec<Point> {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut t = 0;
        (0..10_800)
            .map(|i| {
                t += [0, 700, 1_000, 1_300][rng.usize(..4)];
                let value = match i {
                    _ if i % 997 == 500 => 1e15,
                    0..=3_999 => 1e9 + rng.f64() * 0.02 - 0.01,
                    4_000..=6_999 => 0.005 + (rng.f64() - 0.5) * 2e-9,
                    7_000..=7_999 => 42.0,
                    _ => -3e4 + rng.f64() * 1e-3,
                };
                p(t, value)
            })
            .collect()
    }

    #[test]
    fn running_sums_match_a_two_pass_reference_on_hard_data() {
        let all = hard_series();
        let mut s = RawSeries::new(100_000, 300_000, i64::MIN);
        for (i, &point) in all.iter().enumerate() {
            let got = s.push(point);
            let (n, mean, sd, peak) = reference(&all, i);
            assert_eq!(got.count, n, "point {i}");
            if n == 0 {
                continue;
            }
            // Both sides round: allow n·ε of the largest magnitude.
            assert!(
                (got.mean - mean).abs() <= n as f64 * 2.3e-16 * peak,
                "point {i}: mean {} vs {mean}",
                got.mean
            );
            if sd == 0.0 {
                assert_eq!(
                    got.stddev, 0.0,
                    "point {i}: a flat window must have no spread"
                );
            } else {
                assert!(
                    (got.stddev - sd).abs() <= 1e-6 * sd,
                    "point {i}: stddev {} vs {sd}",
                    got.stddev
                );
            }
        }
    }

    #[test]
    fn points_are_numbered_in_arrival_order() {
        let mut s = RawSeries::new(3, 300_000, i64::MIN);
        assert_eq!(s.next_seq(), 0);
        for i in 0..5 {
            s.push(p(i * 10, i as f64));
        }
        assert_eq!(s.next_seq(), 5);
        let from = |seq| s.since(seq).map(|q| q.value).collect::<Vec<_>>();
        assert_eq!(from(0), vec![2.0, 3.0, 4.0]);
        assert_eq!(from(4), vec![4.0]);
        assert!(from(5).is_empty() && from(99).is_empty());
    }

    #[test]
    fn range_is_open_below_and_closed_above() {
        let mut s = RawSeries::new(100, 300_000, i64::MIN);
        for i in 0..10 {
            s.push(p(i * 100, i as f64));
        }
        let got: Vec<i64> = s.range(200, 500).map(|q| q.timestamp_ms).collect();
        assert_eq!(got, vec![300, 400, 500]);
        assert_eq!(s.range(900, 2_000).count(), 0);
    }
}
