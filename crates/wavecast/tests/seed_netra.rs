//! Netra (seed 004) against the real binary with `examples/netra.toml`,
//! written from the document's own examples: JWT before the upgrade,
//! `/ws/config`, the `{type, payload, timestamp, correlation_id}`
//! envelope, the error format, per-user eviction, 60 messages a minute,
//! origins per environment and Netra's environment variables.

mod common;

use common::*;
use serde_json::{json, Value};
use wavecast_testkit::Event;

/// The example's JWT secret (examples/netra.toml).
const SECRET: &str = "netra-example-secret-replace-me";

/// Netra's error format: `{"type":"error","payload":{code, error,
/// timestamp, recoverable, help}}`, timestamps in Unix seconds.
fn assert_error_format(e: &Value) {
    assert_eq!(e["type"], "error", "{e}");
    let p = &e["payload"];
    assert!(p["code"].is_string(), "{e}");
    assert!(p["error"].is_string(), "{e}");
    assert!(p["timestamp"].is_u64(), "{e}");
    assert!(p["recoverable"].is_boolean(), "{e}");
    assert!(p["help"].is_string(), "{e}");
}

fn assert_envelope(m: &Value) {
    assert!(m["type"].is_string(), "{m}");
    assert!(m["payload"].is_object(), "{m}");
    assert!(m["timestamp"].is_u64(), "{m}");
}

async fn connect(port: u16, user: &str) -> wavecast_testkit::WsClient {
    let mut c = ws(port, &format!("/ws?token={}", hs256(SECRET, user))).await;
    let hello = c.recv().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    assert_envelope(&hello);
    c
}

#[test]
fn service_discovery() {
    let srv = start_example("netra", &[]);
    let v: Value = serde_json::from_str(&http_get(srv.port, "/ws/config")).expect("json");
    let c = &v["websocket_config"];
    assert_eq!(c["version"], "1.0");
    for f in [
        "json_first",
        "auth_required",
        "heartbeat_supported",
        "reconnection_supported",
    ] {
        assert_eq!(c["features"][f], true, "{f}: {c}");
    }
    assert_eq!(c["endpoints"]["websocket"], "/ws");
    let limits = &c["connection_limits"];
    assert_eq!(limits["max_connections_per_user"], 5);
    assert_eq!(limits["max_message_rate"], 60);
    assert_eq!(limits["heartbeat_interval"], 30000);
}

#[test]
fn netra_environment_variables() {
    let srv = start_example(
        "netra",
        &[
            ("WEBSOCKET_MAX_CONNECTIONS_PER_USER", "3"),
            ("WEBSOCKET_MAX_MESSAGE_RATE", "120"),
            ("WEBSOCKET_HEARTBEAT_INTERVAL", "20000"),
            ("WEBSOCKET_REQUIRE_AUTH", "true"),
            ("WEBSOCKET_ENABLE_CORS", "true"),
            ("ENVIRONMENT", "staging"),
        ],
    );
    // "Staging: Staging + development origins".
    let path = format!("/ws?token={}", hs256(SECRET, "sam"));
    for (origin, status) in [
        ("https://app.example.com", 101),
        ("http://localhost:3000", 101),
        ("https://evil.example.net", 403),
    ] {
        let (got, _) = refused_upgrade(srv.port, &path, &[&format!("Origin: {origin}")]);
        assert_eq!(got, status, "{origin}");
    }
    let v: Value = serde_json::from_str(&http_get(srv.port, "/ws/config")).expect("json");
    let limits = &v["websocket_config"]["connection_limits"];
    assert_eq!(limits["max_connections_per_user"], 3);
    assert_eq!(limits["max_message_rate"], 120);
    assert_eq!(limits["heartbeat_interval"], 20000);
    assert_eq!(v["websocket_config"]["features"]["auth_required"], true);
}

#[tokio::test]
async fn token_before_upgrade_and_origins() {
    let srv = start_example("netra", &[]);
    let port = srv.port;
    // "Connection fails without token" / "with invalid token": refused
    // before the upgrade, in Netra's error format.
    for path in ["/ws", "/ws?token=invalid"] {
        let (status, body) = refused_upgrade(port, path, &[]);
        assert_eq!(status, 401, "{path}");
        assert_error_format(&body);
    }
    // "Development: localhost origins allowed"; malicious origins refused.
    let token = hs256(SECRET, "olga");
    let path = format!("/ws?token={token}");
    let (status, _) = refused_upgrade(port, &path, &["Origin: https://evil.example.net"]);
    assert_eq!(status, 403);
    let mut c = wavecast_testkit::WsClient::try_connect(
        &format!("ws://127.0.0.1:{port}{path}"),
        &[("origin", "http://localhost:3000")],
    )
    .await
    .expect("localhost origin");
    assert_eq!(c.recv().await["type"], "connection_established");
}

#[tokio::test]
async fn envelope_errors_and_agent_messages() {
    let srv = start_example("netra", &[]);
    let mut c = connect(srv.port, "alice").await;

    // ping / pong in the envelope, correlation_id echoed.
    c.send(
        json!({"type": "ping", "payload": {}, "timestamp": 1640995200, "correlation_id": "c-1"}),
    )
    .await;
    let pong = c.recv().await;
    assert_eq!(pong["type"], "pong", "{pong}");
    assert_envelope(&pong);
    assert_eq!(pong["correlation_id"], "c-1");

    // Malformed messages get the error format; the connection survives.
    c.send_text("{this is not json").await;
    let e = c.recv().await;
    assert_error_format(&e);
    c.send(json!({"payload": {"content": "no type"}})).await;
    assert_error_format(&c.recv().await);
    c.send(json!({"type": "no_such_type", "payload": {}})).await;
    assert_error_format(&c.recv().await);

    // A user message: agent events in the envelope, with the correlation id.
    c.send(
        json!({"type": "user_message", "payload": {"content": "hello", "correlation_id": "k-7"}}),
    )
    .await;
    let mut kinds = Vec::new();
    loop {
        let m = c.recv().await;
        assert_envelope(&m);
        assert_eq!(m["correlation_id"], "k-7", "{m}");
        kinds.push(m["type"].as_str().unwrap_or("").to_string());
        if m["type"] == "agent_completed" {
            break;
        }
        assert!(kinds.len() < 100, "no agent_completed: {kinds:?}");
    }
    assert_eq!(kinds[0], "agent_started");
}

#[tokio::test]
async fn per_user_limit_removes_the_oldest() {
    let srv = start_example("netra", &[]);
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(connect(srv.port, "bob").await);
    }
    // The sixth of "bob" (default limit 5) removes the oldest.
    let _sixth = connect(srv.port, "bob").await;
    match conns[0].next_event().await {
        Event::Close(Some(code), _) => assert_eq!(code, 4011),
        other => panic!("the oldest connection was not removed: {other:?}"),
    }
    // The others stay.
    conns[1]
        .send(json!({"type": "ping", "payload": {}, "correlation_id": "x"}))
        .await;
    assert_eq!(conns[1].recv().await["type"], "pong");
}

/// Sends `n` pings at once: how many got a `pong`. Every other answer must
/// be Netra's `rate_limited` error naming `limit_text`.
async fn pongs_for_pings(c: &mut wavecast_testkit::WsClient, n: usize, limit_text: &str) -> usize {
    for i in 0..n {
        c.send(json!({"type": "ping", "payload": {}, "correlation_id": i.to_string()}))
            .await;
    }
    let (mut pongs, mut limited) = (0, 0);
    for _ in 0..n {
        let m = c.recv().await;
        match m["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => {
                assert_error_format(&m);
                assert_eq!(m["payload"]["code"], "rate_limited", "{m}");
                assert!(
                    m["payload"]["error"]
                        .as_str()
                        .is_some_and(|t| t.contains(limit_text)),
                    "{m}"
                );
                limited += 1;
            }
            _ => panic!("unexpected {m}"),
        }
    }
    assert_eq!(pongs + limited, n);
    pongs
}

#[tokio::test]
async fn sixty_messages_a_minute() {
    let srv = start_example("netra", &[]);
    let mut c = connect(srv.port, "carol").await;
    let pongs = pongs_for_pings(&mut c, 70, "60 messages per minute").await;
    // 60 at once (one more if a second passed while sending), the rest
    // refused.
    assert!((60..=61).contains(&pongs), "{pongs} pongs");
}

#[tokio::test]
async fn a_rate_that_is_not_a_whole_number_per_second_stays_exact() {
    // 90 a minute is 1.5 a second: reported and enforced as 90, not 120.
    let srv = start_example("netra", &[("WEBSOCKET_MAX_MESSAGE_RATE", "90")]);
    let v: Value = serde_json::from_str(&http_get(srv.port, "/ws/config")).expect("json");
    assert_eq!(
        v["websocket_config"]["connection_limits"]["max_message_rate"],
        90
    );
    let v: Value =
        serde_json::from_str(&http_get(srv.port, "/ws/config?dialect=wavecast")).expect("json");
    assert_eq!(
        v["websocket_config"]["connection_limits"]["max_message_rate"],
        1.5
    );
    let mut c = connect(srv.port, "dora").await;
    let pongs = pongs_for_pings(&mut c, 100, "90 messages per minute").await;
    // 90 at once (one or two more if a second passed while sending).
    assert!((90..=92).contains(&pongs), "{pongs} pongs");
}

#[test]
fn the_server_wide_token_at_upgrade_rule_covers_native_endpoints() {
    // auth.require_token_at_upgrade: every endpoint's default, here the
    // native /ws, which would otherwise wait for an `auth` message.
    let srv = start(&[
        ("WAVECAST_AUTH__REQUIRE_AUTH", "true"),
        ("WAVECAST_JWT_SECRET", SECRET),
        ("WAVECAST_AUTH__REQUIRE_TOKEN_AT_UPGRADE", "true"),
    ]);
    let (status, body) = refused_upgrade(srv.port, "/ws", &[]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "auth_required", "{body}");
}

#[test]
fn refusals_before_the_upgrade_use_netras_error_format() {
    // An origin refused (403) before any credential is looked at: still
    // Netra's {type: "error", payload: {code, error, ...}}.
    let srv = start_example("netra", &[]);
    let path = format!("/ws?token={}", hs256(SECRET, "olga"));
    let (status, body) = refused_upgrade(srv.port, &path, &["Origin: https://evil.example.net"]);
    assert_eq!(status, 403);
    assert_error_format(&body);
    assert_eq!(body["payload"]["code"], "origin_not_allowed", "{body}");
}
