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

use super::access::ApiAccess;
use crate::broker::Broker;
use crate::state::AppState;

/// `GET /api/ws/stats`.
pub async fn stats(_: ApiAccess, State(state): State<Arc<AppState>>) -> Json<Value> {
    let m = &state.metrics;
    let rooms: Map<String, Value> = state
        .hub
        .channel_counts()
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
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
        "rooms": rooms,
    }))
}

/// `GET /api/ws/streams`: channels with their subscriber counts.
pub async fn channels(_: ApiAccess, State(state): State<Arc<AppState>>) -> Json<Value> {
    let list: Vec<Value> = state
        .hub
        .channel_counts()
        .into_iter()
        .map(|(c, n)| json!({"channel": c, "subscribers": n}))
        .collect();
    Json(json!({"total": list.len(), "streams": list}))
}

/// `GET /metrics` (Prometheus / OpenMetrics text).
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
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "uptime_seconds": state.started.elapsed().as_secs()}))
}

/// `GET /ready`: 200 while accepting connections and the broker can
/// publish; 503 while shutting down or while the broker is unreachable.
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

/// `GET /ws/config`: service discovery for clients.
pub async fn ws_config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let c = &state.config;
    Json(json!({
        "websocket_config": {
            "version": PROTOCOL_VERSION,
            "features": {
                "json_first": true,
                "auth_required": c.auth.require_auth,
                "heartbeat_supported": true,
                "reconnection_supported": true,
                "history": true,
                "recovery": true,
                "simulation_streams": true,
                "channels": true,
                "rooms": true,
                "backpressure": true,
            },
            "endpoints": {
                "websocket": "/ws",
                "websocket_alt": "/api/ws/connect",
                "publish": "/api/publish",
                "broadcast": "/api/broadcast",
                "send": "/api/send",
                "stats": "/api/ws/stats",
                "metrics": "/metrics",
            },
            "connection_limits": {
                "max_connections_per_user": c.limits.max_connections_per_user,
                "max_message_rate": c.limits.max_message_rate,
                "max_message_size": c.limits.max_message_size,
                "max_subscriptions": c.limits.max_subscriptions,
                "heartbeat_interval": c.heartbeat_interval.as_millis() as u64,
                "heartbeat_timeout": c.heartbeat_timeout.as_millis() as u64,
            },
        }
    }))
}
