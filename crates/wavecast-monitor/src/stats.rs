//! Window statistics of a set of values: count, min, max, avg, median,
//! stddev and p95.
//!
//! Definitions (n values x₁…xₙ, n ≥ 1):
//! - `avg` is the arithmetic mean, summed around the first value
//!   (`x₁ + Σ(xᵢ − x₁)/n`) so large offsets do not cost precision;
//! - `stddev` is the **population** standard deviation
//!   `√(Σ(xᵢ − avg)²/n)`, computed in a second pass (0 for one value);
//! - quantiles use **linear interpolation between closest ranks** (the
//!   "type 7" definition, numpy's default): sort the values into
//!   y₀ ≤ … ≤ yₙ₋₁, let `h = (n − 1)·p`, `k = ⌊h⌋`; the quantile is
//!   `y_k + (h − k)·(y_{k+1} − y_k)` (just `y_k` when `h = k`).
//!   `median` is p = 0.5 (the mean of the two middle values for even n),
//!   `p95` is p = 0.95.
//!
//! Order statistics come from selection (`select_nth_unstable`), O(n) on
//! the caller's scratch copy, never from a full sort.

use serde::Serialize;

/// Statistics of one window of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    /// Number of points (at least 1).
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub avg: f64,
    /// Median (quantile 0.5, linear interpolation).
    pub median: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// 95th percentile (quantile 0.95, linear interpolation).
    pub p95: f64,
}

impl Stats {
    /// Computes the statistics of `values`, reordering them in place.
    /// `None` when `values` is empty. Values must be finite.
    pub fn compute(values: &mut [f64]) -> Option<Stats> {
        let first = *values.first()?;
        let n = values.len() as f64;
        let (mut min, mut max, mut shifted) = (first, first, 0.0);
        for &x in values.iter() {
            min = min.min(x);
            max = max.max(x);
            shifted += x - first;
        }
        let avg = (first + shifted / n).clamp(min, max);
        let squares: f64 = values.iter().map(|&x| (x - avg) * (x - avg)).sum();
        let stddev = (squares / n).sqrt();
        let median = quantile(values, 0.5);
        let p95 = quantile(values, 0.95);
        Some(Stats {
            count: values.len() as u64,
            min,
            max,
            avg,
            median,
            stddev,
            p95,
        })
    }
}

/// The `p` quantile (0 ≤ p ≤ 1) of `values` by linear interpolation between
/// closest ranks; reorders `values`. `NaN` for an empty slice.
pub fn quantile(values: &mut [f64], p: f64) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let k = (h.floor() as usize).min(n - 1);
    let frac = h - k as f64;
    let (_, &mut low, upper) = values.select_nth_unstable_by(k, f64::total_cmp);
    if frac == 0.0 || upper.is_empty() {
        return low;
    }
    let high = upper.iter().copied().fold(f64::INFINITY, f64::min);
    low + frac * (high - low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_linear_interpolation() {
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), 2.5);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
        // h = 3 · 0.95 = 2.85 → 3 + 0.85 · (4 − 3).
        assert!((quantile(&mut v, 0.95) - 3.85).abs() < 1e-12);
        let mut one = [7.0];
        assert_eq!(quantile(&mut one, 0.95), 7.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn stats_of_small_sets() {
        assert_eq!(Stats::compute(&mut []), None);
        let s = Stats::compute(&mut [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        let s = s.unwrap_or_else(|| panic!("non-empty"));
        assert_eq!(
            (s.count, s.min, s.max, s.avg, s.median),
            (8, 2.0, 9.0, 5.0, 4.5)
        );
        assert_eq!(s.stddev, 2.0);
    }
}
