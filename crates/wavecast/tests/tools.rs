//! The client subcommands against the real binary: `token`, `sign`,
//! `sub --token`, `sub --recover`, `replay`, and `sub` reconnecting through
//! a server restart (embedded engine, same data directory) with no gap.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{http_get, publish, run, run_json, BIN};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Starts `wavecast sub` and returns a receiver of its stdout JSON lines.
fn spawn_sub(args: &[&str]) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sub");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

fn next_of_type(rx: &mpsc::Receiver<Value>, t: &str) -> Value {
    loop {
        let v = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no {t} line"));
        if v["type"] == t {
            return v;
        }
    }
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "sub did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sign_matches_the_protocol_example_and_token_authenticates() {
    let out = run_json(
        &[
            "sign",
            "--api-key",
            "key-one",
            "--timestamp",
            "1795297680000",
        ],
        WAIT,
    );
    assert_eq!(out["type"], "auth");
    assert_eq!(
        out["signature"],
        "bca72becc473fa0bc0ccd006ebbcb9697288851038510c47ed8acbdd11e8587a"
    );
    let keyed = run_json(
        &[
            "sign",
            "--key-id",
            "mobile",
            "--secret",
            "s",
            "--timestamp",
            "1",
        ],
        WAIT,
    );
    assert_eq!(keyed["key_id"], "mobile");
    assert!(!run(&["sign"], WAIT).status.success());

    let srv = common::start(&[
        ("WAVECAST_JWT_SECRET", "tools-secret"),
        ("WAVECAST_REQUIRE_AUTH", "true"),
    ]);
    let t = run(
        &[
            "token",
            "--secret",
            "tools-secret",
            "--sub",
            "erin",
            "--channels",
            "news,chat:*",
            "--ttl",
            "10m",
        ],
        WAIT,
    );
    assert!(t.status.success());
    let token = String::from_utf8_lossy(&t.stdout).trim().to_string();
    assert_eq!(token.split('.').count(), 3);
    let (mut sub, rx) = spawn_sub(&[
        "sub",
        "news",
        "--count",
        "1",
        "--server",
        &srv.url(),
        "--token",
        &token,
    ]);
    let hello = next_of_type(&rx, "connection_established");
    assert_eq!(hello["user_id"], "erin");
    next_of_type(&rx, "subscribe_success");
    publish(&srv, "news", r#"{"n":1}"#);
    assert_eq!(next_of_type(&rx, "publication")["data"]["n"], 1);
    assert!(wait_exit(&mut sub).success());

    // A channel the token does not grant is refused.
    let refused = run(
        &["sub", "other", "--server", &srv.url(), "--token", &token],
        WAIT,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("forbidden"));
}

#[test]
fn sub_recover_resumes_after_an_offset_and_replay_republishes_an_export() {
    let srv = common::start(&[]);
    for i in 1..=4 {
        let r = publish(&srv, "rec", &format!(r#"{{"i":{i}}}"#));
        assert_eq!(r["offset"], i);
    }
    let (mut sub, rx) = spawn_sub(&[
        "sub",
        "rec",
        "--recover",
        "2",
        "--count",
        "2",
        "--server",
        &srv.url(),
    ]);
    let ok = next_of_type(&rx, "subscribe_success");
    assert_eq!(ok["recovered"], true);
    assert_eq!(next_of_type(&rx, "publication")["offset"], 3);
    assert_eq!(next_of_type(&rx, "publication")["offset"], 4);
    assert!(wait_exit(&mut sub).success());

    // Export, then replay into another channel, as fast as possible and at
    // the recorded pace.
    let export = http_get(srv.port, "/api/history/rec/export");
    assert_eq!(export.lines().count(), 4);
    let file = srv.data.with_extension("ndjson");
    std::fs::write(&file, &export).expect("write export");
    let file_s = file.to_string_lossy().to_string();
    let r = run_json(
        &[
            "replay",
            &file_s,
            "--channel",
            "copy",
            "--speed",
            "max",
            "--server",
            &srv.url(),
        ],
        WAIT,
    );
    assert_eq!(r["published"], 4);
    let copy: Value = serde_json::from_str(&http_get(srv.port, "/api/history/copy")).expect("json");
    let data: Vec<i64> = copy["publications"]
        .as_array()
        .expect("publications")
        .iter()
        .map(|p| p["data"]["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(data, vec![1, 2, 3, 4]);

    let paced = "{\"type\":\"tick\",\"channel\":\"x\",\"data\":1,\"offset\":1,\"timestamp\":\"2026-01-01T00:00:00.000Z\"}\n{\"type\":\"tick\",\"channel\":\"x\",\"data\":2,\"offset\":2,\"timestamp\":\"2026-01-01T00:00:00.400Z\"}\n";
    std::fs::write(&file, paced).expect("write");
    let r = run_json(
        &[
            "replay",
            &file_s,
            "--channel",
            "paced",
            "--speed",
            "2",
            "--server",
            &srv.url(),
        ],
        WAIT,
    );
    assert_eq!(r["published"], 2);
    assert!(r["seconds"].as_f64().expect("seconds") >= 0.19, "{r}");
    let paced: Value =
        serde_json::from_str(&http_get(srv.port, "/api/history/paced")).expect("json");
    assert_eq!(paced["publications"][1]["type"], "tick");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn sub_reconnects_through_a_server_restart_without_a_gap() {
    let srv = common::start(&[]);
    let (mut sub, rx) = spawn_sub(&["sub", "feed", "--count", "10", "--server", &srv.url()]);
    next_of_type(&rx, "subscribe_success");
    for i in 0..5 {
        publish(&srv, "feed", &format!(r#"{{"seq":{i}}}"#));
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(
            next_of_type(&rx, "publication")["data"]["seq"]
                .as_u64()
                .expect("seq"),
        );
    }
    // Same port, same data directory: history and epochs survive.
    let srv = srv.restart();
    for i in 5..10 {
        publish(&srv, "feed", &format!(r#"{{"seq":{i}}}"#));
    }
    let mut resubscribed = None;
    while seen.len() < 10 {
        let v = rx.recv_timeout(WAIT).expect("line");
        match v["type"].as_str() {
            Some("publication") => seen.push(v["data"]["seq"].as_u64().expect("seq")),
            Some("subscribe_success") => resubscribed = Some(v),
            _ => {}
        }
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    let resub = resubscribed.expect("a resubscription after the restart");
    assert_eq!(resub["recovered"], true, "{resub}");
    assert!(wait_exit(&mut sub).success());
}
