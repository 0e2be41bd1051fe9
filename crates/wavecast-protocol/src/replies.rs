//! Reply bodies that the WebSocket side and the HTTP API share: the
//! `subscribe_success` fields, the feature list, and the history page size.

use serde_json::{Map, Value};

use crate::to_client::fields;

/// The feature list announced in `init` and `/ws/config`.
pub const FEATURES: &[&str] = &[
    "channels",
    "rooms",
    "http_publish",
    "broadcast",
    "personal_messages",
    "heartbeat",
    "backpressure",
    "history",
    "recovery",
    "filters",
];

/// Largest page a `history` request (or `GET /api/history`) returns.
pub const MAX_HISTORY_PAGE: usize = 1000;

/// One channel's position as told in `subscribe_success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedChannel {
    pub channel: String,
    /// Offset and epoch, when the namespace keeps history.
    pub position: Option<(u64, String)>,
    /// Set when the client asked to recover.
    pub recovered: Option<bool>,
}

/// The fields of `subscribe_success`: the channels, and for channels with
/// history their `positions` {offset, epoch, recovered?}; with a single
/// channel these are also given at the top level.
pub fn success_fields(
    channels: &[String],
    joined: &[JoinedChannel],
    server_side: bool,
) -> Map<String, Value> {
    let mut f = fields([("channels", Value::from(channels.to_vec()))]);
    if server_side {
        f.insert("server_side".into(), Value::from(true));
    }
    let mut positions = Map::new();
    for r in joined {
        let mut p = Map::new();
        if let Some((offset, epoch)) = &r.position {
            p.insert("offset".into(), Value::from(*offset));
            p.insert("epoch".into(), Value::from(epoch.as_str()));
        }
        if let Some(rec) = r.recovered {
            p.insert("recovered".into(), Value::from(rec));
        }
        if !p.is_empty() {
            positions.insert(r.channel.clone(), Value::Object(p));
        }
    }
    if let [only] = joined {
        if let Some(Value::Object(p)) = positions.get(&only.channel) {
            for (k, v) in p {
                f.insert(k.clone(), v.clone());
            }
        }
    }
    if !positions.is_empty() {
        f.insert("positions".into(), Value::Object(positions));
    }
    f
}

/// Largest history page, in bytes of publication data (at least one
/// publication is always returned).
pub const MAX_HISTORY_PAGE_BYTES: usize = 1 << 20;

/// The `history` reply as native JSON text: `{"type":"history","channel",
/// "offset"?,"epoch"?,"publications":[…]}` plus the request id. Stored data
/// is embedded as it was stored, never re-parsed.
pub fn history_json(
    channel: &str,
    top: Option<(u64, &str)>,
    pubs: &[crate::Publication],
    id: Option<&crate::to_server::RequestId>,
) -> String {
    let mut head = fields([("channel", Value::from(channel))]);
    if let Some((offset, epoch)) = top {
        head.insert("offset".into(), Value::from(offset));
        head.insert("epoch".into(), Value::from(epoch));
    }
    if let Some(id) = id {
        head.insert(id.key.to_string(), id.value.clone());
    }
    let head = Value::Object(head).to_string();
    let mut out = String::with_capacity(head.len() + 64);
    out.push_str("{\"type\":\"history\",");
    out.push_str(&head[1..head.len() - 1]);
    out.push_str(",\"publications\":");
    out.push_str(&crate::to_client::publications_array(pubs));
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_embeds_stored_data_verbatim() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let p = crate::Publication {
            channel: "c".into(),
            event: "publication".into(),
            data: bytes::Bytes::from(deep.clone()),
            offset: 3,
            ts_ms: 0,
        };
        let id = crate::to_server::RequestId {
            key: "id",
            value: Value::from(9),
        };
        let text = history_json("c", Some((3, "e")), &[p], Some(&id));
        assert!(text.starts_with("{\"type\":\"history\",\"channel\":\"c\""));
        assert!(text.contains(&deep));
        assert!(text.contains("\"id\":9"));
        let empty = history_json("c", None, &[], None);
        let v: Value = serde_json::from_str(&empty).unwrap();
        assert_eq!(v["publications"], serde_json::json!([]));
    }
}
