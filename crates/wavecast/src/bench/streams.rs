//! The `streams` scenario: N concurrent `/ws/stream_features` streams and
//! whether the server holds their cadence.
//!
//! Each connection sends `init`, then `subscribe` for its streams
//! (`--streams-per-connection`, ids `b<n>`), and records the arrival time
//! and `sequence` of every `feature_update`. Measuring starts `--warmup`
//! seconds after the last stream started and lasts `--duration` seconds;
//! only frames that arrive in that window count.
//!
//! - **Interval**: the time between two consecutive frames of a stream.
//!   The mean over all streams must be within ±10 % of
//!   `--interval-ms`.
//! - **Lag**: how much later than its tick a frame arrived. A stream's
//!   ticks are `phase + k · interval`, where `phase` is its earliest
//!   `arrival − sequence · interval` over its whole run (its best-case
//!   delivery); a frame's lag is its distance past the last tick before
//!   it. The p99 over all frames must be ≤ `--lag-bound-ms` (50).
//! - **Skipped ticks**: a tick the server skipped because the stream fell
//!   behind sends no frame, so later frames arrive a whole interval after
//!   their sequence's tick. `skipped_ticks` counts them, and
//!   `schedule_lag_ms` is the lag against the sequence's own tick (each
//!   skipped tick adds an interval to every later frame). A skipped tick
//!   also lengthens the mean interval.
//! - No sequence gaps (dropped frames) and every stream started.
//!
//! Everything stays bounded: connecting has `ready_bound`, each read
//! waits for at most the end of the window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio_websockets::Message;
use wavecast_client::config::http_base;

use super::conn::{Target, Ws};
use super::procfs;
use super::stats::{histogram, record, round3, server_json, summary_ms};

/// The scenario's own options (`wavecast bench streams …`).
#[derive(clap::Args, Clone, Debug)]
pub struct StreamArgs {
    /// Streams: the grid side of each stream.
    #[arg(long, default_value_t = 64)]
    pub grid_size: u64,
    /// Streams: `update_interval_ms` of each stream.
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Streams: `steps_per_update` of each stream.
    #[arg(long, default_value_t = 1)]
    pub steps_per_update: u64,
    /// Streams: streams per connection (--subscribers counts streams).
    #[arg(long, default_value_t = 1)]
    pub streams_per_connection: u64,
    /// Streams: seconds between the last stream starting and measuring.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Streams: the p99 lag bound in ms.
    #[arg(long, default_value_t = 50.0)]
    pub lag_bound_ms: f64,
}

/// The scenario's options.
pub struct Opts {
    /// The server's base URL (`--server`).
    pub server: String,
    /// How to connect and authenticate; its URL is replaced.
    pub target: Target,
    pub streams: u64,
    pub args: StreamArgs,
    pub duration: Duration,
    pub connect_concurrency: usize,
    /// How long connecting and subscribing may take.
    pub ready_bound: Duration,
    pub server_pids: Vec<u32>,
}

/// The arrivals of one stream: (sequence, arrival).
type Arrivals = Vec<(u64, Instant)>;

/// What one connection's task hands back.
#[derive(Default)]
struct ConnResult {
    streams: Vec<Arrivals>,
    dropped_notices: u64,
    error: Option<String>,
}

/// The part of a server frame the bench reads.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    stream_id: Option<&'a str>,
    #[serde(default)]
    sequence: Option<u64>,
}

/// The stream endpoint's URL for `--server`.
fn stream_url(server: &str) -> String {
    let base = http_base(server);
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", base.trim_start_matches("http://"))
    };
    format!("{ws}/ws/stream_features")
}

/// The stream's index within its connection, from its id `b<n>`.
fn stream_index(id: &str, first: u64) -> Option<usize> {
    let n: u64 = id.strip_prefix('b')?.parse().ok()?;
    n.checked_sub(first).map(|i| i as usize)
}

/// Shared by every connection task.
struct Run {
    target: Target,
    params: Value,
    per_conn: u64,
    ready: AtomicU64,
    failed: AtomicU64,
    connect: Semaphore,
    bound: Duration,
}

async fn send(ws: &mut Ws, v: Value) -> Result<(), String> {
    ws.send(Message::text(v.to_string()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Connects and starts streams `first .. first + count`.
async fn open(run: &Run, conn: u64, first: u64, count: u64) -> Result<Ws, String> {
    let _permit = run.connect.acquire().await.map_err(|e| e.to_string())?;
    let (mut ws, _) = run.target.connect(conn, "").await?;
    send(&mut ws, json!({"type":"init","protocol_version":"1.0"})).await?;
    for n in first..first + count {
        let sub = json!({
            "type": "subscribe",
            "stream_type": "stream_features",
            "stream_id": format!("b{n}"),
            "params": run.params,
        });
        send(&mut ws, sub).await?;
    }
    let mut started = 0;
    let wait = async {
        while started < count {
            let m = match ws.next().await {
                None => return Err("closed while subscribing".to_string()),
                Some(Err(e)) => return Err(format!("read: {e}")),
                Some(Ok(m)) => m,
            };
            let Some(t) = m.as_text() else { continue };
            if t.starts_with("{\"type\":\"subscribe_success\"") {
                started += 1;
            } else if t.starts_with("{\"type\":\"subscribe_failed\"")
                || t.starts_with("{\"type\":\"error\"")
            {
                return Err(format!("subscribe refused: {t}"));
            }
        }
        Ok(())
    };
    tokio::time::timeout(run.bound, wait)
        .await
        .map_err(|_| "subscribe timed out".to_string())??;
    Ok(ws)
}

/// One connection: open, then record frames until `stop`.
async fn conn_task(
    run: Arc<Run>,
    conn: u64,
    total: u64,
    mut stop: watch::Receiver<bool>,
) -> ConnResult {
    let first = conn * run.per_conn;
    let count = run.per_conn.min(total - first);
    let mut res = ConnResult {
        streams: (0..count).map(|_| Vec::with_capacity(1024)).collect(),
        ..Default::default()
    };
    let mut ws = match open(&run, conn, first, count).await {
        Ok(ws) => ws,
        Err(e) => {
            run.failed.fetch_add(1, Ordering::Relaxed);
            res.error = Some(e);
            return res;
        }
    };
    run.ready.fetch_add(1, Ordering::Relaxed);
    loop {
        let m = tokio::select! {
            _ = stop.changed() => break,
            m = ws.next() => m,
        };
        let at = Instant::now();
        let m = match m {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                res.error = Some(format!("read: {e}"));
                break;
            }
            None => {
                res.error = Some("closed by the server".into());
                break;
            }
        };
        let Some(t) = m.as_text() else { continue };
        let Ok(f) = serde_json::from_str::<Frame>(t) else {
            continue;
        };
        match (f.kind, f.stream_id, f.sequence) {
            ("feature_update", Some(id), Some(seq)) => {
                if let Some(s) = stream_index(id, first).and_then(|i| res.streams.get_mut(i)) {
                    s.push((seq, at));
                }
            }
            ("dropped", _, _) => res.dropped_notices += 1,
            ("heartbeat", _, _) => {
                let _ = send(&mut ws, json!({"type":"pong"})).await;
            }
            _ => {}
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close()).await;
    res
}

/// The cadence figures of every stream over `[t0, t1]`.
struct Cadence {
    interval_us: hdrhistogram::Histogram<u64>,
    lag_us: hdrhistogram::Histogram<u64>,
    schedule_lag_us: hdrhistogram::Histogram<u64>,
    skipped_ticks: u64,
    /// Mean interval of each stream that had two frames in the window (ms).
    means_ms: Vec<f64>,
    frames: u64,
    seq_gaps: u64,
    silent_streams: u64,
}

fn cadence(results: &[ConnResult], t0: Instant, t1: Instant, interval: Duration) -> Cadence {
    let mut c = Cadence {
        interval_us: histogram(),
        lag_us: histogram(),
        schedule_lag_us: histogram(),
        skipped_ticks: 0,
        means_ms: Vec::new(),
        frames: 0,
        seq_gaps: 0,
        silent_streams: 0,
    };
    let step = interval.as_secs_f64();
    for s in results.iter().flat_map(|r| r.streams.iter()) {
        // Each frame's offset from its ideal schedule, in seconds after t0.
        let offset = |&(seq, at): &(u64, Instant)| {
            let since = if at >= t0 {
                at.duration_since(t0).as_secs_f64()
            } else {
                -t0.duration_since(at).as_secs_f64()
            };
            since - seq as f64 * step
        };
        let phase = s.iter().map(offset).fold(f64::INFINITY, f64::min);
        let window: Vec<&(u64, Instant)> =
            s.iter().filter(|(_, at)| *at >= t0 && *at < t1).collect();
        if window.len() < 2 {
            c.silent_streams += 1;
            continue;
        }
        for pair in window.windows(2) {
            let ((s0, a0), (s1, a1)) = (pair[0], pair[1]);
            record(
                &mut c.interval_us,
                a1.duration_since(*a0).as_micros() as u64,
            );
            c.seq_gaps += s1.saturating_sub(s0 + 1);
        }
        // Whole intervals behind the sequence's tick (skipped ticks), with
        // a little slack for rounding.
        let ticks = |late: f64| (late / step + 1e-6).floor();
        for f in &window {
            let late = offset(f) - phase;
            record(&mut c.schedule_lag_us, (late * 1e6) as u64);
            let lag = (late - ticks(late) * step).max(0.0);
            record(&mut c.lag_us, (lag * 1e6) as u64);
        }
        let (a, b) = (
            offset(window[0]) - phase,
            offset(window[window.len() - 1]) - phase,
        );
        c.skipped_ticks += (ticks(b) - ticks(a)).max(0.0) as u64;
        c.frames += window.len() as u64;
        let (first, last) = (window[0].1, window[window.len() - 1].1);
        c.means_ms
            .push(last.duration_since(first).as_secs_f64() * 1e3 / (window.len() - 1) as f64);
    }
    c
}

/// Runs the scenario; `phase` names what it is doing (progress line).
pub async fn streams(o: Opts, phase: impl Fn(&'static str)) -> Result<Value, String> {
    let per_connection = o.args.streams_per_connection.max(1);
    let conns = o.streams.div_ceil(per_connection);
    let mut target = o.target.clone();
    target.url_template = stream_url(&o.server);
    target.sub_message = None;
    let run = Arc::new(Run {
        target,
        params: json!({
            "grid_size": o.args.grid_size,
            "update_interval_ms": o.args.interval_ms,
            "steps_per_update": o.args.steps_per_update,
        }),
        per_conn: per_connection,
        ready: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        connect: Semaphore::new(o.connect_concurrency),
        bound: o.ready_bound,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    phase("connecting");
    let tasks: Vec<_> = (0..conns)
        .map(|i| tokio::spawn(conn_task(run.clone(), i, o.streams, stop_rx.clone())))
        .collect();
    let deadline = Instant::now() + run.bound;
    while run.ready.load(Ordering::Relaxed) + run.failed.load(Ordering::Relaxed) < conns
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phase("warmup");
    tokio::time::sleep(Duration::from_secs_f64(o.args.warmup.max(0.0))).await;
    let server_stat = || procfs::read_all(&o.server_pids);
    let (s0, b0, t0) = (server_stat(), procfs::read("self"), Instant::now());
    phase("measuring");
    tokio::time::sleep(o.duration).await;
    let (s1, b1, t1) = (server_stat(), procfs::read("self"), Instant::now());
    phase("closing");
    let _ = stop_tx.send(true);
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.map_err(|e| format!("connection task: {e}"))?);
    }
    let seconds = t1.duration_since(t0).as_secs_f64();
    let interval = Duration::from_millis(o.args.interval_ms);
    let mut out = report(&o, &results, cadence(&results, t0, t1, interval), seconds);
    let mut server = server_json(&o.server_pids, s0, s1);
    if let (Some(x), Some(y)) = (s0, s1) {
        server["cpu_util"] = json!(round3((y.cpu_s - x.cpu_s) / seconds.max(1e-3)));
    }
    out["server_stats"] = server;
    if let (Some(x), Some(y)) = (b0, b1) {
        out["bench_cpu_util"] = json!(round3((y.cpu_s - x.cpu_s) / seconds.max(1e-3)));
    }
    Ok(out)
}

fn report(o: &Opts, results: &[ConnResult], c: Cadence, seconds: f64) -> Value {
    let target_ms = o.args.interval_ms as f64;
    let n = c.means_ms.len().max(1) as f64;
    let mean = c.means_ms.iter().sum::<f64>() / n;
    let worst = c.means_ms.iter().copied().fold(target_ms, |w, m| {
        if (m - target_ms).abs() > (w - target_ms).abs() {
            m
        } else {
            w
        }
    });
    let lag = summary_ms(&c.lag_us);
    let p99 = lag["p99"].as_f64().unwrap_or(f64::INFINITY);
    let errors: Vec<&String> = results.iter().filter_map(|r| r.error.as_ref()).collect();
    let started = results
        .iter()
        .filter(|r| r.streams.iter().any(|s| !s.is_empty()))
        .count();
    let mean_ok = (mean - target_ms).abs() <= 0.1 * target_ms;
    let pass = mean_ok && p99 <= o.args.lag_bound_ms && c.seq_gaps == 0 && c.silent_streams == 0;
    json!({
        "scenario": "streams",
        "server": o.server,
        "streams": o.streams,
        "streams_per_connection": o.args.streams_per_connection.max(1),
        "grid_size": o.args.grid_size,
        "interval_ms": o.args.interval_ms,
        "steps_per_update": o.args.steps_per_update,
        "duration_s": round3(seconds),
        "connections_started": started,
        "frames": c.frames,
        "frames_per_s": (c.frames as f64 / seconds.max(1e-3)).round(),
        "mean_interval_ms": round3(mean),
        "worst_stream_mean_interval_ms": round3(worst),
        "interval_ms_hist": summary_ms(&c.interval_us),
        "lag_ms": lag,
        "lag_bound_ms": o.args.lag_bound_ms,
        "schedule_lag_ms": summary_ms(&c.schedule_lag_us),
        "skipped_ticks": c.skipped_ticks,
        "seq_gaps": c.seq_gaps,
        "dropped_notices": results.iter().map(|r| r.dropped_notices).sum::<u64>(),
        "silent_streams": c.silent_streams,
        "pass": pass,
        "error_count": errors.len(),
        "errors": errors.iter().take(10).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_ids() {
        assert_eq!(
            stream_url("http://127.0.0.1:8000"),
            "ws://127.0.0.1:8000/ws/stream_features"
        );
        assert_eq!(stream_url("https://h/x"), "wss://h/ws/stream_features");
        assert_eq!(stream_index("b12", 10), Some(2));
        assert_eq!(stream_index("b9", 10), None);
        assert_eq!(stream_index("x", 0), None);
    }

    #[test]
    fn cadence_of_a_steady_and_a_late_stream() {
        let t0 = Instant::now();
        let ms = |x: u64| t0 + Duration::from_millis(x);
        // Steady: every 100 ms. Late: frame 3 arrives 60 ms late.
        let steady: Arrivals = (0..6).map(|s| (s, ms(s * 100))).collect();
        let late: Arrivals = (0..6)
            .map(|s| (s, ms(s * 100 + if s == 3 { 60 } else { 0 })))
            .collect();
        let r = ConnResult {
            streams: vec![steady, late],
            ..Default::default()
        };
        let c = cadence(&[r], t0, ms(1000), Duration::from_millis(100));
        assert_eq!(c.frames, 12);
        assert_eq!((c.seq_gaps, c.skipped_ticks), (0, 0));
        assert!((c.means_ms[0] - 100.0).abs() < 0.5);
        let max_ms = c.lag_us.max() as f64 / 1e3;
        assert!((59.0..=61.0).contains(&max_ms), "{max_ms}");
    }

    #[test]
    fn a_skipped_tick_is_counted_not_lag() {
        let t0 = Instant::now();
        let ms = |x: u64| t0 + Duration::from_millis(x);
        // The tick at 300 ms is skipped: frames 3.. arrive one tick later.
        let s: Arrivals = (0..6)
            .map(|q| (q, ms(q * 100 + if q >= 3 { 100 } else { 0 })))
            .collect();
        let r = ConnResult {
            streams: vec![s],
            ..Default::default()
        };
        let c = cadence(&[r], t0, ms(1000), Duration::from_millis(100));
        assert_eq!((c.seq_gaps, c.skipped_ticks), (0, 1));
        assert!(c.lag_us.max() < 1_000, "{}", c.lag_us.max());
        assert!(c.schedule_lag_us.max() >= 99_000);
    }
}
