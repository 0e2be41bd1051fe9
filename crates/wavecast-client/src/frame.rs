//! Parsing of server → client frames into typed [`Frame`]s. A frame is a
//! delivery when its `type` is not a control type and it has a `channel`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, ServerError};
use crate::event::Publication;

/// A channel's position in a `subscribe_success`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PositionInfo {
    pub offset: Option<u64>,
    pub epoch: Option<String>,
    pub recovered: Option<bool>,
}

/// A parsed server frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Publication(Publication),
    Established(Value),
    AuthSuccess(Value),
    AuthFailed {
        id: Option<u64>,
        error: ServerError,
    },
    SubscribeSuccess {
        id: Option<u64>,
        channels: Vec<String>,
        positions: BTreeMap<String, PositionInfo>,
    },
    SubscribeFailed {
        id: Option<u64>,
        error: ServerError,
    },
    UnsubscribeSuccess {
        id: Option<u64>,
        channels: Vec<String>,
    },
    UnsubscribeFailed {
        id: Option<u64>,
        error: ServerError,
    },
    Dropped {
        channel: String,
        count: u64,
    },
    Heartbeat,
    RefreshRequired,
    RefreshSuccess,
    /// The server dropped these subscriptions; resubscribe with recovery.
    RecoveryRequired {
        channels: Vec<String>,
    },
    Error {
        id: Option<u64>,
        error: ServerError,
    },
    /// A frame without channel that is not a control frame: a personal
    /// message.
    Message {
        event: String,
        data: Value,
    },
    /// Any other control frame (`pong`, `publish_success`, `init`…).
    Other(String),
}

/// Control frame types; anything else with a `channel` is a delivery.
const CONTROL: &[&str] = wavecast_protocol::to_server::RESERVED_EVENT_TYPES;

fn request_id(v: &Value) -> Option<u64> {
    v.get("id").and_then(Value::as_u64)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn position_info(v: &Value) -> PositionInfo {
    PositionInfo {
        offset: v.get("offset").and_then(Value::as_u64),
        epoch: v.get("epoch").and_then(Value::as_str).map(String::from),
        recovered: v.get("recovered").and_then(Value::as_bool),
    }
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Frame, Error> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::Protocol(format!("a server frame is not JSON: {e}")))?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Protocol("a server frame has no \"type\"".into()))?
        .to_string();
    let id = request_id(&v);
    Ok(match kind.as_str() {
        "connection_established" => Frame::Established(v),
        "auth_success" => Frame::AuthSuccess(v),
        "auth_failed" => Frame::AuthFailed {
            id,
            error: ServerError::from_json(&v),
        },
        "subscribe_success" => {
            let channels = strings(&v["channels"]);
            let mut positions = BTreeMap::new();
            if let Some(m) = v.get("positions").and_then(Value::as_object) {
                for (c, p) in m {
                    positions.insert(c.clone(), position_info(p));
                }
            }
            // A single channel may carry its position at the top level only.
            if channels.len() == 1 && !positions.contains_key(&channels[0]) {
                let p = position_info(&v);
                if p != PositionInfo::default() {
                    positions.insert(channels[0].clone(), p);
                }
            }
            Frame::SubscribeSuccess {
                id,
                channels,
                positions,
            }
        }
        "subscribe_failed" => Frame::SubscribeFailed {
            id,
            error: ServerError::from_json(&v),
        },
        "unsubscribe_success" => Frame::UnsubscribeSuccess {
            id,
            channels: strings(&v["channels"]),
        },
        "unsubscribe_failed" => Frame::UnsubscribeFailed {
            id,
            error: ServerError::from_json(&v),
        },
        "dropped" => Frame::Dropped {
            channel: v["channel"].as_str().unwrap_or("").to_string(),
            count: v["count"].as_u64().unwrap_or(0),
        },
        "heartbeat" => Frame::Heartbeat,
        "refresh_required" => Frame::RefreshRequired,
        "refresh_success" => Frame::RefreshSuccess,
        "recovery_required" => Frame::RecoveryRequired {
            channels: strings(&v["channels"]),
        },
        "error" => Frame::Error {
            id,
            error: ServerError::from_json(&v),
        },
        k if CONTROL.contains(&k) => Frame::Other(kind),
        _ => {
            let mut v = v;
            let data = v.get_mut("data").map(Value::take).unwrap_or(Value::Null);
            match v.get("channel").and_then(Value::as_str) {
                Some(channel) => Frame::Publication(Publication {
                    channel: channel.to_string(),
                    event: kind,
                    data,
                    offset: v.get("offset").and_then(Value::as_u64),
                    timestamp: v["timestamp"].as_str().unwrap_or("").to_string(),
                }),
                None => Frame::Message { event: kind, data },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_frames() {
        let f = parse(
            r#"{"type":"publication","channel":"a","data":{"x":1},"offset":4,"timestamp":"t"}"#,
        )
        .unwrap();
        let Frame::Publication(p) = f else { panic!() };
        assert_eq!(p.offset, Some(4));
        assert_eq!(p.data["x"], 1);
        let f = parse(r#"{"type":"subscribe_success","channels":["a"],"offset":3,"epoch":"e","recovered":true,"id":7}"#).unwrap();
        let Frame::SubscribeSuccess { id, positions, .. } = f else {
            panic!()
        };
        assert_eq!(id, Some(7));
        assert_eq!(positions["a"].offset, Some(3));
        assert_eq!(positions["a"].recovered, Some(true));
        let f = parse(r#"{"type":"subscribe_success","channels":["a","b"],"positions":{"b":{"offset":1,"epoch":"x"}}}"#).unwrap();
        let Frame::SubscribeSuccess { positions, .. } = f else {
            panic!()
        };
        assert_eq!(positions.len(), 1);
        assert!(matches!(
            parse(r#"{"type":"notice","data":1}"#).unwrap(),
            Frame::Message { .. }
        ));
        assert!(matches!(
            parse(r#"{"type":"recovery_required","channels":["a"],"reason":"x"}"#).unwrap(),
            Frame::RecoveryRequired { .. }
        ));
        assert!(matches!(
            parse(r#"{"type":"history","channel":"a","publications":[]}"#).unwrap(),
            Frame::Other(_)
        ));
        assert!(parse("[1]").is_err());
    }
}
