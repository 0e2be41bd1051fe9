//! The shapes of the monitoring routes' requests and answers
//! ([`super::monitoring`]), for the OpenAPI document. Like
//! [`super::schema`], the types only describe: the handlers build their
//! answers as JSON values, and `tests/openapi.rs` checks real answers
//! against these descriptions.

// The types are never built: they only describe.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::schema::ErrorBody;

/// A 400 from a monitoring route: the error shape (`code` is
/// `invalid_field` or `invalid_json`) plus the parameter at fault and the
/// aggregator's reason.
#[derive(ToSchema, Serialize)]
pub struct ParameterError {
    #[schema(inline)]
    #[serde(flatten)]
    pub error: ErrorBody,
    /// The query parameter or body field at fault (`metric`, `window`,
    /// `hours`, `from`, `to`, `step`, `value`, `timestamp`, `body`...).
    pub parameter: String,
    /// Why: `missing`, `not_a_number`, `invalid_point`, `invalid_batch`,
    /// `invalid_task`, or one of the aggregator's codes
    /// (docs/monitoring.md).
    pub reason: String,
}

/// One point of `POST /api/ws/metrics`.
#[derive(ToSchema, Serialize)]
pub struct MetricPoint {
    /// The metric's name (docs/monitoring.md: naming).
    pub metric: String,
    /// A finite value.
    pub value: f64,
    /// When (ms since the epoch; numbers below 1e11 are seconds); now when
    /// absent.
    pub timestamp: Option<f64>,
}

/// The body of `POST /api/ws/metrics`: one point (refused with 400 when
/// bad), a list of 1 to 10,000 points, or `{"metrics": [...]}`.
#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum MetricPoints {
    One(MetricPoint),
    List(Vec<MetricPoint>),
    Wrapped {
        /// The points.
        metrics: Vec<MetricPoint>,
    },
}

/// The answer of `POST /api/ws/metrics`.
#[derive(ToSchema, Serialize)]
pub struct IngestReply {
    /// Points recorded.
    pub accepted: u64,
    /// The points of a batch refused, each `{index, metric?, reason,
    /// error}`.
    pub rejected: Vec<Value>,
    /// Alerts raised (published to the alerts room).
    pub alerts: u64,
}

/// The answer of `GET /api/ws/metrics`.
#[derive(ToSchema, Serialize)]
pub struct MetricNames {
    /// Number of metrics.
    pub count: u64,
    /// Their names.
    pub metrics: Vec<String>,
    /// Where the rollups live: `memory` or `embedded`.
    pub storage: String,
}

/// Statistics of a window of a metric.
#[derive(ToSchema, Serialize)]
pub struct WindowStats {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub median: f64,
    pub stddev: f64,
    pub p95: f64,
}

/// The answer of `GET /api/ws/metrics/statistics`.
#[derive(ToSchema, Serialize)]
pub struct MetricStatistics {
    pub metric: String,
    /// `1m`, `5m` or `1h`.
    pub window: String,
    /// `null` when the window holds no point.
    pub statistics: Option<WindowStats>,
    /// Now (ms since the epoch).
    pub timestamp: i64,
}

/// The answer of `GET /api/ws/metrics/history`.
#[derive(ToSchema, Serialize)]
pub struct MetricHistory {
    pub metric: String,
    /// Exclusive lower bound asked (ms since the epoch).
    pub from: i64,
    /// Inclusive upper bound asked (ms since the epoch).
    pub to: i64,
    /// `raw` (points `{timestamp, value}`) or `rollup` (buckets
    /// `{timestamp, count, min, max, avg}` of `step_ms`).
    pub resolution: String,
    /// Bucket width in ms (rollups only).
    pub step_ms: Option<i64>,
    /// The points or buckets.
    pub points: Vec<Value>,
}

/// One metric of `GET /api/ws/metrics/summary`.
#[derive(ToSchema, Serialize)]
pub struct MetricSummary {
    pub metric: String,
    /// The newest point `{timestamp, value}`; `null` for a metric only
    /// restored from storage.
    pub latest: Option<Value>,
    /// Statistics of its 5-minute window.
    pub stats_5m: Option<WindowStats>,
}

/// The answer of `GET /api/ws/metrics/summary`.
#[derive(ToSchema, Serialize)]
pub struct MetricsSummary {
    pub count: u64,
    pub metrics: Vec<MetricSummary>,
    /// Now (ms since the epoch).
    pub timestamp: i64,
}

/// One report of `POST /api/ws/tasks`.
#[derive(ToSchema, Serialize)]
pub struct TaskReportBody {
    /// 1-128 bytes.
    pub id: String,
    /// At most 256 bytes.
    pub name: Option<String>,
    /// `pending`, `running`, `completed` or `failed`.
    pub status: String,
    /// From 0 to 1.
    pub progress: Option<f64>,
    /// Seconds left, when known.
    pub eta: Option<f64>,
}

/// The body of `POST /api/ws/tasks`: one report, a list, or
/// `{"tasks": [...]}`.
#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum TaskReports {
    One(TaskReportBody),
    List(Vec<TaskReportBody>),
    Wrapped {
        /// The reports.
        tasks: Vec<TaskReportBody>,
    },
}

/// The answer of `POST /api/ws/tasks`.
#[derive(ToSchema, Serialize)]
pub struct TasksReply {
    /// Reports recorded.
    pub accepted: u64,
}
