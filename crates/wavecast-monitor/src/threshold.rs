//! Threshold rules: one alert per crossing, re-armed by crossing back,
//! with a cooldown.
//!
//! A rule watches one metric on one side: `above = T` fires when a point's
//! value is `> T`; `below = T` fires when it is `< T`. Each rule is a
//! two-state machine driven by the metric's points in order:
//! - **armed**: a value beyond `T` fires an alert and the rule becomes
//!   *fired*, unless the previous alert of this rule is less than
//!   `cooldown_ms` old (by point timestamps); then the rule stays armed,
//!   silent, and the first point beyond `T` once the cooldown is over fires.
//!   A crossing that ends within the cooldown is therefore never alerted,
//!   and a condition that lasts past it is alerted once;
//! - **fired**: silent until a value is back on the other side, `<= T − h`
//!   for `above` (`>= T + h` for `below`), with `h = hysteresis` (default 0);
//!   then armed again.

use serde::{Deserialize, Serialize};

use crate::alert::{Direction, Severity};
use crate::name::validate_name;
use crate::MonitorError;

/// One `[[monitoring.thresholds]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    /// The metric watched (exact name).
    pub metric: String,
    /// Fire when the value is above this. Exactly one of `above`, `below`.
    #[serde(default)]
    pub above: Option<f64>,
    /// Fire when the value is below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// The alert's severity (and priority).
    pub severity: Severity,
    /// Minimum time between two alerts of this rule, in ms (default 0).
    #[serde(default)]
    pub cooldown_ms: u64,
    /// How far back across the threshold the value must go to re-arm the
    /// rule (default 0, non-negative).
    #[serde(default)]
    pub hysteresis: f64,
}

impl ThresholdRule {
    /// The watched side and threshold.
    ///
    /// # Errors
    /// [`MonitorError::InvalidRule`] when the name is invalid, both or
    /// neither of `above` and `below` are set, the threshold is not finite,
    /// or the hysteresis is negative or not finite.
    pub fn validate(&self) -> Result<(Direction, f64), MonitorError> {
        let invalid = |field, reason| MonitorError::InvalidRule {
            metric: self.metric.chars().take(64).collect(),
            field,
            reason,
        };
        validate_name(&self.metric).map_err(|_| invalid("metric", "is not a valid metric name"))?;
        let (direction, threshold) = match (self.above, self.below) {
            (Some(t), None) => (Direction::Above, t),
            (None, Some(t)) => (Direction::Below, t),
            _ => return Err(invalid("above", "or below: set exactly one of them")),
        };
        if !threshold.is_finite() {
            return Err(invalid(
                if direction == Direction::Above {
                    "above"
                } else {
                    "below"
                },
                "must be a finite number",
            ));
        }
        if !(self.hysteresis.is_finite() && self.hysteresis >= 0.0) {
            return Err(invalid("hysteresis", "must be a finite number >= 0"));
        }
        Ok((direction, threshold))
    }
}

/// A crossing a rule reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Crossing {
    pub(crate) threshold: f64,
    pub(crate) direction: Direction,
    pub(crate) severity: Severity,
}

/// The state machine of one validated rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleState {
    direction: Direction,
    threshold: f64,
    hysteresis: f64,
    severity: Severity,
    cooldown_ms: i64,
    fired: bool,
    last_alert_ms: Option<i64>,
}

impl RuleState {
    pub(crate) fn new(rule: &ThresholdRule) -> Result<Self, MonitorError> {
        let (direction, threshold) = rule.validate()?;
        Ok(RuleState {
            direction,
            threshold,
            hysteresis: rule.hysteresis,
            severity: rule.severity,
            cooldown_ms: i64::try_from(rule.cooldown_ms).unwrap_or(i64::MAX),
            fired: false,
            last_alert_ms: None,
        })
    }

    /// Feeds one point; returns the crossing to alert, if any.
    pub(crate) fn observe(&mut self, value: f64, timestamp_ms: i64) -> Option<Crossing> {
        let (beyond, back) = match self.direction {
            Direction::Above => (
                value > self.threshold,
                value <= self.threshold - self.hysteresis,
            ),
            Direction::Below => (
                value < self.threshold,
                value >= self.threshold + self.hysteresis,
            ),
        };
        if self.fired {
            self.fired = !back;
            return None;
        }
        if !beyond {
            return None;
        }
        let cooled = self
            .last_alert_ms
            .is_none_or(|last| timestamp_ms.saturating_sub(last) >= self.cooldown_ms);
        if !cooled {
            return None;
        }
        self.fired = true;
        self.last_alert_ms = Some(timestamp_ms);
        Some(Crossing {
            threshold: self.threshold,
            direction: self.direction,
            severity: self.severity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        above: Option<f64>,
        below: Option<f64>,
        cooldown_ms: u64,
        hysteresis: f64,
    ) -> ThresholdRule {
        ThresholdRule {
            metric: "cpu".into(),
            above,
            below,
            severity: Severity::Critical,
            cooldown_ms,
            hysteresis,
        }
    }

    fn fires(state: &mut RuleState, series: &[(i64, f64)]) -> Vec<i64> {
        series
            .iter()
            .filter_map(|&(t, v)| state.observe(v, t).map(|_| t))
            .collect()
    }

    #[test]
    fn one_alert_per_crossing_and_equal_is_not_beyond() {
        let mut s =
            RuleState::new(&rule(Some(90.0), None, 0, 0.0)).unwrap_or_else(|e| panic!("{e}"));
        let series = [
            (0, 80.0),
            (1, 90.0),
            (2, 95.0),
            (3, 99.0),
            (4, 90.0),
            (5, 91.0),
            (6, 92.0),
        ];
        assert_eq!(fires(&mut s, &series), vec![2, 5]);
        let mut s =
            RuleState::new(&rule(None, Some(10.0), 0, 0.0)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fires(
                &mut s,
                &[(0, 11.0), (1, 9.0), (2, 8.0), (3, 10.0), (4, 9.9)]
            ),
            vec![1, 4]
        );
    }

    #[test]
    fn hysteresis_needs_a_real_return() {
        let mut s =
            RuleState::new(&rule(Some(90.0), None, 0, 5.0)).unwrap_or_else(|e| panic!("{e}"));
        let series = [(0, 95.0), (1, 89.0), (2, 95.0), (3, 85.0), (4, 95.0)];
        assert_eq!(fires(&mut s, &series), vec![0, 4]);
    }

    #[test]
    fn cooldown_defers_and_suppresses() {
        let mut s =
            RuleState::new(&rule(Some(90.0), None, 1_000, 0.0)).unwrap_or_else(|e| panic!("{e}"));
        // Crossing at 0 fires; the one at 500 ends within the cooldown: silent;
        // the one at 800 lasts past 1,000: fires at the first point after.
        let series = [
            (0, 95.0),
            (100, 80.0),
            (500, 95.0),
            (600, 80.0),
            (800, 95.0),
            (999, 96.0),
            (1_000, 97.0),
            (1_100, 98.0),
        ];
        assert_eq!(fires(&mut s, &series), vec![0, 1_000]);
    }

    #[test]
    fn invalid_rules_name_the_field() {
        let field = |r: ThresholdRule| match r.validate() {
            Err(MonitorError::InvalidRule { field, .. }) => field,
            _ => "ok",
        };
        assert_eq!(field(rule(Some(1.0), Some(2.0), 0, 0.0)), "above");
        assert_eq!(field(rule(None, None, 0, 0.0)), "above");
        assert_eq!(field(rule(None, Some(f64::NAN), 0, 0.0)), "below");
        assert_eq!(field(rule(Some(1.0), None, 0, -1.0)), "hysteresis");
        let mut bad = rule(Some(1.0), None, 0, 0.0);
        bad.metric = "a b".into();
        assert_eq!(field(bad), "metric");
    }
}
