//! Texts the server sends that a user reads, through the real binary: the
//! HTTP `invalid_json` help speaks of a request body (not of frames),
//! stream errors point to docs/mfn.md, and a per-user limit of one reads
//! "already has a connection" (not "1 connections").

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use wavecast_testkit::WsClient;

#[test]
fn http_invalid_json_help_speaks_of_the_body() {
    let srv = common::start(&[]);
    let (status, body) = common::http(srv.port, "POST", "/api/publish", "{\"channel\":");
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["code"], "invalid_json");
    assert_eq!(v["help"], "send one JSON object as the request body");
}

#[tokio::test]
async fn stream_errors_point_to_the_stream_protocol() {
    let srv = common::start(&[]);
    let url = format!("ws://127.0.0.1:{}/ws/stream_features", srv.port);
    let mut ws = WsClient::connect(&url).await;
    let init = ws.call(json!({"type": "init", "id": 1})).await;
    assert_eq!(init["type"], "init", "{init}");
    let r = ws
        .call(
            json!({"type": "subscribe", "stream_type": "stream_features", "stream_id": "x",
                     "params": {"update_interval_ms": 5}, "id": 2}),
        )
        .await;
    assert_eq!(r["type"], "subscribe_failed", "{r}");
    assert_eq!(r["code"], "invalid_field", "{r}");
    assert_eq!(
        r["help"], "see docs/mfn.md for the fields of the stream messages",
        "{r}"
    );
}

#[test]
fn a_user_limit_of_one_reads_naturally() {
    let srv = common::start(&[
        ("WAVECAST_JWT_SECRET", "one-secret"),
        ("WAVECAST_LIMITS__MAX_CONNECTIONS_PER_USER", "1"),
        ("WAVECAST_LIMITS__ON_USER_LIMIT", "refuse"),
    ]);
    let out = common::run_env(
        &["token", "--sub", "solo"],
        &[("WAVECAST_JWT_SECRET", "one-secret")],
        Duration::from_secs(20),
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let first = common::Spawned::start(&["sub", "a", "--server", &srv.url(), "--token", &token]);
    first.next_of_type("subscribe_success");
    let second = common::run(
        &[
            "sub",
            "a",
            "--no-reconnect",
            "--server",
            &srv.url(),
            "--token",
            &token,
        ],
        Duration::from_secs(20),
    );
    let err = common::stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("too_many_connections: this user already has a connection"),
        "{err}"
    );
}
