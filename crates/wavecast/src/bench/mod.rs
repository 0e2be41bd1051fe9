//! `wavecast bench`: the load generator. Scenarios:
//!
//! - `fanout`: N subscribers on one channel, a publisher at R/s for T s:
//!   delivered vs expected, drop rate, latency percentiles, connect time,
//!   and the server's RSS and CPU seconds with `--server-pid`.
//! - `throughput`: raises the rate step by step until p99 passes a bound or
//!   delivery falls below the minimum; reports the maximum sustained
//!   deliveries per second.
//! - `connections`: N idle, authenticated, subscribed connections held for
//!   T s; the server's RSS per connection.
//! - `churn`: connect, subscribe, disconnect in a loop; connections/s.
//! - `streams`: N concurrent `/ws/stream_features` streams and whether the
//!   server holds their cadence (`streams`).
//! - `mixed`: feed subscribers over several channels, churning users and
//!   users that leave and come back with recovery, at once.
//! - presets `a`, `b`, `c`: issue 9's tests A (connections), B (fanout)
//!   and C (throughput) with their sizes (see `args`).
//!
//! Payloads carry a sequence number and their scheduled send time (see
//! `payload`); subscribers measure latency and find gaps and duplicates.
//! The publisher keeps `--pub-concurrency` publishes in flight.
//! The result is one JSON object on stdout; a progress line goes to stderr.
//! Every result says whether the bench itself was the limit (`client`,
//! `client_bound`: see `monitor`), and a run that measured nothing
//! trustworthy exits non-zero after printing (see `verdict`).
//! With `--sub-url-template` and friends the same scenarios drive other
//! servers (uWebSockets.js, Nchan…: scripts/peers/).

mod args;
mod conn;
mod ctx;
mod mixed;
mod monitor;
mod payload;
mod pools;
mod procfs;
mod publisher;
mod scenarios;
mod stats;
mod streams;
mod throughput;
mod verdict;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

pub use args::{BenchArgs, Scenario};
use stats::round3;

/// Runs `wavecast bench`; prints the JSON result.
pub async fn run(args: BenchArgs) -> Result<(), String> {
    let args = args.resolve();
    args.check()?;
    // The arguments after `bench`, for worker processes.
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let raw: Vec<String> = match raw.iter().position(|a| a == "bench") {
        Some(i) => raw[i..].to_vec(),
        None => raw,
    };
    let ctx = ctx::context(args, raw).await?;
    if let Some(index) = ctx.args.worker_index {
        let channels = scenarios::channels_of(&ctx.args);
        return pools::worker_main(
            ctx.target.clone(),
            ctx.args.subscribers,
            ctx.args.workers,
            index,
            Arc::new(channels),
            ctx.args.connect_concurrency,
            ctx.ready_bound(ctx.args.subscribers),
        )
        .await;
    }
    let status = ctx.status.clone();
    let ticker = tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let (mut last_unique, mut last_at) = (0u64, Instant::now());
        tick.tick().await;
        loop {
            tick.tick().await;
            let line = status.line(&mut last_unique, &mut last_at);
            if tty {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
        }
    });
    let started = Instant::now();
    let result = match ctx.args.scenario {
        Scenario::Fanout => scenarios::fanout(&ctx).await,
        Scenario::Throughput => throughput::throughput(&ctx).await,
        Scenario::Connections => scenarios::connections(&ctx).await,
        Scenario::Churn => scenarios::churn(&ctx).await,
        Scenario::Mixed => mixed::mixed(&ctx).await,
        Scenario::Streams => streams::streams(streams_opts(&ctx), |p| ctx.status.phase(p)).await,
        preset => Err(format!("internal: preset {preset:?} was not resolved")),
    };
    ticker.abort();
    ctx.monitor.stop();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let mut out = result?;
    out["wall_seconds"] = json!(round3(started.elapsed().as_secs_f64()));
    println!(
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string())
    );
    if out["client_bound"] == true {
        eprintln!(
            "wavecast bench: warning: client-bound, these figures are the load generator's limit, not the server's: {}",
            out["client_bound_reasons"]
        );
    }
    match verdict::failed(&out) {
        Some(msg) => Err(msg),
        None => Ok(()),
    }
}

/// What the `streams` scenario takes from the settings.
fn streams_opts(ctx: &ctx::Ctx) -> streams::Opts {
    let a = &ctx.args;
    streams::Opts {
        server: a.client.server.clone(),
        target: (*ctx.target).clone(),
        streams: a.subscribers,
        args: a.streams.clone(),
        duration: Duration::from_secs_f64(a.duration.max(0.0)),
        connect_concurrency: a.connect_concurrency.max(1),
        ready_bound: ctx.ready_bound(a.subscribers),
        server_pids: a.server_pid.clone(),
    }
}
