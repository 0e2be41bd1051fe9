//! Write coalescing and direct writes (`[delivery]`): under load a burst of
//! publications to one subscriber leaves in far fewer writes than
//! publications; on a quiet server a lone publication is written at once,
//! by the delivering thread itself.
//!
//! The server-wide `socket_writes_total` counts the writes of the test's
//! WebSocket connections and nothing else.

use wavecast_testkit as common;

use std::time::Duration;

use common::{TestServer, WsClient};
use serde_json::json;

const N: u64 = 200;

async fn subscribed(srv: &TestServer, channel: &str) -> WsClient {
    let mut c = srv.client().await;
    let r = c.call(json!({"type":"subscribe","channel":channel})).await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    c
}

/// Receives publications until `n` arrived; returns their `i` fields.
async fn receive(c: &mut WsClient, n: u64) -> Vec<u64> {
    let n = n as usize;
    let mut got = Vec::new();
    while got.len() < n {
        let v = c.recv().await;
        if v["type"] == "publication" {
            got.push(v["data"]["i"].as_u64().expect("i"));
        }
    }
    got
}

#[tokio::test]
async fn a_burst_under_load_shares_writes() {
    // Any delivery rate counts as busy; a connection writes at most once
    // per 50 ms while busy.
    let srv =
        TestServer::start("[delivery]\ncoalesce_window = \"50ms\"\ncoalesce_above = 1\n").await;
    let mut c = subscribed(&srv, "burst").await;
    // The rate is measured over 10 ms windows: publish until the server
    // counts as busy (its first hold), then measure a burst.
    let mut warm = 0;
    while srv.metric("wavecast_write_holds_total").await == 0.0 {
        assert!(warm < 10_000, "the server never counted as busy");
        srv.publish("burst", json!({"i": warm})).await;
        warm += 1;
    }
    assert_eq!(receive(&mut c, warm).await.len() as u64, warm);
    let writes_before = srv.metric("wavecast_socket_writes_total").await;
    let direct_before = srv.metric("wavecast_direct_writes_total").await;
    for i in 0..N {
        srv.publish("burst", json!({"i": i})).await;
    }
    let got = receive(&mut c, N).await;
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "all, in order");
    let writes = srv.metric("wavecast_socket_writes_total").await - writes_before;
    assert!(
        writes >= 1.0 && writes <= (N / 10) as f64,
        "{N} publications took {writes} writes"
    );
    assert!(srv.metric("wavecast_write_holds_total").await > 0.0);
    assert_eq!(
        srv.metric("wavecast_direct_writes_total").await,
        direct_before,
        "a busy server leaves writing to the writers"
    );
}

#[tokio::test]
async fn a_lone_publication_on_a_quiet_server_is_written_at_once() {
    // A hold would last 30 s, longer than the test waits: the publication
    // arrives only if it was not held.
    let srv = TestServer::start("[delivery]\ncoalesce_window = \"30s\"\n").await;
    let mut c = subscribed(&srv, "quiet").await;
    let writes_before = srv.metric("wavecast_socket_writes_total").await;
    srv.publish("quiet", json!({"i": 7})).await;
    let got = tokio::time::timeout(Duration::from_secs(5), receive(&mut c, 1))
        .await
        .expect("the publication was held back");
    assert_eq!(got, vec![7]);
    let writes = srv.metric("wavecast_socket_writes_total").await - writes_before;
    assert_eq!(writes, 1.0, "one publication, one write");
    assert_eq!(srv.metric("wavecast_write_holds_total").await, 0.0);
}

#[tokio::test]
async fn a_quiet_server_writes_idle_subscribers_from_the_delivering_thread() {
    const SUBSCRIBERS: usize = 20;
    let srv = TestServer::start("").await;
    let mut clients = Vec::new();
    for _ in 0..SUBSCRIBERS {
        clients.push(subscribed(&srv, "direct").await);
    }
    let writes_before = srv.metric("wavecast_socket_writes_total").await;
    let direct_before = srv.metric("wavecast_direct_writes_total").await;
    let r = srv.publish("direct", json!({"i": 1})).await;
    assert_eq!(r["delivered"], SUBSCRIBERS);
    for c in &mut clients {
        assert_eq!(receive(c, 1).await, vec![1]);
    }
    let writes = srv.metric("wavecast_socket_writes_total").await - writes_before;
    let direct = srv.metric("wavecast_direct_writes_total").await - direct_before;
    assert_eq!(writes, SUBSCRIBERS as f64, "one write per subscriber");
    assert_eq!(direct, writes, "every one by the delivering thread");
    assert_eq!(
        srv.metric("wavecast_publications_delivered_total").await,
        SUBSCRIBERS as f64
    );
}

#[tokio::test]
async fn with_direct_writes_off_every_frame_is_written_by_its_connection() {
    let srv = TestServer::start("[delivery]\ndirect_writes = false\n").await;
    let mut c = subscribed(&srv, "tasks").await;
    for i in 0..10 {
        srv.publish("tasks", json!({"i": i})).await;
    }
    assert_eq!(receive(&mut c, 10).await, (0..10).collect::<Vec<_>>());
    assert_eq!(srv.metric("wavecast_direct_writes_total").await, 0.0);
    assert!(srv.metric("wavecast_socket_writes_total").await >= 10.0);
}

#[tokio::test]
async fn coalescing_off_writes_every_frame_on_its_own_wake() {
    // With coalescing off the writer never holds, whatever the load.
    let srv =
        TestServer::start("[delivery]\ncoalesce_window = \"0ms\"\ncoalesce_above = 1\n").await;
    let mut c = subscribed(&srv, "off").await;
    for i in 0..N {
        srv.publish("off", json!({"i": i})).await;
    }
    let got = receive(&mut c, N).await;
    assert_eq!(got.len() as u64, N);
    assert_eq!(srv.metric("wavecast_write_holds_total").await, 0.0);
}
