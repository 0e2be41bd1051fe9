//! The aggregator's configuration: bounds, the anomaly rule and the
//! threshold rules. Retention spans (raw 1 h, rollups 7 days) and the
//! statistics windows are fixed by the specification, not configured.

use serde::{Deserialize, Serialize};

use crate::anomaly::AnomalyConfig;
use crate::threshold::ThresholdRule;
use crate::MonitorError;

/// Configuration of an [`Aggregator`](crate::Aggregator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Most metrics held at once; a new name past it is refused with
    /// [`MonitorError::TooManyMetrics`].
    pub max_metrics: usize,
    /// Most raw points held per metric (the oldest go first). The default,
    /// 7,200, is one hour at 2 points/s; a faster metric's 1h statistics
    /// then cover less than the hour. Raw memory is at most
    /// `max_metrics × max_points_per_metric × 16` bytes (plus the ring's
    /// power-of-two rounding).
    pub max_points_per_metric: usize,
    /// How far ahead of the clock a point's timestamp may be, in ms
    /// (default 5,000). Keep it small: a metric refuses points older than
    /// its newest one, so a point from a clock running ahead holds back the
    /// metric's on-time points until the clock catches up.
    pub max_future_ms: i64,
    /// The z-score rule.
    pub anomaly: AnomalyConfig,
    /// `[[monitoring.thresholds]]`.
    pub thresholds: Vec<ThresholdRule>,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            max_metrics: 1_000,
            max_points_per_metric: 7_200,
            max_future_ms: 5_000,
            anomaly: AnomalyConfig::default(),
            thresholds: Vec::new(),
        }
    }
}

impl AggregatorConfig {
    /// Checks every field and rule.
    ///
    /// # Errors
    /// [`MonitorError::InvalidConfig`] or [`MonitorError::InvalidRule`]
    /// naming the field.
    pub fn validate(&self) -> Result<(), MonitorError> {
        if !(1..=1_000_000).contains(&self.max_metrics) {
            return Err(MonitorError::InvalidConfig {
                field: "max_metrics",
                reason: "must be between 1 and 1000000",
            });
        }
        if !(1..=10_000_000).contains(&self.max_points_per_metric) {
            return Err(MonitorError::InvalidConfig {
                field: "max_points_per_metric",
                reason: "must be between 1 and 10000000",
            });
        }
        if !(0..=crate::window::DAY_MS).contains(&self.max_future_ms) {
            return Err(MonitorError::InvalidConfig {
                field: "max_future_ms",
                reason: "must be between 0 and 86400000 (a day)",
            });
        }
        self.anomaly.validate()?;
        for rule in &self.thresholds {
            rule.validate()?;
        }
        Ok(())
    }
}
