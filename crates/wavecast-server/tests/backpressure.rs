//! Backpressure against a deliberately stalled reader (a client with a tiny
//! socket receive buffer that stops reading), for every strategy, and
//! slow-client isolation.
//!
//! Invariant checked for the dropping strategies: publications received +
//! the sum of `dropped` counts = publications published.

use wavecast_testkit as common;

use std::time::{Duration, Instant};

use common::{Event, TestServer, WsClient};
use serde_json::{json, Value};

/// Publications per test: 400 × 32 KiB = 12.5 MiB, far more than the
/// kernel's socket buffers and the 50-frame queue can hold.
const N: usize = 400;
const PAYLOAD: usize = 32 * 1024;

fn config(strategy: &str) -> String {
    format!(
        "[namespaces.bp]\nbackpressure = \"{strategy}\"\nmax_queue_messages = 50\nmax_queue_bytes = 104857600\n"
    )
}

async fn publish_all(srv: &TestServer, channel: &str) -> Duration {
    let pad = "x".repeat(PAYLOAD);
    let mut slowest = Duration::ZERO;
    for i in 0..N {
        let t = Instant::now();
        srv.publish(channel, json!({"i": i, "pad": pad})).await;
        slowest = slowest.max(t.elapsed());
    }
    slowest
}

/// Reads everything up to a personal "sentinel" message (never dropped,
/// queued after every publication) and then a pong (so dropped notices
/// emitted when the queue drained are in). Returns the indices received
/// and the frames in order.
async fn drain_until_sentinel(srv: &TestServer, c: &mut WsClient) -> (Vec<u64>, Vec<Value>) {
    let (s, _) = srv
        .post(
            "/api/send",
            json!({"connection_id": c.connection_id, "type": "sentinel", "data": null}),
        )
        .await;
    assert_eq!(s, 200);
    let mut indices = Vec::new();
    let mut frames = Vec::new();
    let mut sent_ping = false;
    loop {
        let v = c.recv().await;
        match v["type"].as_str() {
            Some("publication") => indices.push(v["data"]["i"].as_u64().expect("index")),
            Some("sentinel") => {
                c.send(json!({"type":"ping"})).await;
                sent_ping = true;
            }
            Some("pong") if sent_ping => break,
            Some("dropped") => {}
            other => panic!("unexpected frame {other:?}"),
        }
        if v["type"] != "publication" {
            frames.push(v.clone());
        } else {
            frames.push(json!({"type":"publication","i": v["data"]["i"]}));
        }
    }
    (indices, frames)
}

fn dropped_sum(frames: &[Value]) -> u64 {
    frames
        .iter()
        .filter(|f| f["type"] == "dropped")
        .map(|f| {
            assert_eq!(f["channel"], "bp:feed");
            f["count"].as_u64().expect("count")
        })
        .sum()
}

async fn run_dropping(strategy: &str) -> (Vec<u64>, Vec<Value>) {
    let srv = TestServer::start(&config(strategy)).await;
    let mut c = srv.stalled_client().await;
    assert_eq!(
        c.call(json!({"type":"subscribe","channel":"bp:feed"}))
            .await["type"],
        "subscribe_success"
    );
    publish_all(&srv, "bp:feed").await;
    let (indices, frames) = drain_until_sentinel(&srv, &mut c).await;
    let dropped = dropped_sum(&frames);
    assert!(
        dropped > 0,
        "{strategy}: nothing was dropped; the test did not stall the reader"
    );
    assert_eq!(
        indices.len() as u64 + dropped,
        N as u64,
        "{strategy}: received + dropped != published"
    );
    assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "{strategy}: out of order"
    );
    assert_eq!(
        srv.metric("wavecast_buffer_overflow_total").await,
        dropped as f64
    );
    (indices, frames)
}

#[tokio::test]
async fn drop_oldest_keeps_the_latest() {
    let (indices, frames) = run_dropping("drop_oldest").await;
    assert_eq!(indices.last(), Some(&(N as u64 - 1)));
    // Each gap in the sequence is announced, with its exact size, right
    // before the first frame after it.
    let mut last: Option<u64> = None;
    let mut pending = 0;
    for f in &frames {
        match f["type"].as_str() {
            Some("dropped") => pending += f["count"].as_u64().unwrap_or(0),
            Some("publication") => {
                let i = f["i"].as_u64().unwrap_or(0);
                let expected_gap = last.map_or(i, |l| i - l - 1);
                assert_eq!(
                    pending, expected_gap,
                    "gap before {i} not announced exactly"
                );
                pending = 0;
                last = Some(i);
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn drop_newest_keeps_the_oldest() {
    let (indices, _) = run_dropping("drop_newest").await;
    let expected: Vec<u64> = (0..indices.len() as u64).collect();
    assert_eq!(
        indices, expected,
        "drop_newest must deliver an unbroken prefix"
    );
}

#[tokio::test]
async fn sample_thins_the_queue() {
    let (indices, _) = run_dropping("sample").await;
    assert_eq!(indices.last(), Some(&(N as u64 - 1)));
    assert_eq!(indices[0], 0);
}

#[tokio::test]
async fn compress_is_an_alias_of_sample() {
    let (indices, _) = run_dropping("compress").await;
    assert_eq!(indices.last(), Some(&(N as u64 - 1)));
}

#[tokio::test]
async fn disconnect_closes_slow_consumer_with_4008() {
    let srv = TestServer::start(&config("disconnect")).await;
    let mut c = srv.stalled_client().await;
    c.call(json!({"type":"subscribe","channel":"bp:feed"}))
        .await;
    publish_all(&srv, "bp:feed").await;
    srv.wait_metric("wavecast_buffer_overflow_total", 1.0).await;
    // The client now reads: it gets what the kernel buffered, then 4008.
    let mut received = 0;
    let code = loop {
        match c.next_event().await {
            Event::Json(v) if v["type"] == "publication" => received += 1,
            Event::Json(_) => {}
            Event::Close(code, reason) => {
                assert_eq!(reason, "slow consumer");
                break code;
            }
            Event::End => panic!("no close frame"),
        }
    };
    assert_eq!(code, Some(4008));
    assert!(received < N);
    drop(c);
    srv.wait_metric("wavecast_disconnects_total{reason=\"slow_consumer\"}", 1.0)
        .await;
    // Later publications reach nobody: the connection is gone.
    assert_eq!(srv.publish("bp:feed", json!(1)).await["delivered"], 0);
}

#[tokio::test]
async fn stalled_client_does_not_delay_healthy_one() {
    let srv = TestServer::start(&config("drop_oldest")).await;
    let mut stalled = srv.stalled_client().await;
    stalled
        .call(json!({"type":"subscribe","channel":"bp:feed"}))
        .await;
    let mut healthy = srv.client().await;
    healthy
        .call(json!({"type":"subscribe","channel":"bp:feed"}))
        .await;

    let reader = tokio::spawn(async move {
        let mut next = 0u64;
        while next < N as u64 {
            let v = healthy.recv().await;
            assert_eq!(v["type"], "publication", "healthy client got {}", v["type"]);
            assert_eq!(
                v["data"]["i"], next,
                "healthy client lost or reordered a frame"
            );
            next += 1;
        }
        healthy
    });
    let slowest_publish = publish_all(&srv, "bp:feed").await;
    let _healthy = tokio::time::timeout(common::WAIT, reader)
        .await
        .expect("healthy client was delayed past the bound")
        .expect("reader");
    // The stalled client overflowed while the healthy one got everything.
    assert!(srv.metric("wavecast_buffer_overflow_total").await > 0.0);
    assert!(
        slowest_publish < Duration::from_secs(2),
        "a publish took {slowest_publish:?}: the stalled client blocked the publisher"
    );
    let (frames, _) = (
        srv.state
            .hub
            .connection(&stalled.connection_id)
            .expect("stalled still open")
            .outbound
            .depth(),
        (),
    );
    assert!(frames.0 <= 50, "queue bound broken: {frames:?}");
    drop(stalled);
}
