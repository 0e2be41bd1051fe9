//! Graceful shutdown: queued frames are flushed, clients get 1001, and the
//! server returns within `shutdown_timeout` even with a stalled client.

use wavecast_testkit as common;

use std::time::{Duration, Instant};

use common::{Event, TestServer};
use serde_json::json;

#[tokio::test]
async fn shutdown_flushes_queues_and_closes_with_1001() {
    let mut srv = TestServer::start("").await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = srv.client().await;
        c.call(json!({"type":"subscribe","channel":"g"})).await;
        clients.push(c);
    }
    for i in 0..200 {
        srv.publish("g", json!(i)).await;
    }
    srv.stop();
    for c in &mut clients {
        let mut next = 0;
        let code = loop {
            match c.next_event().await {
                Event::Json(v) if v["type"] == "publication" => {
                    assert_eq!(v["data"], next);
                    next += 1;
                }
                Event::Json(_) => {}
                Event::Close(code, reason) => {
                    assert_eq!(reason, "server shutting down");
                    break code;
                }
                Event::End => panic!("no close frame"),
            }
        };
        assert_eq!(code, Some(1001));
        assert_eq!(next, 200, "queued publications were lost at shutdown");
    }
    drop(clients);
    let handle = srv.handle.take().expect("handle");
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("server did not stop")
        .expect("join")
        .expect("run");
    assert!(
        tokio::net::TcpStream::connect(srv.addr).await.is_err(),
        "still accepting"
    );
}

#[tokio::test]
async fn shutdown_is_bounded_with_a_stalled_client() {
    let mut srv = TestServer::start("shutdown_timeout = \"1s\"").await;
    let mut c = srv.stalled_client().await;
    c.call(json!({"type":"subscribe","channel":"g"})).await;
    let pad = "x".repeat(64 * 1024);
    for i in 0..200 {
        srv.publish("g", json!({"i": i, "pad": pad})).await;
    }
    assert_eq!(srv.get("/ready").await.0, 200);
    let started = Instant::now();
    srv.stop();
    let handle = srv.handle.take().expect("handle");
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("shutdown exceeded its bound")
        .expect("join")
        .expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(c);
}

#[tokio::test]
async fn shutdown_delivers_a_backlogged_queue() {
    // 300 × 32 KiB is far more than the kernel buffers hold, so most of it
    // is still in the server's queue when the shutdown starts.
    let mut srv = TestServer::start("[namespaces.default]\nmax_queue_bytes = 67108864").await;
    let mut c = srv.stalled_client().await;
    c.call(json!({"type":"subscribe","channel":"g"})).await;
    let pad = "x".repeat(32 * 1024);
    for i in 0..300 {
        srv.publish("g", json!({"i": i, "pad": pad})).await;
    }
    let queued = srv
        .state
        .hub
        .connection(&c.connection_id)
        .expect("open")
        .outbound
        .depth()
        .0;
    assert!(
        queued > 50,
        "only {queued} frames queued; the test needs a backlog"
    );
    srv.stop();
    let mut next = 0;
    let code = loop {
        match c.next_event().await {
            Event::Json(v) if v["type"] == "publication" => {
                assert_eq!(v["data"]["i"], next);
                next += 1;
            }
            Event::Json(v) => assert_ne!(v["type"], "dropped"),
            Event::Close(code, _) => break code,
            Event::End => panic!("no close frame"),
        }
    };
    assert_eq!(next, 300, "queued publications were lost at shutdown");
    assert_eq!(code, Some(1001));
}
