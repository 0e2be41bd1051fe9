//! Wire formats over real sockets: MessagePack negotiated by subprotocol
//! or `?format=msgpack`, each publication encoded once per format in use
//! (`publication_frames_encoded_total`), permessage-deflate negotiation
//! (server_no_context_takeover, client_no_context_takeover,
//! server_max_window_bits), compressed client messages, shared compressed
//! frames, and the zip-bomb limit (1009 before the message is inflated).
//! Frames are read and written raw so the tests see the bytes.

use wavecast_testkit as common;

use common::raw::{Frame, RawEvent};
use common::{RawWs, TestServer};
use serde_json::{json, Value};

/// The next data frame (pings and pongs skipped).
async fn data_frame(c: &mut RawWs) -> Frame {
    loop {
        match c.next().await {
            RawEvent::Frame(f) if f.opcode == 9 || f.opcode == 10 => {}
            RawEvent::Frame(f) => return f,
            RawEvent::Eof => panic!("the server closed the connection"),
        }
    }
}

/// A MessagePack frame's message (inflated first when RSV1 is set).
fn msgpack_of(f: &Frame) -> Value {
    assert_eq!(f.opcode, 2, "MessagePack comes in binary frames: {f:?}");
    let bytes = if f.rsv & 4 != 0 {
        inflate(&f.payload, 15)
    } else {
        f.payload.clone()
    };
    rmp_serde::from_slice(&bytes).expect("a MessagePack message")
}

/// The next MessagePack message that is not a heartbeat.
async fn next_msgpack(c: &mut RawWs) -> Value {
    loop {
        let v = msgpack_of(&data_frame(c).await);
        if v["type"] != "heartbeat" {
            return v;
        }
    }
}

async fn send_msgpack(c: &mut RawWs, v: &Value) {
    let bytes = rmp_serde::to_vec(v).expect("encode");
    c.send_frame(true, 0, 2, &bytes).await;
}

#[tokio::test]
async fn msgpack_by_subprotocol_or_query() {
    let srv = TestServer::start("").await;
    let mut by_protocol = RawWs::connect(
        srv.addr,
        "/ws",
        &[("Sec-WebSocket-Protocol", "chat, wavecast.v1.msgpack")],
    )
    .await;
    assert_eq!(
        by_protocol.header("sec-websocket-protocol"),
        Some("wavecast.v1.msgpack"),
        "the accepted subprotocol is echoed: {}",
        by_protocol.head
    );
    let mut by_query = RawWs::connect(srv.addr, "/ws?format=msgpack", &[]).await;
    assert_eq!(by_query.header("sec-websocket-protocol"), None);
    for c in [&mut by_protocol, &mut by_query] {
        let hello = next_msgpack(c).await;
        assert_eq!(hello["type"], "connection_established", "{hello}");
        send_msgpack(c, &json!({"type":"subscribe","channels":["mp"],"id":1})).await;
        let r = next_msgpack(c).await;
        assert_eq!(
            (r["type"].clone(), r["id"].clone()),
            (json!("subscribe_success"), json!(1))
        );
        // A JSON text message is still understood; the reply is MessagePack.
        c.send_text(r#"{"type":"ping","id":"p"}"#).await;
        let pong = next_msgpack(c).await;
        assert_eq!(
            (pong["type"].clone(), pong["id"].clone()),
            (json!("pong"), json!("p"))
        );
    }
    let data =
        json!({"n": 1, "x": 2.5, "s": "κόσμε", "list": [true, null], "nested": {"deep": [1]}});
    srv.publish("mp", data.clone()).await;
    for c in [&mut by_protocol, &mut by_query] {
        let p = next_msgpack(c).await;
        assert_eq!(
            (p["type"].clone(), p["channel"].clone(), p["data"].clone()),
            (json!("publication"), json!("mp"), data.clone())
        );
    }
    // Bad MessagePack gets the protocol's error, in MessagePack.
    by_query.send_frame(true, 0, 2, &[0xc1]).await;
    let e = next_msgpack(&mut by_query).await;
    assert_eq!(
        (e["type"].clone(), e["code"].clone()),
        (json!("error"), json!("invalid_json"))
    );

    // FOG's dialect in MessagePack on its own endpoint.
    let mut fog = RawWs::connect(
        srv.addr,
        "/api/ws/connect",
        &[("Sec-WebSocket-Protocol", "fog.msgpack")],
    )
    .await;
    assert_eq!(fog.header("sec-websocket-protocol"), Some("fog.msgpack"));
    let hello = next_msgpack(&mut fog).await;
    assert!(hello["type"].is_string(), "{hello}");
}

#[tokio::test]
async fn each_publication_is_encoded_once_per_format() {
    let srv = TestServer::start(
        "[[endpoints]]\npath = \"/ws\"\ndeflate = true\n[limits]\nmax_message_rate = 0",
    )
    .await;
    let offer = ("Sec-WebSocket-Extensions", "permessage-deflate");
    let kinds: [(&str, &[(&str, &str)]); 4] = [
        ("/ws", &[]),
        ("/ws?format=msgpack", &[]),
        ("/ws", &[offer]),
        ("/ws?format=msgpack", &[offer]),
    ];
    let mut clients = Vec::new();
    for (path, headers) in kinds {
        for _ in 0..3 {
            let mut c = RawWs::connect(srv.addr, path, headers).await;
            let msgpack = path.contains("msgpack");
            let sub = json!({"type":"subscribe","channels":["enc"]});
            if msgpack {
                next_msgpack(&mut c).await;
                send_msgpack(&mut c, &sub).await;
                next_msgpack(&mut c).await;
            } else {
                c.next_json().await;
                c.send_text(&sub.to_string()).await;
                assert_eq!(c.next_json().await["type"], "subscribe_success");
            }
            clients.push((msgpack, !headers.is_empty(), c));
        }
    }
    let data = json!({"payload": "abc ".repeat(200)});
    for _ in 0..5 {
        assert_eq!(srv.publish("enc", data.clone()).await["delivered"], 12);
    }
    let mut seen: std::collections::HashMap<(bool, bool, usize), Vec<u8>> = Default::default();
    for (msgpack, deflate, c) in &mut clients {
        for i in 0..5 {
            let f = data_frame(c).await;
            assert_eq!(f.rsv == 4, *deflate, "RSV1 iff deflate");
            let v = if *msgpack {
                msgpack_of(&f)
            } else if *deflate {
                serde_json::from_slice(&inflate(&f.payload, 15)).expect("JSON")
            } else {
                f.json()
            };
            assert_eq!(v["data"], data);
            // Every subscriber of a format gets the same bytes.
            let first = seen
                .entry((*msgpack, *deflate, i))
                .or_insert(f.payload.clone());
            assert_eq!(*first, f.payload);
        }
    }
    for format in [
        "wavecast",
        "wavecast.msgpack",
        "wavecast+deflate",
        "wavecast.msgpack+deflate",
    ] {
        let n = srv
            .metric(&format!(
                "wavecast_publication_frames_encoded_total{{format=\"{format}\"}}"
            ))
            .await;
        assert_eq!(n, 5.0, "{format}: 5 publications, 3 subscribers each");
    }
}

/// The `Sec-WebSocket-Extensions` answer to `offer` on `srv`'s `/ws`.
async fn answer(srv: &TestServer, offer: &str) -> Option<String> {
    let c = RawWs::connect(srv.addr, "/ws", &[("Sec-WebSocket-Extensions", offer)]).await;
    c.header("sec-websocket-extensions").map(String::from)
}

#[tokio::test]
async fn deflate_negotiation_parameters() {
    let off = TestServer::start("").await;
    assert_eq!(
        answer(&off, "permessage-deflate").await,
        None,
        "off by default on /ws"
    );

    let srv = TestServer::start("[[endpoints]]\npath = \"/ws\"\ndeflate = true").await;
    let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    for (offer, expected) in [
        ("permessage-deflate", Some(both.to_string())),
        (
            "permessage-deflate; client_max_window_bits",
            Some(both.to_string()),
        ),
        (
            "permessage-deflate; server_no_context_takeover",
            Some(both.to_string()),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            Some(both.to_string()),
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            Some(format!("{both}; server_max_window_bits=15")),
        ),
        (
            "permessage-deflate; client_max_window_bits=10",
            Some(format!("{both}; client_max_window_bits=10")),
        ),
        // A malformed offer is skipped for the next one.
        (
            "permessage-deflate; bogus=1, permessage-deflate",
            Some(both.to_string()),
        ),
        ("permessage-deflate; server_max_window_bits=7", None),
        // The shared frames are built with one window: a client that
        // allows the server less than the configured one gets none.
        ("permessage-deflate; server_max_window_bits=10", None),
        ("x-webkit-deflate-frame", None),
    ] {
        assert_eq!(answer(&srv, offer).await, expected, "offer {offer:?}");
    }

    let small = TestServer::start(
        "[[endpoints]]\npath = \"/ws\"\ndeflate = true\n[compression]\nserver_max_window_bits = 10",
    )
    .await;
    assert_eq!(
        answer(&small, "permessage-deflate").await,
        Some(format!("{both}; server_max_window_bits=10"))
    );
    // Frames compressed with a 2^10 window inflate with a 2^10 window.
    let mut c = RawWs::connect(
        small.addr,
        "/ws",
        &[("Sec-WebSocket-Extensions", "permessage-deflate")],
    )
    .await;
    c.next_json().await;
    c.send_text(r#"{"type":"subscribe","channels":["w"]}"#)
        .await;
    c.next_json().await;
    let data = json!({"text": "windowed ".repeat(500)});
    small.publish("w", data.clone()).await;
    let f = data_frame(&mut c).await;
    assert_eq!((f.opcode, f.rsv), (1, 4));
    let v: Value = serde_json::from_slice(&inflate(&f.payload, 10)).expect("JSON");
    assert_eq!(v["data"], data);
}

#[tokio::test]
async fn compressed_client_messages_and_small_frames() {
    let srv = TestServer::start("[[endpoints]]\npath = \"/ws\"\ndeflate = true").await;
    let mut c = RawWs::connect(
        srv.addr,
        "/ws",
        &[("Sec-WebSocket-Extensions", "permessage-deflate")],
    )
    .await;
    // The welcome is small: sent uncompressed (RFC 7692 lets each message
    // choose).
    let hello = data_frame(&mut c).await;
    assert_eq!((hello.opcode, hello.rsv), (1, 0));
    // Compressed client messages, each on its own (no context takeover).
    for id in 1..=3 {
        let msg = json!({"type":"subscribe","channels":[format!("z{id}")],"id":id}).to_string();
        c.send_frame(true, 4, 1, &deflate(msg.as_bytes())).await;
        let r = c.next_json().await;
        assert_eq!(
            (r["type"].clone(), r["id"].clone()),
            (json!("subscribe_success"), json!(id))
        );
    }
    // Corrupt compressed data: 1007.
    c.send_frame(true, 4, 1, &[0xff, 0xff, 0xff, 0xff]).await;
    assert_eq!(c.expect_close().await, Some(1007));
}

#[tokio::test]
async fn a_zip_bomb_is_refused_with_1009_before_it_is_inflated() {
    let srv = TestServer::start(
        "[[endpoints]]\npath = \"/ws\"\ndeflate = true\n[limits]\nmax_message_size = 10240",
    )
    .await;
    let mut c = RawWs::connect(
        srv.addr,
        "/ws",
        &[("Sec-WebSocket-Extensions", "permessage-deflate")],
    )
    .await;
    c.next_json().await;
    // 8 MiB of spaces compress to about 8 KiB, under the limit on the
    // wire. Only the first fragment is sent and the message never ends:
    // the server must refuse it from what it has inflated so far.
    let bomb = deflate(&vec![b' '; 8 << 20]);
    assert!(bomb.len() < 10240, "{} bytes compressed", bomb.len());
    let first = &bomb[..4096];
    let started = std::time::Instant::now();
    c.send_frame(false, 4, 1, first).await;
    assert_eq!(c.expect_close().await, Some(1009));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    srv.wait_metric(
        "wavecast_disconnects_total{reason=\"message_too_big\"}",
        1.0,
    )
    .await;
    // The whole bomb in one frame: the same, and the server stays up.
    let mut c = RawWs::connect(
        srv.addr,
        "/ws",
        &[("Sec-WebSocket-Extensions", "permessage-deflate")],
    )
    .await;
    c.next_json().await;
    c.send_frame(true, 4, 1, &bomb).await;
    assert_eq!(c.expect_close().await, Some(1009));
    // A compressed message just under the limit passes.
    let mut c = RawWs::connect(
        srv.addr,
        "/ws",
        &[("Sec-WebSocket-Extensions", "permessage-deflate")],
    )
    .await;
    c.next_json().await;
    let pad = " ".repeat(10_000);
    let msg = format!(r#"{{"type":"ping","id":"big"{pad}}}"#);
    assert!(msg.len() <= 10240);
    c.send_frame(true, 4, 1, &deflate(msg.as_bytes())).await;
    assert_eq!(c.next_json().await["id"], "big");
}

/// Raw deflate with the RFC 7692 tail removed.
fn deflate(data: &[u8]) -> Vec<u8> {
    wavecast_ws::compress_message(data, 15).to_vec()
}

/// Inflates a server message (appending the RFC 7692 tail).
fn inflate(data: &[u8], window_bits: u8) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = flate2::Decompress::new_with_window_bits(false, window_bits);
    let mut out = Vec::with_capacity(4 << 20);
    d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
        .expect("valid deflate data");
    out
}

/// The four wire formats: the path suffix and upgrade headers of each.
const VARIANTS: [(&str, &str, bool); 4] = [
    ("JSON", "", false),
    ("MessagePack", "?format=msgpack", false),
    ("JSON + deflate", "", true),
    ("MessagePack + deflate", "?format=msgpack", true),
];

/// A frame's size on the wire (server frames have no mask).
fn wire_size(f: &Frame) -> usize {
    let n = f.payload.len();
    n + match n {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// A frame's message, whatever its format.
fn message_of(f: &Frame) -> Value {
    let bytes = if f.rsv & 4 != 0 {
        inflate(&f.payload, 15)
    } else {
        f.payload.clone()
    };
    if f.opcode == 2 {
        rmp_serde::from_slice(&bytes).expect("MessagePack")
    } else {
        serde_json::from_slice(&bytes).expect("JSON")
    }
}

/// Connects to `path` in one of [`VARIANTS`].
async fn connect_variant(srv: &TestServer, path: &str, query: &str, deflate: bool) -> RawWs {
    let offer = [("Sec-WebSocket-Extensions", "permessage-deflate")];
    let headers: &[(&str, &str)] = if deflate { &offer } else { &[] };
    RawWs::connect(srv.addr, &format!("{path}{query}"), headers).await
}

/// The sizes of the next `n` frames of type `kind` (others skipped).
async fn sizes_of(c: &mut RawWs, kind: &str, n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while sizes.len() < n {
        let f = data_frame(c).await;
        if message_of(&f)["type"] == kind {
            sizes.push(wire_size(&f));
        }
    }
    sizes
}

/// MFN stream frames of type `kind` over a stream endpoint, in every
/// format: the mean size of `n` of them, or of those that came before
/// `simulation_complete` (a slow reader may be sent `dropped` instead of
/// some of them).
async fn mfn_sizes(
    srv: &TestServer,
    path: &str,
    subscribe: &Value,
    kind: &str,
    n: usize,
) -> Vec<f64> {
    let mut out = Vec::new();
    for (_, query, deflate) in VARIANTS {
        let mut c = connect_variant(srv, path, query, deflate).await;
        c.send_text(r#"{"type":"init","protocol_version":"1.0"}"#)
            .await;
        c.send_text(&subscribe.to_string()).await;
        let mut sizes = Vec::new();
        while sizes.len() < n {
            let f = data_frame(&mut c).await;
            match message_of(&f)["type"].as_str() {
                Some(t) if t == kind => sizes.push(wire_size(&f)),
                Some("simulation_complete") => break,
                _ => {}
            }
        }
        assert!(!sizes.is_empty(), "no {kind} frame");
        out.push(sizes.iter().sum::<usize>() as f64 / sizes.len() as f64);
    }
    out
}

/// FOG monitoring updates as a back end publishes them.
fn fog_updates() -> Vec<(&'static str, &'static str, Value)> {
    let nodes: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("node-{i:02}"), "status": if i % 4 == 0 {"degraded"} else {"online"}, "latency_ms": 12.5 + i as f64 * 3.25}))
        .collect();
    let devices: Vec<Value> = (0..20)
        .map(|i| json!({"id": format!("device-{i:02}"), "cpu_percent": 10.0 + i as f64 * 3.7, "memory_percent": 40.0 + i as f64 * 1.3, "storage_percent": 55.5}))
        .collect();
    vec![
        (
            "nodes",
            "node_status_update",
            json!({"betanet": {"active_nodes": 42, "connections": 318, "avg_latency_ms": 23.75, "packets_processed": 1_284_391}, "p2p": {"connected_peers": 17, "messages_sent": 90_412, "messages_received": 88_107}, "nodes": nodes}),
        ),
        (
            "metrics",
            "metrics_update",
            json!({"overall_status": "healthy", "services": {"scheduler": "healthy", "storage": "healthy", "betanet": "degraded", "p2p": "healthy"}, "cpu_usage": 37.2, "memory_usage": 61.8, "requests_per_second": 1432.5, "error_rate": 0.0021}),
        ),
        (
            "resources",
            "resource_update",
            json!({"averages": {"cpu_percent": 45.1, "memory_percent": 52.4, "storage_percent": 55.5}, "devices": devices}),
        ),
    ]
}

/// Bytes on the wire per frame, JSON against MessagePack and deflate, for
/// MFN `feature_update` and `simulation_state` and FOG monitoring updates.
/// Prints the table of docs/formats.md (`--nocapture`).
#[tokio::test]
async fn wire_sizes_of_mfn_and_fog_frames() {
    let srv = TestServer::start(
        r#"
[[endpoints]]
path = "/ws/stream_features"
handler = "stream_features"
dialect = "mfn"
deflate = true
[[endpoints]]
path = "/ws/simulation_live"
handler = "simulation_live"
dialect = "mfn"
deflate = true
[[endpoints]]
path = "/api/ws/connect"
dialect = "fog"
deflate = true
[limits]
max_message_rate = 0
"#,
    )
    .await;
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    let features = json!({"type":"subscribe","stream_type":"stream_features","stream_id":"f","params":{"grid_size":64,"update_interval_ms":10,"seed":7}});
    rows.push((
        "MFN feature_update".into(),
        mfn_sizes(&srv, "/ws/stream_features", &features, "feature_update", 20).await,
    ));
    for field in [false, true] {
        let sim = json!({"type":"subscribe","stream_type":"simulation_live","stream_id":"s","params":{"grid_size":64,"steps":100,"update_every":10,"include_field":field,"seed":7}});
        let name = if field {
            "MFN simulation_state (with the 64×64 field)"
        } else {
            "MFN simulation_state"
        };
        rows.push((
            name.into(),
            mfn_sizes(&srv, "/ws/simulation_live", &sim, "simulation_state", 10).await,
        ));
    }
    let mut fog_clients = Vec::new();
    for (_, query, deflate) in VARIANTS {
        let mut c = connect_variant(&srv, "/api/ws/connect", query, deflate).await;
        c.send_text(r#"{"type":"subscribe","rooms":["nodes","metrics","resources"]}"#)
            .await;
        sizes_of(&mut c, "subscribe_success", 1).await;
        fog_clients.push(c);
    }
    for (room, kind, data) in fog_updates() {
        let envelope = json!({"type": kind, "room": room, "data": data, "timestamp": "2026-11-29T12:00:00.000Z"});
        srv.publish(room, envelope).await;
        let mut sizes = Vec::new();
        for c in &mut fog_clients {
            sizes.push(sizes_of(c, kind, 1).await[0] as f64);
        }
        rows.push((format!("FOG {kind}"), sizes));
    }
    println!("| Frame | JSON | MessagePack | JSON + deflate | MessagePack + deflate |");
    println!("|---|---:|---:|---:|---:|");
    for (name, s) in &rows {
        let pct = |v: f64| format!("{v:.0} ({:+.0} %)", (v / s[0] - 1.0) * 100.0);
        println!(
            "| {name} | {:.0} | {} | {} | {} |",
            s[0],
            pct(s[1]),
            pct(s[2]),
            pct(s[3])
        );
        assert!(
            s[1] < s[0],
            "{name}: MessagePack is smaller than JSON: {s:?}"
        );
        assert!(s[2] < s[0], "{name}: deflate is smaller than JSON: {s:?}");
    }
}

#[tokio::test]
async fn dialects_picked_by_subprotocol_share_a_channel_each_in_its_shape() {
    // One channel, three subscribers on the native /ws: the native
    // protocol, and FOG and Netra chosen with Sec-WebSocket-Protocol. Each
    // gets every publication in its own dialect's shape, encoded once per
    // dialect, never per subscriber.
    let srv = TestServer::start("[limits]\nmax_message_rate = 0").await;
    let mut subs = Vec::new();
    for (dialect, subscribe) in [
        ("wavecast", json!({"type":"subscribe","channels":["mix"]})),
        ("fog", json!({"type":"subscribe","rooms":["mix"]})),
        (
            "netra",
            json!({"type":"subscribe","payload":{"channels":["mix"]},"correlation_id":"s1"}),
        ),
    ] {
        for _ in 0..2 {
            let headers: &[(&str, &str)] = match dialect {
                "wavecast" => &[],
                "fog" => &[("Sec-WebSocket-Protocol", "fog")],
                _ => &[("Sec-WebSocket-Protocol", "netra")],
            };
            let mut c = RawWs::connect(srv.addr, "/ws", headers).await;
            if dialect != "wavecast" {
                assert_eq!(c.header("sec-websocket-protocol"), Some(dialect));
            }
            c.next_json().await;
            c.send_text(&subscribe.to_string()).await;
            let ok = c.next_json().await;
            assert_eq!(ok["type"], "subscribe_success", "{dialect}: {ok}");
            subs.push((dialect, c));
        }
    }
    let data = json!({"cpu": 0.5});
    for _ in 0..3 {
        assert_eq!(srv.publish("mix", data.clone()).await["delivered"], 6);
    }
    for (dialect, c) in &mut subs {
        for n in 1..=3u64 {
            let v = c.next_json().await;
            match *dialect {
                "wavecast" => {
                    assert_eq!((&v["channel"], &v["data"]), (&json!("mix"), &data), "{v}");
                    assert_eq!(v["offset"], n, "{v}");
                }
                "fog" => {
                    assert_eq!((&v["room"], &v["data"]), (&json!("mix"), &data), "{v}");
                    assert_eq!(v["offset"], n, "{v}");
                }
                _ => {
                    let p = &v["payload"];
                    assert_eq!((&p["channel"], &p["data"]), (&json!("mix"), &data), "{v}");
                    assert_eq!(p["offset"], n, "{v}");
                    assert!(v["timestamp"].is_u64(), "Unix seconds: {v}");
                }
            }
        }
    }
    for format in ["wavecast", "fog", "netra"] {
        let n = srv
            .metric(&format!(
                "wavecast_publication_frames_encoded_total{{format=\"{format}\"}}"
            ))
            .await;
        assert_eq!(n, 3.0, "{format}: 3 publications, 2 subscribers each");
    }
}
