//! Server → client messages: the [`Publication`] model and the native
//! JSON encoding of every server frame.
//!
//! Publications are encoded by hand into one shared [`Bytes`] buffer, once
//! per publication, whatever the number of subscribers; their `data` is the
//! JSON text that was published, copied verbatim and never re-parsed.
//! Control frames are rare and go through serde_json. Every frame starts
//! with its `type`.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::codes::ErrorCode;
use crate::time::{format_millis, now_rfc3339};
use crate::to_server::RequestId;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
