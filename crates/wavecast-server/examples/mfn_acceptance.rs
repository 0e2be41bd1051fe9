//! The MFN report's acceptance run: a stream to 100 clients for 30 s must
//! drop under 0.5 % of frames with latency under 120 ms. Two shapes:
//! (a) 100 clients on a published simulation room (one simulation,
//! fanned out), (b) 100 clients each running its own feature stream.
//! Latency is from the frame's timestamp (set when it was produced) to
//! its arrival; drops are gaps in the sequence numbers.
//!
//! cargo run --release -p wavecast-server --example mfn_acceptance -- [--secs 30] [--clients 100]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_websockets::{ClientBuilder, Message};
use wavecast_server::config::{Config, EngineKind};
use wavecast_server::Server;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Milliseconds since the epoch of an RFC 3339 `…T12:34:56.789Z` stamp,
/// taken relative to the current day (enough for latency).
fn ms_of_day(ts: &str) -> Option<u64> {
    let t = ts.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = t.split(':');
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3_600_000 + m * 60_000 + (s * 1000.0).round() as u64)
}

fn now_ms_of_day() -> u64 {
    wavecast_protocol::time::now_millis() % 86_400_000
}

struct Outcome {
    received: u64,
    expected_min: u64,
    gaps: u64,
    latencies: Vec<u64>,
}

async fn client(url: String, subscribe: Value, secs: u64, seq_at: &'static str) -> Outcome {
    let mut out = Outcome {
        received: 0,
        expected_min: 0,
        gaps: 0,
        latencies: Vec::new(),
    };
    let Ok(builder) = ClientBuilder::new().uri(&url) else {
        return out;
    };
    let Ok((mut ws2, _)) = builder.connect().await else {
        return out;
    };
    let _ = ws2
        .send(Message::text(json!({"type":"init"}).to_string()))
        .await;
    let _ = ws2.send(Message::text(subscribe.to_string())).await;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last: Option<u64> = None;
    let mut first: Option<u64> = None;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline.into(), ws2.next()).await {
        let Some(t) = msg.as_text() else { continue };
        let v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
        if v["type"] == "heartbeat" {
            let _ = ws2.send(Message::text(r#"{"type":"pong"}"#)).await;
            continue;
        }
        if v["type"] != "feature_update" {
            continue;
        }
        let seq = if seq_at == "data" {
            v["data"]["sequence"].as_u64()
        } else {
            v["sequence"].as_u64()
        };
        let Some(seq) = seq else { continue };
        out.received += 1;
        if let Some(l) = last {
            if seq > l + 1 {
                out.gaps += seq - l - 1;
            }
        }
        first.get_or_insert(seq);
        last = Some(seq);
        if let Some(sent) = v["timestamp"].as_str().and_then(ms_of_day) {
            out.latencies.push(now_ms_of_day().saturating_sub(sent));
        }
    }
    if let (Some(f), Some(l)) = (first, last) {
        out.expected_min = l - f + 1;
    }
    out
}

fn report(label: &str, outcomes: Vec<Outcome>) {
    let received: u64 = outcomes.iter().map(|o| o.received).sum();
    let gaps: u64 = outcomes.iter().map(|o| o.gaps).sum();
    let mut lat: Vec<u64> = outcomes.into_iter().flat_map(|o| o.latencies).collect();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{}",
        json!({
            "run": label,
            "frames_received": received,
            "frames_missing": gaps,
            "drop_percent": if received + gaps > 0 { (gaps as f64 * 100.0 / (received + gaps) as f64 * 1000.0).round() / 1000.0 } else { 0.0 },
            "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": lat.last().copied().unwrap_or(0)},
        })
    );
}

#[tokio::main]
async fn main() {
    let secs = arg("--secs", 30);
    let clients = arg("--clients", 100) as usize;
    let mut cfg = Config::from_toml_str(
        "[streams]\nmax_running = 1000\nmax_per_connection = 4\n[[streams.rooms]]\nchannel = \"mfn:features\"\ninterval = \"100ms\"\nparams = { grid_size = 64 }\n[limits]\nconnection_rate_per_ip = 0\n",
    )
    .unwrap_or_default();
    cfg.engine = EngineKind::Memory;
    cfg.port = 0;
    let Ok(server) = Server::bind(cfg).await else {
        return;
    };
    let Ok(addr) = server.local_addr() else {
        return;
    };
    tokio::spawn(server.run(std::future::pending()));

    let room: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(client(
                format!("ws://{addr}/ws"),
                json!({"type":"subscribe","channel":"mfn:features"}),
                secs,
                "data",
            ))
        })
        .collect();
    let mut outs = Vec::new();
    for h in room {
        if let Ok(o) = h.await {
            outs.push(o);
        }
    }
    report(
        &format!("room mfn:features, {clients} clients, 100 ms, {secs} s"),
        outs,
    );

    let own: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(client(
                format!("ws://{addr}/ws/stream_features"),
                json!({"type":"subscribe","stream_type":"stream_features","stream_id":format!("c{i}"),
                       "params":{"grid_size":32,"update_interval_ms":100,"seed":i}}),
                secs,
                "top",
            ))
        })
        .collect();
    let mut outs = Vec::new();
    for h in own {
        if let Ok(o) = h.await {
            outs.push(o);
        }
    }
    report(
        &format!("own stream per client (32x32), {clients} clients, 100 ms, {secs} s"),
        outs,
    );
}
