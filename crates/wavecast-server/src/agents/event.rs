//! One agent event: its type (one of five) and its `data`, and how one
//! upstream event's JSON text is read: `{"type":"partial_result",
//! "data":{…}}`, or `{"type":"error","error":"…"}` for a refusal after
//! the stream began.
//!
//! Invariant: anything else — not JSON, not an object, no or an unknown
//! `type` — is a protocol error with a message that names the problem but
//! never quotes the upstream's text.

use serde_json::{Map, Value};

/// The type of an agent event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Started,
    Thinking,
    Partial,
    Tool,
    /// The last event of a conversation.
    Completed,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Started,
        EventKind::Thinking,
        EventKind::Partial,
        EventKind::Tool,
        EventKind::Completed,
    ];

    /// The wire spelling (the frame's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "agent_started",
            EventKind::Thinking => "agent_thinking",
            EventKind::Partial => "partial_result",
            EventKind::Tool => "tool_executing",
            EventKind::Completed => "agent_completed",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    pub kind: EventKind,
    /// The agent's payload (`{}` when the upstream sent none).
    pub data: Value,
}

impl AgentEvent {
    pub fn new(kind: EventKind, data: Value) -> AgentEvent {
        AgentEvent { kind, data }
    }

    /// The `agent_completed` that answers a cancel.
    pub fn cancelled() -> AgentEvent {
        let mut data = Map::new();
        data.insert("cancelled".into(), Value::Bool(true));
        AgentEvent::new(EventKind::Completed, Value::Object(data))
    }
}

/// What one upstream event says.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(AgentEvent),
    /// The upstream refuses after all, with this message.
    Error(String),
}

/// Reads one upstream event. `name` is the SSE `event:` field, which
/// supplies the type when the JSON has none.
pub fn interpret(text: &[u8], name: Option<&str>) -> Result<Item, String> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| format!("is not valid JSON ({e})"))?;
    let Value::Object(mut obj) = value else {
        return Err("is not a JSON object".into());
    };
    let kind = match obj.remove("type") {
        Some(Value::String(t)) => t,
        Some(_) => return Err("has a \"type\" that is not a string".into()),
        None => match name {
            Some(n) if n != "message" => n.to_string(),
            _ => return Err("has no \"type\"".into()),
        },
    };
    if kind == "error" {
        let message = ["error", "message", "detail"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str))
            .unwrap_or("the agent refused the request");
        return Ok(Item::Error(message.to_string()));
    }
    let Some(kind) = EventKind::parse(&kind) else {
        let shown: String = kind.chars().take(40).collect();
        return Err(format!(
            "has the unknown type {shown:?} (agent_started, agent_thinking, partial_result, tool_executing, agent_completed or error)"
        ));
    };
    let data = match obj.remove("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v,
    };
    Ok(Item::Event(AgentEvent { kind, data }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: EventKind, data: Value) -> Result<Item, String> {
        Ok(Item::Event(AgentEvent::new(kind, data)))
    }

    #[test]
    fn events_errors_and_defaults() {
        assert_eq!(
            interpret(br#"{"type":"partial_result","data":{"text":"He"}}"#, None),
            event(EventKind::Partial, json!({"text":"He"}))
        );
        assert_eq!(
            interpret(br#"{"type":"agent_started"}"#, None),
            event(EventKind::Started, json!({}))
        );
        assert_eq!(
            interpret(br#"{"data":{"tool":"x"}}"#, Some("tool_executing")),
            event(EventKind::Tool, json!({"tool":"x"}))
        );
        assert_eq!(
            interpret(br#"{"type":"error","error":"quota exceeded"}"#, None),
            Ok(Item::Error("quota exceeded".into()))
        );
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn malformed_events_are_explained() {
        assert!(interpret(b"{not json", None)
            .unwrap_err()
            .starts_with("is not valid JSON"));
        assert_eq!(
            interpret(b"[1,2]", None).unwrap_err(),
            "is not a JSON object"
        );
        assert_eq!(
            interpret(br#"{"data":{}}"#, Some("message")).unwrap_err(),
            "has no \"type\""
        );
        assert!(interpret(br#"{"type":"agent_dancing"}"#, None)
            .unwrap_err()
            .starts_with("has the unknown type \"agent_dancing\""));
    }
}
