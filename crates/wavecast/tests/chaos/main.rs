//! The chaos harness: faults done to a real `wavecast serve` (and a real
//! redis-server) while a client publishes and another recovers
//! (workload.rs), each reporting acknowledged, delivered, lost, duplicated
//! and reused offsets as one row of the table in docs/reliability.md.
//!
//! Every scenario is bounded in time (a few seconds of load around the
//! fault, 10 s at most to catch up) and asserts its guarantee:
//! - `kill -9` of an embedded node, with `fsync = "5ms"` and `"always"`:
//!   nothing acknowledged is lost, nothing is duplicated, no offset reused;
//! - Redis restarted with its append-only file: the same;
//! - Redis restarted without persistence: what was lost is told
//!   (`recovered: false`), never a silent gap or a reused offset;
//! - Redis stopped (SIGSTOP) for 10 s: publishes fail or wait, none is
//!   lost or made twice (retries carry the idempotency key);
//! - a full disk under the embedded store (a small tmpfs): publishes are
//!   refused while it is full, nothing acknowledged is lost, and
//!   publishing resumes once space is freed.
//!
//! `cargo test -p wavecast --test chaos -- --nocapture` prints the rows.

#[path = "../common/mod.rs"]
mod common;
mod workload;

use std::time::Duration;

use wavecast_testkit::RedisProcess;
use workload::{Load, Report};

const HISTORY: [(&str, &str); 2] = [
    ("WAVECAST_NAMESPACES__H__HISTORY_SIZE", "100000"),
    ("WAVECAST_NAMESPACES__H__MAX_QUEUE_MESSAGES", "100000"),
];
/// Load before and after each fault.
const LOAD: Duration = Duration::from_millis(1500);
const PACE: Duration = Duration::from_millis(1);

fn assert_nothing_lost(r: &Report) {
    assert_eq!(
        (r.lost, r.duplicated, r.reused_offsets),
        (0, 0, 0),
        "{}",
        r.row()
    );
    assert!(r.acked > 100, "too little load: {}", r.row());
}

async fn embedded_kill9(fsync: &str) -> Report {
    let env = [HISTORY[0], HISTORY[1], ("WAVECAST_FSYNC", fsync)];
    let mut srv = common::start(&env);
    let load = Load::start(srv.port, PACE, 16).await;
    tokio::time::sleep(LOAD).await;
    srv.kill9();
    let _srv = srv.respawn();
    tokio::time::sleep(LOAD).await;
    load.finish(&format!("embedded, fsync = \"{fsync}\": kill -9, restart"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_an_embedded_node_with_group_commit() {
    assert_nothing_lost(&embedded_kill9("5ms").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_an_embedded_node_with_fsync_always() {
    assert_nothing_lost(&embedded_kill9("always").await);
}

/// A wavecast node on `redis`.
fn redis_node(redis: &RedisProcess) -> wavecast_testkit::ServerProcess {
    let url = redis.url();
    common::start(&[
        HISTORY[0],
        HISTORY[1],
        ("WAVECAST_ENGINE", "redis"),
        ("WAVECAST_REDIS_URL", url.as_str()),
    ])
}

async fn redis_restart(aof: bool) -> Report {
    let mut redis = RedisProcess::start(aof);
    let srv = redis_node(&redis);
    let load = Load::start(srv.port, PACE, 16).await;
    tokio::time::sleep(LOAD).await;
    redis.restart(aof);
    tokio::time::sleep(LOAD).await;
    let what = if aof {
        "append-only file, fsync always"
    } else {
        "no persistence"
    };
    load.finish(&format!("redis ({what}): kill -9, restart"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_with_aof_loses_nothing() {
    assert_nothing_lost(&redis_restart(true).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_without_persistence_tells_the_client() {
    let r = redis_restart(false).await;
    assert!(r.acked > 100, "too little load: {}", r.row());
    assert_eq!((r.duplicated, r.reused_offsets), (0, 0), "{}", r.row());
    // Redis lost everything: the client must have been told.
    assert!(r.gaps_reported > 0, "{}", r.row());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stall_of_10_s_loses_and_duplicates_nothing() {
    let redis = RedisProcess::start(true);
    let srv = redis_node(&redis);
    let load = Load::start(srv.port, PACE, 16).await;
    tokio::time::sleep(LOAD).await;
    redis.signal("STOP");
    tokio::time::sleep(Duration::from_secs(10)).await;
    redis.signal("CONT");
    tokio::time::sleep(LOAD).await;
    let r = load.finish("redis: SIGSTOP 10 s, SIGCONT").await;
    assert_nothing_lost(&r);
    assert!(
        r.publish_errors > 0,
        "the stall was not noticed: {}",
        r.row()
    );
}

mod disk_full;
