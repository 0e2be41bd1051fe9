//! NeuroGraph (ADR-003, seed 003) against the real binary with
//! `examples/neurograph.toml`, written from the ADR's own examples:
//! channels `tokens`, `grid`, `cdna` with typed events, ping/pong, its
//! Prometheus names, and a per-client buffer of 100 that drops the oldest.

mod common;

use common::*;
use serde_json::{json, Value};
use tokio::net::TcpSocket;
use tokio_websockets::ClientBuilder;
use wavecast_testkit::WsClient;

fn publish_event(port: u16, channel: &str, kind: &str, data: &Value) -> Value {
    let body = json!({"channel": channel, "type": kind, "data": data});
    let (status, text) = http(port, "POST", "/api/publish", &body.to_string());
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn channels_typed_events_and_metrics() {
    let srv = start_example("neurograph", &[]);
    let port = srv.port;
    let mut c = ws(port, "/ws").await;
    assert_eq!(c.recv().await["type"], "connection_established");
    for channel in ["tokens", "grid", "cdna"] {
        // {"type": "subscribe", "channel": "tokens"}
        let r = c
            .call(json!({"type": "subscribe", "channel": channel}))
            .await;
        assert_eq!(r["type"], "subscribe_success", "{r}");
    }

    // The ADR's event notification.
    let data =
        json!({"token_id": 123, "position": [1.0, 2.0, 3.0], "timestamp": "2026-01-09T10:30:00Z"});
    publish_event(port, "tokens", "token_created", &data);
    let e = c.recv().await;
    assert_eq!(
        (&e["type"], &e["channel"], &e["data"]),
        (&json!("token_created"), &json!("tokens"), &data)
    );
    // Grid and CDNA events arrive typed on their channels.
    for (channel, kind) in [("grid", "grid_updated"), ("cdna", "cdna_updated")] {
        publish_event(port, channel, kind, &json!({"changed": true}));
        let e = c.recv().await;
        assert_eq!((&e["type"], &e["channel"]), (&json!(kind), &json!(channel)));
    }

    // Heartbeat: {"type":"ping"} → {"type":"pong","timestamp":…}.
    let pong = c.call(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    assert!(pong["timestamp"].is_string());

    // Leave a channel: its events stop.
    let r = c
        .call(json!({"type": "unsubscribe", "channel": "tokens"}))
        .await;
    assert_eq!(r["type"], "unsubscribe_success", "{r}");
    let sent = publish_event(port, "tokens", "token_deleted", &json!({"token_id": 123}));
    assert_eq!(sent["delivered"], 0);

    // Bad input gets the native error shape; the connection stays.
    c.send_text("not json").await;
    let err = c.recv().await;
    assert_eq!(
        (&err["type"], &err["code"]),
        (&json!("error"), &json!("invalid_json"))
    );
    let r = c.call(json!({"type": "subscribe"})).await;
    assert_eq!(r["type"], "subscribe_failed", "{r}");

    // The ADR's metric names and meanings.
    assert_eq!(metric(port, "neurograph_ws_connections_total"), Some(1.0));
    assert_eq!(metric(port, "neurograph_ws_messages_sent_total"), Some(3.0));
    assert_eq!(
        metric(port, "neurograph_ws_message_latency_seconds_count"),
        Some(3.0)
    );
    assert_eq!(
        metric(port, "neurograph_ws_buffer_overflow_total"),
        Some(0.0)
    );
    drop(c);
    wait_metric(port, "neurograph_ws_connections_total", 0.0);
    let text = http_get(port, "/metrics");
    assert!(
        text.lines()
            .any(|l| l.starts_with("neurograph_ws_disconnects_total{")),
        "{text}"
    );
}

/// A client that stops reading: its socket receive buffer is tiny.
async fn stalled_client(port: u16) -> WsClient {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = sock
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect");
    let (ws, _) = ClientBuilder::new()
        .uri(&format!("ws://127.0.0.1:{port}/ws"))
        .expect("uri")
        .connect_on(stream)
        .await
        .expect("handshake");
    let mut c = WsClient::plain(ws);
    assert_eq!(c.recv().await["type"], "connection_established");
    c
}

#[tokio::test]
async fn buffer_of_100_drops_the_oldest() {
    let srv = start_example("neurograph", &[]);
    let port = srv.port;
    let mut c = stalled_client(port).await;
    let r = c
        .call(json!({"type": "subscribe", "channel": "tokens"}))
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    // 400 events of 32 KiB: far more than the socket buffers and a
    // 100-event buffer hold.
    let pad = "x".repeat(32 * 1024);
    let n = 400u64;
    for i in 0..n {
        publish_event(
            port,
            "tokens",
            "token_updated",
            &json!({"i": i, "pad": pad}),
        );
    }
    // Read everything, up to the last event.
    let (mut received, mut dropped, mut last) = (0u64, 0u64, None);
    while last != Some(n - 1) {
        let v = c.recv().await;
        match v["type"].as_str() {
            Some("token_updated") => {
                received += 1;
                last = v["data"]["i"].as_u64();
            }
            Some("dropped") => dropped += v["count"].as_u64().unwrap_or(0),
            _ => panic!("unexpected {}", v["type"]),
        }
    }
    // Drop oldest: the newest event arrived, older ones were dropped and
    // counted under the ADR's name.
    assert!(dropped > 0, "nothing dropped: the reader did not stall");
    assert_eq!(received + dropped, n);
    assert_eq!(
        metric(port, "neurograph_ws_buffer_overflow_total"),
        Some(dropped as f64)
    );
}

#[tokio::test]
async fn subscriptions_leave_audit_records_at_start_and_end() {
    // The monitoring list asks for records when a subscription starts, not
    // only when it ends.
    let srv = start_example("neurograph", &[("WAVECAST_LOG_LEVEL", "info")]);
    let mut c = ws(srv.port, "/ws").await;
    let hello = c.recv().await;
    let id = format!(
        "\"connection_id\":\"{}\"",
        hello["connection_id"].as_str().expect("connection_id")
    );
    let r = c
        .call(json!({"type": "subscribe", "channel": "grid"}))
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    let started = log_line(&srv, &["\"event\":\"subscription_started\"", &id]);
    assert_eq!(started["channel"], "grid", "{started}");
    let r = c
        .call(json!({"type": "unsubscribe", "channel": "grid"}))
        .await;
    assert_eq!(r["type"], "unsubscribe_success", "{r}");
    let ended = log_line(&srv, &["\"event\":\"subscription_ended\"", &id]);
    assert_eq!(ended["channel"], "grid", "{ended}");
    assert!(ended["duration_seconds"].is_number(), "{ended}");
}
