//! Regression tests for defects found by attack and fault testing, each
//! over a real socket: the DNS-rebinding guard, fragmented messages over
//! the size limit, per-channel state of unique channel names, history
//! replies bounded by bytes, deeply nested data, JWT subjects, the
//! WebSocket key and the HTTP body timeout. (Listen-only clients are in
//! protocol.rs; unclean restarts in crates/wavecast/tests/durability.rs.)

use wavecast_testkit as common;

use std::time::Duration;

use common::raw::RawEvent;
use common::TestServer;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// Defect 2: a name is local only if it is a loopback literal or
/// `localhost`; a Host or Origin that is not UTF-8 is refused.
#[tokio::test]
async fn dns_rebinding_guard_accepts_only_local_names() {
    let srv = TestServer::start("").await;
    let body = r#"{"channel":"x","data":1}"#;
    let post = |host: &[u8], origin: Option<&[u8]>| {
        let mut r = b"POST /api/publish HTTP/1.1\r\nHost: ".to_vec();
        r.extend_from_slice(host);
        if let Some(o) = origin {
            r.extend_from_slice(b"\r\nOrigin: ");
            r.extend_from_slice(o);
        }
        r.extend_from_slice(
            format!(
                "\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        r
    };
    for (host, origin) in [
        (
            &b"127.attacker.example"[..],
            Some(&b"http://127.attacker.example"[..]),
        ),
        (b"127.1.2.3.nip.io:8000", None),
        (b"localhost.attacker.example", None),
        (b"127.0.0.1", Some(b"http://127.0.0.1.nip.io")),
        (b"127.0.0.1", Some(b"http://\xff\xfe")),
        (b"\xff\xfe", None),
    ] {
        let (status, reply) = srv.raw_http(&post(host, origin)).await;
        assert_eq!(status, 403, "Host {host:?} Origin {origin:?}: {reply}");
    }
    for host in [
        &b"127.0.0.1:1"[..],
        b"localhost",
        b"app.localhost",
        b"[::1]:80",
        b"127.9.9.9",
    ] {
        let (status, reply) = srv
            .raw_http(&post(host, Some(b"http://localhost:3000")))
            .await;
        assert_eq!(status, 200, "Host {host:?}: {reply}");
    }
}

/// Defect 3: a message over `max_message_size` in several fragments is
/// closed with 1009 at once, like one in a single frame.
#[tokio::test]
async fn fragmented_message_over_the_limit_gets_1009() {
    let srv = TestServer::start("[limits]\nmax_message_size = 10000").await;
    let mut c = srv.raw("/ws").await;
    let started = std::time::Instant::now();
    c.send_frame(false, 0, 1, &[b'x'; 6000]).await;
    c.send_frame(true, 0, 0, &[b'x'; 6000]).await;
    assert_eq!(c.expect_close().await, Some(1009));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    srv.wait_metric(
        "wavecast_disconnects_total{reason=\"message_too_big\"}",
        1.0,
    )
    .await;
}

/// Defect 4: subscribing to unique channel names and leaving them leaves
/// no per-channel state behind, in either local store.
#[tokio::test]
async fn unique_channel_names_leave_no_state() {
    let dir = common::temp_dir("unique-channels");
    let unlimited = "[limits]\nmax_message_rate = 0";
    for srv in [
        TestServer::start(unlimited).await,
        TestServer::start_with(unlimited, Some(&dir)).await,
    ] {
        let mut c = srv.client().await;
        for i in 0..300 {
            let ch = format!("u{i}");
            let r = c.call(json!({"type":"subscribe","channel": ch})).await;
            assert_eq!(r["type"], "subscribe_success", "{r}");
            let r = c.call(json!({"type":"unsubscribe","channel": ch})).await;
            assert_eq!(r["type"], "unsubscribe_success", "{r}");
        }
        assert_eq!(srv.state.hub.history_channels(), 0);
        assert!(srv.state.hub.channel_counts().is_empty());
        // A channel that keeps history keeps its log while it retains.
        srv.publish("kept", json!(1)).await;
        assert_eq!(srv.state.hub.history_channels(), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Defect 4: `history.max_channels` bounds the channel logs in all: an
/// idle log (no subscriber) is evicted for a new one, and when every log
/// has a subscriber a new channel's publication is refused with 503, in
/// both local stores.
#[tokio::test]
async fn history_max_channels_bounds_the_logs() {
    let dir = common::temp_dir("max-channels");
    let cfg = "[history]\nmax_channels = 2\n[namespaces.h]\nhistory_size = 10";
    for srv in [
        TestServer::start(cfg).await,
        TestServer::start_with(cfg, Some(&dir)).await,
    ] {
        for ch in ["h:a", "h:b", "h:c", "h:d"] {
            srv.publish(ch, json!(1)).await;
            assert!(srv.state.hub.history_channels() <= 2);
        }
        // Both logs held by subscribers: a third channel cannot get one.
        let mut c = srv.client().await;
        for ch in ["h:c", "h:d"] {
            let r = c.call(json!({"type":"subscribe","channel": ch})).await;
            assert_eq!(r["type"], "subscribe_success", "{r}");
        }
        let (s, v) = srv
            .post("/api/publish", json!({"channel":"h:e","data":1}))
            .await;
        assert_eq!((s, v["code"].clone()), (503, json!("unavailable")), "{v}");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|m| m.contains("max_channels")),
            "{v}"
        );
        assert_eq!(srv.state.hub.history_channels(), 2);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Defect 5: history replies count against the connection's byte budget
/// and only one page may be in flight, so a client that never reads cannot
/// make the server buffer without bound.
#[tokio::test]
async fn history_requests_from_a_client_that_never_reads_stay_bounded() {
    let srv = TestServer::start("[namespaces.h]\nhistory_size = 100").await;
    let big = "x".repeat(20_000);
    for _ in 0..100 {
        srv.publish("h:big", json!(big)).await;
    }
    let mut c = srv.stalled_client().await;
    let id = c.connection_id.clone();
    for i in 0..150 {
        c.send(json!({"type":"history","channel":"h:big","id": i}))
            .await;
    }
    let conn = srv.state.hub.connection(&id).expect("still connected");
    let deadline = std::time::Instant::now() + common::WAIT;
    while srv
        .metric("wavecast_limit_rejections_total{limit=\"history_in_flight\"}")
        .await
        < 100.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "requests were not paced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, bytes) = conn.outbound.depth();
    assert!(
        bytes < 4 << 20,
        "{bytes} bytes queued for a client that never reads"
    );
}

/// Defect 6: data nested deeply is served from history exactly as stored,
/// and data nested past the limit is refused the same way on every path.
#[tokio::test]
async fn deep_data_is_stored_verbatim_and_too_deep_data_refused_everywhere() {
    let srv = TestServer::start("[namespaces.d]\nhistory_size = 10\npublish = \"public\"").await;
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let ok = deep(60);
    let (s, v) = srv
        .request(
            "POST",
            "/api/publish",
            Some(format!(r#"{{"channel":"d:x","data":{ok}}}"#)),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, h) = srv.get("/api/history/d:x").await;
    assert_eq!(s, 200);
    assert_eq!(h["publications"][0]["data"].to_string(), ok);
    let (s, export) = srv.get("/api/history/d:x/export").await;
    assert_eq!(s, 200);
    // One NDJSON line: the stored publication, data byte for byte.
    assert_eq!(export["data"].to_string(), ok);
    let too_deep = deep(100);
    let (s, v) = srv
        .request(
            "POST",
            "/api/publish",
            Some(format!(r#"{{"channel":"d:x","data":{too_deep}}}"#)),
            &[],
        )
        .await;
    assert_eq!((s, v["code"].clone()), (400, json!("invalid_field")), "{v}");
    let mut c = srv.client().await;
    let mut r = c.call(json!({"type":"subscribe","channel":"d:x"})).await;
    assert_eq!(r["type"], "subscribe_success");
    c.send_text(r#"{"type":"history","channel":"d:x","id":1}"#)
        .await;
    r = c.recv().await;
    assert_eq!(r["publications"][0]["data"].to_string(), ok);
    let nested: Value = serde_json::from_str(&deep(70)).expect("json");
    let r = c
        .call(json!({"type":"publish","channel":"d:x","data": nested, "id": 2}))
        .await;
    assert_eq!(
        (r["type"].clone(), r["code"].clone()),
        (json!("error"), json!("invalid_field"))
    );
}

/// Defect 8: `sub` of any integer is the user id as text; an empty `sub`
/// is refused.
#[tokio::test]
async fn jwt_subjects_are_canonical_and_never_empty() {
    let srv = TestServer::start("[auth]\njwt_secret = \"s3cret\"\n[limits]\nmax_connections_per_user = 1\non_user_limit = \"refuse\"").await;
    let token = |sub: Value| {
        encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": sub, "exp": wavecast_protocol::time::now_millis() / 1000 + 600}),
            &EncodingKey::from_secret(b"s3cret"),
        )
        .expect("encode")
    };
    let url = |t: &str| format!("ws://{}/ws?token={t}", srv.addr);
    let mut first = common::WsClient::try_connect(&url(&token(json!(-1))), &[])
        .await
        .expect("a negative integer sub is a user id");
    let hello = first.recv().await;
    assert_eq!(hello["user_id"], "-1");
    // The per-user limit applies to it.
    assert!(common::WsClient::try_connect(&url(&token(json!(-1))), &[])
        .await
        .is_err());
    assert!(common::WsClient::try_connect(&url(&token(json!(""))), &[])
        .await
        .is_err());
    assert!(
        common::WsClient::try_connect(&url(&token(json!({"a":1}))), &[])
            .await
            .is_err()
    );
}

/// Defect 8: `Sec-WebSocket-Key` must be a base64 16-byte nonce.
#[tokio::test]
async fn the_websocket_key_must_be_a_16_byte_nonce() {
    let srv = TestServer::start("").await;
    for key in [
        "not base64!",
        "c2hvcnQ=",
        "dGhpcyBpcyBtb3JlIHRoYW4gMTYgYnl0ZXM=",
    ] {
        let (s, v) = srv
            .request(
                "GET",
                "/ws",
                None,
                &[
                    ("connection", "Upgrade"),
                    ("upgrade", "websocket"),
                    ("sec-websocket-version", "13"),
                    ("sec-websocket-key", key),
                ],
            )
            .await;
        assert_eq!(
            (s, v["code"].clone()),
            (400, json!("invalid_field")),
            "{key}: {v}"
        );
    }
    let mut ok = srv.raw("/ws").await;
    assert!(matches!(ok.next().await, RawEvent::Frame(f) if f.opcode == 1));
}

/// Defect 8: a request body that does not arrive within `http.body_timeout`
/// gets 408 instead of holding the request open.
#[tokio::test]
async fn a_slow_body_times_out() {
    let srv = TestServer::start("[http]\nbody_timeout = \"300ms\"").await;
    let started = std::time::Instant::now();
    let (status, body) = srv
        .raw_http(b"POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"channel\":")
        .await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("request_timeout"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Defect 8: a retried publish with the same idempotency key is not made
/// twice.
#[tokio::test]
async fn an_idempotency_key_makes_a_retry_safe() {
    let srv = TestServer::start("[namespaces.i]\nhistory_size = 10").await;
    let publish = |key: &str| json!({"channel":"i:x","data":{"n":1},"idempotency_key": key});
    let (_, first) = srv.post("/api/publish", publish("k1")).await;
    let (_, again) = srv.post("/api/publish", publish("k1")).await;
    assert_eq!(first["offset"], again["offset"]);
    assert_eq!(again["duplicate"], true);
    let (_, other) = srv.post("/api/publish", publish("k2")).await;
    assert_eq!(other["offset"], 2);
}
