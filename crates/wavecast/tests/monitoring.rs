//! End to end: a FOG dashboard connected to a fresh `wavecast serve`
//! (default configuration) and subscribed to the six monitoring rooms
//! receives each room's first message within the room's interval, in
//! the FOG shape `{type, room, data, timestamp}`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use wavecast_testkit::ws::WsClient;

#[tokio::test]
async fn a_fresh_server_feeds_the_six_rooms() {
    let srv = common::start(&[]);
    let mut c = WsClient::connect(&format!("ws://127.0.0.1:{}/api/ws/connect", srv.port)).await;
    assert_eq!(c.recv().await["type"], "connection_established");
    // (room, event type, interval)
    let rooms = [
        ("nodes", "node_status_update", 5),
        ("tasks", "task_progress", 2),
        ("metrics", "metrics_update", 10),
        ("alerts", "alert_summary", 10),
        ("resources", "resource_update", 15),
        ("topology", "topology_update", 5),
    ];
    let names: Vec<&str> = rooms.iter().map(|r| r.0).collect();
    c.send(json!({"type":"subscribe","rooms": names})).await;
    let subscribed = Instant::now();
    let mut first: BTreeMap<String, (Duration, serde_json::Value)> = BTreeMap::new();
    while first.len() < rooms.len() {
        assert!(subscribed.elapsed() < Duration::from_secs(20), "{first:?}");
        let v = c.recv().await;
        let Some(room) = v["room"].as_str() else {
            continue;
        };
        first
            .entry(room.to_string())
            .or_insert((subscribed.elapsed(), v.clone()));
    }
    for (room, event, secs) in rooms {
        let (after, v) = &first[room];
        assert!(
            *after <= Duration::from_millis(secs * 1000 + 1500),
            "{room}: first message after {after:?}, interval {secs}s"
        );
        assert_eq!(v["type"], event, "{v}");
        assert!(v["data"].is_object(), "{v}");
        assert!(v["timestamp"].is_string(), "{v}");
    }
    assert_eq!(first["nodes"].1["data"]["cluster"]["nodes"], 1);
    assert!(first["resources"].1["data"]["memory"]["total_bytes"].as_u64() > Some(0));
    let (status, body) = common::http(srv.port, "GET", "/api/ws/stats", "");
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(stats["rooms_created"], 6, "{stats}");
    assert_eq!(stats["publishers_active"], 6, "{stats}");
}
