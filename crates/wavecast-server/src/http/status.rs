//! Read-only endpoints: `/api/ws/stats` and `/api/ws/streams` (server API
//! key; the latter lists channels), and the public `/metrics`, `/health`,
//! `/ready` (which reflects the broker's health) and `/ws/config`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use wavecast_protocol::PROTOCOL_VERSION;

use wavecast_protocol::dialect::{Dialect, RateUnit};

use super::access::ApiAccess;
use super::schema::{AccessRefused, Health, Ready, Stats, Streams, WsConfig};
use crate::broker::Broker;
use crate::config::EndpointHandler;
use crate::state::AppState;

/// `GET /api/ws/stats` (FOG's `total_connections`, `active_connections`,
/// `total_messages`, `rooms_created`, `rooms`, `publishers_active`, and
/// wavecast's own counters).
#[utoipa::path(
    get,
    path = "/api/ws/stats",
    tag = "status",
    responses(
        (status = 200, description = "Counters of this node", body = Stats),
        AccessRefused,
    ),
)]
pub async fn stats(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    State(monitoring): State<Arc<crate::monitoring::Monitoring>>,
) -> Json<Value> {
    let m = &state.metrics;
    let rooms: Map<String, Value> = state
        .hub
        .channel_counts()
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    let mut created: std::collections::BTreeSet<&str> = rooms.keys().map(String::as_str).collect();
    let available = available_rooms(&state.config);
    created.extend(available.iter().map(String::as_str));
    let rooms_created = created.len();
    let sent = m.messages_sent_total.get();
    let received = m.messages_received_total.get();
    let nodes = match state.hub.nodes().await {
        Some(Ok(n)) => json!(n),
        Some(Err(e)) => json!({"error": e.to_string()}),
        None => Value::Null,
    };
    Json(json!({
        "engine": format!("{:?}", state.config.engine).to_lowercase(),
        "nodes": nodes,
        "node_id": state.node.id,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "total_connections": m.connections_total.get(),
        "active_connections": state.hub.connection_count(),
        "total_messages": sent + received,
        "messages_sent": sent,
        "messages_received": received,
        "publications": m.publications_total.get(),
        "dropped_frames": m.buffer_overflow_total.get(),
        "subscriptions": m.subscriptions.get(),
        // FOG's names: the rooms that exist (those with subscribers and
        // those the server publishes into) and the publishers the server
        // itself runs (its published rooms and the monitoring loops).
        "rooms_created": rooms_created,
        "rooms": rooms,
        "publishers_active": state.config.streams.rooms.len() + monitoring.publishers_active(),
    }))
}

/// `GET /api/ws/streams`: the streams a client can subscribe to (FOG's
/// "available streams": the rooms the server publishes into) under
/// `available`, and the channels with subscribers on this node with their
/// counts under `streams`.
#[utoipa::path(
    get,
    path = "/api/ws/streams",
    tag = "status",
    responses(
        (status = 200, description = "The rooms the server publishes into, and the channels with subscribers here", body = Streams),
        AccessRefused,
    ),
)]
pub async fn channels(_: ApiAccess, State(state): State<Arc<AppState>>) -> Json<Value> {
    let list: Vec<Value> = state
        .hub
        .channel_counts()
        .into_iter()
        .map(|(c, n)| json!({"channel": c, "subscribers": n}))
        .collect();
    let available = available_rooms(&state.config);
    Json(json!({"total": list.len(), "streams": list, "available": available}))
}

/// The rooms the server itself publishes into: published simulations and,
/// when monitoring is on, its rooms and the alerts room.
pub fn available_rooms(c: &crate::config::Config) -> Vec<String> {
    let mut rooms: Vec<String> = c.streams.rooms.iter().map(|r| r.channel.clone()).collect();
    if c.monitoring.enabled {
        rooms.extend(c.monitoring.publishers.iter().map(|p| p.room.clone()));
        rooms.push(c.monitoring.alerts_room.clone());
    }
    rooms.sort();
    rooms.dedup();
    rooms
}

/// `GET /metrics` (Prometheus / OpenMetrics text).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "status",
    responses(
        (status = 200, description = "Prometheus / OpenMetrics text (docs/observability.md)", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ),
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// `GET /health`: the process is up.
#[utoipa::path(
    get,
    path = "/health",
    tag = "status",
    responses(
        (status = 200, description = "The process is up", body = Health),
    ),
)]
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "uptime_seconds": state.started.elapsed().as_secs()}))
}

/// `GET /ready`: 200 while accepting connections and the broker can
/// publish; 503 while shutting down or while the broker is unreachable.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "status",
    responses(
        (status = 200, description = "Accepting connections, and the broker can publish", body = Ready),
        (status = 503, description = "shutting_down or engine_unavailable (this answer is not an error object: load balancers read status)", body = Ready),
    ),
)]
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let unavailable = |status: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": status, "engine": state.hub.broker().name()})),
        )
            .into_response()
    };
    if state.shutdown.is_cancelled() {
        unavailable("shutting_down")
    } else if !state.hub.broker().healthy() {
        unavailable("engine_unavailable")
    } else {
        Json(json!({"status": "ready"})).into_response()
    }
}

/// The query of `GET /ws/config`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfigQuery {
    /// Give the limits in this dialect's units (wavecast, fog, netra,
    /// neurograph, mfn).
    dialect: Option<String>,
}

/// `GET /ws/config[?dialect=…]`: service discovery for clients. Units
/// follow the dialect of the main channel endpoint (or the one asked for):
/// Netra counts `max_message_rate` per minute, the others per second.
#[utoipa::path(
    get,
    path = "/ws/config",
    tag = "status",
    params(ConfigQuery),
    responses(
        (status = 200, description = "Service discovery: version, dialect, features, endpoints, limits", body = WsConfig),
    ),
)]
pub async fn ws_config(
    State(state): State<Arc<AppState>>,
    query: Result<axum::extract::Query<ConfigQuery>, axum::extract::rejection::QueryRejection>,
) -> Json<Value> {
    let c = &state.config;
    let main = c
        .endpoints
        .iter()
        .find(|e| e.handler == EndpointHandler::Channels);
    let dialect = query
        .ok()
        .and_then(|q| q.0.dialect.and_then(|d| d.parse::<Dialect>().ok()))
        .or(main.map(|e| e.dialect.dialect()))
        .unwrap_or_default();
    let per_minute = c.limits.messages_per_minute();
    let rate = match dialect.rate_unit() {
        RateUnit::PerSecond if per_minute.is_multiple_of(60) => json!(per_minute / 60),
        RateUnit::PerSecond => json!(per_minute as f64 / 60.0),
        RateUnit::PerMinute => json!(per_minute),
    };
    let sockets: Vec<Value> = c
        .endpoints
        .iter()
        .map(|e| json!({"path": e.path, "handler": e.handler.as_str(), "dialect": e.dialect.as_str()}))
        .collect();
    Json(json!({
        "websocket_config": {
            "version": PROTOCOL_VERSION,
            "dialect": dialect.as_str(),
            "features": features(c),
            "endpoints": {
                "websocket": main.map_or("/ws", |e| e.path.as_str()),
                "websockets": sockets,
                "publish": "/api/publish",
                "broadcast": "/api/broadcast",
                "send": "/api/send",
                "stats": "/api/ws/stats",
                "metrics": "/metrics",
            },
            "connection_limits": {
                "max_connections_per_user": c.limits.max_connections_per_user,
                "max_message_rate": rate,
                "max_message_rate_unit": match dialect.rate_unit() {
                    RateUnit::PerSecond => "per_second",
                    RateUnit::PerMinute => "per_minute",
                },
                "max_message_size": c.limits.max_message_size,
                "max_subscriptions": c.limits.max_subscriptions,
                "heartbeat_interval": c.heartbeat_interval.as_millis() as u64,
                "heartbeat_timeout": c.heartbeat_timeout.as_millis() as u64,
            },
        }
    }))
}

fn features(c: &crate::config::Config) -> Value {
    json!({
        "json_first": true,
        "msgpack": true,
        "compression": c.endpoints.iter().any(|e| e.deflate),
        "auth_required": c.auth.require_auth,
        "heartbeat_supported": true,
        "reconnection_supported": true,
        "history": true,
        "recovery": true,
        "simulation_streams": true,
        "channels": true,
        "rooms": true,
        "backpressure": true,
    })
}
