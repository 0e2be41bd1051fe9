//! Delivery guarantees with real server processes: `kill -9` of an
//! embedded-storage node and of a redis-backed node, with clients that
//! come back (to the same or another node) and recover everything.

mod common;

use serde_json::json;
use wavecast_testkit::{offsets_until, subscribe_ok, RedisProcess, ServerProcess, WsClient};

const ENV: [(&str, &str); 2] = [
    ("WAVECAST_NAMESPACES__H__HISTORY_SIZE", "5000"),
    ("WAVECAST_NAMESPACES__H__MAX_QUEUE_MESSAGES", "5000"),
];

async fn connect(srv: &ServerProcess) -> WsClient {
    let mut c = WsClient::connect(&srv.ws_url()).await;
    assert_eq!(c.recv().await["type"], "connection_established");
    c
}

#[tokio::test]
async fn kill_9_of_an_embedded_node_loses_nothing_acknowledged() {
    let mut node = common::start(&ENV);
    let mut ws = connect(&node).await;
    let r = subscribe_ok(&mut ws, json!({"type":"subscribe","channel":"h:k"})).await;
    let epoch = r["epoch"].as_str().expect("epoch").to_string();
    drop(ws);
    // Away for 1,000 publications, then the node dies without warning.
    for i in 1..=1000u64 {
        assert_eq!(node.publish("h:k", &json!({"i": i})).await["offset"], i);
    }
    node.kill9();
    let node = node.respawn();
    let mut ws = connect(&node).await;
    let r = subscribe_ok(
        &mut ws,
        json!({"type":"subscribe","channel":"h:k","recover":{"offset":0,"epoch":epoch}}),
    )
    .await;
    assert_eq!(
        (r["recovered"].clone(), r["epoch"].clone()),
        (json!(true), json!(epoch))
    );
    assert_eq!(
        offsets_until(&mut ws, 1000).await,
        (1..=1000).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn kill_9_of_a_redis_node_clients_move_and_recover() {
    let redis = RedisProcess::start(false);
    let url = redis.url();
    let env = [
        ENV[0],
        ENV[1],
        ("WAVECAST_ENGINE", "redis"),
        ("WAVECAST_REDIS_URL", url.as_str()),
    ];
    let mut a = common::start(&env);
    let b = common::start(&env);
    let mut ws = connect(&a).await;
    let sub = subscribe_ok(&mut ws, json!({"type":"subscribe","channel":"h:m"})).await;
    let epoch = sub["epoch"].as_str().expect("epoch").to_string();
    for i in 1..=50u64 {
        b.publish("h:m", &json!(i)).await;
    }
    let seen = offsets_until(&mut ws, 50).await;
    assert_eq!(seen.len(), 50);
    a.kill9();
    // The client notices (its socket dies) and moves to node B.
    assert_eq!(
        ws.expect_close().await,
        None,
        "the dead node's socket never closed"
    );
    for i in 51..=120u64 {
        b.publish("h:m", &json!(i)).await;
    }
    let mut ws = connect(&b).await;
    let r = subscribe_ok(
        &mut ws,
        json!({"type":"subscribe","channel":"h:m","recover":{"offset":50,"epoch":epoch}}),
    )
    .await;
    assert_eq!(r["recovered"], true, "{r}");
    assert_eq!(
        offsets_until(&mut ws, 120).await,
        (51..=120).collect::<Vec<_>>()
    );
}
