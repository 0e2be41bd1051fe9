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

use serde_json::{Map, Value};

use crate::channel::validate_channel;
use crate::codes::ErrorCode;

/// The most channels one `subscribe`/`unsubscribe` may name.
pub const MAX_CHANNELS_PER_REQUEST: usize = 1000;

/// The request id a client attached, echoed in the reply.
#[derive(Debug, Clone, PartialEq)]
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

    #[test]
    fn event_types() {
        assert!(validate_event_type("node_created").is_ok());
        assert!(validate_event_type("error").is_err());
        assert!(validate_event_type("a b").is_err());
        assert!(validate_event_type("").is_err());
    }
}
