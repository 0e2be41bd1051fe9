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

/// Subscribes to `channel` and returns its epoch.
async fn epoch_of(srv: &ServerProcess, channel: &str) -> String {
    let mut ws = connect(srv).await;
    let r = subscribe_ok(&mut ws, json!({"type":"subscribe","channel": channel})).await;
    r["epoch"].as_str().expect("epoch").to_string()
}

/// Recovers `channel` from `offset` in `epoch`; returns the reply.
async fn recover(
    srv: &ServerProcess,
    channel: &str,
    offset: u64,
    epoch: &str,
) -> serde_json::Value {
    let mut ws = connect(srv).await;
    subscribe_ok(
        &mut ws,
        json!({"type":"subscribe","channel": channel,"recover":{"offset": offset,"epoch": epoch}}),
    )
    .await
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Restoring a copy of the data directory rewinds every log: offsets after
/// the copy would be handed out again, so every epoch changes and a client
/// that saw them is told instead of resuming across a silent gap.
#[tokio::test]
async fn a_restored_backup_changes_every_epoch() {
    let mut srv = common::start(&ENV);
    let epoch = epoch_of(&srv, "h:b").await;
    for i in 1..=5u64 {
        srv.publish("h:b", &json!(i)).await;
    }
    srv.stop();
    let backup = srv.data.with_extension("backup");
    copy_dir(&srv.data, &backup);
    let mut srv = srv.respawn();
    for i in 6..=8u64 {
        srv.publish("h:b", &json!(i)).await;
    }
    srv.stop();
    // The operator restores the backup: offsets 6..8 are gone.
    std::fs::remove_dir_all(&srv.data).expect("rm");
    copy_dir(&backup, &srv.data);
    let _ = std::fs::remove_dir_all(&backup);
    let srv = srv.respawn();
    srv.publish("h:b", &json!("other 6")).await;
    srv.publish("h:b", &json!("other 7")).await;
    let r = recover(&srv, "h:b", 7, &epoch).await;
    assert_eq!(r["recovered"], false, "{r}");
    assert_ne!(r["epoch"], json!(epoch), "{r}");
}

/// A machine that restarted while the store was open may have lost up to
/// one fsync interval: the epochs change. (The boot id is read from a file
/// the test controls.)
#[tokio::test]
async fn a_machine_crash_changes_every_epoch_and_a_killed_process_does_not() {
    let boot = wavecast_testkit::temp_dir("boot").join("boot_id");
    std::fs::write(&boot, "boot-1").expect("boot id");
    let boot_path = boot.display().to_string();
    let env = [
        ENV[0],
        ENV[1],
        ("WAVECAST_BOOT_ID_FILE", boot_path.as_str()),
    ];
    let mut srv = common::start(&env);
    let epoch = epoch_of(&srv, "h:c").await;
    srv.publish("h:c", &json!(1)).await;
    srv.kill9();
    let mut srv = srv.respawn();
    let r = recover(&srv, "h:c", 1, &epoch).await;
    assert_eq!(
        (r["recovered"].clone(), r["epoch"].clone()),
        (json!(true), json!(epoch))
    );
    srv.kill9();
    std::fs::write(&boot, "boot-2").expect("boot id");
    let srv = srv.respawn();
    let r = recover(&srv, "h:c", 1, &epoch).await;
    assert_eq!(r["recovered"], false, "{r}");
    assert_ne!(r["epoch"], json!(epoch));
}

/// Redis restarted from an RDB snapshot lost what came after it: the
/// generation grows, every epoch changes, and a recovering client is told.
#[tokio::test]
async fn a_redis_restart_from_rdb_changes_every_epoch() {
    let mut redis = RedisProcess::start(false);
    let url = redis.url();
    let env = [
        ENV[0],
        ENV[1],
        ("WAVECAST_ENGINE", "redis"),
        ("WAVECAST_REDIS_URL", url.as_str()),
    ];
    let srv = common::start(&env);
    let epoch = epoch_of(&srv, "h:r").await;
    for i in 1..=3u64 {
        srv.publish("h:r", &json!(i)).await;
    }
    redis.save();
    for i in 4..=6u64 {
        srv.publish("h:r", &json!(i)).await;
    }
    redis.restart(false);
    // Publishing resumes once the node reconnects; offsets 4.. are handed
    // out again for other publications.
    let deadline = std::time::Instant::now() + common::WAIT;
    let mut ws = connect(&srv).await;
    let r = loop {
        let r = ws
            .call(json!({"type":"subscribe","channel":"h:r","recover":{"offset":6,"epoch":epoch}}))
            .await;
        if r["type"] == "subscribe_success" {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(r["recovered"], false, "{r}");
    assert_ne!(r["epoch"], json!(epoch), "{r}");
}

/// Redis with a password: `redis://:password@host:port` authenticates, a
/// wrong password keeps the node unready, and no password ever appears in
/// the server's log.
#[tokio::test]
async fn redis_auth_works_and_passwords_never_reach_the_log() {
    let redis = RedisProcess::start_with(false, &["--requirepass", "s3cr3t-pw-4417"]);
    let url = |pw: &str| format!("redis://:{pw}@127.0.0.1:{}", redis.port);
    let start = |redis_url: &str| {
        common::start(&[
            ("WAVECAST_ENGINE", "redis"),
            ("WAVECAST_REDIS_URL", redis_url),
            ("WAVECAST_LOG_LEVEL", "debug"),
        ])
    };
    let wrong = start(&url("wrong-pw-9021"));
    let ok = start(&url("s3cr3t-pw-4417"));
    assert_eq!(ok.publish("pw", &json!(1)).await["channel"], "pw");
    // The wrong password: the node stays unready and says why.
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let (status, _) = common::http_status(wrong.port, "/ready");
        if status == 503 && wrong.log_text().contains("AUTH") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no AUTH failure logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (srv, secret) in [(&wrong, "wrong-pw-9021"), (&ok, "s3cr3t-pw-4417")] {
        let log = srv.log_text();
        assert!(!log.is_empty());
        assert!(
            !log.contains(secret),
            "the password reached the log:\n{log}"
        );
    }
}

/// Redis 6 ACL users: `redis://user:password@host:port/db` sends
/// `AUTH user password` (the password %-decoded, so it may hold `@` or
/// `:`), selects the database, and the password reaches no log line.
#[tokio::test]
async fn redis_acl_user_and_database_work_and_the_password_stays_out_of_the_log() {
    let redis = RedisProcess::start_with(
        false,
        &[
            "--user",
            "default",
            "off",
            "--user",
            "app",
            "on",
            ">p@ss:7731-secret",
            "~*",
            "&*",
            "+@all",
        ],
    );
    let url = format!(
        "redis://app:p%40ss%3A7731-secret@127.0.0.1:{}/2",
        redis.port
    );
    let srv = common::start(&[
        ("WAVECAST_ENGINE", "redis"),
        ("WAVECAST_REDIS_URL", url.as_str()),
        ("WAVECAST_LOG_LEVEL", "debug"),
    ]);
    let v = srv.publish("acl", &json!(1)).await;
    assert_eq!(v["channel"], "acl", "{v}");
    let (status, _) = common::http_status(srv.port, "/ready");
    assert_eq!(status, 200);
    let log = srv.log_text();
    assert!(!log.is_empty());
    for secret in ["p@ss:7731-secret", "p%40ss%3A7731-secret", "7731-secret"] {
        assert!(
            !log.contains(secret),
            "the password reached the log:\n{log}"
        );
    }
}

/// A publish stored just before a crash, whose answer the publisher never
/// got, is retried with the same idempotency key after the restart: the
/// retry answers the first offset with `duplicate: true` instead of
/// publishing twice (found by the chaos harness: keys lived in memory only).
#[tokio::test]
async fn an_idempotency_key_survives_kill_9() {
    let mut srv = common::start(&ENV);
    let body = r#"{"channel":"h:k","data":{"n":1},"idempotency_key":"once"}"#;
    let (s, first) = common::http(srv.port, "POST", "/api/publish", body);
    assert_eq!(s, 200, "{first}");
    srv.kill9();
    let srv = srv.respawn();
    let (s, retry) = common::http(srv.port, "POST", "/api/publish", body);
    assert_eq!(s, 200, "{retry}");
    let (first, retry): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&first).expect("json"),
        serde_json::from_str(&retry).expect("json"),
    );
    assert_eq!(
        (retry["offset"].clone(), retry["duplicate"].clone()),
        (first["offset"].clone(), json!(true)),
        "{retry}"
    );
    let (_, h) = common::http(srv.port, "GET", "/api/history/h:k", "");
    let h: serde_json::Value = serde_json::from_str(&h).expect("json");
    assert_eq!(h["publications"].as_array().map(Vec::len), Some(1), "{h}");
}
