//! Running mean and variance of a sliding set of values, with O(1) add and
//! remove, kept accurate by shifting and by exact recomputation.
//!
//! The sums are of shifted values: with a shift `K` taken from the data,
//! `s1 = Σ(x − K)` and `s2 = Σ(x − K)²`, so mean `= K + s1/n` and variance
//! `= s2/n − (s1/n)²`. With `K` close to the data, the subtraction does not
//! cancel the way raw `Σx²` does on data like `1e9 + noise`.
//!
//! Adding and removing accumulate rounding error proportional to the
//! largest `(x − K)²` seen since the last recomputation, which can dwarf a
//! small current variance (a removed spike, a level shift). Invariant: the
//! caller asks [`ShiftedSums::needs_rebase`] before reading, and recomputes
//! with [`ShiftedSums::rebase`] over the current values when it says so:
//! - after more than `n + 64` removals since the last rebase (bounds the
//!   number of operations whose errors pile up; amortized O(1) per point),
//! - or when the largest `(x − K)²` since the rebase exceeds `10⁸` times the
//!   current variance (bounds the relative error of the variance to about
//!   `(2n + 64)·ε·10⁸`, under `10⁻⁴` for n ≤ 2,000 and far less in
//!   practice), or the variance is 0 while some `(x − K)²` was not.
//!
//! Right after a rebase `K` is one of the values, so every `(x − K)²` is at
//! most the squared range, at most `2n` times the variance: the second rule
//! cannot fire again until the data change, and a constant set gives
//! exactly `mean = K` and variance `0`.

/// Ratio of the largest squared deviation to the variance above which the
/// sums are recomputed.
const REBASE_RATIO: f64 = 1e8;

/// Shifted running sums over a multiset of finite values.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShiftedSums {
    n: u64,
    shift: f64,
    s1: f64,
    s2: f64,
    removals: u64,
    peak_sq: f64,
}

impl ShiftedSums {
    /// Number of values.
    pub(crate) fn count(&self) -> u64 {
        self.n
    }

    /// Adds a value.
    pub(crate) fn add(&mut self, x: f64) {
        if self.n == 0 {
            *self = ShiftedSums {
                shift: x,
                ..ShiftedSums::default()
            };
        }
        let d = x - self.shift;
        self.s1 += d;
        self.s2 += d * d;
        self.peak_sq = self.peak_sq.max(d * d);
        self.n += 1;
    }

    /// Removes a value previously added.
    pub(crate) fn remove(&mut self, x: f64) {
        if self.n <= 1 {
            *self = ShiftedSums::default();
            return;
        }
        let d = x - self.shift;
        self.s1 -= d;
        self.s2 -= d * d;
        self.n -= 1;
        self.removals += 1;
    }

    /// Mean of the values (NaN when empty).
    pub(crate) fn mean(&self) -> f64 {
        self.shift + self.s1 / self.n as f64
    }

    /// Population variance of the values, never negative (NaN when empty).
    pub(crate) fn variance(&self) -> f64 {
        let n = self.n as f64;
        let m1 = self.s1 / n;
        (self.s2 / n - m1 * m1).max(0.0)
    }

    /// Whether the sums must be recomputed before they are read.
    pub(crate) fn needs_rebase(&self) -> bool {
        if self.n == 0 {
            return false;
        }
        self.removals > self.n + 64 || self.peak_sq > REBASE_RATIO * self.variance()
    }

    /// Recomputes the sums exactly from `values`, which must be the values
    /// currently held; the shift becomes the first of them.
    pub(crate) fn rebase(&mut self, values: impl IntoIterator<Item = f64>) {
        *self = ShiftedSums::default();
        for x in values {
            self.add(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_data_has_exact_zero_variance_after_rebase() {
        let mut s = ShiftedSums::default();
        for x in [0.0, 1e9, 1e9, 1e9] {
            s.add(x);
        }
        s.remove(0.0);
        assert!(s.needs_rebase() || s.variance() == 0.0);
        if s.needs_rebase() {
            s.rebase([1e9, 1e9, 1e9]);
        }
        assert_eq!((s.mean(), s.variance()), (1e9, 0.0));
        assert!(!s.needs_rebase());
    }

    #[test]
    fn removing_a_spike_triggers_a_rebase() {
        let mut s = ShiftedSums::default();
        s.add(50.0);
        s.add(1e9);
        s.add(50.01);
        s.remove(50.0);
        s.remove(1e9);
        assert!(s.needs_rebase());
        s.rebase([50.01]);
        assert_eq!(s.variance(), 0.0);
        s.add(50.02);
        assert!((s.variance() - 0.000025).abs() < 1e-15);
    }
}
