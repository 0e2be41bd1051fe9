//! The typed error of the crate: every refusal has a stable machine code
//! ([`MonitorError::code`]) the server can put in its JSON error body, and a
//! human message (`Display`). Nothing in this crate panics on bad input.

use std::fmt;

/// Why a point, a query, a rule or a stored block was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorError {
    /// The metric name is empty, too long or has a character outside
    /// `[A-Za-z0-9_.:/-]`.
    InvalidMetricName {
        /// The name given (cut to 64 characters for display).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value is NaN or infinite.
    NotFinite {
        /// The metric.
        metric: String,
    },
    /// A value's magnitude is above [`crate::MAX_ABS_VALUE`].
    ValueOutOfRange {
        /// The metric.
        metric: String,
        /// The value given.
        value: f64,
    },
    /// The timestamp is negative, more than `max_future_ms` ahead of the
    /// clock, or already outside the raw window (older than one hour).
    TimestampOutOfRange {
        /// The metric.
        metric: String,
        /// The timestamp given (ms since the Unix epoch).
        timestamp_ms: i64,
        /// The clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// The timestamp is older than the metric's latest point, or falls in
    /// an hour whose rollup block is already sealed.
    OutOfOrder {
        /// The metric.
        metric: String,
        /// The timestamp given.
        timestamp_ms: i64,
        /// The smallest timestamp the metric accepts now.
        accepts_from_ms: i64,
    },
    /// A new metric name would exceed `max_metrics`.
    TooManyMetrics {
        /// The configured bound.
        max_metrics: usize,
    },
    /// The metric is not known to the aggregator.
    UnknownMetric {
        /// The metric asked for.
        metric: String,
    },
    /// A window name other than `1m`, `5m` or `1h`.
    InvalidWindow {
        /// The window given.
        window: String,
    },
    /// A history range with `from >= to`, or a non-positive or non-finite
    /// `hours`.
    InvalidRange {
        /// What is wrong.
        reason: String,
    },
    /// A history step that is not a positive whole number of minutes, or
    /// above a day.
    InvalidStep {
        /// The step given, in ms.
        step_ms: i64,
    },
    /// A threshold rule that cannot work; `field` names the rule's key.
    InvalidRule {
        /// The rule's metric.
        metric: String,
        /// The offending field (`above`, `below`, `hysteresis`, `severity`…).
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A configuration value out of its range.
    InvalidConfig {
        /// The configuration field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A stored block or key that does not decode.
    CorruptBlock {
        /// What is wrong.
        reason: &'static str,
    },
    /// A stored raw chunk or its key that does not decode.
    CorruptRawChunk {
        /// What is wrong.
        reason: &'static str,
    },
}

impl MonitorError {
    /// The stable machine code of the error, for JSON error bodies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidMetricName { .. } => "invalid_metric_name",
            Self::NotFinite { .. } => "value_not_finite",
            Self::ValueOutOfRange { .. } => "value_out_of_range",
            Self::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            Self::OutOfOrder { .. } => "out_of_order",
            Self::TooManyMetrics { .. } => "too_many_metrics",
            Self::UnknownMetric { .. } => "unknown_metric",
            Self::InvalidWindow { .. } => "invalid_window",
            Self::InvalidRange { .. } => "invalid_range",
            Self::InvalidStep { .. } => "invalid_step",
            Self::InvalidRule { .. } => "invalid_threshold_rule",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::CorruptBlock { .. } => "corrupt_block",
            Self::CorruptRawChunk { .. } => "corrupt_raw_chunk",
        }
    }
}

impl fmt::Display for MonitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMetricName { name, reason } => {
                write!(f, "invalid metric name {name:?}: {reason}")
            }
            Self::NotFinite { metric } => write!(f, "{metric}: value is NaN or infinite"),
            Self::ValueOutOfRange { metric, value } => write!(
                f,
                "{metric}: value {value:e} is beyond ±{:e}",
                crate::MAX_ABS_VALUE
            ),
            Self::TimestampOutOfRange {
                metric,
                timestamp_ms,
                now_ms,
            } => write!(
                f,
                "{metric}: timestamp {timestamp_ms} ms is outside the accepted range around now ({now_ms} ms)"
            ),
            Self::OutOfOrder {
                metric,
                timestamp_ms,
                accepts_from_ms,
            } => write!(
                f,
                "{metric}: timestamp {timestamp_ms} ms is older than {accepts_from_ms} ms, the earliest it accepts"
            ),
            Self::TooManyMetrics { max_metrics } => {
                write!(f, "too many metrics: the limit is {max_metrics}")
            }
            Self::UnknownMetric { metric } => write!(f, "unknown metric {metric:?}"),
            Self::InvalidWindow { window } => {
                write!(f, "invalid window {window:?}: use 1m, 5m or 1h")
            }
            Self::InvalidRange { reason } => write!(f, "invalid range: {reason}"),
            Self::InvalidStep { step_ms } => write!(
                f,
                "invalid step {step_ms} ms: use a whole number of minutes, at most a day"
            ),
            Self::InvalidRule {
                metric,
                field,
                reason,
            } => write!(f, "threshold rule for {metric:?}: {field} {reason}"),
            Self::InvalidConfig { field, reason } => write!(f, "{field} {reason}"),
            Self::CorruptBlock { reason } => write!(f, "corrupt rollup block: {reason}"),
            Self::CorruptRawChunk { reason } => write!(f, "corrupt raw chunk: {reason}"),
        }
    }
}

impl std::error::Error for MonitorError {}
