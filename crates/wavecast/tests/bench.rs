//! Every `wavecast bench` scenario at a small scale against the real
//! binary: correctness only (counts, no errors), never timings; and the
//! runs that measured nothing, which must exit non-zero.

mod common;

use std::process::Output;
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
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["failures"], serde_json::json!([]), "{v:#}");
}

/// Runs a bench that must fail: its JSON (still printed) and stderr.
fn bench_failing(args: &[&str], envs: &[(&str, &str)]) -> (Value, String) {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    let out: Output = common::run_env(&all, envs, BOUND);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "bench {args:?}: {err}");
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {err}"));
    assert_eq!(v["ok"], false, "{v:#}");
    (v, err)
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
    // The kernel's share is part of the whole.
    let (all, sys) = (
        v["server_stats"]["cpu_s"].as_f64(),
        v["server_stats"]["cpu_sys_s"].as_f64(),
    );
    assert!(
        matches!((all, sys), (Some(a), Some(s)) if s >= 0.0 && s <= a + 1e-9),
        "{}",
        v["server_stats"]
    );
    assert!(v["server_stats"]["cpu_sys_s_per_million"].is_number());
    // The bench's own load, and the verdict on it.
    let c = &v["client"];
    assert!(c["cores_used"].as_f64().is_some_and(|x| x > 0.0), "{c}");
    assert!(
        c["cores_available"].as_f64().is_some_and(|x| x >= 1.0),
        "{c}"
    );
    assert!(c["unread_bytes"]["mean"].is_number(), "{c}");
    assert!(v["client_bound"].is_boolean());
    assert_eq!(v["pub_concurrency"], 32);
    assert_eq!(v["publish_lag_ms"]["count"], 20);
}

#[test]
fn a_server_that_is_not_running_fails_the_run() {
    let port = common::free_port().to_string();
    let server = format!("http://127.0.0.1:{port}");
    let (v, err) = bench_failing(
        &[
            "fanout",
            "--server",
            &server,
            "--subscribers",
            "5",
            "--rate",
            "10",
            "--duration",
            "0.5",
        ],
        &[],
    );
    assert!(
        err.contains("bench failed: no subscriber connected, of 5"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert_eq!(v["connected"], 0);
    // Nothing expected is not a perfect delivery.
    assert_eq!(v["delivery_ratio"], Value::Null, "{v:#}");
}

#[test]
fn refused_publishes_fail_the_run() {
    let srv = common::start(&[("WAVECAST_HTTP_API_KEY", "the-key")]);
    let server = srv.url();
    let (v, err) = bench_failing(
        &[
            "fanout",
            "--server",
            &server,
            "--subscribers",
            "3",
            "--rate",
            "10",
            "--duration",
            "0.5",
            "--drain",
            "0.2",
        ],
        &[],
    );
    assert!(err.contains("5 of 5 publishes failed"), "{err}");
    assert_eq!(v["publish_errors"], 5, "{v:#}");
    assert_eq!(v["connected"], 3);
}

#[test]
fn missing_deliveries_fail_the_run() {
    let srv = common::start(&[]);
    let server = srv.url();
    // Publishes succeed, on a channel nobody listens to.
    let (v, err) = bench_failing(
        &[
            "fanout",
            "--server",
            &server,
            "--subscribers",
            "4",
            "--rate",
            "10",
            "--duration",
            "0.5",
            "--drain",
            "0.5",
            "--pub-body-template",
            r#"{"channel":"elsewhere","data":{data}}"#,
        ],
        &[],
    );
    assert!(
        err.contains("bench failed: 0 of 20 expected deliveries arrived"),
        "{err}"
    );
    assert_eq!(v["published"], 5);
    assert_eq!(v["delivered"], 0);
}

#[test]
fn subscribers_outlive_the_heartbeat_timeout() {
    // The server pings every 300 ms and closes a connection silent for
    // 1 s; the bench's subscribers must stay through 3 s of publishing.
    let srv = common::start(&[
        ("WAVECAST_HEARTBEAT_INTERVAL", "300ms"),
        ("WAVECAST_HEARTBEAT_TIMEOUT", "1s"),
    ]);
    let v = bench(
        &srv,
        &[
            "fanout",
            "--subscribers",
            "5",
            "--rate",
            "5",
            "--duration",
            "3",
        ],
    );
    no_errors(&v);
    assert_eq!(v["closed_early"], 0);
    assert_eq!(v["delivered"], 75);
}

#[test]
fn presets_fill_in_the_issue_sizes_under_explicit_flags() {
    let srv = common::start(&[]);
    let v = bench(
        &srv,
        &[
            "b",
            "--subscribers",
            "6",
            "--rate",
            "10",
            "--duration",
            "0.5",
        ],
    );
    no_errors(&v);
    assert_eq!(v["preset"], "B");
    assert_eq!(v["scenario"], "fanout");
    // B's own setting where none was given.
    assert_eq!(v["src_ips"], 4);
    assert_eq!(v["delivered"], 30);
    // A measures the server's memory: it refuses to run without its pid.
    let out = common::run_env(&["bench", "a", "--server", &srv.url()], &[], BOUND);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("give --server-pid"));
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
    for part in ["feature_streaming", "simulation_streaming"] {
        let why = v["not_run"][part].as_str().unwrap_or_default();
        assert!(why.contains("wavecast bench streams"), "{part}: {why:?}");
    }
}

#[test]
fn minted_tokens_carry_the_audience_and_issuer_the_server_requires() {
    let env = [
        ("WAVECAST_JWT_SECRET", "bench-secret"),
        ("WAVECAST_AUTH__JWT_AUDIENCE", "wavecast"),
        ("WAVECAST_AUTH__JWT_ISSUER", "https://id.example"),
    ];
    let srv = common::start(&env);
    let base = [
        "connections",
        "--subscribers",
        "4",
        "--duration",
        "0.3",
        "--settle",
        "0.1",
        "--jwt-secret",
        "bench-secret",
    ];
    let mut with = base.to_vec();
    with.extend_from_slice(&["--jwt-aud", "wavecast", "--jwt-iss", "https://id.example"]);
    let v = bench(&srv, &with);
    no_errors(&v);
    assert_eq!(v["connected"], 4);
    // Without them the server refuses every connection, and the run fails.
    let url = srv.url();
    let mut without = base.to_vec();
    without.extend_from_slice(&["--server", &url]);
    let (v, _) = bench_failing(&without, &[]);
    assert_eq!(v["connected"], 0, "{v:#}");
}
