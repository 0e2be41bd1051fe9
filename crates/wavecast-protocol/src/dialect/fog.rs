//! The FOG Compute dialect (seed 002). Deliveries name their channel
//! `room`. A back end (or the monitoring publishers) may publish an
//! envelope — data of the form `{type, data, timestamp?, priority?, …}` —
//! which is delivered as that envelope, so a FOG client sees exactly the
//! seed's `{"type":"alert","room":"alerts","data":{…},"priority":…}`.
//! Anything else is delivered as `{type, room, channel, data, offset?,
//! timestamp}`.

use serde_json::{Map, Value};

use crate::time::format_millis;
use crate::Publication;

/// Whether `data` is an envelope to deliver as it is.
fn is_envelope(data: &Map<String, Value>) -> bool {
    data.contains_key("data") && data.get("type").is_some_and(Value::is_string)
}

/// A publication in FOG's shape.
pub fn publication(p: &Publication) -> Value {
    let data: Value = serde_json::from_slice(&p.data).unwrap_or(Value::Null);
    let mut out = match data {
        Value::Object(m) if is_envelope(&m) => m,
        other => {
            let mut m = Map::new();
            m.insert("type".into(), Value::from(p.event.as_str()));
            m.insert("data".into(), other);
            m
        }
    };
    out.insert("room".into(), Value::from(p.channel.as_str()));
    out.insert("channel".into(), Value::from(p.channel.as_str()));
    out.entry("timestamp")
        .or_insert_with(|| Value::from(format_millis(p.ts_ms)));
    if let Some(o) = p.offset() {
        out.insert("offset".into(), Value::from(o));
    }
    Value::Object(out)
}
