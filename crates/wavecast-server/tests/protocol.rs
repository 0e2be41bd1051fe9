//! Protocol v1 over real sockets: subscribe/receive, several channels,
//! unsubscribe, ping/pong, init, ids, heartbeats, and every error code.

use wavecast_testkit as common;

use common::raw::RawEvent;
use common::{Event, TestServer};
use serde_json::json;
use tokio_websockets::Message;

#[tokio::test]
async fn subscribe_receive_unsubscribe() {
    let srv = TestServer::start("").await;
    let mut c = srv.client().await;
    let r = c
        .call(json!({"type":"subscribe","channels":["news","chat:1"],"id":7}))
        .await;
    assert_eq!(r["type"], "subscribe_success");
    assert_eq!(r["channels"], json!(["chat:1", "news"]));
    assert_eq!(r["id"], 7);
    // The default namespace keeps history: each channel has a position.
    for ch in ["chat:1", "news"] {
        assert_eq!(r["positions"][ch]["offset"], 0);
        assert!(r["positions"][ch]["epoch"].is_string());
    }

    let d = srv.publish("news", json!({"headline":"hi"})).await;
    assert_eq!(d["delivered"], 1);
    let m = c.recv().await;
    assert_eq!(m["type"], "publication");
    assert_eq!(m["channel"], "news");
    assert_eq!(m["data"], json!({"headline":"hi"}));
    let ts = m["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
        "{ts}"
    );

    let (s, _) = srv
        .post(
            "/api/publish",
            json!({"channel":"chat:1","type":"node_created","data":[1,2]}),
        )
        .await;
    assert_eq!(s, 200);
    let m = c.recv().await;
    assert_eq!(
        (m["type"].clone(), m["channel"].clone(), m["data"].clone()),
        (json!("node_created"), json!("chat:1"), json!([1, 2]))
    );

    let r = c
        .call(json!({"type":"unsubscribe","channel":"news","correlation_id":"u1"}))
        .await;
    assert_eq!(
        r,
        json!({"type":"unsubscribe_success","channels":["news"],"correlation_id":"u1"})
    );
    assert_eq!(srv.publish("news", json!(1)).await["delivered"], 0);
    srv.publish("chat:1", json!("after")).await;
    let m = c.recv().await;
    assert_eq!(
        (m["channel"].clone(), m["data"].clone()),
        (json!("chat:1"), json!("after"))
    );
}

#[tokio::test]
async fn rooms_broadcast_and_fanout_to_many() {
    let srv = TestServer::start("").await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = srv.client().await;
        let r = c
            .call(json!({"type":"subscribe","rooms":["r1","r2"]}))
            .await;
        assert_eq!(r["type"], "subscribe_success");
        clients.push(c);
    }
    let (s, v) = srv
        .post(
            "/api/broadcast",
            json!({"channels":["r1","r2","empty"],"data":{"n":1}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["delivered"], 10);
    assert_eq!(v["channels"], json!({"r1":5,"r2":5,"empty":0}));
    for c in &mut clients {
        let mut got = vec![
            c.recv().await["channel"].clone(),
            c.recv().await["channel"].clone(),
        ];
        got.sort_by_key(|v| v.to_string());
        assert_eq!(got, vec![json!("r1"), json!("r2")]);
    }
}

#[tokio::test]
async fn ping_pong_init_and_personal_messages() {
    let srv = TestServer::start("").await;
    let mut c = srv.client().await;
    let p = c.call(json!({"type":"ping","id":"p1"})).await;
    assert_eq!(p["type"], "pong");
    assert_eq!(p["id"], "p1");
    assert!(p["timestamp"].is_string());

    let i = c
        .call(json!({"type":"init","protocol_version":"1.0","id":1}))
        .await;
    assert_eq!(i["type"], "init");
    assert_eq!(i["protocol_version"], "1.0");
    assert_eq!(i["connection_id"], c.connection_id.as_str());
    assert!(i["features"].as_array().unwrap().len() > 3);

    let (s, v) = srv
        .post(
            "/api/send",
            json!({"connection_id": c.connection_id, "type":"notice", "data": {"x":1}}),
        )
        .await;
    assert_eq!((s, v["delivered"].clone()), (200, json!(1)));
    let m = c.recv().await;
    assert_eq!(
        (m["type"].clone(), m["data"].clone()),
        (json!("notice"), json!({"x":1}))
    );

    // Server-side subscription management.
    let (s, _) = srv
        .post(
            "/api/ws/subscribe",
            json!({"connection_id": c.connection_id, "rooms": ["ops"]}),
        )
        .await;
    assert_eq!(s, 200);
    let m = c.recv().await;
    assert_eq!(
        (m["type"].clone(), m["server_side"].clone()),
        (json!("subscribe_success"), json!(true))
    );
    srv.publish("ops", json!("x")).await;
    assert_eq!(c.recv().await["channel"], "ops");
    let (s, v) = srv
        .post(
            "/api/ws/unsubscribe",
            json!({"connection_id": c.connection_id, "rooms": ["ops", "nope"]}),
        )
        .await;
    assert_eq!((s, v["rooms"].clone()), (200, json!(["ops"])));
    assert_eq!(c.recv().await["type"], "unsubscribe_success");
    assert_eq!(srv.publish("ops", json!("y")).await["delivered"], 0);

    // Server-side disconnect.
    let (s, _) = srv
        .post("/api/disconnect", json!({"connection_id": c.connection_id}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(c.expect_close().await, Some(4009));
}

#[tokio::test]
async fn ws_ping_frames_are_answered_and_close_is_clean() {
    let srv = TestServer::start("").await;
    let mut c = srv.client().await;
    c.send_raw(Message::ping("abc")).await;
    // The pong frame is consumed by the client library; a JSON ping after it
    // proves the connection is healthy and ordered.
    assert_eq!(c.call(json!({"type":"ping"})).await["type"], "pong");
    c.send(json!({"type":"close"})).await;
    assert_eq!(c.expect_close().await, Some(1000));
    srv.wait_metric("wavecast_disconnects_total{reason=\"client_close\"}", 1.0)
        .await;
}

#[tokio::test]
async fn api_ws_connect_is_the_same_protocol() {
    let srv = TestServer::start("").await;
    let mut c = common::WsClient::connect(&format!("ws://{}/api/ws/connect", srv.addr)).await;
    assert_eq!(c.recv().await["type"], "connection_established");
    assert_eq!(c.call(json!({"type":"ping"})).await["type"], "pong");
}

#[tokio::test]
async fn heartbeat_timeout_closes_silent_client() {
    let srv =
        TestServer::start("heartbeat_interval = \"100ms\"\nheartbeat_timeout = \"300ms\"").await;
    // A raw client that never answers anything, not even protocol pings.
    let mut silent = srv.raw("/ws").await;
    let mut alive = srv.client().await;
    let started = std::time::Instant::now();
    // The live client answers every heartbeat; the silent one never speaks.
    let alive_task = tokio::spawn(async move {
        let mut beats = 0;
        while beats < 8 {
            match alive.next_event().await {
                Event::Json(v) if v["type"] == "heartbeat" => {
                    beats += 1;
                    alive.send(json!({"type":"pong"})).await;
                }
                Event::Json(_) => {}
                other => panic!("live client lost its connection: {other:?}"),
            }
        }
        alive
    });
    let mut heartbeats = 0;
    let code = loop {
        match silent.next().await {
            RawEvent::Frame(f) if f.opcode == 1 => {
                let v = f.json();
                if v["type"] == "connection_established" {
                    continue;
                }
                assert_eq!(v["type"], "heartbeat");
                assert!(v["timestamp"].is_string());
                heartbeats += 1;
            }
            RawEvent::Frame(f) if f.opcode == 9 => {}
            RawEvent::Frame(f) if f.opcode == 8 => {
                assert_eq!(&f.payload[2..], b"heartbeat timeout");
                break f.close_code();
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    let elapsed = started.elapsed();
    assert_eq!(code, Some(4000));
    assert!(heartbeats >= 2, "saw {heartbeats} heartbeats");
    assert!(
        elapsed >= std::time::Duration::from_millis(300),
        "{elapsed:?}"
    );
    let _alive = alive_task.await.unwrap();
    drop(silent);
    srv.wait_metric(
        "wavecast_disconnects_total{reason=\"heartbeat_timeout\"}",
        1.0,
    )
    .await;
    assert_eq!(srv.metric("wavecast_connections").await, 1.0);
}

#[tokio::test]
async fn listen_only_clients_stay_connected_by_answering_pings() {
    let srv =
        TestServer::start("heartbeat_interval = \"100ms\"\nheartbeat_timeout = \"300ms\"").await;
    // A raw client that answers protocol pings, as RFC 6455 clients do,
    // and sends nothing else: pongs alone keep it alive.
    let mut c = srv.raw("/ws").await;
    c.send_text(r#"{"type":"subscribe","channel":"quiet"}"#)
        .await;
    let mut pings = 0;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1200) {
        match c.next().await {
            RawEvent::Frame(f) if f.opcode == 9 => {
                pings += 1;
                c.send_frame(true, 0, 10, &f.payload).await;
            }
            RawEvent::Frame(f) if f.opcode == 1 => {}
            other => panic!("a listen-only client was dropped: {other:?}"),
        }
    }
    assert!(pings >= 8, "the server sent {pings} pings in 1.2 s");
    srv.publish("quiet", json!("still here")).await;
    let v = c.next_json().await;
    assert_eq!(
        (v["type"].clone(), v["data"].clone()),
        (json!("publication"), json!("still here"))
    );
}

async fn expect_error(c: &mut common::WsClient, frame: &str, kind: &str, code: &str) {
    c.send_text(frame).await;
    let r = c.recv().await;
    assert_eq!(r["type"], kind, "{frame} -> {r}");
    assert_eq!(r["code"], code, "{frame} -> {r}");
    for key in ["error", "recoverable", "help", "timestamp"] {
        assert!(r.get(key).is_some(), "{frame} -> {r} lacks {key}");
    }
}

#[tokio::test]
async fn every_protocol_error_code() {
    let srv = TestServer::start("[limits]\nmax_subscriptions = 2\nmax_message_size = 1024").await;
    let mut c = srv.client().await;
    expect_error(&mut c, "{nope", "error", "invalid_json").await;
    expect_error(&mut c, "[1,2]", "error", "invalid_json").await;
    expect_error(&mut c, r#"{"id":1}"#, "error", "missing_type").await;
    expect_error(&mut c, r#"{"type":"dance"}"#, "error", "unknown_type").await;
    expect_error(&mut c, r#"{"type":7}"#, "error", "invalid_field").await;
    expect_error(
        &mut c,
        r#"{"type":"subscribe"}"#,
        "subscribe_failed",
        "invalid_field",
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"subscribe","channel":"bad name"}"#,
        "subscribe_failed",
        "invalid_channel",
    )
    .await;
    let long = format!(r#"{{"type":"subscribe","channel":"{}"}}"#, "a".repeat(256));
    expect_error(&mut c, &long, "subscribe_failed", "invalid_channel").await;
    expect_error(
        &mut c,
        r#"{"type":"unsubscribe","channel":"x"}"#,
        "unsubscribe_failed",
        "not_subscribed",
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"init","protocol_version":"2.0"}"#,
        "error",
        "unsupported_version",
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"subscribe","channels":["a","b","c"]}"#,
        "subscribe_failed",
        "too_many_subscriptions",
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"publish","channel":"a","data":1}"#,
        "error",
        "forbidden",
    )
    .await;
    c.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    let r = c.recv().await;
    assert_eq!(r["code"], "unsupported_frame");

    // The id is echoed on errors too.
    c.send_text(r#"{"type":"dance","id":"q"}"#).await;
    assert_eq!(c.recv().await["id"], "q");
    // Nothing above closed the connection.
    assert_eq!(c.call(json!({"type":"ping"})).await["type"], "pong");
    assert_eq!(
        srv.metric("wavecast_limit_rejections_total{limit=\"subscriptions\"}")
            .await,
        1.0
    );

    // A message above limits.max_message_size closes with 1009.
    c.send_text(&format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(2000)
    ))
    .await;
    assert_eq!(c.expect_close().await, Some(1009));
    srv.wait_metric(
        "wavecast_disconnects_total{reason=\"message_too_big\"}",
        1.0,
    )
    .await;
}

#[tokio::test]
async fn every_http_error_code() {
    let srv = TestServer::start("[http]\napi_key = \"k3y\"").await;
    let body = Some(r#"{"channel":"a","data":1}"#.to_string());
    let (s, v) = srv.request("POST", "/api/publish", body.clone(), &[]).await;
    assert_eq!((s, v["code"].clone()), (401, json!("unauthorized")));
    let (s, _) = srv
        .request(
            "POST",
            "/api/publish",
            body.clone(),
            &[("x-api-key", "wrong")],
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = srv.request("GET", "/api/ws/stats", None, &[]).await;
    assert_eq!(s, 401);
    let (s, v) = srv
        .request(
            "POST",
            "/api/publish",
            body,
            &[("authorization", "Bearer k3y")],
        )
        .await;
    assert_eq!((s, v["delivered"].clone()), (200, json!(0)));

    let auth = [("x-api-key", "k3y")];
    let cases = [
        ("/api/publish", "{bad".to_string(), 400, "invalid_json"),
        (
            "/api/publish",
            r#"{"channel":"a"}"#.to_string(),
            400,
            "invalid_field",
        ),
        (
            "/api/publish",
            r#"{"channel":"a b","data":1}"#.to_string(),
            400,
            "invalid_channel",
        ),
        (
            "/api/publish",
            r#"{"channel":"a","type":"error","data":1}"#.to_string(),
            400,
            "invalid_field",
        ),
        (
            "/api/send",
            r#"{"connection_id":"nobody","data":1}"#.to_string(),
            404,
            "connection_not_found",
        ),
        (
            "/api/disconnect",
            r#"{"connection_id":"nobody"}"#.to_string(),
            404,
            "connection_not_found",
        ),
        (
            "/api/broadcast",
            r#"{"channels":[],"data":1}"#.to_string(),
            400,
            "invalid_field",
        ),
        (
            "/api/publish",
            format!(r#"{{"channel":"a","data":"{}"}}"#, "x".repeat(2 << 20)),
            413,
            "payload_too_large",
        ),
        ("/api/nowhere", "{}".to_string(), 404, "not_found"),
    ];
    for (path, body, status, code) in cases {
        let (s, v) = srv.request("POST", path, Some(body), &auth).await;
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{path}: {v}");
        assert_eq!(v["type"], "error");
    }
}

#[tokio::test]
async fn loopback_only_without_key_and_public_endpoints() {
    let srv = TestServer::start("").await;
    let (s, v) = srv.get("/ws/config").await;
    assert_eq!(s, 200);
    assert_eq!(v["websocket_config"]["version"], "1.0");
    assert_eq!(v["websocket_config"]["endpoints"]["websocket"], "/ws");
    assert!(v["websocket_config"]["connection_limits"]["heartbeat_interval"].is_number());
    assert_eq!(srv.get("/health").await.0, 200);
    assert_eq!(srv.get("/ready").await.1["status"], "ready");
    // Our test client is on loopback, so the API answers without a key.
    assert_eq!(srv.get("/api/ws/streams").await.0, 200);
    // A plain GET to the WebSocket endpoint is told to upgrade.
    assert_eq!(srv.get("/ws").await.0, 426);
}

#[tokio::test]
async fn stats_and_metrics_match_what_happened() {
    let srv = TestServer::start("").await;
    let mut a = srv.client().await;
    let mut b = srv.client().await;
    a.call(json!({"type":"subscribe","channels":["s1","s2"]}))
        .await;
    b.call(json!({"type":"subscribe","channel":"s1"})).await;
    for i in 0..3 {
        srv.publish("s1", json!(i)).await;
    }
    srv.publish("s2", json!("x")).await;
    for _ in 0..4 {
        a.recv().await;
    }
    for _ in 0..3 {
        b.recv().await;
    }
    let (_, st) = srv.get("/api/ws/stats").await;
    assert_eq!(st["total_connections"], 2);
    assert_eq!(st["active_connections"], 2);
    assert_eq!(st["rooms"], json!({"s1": 2, "s2": 1}));
    assert_eq!(st["publications"], 4);
    assert_eq!(st["subscriptions"], 3);
    assert_eq!(st["messages_received"], 2);
    // 2 connection_established + 2 subscribe_success + 7 deliveries.
    assert_eq!(st["messages_sent"], 11);
    let (_, streams) = srv.get("/api/ws/streams").await;
    assert_eq!(
        streams["streams"],
        json!([{"channel":"s1","subscribers":2},{"channel":"s2","subscribers":1}])
    );

    assert_eq!(srv.metric("wavecast_connections").await, 2.0);
    assert_eq!(srv.metric("wavecast_connections_total").await, 2.0);
    assert_eq!(srv.metric("wavecast_publications_total").await, 4.0);
    assert_eq!(srv.metric("wavecast_subscriptions").await, 3.0);
    assert_eq!(srv.metric("wavecast_messages_sent_total").await, 11.0);
    assert_eq!(
        srv.metric("wavecast_delivery_latency_seconds_count").await,
        7.0
    );
    assert!(srv.metric("wavecast_bytes_sent_total").await > 300.0);

    b.send(json!({"type":"close"})).await;
    assert_eq!(b.expect_close().await, Some(1000));
    srv.wait_metric("wavecast_disconnects_total{reason=\"client_close\"}", 1.0)
        .await;
    assert_eq!(srv.metric("wavecast_connections").await, 1.0);
    assert_eq!(srv.metric("wavecast_subscriptions").await, 2.0);
    let (_, st) = srv.get("/api/ws/stats").await;
    assert_eq!(st["rooms"], json!({"s1": 1, "s2": 1}));
}
