//! Server → client messages: the [`Publication`] model, the native JSON
//! encoding of every server frame (for the server), and their typed parser
//! [`parse_server_frame`] (for clients).
//!
//! Publications are encoded by hand into one shared [`Bytes`] buffer, once
//! per publication, whatever the number of subscribers; their `data` is the
//! JSON text that was published, copied verbatim and never re-parsed.
//! Control frames are rare and go through serde_json. Every frame starts
//! with its `type`.
//!
//! The parser reads every frame of docs/protocol.md §5 into a
//! [`ServerFrame`]. Invariants: it never panics; a known frame missing a
//! field the protocol promises is a [`FrameError`], while optional fields
//! may be absent; a type it does not know is kept ([`ServerFrame::Message`]
//! or [`ServerFrame::Unknown`]), never an error, so newer servers and domain
//! frames (streams, agents) do not break clients. Round-trip tests run the
//! server's encoders through it.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::codes::{AnyErrorCode, ErrorCode};
use crate::time::{format_millis, now_rfc3339};
use crate::to_server::{RequestId, RESERVED_EVENT_TYPES};

/// One publication, as it travels from a broker through history to every
/// subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub channel: String,
    /// The event type (`publication` unless the publisher named one).
    pub event: String,
    /// The `data`: valid JSON text, exactly as published.
    pub data: Bytes,
    /// The offset in the channel's history; 0 when its namespace keeps none.
    pub offset: u64,
    /// When it was accepted, in ms since the Unix epoch.
    pub ts_ms: u64,
}

impl Publication {
    /// The offset, when the channel keeps history.
    pub fn offset(&self) -> Option<u64> {
        (self.offset > 0).then_some(self.offset)
    }

    /// The native JSON frame of this publication.
    pub fn to_json(&self) -> Bytes {
        Bytes::from(self.json_text())
    }

    /// The native JSON frame as text (for embedding in pages and exports).
    pub fn json_text(&self) -> String {
        let data = std::str::from_utf8(&self.data).unwrap_or("null");
        let (mut head, tail) = publication_parts(
            &self.event,
            &self.channel,
            data,
            self.offset > 0,
            &format_millis(self.ts_ms),
        );
        if self.offset > 0 {
            head.push_str(&self.offset.to_string());
        }
        head.push_str(&tail);
        head
    }
}

/// `[p1, p2, …]`: publications as a JSON array of native frames, written
/// without re-parsing their data.
pub fn publications_array(pubs: &[Publication]) -> String {
    let mut out = String::with_capacity(2 + pubs.iter().map(|p| p.data.len() + 96).sum::<usize>());
    out.push('[');
    for (i, p) in pubs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&p.json_text());
    }
    out.push(']');
    out
}

/// The default event type of a publication.
pub const DEFAULT_EVENT_TYPE: &str = "publication";

/// Encodes a delivery: `{"type","channel","data","offset"?,"timestamp"}`.
///
/// `data_json` must already be valid JSON (it is copied verbatim); `event`
/// and `channel` are validated names, but are escaped anyway. `offset` is
/// set for channels with history.
pub fn encode_publication(
    event: &str,
    channel: &str,
    data_json: &str,
    offset: Option<u64>,
    timestamp: &str,
) -> Bytes {
    let (mut head, tail) =
        publication_parts(event, channel, data_json, offset.is_some(), timestamp);
    if let Some(o) = offset {
        head.push_str(&o.to_string());
    }
    head.push_str(&tail);
    Bytes::from(head)
}

/// A publication split where its offset goes: `head + offset + tail` (or
/// `head + tail` without `with_offset`) is the encoded frame. Lets a store
/// that assigns offsets (the redis engine's script) finish the encoding.
pub fn publication_parts(
    event: &str,
    channel: &str,
    data_json: &str,
    with_offset: bool,
    timestamp: &str,
) -> (String, String) {
    let mut head = String::with_capacity(64 + event.len() + channel.len() + data_json.len());
    head.push_str("{\"type\":");
    push_json_str(&mut head, event);
    head.push_str(",\"channel\":");
    push_json_str(&mut head, channel);
    head.push_str(",\"data\":");
    head.push_str(data_json);
    if with_offset {
        head.push_str(",\"offset\":");
    }
    let mut tail = String::with_capacity(40);
    tail.push_str(",\"timestamp\":\"");
    tail.push_str(timestamp);
    tail.push_str("\"}");
    (head, tail)
}

fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Fallback for names that need escaping; serializing a &str cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
    }
}

/// Encodes a control frame of type `kind` with the given fields, echoing the
/// request id when there is one.
pub fn encode_control(kind: &str, fields: Map<String, Value>, id: Option<&RequestId>) -> Bytes {
    let mut fields = fields;
    if let Some(id) = id {
        fields.insert(id.key.to_string(), id.value.clone());
    }
    let body = serde_json::to_string(&Value::Object(fields)).unwrap_or_else(|_| "{}".into());
    let mut out = String::with_capacity(body.len() + kind.len() + 12);
    out.push_str("{\"type\":");
    push_json_str(&mut out, kind);
    if body.len() > 2 {
        out.push(',');
        out.push_str(&body[1..]);
    } else {
        out.push('}');
    }
    Bytes::from(out)
}

/// Builds a field map from `(key, value)` pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The error body shared by WebSocket `error` frames and HTTP errors.
pub fn error_fields(code: ErrorCode, message: &str) -> Map<String, Value> {
    fields([
        ("code", Value::from(code.as_str())),
        ("error", Value::from(message)),
        ("recoverable", Value::from(code.recoverable())),
        ("help", Value::from(code.help())),
        ("timestamp", Value::from(now_rfc3339())),
    ])
}

/// `{"type":"error","code","error","recoverable","help","timestamp"}`.
pub fn encode_error(code: ErrorCode, message: &str, id: Option<&RequestId>) -> Bytes {
    encode_control("error", error_fields(code, message), id)
}

/// `{"type":"dropped","channel","count"}`: frames of `channel` dropped by
/// backpressure since the last frame the client got on it.
pub fn encode_dropped(channel: &str, count: u64) -> Bytes {
    encode_control(
        "dropped",
        fields([
            ("channel", Value::from(channel)),
            ("count", Value::from(count)),
            ("timestamp", Value::from(now_rfc3339())),
        ]),
        None,
    )
}

/// The error fields every error frame shares (docs/protocol.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The stable code; a code this crate does not know is kept as text.
    pub code: AnyErrorCode,
    /// The human-readable message (`error`).
    pub message: String,
    /// Whether the client may go on (the code's own when absent).
    pub recoverable: bool,
    /// A hint for the client author (the code's own when absent).
    pub help: String,
    pub timestamp: Option<String>,
}

/// The frame that admits a connection: `connection_established`, or
/// `auth_success` after an `auth` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    pub id: Option<RequestId>,
    pub connection_id: String,
    /// `None` for an anonymous connection.
    pub user_id: Option<String>,
    /// `connection_established` only.
    pub heartbeat_interval_ms: Option<u64>,
    /// `connection_established` only.
    pub protocol_version: Option<String>,
    /// `auth_success` only: the token's `exp` (`None` for an API key).
    pub expires_at: Option<String>,
    /// The whole frame as received.
    pub frame: Value,
}

/// The reply to `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReply {
    pub id: Option<RequestId>,
    pub protocol_version: String,
    pub connection_id: Option<String>,
    pub server: Option<String>,
    pub features: Vec<String>,
}

/// A channel's position in `subscribe_success`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelPosition {
    pub offset: Option<u64>,
    pub epoch: Option<String>,
    /// Set when the request asked to recover the channel.
    pub recovered: Option<bool>,
}

impl ChannelPosition {
    fn is_empty(&self) -> bool {
        *self == ChannelPosition::default()
    }
}

/// `subscribe_success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeSuccess {
    pub id: Option<RequestId>,
    pub channels: Vec<String>,
    /// Channels with history (or a recovery answer), by name.
    pub positions: BTreeMap<String, ChannelPosition>,
    /// The top-level `offset`, `epoch` and `recovered` (single channel).
    pub top: ChannelPosition,
    /// Subscribed by the server (HTTP API, connect hook), not by a request.
    pub server_side: bool,
}

impl SubscribeSuccess {
    /// The position of `channel`: from `positions`, or for a one-channel
    /// reply from the top level.
    pub fn position_of(&self, channel: &str) -> ChannelPosition {
        match self.positions.get(channel) {
            Some(p) => p.clone(),
            None if self.channels.len() == 1 && self.channels[0] == channel => self.top.clone(),
            None => ChannelPosition::default(),
        }
    }
}

/// `publish_success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSuccess {
    pub id: Option<RequestId>,
    pub channel: String,
    /// Local subscriber queues that took it (memory and embedded engines).
    pub delivered: Option<u64>,
    /// Nodes subscribed in Redis (redis mode).
    pub nodes: Option<u64>,
    pub offset: Option<u64>,
}

/// A publication as a client receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub channel: String,
    /// The event type (`publication` unless the publisher chose one).
    pub event: String,
    pub data: Value,
    /// The offset, when the channel's namespace keeps history.
    pub offset: Option<u64>,
    /// When the server accepted it (RFC 3339).
    pub timestamp: String,
}

impl Delivery {
    /// The delivery as the server framed it:
    /// `{"type","channel","data","offset"?,"timestamp"}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::from(self.event.as_str()));
        m.insert("channel".into(), Value::from(self.channel.as_str()));
        m.insert("data".into(), self.data.clone());
        if let Some(o) = self.offset {
            m.insert("offset".into(), Value::from(o));
        }
        m.insert("timestamp".into(), Value::from(self.timestamp.as_str()));
        Value::Object(m)
    }
}

/// The reply to `history`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub id: Option<RequestId>,
    pub channel: String,
    /// The channel's current position (with history).
    pub offset: Option<u64>,
    pub epoch: Option<String>,
    pub publications: Vec<Delivery>,
}

/// One server frame, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    ConnectionEstablished(Welcome),
    Init(InitReply),
    AuthSuccess(Welcome),
    AuthFailed {
        id: Option<RequestId>,
        error: ErrorBody,
    },
    RefreshRequired {
        expires_at: Option<String>,
    },
    RefreshSuccess {
        id: Option<RequestId>,
        expires_at: Option<String>,
    },
    SubscribeSuccess(SubscribeSuccess),
    SubscribeFailed {
        id: Option<RequestId>,
        error: ErrorBody,
    },
    UnsubscribeSuccess {
        id: Option<RequestId>,
        channels: Vec<String>,
        server_side: bool,
    },
    UnsubscribeFailed {
        id: Option<RequestId>,
        error: ErrorBody,
    },
    PublishSuccess(PublishSuccess),
    History(HistoryPage),
    /// The server ended these subscriptions; resubscribe with recovery.
    RecoveryRequired {
        channels: Vec<String>,
        reason: String,
    },
    Pong {
        id: Option<RequestId>,
        timestamp: Option<String>,
    },
    Heartbeat {
        timestamp: Option<String>,
    },
    Error {
        id: Option<RequestId>,
        error: ErrorBody,
    },
    /// Backpressure dropped `count` publications of `channel`.
    Dropped {
        channel: String,
        count: u64,
        timestamp: Option<String>,
    },
    /// A delivery: a type that is not reserved, with a `channel`.
    Publication(Delivery),
    /// A personal message (`POST /api/send`), or another frame of a type
    /// that is not reserved, without `channel` but with `data`. `id` is its
    /// `id`/`correlation_id`, if any (agent conversations carry one).
    Message {
        id: Option<RequestId>,
        event: String,
        data: Value,
        timestamp: Option<String>,
    },
    /// Any other frame, with its fields (all but `type`).
    Unknown {
        kind: String,
        fields: Map<String, Value>,
    },
}

impl ServerFrame {
    /// The request id the frame echoes, if any.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            ServerFrame::ConnectionEstablished(w) | ServerFrame::AuthSuccess(w) => w.id.as_ref(),
            ServerFrame::Init(r) => r.id.as_ref(),
            ServerFrame::SubscribeSuccess(s) => s.id.as_ref(),
            ServerFrame::PublishSuccess(p) => p.id.as_ref(),
            ServerFrame::History(h) => h.id.as_ref(),
            ServerFrame::AuthFailed { id, .. }
            | ServerFrame::RefreshSuccess { id, .. }
            | ServerFrame::SubscribeFailed { id, .. }
            | ServerFrame::UnsubscribeSuccess { id, .. }
            | ServerFrame::UnsubscribeFailed { id, .. }
            | ServerFrame::Pong { id, .. }
            | ServerFrame::Error { id, .. }
            | ServerFrame::Message { id, .. } => id.as_ref(),
            ServerFrame::RefreshRequired { .. }
            | ServerFrame::RecoveryRequired { .. }
            | ServerFrame::Heartbeat { .. }
            | ServerFrame::Dropped { .. }
            | ServerFrame::Publication(_)
            | ServerFrame::Unknown { .. } => None,
        }
    }
}

/// A server frame that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The frame's `type`, when it could be read.
    pub kind: Option<String>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Some(k) => write!(f, "bad {k:?} frame: {}", self.message),
            None => write!(f, "bad server frame: {}", self.message),
        }
    }
}

impl std::error::Error for FrameError {}

/// The fields of one frame, taken out as they are read.
struct Fields {
    kind: String,
    map: Map<String, Value>,
}

impl Fields {
    fn error(&self, message: String) -> FrameError {
        FrameError {
            kind: Some(self.kind.clone()),
            message,
        }
    }

    /// The echoed `id` or `correlation_id`.
    fn id(&mut self) -> Option<RequestId> {
        for key in ["id", "correlation_id"] {
            match self.map.remove(key) {
                Some(v @ (Value::String(_) | Value::Number(_))) => {
                    return Some(RequestId { key, value: v })
                }
                _ => continue,
            }
        }
        None
    }

    fn opt_str(&mut self, key: &str) -> Result<Option<String>, FrameError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(format!("\"{key}\" must be a string"))),
        }
    }

    fn str(&mut self, key: &str) -> Result<String, FrameError> {
        self.opt_str(key)?
            .ok_or_else(|| self.error(format!("\"{key}\" is missing")))
    }

    fn opt_u64(&mut self, key: &str) -> Result<Option<u64>, FrameError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
            Some(_) => Err(self.error(format!("\"{key}\" must be a whole number >= 0"))),
        }
    }

    fn u64(&mut self, key: &str) -> Result<u64, FrameError> {
        self.opt_u64(key)?
            .ok_or_else(|| self.error(format!("\"{key}\" is missing")))
    }

    fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, FrameError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(self.error(format!("\"{key}\" must be true or false"))),
        }
    }

    fn strings(&mut self, key: &str) -> Result<Vec<String>, FrameError> {
        let bad = |f: &Self| f.error(format!("\"{key}\" must be an array of strings"));
        let Some(Value::Array(items)) = self.map.remove(key) else {
            return Err(bad(self));
        };
        items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad(self)),
            })
            .collect()
    }

    fn value(&mut self, key: &str) -> Result<Value, FrameError> {
        self.map
            .remove(key)
            .ok_or_else(|| self.error(format!("\"{key}\" is missing")))
    }

    fn position(&mut self) -> Result<ChannelPosition, FrameError> {
        Ok(ChannelPosition {
            offset: self.opt_u64("offset")?,
            epoch: self.opt_str("epoch")?,
            recovered: self.opt_bool("recovered")?,
        })
    }

    fn error_body(&mut self) -> Result<ErrorBody, FrameError> {
        let code = AnyErrorCode::parse(&self.str("code")?);
        let message = self.str("error")?;
        let known = code.known();
        Ok(ErrorBody {
            recoverable: self
                .opt_bool("recoverable")?
                .unwrap_or_else(|| known.is_none_or(ErrorCode::recoverable)),
            help: self
                .opt_str("help")?
                .unwrap_or_else(|| known.map(ErrorCode::help).unwrap_or("").to_string()),
            timestamp: self.opt_str("timestamp")?,
            code,
            message,
        })
    }
}

/// Parses one text frame from the server.
pub fn parse_server_frame(text: &str) -> Result<ServerFrame, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|e| FrameError {
        kind: None,
        message: format!("not JSON: {e}"),
    })?;
    frame_of(value)
}

/// Reads one frame already parsed as JSON.
pub fn frame_of(value: Value) -> Result<ServerFrame, FrameError> {
    let bad = |message: &str| FrameError {
        kind: None,
        message: message.to_string(),
    };
    let Value::Object(mut map) = value else {
        return Err(bad("a frame must be a JSON object"));
    };
    let kind = match map.remove("type") {
        Some(Value::String(k)) => k,
        Some(_) => return Err(bad("\"type\" must be a string")),
        None => return Err(bad("the frame has no \"type\"")),
    };
    let mut f = Fields { kind, map };
    match f.kind.as_str() {
        "connection_established" | "auth_success" => welcome(f),
        "init" => init_reply(f),
        "subscribe_success" => subscribe_success(f),
        "publish_success" => publish_success(f),
        "history" => history_page(f),
        "auth_failed" | "subscribe_failed" | "unsubscribe_failed" | "error" => error_frame(f),
        "refresh_required" => Ok(ServerFrame::RefreshRequired {
            expires_at: f.opt_str("expires_at")?,
        }),
        "refresh_success" => Ok(ServerFrame::RefreshSuccess {
            id: f.id(),
            expires_at: f.opt_str("expires_at")?,
        }),
        "unsubscribe_success" => Ok(ServerFrame::UnsubscribeSuccess {
            id: f.id(),
            channels: f.strings("channels")?,
            server_side: f.opt_bool("server_side")?.unwrap_or(false),
        }),
        "recovery_required" => Ok(ServerFrame::RecoveryRequired {
            channels: f.strings("channels")?,
            reason: f.opt_str("reason")?.unwrap_or_default(),
        }),
        "pong" => Ok(ServerFrame::Pong {
            id: f.id(),
            timestamp: f.opt_str("timestamp")?,
        }),
        "heartbeat" => Ok(ServerFrame::Heartbeat {
            timestamp: f.opt_str("timestamp")?,
        }),
        "dropped" => Ok(ServerFrame::Dropped {
            channel: f.str("channel")?,
            count: f.u64("count")?,
            timestamp: f.opt_str("timestamp")?,
        }),
        _ => other_frame(f),
    }
}

fn welcome(mut f: Fields) -> Result<ServerFrame, FrameError> {
    let mut frame = Map::new();
    frame.insert("type".into(), Value::from(f.kind.as_str()));
    frame.extend(f.map.clone());
    let w = Welcome {
        id: f.id(),
        connection_id: f.str("connection_id")?,
        user_id: f.opt_str("user_id")?,
        heartbeat_interval_ms: f.opt_u64("heartbeat_interval_ms")?,
        protocol_version: f.opt_str("protocol_version")?,
        expires_at: f.opt_str("expires_at")?,
        frame: Value::Object(frame),
    };
    Ok(if f.kind == "auth_success" {
        ServerFrame::AuthSuccess(w)
    } else {
        ServerFrame::ConnectionEstablished(w)
    })
}

fn init_reply(mut f: Fields) -> Result<ServerFrame, FrameError> {
    Ok(ServerFrame::Init(InitReply {
        id: f.id(),
        protocol_version: f.str("protocol_version")?,
        connection_id: f.opt_str("connection_id")?,
        server: f.opt_str("server")?,
        features: match f.map.contains_key("features") {
            true => f.strings("features")?,
            false => Vec::new(),
        },
    }))
}

fn subscribe_success(mut f: Fields) -> Result<ServerFrame, FrameError> {
    let id = f.id();
    let channels = f.strings("channels")?;
    let mut positions = BTreeMap::new();
    match f.map.remove("positions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (channel, p) in m {
                let Value::Object(map) = p else {
                    return Err(f.error(format!("\"positions\".{channel} must be an object")));
                };
                let mut inner = Fields {
                    kind: f.kind.clone(),
                    map,
                };
                positions.insert(channel, inner.position()?);
            }
        }
        Some(_) => return Err(f.error("\"positions\" must be an object".into())),
    }
    let top = f.position()?;
    // A single channel may carry its position at the top level only.
    if let ([only], false) = (channels.as_slice(), top.is_empty()) {
        positions.entry(only.clone()).or_insert_with(|| top.clone());
    }
    Ok(ServerFrame::SubscribeSuccess(SubscribeSuccess {
        id,
        channels,
        positions,
        top,
        server_side: f.opt_bool("server_side")?.unwrap_or(false),
    }))
}

fn publish_success(mut f: Fields) -> Result<ServerFrame, FrameError> {
    Ok(ServerFrame::PublishSuccess(PublishSuccess {
        id: f.id(),
        channel: f.str("channel")?,
        delivered: f.opt_u64("delivered")?,
        nodes: f.opt_u64("nodes")?,
        offset: f.opt_u64("offset")?,
    }))
}

fn history_page(mut f: Fields) -> Result<ServerFrame, FrameError> {
    let id = f.id();
    let channel = f.str("channel")?;
    let Some(Value::Array(items)) = f.map.remove("publications") else {
        return Err(f.error("\"publications\" must be an array".into()));
    };
    let mut publications = Vec::with_capacity(items.len());
    for item in items {
        match frame_of(item)? {
            ServerFrame::Publication(p) => publications.push(p),
            other => {
                return Err(f.error(format!(
                    "\"publications\" holds a {:?} frame",
                    kind_of(&other)
                )))
            }
        }
    }
    Ok(ServerFrame::History(HistoryPage {
        id,
        channel,
        offset: f.opt_u64("offset")?,
        epoch: f.opt_str("epoch")?,
        publications,
    }))
}

fn kind_of(frame: &ServerFrame) -> &str {
    match frame {
        ServerFrame::Message { event, .. } => event,
        ServerFrame::Unknown { kind, .. } => kind,
        _ => "control",
    }
}

fn error_frame(mut f: Fields) -> Result<ServerFrame, FrameError> {
    let id = f.id();
    let error = f.error_body()?;
    Ok(match f.kind.as_str() {
        "auth_failed" => ServerFrame::AuthFailed { id, error },
        "subscribe_failed" => ServerFrame::SubscribeFailed { id, error },
        "unsubscribe_failed" => ServerFrame::UnsubscribeFailed { id, error },
        _ => ServerFrame::Error { id, error },
    })
}

/// Deliveries, personal messages, and frames this parser does not know.
fn other_frame(mut f: Fields) -> Result<ServerFrame, FrameError> {
    if RESERVED_EVENT_TYPES.contains(&f.kind.as_str()) {
        return Ok(ServerFrame::Unknown {
            kind: f.kind,
            fields: f.map,
        });
    }
    if f.map.contains_key("channel") {
        return Ok(ServerFrame::Publication(Delivery {
            channel: f.str("channel")?,
            data: f.value("data")?,
            offset: f.opt_u64("offset")?,
            timestamp: f.str("timestamp")?,
            event: f.kind,
        }));
    }
    if f.map.contains_key("data") {
        return Ok(ServerFrame::Message {
            id: f.id(),
            data: f.value("data")?,
            timestamp: f.opt_str("timestamp")?,
            event: f.kind,
        });
    }
    Ok(ServerFrame::Unknown {
        kind: f.kind,
        fields: f.map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(b: &[u8]) -> ServerFrame {
        let text = std::str::from_utf8(b).unwrap();
        parse_server_frame(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn server_encoders_parse_back() {
        let p = Publication {
            channel: "chat:1".into(),
            event: "message_posted".into(),
            data: Bytes::from_static(br#"{"text":"hi"}"#),
            offset: 42,
            ts_ms: 1_795_297_680_123,
        };
        let ServerFrame::Publication(d) = parse(&p.to_json()) else {
            panic!()
        };
        assert_eq!(
            d,
            Delivery {
                channel: "chat:1".into(),
                event: "message_posted".into(),
                data: json!({"text": "hi"}),
                offset: Some(42),
                timestamp: "2026-11-21T21:48:00.123Z".into(),
            }
        );
        assert_eq!(serde_json::to_vec(&d.to_json()).unwrap().len(), {
            // Same fields as the native frame (key order aside).
            let v: Value = serde_json::from_slice(&p.to_json()).unwrap();
            serde_json::to_vec(&v).unwrap().len()
        });
        let no_offset = encode_publication("publication", "news", "null", None, "t");
        let ServerFrame::Publication(d) = parse(&no_offset) else {
            panic!()
        };
        assert_eq!((d.offset, d.data), (None, Value::Null));

        let id = RequestId::id(5);
        for (kind, expect) in [
            ("subscribe_failed", "SubscribeFailed"),
            ("unsubscribe_failed", "UnsubscribeFailed"),
            ("auth_failed", "AuthFailed"),
            ("error", "Error"),
        ] {
            let b = encode_control(
                kind,
                error_fields(ErrorCode::TooManySubscriptions, "nope"),
                Some(&id),
            );
            let f = parse(&b);
            assert!(format!("{f:?}").starts_with(expect), "{f:?}");
            assert_eq!(f.id(), Some(&id));
            let (ServerFrame::SubscribeFailed { error, .. }
            | ServerFrame::UnsubscribeFailed { error, .. }
            | ServerFrame::AuthFailed { error, .. }
            | ServerFrame::Error { error, .. }) = f
            else {
                panic!()
            };
            assert_eq!(error.code, ErrorCode::TooManySubscriptions);
            assert_eq!(error.message, "nope");
            assert!(error.recoverable);
            assert_eq!(error.help, ErrorCode::TooManySubscriptions.help());
        }
        let ServerFrame::Error { id: None, error } =
            parse(&encode_error(ErrorCode::RateLimited, "slow", None))
        else {
            panic!()
        };
        assert_eq!(error.code, ErrorCode::RateLimited);
        let ServerFrame::Dropped { channel, count, .. } = parse(&encode_dropped("bp:feed", 12))
        else {
            panic!()
        };
        assert_eq!((channel.as_str(), count), ("bp:feed", 12));
    }

    #[test]
    fn subscribe_replies_parse_back() {
        use crate::replies::{history_json, success_fields, JoinedChannel};
        let one = [JoinedChannel {
            channel: "chat:1".into(),
            position: Some((57, "e1".into())),
            recovered: Some(true),
        }];
        let b = encode_control(
            "subscribe_success",
            success_fields(&["chat:1".into()], &one, false),
            Some(&RequestId::correlation("s-1")),
        );
        let ServerFrame::SubscribeSuccess(s) = parse(&b) else {
            panic!()
        };
        let pos = ChannelPosition {
            offset: Some(57),
            epoch: Some("e1".into()),
            recovered: Some(true),
        };
        assert_eq!(s.id, Some(RequestId::correlation("s-1")));
        assert_eq!((s.top.clone(), s.position_of("chat:1")), (pos.clone(), pos));
        assert!(!s.server_side);
        let two = [
            JoinedChannel {
                channel: "a".into(),
                position: Some((3, "x".into())),
                recovered: None,
            },
            JoinedChannel {
                channel: "live:b".into(),
                position: None,
                recovered: Some(false),
            },
        ];
        let names = ["a".to_string(), "live:b".to_string()];
        let b = encode_control(
            "subscribe_success",
            success_fields(&names, &two, true),
            None,
        );
        let ServerFrame::SubscribeSuccess(s) = parse(&b) else {
            panic!()
        };
        assert!(s.server_side && s.top.is_empty() && s.id.is_none());
        assert_eq!(s.channels, names);
        assert_eq!(s.position_of("a").offset, Some(3));
        assert_eq!(s.position_of("live:b").recovered, Some(false));
        assert_eq!(s.position_of("live:b").epoch, None);

        let p = Publication {
            channel: "c".into(),
            event: "publication".into(),
            data: Bytes::from_static(b"[1]"),
            offset: 4,
            ts_ms: 0,
        };
        let text = history_json(
            "c",
            Some((4, "e")),
            &[p.clone(), p],
            Some(&RequestId::id("h1")),
        );
        let ServerFrame::History(h) = parse(text.as_bytes()) else {
            panic!()
        };
        assert_eq!((h.offset, h.epoch.as_deref()), (Some(4), Some("e")));
        assert_eq!(h.publications.len(), 2);
        assert_eq!(h.publications[0].data, json!([1]));
        assert_eq!(h.id, Some(RequestId::id("h1")));
    }

    /// Every JSON example of docs/protocol.md §5 is read as its own kind.
    #[test]
    fn protocol_examples_parse() {
        let doc = include_str!("../../../docs/protocol.md");
        let start = doc.find("## 5. Server").unwrap();
        let end = doc.find("## 6. Error fields").unwrap();
        let mut n = 0;
        for line in doc[start..end]
            .lines()
            .filter(|l| l.starts_with("{\"type\""))
        {
            let f = parse_server_frame(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(!matches!(f, ServerFrame::Unknown { .. }), "{line}");
            let kind: Value = serde_json::from_str::<Value>(line).unwrap()["type"].clone();
            if let ServerFrame::Message { event, .. } = &f {
                assert_eq!(kind, json!(event));
            }
            n += 1;
        }
        assert!(n >= 30, "only {n} examples found");
    }

    #[test]
    fn unknown_and_broken_frames() {
        let f = parse_server_frame(
            r#"{"type":"agent_started","correlation_id":"c1","seq":1,"data":{"agent":"x"}}"#,
        )
        .unwrap();
        let ServerFrame::Message { id, event, .. } = f else {
            panic!()
        };
        assert_eq!(
            (id, event.as_str()),
            (Some(RequestId::correlation("c1")), "agent_started")
        );
        assert!(matches!(
            parse_server_frame(r#"{"type":"stream_error","x":1}"#).unwrap(),
            ServerFrame::Unknown { .. }
        ));
        assert!(matches!(
            parse_server_frame(r#"{"type":"brand_new"}"#).unwrap(),
            ServerFrame::Unknown { .. }
        ));
        let code = parse_server_frame(
            r#"{"type":"error","code":"some_future_code","error":"slow agent"}"#,
        )
        .unwrap();
        let ServerFrame::Error { error, .. } = code else {
            panic!()
        };
        assert_eq!(error.code, AnyErrorCode::Unknown("some_future_code".into()));
        assert!(error.recoverable);
        for bad in [
            "{",
            "[1]",
            r#"{"channel":"a"}"#,
            r#"{"type":1}"#,
            r#"{"type":"dropped","channel":"a"}"#,
            r#"{"type":"subscribe_success","channels":"a"}"#,
            r#"{"type":"subscribe_success","channels":["a"],"offset":-1}"#,
            r#"{"type":"error","error":"no code"}"#,
            r#"{"type":"publication","channel":"a","timestamp":"t"}"#,
            r#"{"type":"connection_established"}"#,
            r#"{"type":"history","channel":"a","publications":[{"type":"pong"}]}"#,
        ] {
            let e = parse_server_frame(bad).unwrap_err();
            assert!(!e.to_string().is_empty(), "{bad}");
        }
    }

    #[test]
    fn publication_is_valid_json() {
        let b = encode_publication(
            "publication",
            "chat:1",
            r#"{"x":[1,2]}"#,
            None,
            "2026-01-01T00:00:00.000Z",
        );
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            json!({"type":"publication","channel":"chat:1","data":{"x":[1,2]},"timestamp":"2026-01-01T00:00:00.000Z"})
        );
        assert!(b.starts_with(b"{\"type\":\"publication\""));
        let b = encode_publication("e", "c", "1", Some(42), "t");
        assert_eq!(
            &b[..],
            br#"{"type":"e","channel":"c","data":1,"offset":42,"timestamp":"t"}"#
        );
    }

    #[test]
    fn control_echoes_id() {
        let id = RequestId {
            key: "correlation_id",
            value: json!("abc"),
        };
        let b = encode_control("pong", fields([("timestamp", json!("t"))]), Some(&id));
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            json!({"type":"pong","timestamp":"t","correlation_id":"abc"})
        );
        let v: Value = serde_json::from_slice(&encode_control("x", Map::new(), None)).unwrap();
        assert_eq!(v, json!({"type":"x"}));
    }

    #[test]
    fn error_shape() {
        let v: Value =
            serde_json::from_slice(&encode_error(ErrorCode::UnknownType, "nope", None)).unwrap();
        for key in ["type", "code", "error", "recoverable", "help", "timestamp"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["code"], "unknown_type");
    }
}
