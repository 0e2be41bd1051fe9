//! The fanout, connections and churn scenarios, and the parts of a result
//! every scenario shares (throughput and mixed live in their own modules).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::args::Settings;
use super::ctx::Ctx;
use super::pools::Pools;
use super::stats::{histogram, record, summary_ms, PoolReport};
use super::stats::{round3, server_json};
use super::verdict::Verdict;

/// The channels subscribers spread over (subscriber i takes i mod len).
pub fn channels_of(args: &Settings) -> Vec<String> {
    if args.scenario == super::args::Scenario::Mixed {
        (0..args.channels.max(1))
            .map(|k| format!("{}-{k}", args.channel))
            .collect()
    } else {
        vec![args.channel.clone()]
    }
}

pub fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.max(0.0))
}

/// Generic mode: publish probes until every subscriber has seen one, so
/// measuring starts only once every subscription is live.
pub async fn warmup(
    ctx: &Ctx,
    pools: &Pools,
    connected: u64,
    channels: &[String],
) -> Result<(), String> {
    if !ctx.generic() {
        return Ok(());
    }
    ctx.status.phase("warmup");
    let deadline = Instant::now() + Duration::from_secs(30);
    let pubs: Vec<_> = channels
        .iter()
        .map(|c| ctx.publisher(c))
        .collect::<Result<_, _>>()?;
    while pools.progress().probed < connected {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {connected} subscribers received a probe within 30 s: check the templates",
                pools.progress().probed
            ));
        }
        for p in &pubs {
            p.probe().await?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The common part of a delivery report. With nothing expected (nothing
/// connected or published) the ratios are `null`, never a perfect 1.
pub fn deliveries(report: &PoolReport, base_unique: u64, expected: u64, seconds: f64) -> Value {
    let delivered = report.unique.saturating_sub(base_unique);
    let ratio = (expected > 0).then(|| delivered as f64 / expected as f64);
    json!({
        "expected": expected,
        "delivered": delivered,
        "delivery_ratio": ratio.map(|r| (r * 1e6).round() / 1e6),
        "drop_rate": ratio.map(|r| ((1.0 - r).max(0.0) * 1e6).round() / 1e6),
        "deliveries_per_s": if seconds > 0.0 { (delivered as f64 / seconds).round() } else { 0.0 },
        "latency_ms": summary_ms(&PoolReport::hist(&report.latency_us)),
    })
}

pub fn counters(r: &PoolReport) -> Value {
    json!({
        "received": r.received,
        "gaps": r.seq_gaps,
        "duplicates": r.duplicates,
        "offset_gaps": r.offset_gaps,
        "dropped_notices": r.dropped_notices,
        "closed_early": r.closed_early,
        "close_codes": r.close_codes,
    })
}

pub fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

pub fn header(ctx: &Ctx) -> Value {
    let a = &ctx.args;
    json!({
        "scenario": a.scenario.name(),
        "preset": a.preset,
        "mode": if ctx.generic() { "generic" } else { "wavecast" },
        "server": a.client.server,
        "subscribers": a.subscribers,
        "workers": a.workers,
        "src_ips": a.src_ips,
        "size": a.size,
        "channel": a.channel,
    })
}

pub fn connect_json(r: &PoolReport) -> Value {
    json!({
        "connected": r.connected,
        "connect_failed": r.connect_failed,
        "connect_ms": summary_ms(&PoolReport::hist(&r.connect_us)),
        "subscribe_ms": summary_ms(&PoolReport::hist(&r.subscribe_us)),
    })
}

pub fn errors_json(r: &PoolReport, extra: &[String]) -> Value {
    let mut errors = r.errors.clone();
    errors.extend(extra.iter().cloned());
    json!({"error_count": r.error_count + extra.len() as u64, "errors": errors})
}

type ProcStat = super::procfs::ProcStat;

/// The server's CPU seconds per million deliveries between two readings.
pub fn cpu_per_million(a: Option<ProcStat>, b: Option<ProcStat>, delivered: u64) -> Option<f64> {
    per_million(a, b, delivered, |s| s.cpu_s)
}

/// The kernel's share of [`cpu_per_million`] (system time).
pub fn sys_per_million(a: Option<ProcStat>, b: Option<ProcStat>, delivered: u64) -> Option<f64> {
    per_million(a, b, delivered, |s| s.sys_s)
}

fn per_million(
    a: Option<ProcStat>,
    b: Option<ProcStat>,
    delivered: u64,
    seconds: fn(&ProcStat) -> f64,
) -> Option<f64> {
    let (a, b) = (a?, b?);
    (delivered > 0).then(|| round3((seconds(&b) - seconds(&a)) / (delivered as f64 / 1e6)))
}

/// Writes the bench's own load (`client`, `client_bound`,
/// `client_bound_reasons`).
pub fn client_json(out: &mut Value, loads: &[super::monitor::ClientLoad]) {
    if let [one] = loads {
        out["client"] = one.json();
    }
    let reasons = super::monitor::ClientLoad::any_bound(loads);
    out["client_bound"] = json!(!reasons.is_empty());
    out["client_bound_reasons"] = json!(reasons);
}

pub async fn fanout(ctx: &Ctx) -> Result<Value, String> {
    let a = &ctx.args;
    let channels = channels_of(a);
    let mut pools = ctx.start_pools(a.subscribers, channels.clone())?;
    ctx.status.phase("connecting");
    let connected = pools.wait_ready(ctx.ready_bound(a.subscribers)).await?;
    warmup(ctx, &pools, connected, &channels).await?;
    let publisher = ctx.publisher(&a.channel)?;
    let s0 = ctx.server_stat();
    let mark = ctx.monitor.mark();
    ctx.status.phase("publishing");
    let pr = if connected > 0 {
        publisher
            .run(
                a.rate,
                secs(a.duration),
                1,
                a.pub_concurrency,
                ctx.status.published.clone(),
            )
            .await
    } else {
        super::publisher::PubReport::default()
    };
    ctx.status.phase("draining");
    let rep = pools.report(pr.ok, secs(a.drain)).await?;
    let s1 = ctx.server_stat();
    let load = ctx.monitor.summary(&mark, pr.lag_p99_ms());
    ctx.status.phase("closing");
    let fin = pools.stop().await?;

    let expected = rep.connected * pr.ok;
    let mut out = header(ctx);
    merge(&mut out, json!({"rate": a.rate, "duration_s": a.duration}));
    merge(&mut out, pr.json(a.pub_concurrency));
    merge(&mut out, connect_json(&fin));
    merge(&mut out, deliveries(&rep, 0, expected, pr.seconds));
    merge(&mut out, counters(&fin));
    let mut server = server_json(&a.server_pid, s0, s1);
    if let Some(c) = cpu_per_million(s0, s1, rep.unique) {
        server["cpu_s_per_million"] = json!(c);
    }
    if let Some(c) = sys_per_million(s0, s1, rep.unique) {
        server["cpu_sys_s_per_million"] = json!(c);
    }
    out["server_stats"] = server;
    client_json(&mut out, &[load]);
    let extra: Vec<String> = pr.first_error.iter().cloned().collect();
    merge(&mut out, errors_json(&fin, &extra));
    let mut v = Verdict::default();
    v.connections(&fin, a.subscribers);
    if connected > 0 {
        v.publishing(pr.ok, pr.errors, pr.first_error.as_deref(), a.rate > 0.0);
    }
    v.delivery(rep.unique, expected, a.min_delivery);
    v.write(&mut out);
    Ok(out)
}

pub async fn connections(ctx: &Ctx) -> Result<Value, String> {
    let a = &ctx.args;
    let s0 = ctx.server_stat();
    let mut pools = ctx.start_pools(a.subscribers, channels_of(a))?;
    ctx.status.phase("connecting");
    let connected = pools.wait_ready(ctx.ready_bound(a.subscribers)).await?;
    ctx.status.phase("settling");
    tokio::time::sleep(secs(a.settle)).await;
    let s1 = ctx.server_stat();
    ctx.status.phase("holding");
    tokio::time::sleep(secs(a.duration)).await;
    let s2 = ctx.server_stat();
    let alive = pools.progress().ready;
    ctx.status.phase("closing");
    let fin = pools.stop().await?;
    let mut out = header(ctx);
    merge(&mut out, connect_json(&fin));
    out["hold_s"] = json!(a.duration);
    out["still_open_after_hold"] = json!(alive.saturating_sub(fin.closed_early).min(connected));
    let mut server = server_json(&a.server_pid, s0, s1);
    if let (Some(x), Some(y)) = (s0, s1) {
        if connected > 0 {
            server["rss_bytes_per_connection"] =
                json!(((y.rss_kb as f64 - x.rss_kb as f64) * 1024.0 / connected as f64).round());
        }
        if let Some(z) = s2 {
            server["rss_kb_after_hold"] = json!(z.rss_kb);
            server["cpu_s_during_hold"] = json!(round3(z.cpu_s - y.cpu_s));
        }
    }
    out["server_stats"] = server;
    merge(&mut out, counters(&fin));
    merge(&mut out, errors_json(&fin, &[]));
    let mut v = Verdict::default();
    v.connections(&fin, a.subscribers);
    if !a.server_pid.is_empty() && s0.is_none() {
        v.other("cannot read the server's /proc entries (--server-pid)");
    }
    v.write(&mut out);
    Ok(out)
}

/// Connect → subscribe → close loops; returns (cycles, errors, histogram).
pub async fn churn_loops(
    ctx: &Ctx,
    concurrency: u64,
    channel: &str,
    duration: Duration,
) -> (u64, Vec<String>, u64, hdrhistogram::Histogram<u64>, f64) {
    let deadline = Instant::now() + duration;
    let next_index = Arc::new(AtomicU64::new(1_000_000));
    let hist = Arc::new(Mutex::new(histogram()));
    let errors: Arc<Mutex<(u64, Vec<String>)>> = Arc::default();
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (target, next_index, hist, errors) = (
                ctx.target.clone(),
                next_index.clone(),
                hist.clone(),
                errors.clone(),
            );
            let cycles = ctx.status.clone();
            let channel = channel.to_string();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let index = next_index.fetch_add(1, Ordering::Relaxed);
                    let r = async {
                        let (mut ws, _) = target.connect(index, &channel).await?;
                        target.subscribe(&mut ws, &channel).await?;
                        let _ = tokio::time::timeout(
                            Duration::from_secs(2),
                            futures_util::SinkExt::close(&mut ws),
                        )
                        .await;
                        Ok::<(), String>(())
                    }
                    .await;
                    match r {
                        Ok(()) => {
                            if let Ok(mut h) = hist.lock() {
                                record(&mut h, t.elapsed().as_micros() as u64);
                            }
                            cycles.cycles.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Ok(mut g) = errors.lock() {
                                g.0 += 1;
                                if g.1.len() < 10 {
                                    g.1.push(e);
                                }
                            }
                            // Do not spin on a refusing server.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let h = hist
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| histogram());
    let (n_err, errs) = errors.lock().map(|g| g.clone()).unwrap_or_default();
    (h.len(), errs, n_err, h, elapsed)
}

pub async fn churn(ctx: &Ctx) -> Result<Value, String> {
    let a = &ctx.args;
    ctx.status.phase("churning");
    let s0 = ctx.server_stat();
    let (cycles, errs, n_err, h, elapsed) =
        churn_loops(ctx, a.subscribers, &a.channel, secs(a.duration)).await;
    let s1 = ctx.server_stat();
    let mut out = header(ctx);
    merge(
        &mut out,
        json!({
            "concurrency": a.subscribers,
            "duration_s": a.duration,
            "cycles": cycles,
            "connections_per_s": if elapsed > 0.0 { (cycles as f64 / elapsed).round() } else { 0.0 },
            "cycle_ms": summary_ms(&h),
            "server_stats": server_json(&a.server_pid, s0, s1),
            "error_count": n_err,
            "errors": errs,
        }),
    );
    let mut v = Verdict::default();
    if cycles == 0 {
        v.other(format!(
            "no connect-subscribe-close cycle completed{}",
            errs.first()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        ));
    } else if n_err > 0 {
        v.other(format!("{n_err} churn cycles failed"));
    }
    v.write(&mut out);
    Ok(out)
}
