//! The `wavecast` binary as a user runs it: `serve` with no config file,
//! the `pub`/`sub` tour, `config`, and SIGTERM → 1001 and a clean exit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

mod common;

use common::BIN;

fn wait_exit(child: &mut Child, bound: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {bound:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pub_sub_tour() {
    let srv = common::start(&[]);
    let mut sub = Command::new(BIN)
        .args(["sub", "tour", "--count", "2", "--server", &srv.url()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sub");
    let mut lines = BufReader::new(sub.stdout.take().expect("stdout")).lines();
    // Wait until the subscription is live before publishing.
    loop {
        let line = lines.next().expect("sub ended early").expect("line");
        let v: Value = serde_json::from_str(&line).expect("JSON line");
        if v["type"] == "subscribe_success" {
            break;
        }
    }
    let out = Command::new(BIN)
        .args([
            "pub",
            "tour",
            r#"{"hello":"world"}"#,
            "--server",
            &srv.url(),
        ])
        .output()
        .expect("pub");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("pub prints JSON");
    assert_eq!(reply["delivered"], 1);
    // Lines from stdin, and a plain word sent as a JSON string.
    let mut p = Command::new(BIN)
        .args(["pub", "tour", "--type", "note", "--server", &srv.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("pub stdin");
    {
        use std::io::Write;
        let mut stdin = p.stdin.take().expect("stdin");
        writeln!(stdin, "plain words").expect("write");
    }
    assert!(wait_exit(&mut p, Duration::from_secs(20)).success());

    let first: Value =
        serde_json::from_str(&lines.next().expect("line").expect("io")).expect("json");
    assert_eq!(first["channel"], "tour");
    assert_eq!(first["data"]["hello"], "world");
    let second: Value =
        serde_json::from_str(&lines.next().expect("line").expect("io")).expect("json");
    assert_eq!(second["type"], "note");
    assert_eq!(second["data"], "plain words");
    assert!(wait_exit(&mut sub, Duration::from_secs(20)).success());
}

#[test]
fn config_prints_effective_configuration_redacted() {
    let out = Command::new(BIN)
        .args(["config", "--port", "9123"])
        .env("WAVECAST_HTTP_API_KEY", "topsecret")
        .env("WAVECAST_HEARTBEAT_INTERVAL", "10s")
        .env("WAVECAST_NAMESPACES__CHAT__BACKPRESSURE", "drop_newest")
        .output()
        .expect("config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("topsecret"), "secret leaked: {text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["port"], 9123);
    assert_eq!(v["heartbeat_interval"], "10s");
    assert_eq!(v["http"]["api_key"], "[redacted]");
    assert_eq!(v["namespaces"]["chat"]["backpressure"], "drop_newest");
    assert_eq!(v["conformance"]["echo"], false);

    // --echo-endpoint turns on /echo ([conformance] echo).
    let out = Command::new(BIN)
        .args(["config", "--echo-endpoint"])
        .output()
        .expect("config");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["conformance"]["echo"], true);

    let bad = Command::new(BIN)
        .args(["config"])
        .env("WAVECAST_HEARTBEAT_INTERVAL", "soon")
        .output()
        .expect("config");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid duration"));
}

#[test]
fn sigterm_closes_clients_with_1001_and_exits() {
    let mut srv = common::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let url = format!("ws://127.0.0.1:{}/ws", srv.port);
        let (mut ws, _) = tokio_websockets::ClientBuilder::new()
            .uri(&url)
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let hello = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("hello")
            .expect("frame")
            .expect("ok");
        assert!(hello
            .as_text()
            .unwrap_or("")
            .contains("connection_established"));
        let status = Command::new("kill")
            .args(["-TERM", &srv.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let close = loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("no close within 10 s")
                .expect("stream ended without close")
                .expect("ws error");
            if let Some((code, _)) = msg.as_close() {
                break u16::from(code);
            }
        };
        assert_eq!(close, 1001);
    });
    let status = wait_exit(&mut srv.child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}
