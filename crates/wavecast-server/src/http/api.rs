//! The server-side API, protected by [`ApiAccess`]: publish, broadcast,
//! personal messages, server-side subscription management, disconnect and
//! history. Bodies are JSON; bad bodies get 400 with the protocol's error
//! shape. Publish replies are built by the same function as the
//! WebSocket's `publish_success`.

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
use utoipa::{IntoParams, ToSchema};
use wavecast_protocol::channel::validate_channel;
use wavecast_protocol::replies::{success_fields, MAX_HISTORY_PAGE, MAX_HISTORY_PAGE_BYTES};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::{fields, publications_array, DEFAULT_EVENT_TYPE};
use wavecast_protocol::to_server::validate_event_type;
use wavecast_protocol::{CloseCode, ErrorCode};

use super::access::ApiAccess;
use super::errors::{bad_request, error_response};
use super::schema::{
    AccessRefused, BodyRefused, BroadcastReply, DisconnectReply, ErrorBody, HistoryPage,
    PartialBroadcast, PublishReply, RoomsReply, SendReply, StorageFailed,
};
use crate::channels::{check_depth, publish_reply, storage_error_message};
use crate::history::StoreError;
use crate::session::admission::{check_subscribe, Requester};
use crate::state::AppState;

/// The default `type` of a personal message sent with `/api/send`.
pub const DEFAULT_MESSAGE_TYPE: &str = "message";

type ApiResult = Result<Response, Response>;

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

fn storage_error(e: &StoreError) -> Response {
    tracing::error!(error = %e, "history storage failed");
    let status = match e {
        StoreError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    error_response(status, ErrorCode::Unavailable, storage_error_message(e))
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

fn check_data(state: &AppState, data: &RawValue) -> Result<Bytes, Response> {
    check_depth(state, data.get().as_bytes())
        .map_err(|m| bad_request(ErrorCode::InvalidField, &m))?;
    Ok(Bytes::copy_from_slice(data.get().as_bytes()))
}

/// The body of `POST /api/publish`.
#[derive(Deserialize, ToSchema)]
pub struct PublishBody {
    channel: String,
    /// The event type (default `publication`).
    #[serde(rename = "type")]
    event: Option<String>,
    /// Any JSON value.
    #[schema(value_type = Value)]
    data: Box<RawValue>,
    /// A retry with the same key within the namespace's window publishes
    /// nothing new (`duplicate: true`).
    idempotency_key: Option<String>,
}

/// `POST /api/publish {channel, type?, data, idempotency_key?}`.
#[utoipa::path(
    post,
    path = "/api/publish",
    tag = "publish",
    request_body = PublishBody,
    responses(
        (status = 200, description = "Published", body = PublishReply),
        (status = 400, description = "invalid_json, invalid_field (a bad type, data nested too deep) or invalid_channel", body = ErrorBody),
        AccessRefused,
        BodyRefused,
        StorageFailed,
    ),
)]
pub async fn publish(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let b: PublishBody = parse_body(body)?;
    check_channels([&b.channel])?;
    check_event(b.event.as_deref())?;
    let data = check_data(&state, &b.data)?;
    let event = b.event.as_deref().unwrap_or(DEFAULT_EVENT_TYPE);
    let p = state
        .hub
        .publish(&b.channel, event, data, b.idempotency_key.as_deref())
        .await
        .map_err(|e| storage_error(&e))?;
    Ok(Json(Value::Object(publish_reply(&b.channel, &p))).into_response())
}

/// The body of `POST /api/broadcast`.
#[derive(Deserialize, ToSchema)]
pub struct BroadcastBody {
    channels: Vec<String>,
    /// The event type (default `publication`).
    #[serde(rename = "type")]
    event: Option<String>,
    /// Any JSON value.
    #[schema(value_type = Value)]
    data: Box<RawValue>,
}

/// `POST /api/broadcast {channels, type?, data}` → `{channels, delivered,
/// offsets, nodes?}`: per channel the subscribers that got it here
/// (`null` in redis mode, where each node delivers later), its offset, and
/// with redis the nodes that received it. A failure part-way answers 503
/// naming the channels published and those that were not.
#[utoipa::path(
    post,
    path = "/api/broadcast",
    tag = "publish",
    request_body = BroadcastBody,
    responses(
        (status = 200, description = "Published to every channel", body = BroadcastReply),
        (status = 400, description = "invalid_json, invalid_field (empty channels, a bad type, data nested too deep) or invalid_channel", body = ErrorBody),
        AccessRefused,
        BodyRefused,
        (status = 503, description = "unavailable: storage failed part-way; the answer names what was published and what not", body = PartialBroadcast),
        (status = 504, description = "unavailable: storage timed out part-way; the answer names what was published and what not", body = PartialBroadcast),
    ),
)]
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
    let data = check_data(&state, &b.data)?;
    let event = b.event.as_deref().unwrap_or(DEFAULT_EVENT_TYPE);
    let mut done = Broadcasted::default();
    for (i, c) in b.channels.iter().enumerate() {
        match state.hub.publish(c, event, data.clone(), None).await {
            Ok(p) => done.add(c, &p),
            Err(e) => return Err(partial_broadcast(&e, done, &b.channels[i..])),
        }
    }
    Ok(Json(done.body()).into_response())
}

/// What a broadcast did so far.
#[derive(Default)]
struct Broadcasted {
    channels: serde_json::Map<String, Value>,
    offsets: serde_json::Map<String, Value>,
    nodes: serde_json::Map<String, Value>,
    delivered: Option<usize>,
    any: bool,
}

impl Broadcasted {
    fn add(&mut self, channel: &str, p: &crate::broker::Published) {
        self.delivered = match (self.any, self.delivered, p.delivered) {
            (false, _, d) => d,
            (true, t, d) => t.zip(d).map(|(t, d)| t + d),
        };
        self.any = true;
        self.channels.insert(channel.into(), json!(p.delivered));
        if let Some(o) = p.offset {
            self.offsets.insert(channel.into(), json!(o));
        }
        if let Some(n) = p.nodes {
            self.nodes.insert(channel.into(), json!(n));
        }
    }

    fn body(self) -> Value {
        let mut body = json!({
            "channels": self.channels,
            "delivered": self.delivered,
            "offsets": self.offsets,
        });
        if !self.nodes.is_empty() {
            body["nodes"] = Value::Object(self.nodes);
        }
        body
    }
}

/// 503 (or 504) naming what a failed broadcast published and what not.
fn partial_broadcast(e: &StoreError, done: Broadcasted, rest: &[String]) -> Response {
    tracing::error!(error = %e, "broadcast stopped part-way");
    let mut body = wavecast_protocol::to_client::error_fields(
        ErrorCode::Unavailable,
        &format!(
            "published to {} channels, then storage failed; the channels under \"not_published\" got nothing",
            done.channels.len()
        ),
    );
    body.insert("type".into(), "error".into());
    body.insert("published".into(), done.body());
    body.insert("not_published".into(), json!(rest));
    let status = match e {
        StoreError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(Value::Object(body))).into_response()
}

/// The body of `POST /api/send`: exactly one of `connection_id` and
/// `user_id`.
#[derive(Deserialize, ToSchema)]
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
#[utoipa::path(
    post,
    path = "/api/send",
    tag = "publish",
    request_body = SendBody,
    responses(
        (status = 200, description = "Queued for the connection, or for every connection of the user", body = SendReply),
        (status = 400, description = "invalid_json, or invalid_field (not exactly one of connection_id and user_id, a bad type)", body = ErrorBody),
        AccessRefused,
        (status = 404, description = "connection_not_found: no such connection on this node", body = ErrorBody),
        BodyRefused,
    ),
)]
pub async fn send(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let b: SendBody = parse_body(body)?;
    check_event(b.event.as_deref())?;
    let kind = b.event.as_deref().unwrap_or(DEFAULT_MESSAGE_TYPE);
    let message = fields([("data", b.data), ("timestamp", Value::from(now_rfc3339()))]);
    match (&b.connection_id, &b.user_id) {
        (Some(id), None) => {
            let conn = state.hub.connection(id).ok_or_else(|| not_found(id))?;
            conn.send(kind, message, None);
            Ok(Json(json!({"delivered": 1})).into_response())
        }
        (None, Some(user)) => {
            let n = state
                .hub
                .send_to_user(user, |c| c.control_frame(kind, message.clone(), None));
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

/// The body of `POST /api/ws/subscribe|unsubscribe`; `channels` is
/// another name for `rooms`.
#[derive(Deserialize, ToSchema)]
pub struct RoomsBody {
    /// Absent: the seed's "info" form (the rooms, and how to subscribe).
    connection_id: Option<String>,
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    channels: Vec<String>,
}

impl RoomsBody {
    fn all(self) -> Result<(Option<String>, Vec<String>), Response> {
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

/// The seed's "info" answer of `POST /api/ws/subscribe|unsubscribe` with
/// no `connection_id`: nothing changes; it says how clients subscribe.
fn rooms_info(state: &AppState, rooms: &[String], kind: &str) -> Response {
    Json(json!({
        "rooms": rooms,
        "available": super::status::available_rooms(&state.config),
        "info": format!(
            "clients {kind} over the WebSocket: {{\"type\":\"{kind}\",\"rooms\":[…]}}; give connection_id to {kind} a live connection from the server"
        ),
    }))
    .into_response()
}

/// `POST /api/ws/subscribe {connection_id, rooms}`: subscribes a live
/// connection. The client is told with a `subscribe_success` frame that
/// carries `"server_side": true`. Without `connection_id`, an info answer.
#[utoipa::path(
    post,
    path = "/api/ws/subscribe",
    tag = "connections",
    request_body = RoomsBody,
    responses(
        (status = 200, description = "The rooms the connection joins, or without connection_id the info answer", body = RoomsReply),
        (status = 400, description = "invalid_json, invalid_field (no rooms) or invalid_channel", body = ErrorBody),
        AccessRefused,
        (status = 404, description = "connection_not_found: no such connection on this node", body = ErrorBody),
        (status = 409, description = "too_many_subscriptions: the connection is at limits.max_subscriptions", body = ErrorBody),
        BodyRefused,
        StorageFailed,
    ),
)]
pub async fn subscribe(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let (id, rooms) = parse_body::<RoomsBody>(body)?.all()?;
    let Some(id) = id else {
        return Ok(rooms_info(&state, &rooms, "subscribe"));
    };
    let conn = state.hub.connection(&id).ok_or_else(|| not_found(&id))?;
    if let Err(r) = check_subscribe(&state, &conn, &rooms, Requester::Server) {
        let status = match r.code {
            ErrorCode::TooManySubscriptions => StatusCode::CONFLICT,
            ErrorCode::InvalidChannel => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        };
        return Err(error_response(status, r.code, &r.message));
    }
    state
        .hub
        .subscribe(&conn, &rooms, &Default::default(), |results| {
            conn.control_frame(
                "subscribe_success",
                success_fields(&rooms, results, true),
                None,
            )
        })
        .await
        .map_err(|e| storage_error(&e))?;
    Ok(Json(json!({"connection_id": id, "rooms": rooms})).into_response())
}

/// `POST /api/ws/unsubscribe {connection_id, rooms}`; rooms the connection
/// was not in are ignored. Answers with the rooms actually left. Without
/// `connection_id`, an info answer.
#[utoipa::path(
    post,
    path = "/api/ws/unsubscribe",
    tag = "connections",
    request_body = RoomsBody,
    responses(
        (status = 200, description = "The rooms the connection leaves, or without connection_id the info answer", body = RoomsReply),
        (status = 400, description = "invalid_json, invalid_field (no rooms) or invalid_channel", body = ErrorBody),
        AccessRefused,
        (status = 404, description = "connection_not_found: no such connection on this node", body = ErrorBody),
        BodyRefused,
        StorageFailed,
    ),
)]
pub async fn unsubscribe(
    _: ApiAccess,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let (id, rooms) = parse_body::<RoomsBody>(body)?.all()?;
    let Some(id) = id else {
        return Ok(rooms_info(&state, &rooms, "unsubscribe"));
    };
    let conn = state.hub.connection(&id).ok_or_else(|| not_found(&id))?;
    let mut left = Vec::new();
    for r in &rooms {
        if let Some(stats) = state.hub.unsubscribe(&conn, r) {
            crate::hub::subscription_ended(&conn, r, &stats, "server_unsubscribe");
            left.push(r.clone());
        }
    }
    if !left.is_empty() {
        conn.send(
            "unsubscribe_success",
            fields([("channels", json!(left)), ("server_side", json!(true))]),
            None,
        );
    }
    Ok(Json(json!({"connection_id": id, "rooms": left})).into_response())
}

/// The body of `POST /api/disconnect`.
#[derive(Deserialize, ToSchema)]
pub struct DisconnectBody {
    connection_id: String,
}

/// `POST /api/disconnect {connection_id}`: flushes and closes with 4009.
#[utoipa::path(
    post,
    path = "/api/disconnect",
    tag = "connections",
    request_body = DisconnectBody,
    responses(
        (status = 200, description = "The connection is flushed and closed with 4009", body = DisconnectReply),
        (status = 400, description = "invalid_json or invalid_field", body = ErrorBody),
        AccessRefused,
        (status = 404, description = "connection_not_found: no such connection on this node", body = ErrorBody),
        BodyRefused,
    ),
)]
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
    conn.close(CloseCode::DisconnectedByServer, true);
    Ok(Json(json!({"connection_id": b.connection_id, "disconnected": true})).into_response())
}

/// The query of `GET /api/history/{channel}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Publications after this offset.
    since: Option<u64>,
    /// At most this many (and at most 1,000).
    limit: Option<usize>,
}

/// `GET /api/history/{channel}?since=&limit=` → `{channel, offset, epoch,
/// earliest, publications}`; `GET /api/history/{channel}/export` streams
/// the whole retained history as NDJSON, one publication per line. Stored
/// data is served as stored.
#[utoipa::path(
    get,
    path = "/api/history/{*channel}",
    tag = "history",
    params(
        ("channel" = String, Path, description = "The channel; `{channel}/export` streams the whole retained history as NDJSON (application/x-ndjson), one publication per line"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "A page of history", body = HistoryPage),
        (status = 400, description = "invalid_channel, or invalid_field (a bad since or limit)", body = ErrorBody),
        AccessRefused,
        (status = 404, description = "not_found: the channel's namespace keeps no history", body = ErrorBody),
        StorageFailed,
    ),
)]
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
    let (limit, max_bytes) = if export {
        (usize::MAX, usize::MAX)
    } else {
        (
            q.limit.unwrap_or(MAX_HISTORY_PAGE).min(MAX_HISTORY_PAGE),
            MAX_HISTORY_PAGE_BYTES,
        )
    };
    let found = state
        .hub
        .history(&channel, q.since, limit, max_bytes)
        .await
        .map_err(|e| storage_error(&e))?;
    let Some((top, pubs)) = found else {
        return Err(error_response(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            &format!("the namespace of {channel:?} keeps no history"),
        ));
    };
    if export {
        let mut body = String::new();
        for p in &pubs {
            body.push_str(&p.json_text());
            body.push('\n');
        }
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
            body,
        )
            .into_response());
    }
    let head = json!({
        "channel": channel,
        "offset": top.offset,
        "epoch": top.epoch,
        "earliest": top.earliest,
    })
    .to_string();
    let body = format!(
        "{},\"publications\":{}}}",
        &head[..head.len() - 1],
        publications_array(&pubs)
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}
