//! The agent relay over real sockets, against a real local upstream HTTP
//! server started by each test: NDJSON and SSE answers, event order,
//! cancel, both time limits, a 503 then a retry, a refused connection,
//! 4xx, malformed events, the per-user limit, fan-out to a user's other
//! tabs, the demo agent, metrics and the audit record.

use wavecast_testkit as common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{TestServer, WsClient, WAIT};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------
// A scripted upstream: a plain HTTP/1.1 server on 127.0.0.1.

/// One step of an upstream's answer.
#[derive(Clone, Debug)]
enum Act {
    /// The status line and `content-type`; the body runs to the close.
    Head(u16, &'static str),
    /// Body bytes, written and flushed.
    Body(String),
    Pause(Duration),
    /// Wait (bounded) until wavecast closes the connection, and report it.
    Hang,
}

type Script = dyn Fn(usize, &Value) -> Vec<Act> + Send + Sync;

/// A local upstream that answers request `n` with `script(n, body)`.
struct Upstream {
    url: String,
    /// Every request body received, in order.
    requests: Arc<Mutex<Vec<Value>>>,
    /// One message per `Hang` that saw wavecast close the connection.
    aborted: mpsc::UnboundedReceiver<usize>,
}

impl Upstream {
    async fn start(script: impl Fn(usize, &Value) -> Vec<Act> + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (tx, aborted) = mpsc::unbounded_channel();
        let script: Arc<Script> = Arc::new(script);
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, seen.clone(), script.clone(), tx.clone()));
            }
        });
        Upstream {
            url: format!("http://{addr}/agent"),
            requests,
            aborted,
        }
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits until a hanging answer saw its connection closed.
    async fn wait_aborted(&mut self) -> usize {
        tokio::time::timeout(WAIT, self.aborted.recv())
            .await
            .expect("the upstream connection was not closed")
            .expect("upstream gone")
    }
}

/// Reads one request: its head, then `content-length` bytes of body.
async fn read_request(sock: &mut TcpStream) -> Option<Value> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    serde_json::from_slice(&buf[head_end..head_end + length]).ok()
}

async fn serve(
    mut sock: TcpStream,
    seen: Arc<Mutex<Vec<Value>>>,
    script: Arc<Script>,
    aborted: mpsc::UnboundedSender<usize>,
) {
    let Ok(Some(body)) = tokio::time::timeout(WAIT, read_request(&mut sock)).await else {
        return;
    };
    let n = {
        let mut s = seen.lock().expect("lock");
        s.push(body.clone());
        s.len() - 1
    };
    for act in script(n, &body) {
        let written = match act {
            Act::Head(status, content_type) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n"
                );
                sock.write_all(head.as_bytes()).await
            }
            Act::Body(text) => sock.write_all(text.as_bytes()).await,
            Act::Pause(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Act::Hang => {
                let mut b = [0u8; 64];
                if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(WAIT, sock.read(&mut b)).await {
                    let _ = aborted.send(n);
                }
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}

/// One NDJSON line.
fn line(kind: &str, data: Value) -> String {
    format!("{}\n", json!({"type": kind, "data": data}))
}

/// A complete NDJSON conversation answering `text`.
fn ndjson_answer(text: &str) -> Vec<Act> {
    let (a, b) = text.split_at(text.len() / 2);
    vec![
        Act::Head(200, "application/x-ndjson"),
        Act::Body(line("agent_started", json!({"agent": "test"}))),
        Act::Body(line("agent_thinking", json!({"text": "hmm"}))),
        Act::Body(line("tool_executing", json!({"tool": "search"}))),
        Act::Body(line("partial_result", json!({"text": a}))),
        Act::Body(line("partial_result", json!({"text": b}))),
        Act::Body(line("agent_completed", json!({"text": text}))),
    ]
}

// ---------------------------------------------------------------------
// Client side.

fn agents_config(url: &str, extra: &str) -> String {
    format!("[agents]\nupstream_url = \"{url}\"\nretry_backoff = \"10ms\"\n{extra}")
}

/// Sends `msg` and reads the conversation's frames up to its last one
/// (`agent_completed` or `error`), skipping frames of other kinds.
async fn converse(c: &mut WsClient, msg: Value) -> Vec<Value> {
    let cid = msg["correlation_id"].clone();
    c.send(msg).await;
    finish(c, &cid).await
}

/// Reads the conversation `cid` up to its last frame.
async fn finish(c: &mut WsClient, cid: &Value) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let v = c.recv().await;
        if v["correlation_id"] != *cid {
            continue;
        }
        let last = v["type"] == "agent_completed" || v["type"] == "error";
        frames.push(v);
        if last {
            return frames;
        }
    }
}

fn types(frames: &[Value]) -> Vec<&str> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or(""))
        .collect()
}

/// The connection is still usable.
async fn still_open(c: &mut WsClient) {
    let r = c.call(json!({"type": "ping", "id": "alive"})).await;
    assert_eq!(r["type"], "pong", "{r}");
}

fn ask(cid: &str, content: &str) -> Value {
    json!({"type": "user_message", "content": content, "thread_id": "t1", "correlation_id": cid})
}

/// Asserts the frames are one whole conversation in order.
fn assert_in_order(frames: &[Value], cid: &str) {
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f["correlation_id"], cid, "{f}");
        assert_eq!(f["seq"], i as u64 + 1, "{f}");
        assert!(f["timestamp"].is_string(), "{f}");
    }
}

// ---------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn ndjson_events_reach_the_client_in_order() {
    let up =
        Upstream::start(|_, body| ndjson_answer(body["content"].as_str().unwrap_or("")).to_vec())
            .await;
    let srv = TestServer::start(&agents_config(&up.url, "")).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("c1", "hello world")).await;
    assert_eq!(
        types(&frames),
        [
            "agent_started",
            "agent_thinking",
            "tool_executing",
            "partial_result",
            "partial_result",
            "agent_completed"
        ]
    );
    assert_in_order(&frames, "c1");
    let text: String = frames[3..5]
        .iter()
        .map(|f| f["data"]["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(text, "hello world");
    assert_eq!(frames[5]["data"]["text"], "hello world");
    let [req] = &up.requests()[..] else {
        panic!("{:?}", up.requests())
    };
    assert_eq!(req["type"], "user_message");
    assert_eq!(
        (&req["content"], &req["thread_id"], &req["correlation_id"]),
        (&json!("hello world"), &json!("t1"), &json!("c1"))
    );
    assert_eq!(req["connection_id"], c.connection_id.as_str());
    assert_eq!(
        (&req["user_id"], &req["claims"]),
        (&Value::Null, &json!({}))
    );
    still_open(&mut c).await;
}

#[tokio::test]
async fn sse_events_reach_the_client_in_order() {
    let up = Upstream::start(|_, body| {
        let input = body["input"].to_string();
        vec![
            Act::Head(200, "text/event-stream; charset=utf-8"),
            Act::Body(": warming up\n\n".into()),
            Act::Body("event: agent_started\ndata: {\"data\":{\"agent\":\"calc\"}}\n\n".into()),
            Act::Body(
                "data: {\"type\":\"partial_result\",\r\ndata: \"data\":{\"text\":\"2\"}}\r\n\r\n"
                    .into(),
            ),
            Act::Body(format!(
                "id: 3\ndata: {}\n\n",
                json!({"type":"agent_completed","data":{"text":"2","input":input}})
            )),
        ]
    })
    .await;
    let srv = TestServer::start(&agents_config(&up.url, "")).await;
    let mut c = srv.client().await;
    let frames = converse(
        &mut c,
        json!({"type":"agent_request","agent":"calc","input":{"expr":"1+1"},"correlation_id":42}),
    )
    .await;
    assert_eq!(
        types(&frames),
        ["agent_started", "partial_result", "agent_completed"]
    );
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(
            (&f["correlation_id"], &f["seq"]),
            (&json!(42), &json!(i + 1))
        );
    }
    assert_eq!(frames[0]["data"]["agent"], "calc");
    assert_eq!(frames[2]["data"]["input"], r#"{"expr":"1+1"}"#);
    let req = &up.requests()[0];
    assert_eq!(
        (&req["type"], &req["agent"], &req["input"]),
        (
            &json!("agent_request"),
            &json!("calc"),
            &json!({"expr":"1+1"})
        )
    );
}

#[tokio::test]
async fn cancel_aborts_the_upstream_and_completes_cancelled() {
    let mut up = Upstream::start(|_, _| {
        vec![
            Act::Head(200, "application/x-ndjson"),
            Act::Body(line("agent_started", json!({}))),
            Act::Hang,
        ]
    })
    .await;
    let srv = TestServer::start(&agents_config(&up.url, "")).await;
    let mut c = srv.client().await;
    c.send(ask("c1", "long")).await;
    let first = c.recv().await;
    assert_eq!(
        (&first["type"], &first["seq"]),
        (&json!("agent_started"), &json!(1))
    );
    c.send(json!({"type":"agent_cancel","correlation_id":"c1"}))
        .await;
    let frames = finish(&mut c, &json!("c1")).await;
    assert_eq!(types(&frames), ["agent_completed"]);
    assert_eq!(frames[0]["data"], json!({"cancelled": true}));
    assert_eq!(frames[0]["seq"], 2);
    assert_eq!(
        up.wait_aborted().await,
        0,
        "the upstream request was dropped"
    );
    // A cancel for a conversation that has ended is ignored.
    c.send(json!({"type":"agent_cancel","correlation_id":"c1"}))
        .await;
    still_open(&mut c).await;
    srv.wait_metric("wavecast_agent_requests_total{outcome=\"cancelled\"}", 1.0)
        .await;
}

#[tokio::test]
async fn a_closed_connection_drops_its_upstream_requests() {
    let mut up = Upstream::start(|_, _| {
        vec![
            Act::Head(200, "application/x-ndjson"),
            Act::Body(line("agent_started", json!({}))),
            Act::Hang,
        ]
    })
    .await;
    let srv = TestServer::start(&agents_config(&up.url, "")).await;
    let mut c = srv.client().await;
    for cid in ["c1", "c2"] {
        c.send(ask(cid, "long")).await;
        assert_eq!(c.recv().await["type"], "agent_started");
    }
    // The same correlation_id cannot name two running conversations.
    let dup = c.call(ask("c1", "again")).await;
    assert_eq!(
        (&dup["code"], &dup["correlation_id"]),
        (&json!("invalid_field"), &json!("c1")),
        "{dup}"
    );
    drop(c);
    let mut dropped = [up.wait_aborted().await, up.wait_aborted().await];
    dropped.sort();
    assert_eq!(dropped, [0, 1]);
    srv.wait_metric(
        "wavecast_agent_requests_total{outcome=\"disconnected\"}",
        2.0,
    )
    .await;
}

#[tokio::test]
async fn a_silent_agent_hits_the_idle_timeout() {
    let mut up = Upstream::start(|_, _| {
        vec![
            Act::Head(200, "application/x-ndjson"),
            Act::Body(line("agent_started", json!({}))),
            Act::Hang,
        ]
    })
    .await;
    let cfg = agents_config(&up.url, "idle_timeout = \"300ms\"\ntimeout = \"1m\"");
    let srv = TestServer::start(&cfg).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("c1", "hi")).await;
    assert_eq!(types(&frames), ["agent_started", "error"]);
    let e = &frames[1];
    assert_eq!(
        (&e["code"], &e["recoverable"]),
        (&json!("agent_timeout"), &json!(true))
    );
    assert!(
        e["error"]
            .as_str()
            .unwrap_or("")
            .contains("agents.idle_timeout"),
        "{e}"
    );
    up.wait_aborted().await;
    still_open(&mut c).await;
}

#[tokio::test]
async fn a_chatty_agent_hits_the_total_timeout() {
    let up = Upstream::start(|_, _| {
        let mut acts = vec![Act::Head(200, "application/x-ndjson")];
        for i in 0..200 {
            acts.push(Act::Body(line("partial_result", json!({"text": i}))));
            acts.push(Act::Pause(Duration::from_millis(50)));
        }
        acts
    })
    .await;
    let cfg = agents_config(&up.url, "idle_timeout = \"5s\"\ntimeout = \"600ms\"");
    let srv = TestServer::start(&cfg).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("c1", "hi")).await;
    let last = frames.last().expect("frames");
    assert_eq!(last["code"], "agent_timeout", "{last}");
    assert!(
        last["error"]
            .as_str()
            .unwrap_or("")
            .contains("agents.timeout"),
        "{last}"
    );
    let partials = frames.len() - 1;
    assert!(
        (3..=14).contains(&partials),
        "{partials} events in 600 ms at one per 50 ms"
    );
    still_open(&mut c).await;
}

#[tokio::test]
async fn a_503_is_retried_and_then_succeeds() {
    let up = Upstream::start(|n, _| match n {
        0 => vec![Act::Head(503, "text/plain"), Act::Body("busy".into())],
        _ => ndjson_answer("ok"),
    })
    .await;
    let srv = TestServer::start(&agents_config(&up.url, "retries = 2")).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("c1", "hi")).await;
    assert_eq!(frames.last().expect("frames")["type"], "agent_completed");
    assert_in_order(&frames, "c1");
    assert_eq!(up.requests().len(), 2, "one retry");
    assert_eq!(up.requests()[0], up.requests()[1], "the same request again");
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = closed.local_addr().expect("addr");
    drop(closed);
    let url = format!("http://{addr}/agent");
    let srv = TestServer::start(&agents_config(&url, "retries = 2")).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("c1", "hi")).await;
    let [e] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (
            &e["type"],
            &e["code"],
            &e["recoverable"],
            &e["correlation_id"]
        ),
        (
            &json!("error"),
            &json!("agent_unavailable"),
            &json!(true),
            &json!("c1")
        )
    );
    assert!(
        e["error"].as_str().unwrap_or("").contains("3 attempts"),
        "{e}"
    );
    still_open(&mut c).await;
}

#[tokio::test]
async fn a_502_every_time_runs_out_of_retries_then_unavailable() {
    let up = Upstream::start(|_, _| {
        vec![
            Act::Head(502, "text/plain"),
            Act::Body("bad gateway".into()),
        ]
    })
    .await;
    let srv = TestServer::start(&agents_config(&up.url, "retries = 1")).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("c1", "hi")).await;
    let [e] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (&e["code"], &e["recoverable"], &e["correlation_id"]),
        (&json!("agent_unavailable"), &json!(true), &json!("c1"))
    );
    assert!(
        e["error"].as_str().unwrap_or("").contains("2 attempts"),
        "{e}"
    );
    assert_eq!(up.requests().len(), 2, "the request and one retry");
    still_open(&mut c).await;
}

#[tokio::test]
async fn the_server_wide_limit_spans_users() {
    let up = Upstream::start(|_, _| {
        vec![
            Act::Head(200, "application/x-ndjson"),
            Act::Body(line("agent_started", json!({}))),
            Act::Hang,
        ]
    })
    .await;
    let cfg = format!(
        "[auth]\njwt_secret = \"{SECRET}\"\n{}",
        agents_config(&up.url, "max_running = 1")
    );
    let srv = TestServer::start(&cfg).await;
    let mut alice = user_client(&srv, "alice").await;
    let mut bob = user_client(&srv, "bob").await;
    alice.send(ask("a1", "first")).await;
    assert_eq!(alice.recv().await["type"], "agent_started");
    let refused = converse(&mut bob, ask("b1", "second")).await;
    let [e] = &refused[..] else {
        panic!("{refused:?}")
    };
    assert_eq!(
        (&e["code"], &e["recoverable"], &e["correlation_id"]),
        (&json!("too_many_requests"), &json!(true), &json!("b1"))
    );
    assert!(
        e["error"]
            .as_str()
            .unwrap_or("")
            .contains("agents.max_running"),
        "{e}"
    );
    assert_eq!(
        srv.metric("wavecast_limit_rejections_total{limit=\"agents_running\"}")
            .await,
        1.0
    );
    still_open(&mut bob).await;
}

#[tokio::test]
async fn a_4xx_is_rejected_with_the_upstreams_message() {
    let up = Upstream::start(|_, _| {
        vec![
            Act::Head(422, "application/json"),
            Act::Body(r#"{"error":"content is not allowed here"}"#.into()),
        ]
    })
    .await;
    let srv = TestServer::start(&agents_config(&up.url, "retries = 3")).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("c1", "hi")).await;
    let [e] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (&e["code"], &e["error"], &e["recoverable"]),
        (
            &json!("agent_rejected"),
            &json!("content is not allowed here"),
            &json!(false)
        )
    );
    assert_eq!(up.requests().len(), 1, "a 4xx is not retried");
    still_open(&mut c).await;
}

#[tokio::test]
async fn malformed_events_and_early_ends_are_protocol_errors() {
    let up = Upstream::start(|_, body| {
        let mut acts = vec![
            Act::Head(200, "application/x-ndjson"),
            Act::Body(line("agent_started", json!({}))),
        ];
        match body["content"].as_str() {
            Some("bad line") => {
                acts.push(Act::Body("{\"type\": \"partial_result\", oops\n".into()))
            }
            Some("unknown type") => acts.push(Act::Body(line("agent_dancing", json!({})))),
            _ => {} // the body ends without agent_completed
        }
        acts
    })
    .await;
    let srv = TestServer::start(&agents_config(&up.url, "")).await;
    let mut c = srv.client().await;
    for (cid, content, says) in [
        ("a", "bad line", "event 2 is not valid JSON"),
        ("b", "unknown type", "unknown type \"agent_dancing\""),
        ("c", "early end", "ended without agent_completed"),
    ] {
        let frames = converse(&mut c, ask(cid, content)).await;
        assert_eq!(types(&frames), ["agent_started", "error"], "{content}");
        let e = &frames[1];
        assert_eq!(
            (&e["code"], &e["recoverable"]),
            (&json!("agent_protocol_error"), &json!(false))
        );
        assert!(
            e["error"].as_str().unwrap_or("").contains(says),
            "{content}: {e}"
        );
    }
    still_open(&mut c).await;
}

const SECRET: &str = "agents-test-secret";

fn token(sub: &str) -> String {
    let exp = wavecast_protocol::time::now_millis() / 1000 + 3600;
    encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": sub, "exp": exp, "role": "tester", "email": "x@example.com"}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

async fn user_client(srv: &TestServer, sub: &str) -> WsClient {
    let mut c = WsClient::connect(&format!("{}?token={}", srv.ws_url(), token(sub))).await;
    let hello = c.recv().await;
    assert_eq!(hello["user_id"], sub, "{hello}");
    c.connection_id = hello["connection_id"].as_str().unwrap_or("").into();
    c
}

#[tokio::test]
async fn the_per_user_limit_spans_the_users_connections() {
    let mut up = Upstream::start(|_, _| {
        vec![
            Act::Head(200, "application/x-ndjson"),
            Act::Body(line("agent_started", json!({}))),
            Act::Hang,
        ]
    })
    .await;
    let extra = "max_per_user = 1\nforward_claims = [\"role\"]";
    let cfg = format!(
        "[auth]\njwt_secret = \"{SECRET}\"\n{}",
        agents_config(&up.url, extra)
    );
    let srv = TestServer::start(&cfg).await;
    let (mut tab1, mut tab2) = (
        user_client(&srv, "alice").await,
        user_client(&srv, "alice").await,
    );
    let mut bob = user_client(&srv, "bob").await;
    tab1.send(ask("c1", "first")).await;
    assert_eq!(tab1.recv().await["type"], "agent_started");
    let refused = converse(&mut tab2, ask("c2", "second")).await;
    let [e] = &refused[..] else {
        panic!("{refused:?}")
    };
    assert_eq!(
        (&e["code"], &e["recoverable"]),
        (&json!("too_many_requests"), &json!(true))
    );
    assert!(
        e["error"]
            .as_str()
            .unwrap_or("")
            .contains("agents.max_per_user"),
        "{e}"
    );
    // Another user is not limited by alice's conversation.
    bob.send(ask("b1", "bob's")).await;
    assert_eq!(bob.recv().await["type"], "agent_started");
    // Once alice's conversation ends, she may start another at once.
    tab1.send(json!({"type":"agent_cancel","correlation_id":"c1"}))
        .await;
    assert_eq!(
        types(&finish(&mut tab1, &json!("c1")).await),
        ["agent_completed"]
    );
    tab2.send(ask("c3", "third")).await;
    assert_eq!(tab2.recv().await["type"], "agent_started");
    let alice = up
        .requests()
        .into_iter()
        .find(|r| r["content"] == "first")
        .expect("first");
    assert_eq!(
        (&alice["user_id"], &alice["claims"]),
        (&json!("alice"), &json!({"role": "tester"}))
    );
    up.wait_aborted().await;
    assert_eq!(
        srv.metric("wavecast_limit_rejections_total{limit=\"agents_per_user\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_users_other_tabs_see_the_conversation_and_can_recover_it() {
    let up = Upstream::start(|_, _| ndjson_answer("shared answer")).await;
    let extra = "fan_out_to_user = true";
    let cfg = format!(
        "[auth]\njwt_secret = \"{SECRET}\"\n{}",
        agents_config(&up.url, extra)
    );
    let srv = TestServer::start(&cfg).await;
    let mut other = user_client(&srv, "carol").await;
    let r = other
        .call(json!({"type":"subscribe","channel":"user:carol","id":1}))
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    let mut asking = user_client(&srv, "carol").await;
    let frames = converse(&mut asking, ask("c1", "tell everyone")).await;
    let mut seen = Vec::new();
    while seen.len() < frames.len() + 1 {
        let p = other.recv().await;
        assert_eq!(p["channel"], "user:carol", "{p}");
        seen.push(p);
    }
    let kinds: Vec<&str> = types(&seen);
    assert_eq!(kinds[0], "user_message");
    assert_eq!(kinds[1..], types(&frames)[..]);
    assert_eq!(seen[0]["data"]["data"]["content"], "tell everyone");
    for (i, p) in seen.iter().enumerate() {
        assert_eq!(
            (&p["data"]["correlation_id"], &p["data"]["seq"]),
            (&json!("c1"), &json!(i))
        );
        assert_eq!(p["data"]["connection_id"], asking.connection_id.as_str());
    }
    assert_eq!(
        seen.last().expect("seen")["data"]["data"]["text"],
        "shared answer"
    );
    // A tab that reconnects later reads the conversation from history.
    let mut late = user_client(&srv, "carol").await;
    let h = late
        .call(json!({"type":"history","channel":"user:carol","id":2}))
        .await;
    let kept: Vec<&str> = h["publications"]
        .as_array()
        .expect("publications")
        .iter()
        .map(|p| p["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kept, kinds, "{h}");
}

#[tokio::test]
async fn the_demo_agent_works_on_its_own() {
    // The default configuration (env = dev) uses the demo agent.
    let srv = TestServer::start("").await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("d1", "hello, demo")).await;
    let t = types(&frames);
    assert_eq!(
        t[..4],
        [
            "agent_started",
            "agent_thinking",
            "agent_thinking",
            "tool_executing"
        ]
    );
    assert_eq!(t.last(), Some(&"agent_completed"));
    let partials: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "partial_result")
        .collect();
    assert!(partials.len() >= 3, "{t:?}");
    assert_eq!(t.len(), partials.len() + 5);
    assert_in_order(&frames, "d1");
    let text: String = partials
        .iter()
        .map(|f| f["data"]["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(frames.last().expect("last")["data"]["text"], text.as_str());
    assert!(
        text.starts_with("You said \"hello, demo\": 2 words"),
        "{text}"
    );
    // The same request, the same answer.
    let again = converse(&mut c, ask("d2", "hello, demo")).await;
    assert_eq!(
        again.last().expect("last")["data"],
        frames.last().expect("last")["data"]
    );
    let bad = converse(&mut c, json!({"type":"user_message","correlation_id":"d3"})).await;
    assert_eq!(
        (&bad[0]["code"], &bad[0]["error"]),
        (&json!("invalid_field"), &json!("\"content\" is required"))
    );
    assert_eq!(
        srv.metric("wavecast_agent_requests_total{outcome=\"completed\"}")
            .await,
        2.0
    );
    assert_eq!(
        srv.metric("wavecast_agent_duration_seconds_count").await,
        2.0
    );
    let partial_events = srv
        .metric("wavecast_agent_events_total{type=\"partial_result\"}")
        .await;
    assert_eq!(partial_events, 2.0 * partials.len() as f64);
}

#[tokio::test]
async fn agents_off_means_unknown_type() {
    let srv = TestServer::start("[agents]\nupstream_url = \"\"").await;
    let mut c = srv.client().await;
    let r = c.call(ask("x", "anyone?")).await;
    assert_eq!(
        (&r["type"], &r["code"]),
        (&json!("error"), &json!("unknown_type")),
        "{r}"
    );
    assert!(
        r["error"].as_str().unwrap_or("").contains("upstream_url"),
        "{r}"
    );
    assert_eq!(r["correlation_id"], "x");
}

// ---------------------------------------------------------------------
// The audit record, read from the log (a process-wide subscriber).

static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log() -> Arc<Mutex<Vec<u8>>> {
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

/// The audit record of conversation `cid`, once written (bounded wait).
async fn audit_record(cid: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = String::from_utf8_lossy(&log().lock().expect("lock")).into_owned();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| {
                v["fields"]["event"] == "agent_conversation" && v["fields"]["correlation_id"] == cid
            });
        if let Some(v) = found {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audit record for {cid}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_audit_record_per_conversation_without_its_content() {
    let _ = log();
    let up = Upstream::start(|_, _| ndjson_answer("the plugh answer")).await;
    let srv = TestServer::start(&agents_config(&up.url, "")).await;
    let mut c = srv.client().await;
    converse(&mut c, ask("audit-1", "my plugh question")).await;
    let v = audit_record("audit-1").await;
    let f = &v["fields"];
    assert_eq!(v["target"], "wavecast::audit");
    assert_eq!(
        (&f["outcome"], &f["events"], &f["attempts"], &f["kind"]),
        (
            &json!("completed"),
            &json!(6),
            &json!(1),
            &json!("user_message")
        )
    );
    assert_eq!(f["connection_id"], c.connection_id.as_str());
    assert!(f["duration_seconds"].as_f64().is_some(), "{v}");
    let text = String::from_utf8_lossy(&log().lock().expect("lock")).into_owned();
    assert!(
        !text.contains("plugh"),
        "the log holds a conversation's content"
    );
}

// ---------------------------------------------------------------------
// The example upstream of docs/agents.md, run as it is written.

/// The first ```python block of docs/agents.md.
fn documented_upstream() -> String {
    let doc = include_str!("../../../docs/agents.md");
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let end = doc[start..].find("\n```").expect("its end") + start;
    doc[start..end].to_string()
}

/// Kills the child when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_documented_python_upstream_works() {
    let code = documented_upstream();
    assert!(code.lines().count() <= 22, "the example grew:\n{code}");
    let dir = common::temp_dir("agents-doc");
    let file = dir.join("echo_agent.py");
    std::fs::write(&file, code).expect("write");
    let port = common::free_port();
    let spawned = std::process::Command::new("python3")
        .arg(&file)
        .arg(port.to_string())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = spawned else {
        eprintln!("python3 is not available: skipped");
        return;
    };
    let _child = Child(child);
    let deadline = tokio::time::Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the example never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("http://127.0.0.1:{port}/");
    let srv = TestServer::start(&agents_config(&url, "")).await;
    let mut c = srv.client().await;
    let frames = converse(&mut c, ask("py1", "fractals are self similar")).await;
    let t = types(&frames);
    assert_eq!(t[..2], ["agent_started", "agent_thinking"], "{frames:?}");
    assert_eq!(t.last(), Some(&"agent_completed"), "{frames:?}");
    assert_in_order(&frames, "py1");
    let words: String = frames
        .iter()
        .filter(|f| f["type"] == "partial_result")
        .map(|f| f["data"]["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(words, "fractals are self similar ");
    assert_eq!(frames[0]["data"]["user"], Value::Null);
    let _ = std::fs::remove_dir_all(dir);
}
