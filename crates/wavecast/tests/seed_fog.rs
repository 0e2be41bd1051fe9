//! FOG Compute (seed 002) against the real binary with `examples/fog.toml`,
//! written from the document's own examples: `?token=` before accept, room
//! subscriptions, `node_status_update` and `alert` with `room` and
//! `priority`, the heartbeat both ways, and the HTTP management routes.

mod common;

use common::*;
use serde_json::{json, Value};

/// The example's JWT secret (examples/fog.toml).
const SECRET: &str = "fog-example-secret-replace-me";

/// The document's "Node Status Update" data.
fn node_status() -> Value {
    json!({
        "betanet": {"active_nodes": 5, "connections": 10, "avg_latency_ms": 25.5, "packets_processed": 1000},
        "p2p": {"connected_peers": 8, "messages_sent": 500, "messages_received": 480}
    })
}

/// The document's "Alert" message, as FOG's AlertPublisher broadcasts it
/// to the `alerts` room.
fn alert() -> Value {
    json!({
        "type": "alert",
        "room": "alerts",
        "data": {"type": "threshold_exceeded", "metric": "cpu_usage", "value": 95.0, "threshold": 90.0, "severity": "critical"},
        "priority": "critical",
        "timestamp": "2025-10-22T10:30:00Z"
    })
}

/// The next `kind` message with this `data` (the server's own
/// publishers may send theirs in the same rooms).
async fn published(c: &mut wavecast_testkit::WsClient, kind: &str, data: &Value) -> Value {
    for _ in 0..50 {
        let m = next_of(c, kind).await;
        if &m["data"] == data {
            return m;
        }
    }
    panic!("no {kind} with {data}")
}

fn post(port: u16, path: &str, body: &Value) -> Value {
    let (status, text) = http(port, "POST", path, &body.to_string());
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).expect("json")
}

fn get(port: u16, path: &str) -> Value {
    serde_json::from_str(&http_get(port, path)).expect("json")
}

#[tokio::test]
async fn fog_client_flow() {
    // A short heartbeat so that the server's `ping` shows up in the test.
    let srv = start_example("fog", &[("WAVECAST_HEARTBEAT_INTERVAL", "300ms")]);
    let port = srv.port;

    // "Token validated before accepting connection".
    let (status, _) = refused_upgrade(port, "/api/ws/connect", &[]);
    assert_eq!(status, 401);
    let (status, _) = refused_upgrade(port, "/api/ws/connect?token=not-a-jwt", &[]);
    assert_eq!(status, 401);

    // WS /api/ws/connect?token=<jwt>
    let token = hs256(SECRET, "operator");
    let mut c = ws(port, &format!("/api/ws/connect?token={token}")).await;
    let hello = next_of(&mut c, "connection_established").await;
    assert!(hello["connection_id"].is_string(), "{hello}");
    assert!(
        hello["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{hello}"
    );

    // client.subscribe(['nodes', 'metrics', 'alerts'])
    c.send(json!({"type": "subscribe", "rooms": ["nodes", "metrics", "alerts"]}))
        .await;
    next_of(&mut c, "subscribe_success").await;

    // Node status update: type, room, data, timestamp.
    let sent = post(
        port,
        "/api/publish",
        &json!({"channel": "nodes", "type": "node_status_update", "data": node_status()}),
    );
    assert_eq!(sent["delivered"], 1, "{sent}");
    let m = published(&mut c, "node_status_update", &node_status()).await;
    assert_eq!(m["room"], "nodes", "{m}");
    assert!(m["timestamp"].is_string());

    // Alert with its top-level priority.
    post(
        port,
        "/api/publish",
        &json!({"channel": "alerts", "data": alert()}),
    );
    let a = published(&mut c, "alert", &alert()["data"]).await;
    assert_eq!(a["room"], "alerts", "{a}");
    assert_eq!(a["priority"], "critical", "{a}");
    assert_eq!(a["timestamp"], "2025-10-22T10:30:00Z");

    // The server pings ("30s ping"); the FOG client answers with pong,
    // and the server does not answer that pong.
    let ping = next_of(&mut c, "ping").await;
    assert_eq!(ping.as_object().map(|o| o.contains_key("type")), Some(true));
    c.send(json!({"type": "pong"})).await;

    // The client's ping gets {"type":"pong","timestamp":…}.
    c.send(json!({"type": "ping"})).await;
    let pong = next_of(&mut c, "pong").await;
    assert!(pong["timestamp"].is_string(), "{pong}");

    // "Unknown message types logged and ignored"; invalid JSON does not
    // end the connection.
    c.send(json!({"type": "no_such_type"})).await;
    c.send_text("{not json").await;
    c.send(json!({"type": "ping"})).await;
    loop {
        let v = c.recv().await;
        match v["type"].as_str() {
            Some("pong") => break,
            // Only the invalid JSON gets an error, not the unknown type.
            Some("error") => assert_eq!(v["code"], "invalid_json", "{v}"),
            _ => {}
        }
    }

    // client.unsubscribe(['nodes']): nothing more from that room.
    c.send(json!({"type": "unsubscribe", "rooms": ["nodes"]}))
        .await;
    next_of(&mut c, "unsubscribe_success").await;
    let sent = post(
        port,
        "/api/publish",
        &json!({"channel": "nodes", "type": "node_status_update", "data": node_status()}),
    );
    assert_eq!(sent["delivered"], 0, "{sent}");

    management_routes(port);
}

/// GET /api/ws/streams, GET /api/ws/stats, POST /api/ws/subscribe and
/// /api/ws/unsubscribe (info) while the client above is connected.
fn management_routes(port: u16) {
    let stats = get(port, "/api/ws/stats");
    for key in [
        "total_connections",
        "active_connections",
        "total_messages",
        "rooms_created",
        "rooms",
        "publishers_active",
    ] {
        assert!(stats.get(key).is_some(), "{key} missing: {stats}");
    }
    assert_eq!(stats["active_connections"], 1);
    assert_eq!(stats["rooms"]["alerts"], 1, "{stats}");
    assert_eq!(stats["rooms"]["metrics"], 1, "{stats}");
    // At least the two rooms with a subscriber (the monitoring
    // publishers, when they run, create theirs too).
    assert!(
        stats["rooms_created"].as_u64().is_some_and(|n| n >= 2),
        "{stats}"
    );
    assert!(stats["publishers_active"].is_u64(), "{stats}");

    let streams = get(port, "/api/ws/streams");
    assert!(streams["available"].is_array(), "{streams}");

    let sub = post(port, "/api/ws/subscribe", &json!({"rooms": ["nodes"]}));
    assert_eq!(sub["rooms"], json!(["nodes"]), "{sub}");
    let unsub = post(port, "/api/ws/unsubscribe", &json!({"rooms": ["nodes"]}));
    assert_eq!(unsub["rooms"], json!(["nodes"]), "{unsub}");
}
