//! Publish throughput into each history engine: `Hub::publish` on a
//! channel with history and no subscribers (so it measures encode +
//! append), with 1 and 16 concurrent publishers.
//!
//! cargo run --release -p wavecast-server --example engine_throughput -- \
//!     [--n 50000] [--size 100] [--redis-url redis://127.0.0.1:6379] \
//!     [--publishers 1,16] [--only redis]
//!
//! `--only redis` measures Redis alone (with `--redis-url`); with several
//! publishers, each publishes to its own channel. Prints one JSON line per
//! engine and concurrency.

use std::time::Instant;

use wavecast_server::broker::Broker;
use wavecast_server::config::{Config, EngineKind, Fsync};
use wavecast_server::state::AppState;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn run(label: &str, mut cfg: Config, n: usize, size: usize, tasks: usize) {
    cfg.port = 0;
    let state = match AppState::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{label}: {e}");
            return;
        }
    };
    // Let a Redis broker connect before the clock starts.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while !state.hub.broker().healthy() && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let data = serde_json::json!({ "pad": "x".repeat(size.saturating_sub(12)) }).to_string();
    let channel = format!("bench:{}", fastrand::u64(..));
    let started = Instant::now();
    let per = n / tasks;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let state = state.clone();
        let data = data.clone();
        let channel = format!("{channel}-{t}");
        handles.push(tokio::spawn(async move {
            let mut failures = 0usize;
            for _ in 0..per {
                if state
                    .hub
                    .publish(
                        &channel,
                        "publication",
                        bytes::Bytes::from(data.clone()),
                        None,
                    )
                    .await
                    .is_err()
                {
                    failures += 1;
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for h in handles {
        failures += h.await.unwrap_or(per);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "engine": label,
            "publishers": tasks,
            "publications": per * tasks,
            "failures": failures,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "per_second": ((per * tasks) as f64 / secs).round(),
        })
    );
}

async fn run_redis(url: &str, n: usize, size: usize, tasks: usize) {
    let redis = Config {
        engine: EngineKind::Redis,
        redis_url: url.to_string(),
        ..Config::default()
    };
    run("redis", redis, n, size, tasks).await;
}

#[tokio::main]
async fn main() {
    let n: usize = arg("--n").and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let size: usize = arg("--size").and_then(|v| v.parse().ok()).unwrap_or(100);
    let dir = std::env::temp_dir().join(format!("wavecast-engine-bench-{}", std::process::id()));
    let publishers: Vec<usize> = arg("--publishers")
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16]);
    let only_redis = arg("--only").as_deref() == Some("redis");
    for tasks in publishers {
        if only_redis {
            if let Some(url) = arg("--redis-url") {
                run_redis(&url, n, size, tasks).await;
            }
            continue;
        }
        let memory = Config {
            engine: EngineKind::Memory,
            ..Config::default()
        };
        run("memory", memory, n, size, tasks).await;

        for fsync in [Fsync::default(), Fsync::Always] {
            let embedded = Config {
                engine: EngineKind::Embedded,
                fsync,
                data_dir: dir.join(format!("{fsync}-{tasks}")),
                ..Config::default()
            };
            // fsync on every write is slow: measure fewer.
            let count = if fsync == Fsync::Always { n / 25 } else { n };
            run(
                &format!("embedded(fsync={fsync})"),
                embedded,
                count,
                size,
                tasks,
            )
            .await;
        }
        if let Some(url) = arg("--redis-url") {
            run_redis(&url, n / 5, size, tasks).await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
