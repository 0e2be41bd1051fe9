//! The monitoring subsystem on a real server over real sockets: anomaly
//! and threshold alerts reach `alerts` subscribers, window statistics
//! match a reference computation, history survives a restart of the
//! embedded engine, publishers keep their cadence, a failing `http`
//! source leaves the others running, and the HTTP API's errors.

use wavecast_testkit as common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wavecast_testkit::ws::WsClient;
use wavecast_testkit::TestServer;

/// Monitoring on, no publishers (the tests feed the aggregator).
const QUIET: &str = "[monitoring]\npublishers = []\n";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn subscribed(srv: &TestServer, channels: &[&str]) -> WsClient {
    let mut c = srv.client().await;
    c.send(json!({"type":"subscribe","channels": channels}))
        .await;
    // Publications of rooms already joined may come before the reply.
    loop {
        let r = c.recv().await;
        if r["type"] == "subscribe_success" {
            return c;
        }
        assert!(r.get("channel").is_some(), "{r}");
    }
}

/// The alert envelopes delivered to `c` until the sentinel published now.
async fn alerts_until_sentinel(srv: &TestServer, c: &mut WsClient) -> Vec<Value> {
    srv.publish("alerts", json!({"sentinel": true})).await;
    let mut out = Vec::new();
    loop {
        let v = c.recv().await;
        assert_eq!(v["channel"], "alerts", "{v}");
        if v["data"]["sentinel"] == true {
            return out;
        }
        out.push(v["data"].clone());
    }
}

/// A seeded noisy signal (uniform noise: |z| stays below √3 ≈ 1.73) with
/// outliers injected every 400 s (so no outlier is in another's 5-minute
/// window): exactly those are flagged, with their severity; the steady
/// series beside it raises nothing.
#[tokio::test]
async fn labelled_series_flags_exactly_the_injected_outliers() {
    let srv = TestServer::start(QUIET).await;
    let mut c = subscribed(&srv, &["alerts"]).await;
    let mut rng = fastrand::Rng::with_seed(7);
    let t0 = now_ms() - 55 * 60_000;
    let (mut noisy, mut steady, mut expected) = (Vec::new(), Vec::new(), Vec::new());
    let mut window: Vec<(i64, f64)> = Vec::new();
    for i in 0..3_000i64 {
        let t = t0 + i * 1_000;
        let mut v = 50.0 + (rng.f64() * 2.0 - 1.0);
        window.retain(|(ts, _)| *ts > t - 300_000);
        if i >= 400 && i % 400 == 0 {
            let n = window.len() as f64;
            let mean = window.iter().map(|p| p.1).sum::<f64>() / n;
            let sd = (window.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / n).sqrt();
            let (k, severity) = if (i / 400) % 2 == 0 {
                (3.0, "medium")
            } else {
                (6.0, "high")
            };
            v = mean + k * sd;
            expected.push((v, severity));
        }
        window.push((t, v));
        noisy.push(json!({"metric": "lab.noisy", "value": v, "timestamp": t}));
        steady.push(json!({"metric": "lab.steady", "value": 20.0 + rng.f64(), "timestamp": t}));
    }
    for batch in [noisy, steady] {
        let (status, r) = srv.post("/api/ws/metrics", json!({"metrics": batch})).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["accepted"], 3_000, "{r}");
    }
    let alerts = alerts_until_sentinel(&srv, &mut c).await;
    let got: Vec<(f64, String)> = alerts
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "alert", "{a}");
            assert_eq!(a["priority"], a["data"]["severity"], "{a}");
            let d = &a["data"];
            assert_eq!(d["type"], "anomaly_detected", "{a}");
            assert_eq!(d["metric"], "lab.noisy", "{a}");
            (
                d["value"].as_f64().unwrap_or(f64::NAN),
                d["severity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((g, gs), (w, ws)) in got.iter().zip(&expected) {
        // JSON carries the value; allow its last-digit rounding.
        assert!((g - w).abs() < 1e-9 && gs == ws, "{got:?} vs {expected:?}");
    }
}

/// One alert per crossing, re-armed by crossing back, and nothing within
/// the cooldown; the alert carries a top-level priority.
#[tokio::test]
async fn thresholds_alert_once_per_crossing_and_respect_the_cooldown() {
    let srv = TestServer::start(
        "[monitoring]\npublishers = []\n[[monitoring.thresholds]]\nmetric = \"cpu_usage\"\nabove = 90.0\nseverity = \"critical\"\ncooldown = \"10s\"\n",
    )
    .await;
    let mut c = subscribed(&srv, &["alerts"]).await;
    let t0 = now_ms() - 60_000;
    // (offset s, value): fires at 1 s; silent while above; re-armed at 3 s;
    // 5 s is within the cooldown; 7 s still; 12 s is past it: fires.
    let series = [
        (0, 80.0),
        (1, 95.0),
        (2, 99.0),
        (3, 70.0),
        (5, 96.0),
        (7, 97.0),
        (12, 98.0),
        (13, 99.0),
    ];
    let batch: Vec<Value> = series
        .iter()
        .map(|(s, v)| json!({"metric":"cpu_usage","value": v,"timestamp": t0 + s * 1000}))
        .collect();
    let (status, r) = srv.post("/api/ws/metrics", json!(batch)).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["alerts"], 2, "{r}");
    let alerts = alerts_until_sentinel(&srv, &mut c).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    for (a, value) in alerts.iter().zip([95.0, 98.0]) {
        assert_eq!(a["priority"], "critical");
        assert_eq!(
            a["data"],
            json!({"type":"threshold_exceeded","metric":"cpu_usage","value": value,"threshold": 90.0,"severity":"critical"})
        );
    }
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let k = h.floor() as usize;
    let next = sorted.get(k + 1).copied().unwrap_or(sorted[k]);
    sorted[k] + (h - k as f64) * (next - sorted[k])
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Every statistic of every window equals a two-pass reference over the
/// same points (points kept 3 s away from the window edges, so the
/// clocks of test and server need not agree to the millisecond).
#[tokio::test]
async fn window_statistics_match_a_reference_computation() {
    let srv = TestServer::start(QUIET).await;
    let mut rng = fastrand::Rng::with_seed(11);
    let now = now_ms();
    let mut points = Vec::new();
    let mut t = now - 59 * 60_000;
    while t < now - 2_000 {
        let age = now - t;
        let near_edge = [60_000, 300_000].iter().any(|e| (age - e).abs() < 3_000);
        if !near_edge {
            points.push((t, rng.f64() * 1000.0 - 200.0));
        }
        t += 1_000 + rng.i64(0..3_000);
    }
    let batch: Vec<Value> = points
        .iter()
        .map(|(t, v)| json!({"metric":"w.x","value": v,"timestamp": t}))
        .collect();
    let (status, r) = srv.post("/api/ws/metrics", json!(batch)).await;
    assert_eq!(status, 200, "{r}");
    for (window, span) in [("1m", 60_000), ("5m", 300_000), ("1h", 3_600_000)] {
        let (status, r) = srv
            .get(&format!(
                "/api/ws/metrics/statistics?metric=w.x&window={window}"
            ))
            .await;
        assert_eq!(status, 200, "{r}");
        let mut vals: Vec<f64> = points
            .iter()
            .filter(|(t, _)| *t > now - span)
            .map(|p| p.1)
            .collect();
        vals.sort_by(f64::total_cmp);
        let n = vals.len() as f64;
        let avg = vals.iter().sum::<f64>() / n;
        let sd = (vals.iter().map(|v| (v - avg).powi(2)).sum::<f64>() / n).sqrt();
        let s = &r["statistics"];
        assert_eq!(s["count"], vals.len(), "{window}: {r}");
        let want = [
            ("min", vals[0]),
            ("max", vals[vals.len() - 1]),
            ("avg", avg),
            ("median", quantile(&vals, 0.5)),
            ("stddev", sd),
            ("p95", quantile(&vals, 0.95)),
        ];
        for (name, w) in want {
            let g = s[name].as_f64().unwrap_or(f64::NAN);
            assert!(close(g, w), "{window} {name}: got {g}, want {w}");
        }
    }
}

/// Errors name the parameter, in the protocol's error shape; an unknown
/// metric is 404; the API has the same access rule as the rest.
#[tokio::test]
async fn api_errors_name_the_parameter() {
    let srv = TestServer::start(QUIET).await;
    let (s, _) = srv
        .post("/api/ws/metrics", json!({"metric":"a.b","value": 1.0}))
        .await;
    assert_eq!(s, 200);
    let cases = [
        (
            "/api/ws/metrics/statistics?metric=a.b&window=2m",
            "window",
            "invalid_window",
        ),
        ("/api/ws/metrics/statistics?window=5m", "metric", "missing"),
        (
            "/api/ws/metrics/history?metric=a.b&hours=x",
            "hours",
            "not_a_number",
        ),
        (
            "/api/ws/metrics/history?metric=a.b&hours=0",
            "hours",
            "invalid_range",
        ),
        (
            "/api/ws/metrics/history?metric=a.b&hours=1&step=90s",
            "step",
            "invalid_step",
        ),
        (
            "/api/ws/metrics/history?metric=a.b&from=10&to=5",
            "from",
            "invalid_range",
        ),
    ];
    for (path, parameter, reason) in cases {
        let (status, r) = srv.get(path).await;
        assert_eq!(status, 400, "{path}: {r}");
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["code"], "invalid_field", "{r}");
        assert_eq!(r["parameter"], parameter, "{path}: {r}");
        assert_eq!(r["reason"], reason, "{path}: {r}");
    }
    unknown_metrics_and_bad_bodies(&srv).await;
}

/// 404 for unknown metrics, 400 naming the field for bad bodies, 403 for
/// another site's browser, and the list and summary of what was recorded.
async fn unknown_metrics_and_bad_bodies(srv: &TestServer) {
    for path in [
        "/api/ws/metrics/statistics?metric=nope&window=5m",
        "/api/ws/metrics/history?metric=nope&hours=1",
    ] {
        let (status, r) = srv.get(path).await;
        assert_eq!(status, 404, "{path}: {r}");
        assert_eq!(r["code"], "not_found", "{r}");
    }
    let (status, r) = srv
        .post("/api/ws/metrics", json!({"metric":"a.b","value":"high"}))
        .await;
    assert_eq!(
        (status, r["parameter"].clone()),
        (400, json!("body")),
        "{r}"
    );
    let (status, r) = srv
        .post("/api/ws/metrics", json!({"metric":"bad name!","value":1}))
        .await;
    assert_eq!(
        (status, r["reason"].clone()),
        (400, json!("invalid_metric_name")),
        "{r}"
    );
    let (status, r) = srv
        .post(
            "/api/ws/tasks",
            json!({"id":"t1","status":"running","progress": 1.5}),
        )
        .await;
    assert_eq!(
        (status, r["parameter"].clone()),
        (400, json!("progress")),
        "{r}"
    );
    // Another site's browser gets the server API's refusal here too.
    let (status, _) = srv
        .request(
            "GET",
            "/api/ws/metrics",
            None,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(status, 403);
    let (_, list) = srv.get("/api/ws/metrics").await;
    assert_eq!(list["metrics"], json!(["a.b"]));
    let (_, summary) = srv.get("/api/ws/metrics/summary").await;
    assert_eq!(summary["metrics"][0]["metric"], "a.b", "{summary}");
    assert_eq!(summary["metrics"][0]["latest"]["value"], 1.0, "{summary}");
}

/// Rollups and raw points written by the embedded engine are there after
/// a restart: the history of the last hours comes back (from rollups), and
/// so do the raw statistics.
#[tokio::test]
async fn history_survives_a_restart_of_the_embedded_engine() {
    let dir = common::temp_dir("monitoring-restart");
    let toml = "[monitoring]\npublishers = []\nflush_interval = \"100ms\"\n";
    let srv = TestServer::start_with(toml, Some(&dir)).await;
    let now = now_ms();
    let batch: Vec<Value> = (0..120)
        .map(|i| json!({"metric":"r.x","value": i as f64,"timestamp": now - 50 * 60_000 + i * 20_000}))
        .collect();
    let (status, r) = srv.post("/api/ws/metrics", json!(batch)).await;
    assert_eq!(status, 200, "{r}");
    let (_, before) = srv
        .get("/api/ws/metrics/history?metric=r.x&hours=2&step=1m")
        .await;
    srv.stop_and_wait().await;
    let srv = TestServer::start_with(toml, Some(&dir)).await;
    let (status, after) = srv
        .get("/api/ws/metrics/history?metric=r.x&hours=2&step=1m")
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["resolution"], "rollup");
    assert_eq!(after["points"], before["points"], "{after}");
    let counts: u64 = after["points"]
        .as_array()
        .map(|a| a.iter().filter_map(|b| b["count"].as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(counts, 120);
    let (status, r) = srv
        .get("/api/ws/metrics/statistics?metric=r.x&window=1h")
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["statistics"]["count"], 120, "{r}");
    assert_eq!(r["statistics"]["max"], 119.0, "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An HTTP server that answers every request with `body`, until dropped.
async fn canned_http(body: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, task)
}

/// The cadence test's publishers: every source, at 50–200 ms; `http` at
/// a good back end (port `good`), a dead port and one answering bad JSON.
fn cadence_config(good: u16, dead: u16, bad_json: u16) -> String {
    format!(
        r#"[monitoring]
[[monitoring.publishers]]
room = "c.tasks"
type = "task_progress"
interval = "100ms"
source = "tasks"
[[monitoring.publishers]]
room = "c.metrics"
type = "metrics_update"
interval = "150ms"
source = "server"
[[monitoring.publishers]]
room = "c.nodes"
type = "node_status_update"
interval = "120ms"
source = "http"
url = "http://127.0.0.1:{good}/status"
[[monitoring.publishers]]
room = "c.resources"
type = "resource_update"
interval = "200ms"
source = "system"
[[monitoring.publishers]]
room = "c.cluster"
type = "node_status_update"
interval = "130ms"
source = "cluster"
[[monitoring.publishers]]
room = "c.alerts"
type = "alert_summary"
interval = "110ms"
source = "alerts"
[[monitoring.publishers]]
room = "topology"
type = "topology_update"
interval = "50ms"
source = "topology"
[[monitoring.publishers]]
room = "c.dead"
type = "x"
interval = "50ms"
source = "http"
url = "http://127.0.0.1:{dead}/"
timeout = "200ms"
[[monitoring.publishers]]
room = "c.badjson"
type = "x"
interval = "50ms"
source = "http"
url = "http://127.0.0.1:{bad_json}/"
"#
    )
}

/// The arrival times of each room's publications (the alerts room left
/// out) until every room of `rooms` has 21, checking each document's shape.
async fn arrivals(c: &mut WsClient, rooms: &[(&str, f64)]) -> HashMap<String, Vec<Instant>> {
    let mut arrivals: HashMap<String, Vec<Instant>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rooms
        .iter()
        .any(|(r, _)| arrivals.get(*r).map_or(0, Vec::len) < 21)
    {
        assert!(
            Instant::now() < deadline,
            "publishers too slow: {arrivals:?}"
        );
        let v = c.recv().await;
        let room = v["channel"].as_str().unwrap_or("").to_string();
        match room.as_str() {
            "alerts" => continue,
            "c.nodes" => assert_eq!(v["data"]["betanet"]["avg_latency_ms"], 25.5, "{v}"),
            "c.resources" => assert!(v["data"]["memory"]["total_bytes"].as_u64() > Some(0), "{v}"),
            "c.cluster" => assert_eq!(v["data"]["cluster"]["nodes"], 1, "{v}"),
            "c.alerts" => assert!(v["data"]["alerts_total"].is_u64(), "{v}"),
            _ => {}
        }
        arrivals.entry(room).or_default().push(Instant::now());
    }
    arrivals
}

/// Each publisher's mean interval over 20 ticks is within ±10 % of its
/// configured one, for every periodic source (`tasks`, `server`, `http`,
/// `system`, `cluster`, `alerts`; scaled down to 100–200 ms); `topology`
/// publishes once and is then silent; `http` sources that point at a dead
/// port or answer bad JSON raise one `source_failed` alert each and are
/// counted, while the others keep publishing; the good `http` source
/// publishes the back end's document as it is.
#[tokio::test]
async fn publishers_keep_their_cadence_and_survive_failing_sources() {
    let dead = wavecast_testkit::free_port();
    let (bad_json, _bad) = canned_http("{not json").await;
    let (good, _good) =
        canned_http(r#"{"betanet":{"active_nodes":5,"avg_latency_ms":25.5}}"#).await;
    let srv = TestServer::start(&cadence_config(good, dead, bad_json)).await;
    let rooms = [
        ("c.tasks", 100.0),
        ("c.metrics", 150.0),
        ("c.nodes", 120.0),
        ("c.resources", 200.0),
        ("c.cluster", 130.0),
        ("c.alerts", 110.0),
    ];
    let mut channels: Vec<&str> = rooms.iter().map(|r| r.0).collect();
    channels.push("alerts");
    let mut c = subscribed(&srv, &channels).await;
    let arrivals = arrivals(&mut c, &rooms).await;
    for (room, ms) in rooms {
        let a = &arrivals[room];
        let mean = (a[20] - a[0]).as_secs_f64() * 1000.0 / 20.0;
        assert!(
            (mean - ms).abs() <= ms * 0.1,
            "{room}: mean interval {mean:.1} ms, configured {ms} ms"
        );
    }
    failing_sources_raise_one_alert_each(&srv).await;
}

/// Topology published once; one alert per failing source; the back end's
/// figures recorded as metrics.
async fn failing_sources_raise_one_alert_each(srv: &TestServer) {
    // Topology: the first tick published, nothing since.
    let (_, h) = srv.get("/api/history/topology").await;
    assert_eq!(h["publications"].as_array().map(Vec::len), Some(1), "{h}");
    // One alert per failing source, whatever the number of failed ticks
    // (raised at the first tick, before the client joined: from history).
    let (_, h) = srv.get("/api/history/alerts").await;
    let failures: Vec<Value> = h["publications"]
        .as_array()
        .map(|a| a.iter().map(|p| p["data"].clone()).collect())
        .unwrap_or_default();
    let mut kinds: Vec<(String, String)> = failures
        .iter()
        .map(|a| {
            assert_eq!(a["data"]["type"], "source_failed", "{a}");
            (
                a["data"]["room"].as_str().unwrap_or("").to_string(),
                a["data"]["source"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("c.badjson".to_string(), "http".to_string()),
            ("c.dead".to_string(), "http".to_string())
        ]
    );
    let errors = srv
        .metric("wavecast_monitoring_source_errors_total{source=\"http\"}")
        .await;
    assert!(errors >= 10.0, "{errors}");
    let (_, stats) = srv.get("/api/ws/stats").await;
    assert_eq!(stats["publishers_active"], 9, "{stats}");
    // The recorded metrics include the back end's figures.
    let (status, r) = srv
        .get("/api/ws/metrics/statistics?metric=betanet.avg_latency_ms&window=1m")
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["statistics"]["max"], 25.5, "{r}");
}

/// Reported tasks show in the `tasks` room with the queue statistics.
#[tokio::test]
async fn reported_tasks_feed_the_tasks_room() {
    let srv = TestServer::start(
        "[monitoring]\n[[monitoring.publishers]]\nroom = \"tasks\"\ntype = \"task_progress\"\ninterval = \"50ms\"\nsource = \"tasks\"\n",
    )
    .await;
    let (status, r) = srv
        .post(
            "/api/ws/tasks",
            json!({"tasks": [
                {"id":"a","name":"render","status":"running","progress":0.5,"eta":12.0},
                {"id":"b","name":"train","status":"pending"},
                {"id":"c","name":"sync","status":"failed","progress":1.0}
            ]}),
        )
        .await;
    assert_eq!((status, r["accepted"].clone()), (200, json!(3)), "{r}");
    let mut c = subscribed(&srv, &["tasks"]).await;
    let v = c.recv().await;
    assert_eq!(v["type"], "task_progress", "{v}");
    assert_eq!(
        v["data"]["queue"],
        json!({"pending":1,"running":1,"completed":0,"failed":1,"total":3}),
        "{v}"
    );
    assert_eq!(v["data"]["tasks"][0]["eta"], 12.0, "{v}");
    let (_, streams) = srv.get("/api/ws/streams").await;
    assert!(
        streams["available"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("tasks")) && a.contains(&json!("alerts"))),
        "{streams}"
    );
}
