//! The server-side API, protected by [`ApiAccess`]: publish, broadcast,
//! personal messages, server-side subscription management and disconnect.
//! Bodies are JSON; bad bodies get 400 with the protocol's error shape.

// Handlers return `Result<Response, Response>`: the error side is a ready
// HTTP reply, built only on the (cold) error path.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use wavecast_protocol::channel::validate_channel;

use crate::auth::policy::personal_owner;
use wavecast_protocol::client::validate_event_type;
use wavecast_protocol::server::{encode_control, fields, DEFAULT_EVENT_TYPE};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::{CloseCode, ErrorCode};

use super::{error_response, ApiAccess};
use crate::state::AppState;

/// The default `type` of a personal message sent with `/api/send`.
pub const DEFAULT_MESSAGE_TYPE: &str = "message";

type ApiResult = Result<Response, Response>;

fn bad_request(code: ErrorCode, message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, code, message)
}

/// Reads a JSON body into `T`, mapping every failure to a JSON error.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Response> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "request body is larger than http.max_body_bytes",
            )
        } else {
            bad_request(ErrorCode::InvalidJson, &e.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let code = match e.classify() {
            serde_json::error::Category::Data => ErrorCode::InvalidField,
            _ => ErrorCode::InvalidJson,
        };
        bad_request(code, &format!("invalid request body: {e}"))
    })
}

fn storage_error(e: crate::engine::EngineError) -> Response {
    tracing::error!(error = %e, "history storage failed");
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        "history storage is unavailable; nothing was published, retry",
    )
}

fn check_channels<'a>(channels: impl IntoIterator<Item = &'a String>) -> Result<(), Response> {
    for c in channels {
        validate_channel(c)
            .map_err(|e| bad_request(ErrorCode::InvalidChannel, &format!("{c:?}: {e}")))?;
    }
    Ok(())
}

fn check_event(event: Option<&str>) -> Result<(), Response> {
    match event {
        Some(t) => validate_event_type(t).map_err(|m| bad_request(ErrorCode::InvalidField, &m)),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
pub struct PublishBody {
    channel: String,
    #[serde(rename = "type")]
    event: Option<String>,
    data: Box<RawValue>,
}

/// `POST /api/publish {channel, type?, data}` → `{delivered}`.
pub async fn publish(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let b: PublishBody = parse_body(body)?;
    check_channels([&b.channel])?;
    check_event(b.event.as_deref())?;
    let d = state
        .hub
        .publish_async(
            &b.channel,
            b.event.as_deref().unwrap_or(DEFAULT_EVENT_TYPE),
            b.data.get(),
        )
        .await
        .map_err(storage_error)?;
    let mut body = match d.nodes {
        Some(n) => json!({"channel": b.channel, "nodes": n}),
        None => json!({"channel": b.channel, "delivered": d.delivered}),
    };
    if let Some(o) = d.offset {
        body["offset"] = json!(o);
    }
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
pub struct BroadcastBody {
    channels: Vec<String>,
    #[serde(rename = "type")]
    event: Option<String>,
    data: Box<RawValue>,
}

/// `POST /api/broadcast {channels, type?, data}` → `{delivered, channels}`.
pub async fn broadcast(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let mut b: BroadcastBody = parse_body(body)?;
    b.channels.sort_unstable();
    b.channels.dedup();
    if b.channels.is_empty() {
        return Err(bad_request(
            ErrorCode::InvalidField,
            "\"channels\" is empty",
        ));
    }
    check_channels(&b.channels)?;
    check_event(b.event.as_deref())?;
    let event = b.event.as_deref().unwrap_or(DEFAULT_EVENT_TYPE);
    let mut per_channel = serde_json::Map::new();
    let mut total = 0;
    for c in &b.channels {
        let d = state
            .hub
            .publish_async(c, event, b.data.get())
            .await
            .map_err(storage_error)?;
        total += d.delivered;
        per_channel.insert(c.clone(), d.delivered.into());
    }
    Ok(Json(json!({"delivered": total, "channels": per_channel})).into_response())
}

#[derive(Deserialize)]
pub struct SendBody {
    connection_id: Option<String>,
    user_id: Option<String>,
    #[serde(rename = "type")]
    event: Option<String>,
    data: Value,
}

/// `POST /api/send {connection_id | user_id, type?, data}`: a personal
/// message, delivered as `{"type", "data", "timestamp"}` to one connection
/// or to every connection of a user.
pub async fn send(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let b: SendBody = parse_body(body)?;
    check_event(b.event.as_deref())?;
    let frame = encode_control(
        b.event.as_deref().unwrap_or(DEFAULT_MESSAGE_TYPE),
        fields([("data", b.data), ("timestamp", Value::from(now_rfc3339()))]),
        None,
    );
    match (&b.connection_id, &b.user_id) {
        (Some(id), None) => {
            if state.hub.send_to(id, frame) {
                Ok(Json(json!({"delivered": 1})).into_response())
            } else {
                Err(not_found(id))
            }
        }
        (None, Some(user)) => {
            let n = state.hub.send_to_user(user, &frame);
            Ok(Json(json!({"delivered": n, "user_id": user})).into_response())
        }
        _ => Err(bad_request(
            ErrorCode::InvalidField,
            "give exactly one of \"connection_id\" and \"user_id\"",
        )),
    }
}

fn not_found(id: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        ErrorCode::ConnectionNotFound,
        &format!("no connection {id:?}"),
    )
}

#[derive(Deserialize)]
pub struct RoomsBody {
    connection_id: String,
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    channels: Vec<String>,
}

impl RoomsBody {
    fn all(self) -> Result<(String, Vec<String>), Response> {
        let mut rooms = self.rooms;
        rooms.extend(self.channels);
        rooms.sort_unstable();
        rooms.dedup();
        if rooms.is_empty() {
            return Err(bad_request(ErrorCode::InvalidField, "\"rooms\" is empty"));
        }
        check_channels(&rooms)?;
        Ok((self.connection_id, rooms))
    }
}

/// `POST /api/ws/subscribe {connection_id, rooms}`: subscribes a live
/// connection. The client is told with a `subscribe_success` frame that
/// carries `"server_side": true`.
pub async fn subscribe(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let (id, rooms) = parse_body::<RoomsBody>(body)?.all()?;
    let conn = state.hub.connection(&id).ok_or_else(|| not_found(&id))?;
    let current = conn.outbound.subscription_count();
    let new = rooms
        .iter()
        .filter(|r| !conn.outbound.is_subscribed(r))
        .count();
    let max = state.config.limits.max_subscriptions;
    if current + new > max {
        state.metrics.limit_rejections("subscriptions");
        return Err(error_response(
            StatusCode::CONFLICT,
            ErrorCode::TooManySubscriptions,
            &format!("the connection has {current} subscriptions; the limit is {max}"),
        ));
    }
    let user = conn.user_id();
    if let Some(r) = rooms
        .iter()
        .find(|r| personal_owner(r).is_some_and(|o| Some(o) != user.as_deref()))
    {
        return Err(error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            &format!("{r:?} is another user's personal channel"),
        ));
    }
    state
        .hub
        .subscribe_many_async(&conn, &rooms, &Default::default(), |results| {
            encode_control(
                "subscribe_success",
                crate::session::handler::success_fields(&rooms, results, true),
                None,
            )
        })
        .await
        .map_err(storage_error)?;
    Ok(Json(json!({"connection_id": id, "rooms": rooms})).into_response())
}

/// `POST /api/ws/unsubscribe {connection_id, rooms}`; rooms the connection
/// was not in are ignored. Answers with the rooms actually left.
pub async fn unsubscribe(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let (id, rooms) = parse_body::<RoomsBody>(body)?.all()?;
    let conn = state.hub.connection(&id).ok_or_else(|| not_found(&id))?;
    let mut left = Vec::new();
    for r in &rooms {
        if let Some(stats) = state.hub.unsubscribe(&conn, r) {
            crate::audit::subscription_ended(&conn, r, &stats, "server_unsubscribe");
            left.push(r.clone());
        }
    }
    if !left.is_empty() {
        conn.outbound.push_control(encode_control(
            "unsubscribe_success",
            fields([("channels", json!(left)), ("server_side", json!(true))]),
            None,
        ));
    }
    Ok(Json(json!({"connection_id": id, "rooms": left})).into_response())
}

#[derive(Deserialize)]
pub struct DisconnectBody {
    connection_id: String,
}

/// `POST /api/disconnect {connection_id}`: flushes and closes with 4009.
pub async fn disconnect(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let b: DisconnectBody = parse_body(body)?;
    let conn = state
        .hub
        .connection(&b.connection_id)
        .ok_or_else(|| not_found(&b.connection_id))?;
    conn.outbound
        .request_close(CloseCode::DisconnectedByServer, true);
    Ok(Json(json!({"connection_id": b.connection_id, "disconnected": true})).into_response())
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/history/{channel}?since=&limit=` → `{channel, offset, epoch,
/// publications}`; `GET /api/history/{channel}/export` streams the whole
/// retained history as NDJSON, one publication per line.
pub async fn history(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    query: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (channel, export) = match rest.strip_suffix("/export") {
        Some(c) => (c.to_string(), true),
        None => (rest, false),
    };
    check_channels([&channel])?;
    let q = query.map_err(|e| bad_request(ErrorCode::InvalidField, &e.body_text()))?;
    let limit = if export {
        usize::MAX
    } else {
        q.limit
            .unwrap_or(crate::session::handler::MAX_HISTORY_PAGE)
            .min(crate::session::handler::MAX_HISTORY_PAGE)
    };
    let found = state
        .hub
        .history_async(&channel, q.since, limit)
        .await
        .map_err(storage_error)?;
    let (top, pubs) = match found {
        Some(h) => h,
        None => {
            return Err(error_response(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                &format!("the namespace of {channel:?} keeps no history"),
            ))
        }
    };
    let items = crate::session::handler::publications_json(&channel, &pubs);
    if export {
        let mut body = String::new();
        for item in items {
            body.push_str(&item.to_string());
            body.push('\n');
        }
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
            body,
        )
            .into_response());
    }
    Ok(Json(json!({
        "channel": channel,
        "offset": top.offset,
        "epoch": top.epoch,
        "earliest": top.earliest,
        "publications": items,
    }))
    .into_response())
}
