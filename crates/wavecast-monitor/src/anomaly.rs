//! The z-score anomaly rule.
//!
//! For a new point `(t, x)` of a metric, the **trailing window** is the
//! metric's points already recorded with timestamps in `(t − 5 min, t]`
//! (points recorded earlier with the same timestamp are in; the new point
//! itself is not). With `n` points, mean `μ` and population standard
//! deviation `σ` there:
//! - if `n < min_points` (30 by default) the point is not scored;
//! - `z = |x − μ| / σ`; when `σ = 0`, `z = 0` if `x = μ` and `z = +∞`
//!   otherwise (a window with no spread: any different value is infinitely
//!   unusual; the alert carries `z_score: null`);
//! - `z > high_z` (3.5) is a `high` anomaly, `z > medium_z` (2.5) a
//!   `medium` one, anything else none. Comparisons are strict.

use serde::{Deserialize, Serialize};

use crate::alert::Severity;
use crate::series::Trailing;
use crate::MonitorError;

/// Parameters of the z-score rule (the defaults are the issue's).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Whether points are scored at all.
    pub enabled: bool,
    /// Points the trailing window needs before a point is scored.
    pub min_points: u64,
    /// Scores above this are `medium` anomalies.
    pub medium_z: f64,
    /// Scores above this are `high` anomalies.
    pub high_z: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            enabled: true,
            min_points: 30,
            medium_z: 2.5,
            high_z: 3.5,
        }
    }
}

impl AnomalyConfig {
    /// Checks `1 <= min_points`, `0 < medium_z <= high_z`, both finite.
    ///
    /// # Errors
    /// [`MonitorError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), MonitorError> {
        if self.min_points == 0 {
            return Err(MonitorError::InvalidConfig {
                field: "anomaly.min_points",
                reason: "must be at least 1",
            });
        }
        if !(self.medium_z.is_finite() && self.medium_z > 0.0) {
            return Err(MonitorError::InvalidConfig {
                field: "anomaly.medium_z",
                reason: "must be a finite number above 0",
            });
        }
        if !(self.high_z.is_finite() && self.high_z >= self.medium_z) {
            return Err(MonitorError::InvalidConfig {
                field: "anomaly.high_z",
                reason: "must be finite and at least medium_z",
            });
        }
        Ok(())
    }

    /// The z-score of `value` against `trailing`, or `None` when the window
    /// is too small to score.
    pub fn z_score(&self, value: f64, trailing: &Trailing) -> Option<f64> {
        if !self.enabled || trailing.count < self.min_points {
            return None;
        }
        let deviation = (value - trailing.mean).abs();
        if deviation == 0.0 {
            Some(0.0)
        } else if trailing.stddev > 0.0 {
            Some(deviation / trailing.stddev)
        } else {
            Some(f64::INFINITY)
        }
    }

    /// The severity of a z-score, `None` below the medium bound.
    pub fn classify(&self, z: f64) -> Option<Severity> {
        if z > self.high_z {
            Some(Severity::High)
        } else if z > self.medium_z {
            Some(Severity::Medium)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(count: u64, mean: f64, stddev: f64) -> Trailing {
        Trailing {
            count,
            mean,
            stddev,
        }
    }

    #[test]
    fn scores_need_thirty_points_and_bounds_are_strict() {
        let c = AnomalyConfig::default();
        assert_eq!(c.z_score(100.0, &window(29, 0.0, 1.0)), None);
        assert_eq!(c.z_score(3.0, &window(30, 0.0, 1.0)), Some(3.0));
        assert_eq!(c.classify(2.5), None);
        assert_eq!(c.classify(2.5000001), Some(Severity::Medium));
        assert_eq!(c.classify(3.5), Some(Severity::Medium));
        assert_eq!(c.classify(3.5000001), Some(Severity::High));
    }

    #[test]
    fn a_flat_window_scores_zero_or_infinity() {
        let c = AnomalyConfig::default();
        assert_eq!(c.z_score(5.0, &window(30, 5.0, 0.0)), Some(0.0));
        assert_eq!(c.z_score(5.5, &window(30, 5.0, 0.0)), Some(f64::INFINITY));
        assert_eq!(c.classify(f64::INFINITY), Some(Severity::High));
        let off = AnomalyConfig {
            enabled: false,
            ..c
        };
        assert_eq!(off.z_score(5.5, &window(30, 5.0, 0.0)), None);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = AnomalyConfig {
            high_z: 2.0,
            ..AnomalyConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(MonitorError::InvalidConfig {
                field: "anomaly.high_z",
                ..
            })
        ));
        assert!(AnomalyConfig::default().validate().is_ok());
    }
}
