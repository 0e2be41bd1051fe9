//! The agent messages a client sends — `user_message` {content,
//! thread_id?}, `agent_request` {agent, input}, `agent_cancel` — read
//! from their envelopes.
//!
//! Invariants: every message needs a `correlation_id` (a string of at
//! most [`MAX_CORRELATION_ID`] bytes, or a number), and replies carry it
//! under that key; a bad message is a [`ParseError`] with
//! `invalid_field`, never a panic.

use serde_json::{Map, Value};
use wavecast_protocol::to_server::{Envelope, ParseError, RequestId};
use wavecast_protocol::ErrorCode;

/// The message types of the agent relay.
pub const AGENT_TYPES: [&str; 3] = ["user_message", "agent_request", "agent_cancel"];

/// The longest string `correlation_id`, in bytes.
pub const MAX_CORRELATION_ID: usize = 128;

/// The longest `agent` name and `thread_id`, in bytes.
pub const MAX_NAME: usize = 256;

/// What the user asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// `user_message`.
    Message {
        content: String,
        thread_id: Option<String>,
    },
    /// `agent_request`.
    Request { agent: String, input: Value },
}

impl Ask {
    /// The message type it came as.
    pub fn kind(&self) -> &'static str {
        match self {
            Ask::Message { .. } => "user_message",
            Ask::Request { .. } => "agent_request",
        }
    }

    /// Its fields as the client sent them (for the upstream and the
    /// user's channel).
    pub fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            Ask::Message { content, thread_id } => {
                m.insert("content".into(), Value::from(content.as_str()));
                if let Some(t) = thread_id {
                    m.insert("thread_id".into(), Value::from(t.as_str()));
                }
            }
            Ask::Request { agent, input } => {
                m.insert("agent".into(), Value::from(agent.as_str()));
                m.insert("input".into(), input.clone());
            }
        }
        m
    }
}

/// A request to start a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCall {
    pub ask: Ask,
    /// The `correlation_id`, echoed in every frame of the conversation.
    pub id: RequestId,
}

/// A parsed agent message.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentMessage {
    Call(AgentCall),
    Cancel(RequestId),
}

/// The key of a conversation among a connection's: the id's JSON text
/// (so `"1"` and `1` differ).
pub fn key_of(id: &RequestId) -> String {
    id.value.to_string()
}

/// The id as people read it (a string without its quotes), for logs.
pub fn shown(id: &RequestId) -> String {
    match &id.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads an agent message (`env.kind` is one of [`AGENT_TYPES`]).
pub fn parse(env: Envelope) -> Result<AgentMessage, ParseError> {
    let Envelope {
        kind,
        id,
        mut fields,
    } = env;
    let fail = |id: Option<RequestId>, message: String| ParseError {
        code: ErrorCode::InvalidField,
        message,
        id,
        kind: Some(kind.clone()),
    };
    let id = correlation_id(id, &mut fields).map_err(|(id, m)| fail(id, m))?;
    let read = match kind.as_str() {
        "user_message" => message(&mut fields),
        "agent_request" => request(&mut fields),
        _ => return Ok(AgentMessage::Cancel(id)),
    };
    match read {
        Ok(ask) => Ok(AgentMessage::Call(AgentCall { ask, id })),
        Err(m) => Err(fail(Some(id), m)),
    }
}

/// The `correlation_id`: the envelope's id when it came under that key,
/// else the field (when the frame also had an `id`).
fn correlation_id(
    id: Option<RequestId>,
    fields: &mut Map<String, Value>,
) -> Result<RequestId, (Option<RequestId>, String)> {
    let value = match id {
        Some(id) if id.key == "correlation_id" => id.value,
        other => match fields.remove("correlation_id") {
            Some(v @ (Value::String(_) | Value::Number(_))) => v,
            Some(Value::Null) | None => {
                return Err((other, "\"correlation_id\" is required".into()))
            }
            Some(_) => {
                return Err((
                    other,
                    "\"correlation_id\" must be a string or a number".into(),
                ))
            }
        },
    };
    let too_long = value.as_str().is_some_and(|s| s.len() > MAX_CORRELATION_ID);
    let id = RequestId {
        key: "correlation_id",
        value,
    };
    if too_long {
        return Err((
            Some(id),
            format!("\"correlation_id\" must be at most {MAX_CORRELATION_ID} bytes"),
        ));
    }
    Ok(id)
}

fn message(fields: &mut Map<String, Value>) -> Result<Ask, String> {
    let content = match fields.remove("content") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) => return Err("\"content\" must not be empty".into()),
        None | Some(Value::Null) => return Err("\"content\" is required".into()),
        Some(_) => return Err("\"content\" must be a string".into()),
    };
    let thread_id = optional_name(fields, "thread_id")?;
    Ok(Ask::Message { content, thread_id })
}

fn request(fields: &mut Map<String, Value>) -> Result<Ask, String> {
    let agent = optional_name(fields, "agent")?.ok_or("\"agent\" is required")?;
    if agent.is_empty() {
        return Err("\"agent\" must not be empty".into());
    }
    let input = fields.remove("input").unwrap_or(Value::Null);
    Ok(Ask::Request { agent, input })
}

fn optional_name(fields: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_NAME => Ok(Some(s)),
        Some(Value::String(_)) => Err(format!("\"{key}\" must be at most {MAX_NAME} bytes")),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wavecast_protocol::to_server::parse_envelope;

    fn read(v: Value) -> Result<AgentMessage, ParseError> {
        parse(parse_envelope(&v.to_string()).unwrap())
    }

    #[test]
    fn user_message_and_agent_request() {
        let m = read(
            json!({"type":"user_message","content":"hi","thread_id":"t1","correlation_id":"c1"}),
        );
        let Ok(AgentMessage::Call(call)) = m else {
            panic!("{m:?}")
        };
        assert_eq!(call.id.key, "correlation_id");
        assert_eq!(call.id.value, json!("c1"));
        assert_eq!(
            call.ask.fields(),
            json!({"content":"hi","thread_id":"t1"})
                .as_object()
                .unwrap()
                .clone()
        );
        let m =
            read(json!({"type":"agent_request","agent":"calc","input":{"x":1},"correlation_id":7}));
        let Ok(AgentMessage::Call(call)) = m else {
            panic!("{m:?}")
        };
        assert_eq!(call.ask.kind(), "agent_request");
        assert_eq!(key_of(&call.id), "7");
        assert_eq!(
            read(json!({"type":"agent_cancel","correlation_id":"c1"})),
            Ok(AgentMessage::Cancel(RequestId {
                key: "correlation_id",
                value: json!("c1")
            }))
        );
    }

    #[test]
    fn an_id_and_a_correlation_id_both_work() {
        let m = read(json!({"type":"user_message","content":"hi","id":3,"correlation_id":"c9"}));
        let Ok(AgentMessage::Call(call)) = m else {
            panic!("{m:?}")
        };
        assert_eq!(call.id.value, json!("c9"));
    }

    #[test]
    fn bad_messages_name_the_field() {
        let err = |v: Value| read(v).unwrap_err();
        let e = err(json!({"type":"user_message","content":"hi"}));
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::InvalidField, "\"correlation_id\" is required")
        );
        let e = err(json!({"type":"user_message","correlation_id":"c"}));
        assert_eq!(e.message, "\"content\" is required");
        assert_eq!(e.id.map(|i| i.value), Some(json!("c")));
        let e = err(json!({"type":"user_message","content":3,"correlation_id":"c"}));
        assert_eq!(e.message, "\"content\" must be a string");
        let e = err(json!({"type":"agent_request","input":{},"correlation_id":"c"}));
        assert_eq!(e.message, "\"agent\" is required");
        let long = "x".repeat(MAX_CORRELATION_ID + 1);
        let e = err(json!({"type":"agent_cancel","correlation_id":long}));
        assert_eq!(e.message, "\"correlation_id\" must be at most 128 bytes");
        let e =
            err(json!({"type":"user_message","content":"hi","thread_id":1,"correlation_id":"c"}));
        assert_eq!(e.message, "\"thread_id\" must be a string");
    }
}
