//! Alerts: what an ingest can raise, as plain values the server turns into
//! `alerts` room messages.
//!
//! [`Alert::data_json`] is the message's `data` object, field for field:
//! - `{"type":"anomaly_detected","metric","value","z_score","severity"}`;
//!   `z_score` is `null` when the trailing window had no spread (every
//!   point equal) and the new value differs from them (an unbounded score);
//! - `{"type":"threshold_exceeded","metric","value","threshold","severity"}`.
//!
//! [`Alert::priority`] is the message's top-level `priority`: the severity's
//! name (as in the FOG document, where a `critical` alert has priority
//! `critical`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::MonitorError;

/// How serious an alert is. Anomalies are `medium` or `high`; threshold
/// rules choose any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Warning.
    Warning,
    /// Medium (anomalies with 2.5 < |z| ≤ 3.5).
    Medium,
    /// High (anomalies with |z| > 3.5).
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The lowercase name, also the alert's priority.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Warning => "warning",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = MonitorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "warning" => Ok(Severity::Warning),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(MonitorError::InvalidConfig {
                field: "severity",
                reason: "must be info, low, warning, medium, high or critical",
            }),
        }
    }
}

/// Which side of a threshold a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Fires when the value goes above the threshold.
    Above,
    /// Fires when the value goes below the threshold.
    Below,
}

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlertKind {
    /// The value is far from the trailing 5-minute window.
    Anomaly {
        /// `|value − mean| / stddev`; `+∞` when the window had no spread.
        z_score: f64,
        /// Mean of the trailing window (the point excluded).
        mean: f64,
        /// Population standard deviation of the trailing window.
        stddev: f64,
        /// Points in the trailing window.
        window_count: u64,
    },
    /// The value crossed a configured threshold.
    Threshold {
        /// The threshold crossed.
        threshold: f64,
        /// Which way.
        direction: Direction,
        /// Index of the rule in the configuration.
        rule: usize,
    },
}

/// An alert raised by one ingested point.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The metric.
    pub metric: String,
    /// The point's value.
    pub value: f64,
    /// The point's timestamp (ms since the Unix epoch).
    pub timestamp_ms: i64,
    /// How serious.
    pub severity: Severity,
    /// What raised it.
    pub kind: AlertKind,
}

impl Alert {
    /// The message type: `anomaly_detected` or `threshold_exceeded`.
    pub fn alert_type(&self) -> &'static str {
        match self.kind {
            AlertKind::Anomaly { .. } => "anomaly_detected",
            AlertKind::Threshold { .. } => "threshold_exceeded",
        }
    }

    /// The top-level `priority` of the alert message: the severity's name.
    pub fn priority(&self) -> &'static str {
        self.severity.as_str()
    }

    /// The alert message's `data` object, exactly the documented fields.
    pub fn data_json(&self) -> Value {
        match self.kind {
            AlertKind::Anomaly { z_score, .. } => json!({
                "type": self.alert_type(),
                "metric": self.metric,
                "value": self.value,
                "z_score": if z_score.is_finite() { json!(z_score) } else { Value::Null },
                "severity": self.severity.as_str(),
            }),
            AlertKind::Threshold { threshold, .. } => json!({
                "type": self.alert_type(),
                "metric": self.metric,
                "value": self.value,
                "threshold": threshold,
                "severity": self.severity.as_str(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_match_the_spec() {
        let mut a = Alert {
            metric: "cpu_usage".into(),
            value: 95.0,
            timestamp_ms: 1,
            severity: Severity::Critical,
            kind: AlertKind::Threshold {
                threshold: 90.0,
                direction: Direction::Above,
                rule: 0,
            },
        };
        assert_eq!(
            a.data_json(),
            json!({"type":"threshold_exceeded","metric":"cpu_usage","value":95.0,"threshold":90.0,"severity":"critical"})
        );
        assert_eq!(a.priority(), "critical");
        a.severity = Severity::High;
        a.kind = AlertKind::Anomaly {
            z_score: f64::INFINITY,
            mean: 1.0,
            stddev: 0.0,
            window_count: 30,
        };
        assert_eq!(
            a.data_json(),
            json!({"type":"anomaly_detected","metric":"cpu_usage","value":95.0,"z_score":null,"severity":"high"})
        );
        for s in ["info", "low", "warning", "medium", "high", "critical"] {
            assert_eq!(s.parse::<Severity>().map(|v| v.as_str()).ok(), Some(s));
        }
        assert!("urgent".parse::<Severity>().is_err());
    }
}
