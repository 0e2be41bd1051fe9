//! `examples/*.toml`: each seed system's ready configuration starts with
//! `wavecast serve --config examples/X.toml`, answers `/health`, and serves
//! its main endpoint in its own dialect.

mod common;

use common::*;
use serde_json::Value;

fn json(port: u16, path: &str) -> Value {
    let body = http_get(port, path);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn every_example_starts_and_answers() {
    // (example, the dialect of its channel endpoint, that endpoint's path)
    let cases = [
        ("fog", Some(("fog", "/api/ws/connect"))),
        ("netra", Some(("netra", "/ws"))),
        ("neurograph", Some(("neurograph", "/ws"))),
        ("mfn", None),
    ];
    for (name, main) in cases {
        let srv = start_example(name, &[]);
        assert_eq!(json(srv.port, "/health")["status"], "ok", "{name}");
        let cfg = &json(srv.port, "/ws/config")["websocket_config"];
        if let Some((dialect, path)) = main {
            assert_eq!(cfg["dialect"], dialect, "{name}: {cfg}");
            assert_eq!(cfg["endpoints"]["websocket"], path, "{name}: {cfg}");
        }
        let paths: Vec<&str> = cfg["endpoints"]["websockets"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["path"].as_str()).collect())
            .unwrap_or_default();
        if name == "mfn" {
            assert_eq!(
                paths,
                [
                    "/ws/stream_features",
                    "/ws/simulation_live",
                    "/ws/heartbeat"
                ]
            );
        }
        assert!(
            !srv.log_text().contains("\"level\":\"WARN\""),
            "{name} warns at start: {}",
            srv.log_text()
        );
    }
}

#[test]
fn every_example_passes_wavecast_config() {
    for name in ["fog", "netra", "neurograph", "mfn"] {
        let path = example(name);
        let out = run_env(&["config", "--config", &path], &[], WAIT);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let cfg: Value = serde_json::from_slice(&out.stdout).expect("config json");
        if name == "neurograph" {
            // ADR-003: "Max buffer size: 100 events per client", drop oldest.
            let ns = &cfg["namespaces"]["default"];
            assert_eq!(ns["max_queue_messages"], 100);
            assert_eq!(ns["backpressure"], "drop_oldest");
            assert_eq!(cfg["metrics_profile"], "neurograph");
        }
    }
}
