//! The call to the upstream agent: the request (the contract in
//! docs/agents.md), the POST with its retries, the answer's status
//! mapped to a [`Failure`], and the body read as a stream of events.
//!
//! Invariants: only a refused connection and HTTP 502/503 are retried,
//! at most `agents.retries` times, with doubling, jittered delays; the
//! answer's head must come within `agents.idle_timeout` of each attempt;
//! a refusal's message is read from at most [`MAX_REFUSAL_BYTES`] of its
//! body and cleaned of control characters; dropping an [`HttpStream`]
//! closes its connection, which aborts the upstream's work.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

use super::failure::Failure;
use super::framing::{Decoder, Framing, Payload};
use super::request::AgentCall;
use crate::config::{format_duration, AgentsConfig};

/// An HTTP client for upstream agents.
pub type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

/// The most of a refusal's body read for its message.
pub const MAX_REFUSAL_BYTES: usize = 8 * 1024;

/// The longest upstream message passed on, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// The longest delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

const ACCEPTED: &str = "application/x-ndjson, text/event-stream";

pub fn client() -> UpstreamClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Who asks: sent to the upstream with the message.
#[derive(Debug, Clone)]
pub struct Who {
    pub user_id: Option<String>,
    /// The token claims named in `agents.forward_claims`.
    pub claims: Map<String, Value>,
    pub connection_id: String,
}

/// The claims of `claims` (a token's claims object) named in `names`.
pub fn allowed_claims(claims: &Value, names: &[String]) -> Map<String, Value> {
    let Value::Object(all) = claims else {
        return Map::new();
    };
    names
        .iter()
        .filter_map(|n| all.get(n).map(|v| (n.clone(), v.clone())))
        .collect()
}

/// The JSON body of the upstream request.
pub fn body(call: &AgentCall, who: &Who) -> Bytes {
    let mut m = Map::new();
    m.insert("type".into(), Value::from(call.ask.kind()));
    m.insert("correlation_id".into(), call.id.value.clone());
    m.insert(
        "user_id".into(),
        who.user_id.clone().map_or(Value::Null, Value::from),
    );
    m.insert("claims".into(), Value::Object(who.claims.clone()));
    m.insert(
        "connection_id".into(),
        Value::from(who.connection_id.as_str()),
    );
    m.extend(call.ask.fields());
    Bytes::from(Value::Object(m).to_string())
}

/// An answer being read, event by event.
pub struct HttpStream {
    body: Incoming,
    decoder: Decoder,
    ended: bool,
}

impl HttpStream {
    /// The next event's payload; `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Payload>, Failure> {
        loop {
            if let Some(p) = self.decoder.next_payload().map_err(Failure::Protocol)? {
                return Ok(Some(p));
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                None => {
                    self.ended = true;
                    return self.decoder.finish().map_err(Failure::Protocol);
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.decoder.push(&data);
                    }
                }
                Some(Err(_)) => {
                    return Err(Failure::Unavailable(
                        "the agent's answer broke off before agent_completed".into(),
                    ))
                }
            }
        }
    }
}

/// Why one attempt did not give a stream.
enum Miss {
    /// Worth retrying.
    Again(String),
    Fail(Failure),
}

/// POSTs `body` to the upstream, retrying as configured; counts the
/// attempts made in `attempts`.
pub async fn open(
    cfg: &AgentsConfig,
    client: &UpstreamClient,
    body: Bytes,
    attempts: &mut u32,
) -> Result<HttpStream, Failure> {
    let mut retried = 0;
    loop {
        *attempts += 1;
        match attempt(cfg, client, body.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(Miss::Fail(f)) => return Err(f),
            Err(Miss::Again(why)) if retried >= cfg.retries => {
                return Err(Failure::Unavailable(format!(
                    "{why} ({} attempts); retry later",
                    *attempts
                )))
            }
            Err(Miss::Again(_)) => {
                tokio::time::sleep(backoff(cfg.retry_backoff, retried)).await;
                retried += 1;
            }
        }
    }
}

/// The delay before retry `n` (from 0): `base · 2ⁿ`, capped, times a
/// random factor in [0.5, 1).
fn backoff(base: Duration, n: u32) -> Duration {
    let full = base.saturating_mul(1u32 << n.min(16)).min(MAX_BACKOFF);
    full.mul_f64(0.5 + fastrand::f64() / 2.0)
}

async fn attempt(
    cfg: &AgentsConfig,
    client: &UpstreamClient,
    body: Bytes,
) -> Result<HttpStream, Miss> {
    let request = hyper::Request::post(&cfg.upstream_url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, ACCEPTED)
        .header(USER_AGENT, concat!("wavecast/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(body))
        .map_err(|_| {
            Miss::Fail(Failure::Unavailable(
                "agents.upstream_url is not usable".into(),
            ))
        })?;
    let answer = tokio::time::timeout(cfg.idle_timeout, client.request(request)).await;
    let response = match answer {
        Err(_) => {
            return Err(Miss::Fail(Failure::Timeout(format!(
                "the agent did not answer within {} (agents.idle_timeout)",
                format_duration(cfg.idle_timeout)
            ))))
        }
        Ok(Err(e)) if e.is_connect() => {
            return Err(Miss::Again("the agent refused the connection".into()))
        }
        Ok(Err(_)) => {
            return Err(Miss::Fail(Failure::Unavailable(
                "the agent closed the connection without an answer; retry later".into(),
            )))
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    match status {
        200..=299 => return stream_of(response, cfg.max_event_bytes),
        502 | 503 => return Err(Miss::Again(format!("the agent answered HTTP {status}"))),
        _ => {}
    }
    let wait = cfg.idle_timeout;
    let failure = match status {
        429 => Failure::TooMany(
            refusal(
                response,
                "the agent is busy (HTTP 429); retry later".into(),
                wait,
            )
            .await,
        ),
        400..=499 => Failure::Rejected(
            refusal(
                response,
                format!("the agent refused the request (HTTP {status})"),
                wait,
            )
            .await,
        ),
        500..=599 => Failure::Unavailable(format!("the agent failed (HTTP {status}); retry later")),
        _ => Failure::Protocol(format!(
            "the agent answered HTTP {status}; expected 200 with an event stream"
        )),
    };
    Err(Miss::Fail(failure))
}

fn stream_of(response: hyper::Response<Incoming>, max_event: usize) -> Result<HttpStream, Miss> {
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(framing) = Framing::of_content_type(content_type) else {
        let shown: String = content_type.chars().take(60).collect();
        return Err(Miss::Fail(Failure::Protocol(format!(
            "the agent answered with content type {shown:?}; use application/x-ndjson or text/event-stream"
        ))));
    };
    Ok(HttpStream {
        body: response.into_body(),
        decoder: Decoder::new(framing, max_event),
        ended: false,
    })
}

/// The upstream's message in a refusal's body: the `error`, `message` or
/// `detail` of a JSON object, a JSON string, or the text; `fallback` when
/// there is none (or it does not come within `wait`).
async fn refusal(response: hyper::Response<Incoming>, fallback: String, wait: Duration) -> String {
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    let read = async {
        while bytes.len() < MAX_REFUSAL_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data);
                    }
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(wait, read).await;
    bytes.truncate(MAX_REFUSAL_BYTES);
    let text = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => ["error", "message", "detail"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_str).map(String::from))
            .unwrap_or_default(),
        Ok(Value::String(s)) => s,
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let text = clean(&text);
    if text.is_empty() {
        fallback
    } else {
        text
    }
}

/// `text` on one line (control characters become spaces), trimmed and
/// cut to `MAX_MESSAGE_CHARS`.
pub fn clean(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    one_line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wavecast_protocol::to_server::RequestId;

    use crate::agents::request::Ask;

    #[test]
    fn the_request_body_carries_message_user_claims_and_id() {
        let call = AgentCall {
            ask: Ask::Message {
                content: "hi".into(),
                thread_id: Some("t1".into()),
            },
            id: RequestId {
                key: "correlation_id",
                value: json!("c1"),
            },
        };
        let claims = json!({"sub":"u1","role":"admin","email":"a@b"});
        let who = Who {
            user_id: Some("u1".into()),
            claims: allowed_claims(&claims, &["role".into(), "absent".into()]),
            connection_id: "k".into(),
        };
        let v: Value = serde_json::from_slice(&body(&call, &who)).unwrap();
        assert_eq!(
            v,
            json!({"type":"user_message","correlation_id":"c1","user_id":"u1",
                   "claims":{"role":"admin"},"connection_id":"k","content":"hi","thread_id":"t1"})
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let base = Duration::from_millis(100);
        for n in 0..4 {
            let d = backoff(base, n);
            let full = base * (1 << n);
            assert!(d >= full / 2 && d < full, "{n}: {d:?}");
        }
        assert!(backoff(base, 30) <= MAX_BACKOFF);
    }

    #[test]
    fn messages_are_cleaned() {
        assert_eq!(clean("  bad\ninput\u{7}  "), "bad input");
        assert_eq!(clean(&"x".repeat(1000)).len(), MAX_MESSAGE_CHARS);
    }
}
