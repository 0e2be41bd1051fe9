//! Rollups: count, min, max, mean and the sum of squared deviations of a
//! set of points, mergeable.
//!
//! The issue names the rollup fields count, min, max, sum and sum of
//! squares. This type holds the same information as `(count, min, max,
//! mean, m2)` with `m2 = Σ(x − mean)²`: [`Rollup::sum`] is `count · mean`
//! and [`Rollup::sum_sq`] is `m2 + count · mean²`. Raw `Σx²` cancels
//! catastrophically on data like `1e9 + noise` (its variance would be
//! rounding noise); `m2` does not. Points join by Welford's update and
//! rollups merge by Chan's formula, both exact in real arithmetic.

use serde::Serialize;

/// Summary of a set of points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rollup {
    /// Number of points (at least 1).
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Rollup {
    /// The rollup of one value.
    pub fn of(value: f64) -> Self {
        Rollup {
            count: 1,
            min: value,
            max: value,
            mean: value,
            m2: 0.0,
        }
    }

    /// Adds one value (Welford).
    pub fn push(&mut self, value: f64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
        self.mean = self.mean.clamp(self.min, self.max);
        self.m2 = self.m2.max(0.0);
    }

    /// Merges another rollup into this one (Chan et al.).
    pub fn merge(&mut self, other: &Rollup) {
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean =
            (self.mean + delta * (nb / n)).clamp(self.min.min(other.min), self.max.max(other.max));
        self.m2 += other.m2 + delta * delta * (na * nb / n);
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Sum of the values.
    pub fn sum(&self) -> f64 {
        self.mean * self.count as f64
    }

    /// Sum of the squared values.
    pub fn sum_sq(&self) -> f64 {
        self.m2 + self.mean * self.mean * self.count as f64
    }

    /// Population standard deviation.
    pub fn stddev(&self) -> f64 {
        (self.m2 / self.count as f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_merge_agree_with_direct_sums() {
        let xs = [1e9 + 0.25, 1e9 - 0.5, 1e9 + 1.0, 1e9, 1e9 + 0.125];
        let mut whole = Rollup::of(xs[0]);
        xs[1..].iter().for_each(|&x| whole.push(x));
        let mut left = Rollup::of(xs[0]);
        left.push(xs[1]);
        let mut right = Rollup::of(xs[2]);
        right.push(xs[3]);
        right.push(xs[4]);
        left.merge(&right);
        let mean = 1e9 + (0.25 - 0.5 + 1.0 + 0.0 + 0.125) / 5.0;
        let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        for r in [whole, left] {
            assert_eq!((r.count, r.min, r.max), (5, 1e9 - 0.5, 1e9 + 1.0));
            assert!((r.mean - mean).abs() < 1e-6, "{}", r.mean);
            assert!((r.m2 - m2).abs() < 1e-6 * m2, "{} vs {m2}", r.m2);
        }
        assert!((whole.sum() - xs.iter().sum::<f64>()).abs() < 1e-3);
        let small = [1.0, 2.0, 3.0];
        let mut r = Rollup::of(1.0);
        r.push(2.0);
        r.push(3.0);
        assert_eq!(
            (r.sum(), r.sum_sq()),
            (6.0, small.iter().map(|x| x * x).sum())
        );
    }
}
