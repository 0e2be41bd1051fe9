//! The shapes of the HTTP API's answers, for the OpenAPI document
//! ([`super::openapi`]). The handlers build their answers as JSON values;
//! these types only describe them (field names, types, which are
//! optional). `tests/openapi.rs` checks real answers against them, so the
//! descriptions cannot drift from what the handlers send.

// The types are never built: they only describe.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoResponses, ToSchema};
use wavecast_protocol::ErrorCode;

/// Every error answer: the protocol's error shape
/// (`{"type":"error","code","error","recoverable","help","timestamp"}`).
#[derive(ToSchema, Serialize)]
#[schema(example = json!({"type":"error","code":"invalid_channel","error":"\"a b\": invalid character ' '","recoverable":true,"help":"channel names are 1-255 bytes of letters, digits and . _ - : @ /","timestamp":"2026-11-21T21:48:00.123Z"}))]
pub struct ErrorBody {
    /// Always `error`.
    #[serde(rename = "type")]
    #[schema(pattern = "^error$")]
    pub kind: String,
    /// A stable error code (docs/protocol.md lists them all).
    #[schema(schema_with = error_codes)]
    pub code: String,
    /// What went wrong, for people.
    pub error: String,
    /// Whether the same request may succeed later or once corrected.
    pub recoverable: bool,
    /// What to do about it.
    pub help: String,
    /// When the server answered (RFC 3339, milliseconds, UTC).
    pub timestamp: String,
}

/// The refusals of the server API's key check (`ApiAccess`), shared by
/// every `/api/*` route that takes the key.
#[derive(IntoResponses)]
pub enum AccessRefused {
    #[response(
        status = 401,
        description = "unauthorized: a missing or wrong server API key (http.api_key), or no key configured and the client is not on loopback"
    )]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "forbidden: without http.api_key, a browser request from another site or a non-local Host"
    )]
    Forbidden(ErrorBody),
}

/// The refusals of reading a request body, shared by every route that
/// takes one.
#[derive(IntoResponses)]
pub enum BodyRefused {
    #[response(
        status = 408,
        description = "request_timeout: the body did not arrive within http.body_timeout"
    )]
    Timeout(ErrorBody),
    #[response(
        status = 413,
        description = "payload_too_large: the body is over http.max_body_bytes"
    )]
    TooLarge(ErrorBody),
}

/// The failures of routes that go to the history store or the broker.
#[derive(IntoResponses)]
pub enum StorageFailed {
    #[response(
        status = 503,
        description = "unavailable: the history store or broker failed"
    )]
    Failed(ErrorBody),
    #[response(
        status = 504,
        description = "unavailable: the history store or broker timed out"
    )]
    TimedOut(ErrorBody),
}

/// The `code` of [`ErrorBody`]: one of the protocol's error codes.
fn error_codes() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
        .build()
}

/// A 503/504 from `/api/broadcast` that stopped part-way: the error shape
/// plus what was published and what was not.
#[derive(ToSchema, Serialize)]
pub struct PartialBroadcast {
    #[schema(inline)]
    #[serde(flatten)]
    pub error: ErrorBody,
    /// The broadcast answer for the channels published before the failure.
    pub published: BroadcastReply,
    /// The channels that got nothing.
    pub not_published: Vec<String>,
}

/// The answer of `POST /api/publish`.
#[derive(ToSchema, Serialize)]
pub struct PublishReply {
    pub channel: String,
    /// The publication's offset in the channel's history (absent for a
    /// namespace without history).
    pub offset: Option<u64>,
    /// Subscribers on this node whose queue took it (absent in redis mode,
    /// where every node delivers later).
    pub delivered: Option<u64>,
    /// Redis mode: the nodes that received it.
    pub nodes: Option<u64>,
    /// True when `idempotency_key` named an earlier publication: nothing
    /// was published again, and `offset` is the earlier one's.
    pub duplicate: Option<bool>,
}

/// The answer of `POST /api/broadcast`.
#[derive(ToSchema, Serialize)]
pub struct BroadcastReply {
    /// Per channel, the subscribers on this node that got it (`null` in
    /// redis mode).
    pub channels: BTreeMap<String, Option<u64>>,
    /// The sum over the channels (`null` in redis mode).
    pub delivered: Option<u64>,
    /// Per channel, the publication's offset.
    pub offsets: BTreeMap<String, u64>,
    /// Redis mode: per channel, the nodes that received it.
    pub nodes: Option<BTreeMap<String, u64>>,
}

/// The answer of `POST /api/send`.
#[derive(ToSchema, Serialize)]
pub struct SendReply {
    /// Connections the message was queued for.
    pub delivered: u64,
    /// The user, when sent by `user_id`.
    pub user_id: Option<String>,
}

/// The answer of `POST /api/ws/subscribe` and `/api/ws/unsubscribe`: with
/// `connection_id`, the connection and the rooms it joined or left;
/// without, the rooms asked for, the rooms the server publishes into and
/// how clients subscribe themselves.
#[derive(ToSchema, Serialize)]
pub struct RoomsReply {
    pub connection_id: Option<String>,
    pub rooms: Vec<String>,
    pub available: Option<Vec<String>>,
    pub info: Option<String>,
}

/// The answer of `POST /api/disconnect`.
#[derive(ToSchema, Serialize)]
pub struct DisconnectReply {
    pub connection_id: String,
    pub disconnected: bool,
}

/// One stored publication.
#[derive(ToSchema, Serialize)]
pub struct StoredPublication {
    /// The event type (`publication` unless the publisher named one).
    #[serde(rename = "type")]
    pub kind: String,
    pub channel: String,
    /// The data as published.
    pub data: Value,
    pub offset: u64,
    pub timestamp: String,
}

/// The answer of `GET /api/history/{channel}`.
#[derive(ToSchema, Serialize)]
pub struct HistoryPage {
    pub channel: String,
    /// The channel's last offset.
    pub offset: u64,
    /// The history's epoch (a new epoch means the offsets restarted).
    pub epoch: String,
    /// The oldest offset still retained.
    pub earliest: u64,
    /// At most 1,000 publications and 1 MiB after `since`, oldest first.
    pub publications: Vec<StoredPublication>,
}

/// The answer of `GET /api/ws/stats`.
#[derive(ToSchema, Serialize)]
pub struct Stats {
    /// `memory`, `embedded` or `redis`.
    pub engine: String,
    /// Redis mode: the live nodes (or `{"error"}`); otherwise `null`.
    pub nodes: Value,
    pub node_id: String,
    pub uptime_seconds: u64,
    pub total_connections: u64,
    pub active_connections: u64,
    pub total_messages: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub publications: u64,
    pub dropped_frames: u64,
    pub subscriptions: i64,
    /// FOG's name: the rooms that exist here (channels with subscribers
    /// and the rooms the server publishes into).
    pub rooms_created: u64,
    /// Subscribers per channel on this node.
    pub rooms: BTreeMap<String, u64>,
    /// FOG's name: the publishers the server itself runs (published
    /// simulations and monitoring publisher loops).
    pub publishers_active: u64,
}

/// One channel with subscribers.
#[derive(ToSchema, Serialize)]
pub struct StreamCount {
    pub channel: String,
    pub subscribers: u64,
}

/// The answer of `GET /api/ws/streams`.
#[derive(ToSchema, Serialize)]
pub struct Streams {
    pub total: u64,
    pub streams: Vec<StreamCount>,
    /// The rooms the server publishes into itself.
    pub available: Vec<String>,
}

/// The answer of `GET /health`.
#[derive(ToSchema, Serialize)]
pub struct Health {
    #[schema(pattern = "^ok$")]
    pub status: String,
    pub uptime_seconds: u64,
}

/// The answer of `GET /ready`.
#[derive(ToSchema, Serialize)]
pub struct Ready {
    /// `ready`, `shutting_down` or `engine_unavailable`.
    pub status: String,
    /// The history engine, when not ready.
    pub engine: Option<String>,
}

/// The answer of `GET /ws/config`: service discovery (see
/// docs/protocol.md).
#[derive(ToSchema, Serialize)]
pub struct WsConfig {
    /// Version, dialect, features, endpoints and connection limits.
    pub websocket_config: BTreeMap<String, Value>,
}
