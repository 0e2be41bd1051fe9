//! The MFN simulation streams over real sockets: nothing before `init`,
//! feature cadence (alone and beside a free-running simulation), live
//! simulation frames, invalid params, limits,
//! cancellation freeing the CPU, `/ws/heartbeat`, and published rooms.

use wavecast_testkit as common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{TestServer, WsClient};
use serde_json::{json, Value};

async fn stream_client(srv: &TestServer, path: &str) -> WsClient {
    let mut c = WsClient::connect(&format!("ws://{}{path}", srv.addr)).await;
    // The server says nothing before init: a ping is ignored, and the
    // first frame we get is the init reply.
    c.send(json!({"type":"ping"})).await;
    let r = c
        .call(json!({"type":"init","protocol_version":"1.0"}))
        .await;
    assert_eq!(r["type"], "init", "{r}");
    c
}

/// CPU seconds this process has used (utime + stime).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

#[tokio::test]
async fn feature_cadence_matches_the_interval() {
    let srv = TestServer::start("").await;
    let mut c = stream_client(&srv, "/ws/stream_features").await;
    let r = c
        .call(
            json!({"type":"subscribe","stream_type":"stream_features","stream_id":"f1",
                     "params":{"grid_size":32,"update_interval_ms":50},"id":1}),
        )
        .await;
    assert_eq!(
        (r["type"].clone(), r["stream_id"].clone(), r["id"].clone()),
        (json!("subscribe_success"), json!("f1"), json!(1))
    );
    let mut arrivals = Vec::new();
    for seq in 0..21u64 {
        let v = c.recv().await;
        assert_eq!(v["type"], "feature_update", "{v}");
        assert_eq!(
            (v["stream_id"].clone(), v["sequence"].clone()),
            (json!("f1"), json!(seq))
        );
        for k in [
            "potential_mean",
            "potential_std",
            "active_nodes",
            "active_ratio",
            "fractal_dimension",
            "fractal_r_squared",
            "energy",
            "gradient_energy",
            "spatial_variance",
        ] {
            assert!(v["features"].get(k).is_some(), "missing {k}: {v}");
        }
        arrivals.push(Instant::now());
    }
    // Tolerance: the mean interval over 20 updates is within ±20 %.
    let mean = arrivals[20].duration_since(arrivals[0]).as_secs_f64() / 20.0;
    assert!(
        (0.040..=0.060).contains(&mean),
        "mean interval {mean:.4} s for 50 ms"
    );
    let r = c.call(json!({"type":"unsubscribe","stream_id":"f1"})).await;
    assert_eq!(r["type"], "unsubscribe_success");
}

#[tokio::test]
async fn feature_ticks_keep_their_cadence_beside_a_free_running_simulation() {
    // One simulation thread: a live simulation that never waits runs in
    // 2 ms slices, and the feature stream's ticks, due earlier, go first.
    let srv = TestServer::start("[streams]\nworkers = 1\nworker_nice = 0\n").await;
    let mut live = stream_client(&srv, "/ws/simulation_live").await;
    let r = live
        .call(
            json!({"type":"subscribe","stream_type":"simulation_live","stream_id":"busy",
                     "params":{"grid_size":256,"steps":1000000,"update_every":100000}}),
        )
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    let mut c = stream_client(&srv, "/ws/stream_features").await;
    let r = c
        .call(
            json!({"type":"subscribe","stream_type":"stream_features","stream_id":"f",
                     "params":{"grid_size":32,"update_interval_ms":50}}),
        )
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    let mut arrivals = Vec::new();
    for seq in 0..21u64 {
        let v = c.recv().await;
        assert_eq!(
            (v["type"].clone(), v["sequence"].clone()),
            (json!("feature_update"), json!(seq)),
            "{v}"
        );
        arrivals.push(Instant::now());
    }
    let mean = arrivals[20].duration_since(arrivals[0]).as_secs_f64() / 20.0;
    assert!(
        (0.040..=0.060).contains(&mean),
        "mean interval {mean:.4} s for 50 ms"
    );
    // The simulation was running all along.
    assert_eq!(srv.streams.running(), 2);
}

#[tokio::test]
async fn simulation_live_states_field_and_completion() {
    let srv = TestServer::start("").await;
    let mut c = stream_client(&srv, "/ws/simulation_live").await;
    let r = c
        .call(json!({"type":"subscribe","stream_type":"simulation_live","stream_id":"s1",
                     "params":{"grid_size":32,"steps":40,"update_every":10,"include_field":true,"seed":7}}))
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    for k in 1..=4u64 {
        let v = c.recv().await;
        assert_eq!(v["type"], "simulation_state", "{v}");
        assert_eq!(
            (v["step"].clone(), v["total_steps"].clone()),
            (json!(k * 10), json!(40))
        );
        assert_eq!(v["progress"], json!(k as f64 / 4.0));
        assert!(v["metrics"]["fractal_dimension"].is_number());
        assert!(v["growth_events"]["activated"].is_number());
        let field = &v["field"];
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(field["data"].as_str().expect("data"))
            .expect("base64");
        assert_eq!((bytes.len(), field["width"].clone()), (32 * 32, json!(32)));
    }
    let done = c.recv().await;
    assert_eq!(
        (done["type"].clone(), done["steps"].clone()),
        (json!("simulation_complete"), json!(40))
    );
    assert!(done["duration_ms"].is_number());
}

#[tokio::test]
async fn invalid_params_and_limits_are_refused() {
    let srv = TestServer::start("[streams]\nmax_per_connection = 1\nmax_grid_size = 128\n").await;
    let mut c = stream_client(&srv, "/ws/stream_features").await;
    for (params, field) in [
        (
            json!({"update_interval_ms": 5}),
            "params.update_interval_ms",
        ),
        (json!({"grid_size": 256}), "params.grid_size"),
        (json!({"feed": "lots"}), "params.feed"),
        (json!({"dt": 5.0}), "dt"),
        (json!({"nonsense": 1}), "nonsense"),
    ] {
        let r = c
            .call(json!({"type":"subscribe","stream_type":"stream_features","stream_id":"x","params":params}))
            .await;
        assert_eq!(
            (r["type"].clone(), r["code"].clone()),
            (json!("subscribe_failed"), json!("invalid_field"))
        );
        assert!(r["error"].as_str().unwrap_or("").contains(field), "{r}");
    }
    let r = c
        .call(json!({"type":"subscribe","stream_type":"simulation_live","stream_id":"x"}))
        .await;
    assert_eq!(
        r["code"], "invalid_field",
        "wrong stream type for the endpoint"
    );
    let ok = json!({"type":"subscribe","stream_type":"stream_features","stream_id":"a","params":{"grid_size":16,"update_interval_ms":1000}});
    assert_eq!(c.call(ok).await["type"], "subscribe_success");
    // Stream "a" may already be sending frames: `refusal` skips them.
    let r = refusal(
        &mut c,
        json!({"type":"subscribe","stream_type":"stream_features","stream_id":"b","params":{"grid_size":16}}),
    )
    .await;
    assert_eq!(r["code"], "too_many_streams");
    let r = refusal(&mut c, json!({"type":"unsubscribe","stream_id":"nope"})).await;
    assert_eq!(r["code"], "not_subscribed");
}

/// Sends `req` and returns the next message with an error code, skipping
/// the frames of streams already running (bounded by `recv`'s timeout).
async fn refusal(c: &mut WsClient, req: Value) -> Value {
    c.send(req).await;
    loop {
        let m = c.recv().await;
        if m.get("code").is_some() || m["type"] == "subscribe_success" {
            return m;
        }
    }
}

#[tokio::test]
async fn cancelling_frees_the_cpu_and_disconnect_cancels() {
    // CPU use is measured here, not priority: on a busy machine a worker
    // at nice 10 could get too little of it.
    let srv = TestServer::start("[streams]\nworker_nice = 0\n").await;
    let mut c = stream_client(&srv, "/ws/simulation_live").await;
    let r = c
        .call(
            json!({"type":"subscribe","stream_type":"simulation_live","stream_id":"big",
                     "params":{"grid_size":256,"steps":1000000,"update_every":100000}}),
        )
        .await;
    assert_eq!(r["type"], "subscribe_success", "{r}");
    let window = Duration::from_millis(600);
    let before = cpu_seconds();
    tokio::time::sleep(window).await;
    let busy = cpu_seconds() - before;
    let r = c
        .call(json!({"type":"unsubscribe","stream_id":"big"}))
        .await;
    assert_eq!(r["type"], "unsubscribe_success");
    // The slot is freed once the computation has seen its cancel flag.
    let deadline = Instant::now() + common::WAIT;
    while srv.streams.running() > 0 {
        assert!(Instant::now() < deadline, "the simulation kept running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = cpu_seconds();
    tokio::time::sleep(window).await;
    let idle = cpu_seconds() - before;
    eprintln!("cpu while running: {busy:.2} s per {window:?}; after cancel: {idle:.2} s");
    // One simulation thread (streams step serially): on a loaded machine
    // it may get well under a whole core.
    assert!(busy > 0.1, "the simulation was not computing ({busy:.2} s)");
    // The whole test process is measured, and other tests of this binary
    // run beside this one: after the cancel the process must be clearly
    // quieter than while the simulation ran.
    assert!(
        idle < 0.15 || idle < busy / 2.0,
        "CPU still busy after cancel ({idle:.2} s, {busy:.2} s while running)"
    );

    // A disconnect cancels every stream of the connection.
    let r = c
        .call(
            json!({"type":"subscribe","stream_type":"simulation_live","stream_id":"big2",
                     "params":{"grid_size":128,"steps":1000000,"update_every":100000}}),
        )
        .await;
    assert_eq!(r["type"], "subscribe_success");
    assert_eq!(srv.streams.running(), 1);
    drop(c);
    let deadline = Instant::now() + common::WAIT;
    while srv.streams.running() > 0 {
        assert!(
            Instant::now() < deadline,
            "disconnect did not cancel the stream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn heartbeat_endpoint_and_published_rooms() {
    let srv = TestServer::start(
        "heartbeat_interval = \"100ms\"\nheartbeat_timeout = \"1s\"\n[[streams.rooms]]\nchannel = \"mfn:features\"\ninterval = \"50ms\"\nparams = { grid_size = 32 }\n",
    )
    .await;
    let mut h = stream_client(&srv, "/ws/heartbeat").await;
    let r = h
        .call(json!({"type":"subscribe","stream_type":"stream_features","stream_id":"x"}))
        .await;
    assert_eq!(
        (r["type"].clone(), r["code"].clone()),
        (json!("subscribe_failed"), json!("forbidden"))
    );
    // Heartbeats flow once initialized.
    let mut raw = WsClient::connect(&format!("ws://{}/ws/heartbeat", srv.addr)).await;
    raw.send(json!({"type":"init"})).await;
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        if let common::Event::Json(v) = raw.next_event().await {
            kinds.push(v["type"].as_str().unwrap_or("").to_string());
        }
    }
    assert_eq!(kinds, ["init", "heartbeat"]);

    // A published simulation feeds an ordinary channel.
    let mut d = srv.client().await;
    d.call(json!({"type":"subscribe","channel":"mfn:features"}))
        .await;
    let v: Value = d.recv().await;
    assert_eq!(
        (v["type"].clone(), v["channel"].clone()),
        (json!("feature_update"), json!("mfn:features"))
    );
    assert!(v["data"]["features"]["fractal_dimension"].is_number());
}
