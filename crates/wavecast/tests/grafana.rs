//! docs/grafana/wavecast.json against a real server: after traffic that
//! gives every labelled family a sample (a delivery, disconnects, accepted
//! and refused credentials, a permission refusal), every metric name in the
//! dashboard's PromQL expressions must be one the server exports, so the
//! dashboard cannot drift from the metrics.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{run, Spawned};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(20);

/// Every `"expr"` (panel queries) and `"definition"` (variable queries)
/// string of the dashboard, at any depth.
fn expressions(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition", Value::String(e)) => out.push(e.clone()),
                    _ => expressions(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| expressions(x, out)),
        _ => {}
    }
}

/// The `wavecast_…` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("wavecast_") {
        let before = rest[..i].chars().last();
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '"') {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// Sample names in an exposition (`name{…} value` or `name value`).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

fn traffic(srv: &common::ServerProcess) {
    let url = srv.url();
    let token = |channels: &str| {
        let out = common::run_env(
            &["token", "--sub", "graf", "--channels", channels],
            &[("WAVECAST_JWT_SECRET", "grafana-secret")],
            BOUND,
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // A subscriber with a token (auth success) that gets one delivery and
    // is refused one channel (a permission rejection).
    let t = token("news");
    let mut sub = Spawned::start(&[
        "sub", "news", "secret", "--count", "1", "--server", &url, "--token", &t,
    ]);
    sub.next_of_type("subscribe_success");
    sub.stderr_line("cannot subscribe");
    common::publish(srv, "news", "1");
    sub.next_of_type("publication");
    assert!(sub.wait().success());
    // Refused credentials.
    let bad = run(
        &["sub", "news", "--server", &url, "--token", "a.b.c"],
        BOUND,
    );
    assert!(!bad.status.success());
    common::wait_metric(
        srv.port,
        "wavecast_disconnects_total{reason=\"client_close\"}",
        1.0,
    );
}

#[test]
fn every_metric_in_the_dashboard_exists() {
    let text = include_str!("../../../docs/grafana/wavecast.json");
    let dashboard: Value = serde_json::from_str(text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "only {} expressions", exprs.len());
    let used: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();

    let srv = common::start(&[("WAVECAST_JWT_SECRET", "grafana-secret")]);
    traffic(&srv);
    let have = exported(&common::http_get(srv.port, "/metrics"));
    let missing: Vec<&String> = used.iter().filter(|n| !have.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses metrics the server does not export: {missing:?}\nexported: {have:?}"
    );
    // The labelled families the dashboard breaks down by label are there.
    for family in [
        "wavecast_disconnects_total",
        "wavecast_auth_attempts_total",
        "wavecast_limit_rejections_total",
        "wavecast_delivery_latency_seconds_bucket",
    ] {
        assert!(
            used.contains(family),
            "the dashboard does not show {family}"
        );
    }
}

#[test]
fn metric_names_are_read_from_expressions() {
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le) (rate(wavecast_delivery_latency_seconds_bucket{instance=~\"$instance\"}[5m])))"
        ),
        vec!["wavecast_delivery_latency_seconds_bucket"]
    );
    assert_eq!(
        metric_names("sum(rate(wavecast_a_total[1m])) / sum(rate(wavecast_b_total[1m]))"),
        vec!["wavecast_a_total", "wavecast_b_total"]
    );
    assert!(metric_names("label_values(x, \"wavecast_not_a_metric\")").is_empty());
}
