//! MFN (seeds 000 and 001) against the real binary with
//! `examples/mfn.toml`, written from the documents' own examples: the
//! Python client's HMAC signature, INIT → AUTH → SUBSCRIBE →
//! FEATURE_UPDATE → HEARTBEAT/PONG → UNSUBSCRIBE → CLOSE in the documents'
//! upper-case names, the audit records, the live simulation, and a
//! production start with only MFN's variables.

mod common;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wavecast_testkit::{Event, WsClient};

/// The document's `api_key = "your-secret-key"`.
const API_KEY: &str = "your-secret-key";

/// The Python client's signature: `hmac.new(api_key, str(timestamp),
/// sha256).hexdigest()` with `timestamp = int(time.time() * 1000)`.
fn signed_auth(api_key: &str, timestamp: u64) -> Value {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).expect("hmac key");
    mac.update(timestamp.to_string().as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"type": "AUTH", "api_key": api_key, "timestamp": timestamp, "signature": signature})
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The next frame that is not a HEARTBEAT.
async fn reply(c: &mut WsClient) -> Value {
    loop {
        let v = c.recv().await;
        if v["type"] != "HEARTBEAT" {
            return v;
        }
    }
}

/// Sends `v` and returns the reply (HEARTBEATs skipped).
async fn call(c: &mut WsClient, v: Value) -> Value {
    c.send(v).await;
    reply(c).await
}

fn start_mfn() -> ServerProcess {
    start_example(
        "mfn",
        &[
            ("MFN_API_KEY", API_KEY),
            ("WAVECAST_LOG_LEVEL", "info"),
            // A short heartbeat so that HEARTBEAT shows up in the test.
            ("WAVECAST_HEARTBEAT_INTERVAL", "300ms"),
        ],
    )
}

/// INIT and a signed AUTH on a new connection to `path`.
async fn init_and_auth(port: u16, path: &str) -> (WsClient, String) {
    let mut c = ws(port, path).await;
    c.send(json!({"type": "INIT", "protocol_version": "1.0"}))
        .await;
    let init = reply(&mut c).await;
    assert_eq!(init["type"], "INIT", "{init}");
    assert_eq!(init["protocol_version"], "1.0");
    let ok = call(&mut c, signed_auth(API_KEY, now_ms())).await;
    assert_eq!(ok["type"], "AUTH_SUCCESS", "{ok}");
    let id = ok["connection_id"].as_str().unwrap_or_default().to_string();
    (c, id)
}

#[tokio::test]
async fn python_client_flow() {
    let srv = start_mfn();
    let (mut c, conn_id) = init_and_auth(srv.port, "/ws/stream_features").await;

    // SUBSCRIBE {stream_type, stream_id, params} → SUBSCRIBE_SUCCESS
    c.send(
        json!({"type": "SUBSCRIBE", "stream_type": "stream_features", "stream_id": "features-123",
                  "params": {"grid_size": 32, "update_interval_ms": 50}}),
    )
    .await;
    let ok = reply(&mut c).await;
    assert_eq!(ok["type"], "SUBSCRIBE_SUCCESS", "{ok}");
    assert_eq!(ok["stream_id"], "features-123");

    // FEATURE_UPDATE {features, sequence, ...}, then HEARTBEAT → PONG.
    let update = next_of(&mut c, "FEATURE_UPDATE").await;
    assert_eq!(update["stream_id"], "features-123");
    assert!(update["sequence"].is_u64(), "{update}");
    let f = &update["features"];
    for key in [
        "potential_mean",
        "potential_std",
        "potential_min",
        "potential_max",
        "active_nodes",
        "active_ratio",
        "fractal_dimension",
        "energy",
        "spatial_variance",
    ] {
        assert!(f[key].is_number(), "{key}: {f}");
    }
    next_of(&mut c, "HEARTBEAT").await;
    c.send(json!({"type": "PONG"})).await;
    next_of(&mut c, "FEATURE_UPDATE").await;

    // UNSUBSCRIBE {stream_id}: no FEATURE_UPDATE after its success.
    c.send(json!({"type": "UNSUBSCRIBE", "stream_id": "features-123"}))
        .await;
    let done = next_of(&mut c, "UNSUBSCRIBE_SUCCESS").await;
    assert_eq!(done["stream_id"], "features-123");
    c.send(json!({"type": "CLOSE"})).await;
    loop {
        match c.next_event().await {
            Event::Json(v) => assert_ne!(v["type"], "FEATURE_UPDATE", "after UNSUBSCRIBE"),
            Event::Close(..) | Event::End => break,
        }
    }
    audit_records(&srv, &conn_id);
    let count = "wavecast_connection_duration_seconds_count";
    assert!(metric(srv.port, count).is_some_and(|n| n >= 1.0));
}

/// The documents' audit metrics: per connection (logged on disconnect)
/// and per stream (logged on unsubscribe), plus the open and start
/// records of the monitoring list.
fn audit_records(srv: &ServerProcess, conn_id: &str) {
    let id = format!("\"connection_id\":\"{conn_id}\"");
    let opened = log_line(srv, &["\"event\":\"connection_opened\"", &id]);
    assert_eq!(opened["endpoint"], "/ws/stream_features");
    let started = log_line(srv, &["\"event\":\"stream_started\"", &id]);
    assert_eq!(started["stream_id"], "features-123");
    let ended = log_line(srv, &["\"event\":\"stream_ended\"", &id]);
    assert_eq!(ended["stream_id"], "features-123");
    for key in ["stream_duration_seconds", "packets_sent", "dropped_frames"] {
        assert!(ended[key].is_number(), "{key}: {ended}");
    }
    let closed = log_line(srv, &["\"event\":\"connection_closed\"", &id]);
    for key in [
        "duration_seconds",
        "packets_sent",
        "packets_received",
        "dropped_frames",
        "drop_rate_percent",
    ] {
        assert!(closed[key].is_number(), "{key}: {closed}");
    }
}

#[tokio::test]
async fn failures_in_mfns_shapes() {
    let srv = start_mfn();
    let port = srv.port;
    let mut c = ws(port, "/ws/stream_features").await;
    c.send(json!({"type": "INIT", "protocol_version": "1.0"}))
        .await;
    assert_eq!(reply(&mut c).await["type"], "INIT");
    // "Enforce authentication before subscription".
    let r = call(
        &mut c,
        json!({"type": "SUBSCRIBE", "stream_type": "stream_features", "stream_id": "f1"}),
    )
    .await;
    assert_eq!(
        (&r["type"], &r["code"]),
        (&json!("SUBSCRIBE_FAILED"), &json!("auth_required")),
        "{r}"
    );
    // A wrong signature, and a timestamp outside the 5-minute window.
    let mut bad = signed_auth(API_KEY, now_ms());
    bad["signature"] = json!("00".repeat(32));
    assert_eq!(call(&mut c, bad).await["type"], "AUTH_FAILED");
    let stale = signed_auth(API_KEY, now_ms() - 6 * 60 * 1000);
    assert_eq!(call(&mut c, stale).await["type"], "AUTH_FAILED");
    let ok = call(&mut c, signed_auth(API_KEY, now_ms())).await;
    assert_eq!(ok["type"], "AUTH_SUCCESS", "{ok}");
    // Bad parameters, bad JSON: MFN's failure and ERROR shapes.
    let r = call(
        &mut c,
        json!({"type": "SUBSCRIBE", "stream_type": "stream_features", "stream_id": "f1",
                     "params": {"update_interval_ms": 5}}),
    )
    .await;
    assert_eq!(r["type"], "SUBSCRIBE_FAILED", "{r}");
    assert_eq!(r["code"], "invalid_field");
    c.send_text("{nope").await;
    let e = reply(&mut c).await;
    assert_eq!(
        (&e["type"], &e["code"]),
        (&json!("ERROR"), &json!("invalid_json"))
    );
    let r = call(&mut c, json!({"type": "UNSUBSCRIBE", "stream_id": "nope"})).await;
    assert_eq!(r["type"], "UNSUBSCRIBE_FAILED", "{r}");
}

#[tokio::test]
async fn simulation_live_and_heartbeat_endpoints() {
    let srv = start_mfn();
    let (mut c, _) = init_and_auth(srv.port, "/ws/simulation_live").await;
    c.send(
        json!({"type": "SUBSCRIBE", "stream_type": "simulation_live", "stream_id": "sim-1",
                  "params": {"grid_size": 16, "steps": 20, "update_every": 10}}),
    )
    .await;
    assert_eq!(reply(&mut c).await["type"], "SUBSCRIBE_SUCCESS");
    let state = next_of(&mut c, "SIMULATION_STATE").await;
    assert!(
        state["step"].is_u64() && state["progress"].is_number(),
        "{state}"
    );
    let done = next_of(&mut c, "SIMULATION_COMPLETE").await;
    assert_eq!(done["stream_id"], "sim-1");

    // /ws/heartbeat: authentication and heartbeats, no streams.
    let (mut h, _) = init_and_auth(srv.port, "/ws/heartbeat").await;
    next_of(&mut h, "HEARTBEAT").await;
    h.send(json!({"type": "PONG"})).await;
    let r = call(
        &mut h,
        json!({"type": "SUBSCRIBE", "stream_type": "stream_features", "stream_id": "f"}),
    )
    .await;
    assert_eq!(r["type"], "SUBSCRIBE_FAILED", "{r}");
}

#[tokio::test]
async fn production_with_only_mfn_variables() {
    // The documents' deployment block and nothing else.
    let srv = start(&[
        ("MFN_API_KEY_REQUIRED", "true"),
        ("MFN_API_KEY", "primary-key"),
        ("MFN_API_KEYS", "key1,key2,key3"),
        ("MFN_ENV", "production"),
        ("MFN_CORS_ORIGINS", "https://app.example.com"),
    ]);
    let health: Value = serde_json::from_str(&http_get(srv.port, "/health")).expect("json");
    assert_eq!(health["status"], "ok");
    for key in ["primary-key", "key2"] {
        let mut c = ws(srv.port, "/ws/stream_features").await;
        c.send(json!({"type": "INIT", "protocol_version": "1.0"}))
            .await;
        assert_eq!(reply(&mut c).await["type"], "INIT");
        let ok = call(&mut c, signed_auth(key, now_ms())).await;
        assert_eq!(ok["type"], "AUTH_SUCCESS", "{key}: {ok}");
    }
}
