//! Several wavecast nodes on one real redis-server (started by the test on
//! a free port): shared publications in order, atomic offsets, recovery
//! across nodes, the node registry, and a Redis restart.

use wavecast_testkit as common;

use std::sync::Arc;

use common::{offsets_until, subscribe_ok, Event, RedisProcess, TestServer};
use serde_json::json;

fn cfg(redis: &RedisProcess) -> String {
    format!(
        "engine = \"redis\"\nredis_url = \"{}\"\n[namespaces.h]\nhistory_size = 5000\nmax_queue_messages = 5000\n",
        redis.url()
    )
}

#[tokio::test]
async fn three_nodes_share_publications_in_order_with_atomic_offsets() {
    let redis = RedisProcess::start(false);
    let nodes = [
        Arc::new(TestServer::start(&cfg(&redis)).await),
        Arc::new(TestServer::start(&cfg(&redis)).await),
        Arc::new(TestServer::start(&cfg(&redis)).await),
    ];
    let mut on_a = nodes[0].client().await;
    subscribe_ok(&mut on_a, json!({"type":"subscribe","channel":"h:x"})).await;
    let mut on_c = nodes[2].client().await;
    subscribe_ok(&mut on_c, json!({"type":"subscribe","channel":"h:x"})).await;
    // Nodes B and C publish concurrently: offsets must be unique and dense.
    let mut tasks = Vec::new();
    for n in [1usize, 2] {
        let node = nodes[n].clone();
        tasks.push(tokio::spawn(async move {
            let mut offsets = Vec::new();
            for i in 0..100 {
                let (s, v) = node
                    .post(
                        "/api/publish",
                        json!({"channel":"h:x","data":{"node":n,"i":i}}),
                    )
                    .await;
                assert_eq!(s, 200, "{v}");
                offsets.push(v["offset"].as_u64().expect("offset"));
            }
            offsets
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("publisher"));
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=200).collect::<Vec<_>>(),
        "offsets not unique and dense"
    );
    // Subscribers on A and C see every publication, in offset order.
    assert_eq!(
        offsets_until(&mut on_a, 200).await,
        (1..=200).collect::<Vec<_>>()
    );
    assert_eq!(
        offsets_until(&mut on_c, 200).await,
        (1..=200).collect::<Vec<_>>()
    );

    // The registry lists the three nodes.
    let (_, stats) = nodes[0].get("/api/ws/stats").await;
    assert_eq!(stats["engine"], "redis");
    assert_eq!(stats["nodes"].as_array().map(Vec::len), Some(3), "{stats}");
}

#[tokio::test]
async fn recovery_across_nodes_during_publishing() {
    let redis = RedisProcess::start(false);
    let a = TestServer::start(&cfg(&redis)).await;
    let b = Arc::new(TestServer::start(&cfg(&redis)).await);
    let mut c = a.client().await;
    let r = subscribe_ok(&mut c, json!({"type":"subscribe","channel":"h:r"})).await;
    let epoch = r["epoch"].as_str().expect("epoch").to_string();
    for i in 0..10 {
        b.publish("h:r", json!(i)).await;
    }
    assert_eq!(offsets_until(&mut c, 10).await.len(), 10);
    drop(c);
    // While away: 300 more, and publishing continues during the recovery.
    for i in 10..310 {
        b.publish("h:r", json!(i)).await;
    }
    let publisher = {
        let b = b.clone();
        tokio::spawn(async move {
            for i in 310..500 {
                b.publish("h:r", json!(i)).await;
            }
        })
    };
    // Reconnect to the other node and recover.
    let mut c = b.client().await;
    let r = subscribe_ok(
        &mut c,
        json!({"type":"subscribe","channel":"h:r","recover":{"offset":10,"epoch":epoch}}),
    )
    .await;
    assert_eq!(r["recovered"], true, "{r}");
    let got = offsets_until(&mut c, 500).await;
    assert_eq!(got, (11..=500).collect::<Vec<_>>(), "gap or duplicate");
    publisher.await.expect("publisher");
}

#[tokio::test]
async fn redis_restart_service_resumes_and_clients_recover() {
    let mut redis = RedisProcess::start(true);
    let a = TestServer::start(&cfg(&redis)).await;
    let mut c = a.client().await;
    let r = subscribe_ok(&mut c, json!({"type":"subscribe","channel":"h:s"})).await;
    let epoch = r["epoch"].as_str().expect("epoch").to_string();
    for i in 0..5 {
        a.publish("h:s", json!(i)).await;
    }
    assert_eq!(offsets_until(&mut c, 5).await.len(), 5);

    redis.restart(true);
    // The node tells its client to recover once its pub/sub reconnects.
    let notice = match c.next_event().await {
        Event::Json(v) => v,
        other => panic!("connection lost: {other:?}"),
    };
    assert_eq!(notice["type"], "recovery_required", "{notice}");
    assert_eq!(notice["channels"], json!(["h:s"]));
    // Service resumes: publishing works again (retry while the pool
    // reconnects), and the client recovers from its last offset.
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let (s, _) = a
            .post("/api/publish", json!({"channel":"h:s","data":"after"}))
            .await;
        if s == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "publishing did not resume"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = subscribe_ok(
        &mut c,
        json!({"type":"subscribe","channel":"h:s","recover":{"offset":5,"epoch":epoch}}),
    )
    .await;
    assert_eq!(r["recovered"], true, "{r}");
    let v = c.recv().await;
    assert_eq!(
        (v["offset"].clone(), v["data"].clone()),
        (json!(6), json!("after"))
    );
}

#[tokio::test]
async fn lost_redis_history_changes_the_epoch() {
    let mut redis = RedisProcess::start(false);
    let a = TestServer::start(&cfg(&redis)).await;
    for i in 0..3 {
        a.publish("h:e", json!(i)).await;
    }
    let mut c = a.client().await;
    let r = subscribe_ok(&mut c, json!({"type":"subscribe","channel":"h:e"})).await;
    let epoch = r["epoch"].as_str().expect("epoch").to_string();
    redis.restart(false);
    let notice = c.recv().await;
    assert_eq!(notice["type"], "recovery_required");
    let deadline = std::time::Instant::now() + common::WAIT;
    let r = loop {
        let r = c
            .call(json!({"type":"subscribe","channel":"h:e","recover":{"offset":3,"epoch":epoch}}))
            .await;
        if r["type"] == "subscribe_success" {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "subscribe never succeeded: {r}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(r["recovered"], false);
    assert_ne!(r["epoch"], json!(epoch));
}

/// Defect 8: in redis mode `/api/broadcast` cannot count subscribers
/// (every node delivers on its own), so `delivered` is `null`, never a
/// made-up 0, and `nodes` says how many nodes received each channel.
#[tokio::test]
async fn broadcast_in_redis_mode_reports_nodes_not_a_false_zero() {
    let redis = RedisProcess::start(false);
    let a = TestServer::start(&cfg(&redis)).await;
    let b = TestServer::start(&cfg(&redis)).await;
    let mut on_b = b.client().await;
    subscribe_ok(&mut on_b, json!({"type":"subscribe","channel":"h:x"})).await;
    let (s, v) = a
        .post(
            "/api/broadcast",
            json!({"channels":["h:x","h:y"],"data":{"n":1}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["delivered"], json!(null), "{v}");
    assert_eq!(v["channels"], json!({"h:x": null, "h:y": null}), "{v}");
    assert_eq!(v["nodes"], json!({"h:x": 1, "h:y": 0}), "{v}");
    assert_eq!(v["offsets"], json!({"h:x": 1, "h:y": 1}), "{v}");
    let got = on_b.recv().await;
    assert_eq!(
        (got["channel"].clone(), got["data"].clone()),
        (json!("h:x"), json!({"n":1}))
    );
}

/// Defect 8: a broadcast that fails part-way (Redis dies) answers 503 and
/// names exactly which channels were published and which were not, never
/// "nothing was published".
#[tokio::test]
async fn a_broadcast_that_fails_part_way_says_what_was_published() {
    let mut redis = RedisProcess::start(false);
    let a = TestServer::start(&cfg(&redis)).await;
    let mut c = a.client().await;
    subscribe_ok(&mut c, json!({"type":"subscribe","channel":"h:c00000"})).await;
    let channels: Vec<String> = (0..20_000).map(|i| format!("h:c{i:05}")).collect();
    let body = json!({"channels": channels, "data": 1});
    let a = Arc::new(a);
    let broadcast = {
        let a = a.clone();
        tokio::spawn(async move { a.post("/api/broadcast", body).await })
    };
    // The first channel's publication arrives: Redis dies mid-broadcast.
    assert_eq!(c.recv().await["channel"], "h:c00000");
    redis.kill();
    let (s, v) = broadcast.await.expect("broadcast");
    assert!(s == 503 || s == 504, "{s} {v}");
    let published = v["published"]["offsets"]
        .as_object()
        .expect("published offsets");
    let rest: Vec<&str> = v["not_published"]
        .as_array()
        .expect("not_published")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(!published.is_empty() && !rest.is_empty(), "{s} {v}");
    assert_eq!(published.len() + rest.len(), channels.len());
    // The published ones are the first ones, in order; the rest follow.
    let mut names: Vec<&str> = published.keys().map(String::as_str).collect();
    names.extend(&rest);
    assert_eq!(
        names,
        channels.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(v["error"]
        .as_str()
        .is_some_and(|m| m.contains(&format!("published to {} channels", published.len()))));
}

/// Defect 8: a publish retried with the same idempotency key, on any
/// node, is made once: the retry answers the first offset and
/// `duplicate: true`, and subscribers see it once.
#[tokio::test]
async fn an_idempotency_key_makes_a_retry_safe_across_nodes() {
    let redis = RedisProcess::start(false);
    let a = TestServer::start(&cfg(&redis)).await;
    let b = TestServer::start(&cfg(&redis)).await;
    let mut c = b.client().await;
    subscribe_ok(&mut c, json!({"type":"subscribe","channel":"h:i"})).await;
    let publish = |k: &str, n: u32| json!({"channel":"h:i","data":n,"idempotency_key": k});
    let (_, first) = a.post("/api/publish", publish("k1", 1)).await;
    let (_, retry) = b.post("/api/publish", publish("k1", 1)).await;
    let (_, live) = a
        .post(
            "/api/publish",
            json!({"channel":"live","data":1,"idempotency_key":"k1"}),
        )
        .await;
    let (_, other) = a.post("/api/publish", publish("k2", 2)).await;
    assert_eq!(first["offset"], 1, "{first}");
    assert_eq!(
        (retry["offset"].clone(), retry["duplicate"].clone()),
        (json!(1), json!(true)),
        "{retry}"
    );
    assert_ne!(
        live["duplicate"],
        json!(true),
        "keys are per channel: {live}"
    );
    assert_eq!(other["offset"], 2, "{other}");
    assert_eq!(offsets_until(&mut c, 2).await, vec![1, 2]);
}

#[tokio::test]
async fn many_concurrent_publishes_all_succeed_in_order_per_channel() {
    const CHANNELS: usize = 4;
    const PER_CHANNEL: u64 = 500;
    let redis = RedisProcess::start(false);
    let a = TestServer::start(&cfg(&redis)).await;
    let b = TestServer::start(&cfg(&redis)).await;
    let mut subscribers = Vec::new();
    for ch in 0..CHANNELS {
        let mut c = b.client().await;
        subscribe_ok(
            &mut c,
            json!({"type":"subscribe","channel":format!("h:o{ch}")}),
        )
        .await;
        subscribers.push(c);
    }
    // 2,000 publishes in flight at once on node A, interleaved over the
    // channels. `join_all` polls them first in this order, so each one is
    // queued on its channel's Redis pipeline in this order.
    let hub = &a.state.hub;
    let names: Vec<String> = (0..CHANNELS).map(|ch| format!("h:o{ch}")).collect();
    let mut publishes = Vec::new();
    for i in 0..PER_CHANNEL {
        for name in &names {
            let data = bytes::Bytes::from(format!("{{\"i\":{i}}}"));
            publishes.push(hub.publish(name, "publication", data, None));
        }
    }
    let results = futures_util::future::join_all(publishes).await;
    for (n, r) in results.iter().enumerate() {
        let p = r
            .as_ref()
            .unwrap_or_else(|e| panic!("publish {n} failed: {e}"));
        let i = (n / CHANNELS) as u64;
        assert_eq!(
            p.offset,
            Some(i + 1),
            "publish {n} took an offset out of order"
        );
    }
    // Node B's subscribers see each channel's publications in that order.
    for (ch, c) in subscribers.iter_mut().enumerate() {
        for i in 0..PER_CHANNEL {
            let v = c.recv().await;
            assert_eq!(v["type"], "publication", "{v}");
            assert_eq!(
                (v["offset"].as_u64(), v["data"]["i"].as_u64()),
                (Some(i + 1), Some(i)),
                "channel h:o{ch}: {v}"
            );
        }
    }
}

#[tokio::test]
async fn publishing_resumes_after_redis_forgets_its_scripts() {
    let redis = RedisProcess::start(false);
    let a = TestServer::start(&cfg(&redis)).await;
    let mut c = a.client().await;
    subscribe_ok(&mut c, json!({"type":"subscribe","channel":"h:f"})).await;
    a.publish("h:f", json!(1)).await;
    // SCRIPT FLUSH: the next EVALSHA answers NOSCRIPT, and the broker
    // runs the script by its body instead.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", redis.port)).expect("connect");
        s.set_read_timeout(Some(common::WAIT)).expect("timeout");
        s.write_all(b"SCRIPT FLUSH\r\n").expect("write");
        let mut reply = [0u8; 5];
        s.read_exact(&mut reply).expect("reply");
        assert_eq!(&reply, b"+OK\r\n");
    }
    let (s, v) = a
        .post("/api/publish", json!({"channel":"h:f","data":2}))
        .await;
    assert_eq!((s, v["offset"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(offsets_until(&mut c, 2).await, vec![1, 2]);
}

/// redis-server with TLS on a second port (`--tls-port`), keeping its
/// plain port for the test kit's start check.
fn tls_redis(cert: &common::TestCert) -> (RedisProcess, u16) {
    let tls_port = common::free_port();
    let (port, cert_file, key_file) = (
        tls_port.to_string(),
        cert.cert_file.display().to_string(),
        cert.key_file.display().to_string(),
    );
    let redis = RedisProcess::start_with(
        false,
        &[
            "--tls-port",
            &port,
            "--tls-cert-file",
            &cert_file,
            "--tls-key-file",
            &key_file,
            "--tls-auth-clients",
            "no",
        ],
    );
    let deadline = std::time::Instant::now() + common::WAIT;
    while !common::listening(tls_port) {
        assert!(std::time::Instant::now() < deadline, "no TLS port");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (redis, tls_port)
}

fn tls_cfg(port: u16, ca: &common::TestCert) -> String {
    format!(
        "engine = \"redis\"\nredis_url = \"rediss://127.0.0.1:{port}\"\nredis_ca_file = {:?}\n",
        ca.cert_file.display().to_string()
    )
}

#[tokio::test]
async fn rediss_speaks_tls_and_checks_the_certificate() {
    let dir = common::temp_dir("rediss");
    let cert = common::TestCert::generate(&dir, "redis");
    let (_redis, port) = tls_redis(&cert);
    let node = TestServer::start(&tls_cfg(port, &cert)).await;
    let mut c = node.client().await;
    subscribe_ok(&mut c, json!({"type":"subscribe","channel":"news"})).await;
    for i in 0..3 {
        let (s, v) = node
            .post("/api/publish", json!({"channel":"news","data":{"i":i}}))
            .await;
        assert_eq!(s, 200, "{v}");
    }
    assert_eq!(offsets_until(&mut c, 3).await, vec![1, 2, 3]);
    // Trusting another certificate: Redis's is refused, nothing is sent.
    let other = common::TestCert::generate(&dir, "other");
    let wrong = TestServer::start(&tls_cfg(port, &other)).await;
    let (s, v) = wrong
        .post("/api/publish", json!({"channel":"news","data":{"i":9}}))
        .await;
    assert_eq!(s, 503, "{v}");
    let (s, _) = node
        .post("/api/publish", json!({"channel":"news","data":{"i":3}}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        offsets_until(&mut c, 4).await,
        vec![4],
        "no publication from the refused node"
    );
}
