//! Every `wavecast bench` scenario at a small scale against the real
//! binary: correctness only (counts, no errors), never timings.

mod common;

use std::time::Duration;

use common::{run_json, ServerProcess};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(60);

fn bench(srv: &ServerProcess, args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    let url = srv.url();
    all.extend_from_slice(&["--server", &url]);
    run_json(&all, BOUND)
}

fn no_errors(v: &Value) {
    assert_eq!(v["error_count"], 0, "{v:#}");
}

#[test]
fn fanout_delivers_everything_in_order() {
    let srv = common::start(&[]);
    let pid = srv.pid().to_string();
    let v = bench(
        &srv,
        &[
            "fanout",
            "--subscribers",
            "20",
            "--rate",
            "20",
            "--duration",
            "1",
            "--server-pid",
            &pid,
        ],
    );
    no_errors(&v);
    assert_eq!(v["connected"], 20);
    assert_eq!(v["published"], 20);
    assert_eq!(v["expected"], 400);
    assert_eq!(v["delivered"], 400);
    assert_eq!(v["gaps"], 0);
    assert_eq!(v["duplicates"], 0);
    assert_eq!(v["offset_gaps"], 0);
    assert_eq!(v["latency_ms"]["count"], 400);
    assert!(v["server_stats"]["rss_kb_after"].as_u64().unwrap_or(0) > 0);
    assert!(v["server_stats"]["cpu_s_per_million"].is_number());
}

#[test]
fn fanout_with_workers_source_addresses_and_generic_templates() {
    let srv = common::start(&[]);
    let v = bench(
        &srv,
        &[
            "fanout",
            "--subscribers",
            "12",
            "--rate",
            "10",
            "--duration",
            "1",
            "--workers",
            "2",
            "--src-ips",
            "3",
        ],
    );
    no_errors(&v);
    assert_eq!(v["connected"], 12);
    assert_eq!(v["delivered"], v["expected"]);
    assert_eq!(v["delivered"], 120);

    // Generic mode, driving wavecast through the templates as if it were
    // another server: readiness by probes, no protocol knowledge.
    let ws = format!("ws://127.0.0.1:{}/ws", srv.port);
    let publish = format!("http://127.0.0.1:{}/api/publish", srv.port);
    let v = bench(
        &srv,
        &[
            "fanout",
            "--subscribers",
            "5",
            "--rate",
            "10",
            "--duration",
            "1",
            "--sub-url-template",
            &ws,
            "--sub-message-template",
            r#"{"type":"subscribe","channel":"{channel}"}"#,
            "--pub-url-template",
            &publish,
            "--pub-body-template",
            r#"{"channel":"{channel}","data":{data}}"#,
        ],
    );
    no_errors(&v);
    assert_eq!(v["mode"], "generic");
    assert_eq!(v["delivered"], 50);
    assert_eq!(v["gaps"], 0);
}

#[test]
fn throughput_steps_up_and_reports_a_maximum() {
    let srv = common::start(&[]);
    let v = bench(
        &srv,
        &[
            "throughput",
            "--subscribers",
            "10",
            "--rate",
            "20",
            "--step-duration",
            "0.5",
            "--max-steps",
            "2",
            // Correctness, not speed: a bound no CI machine misses.
            "--p99-bound-ms",
            "30000",
        ],
    );
    no_errors(&v);
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{v:#}");
    for s in steps {
        assert_eq!(s["pass"], true, "{s}");
        assert_eq!(s["delivered"], s["expected"]);
    }
    assert_eq!(steps[0]["expected"], 100);
    assert_eq!(steps[1]["expected"], 150);
    assert!(v["max_sustained_deliveries_per_s"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(v["stop_reason"], "max_steps");
}

#[test]
fn connections_are_held_and_measured() {
    let srv = common::start(&[("WAVECAST_JWT_SECRET", "bench-secret")]);
    let pid = srv.pid().to_string();
    let v = bench(
        &srv,
        &[
            "connections",
            "--subscribers",
            "30",
            "--duration",
            "0.5",
            "--settle",
            "0.2",
            "--workers",
            "2",
            "--src-ips",
            "2",
            "--jwt-secret",
            "bench-secret",
            "--server-pid",
            &pid,
        ],
    );
    no_errors(&v);
    assert_eq!(v["connected"], 30);
    assert_eq!(v["still_open_after_hold"], 30);
    assert_eq!(v["closed_early"], 0);
    assert!(
        v["server_stats"]["rss_bytes_per_connection"].is_number(),
        "{v:#}"
    );
}

#[test]
fn churn_counts_cycles() {
    let srv = common::start(&[]);
    let v = bench(&srv, &["churn", "--subscribers", "3", "--duration", "1"]);
    no_errors(&v);
    assert!(v["cycles"].as_u64().unwrap_or(0) > 0, "{v:#}");
    assert_eq!(v["cycle_ms"]["count"], v["cycles"]);
}

#[test]
fn mixed_runs_what_exists_and_says_what_does_not() {
    let srv = common::start(&[]);
    let v = bench(
        &srv,
        &[
            "mixed",
            "--subscribers",
            "20",
            "--channels",
            "2",
            "--rate",
            "10",
            "--duration",
            "2",
        ],
    );
    no_errors(&v);
    let feed = &v["feed_users"];
    assert_eq!(feed["connected"], 20);
    assert_eq!(feed["delivered"], feed["expected"]);
    assert_eq!(feed["gaps"], 0);
    assert_eq!(v["churn_users"]["error_count"], 0);
    assert!(v["churn_users"]["cycles"].as_u64().unwrap_or(0) > 0);
    let rec = &v["recovery_users"];
    assert_eq!(rec["error_count"], 0, "{rec}");
    assert!(rec["sessions"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(rec["gaps_after_recovery"], 0);
    assert_eq!(rec["recovery_failed"], 0);
    assert!(v["not_run"]["simulation_streaming"].is_string());
}
