//! The monitoring routes (docs/monitoring.md), behind [`ApiAccess`] like
//! the rest of the server API:
//! - `GET /api/ws/metrics`: the metric names;
//! - `POST /api/ws/metrics`: `{metric, value, timestamp?}`, a list of
//!   them, or `{"metrics": [...]}`;
//! - `GET /api/ws/metrics/history?metric=&hours=|from=&to=&step=`;
//! - `GET /api/ws/metrics/statistics?metric=&window=1m|5m|1h`;
//! - `GET /api/ws/metrics/summary`;
//! - `POST /api/ws/tasks`: `{id, name, status, progress, eta?}` or a list.
//!
//! Errors use the protocol's error shape: 400 `invalid_field` naming the
//! parameter (`"parameter"`, and the aggregator's code under `"reason"`),
//! 404 `not_found` for an unknown metric.

// The error side of each handler is a ready HTTP reply (cold path).
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wavecast_monitor::{HistoryQuery, MonitorError, Window, MINUTE_MS};
use wavecast_protocol::to_client::error_fields;
use wavecast_protocol::ErrorCode;

use super::access::ApiAccess;
use super::errors::error_response;
use super::monitoring_schema::{
    IngestReply, MetricHistory, MetricNames, MetricPoints, MetricStatistics, MetricsSummary,
    ParameterError, TaskReports, TasksReply,
};
use super::schema::{AccessRefused, BodyRefused, ErrorBody};
use crate::config::parse_duration;
use crate::monitoring::core::HistoryError;
use crate::monitoring::publisher::publish_alerts;
use crate::monitoring::tasks::TaskReport;
use crate::monitoring::Monitoring;
use crate::state::AppState;

type Params = Result<Query<BTreeMap<String, String>>, QueryRejection>;
type Reply = Result<Response, Response>;

/// Most points in one `POST /api/ws/metrics`.
pub const MAX_BATCH: usize = 10_000;

/// 400 `invalid_field` naming `parameter`, with the aggregator's code.
fn bad_param(parameter: &str, reason: &str, message: &str) -> Response {
    let mut body = error_fields(ErrorCode::InvalidField, message);
    body.insert("type".into(), "error".into());
    body.insert("parameter".into(), parameter.into());
    body.insert("reason".into(), reason.into());
    (StatusCode::BAD_REQUEST, Json(Value::Object(body))).into_response()
}

/// A [`MonitorError`] as an HTTP reply about `parameter`.
fn monitor_error(parameter: &str, e: &MonitorError) -> Response {
    match e {
        MonitorError::UnknownMetric { metric } => error_response(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            &format!("no metric {metric:?}"),
        ),
        _ => bad_param(parameter, e.code(), &format!("{parameter}: {e}")),
    }
}

fn params(q: Params) -> Result<BTreeMap<String, String>, Response> {
    q.map(|Query(m)| m)
        .map_err(|e| bad_param("query", "invalid_query", &e.body_text()))
}

fn metric_param(p: &BTreeMap<String, String>) -> Result<String, Response> {
    match p.get("metric") {
        Some(m) if !m.is_empty() => Ok(m.clone()),
        _ => Err(bad_param("metric", "missing", "metric is required")),
    }
}

fn number(p: &BTreeMap<String, String>, name: &str) -> Result<Option<f64>, Response> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(bad_param(
                name,
                "not_a_number",
                &format!("{name} must be a number, not {v:?}"),
            )),
        },
    }
}

/// `step`: a duration (`5m`, `1h`) or a number of seconds.
fn step(p: &BTreeMap<String, String>) -> Result<Option<i64>, Response> {
    let Some(s) = p.get("step") else {
        return Ok(None);
    };
    let ms = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => (secs * 1000.0).round() as i64,
        Ok(_) => return Err(bad_param("step", "invalid_step", "step must be above 0")),
        Err(_) => parse_duration(s)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .map_err(|e| bad_param("step", "invalid_step", &format!("step: {e}")))?,
    };
    if ms < MINUTE_MS || ms % MINUTE_MS != 0 {
        return Err(bad_param(
            "step",
            "invalid_step",
            "step must be a whole number of minutes, from 1m to 1d",
        ));
    }
    Ok(Some(ms))
}

/// A timestamp: ms since the epoch (numbers below 1e11 are seconds).
fn timestamp_ms(v: f64) -> i64 {
    if v.abs() < 1e11 {
        (v * 1000.0).round() as i64
    } else {
        v.round() as i64
    }
}

fn history_query(p: &BTreeMap<String, String>, now: i64) -> Result<HistoryQuery, Response> {
    let step = step(p)?;
    let range = |e: MonitorError, name| bad_param(name, e.code(), &format!("{name}: {e}"));
    match (number(p, "hours")?, number(p, "from")?, number(p, "to")?) {
        (Some(_), Some(_), _) => Err(bad_param(
            "hours",
            "invalid_range",
            "give hours, or from (and to), not both",
        )),
        (Some(h), None, to) => {
            let to = to.map_or(now, timestamp_ms);
            HistoryQuery::last_hours(h, to, step).map_err(|e| range(e, "hours"))
        }
        (None, Some(from), to) => {
            let to = to.map_or(now, timestamp_ms);
            HistoryQuery::new(timestamp_ms(from), to, step).map_err(|e| range(e, "from"))
        }
        (None, None, to) => HistoryQuery::last_hours(1.0, to.map_or(now, timestamp_ms), step)
            .map_err(|e| range(e, "to")),
    }
}

/// `GET /api/ws/metrics`.
#[utoipa::path(
    get,
    path = "/api/ws/metrics",
    tag = "monitoring",
    responses(
        (status = 200, description = "The names of the metrics known", body = MetricNames),
        AccessRefused,
    ),
)]
pub async fn list(_: ApiAccess, State(mon): State<Arc<Monitoring>>) -> Json<Value> {
    let names = mon.core.names();
    Json(json!({
        "count": names.len(),
        "metrics": names,
        "storage": mon.core.store().engine(),
    }))
}

/// `GET /api/ws/metrics/statistics?metric=&window=`.
#[utoipa::path(
    get,
    path = "/api/ws/metrics/statistics",
    tag = "monitoring",
    params(
        ("metric" = String, Query, description = "The metric's name"),
        ("window" = Option<String>, Query, description = "`1m`, `5m` (the default) or `1h`"),
    ),
    responses(
        (status = 200, description = "Statistics of the metric's window (null when it holds no point)", body = MetricStatistics),
        (status = 400, description = "invalid_field: a missing metric or a bad window (parameter and reason name it)", body = ParameterError),
        AccessRefused,
        (status = 404, description = "not_found: no such metric", body = ErrorBody),
    ),
)]
pub async fn statistics(_: ApiAccess, State(mon): State<Arc<Monitoring>>, q: Params) -> Reply {
    let p = params(q)?;
    let metric = metric_param(&p)?;
    let window: Window = p
        .get("window")
        .map_or("5m", String::as_str)
        .parse()
        .map_err(|e: MonitorError| monitor_error("window", &e))?;
    let stats = mon
        .core
        .statistics(&metric, window)
        .map_err(|e| monitor_error("metric", &e))?;
    Ok(Json(json!({
        "metric": metric,
        "window": window.as_str(),
        "statistics": stats,
        "timestamp": mon.core.now(),
    }))
    .into_response())
}

/// `GET /api/ws/metrics/history?metric=&hours=` (or `from`, `to`, `step`).
#[utoipa::path(
    get,
    path = "/api/ws/metrics/history",
    tag = "monitoring",
    params(
        ("metric" = String, Query, description = "The metric's name"),
        ("hours" = Option<f64>, Query, description = "The last hours up to `to` (1 when neither hours nor from is given); not with from"),
        ("from" = Option<f64>, Query, description = "Exclusive lower bound (ms since the epoch; numbers below 1e11 are seconds)"),
        ("to" = Option<f64>, Query, description = "Inclusive upper bound (same units; now when absent)"),
        ("step" = Option<String>, Query, description = "Bucket width: a duration (`5m`, `1h`) or seconds, a whole number of minutes from 1m to 1d; chosen from the span when absent"),
    ),
    responses(
        (status = 200, description = "Raw points or rollup buckets of the range", body = MetricHistory),
        (status = 400, description = "invalid_field: a missing metric, or a bad hours, from, to or step (parameter and reason name it)", body = ParameterError),
        AccessRefused,
        (status = 404, description = "not_found: no such metric", body = ErrorBody),
        (status = 503, description = "unavailable: the metrics storage failed", body = ErrorBody),
    ),
)]
pub async fn history(_: ApiAccess, State(mon): State<Arc<Monitoring>>, q: Params) -> Reply {
    let p = params(q)?;
    let metric = metric_param(&p)?;
    let query = history_query(&p, mon.core.now())?;
    let m = mon.clone();
    let answer = tokio::task::spawn_blocking(move || m.core.history(&metric, query))
        .await
        .map_err(|_| {
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "history query failed",
            )
        })?;
    match answer {
        Ok(h) => Ok(Json(h).into_response()),
        Err(HistoryError::Monitor(e)) => Err(monitor_error("metric", &e)),
        Err(HistoryError::Storage(e)) => {
            tracing::error!(error = %e, "monitoring history read failed");
            Err(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "metrics storage is unavailable",
            ))
        }
    }
}

/// `GET /api/ws/metrics/summary`.
#[utoipa::path(
    get,
    path = "/api/ws/metrics/summary",
    tag = "monitoring",
    responses(
        (status = 200, description = "Every metric's newest point and 5-minute statistics", body = MetricsSummary),
        AccessRefused,
    ),
)]
pub async fn summary(_: ApiAccess, State(mon): State<Arc<Monitoring>>) -> Json<Value> {
    let all = mon.core.summary();
    Json(json!({
        "count": all.len(),
        "metrics": all,
        "timestamp": mon.core.now(),
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PointBody {
    metric: String,
    value: f64,
    #[serde(default)]
    timestamp: Option<f64>,
}

/// The points of a body: one object, a list, or `{"metrics": [...]}`.
fn points_of(body: Value) -> Result<Vec<Value>, Response> {
    let list = match body {
        Value::Array(a) => a,
        Value::Object(mut m) if m.contains_key("metrics") => match m.remove("metrics") {
            Some(Value::Array(a)) => a,
            _ => return Err(bad_param("metrics", "invalid", "metrics must be a list")),
        },
        v @ Value::Object(_) => vec![v],
        _ => {
            return Err(bad_param(
                "body",
                "invalid",
                "send {metric, value, timestamp?}, a list of them, or {\"metrics\": [...]}",
            ))
        }
    };
    if list.is_empty() || list.len() > MAX_BATCH {
        return Err(bad_param(
            "metrics",
            "invalid_batch",
            &format!("send 1 to {MAX_BATCH} points"),
        ));
    }
    Ok(list)
}

fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, Response> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "request body is larger than http.max_body_bytes",
            )
        } else {
            bad_param("body", "invalid_json", &e.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            &format!("invalid request body: {e}"),
        )
    })
}

/// `POST /api/ws/metrics`: one point (refused with 400) or a batch
/// (answered with what was refused, by index).
#[utoipa::path(
    post,
    path = "/api/ws/metrics",
    tag = "monitoring",
    request_body = MetricPoints,
    responses(
        (status = 200, description = "Points recorded; a batch names the points refused, by index", body = IngestReply),
        (status = 400, description = "invalid_json, or invalid_field: a bad single point or an empty or oversized batch (parameter and reason name it)", body = ParameterError),
        AccessRefused,
        BodyRefused,
    ),
)]
pub async fn ingest(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    State(mon): State<Arc<Monitoring>>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let body = json_body(body)?;
    let single = body.is_object() && body.get("metrics").is_none();
    let list = points_of(body)?;
    let (mut accepted, mut rejected, mut alerts) = (0usize, Vec::new(), Vec::new());
    for (i, item) in list.into_iter().enumerate() {
        let point: PointBody = match serde_json::from_value(item) {
            Ok(p) => p,
            Err(e) if single => return Err(bad_param("body", "invalid_point", &e.to_string())),
            Err(e) => {
                rejected
                    .push(json!({"index": i, "reason": "invalid_point", "error": e.to_string()}));
                continue;
            }
        };
        match mon.core.ingest(
            &point.metric,
            point.value,
            point.timestamp.map(timestamp_ms),
        ) {
            Ok(a) => {
                accepted += 1;
                alerts.extend(a);
            }
            Err(e) if single => return Err(monitor_error(param_of(&e), &e)),
            Err(e) => rejected.push(json!({
                "index": i, "metric": point.metric, "reason": e.code(), "error": e.to_string(),
            })),
        }
    }
    publish_alerts(&state, &mon, &alerts).await;
    Ok(Json(json!({
        "accepted": accepted,
        "rejected": rejected,
        "alerts": alerts.len(),
    }))
    .into_response())
}

/// Which field of a point an ingest error is about.
fn param_of(e: &MonitorError) -> &'static str {
    match e {
        MonitorError::TimestampOutOfRange { .. } | MonitorError::OutOfOrder { .. } => "timestamp",
        MonitorError::NotFinite { .. } | MonitorError::ValueOutOfRange { .. } => "value",
        _ => "metric",
    }
}

/// `POST /api/ws/tasks`: one report or a list (`{"tasks": [...]}` too).
#[utoipa::path(
    post,
    path = "/api/ws/tasks",
    tag = "monitoring",
    request_body = TaskReports,
    responses(
        (status = 200, description = "Reports recorded (published to the tasks room)", body = TasksReply),
        (status = 400, description = "invalid_json, or invalid_field: a bad report or too many (parameter and reason name it)", body = ParameterError),
        AccessRefused,
        BodyRefused,
    ),
)]
pub async fn tasks(
    _: ApiAccess,
    State(mon): State<Arc<Monitoring>>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let list = match json_body(body)? {
        Value::Array(a) => a,
        Value::Object(mut m) if m.contains_key("tasks") => match m.remove("tasks") {
            Some(Value::Array(a)) => a,
            _ => return Err(bad_param("tasks", "invalid", "tasks must be a list")),
        },
        v => vec![v],
    };
    if list.len() > MAX_BATCH {
        return Err(bad_param(
            "tasks",
            "invalid_batch",
            "too many tasks in one request",
        ));
    }
    let mut accepted = 0;
    for item in list {
        let report: TaskReport = serde_json::from_value(item)
            .map_err(|e| bad_param("body", "invalid_task", &format!("invalid task: {e}")))?;
        mon.tasks
            .report(report)
            .map_err(|(field, why)| bad_param(field, "invalid_task", &format!("{field}: {why}")))?;
        accepted += 1;
    }
    Ok(Json(json!({"accepted": accepted})).into_response())
}
