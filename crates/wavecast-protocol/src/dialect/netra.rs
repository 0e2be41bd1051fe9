//! The Netra dialect (seed 004): every message is `{type, payload,
//! timestamp, correlation_id}` with the timestamp in Unix seconds, and an
//! error nests `{code, error, timestamp, recoverable, help}` under
//! `payload`.
//!
//! Inbound, the payload's fields become the envelope's fields, and a
//! `correlation_id` is taken from the top level or from the payload.

use serde_json::{Map, Value};

use crate::time::now_millis;
use crate::to_server::RequestId;
use crate::Publication;

/// Moves the payload's fields to the top level (inbound).
pub fn flatten(mut obj: Map<String, Value>) -> Map<String, Value> {
    obj.remove("timestamp");
    if let Some(Value::Object(payload)) = obj.remove("payload") {
        for (k, v) in payload {
            obj.entry(k).or_insert(v);
        }
    }
    obj
}

fn unix_seconds() -> Value {
    Value::from(now_millis() / 1000)
}

/// A control frame in Netra's envelope.
pub fn control(kind: &str, mut fields: Map<String, Value>, id: Option<&RequestId>) -> Value {
    let correlation = id.map(|i| i.value.clone());
    if kind == "error" {
        // The error body keeps its own timestamp, in Unix seconds.
        fields.insert("timestamp".into(), unix_seconds());
    } else {
        fields.remove("timestamp");
    }
    let mut out = Map::new();
    out.insert("type".into(), Value::from(kind));
    out.insert("payload".into(), Value::Object(fields));
    out.insert("timestamp".into(), unix_seconds());
    if let Some(c) = correlation {
        out.insert("correlation_id".into(), c);
    }
    Value::Object(out)
}

/// A publication in Netra's envelope: `{type, payload: {channel, data,
/// offset?}, timestamp}`.
pub fn publication(p: &Publication) -> Value {
    let data: Value = serde_json::from_slice(&p.data).unwrap_or(Value::Null);
    let mut payload = Map::new();
    payload.insert("channel".into(), Value::from(p.channel.as_str()));
    payload.insert("data".into(), data);
    if let Some(o) = p.offset() {
        payload.insert("offset".into(), Value::from(o));
    }
    let mut out = Map::new();
    out.insert("type".into(), Value::from(p.event.as_str()));
    out.insert("payload".into(), Value::Object(payload));
    out.insert("timestamp".into(), Value::from(p.ts_ms / 1000));
    Value::Object(out)
}
