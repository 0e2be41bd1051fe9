//! Client → server messages: parsing (for the server) in two steps, and
//! typed encoding (for clients).
//!
//! A frame is one JSON object with a snake_case `type`. It may carry `id`
//! (or `correlation_id`), a string or number that the reply echoes under
//! the same key. [`parse_envelope`] reads the envelope (type, id, the other
//! fields); [`parse_request`] turns an envelope of the channel protocol into
//! a typed [`ClientRequest`]. Dialects (other wire shapes) produce the same
//! [`Envelope`], so every endpoint handler sees one model. Parsing never
//! panics: every malformed input maps to an [`ErrorCode`] and a message
//! that names the offending field.
//!
//! Encoding is the inverse: [`ClientMessage::to_json`] writes any
//! [`ClientRequest`] (type first, then its fields, then the id), and
//! [`AgentMessage::to_json`] the agent conversation messages, which the
//! channel protocol's parser leaves to the agents handler. Invariant, held
//! by the round-trip tests: for a request whose channel list is sorted and
//! without duplicates, `parse_client_message(&m.to_json()) == Ok(m)`.

use serde_json::{Map, Value};

use crate::channel::validate_channel;
use crate::codes::ErrorCode;
use crate::json::typed_object;

/// The most channels one `subscribe`/`unsubscribe` may name.
pub const MAX_CHANNELS_PER_REQUEST: usize = 1000;

/// The request id a client attached, echoed in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId {
    /// `"id"` or `"correlation_id"`: the reply uses the same key.
    pub key: &'static str,
    pub value: Value,
}

/// A parsed client request.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    Init {
        protocol_version: Option<String>,
    },
    Subscribe {
        channels: Vec<String>,
        options: SubscribeOptions,
    },
    History {
        channel: String,
        /// Publications after this offset (exclusive); none: the oldest kept.
        since: Option<u64>,
        limit: Option<usize>,
    },
    Unsubscribe {
        channels: Vec<String>,
    },
    Publish {
        channel: String,
        event: Option<String>,
        data: Value,
    },
    Auth(AuthRequest),
    Refresh {
        token: String,
    },
    Ping,
    Pong,
    Close,
}

/// Where a client resumes a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPosition {
    /// The last offset the client saw.
    pub offset: u64,
    /// The epoch it was seen in; `None` (from `since`) accepts any epoch.
    pub epoch: Option<String>,
}

/// Options of a `subscribe`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscribeOptions {
    /// Recover from positions: one per channel (`recover` with `channel`,
    /// or a map channel → position with `channels`).
    pub recover: std::collections::BTreeMap<String, StreamPosition>,
    /// Send the latest publication first.
    pub snapshot: bool,
    /// Deliver only publications whose `data` fields (and `type`) equal
    /// these values.
    pub filter: Option<Map<String, Value>>,
}

/// The credentials of an `auth` message. Which combinations are valid is
/// decided by the server's configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthRequest {
    pub api_key: Option<String>,
    pub key_id: Option<String>,
    /// Milliseconds since the Unix epoch, as signed.
    pub timestamp: Option<u64>,
    /// Hex HMAC-SHA256 of the timestamp's decimal string.
    pub signature: Option<String>,
    pub token: Option<String>,
}

/// A parsed client frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMessage {
    pub id: Option<RequestId>,
    pub request: ClientRequest,
}

/// Why a frame was refused; `id` is set when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub code: ErrorCode,
    pub message: String,
    pub id: Option<RequestId>,
    /// The message type, when it could be read (so subscribe errors can be
    /// answered with `subscribe_failed`).
    pub kind: Option<String>,
}

impl ParseError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ParseError {
            code,
            message: message.into(),
            id: None,
            kind: None,
        }
    }
}

/// A client frame before its fields are interpreted: the message type,
/// the request id, and every other field.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub kind: String,
    pub id: Option<RequestId>,
    pub fields: Map<String, Value>,
}

impl Envelope {
    /// A [`ParseError`] about this envelope (keeps its id and type).
    pub fn error(&self, code: ErrorCode, message: impl Into<String>) -> ParseError {
        ParseError {
            code,
            message: message.into(),
            id: self.id.clone(),
            kind: Some(self.kind.clone()),
        }
    }
}

/// Reads the envelope of one text frame: a JSON object with a string
/// `type` and an optional `id`/`correlation_id`.
pub fn parse_envelope(text: &str) -> Result<Envelope, ParseError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ParseError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ParseError::new(
            ErrorCode::InvalidJson,
            "a frame must be a JSON object",
        ));
    };
    envelope_of(obj)
}

/// Splits a JSON object into its envelope.
pub fn envelope_of(mut obj: Map<String, Value>) -> Result<Envelope, ParseError> {
    let id = take_id(&mut obj)?;
    let with_id = |mut e: ParseError| {
        e.id = id.clone();
        e
    };
    let kind = match obj.remove("type") {
        None => {
            return Err(with_id(ParseError::new(
                ErrorCode::MissingType,
                "the message has no \"type\" field",
            )))
        }
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(with_id(ParseError::new(
                ErrorCode::InvalidField,
                "\"type\" must be a string",
            )))
        }
    };
    Ok(Envelope {
        kind,
        id,
        fields: obj,
    })
}

/// Parses one text frame of the channel protocol.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ParseError> {
    parse_request(parse_envelope(text)?)
}

/// Interprets an envelope as a request of the channel protocol.
pub fn parse_request(env: Envelope) -> Result<ClientMessage, ParseError> {
    let Envelope {
        kind,
        id,
        mut fields,
    } = env;
    match request_of(&kind, &mut fields) {
        Ok(request) => Ok(ClientMessage { id, request }),
        Err(mut e) => {
            e.kind = Some(kind);
            e.id = id;
            Err(e)
        }
    }
}

fn take_id(obj: &mut Map<String, Value>) -> Result<Option<RequestId>, ParseError> {
    let (key, value) = if let Some(v) = obj.remove("id") {
        ("id", v)
    } else if let Some(v) = obj.remove("correlation_id") {
        ("correlation_id", v)
    } else {
        return Ok(None);
    };
    match value {
        Value::String(_) | Value::Number(_) => Ok(Some(RequestId { key, value })),
        Value::Null => Ok(None),
        _ => Err(ParseError::new(
            ErrorCode::InvalidField,
            format!("\"{key}\" must be a string or a number"),
        )),
    }
}

fn request_of(kind: &str, obj: &mut Map<String, Value>) -> Result<ClientRequest, ParseError> {
    Ok(match kind {
        "init" => ClientRequest::Init {
            protocol_version: optional_string(obj, "protocol_version")?,
        },
        "subscribe" => {
            let channels = channel_list(obj)?;
            let options = subscribe_options(obj, &channels)?;
            ClientRequest::Subscribe { channels, options }
        }
        "history" => history_request(obj)?,
        "unsubscribe" => ClientRequest::Unsubscribe {
            channels: channel_list(obj)?,
        },
        "publish" => publish_request(obj)?,
        "auth" => ClientRequest::Auth(auth_request(obj)?),
        "refresh" => ClientRequest::Refresh {
            token: optional_string(obj, "token")?
                .ok_or_else(|| ParseError::new(ErrorCode::InvalidField, "\"token\" is required"))?,
        },
        "ping" => ClientRequest::Ping,
        "pong" => ClientRequest::Pong,
        "close" => ClientRequest::Close,
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(ParseError::new(
                ErrorCode::UnknownType,
                format!("unknown message type {shown:?}"),
            ));
        }
    })
}

fn required_channel(obj: &mut Map<String, Value>) -> Result<String, ParseError> {
    let channel = optional_string(obj, "channel")?
        .ok_or_else(|| ParseError::new(ErrorCode::InvalidField, "\"channel\" is required"))?;
    check_channel(&channel)?;
    Ok(channel)
}

fn history_request(obj: &mut Map<String, Value>) -> Result<ClientRequest, ParseError> {
    Ok(ClientRequest::History {
        channel: required_channel(obj)?,
        since: optional_u64(obj, "since")?,
        limit: optional_u64(obj, "limit")?.map(|l| l as usize),
    })
}

fn publish_request(obj: &mut Map<String, Value>) -> Result<ClientRequest, ParseError> {
    let channel = required_channel(obj)?;
    let event = optional_string(obj, "event")?;
    if let Some(ev) = &event {
        validate_event_type(ev).map_err(|m| ParseError::new(ErrorCode::InvalidField, m))?;
    }
    let data = obj
        .remove("data")
        .ok_or_else(|| ParseError::new(ErrorCode::InvalidField, "\"data\" is required"))?;
    Ok(ClientRequest::Publish {
        channel,
        event,
        data,
    })
}

fn auth_request(obj: &mut Map<String, Value>) -> Result<AuthRequest, ParseError> {
    let bad_ts = || {
        ParseError::new(
            ErrorCode::InvalidField,
            "\"timestamp\" must be ms since the epoch",
        )
    };
    let timestamp = match obj.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(bad_ts)?),
        Some(Value::String(s)) => Some(s.parse::<u64>().map_err(|_| bad_ts())?),
        Some(_) => return Err(bad_ts()),
    };
    let req = AuthRequest {
        api_key: optional_string(obj, "api_key")?,
        key_id: optional_string(obj, "key_id")?,
        timestamp,
        signature: optional_string(obj, "signature")?,
        token: optional_string(obj, "token")?,
    };
    if req.api_key.is_none() && req.key_id.is_none() && req.token.is_none() {
        return Err(ParseError::new(
            ErrorCode::InvalidField,
            "auth needs \"api_key\", \"key_id\" or \"token\"",
        ));
    }
    Ok(req)
}

fn optional_string(obj: &mut Map<String, Value>, key: &str) -> Result<Option<String>, ParseError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ParseError::new(
            ErrorCode::InvalidField,
            format!("\"{key}\" must be a string"),
        )),
    }
}

fn optional_u64(obj: &mut Map<String, Value>, key: &str) -> Result<Option<u64>, ParseError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(_) => Err(ParseError::new(
            ErrorCode::InvalidField,
            format!("\"{key}\" must be a whole number >= 0"),
        )),
    }
}

fn position(v: Value, what: &str) -> Result<StreamPosition, ParseError> {
    let bad = || {
        ParseError::new(
            ErrorCode::InvalidField,
            format!("{what} must be {{\"offset\": n, \"epoch\": \"…\"}}"),
        )
    };
    let Value::Object(mut m) = v else {
        return Err(bad());
    };
    let offset = optional_u64(&mut m, "offset")?.ok_or_else(bad)?;
    let epoch = optional_string(&mut m, "epoch").map_err(|_| bad())?;
    Ok(StreamPosition { offset, epoch })
}

fn subscribe_options(
    obj: &mut Map<String, Value>,
    channels: &[String],
) -> Result<SubscribeOptions, ParseError> {
    let mut opts = SubscribeOptions::default();
    if let Some(since) = optional_u64(obj, "since")? {
        for c in channels {
            opts.recover.insert(
                c.clone(),
                StreamPosition {
                    offset: since,
                    epoch: None,
                },
            );
        }
    }
    match obj.remove("recover") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) if v.get("offset").is_some() => {
            if channels.len() != 1 {
                return Err(ParseError::new(
                    ErrorCode::InvalidField,
                    "with several channels, \"recover\" maps each channel to {offset, epoch}",
                ));
            }
            opts.recover
                .insert(channels[0].clone(), position(v, "\"recover\"")?);
        }
        Some(Value::Object(m)) => {
            for (c, v) in m {
                if !channels.contains(&c) {
                    return Err(ParseError::new(
                        ErrorCode::InvalidField,
                        format!("\"recover\" names {c:?}, which is not being subscribed"),
                    ));
                }
                let p = position(v, &format!("\"recover\".{c}"))?;
                opts.recover.insert(c, p);
            }
        }
        Some(_) => {
            return Err(ParseError::new(
                ErrorCode::InvalidField,
                "\"recover\" must be {offset, epoch} or a map of them",
            ))
        }
    }
    opts.snapshot = match obj.remove("snapshot") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(ParseError::new(
                ErrorCode::InvalidField,
                "\"snapshot\" must be true or false",
            ))
        }
    };
    opts.filter = match obj.remove("filter") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.len() <= 16 => Some(m),
        Some(_) => {
            return Err(ParseError::new(
                ErrorCode::InvalidField,
                "\"filter\" must be an object of at most 16 field: value pairs",
            ))
        }
    };
    Ok(opts)
}

fn check_channel(name: &str) -> Result<(), ParseError> {
    validate_channel(name).map_err(|e| ParseError::new(ErrorCode::InvalidChannel, e.to_string()))
}

/// Reads `channel` (string) or `channels` / `rooms` (arrays of strings),
/// validating every name. At least one channel is required.
fn channel_list(obj: &mut Map<String, Value>) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    if let Some(one) = optional_string(obj, "channel")? {
        out.push(one);
    }
    for key in ["channels", "rooms"] {
        match obj.remove(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if items.len() > MAX_CHANNELS_PER_REQUEST {
                    return Err(ParseError::new(
                        ErrorCode::InvalidField,
                        format!(
                            "\"{key}\" names {} channels, at most {MAX_CHANNELS_PER_REQUEST} per request",
                            items.len()
                        ),
                    ));
                }
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => {
                            return Err(ParseError::new(
                                ErrorCode::InvalidField,
                                format!("\"{key}\" must be an array of strings"),
                            ))
                        }
                    }
                }
            }
            Some(_) => {
                return Err(ParseError::new(
                    ErrorCode::InvalidField,
                    format!("\"{key}\" must be an array of strings"),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(ParseError::new(
            ErrorCode::InvalidField,
            "name a \"channel\", or \"channels\" / \"rooms\" as an array",
        ));
    }
    for c in &out {
        check_channel(c)?;
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl RequestId {
    /// An id sent as `"id"`.
    pub fn id(value: impl Into<Value>) -> RequestId {
        RequestId {
            key: "id",
            value: value.into(),
        }
    }

    /// An id sent as `"correlation_id"`.
    pub fn correlation(value: impl Into<Value>) -> RequestId {
        RequestId {
            key: "correlation_id",
            value: value.into(),
        }
    }

    /// The id as a number, when it is one.
    pub fn as_u64(&self) -> Option<u64> {
        self.value.as_u64()
    }

    /// The id as a string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }
}

impl AuthRequest {
    /// `{token}`: a JWT.
    pub fn token(token: impl Into<String>) -> AuthRequest {
        AuthRequest {
            token: Some(token.into()),
            ..AuthRequest::default()
        }
    }

    /// `{api_key}`: a plain API key.
    pub fn api_key(key: impl Into<String>) -> AuthRequest {
        AuthRequest {
            api_key: Some(key.into()),
            ..AuthRequest::default()
        }
    }

    /// `{api_key, timestamp, signature}`: an API key signed at
    /// `timestamp_ms` (see [`crate::signature::sign`]).
    pub fn signed_api_key(key: &str, timestamp_ms: u64) -> AuthRequest {
        AuthRequest {
            api_key: Some(key.to_string()),
            timestamp: Some(timestamp_ms),
            signature: Some(crate::signature::sign(key, timestamp_ms)),
            ..AuthRequest::default()
        }
    }

    /// `{key_id, timestamp, signature}`: a named key, signed with its
    /// secret (which does not travel).
    pub fn signed_key_id(key_id: &str, secret: &str, timestamp_ms: u64) -> AuthRequest {
        AuthRequest {
            key_id: Some(key_id.to_string()),
            timestamp: Some(timestamp_ms),
            signature: Some(crate::signature::sign(secret, timestamp_ms)),
            ..AuthRequest::default()
        }
    }
}

impl From<ClientRequest> for ClientMessage {
    fn from(request: ClientRequest) -> Self {
        ClientMessage { id: None, request }
    }
}

impl ClientMessage {
    /// A message without id.
    pub fn new(request: ClientRequest) -> ClientMessage {
        ClientMessage { id: None, request }
    }

    /// The same message with `id`.
    pub fn with_id(mut self, id: RequestId) -> ClientMessage {
        self.id = Some(id);
        self
    }

    /// The fields after `type`: the request's, then the id.
    fn fields(&self) -> Map<String, Value> {
        let mut f = self.request.fields();
        if let Some(id) = &self.id {
            f.insert(id.key.to_string(), id.value.clone());
        }
        f
    }

    /// The frame as JSON text, `type` first.
    pub fn to_json(&self) -> String {
        typed_object(self.request.kind(), &self.fields())
    }

    /// The frame as a JSON value.
    pub fn to_value(&self) -> Value {
        with_type(self.request.kind(), self.fields())
    }
}

/// `{"type": kind, …fields}` as a value (`type` inserted first).
fn with_type(kind: &str, fields: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::from(kind));
    m.extend(fields);
    Value::Object(m)
}

impl ClientRequest {
    /// The wire `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientRequest::Init { .. } => "init",
            ClientRequest::Subscribe { .. } => "subscribe",
            ClientRequest::History { .. } => "history",
            ClientRequest::Unsubscribe { .. } => "unsubscribe",
            ClientRequest::Publish { .. } => "publish",
            ClientRequest::Auth(_) => "auth",
            ClientRequest::Refresh { .. } => "refresh",
            ClientRequest::Ping => "ping",
            ClientRequest::Pong => "pong",
            ClientRequest::Close => "close",
        }
    }

    /// The fields besides `type` and the id.
    fn fields(&self) -> Map<String, Value> {
        let mut f = Map::new();
        match self {
            ClientRequest::Init { protocol_version } => {
                put_opt(&mut f, "protocol_version", protocol_version.clone());
            }
            ClientRequest::Subscribe { channels, options } => {
                put_channels(&mut f, channels);
                put_subscribe_options(&mut f, channels, options);
            }
            ClientRequest::History {
                channel,
                since,
                limit,
            } => {
                f.insert("channel".into(), Value::from(channel.as_str()));
                put_opt(&mut f, "since", *since);
                put_opt(&mut f, "limit", limit.map(|l| l as u64));
            }
            ClientRequest::Unsubscribe { channels } => put_channels(&mut f, channels),
            ClientRequest::Publish {
                channel,
                event,
                data,
            } => {
                f.insert("channel".into(), Value::from(channel.as_str()));
                put_opt(&mut f, "event", event.clone());
                f.insert("data".into(), data.clone());
            }
            ClientRequest::Auth(a) => {
                put_opt(&mut f, "api_key", a.api_key.clone());
                put_opt(&mut f, "key_id", a.key_id.clone());
                put_opt(&mut f, "timestamp", a.timestamp);
                put_opt(&mut f, "signature", a.signature.clone());
                put_opt(&mut f, "token", a.token.clone());
            }
            ClientRequest::Refresh { token } => {
                f.insert("token".into(), Value::from(token.as_str()));
            }
            ClientRequest::Ping | ClientRequest::Pong | ClientRequest::Close => {}
        }
        f
    }
}

fn put_opt<T: Into<Value>>(f: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        f.insert(key.into(), v.into());
    }
}

/// One channel as `channel`, several (or none) as `channels`.
fn put_channels(f: &mut Map<String, Value>, channels: &[String]) {
    match channels {
        [one] => f.insert("channel".into(), Value::from(one.as_str())),
        _ => f.insert("channels".into(), Value::from(channels.to_vec())),
    };
}

fn position_value(p: &StreamPosition) -> Value {
    let mut m = Map::new();
    m.insert("offset".into(), Value::from(p.offset));
    put_opt(&mut m, "epoch", p.epoch.clone());
    Value::Object(m)
}

/// `recover` (one position for a single channel, else a map), `snapshot`
/// and `filter`. A position without epoch is what `since` means, so `since`
/// is never needed.
fn put_subscribe_options(f: &mut Map<String, Value>, channels: &[String], o: &SubscribeOptions) {
    let single = match channels {
        [one] if o.recover.len() == 1 => o.recover.get(one),
        _ => None,
    };
    if let Some(p) = single {
        f.insert("recover".into(), position_value(p));
    } else if !o.recover.is_empty() {
        let map = o
            .recover
            .iter()
            .map(|(c, p)| (c.clone(), position_value(p)))
            .collect();
        f.insert("recover".into(), Value::Object(map));
    }
    if o.snapshot {
        f.insert("snapshot".into(), Value::from(true));
    }
    if let Some(filter) = &o.filter {
        f.insert("filter".into(), Value::Object(filter.clone()));
    }
}

/// The messages of an agent conversation. The channel protocol's parser
/// refuses them (`unknown_type`); the agents handler reads them from the
/// [`Envelope`], where `correlation_id` is the request id.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentMessage {
    /// `{"type":"user_message","content","thread_id"?,"correlation_id"}`.
    UserMessage {
        content: String,
        thread_id: Option<String>,
        correlation_id: String,
    },
    /// `{"type":"agent_request","agent","input","correlation_id"}`.
    AgentRequest {
        agent: String,
        input: Value,
        correlation_id: String,
    },
    /// `{"type":"agent_cancel","correlation_id"}`.
    AgentCancel { correlation_id: String },
}

impl AgentMessage {
    /// The wire `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentMessage::UserMessage { .. } => "user_message",
            AgentMessage::AgentRequest { .. } => "agent_request",
            AgentMessage::AgentCancel { .. } => "agent_cancel",
        }
    }

    /// The conversation this message belongs to.
    pub fn correlation_id(&self) -> &str {
        match self {
            AgentMessage::UserMessage { correlation_id, .. }
            | AgentMessage::AgentRequest { correlation_id, .. }
            | AgentMessage::AgentCancel { correlation_id } => correlation_id,
        }
    }

    fn fields(&self) -> Map<String, Value> {
        let mut f = Map::new();
        match self {
            AgentMessage::UserMessage {
                content, thread_id, ..
            } => {
                f.insert("content".into(), Value::from(content.as_str()));
                put_opt(&mut f, "thread_id", thread_id.clone());
            }
            AgentMessage::AgentRequest { agent, input, .. } => {
                f.insert("agent".into(), Value::from(agent.as_str()));
                f.insert("input".into(), input.clone());
            }
            AgentMessage::AgentCancel { .. } => {}
        }
        f.insert("correlation_id".into(), Value::from(self.correlation_id()));
        f
    }

    /// The frame as JSON text, `type` first.
    pub fn to_json(&self) -> String {
        typed_object(self.kind(), &self.fields())
    }

    /// The frame as a JSON value.
    pub fn to_value(&self) -> Value {
        with_type(self.kind(), self.fields())
    }
}

/// Types the server itself uses for control frames; a publication may not
/// take one of these as its event type, so clients can never confuse the two.
pub const RESERVED_EVENT_TYPES: &[&str] = &[
    "connection_established",
    "init",
    "subscribe_success",
    "subscribe_failed",
    "unsubscribe_success",
    "unsubscribe_failed",
    "publish_success",
    "pong",
    "heartbeat",
    "error",
    "dropped",
    "auth",
    "auth_success",
    "auth_failed",
    "refresh",
    "refresh_required",
    "refresh_success",
    "history",
    "recovery_required",
    "stream_error",
];

/// Longest allowed event type.
pub const MAX_EVENT_TYPE_LEN: usize = 64;

/// Checks an event type given to a publication: 1-64 bytes of letters,
/// digits and `_ - . :`, and not one of [`RESERVED_EVENT_TYPES`].
pub fn validate_event_type(t: &str) -> Result<(), String> {
    if t.is_empty() || t.len() > MAX_EVENT_TYPE_LEN {
        return Err(format!(
            "event type must be 1-{MAX_EVENT_TYPE_LEN} bytes long"
        ));
    }
    if !t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    {
        return Err("event type may hold letters, digits and _ - . : only".into());
    }
    if RESERVED_EVENT_TYPES.contains(&t) {
        return Err(format!("event type {t:?} is reserved for the protocol"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code_of(text: &str) -> ErrorCode {
        parse_client_message(text).unwrap_err().code
    }

    #[test]
    fn parses_subscribe_forms() {
        let m = parse_client_message(r#"{"type":"subscribe","channel":"a","id":7}"#).unwrap();
        assert_eq!(
            m.request,
            ClientRequest::Subscribe {
                channels: vec!["a".into()],
                options: SubscribeOptions::default(),
            }
        );
        assert_eq!(
            m.id,
            Some(RequestId {
                key: "id",
                value: json!(7)
            })
        );
        let m = parse_client_message(
            r#"{"type":"subscribe","channels":["b","a"],"rooms":["a"],"correlation_id":"x"}"#,
        )
        .unwrap();
        assert_eq!(
            m.request,
            ClientRequest::Subscribe {
                channels: vec!["a".into(), "b".into()],
                options: SubscribeOptions::default(),
            }
        );
        assert_eq!(m.id.unwrap().key, "correlation_id");
    }

    #[test]
    fn error_codes() {
        assert_eq!(code_of("{"), ErrorCode::InvalidJson);
        assert_eq!(code_of("[1]"), ErrorCode::InvalidJson);
        assert_eq!(code_of(r#"{"id":1}"#), ErrorCode::MissingType);
        assert_eq!(code_of(r#"{"type":"nope"}"#), ErrorCode::UnknownType);
        assert_eq!(code_of(r#"{"type":5}"#), ErrorCode::InvalidField);
        assert_eq!(code_of(r#"{"type":"subscribe"}"#), ErrorCode::InvalidField);
        assert_eq!(
            code_of(r#"{"type":"subscribe","channels":"a"}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code_of(r#"{"type":"subscribe","channel":"a b"}"#),
            ErrorCode::InvalidChannel
        );
        assert_eq!(
            code_of(r#"{"type":"ping","id":{}}"#),
            ErrorCode::InvalidField
        );
        let e = parse_client_message(r#"{"type":"subscribe","channel":"!","id":"q"}"#).unwrap_err();
        assert_eq!(e.id.unwrap().value, json!("q"));
        assert_eq!(e.kind.as_deref(), Some("subscribe"));
    }

    #[test]
    fn subscribe_options_forms() {
        let m = parse_client_message(
            r#"{"type":"subscribe","channel":"a","recover":{"offset":5,"epoch":"e"},"snapshot":true,"filter":{"user_id":1}}"#,
        )
        .unwrap();
        let ClientRequest::Subscribe { options, .. } = m.request else {
            panic!()
        };
        assert_eq!(
            options.recover["a"],
            StreamPosition {
                offset: 5,
                epoch: Some("e".into())
            }
        );
        assert!(options.snapshot);
        assert_eq!(options.filter.unwrap()["user_id"], json!(1));
        let m = parse_client_message(
            r#"{"type":"subscribe","channels":["a","b"],"recover":{"a":{"offset":1,"epoch":"x"}}}"#,
        )
        .unwrap();
        let ClientRequest::Subscribe { options, .. } = m.request else {
            panic!()
        };
        assert_eq!(options.recover.len(), 1);
        let m = parse_client_message(r#"{"type":"subscribe","channel":"a","since":3}"#).unwrap();
        let ClientRequest::Subscribe { options, .. } = m.request else {
            panic!()
        };
        assert_eq!(
            options.recover["a"],
            StreamPosition {
                offset: 3,
                epoch: None
            }
        );
        assert_eq!(
            code_of(r#"{"type":"subscribe","channels":["a","b"],"recover":{"offset":1}}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code_of(r#"{"type":"subscribe","channel":"a","recover":{"c":{"offset":1}}}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code_of(r#"{"type":"subscribe","channel":"a","since":-1}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(code_of(r#"{"type":"history"}"#), ErrorCode::InvalidField);
    }

    /// The subscribe forms: plain, recovering one channel with a filter,
    /// several channels with and without epochs, snapshot.
    fn subscribe_requests() -> Vec<ClientRequest> {
        let mut recover = std::collections::BTreeMap::new();
        recover.insert(
            "a".to_string(),
            StreamPosition {
                offset: 41,
                epoch: Some("e1".into()),
            },
        );
        let mut filter = Map::new();
        filter.insert("user_id".into(), json!(123));
        filter.insert("type".into(), json!("node_created"));
        let mut several = recover.clone();
        several.insert(
            "b".to_string(),
            StreamPosition {
                offset: 7,
                epoch: None,
            },
        );
        vec![
            ClientRequest::Subscribe {
                channels: vec!["a".into()],
                options: SubscribeOptions::default(),
            },
            ClientRequest::Subscribe {
                channels: vec!["a".into()],
                options: SubscribeOptions {
                    recover,
                    snapshot: false,
                    filter: Some(filter),
                },
            },
            ClientRequest::Subscribe {
                channels: vec!["a".into(), "b".into(), "c".into()],
                options: SubscribeOptions {
                    recover: several,
                    snapshot: true,
                    filter: None,
                },
            },
            ClientRequest::Subscribe {
                channels: vec!["z".into()],
                options: SubscribeOptions {
                    snapshot: true,
                    ..SubscribeOptions::default()
                },
            },
        ]
    }

    /// Every request form, encoded and parsed back by the server's parser.
    fn every_request() -> Vec<ClientMessage> {
        let requests = vec![
            ClientRequest::Init {
                protocol_version: Some("1.0".into()),
            },
            ClientRequest::Init {
                protocol_version: None,
            },
            ClientRequest::Auth(AuthRequest::token("t.k.n")),
            ClientRequest::Auth(AuthRequest::api_key("key-one")),
            ClientRequest::Auth(AuthRequest::signed_api_key("key-one", 1_795_297_680_000)),
            ClientRequest::Auth(AuthRequest::signed_key_id("mobile", "s", 1_795_297_680_000)),
            ClientRequest::Refresh {
                token: "new".into(),
            },
            ClientRequest::Unsubscribe {
                channels: vec!["a".into()],
            },
            ClientRequest::Unsubscribe {
                channels: vec!["a".into(), "b".into()],
            },
            ClientRequest::Publish {
                channel: "chat:1".into(),
                event: Some("message_posted".into()),
                data: json!({"text": "hi", "n": [1, null]}),
            },
            ClientRequest::Publish {
                channel: "chat:1".into(),
                event: None,
                data: Value::Null,
            },
            ClientRequest::History {
                channel: "chat:1".into(),
                since: Some(40),
                limit: Some(2),
            },
            ClientRequest::History {
                channel: "chat:1".into(),
                since: None,
                limit: None,
            },
            ClientRequest::Ping,
            ClientRequest::Pong,
            ClientRequest::Close,
        ];
        let ids = [
            None,
            Some(RequestId::id(7)),
            Some(RequestId::correlation("c-1")),
        ];
        requests
            .into_iter()
            .chain(subscribe_requests())
            .enumerate()
            .map(|(i, r)| ClientMessage {
                id: ids[i % ids.len()].clone(),
                request: r,
            })
            .collect()
    }

    #[test]
    fn encoded_requests_parse_back() {
        for m in every_request() {
            let text = m.to_json();
            let kind = m.request.kind();
            assert!(
                text.starts_with(&format!("{{\"type\":\"{kind}\"")),
                "type first: {text}"
            );
            assert_eq!(parse_client_message(&text).as_ref(), Ok(&m), "{text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v, m.to_value());
        }
    }

    #[test]
    fn encodings_match_the_protocol_examples() {
        // docs/protocol.md §2.4.
        let signed = ClientMessage::new(ClientRequest::Auth(AuthRequest::signed_api_key(
            "key-one",
            1_795_297_680_000,
        )))
        .with_id(RequestId::id(1));
        assert_eq!(
            signed.to_value(),
            json!({"type":"auth","api_key":"key-one","timestamp":1795297680000u64,"signature":"bca72becc473fa0bc0ccd006ebbcb9697288851038510c47ed8acbdd11e8587a","id":1})
        );
        // §4: since is recover without epoch.
        let since = parse_client_message(r#"{"type":"subscribe","channel":"c","since":41}"#)
            .unwrap()
            .to_value();
        assert_eq!(
            since,
            json!({"type":"subscribe","channel":"c","recover":{"offset":41}})
        );
        let pong = ClientMessage::new(ClientRequest::Pong).to_json();
        assert_eq!(pong, r#"{"type":"pong"}"#);
    }

    const AGENT_TYPES: [&str; 3] = ["user_message", "agent_request", "agent_cancel"];

    /// Every client example of docs/protocol.md (§2.4, §4) survives
    /// parse → encode → parse.
    #[test]
    fn protocol_examples_re_encode() {
        let doc = include_str!("../../../docs/protocol.md");
        let start = doc.find("### 2.4 The `auth` message").unwrap();
        let end = doc.find("## 5. Server").unwrap();
        let mut n = 0;
        for line in doc[start..end]
            .lines()
            .filter(|l| l.starts_with("{\"type\""))
        {
            // Agent messages are read by the agents extension, not here.
            if AGENT_TYPES
                .iter()
                .any(|t| line.contains(&format!("\"type\":\"{t}\"")))
            {
                continue;
            }
            let m = parse_client_message(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(parse_client_message(&m.to_json()), Ok(m), "{line}");
            n += 1;
        }
        assert!(n >= 20, "only {n} examples found");
    }

    #[test]
    fn agent_messages_reach_the_agents_handler() {
        let messages = [
            AgentMessage::UserMessage {
                content: "What is a fractal?".into(),
                thread_id: Some("t1".into()),
                correlation_id: "c1".into(),
            },
            AgentMessage::UserMessage {
                content: "hi".into(),
                thread_id: None,
                correlation_id: "c2".into(),
            },
            AgentMessage::AgentRequest {
                agent: "calc".into(),
                input: json!({"expr": "1+1"}),
                correlation_id: "c3".into(),
            },
            AgentMessage::AgentCancel {
                correlation_id: "c3".into(),
            },
        ];
        for m in messages {
            let text = m.to_json();
            let env = parse_envelope(&text).unwrap();
            assert_eq!(env.kind, m.kind());
            assert_eq!(env.id, Some(RequestId::correlation(m.correlation_id())));
            let mut back = env.fields.clone();
            back.insert("type".into(), json!(m.kind()));
            back.insert("correlation_id".into(), json!(m.correlation_id()));
            assert_eq!(Value::Object(back), m.to_value());
            // The channel protocol's parser leaves them to their handler.
            assert_eq!(code_of(&text), ErrorCode::UnknownType);
        }
        let v = AgentMessage::UserMessage {
            content: "x".into(),
            thread_id: None,
            correlation_id: "c".into(),
        }
        .to_value();
        assert_eq!(
            v,
            json!({"type":"user_message","content":"x","correlation_id":"c"})
        );
    }

    #[test]
    fn event_types() {
        assert!(validate_event_type("node_created").is_ok());
        assert!(validate_event_type("error").is_err());
        assert!(validate_event_type("a b").is_err());
        assert!(validate_event_type("").is_err());
    }
}
