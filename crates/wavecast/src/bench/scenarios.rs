//! The bench scenarios, each returning its JSON result.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use wavecast_client::{Client, ClientConfig, Position, Recovery, SubEvent, SubscribeOptions};

use super::pools::Pools;
use super::stats::{histogram, record, summary_ms, PoolReport};
use super::{procfs, round3, server_json, BenchArgs, Ctx};

/// The channels subscribers spread over (subscriber i takes i mod len).
pub fn channels_of(args: &BenchArgs) -> Vec<String> {
    if args.scenario == super::Scenario::Mixed {
        (0..args.channels.max(1))
            .map(|k| format!("{}-{k}", args.channel))
            .collect()
    } else {
        vec![args.channel.clone()]
    }
}

fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.max(0.0))
}

/// Generic mode: publish probes until every subscriber has seen one, so
/// measuring starts only once every subscription is live.
async fn warmup(
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
    while pools.progress().2 < connected {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {connected} subscribers received a probe within 30 s: check the templates",
                pools.progress().2
            ));
        }
        for p in &pubs {
            p.probe().await?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The common part of a delivery report.
fn deliveries(report: &PoolReport, base_unique: u64, expected: u64, seconds: f64) -> Value {
    let delivered = report.unique.saturating_sub(base_unique);
    let ratio = if expected == 0 {
        1.0
    } else {
        delivered as f64 / expected as f64
    };
    json!({
        "expected": expected,
        "delivered": delivered,
        "delivery_ratio": (ratio * 1e6).round() / 1e6,
        "drop_rate": ((1.0 - ratio).max(0.0) * 1e6).round() / 1e6,
        "deliveries_per_s": if seconds > 0.0 { (delivered as f64 / seconds).round() } else { 0.0 },
        "latency_ms": summary_ms(&PoolReport::hist(&report.latency_us)),
    })
}

fn counters(r: &PoolReport) -> Value {
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

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn header(ctx: &Ctx) -> Value {
    let a = &ctx.args;
    json!({
        "scenario": a.scenario.name(),
        "mode": if ctx.generic() { "generic" } else { "wavecast" },
        "server": a.client.server,
        "subscribers": a.subscribers,
        "workers": a.workers,
        "src_ips": a.src_ips,
        "size": a.size,
        "channel": a.channel,
    })
}

fn connect_json(r: &PoolReport) -> Value {
    json!({
        "connected": r.connected,
        "connect_failed": r.connect_failed,
        "connect_ms": summary_ms(&PoolReport::hist(&r.connect_us)),
        "subscribe_ms": summary_ms(&PoolReport::hist(&r.subscribe_us)),
    })
}

fn errors_json(r: &PoolReport, extra: &[String]) -> Value {
    let mut errors = r.errors.clone();
    errors.extend(extra.iter().cloned());
    json!({"error_count": r.error_count + extra.len() as u64, "errors": errors})
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
    let b0 = procfs::read("self");
    ctx.status.phase("publishing");
    let pr = publisher
        .run(a.rate, secs(a.duration), 1, ctx.status.published.clone())
        .await;
    ctx.status.phase("draining");
    let rep = pools.report(pr.ok, secs(a.drain)).await?;
    let s1 = ctx.server_stat();
    let b1 = procfs::read("self");
    ctx.status.phase("closing");
    let fin = pools.stop().await?;

    let expected = rep.connected * pr.ok;
    let mut out = header(ctx);
    merge(
        &mut out,
        json!({
            "rate": a.rate,
            "duration_s": a.duration,
            "published": pr.ok,
            "publish_errors": pr.errors,
            "first_publish_error": pr.first_error,
            "publish_seconds": round3(pr.seconds),
            "server_reported_delivered": pr.server_delivered,
        }),
    );
    merge(&mut out, connect_json(&fin));
    merge(&mut out, deliveries(&rep, 0, expected, pr.seconds));
    merge(&mut out, counters(&fin));
    let mut server = server_json(a.server_pid, s0, s1);
    if let (Some(x), Some(y)) = (s0, s1) {
        let delivered = rep.unique as f64;
        if delivered > 0.0 {
            server["cpu_s_per_million"] = json!(round3((y.cpu_s - x.cpu_s) / (delivered / 1e6)));
        }
    }
    out["server_stats"] = server;
    if let (Some(x), Some(y)) = (b0, b1) {
        out["bench_cpu_s"] = json!(round3(y.cpu_s - x.cpu_s));
    }
    let extra: Vec<String> = pr.first_error.iter().cloned().collect();
    merge(&mut out, errors_json(&fin, &extra));
    Ok(out)
}

/// Where a throughput run stands between steps.
struct Stepping {
    rate: f64,
    seq: u64,
    published_total: u64,
    prev_unique: u64,
}

/// One throughput step: its JSON and what decides the next.
struct StepResult {
    json: Value,
    pass: bool,
    ratio: f64,
    publish_errors: u64,
    first_error: Option<String>,
    per_s: f64,
    achieved: f64,
}

async fn throughput_step(
    ctx: &Ctx,
    pools: &mut Pools,
    publisher: &super::publisher::Publisher,
    st: &mut Stepping,
    step: u32,
) -> Result<StepResult, String> {
    let a = &ctx.args;
    ctx.status.phase("publishing");
    let s0 = ctx.server_stat();
    let b0 = procfs::read("self");
    let pr = publisher
        .run(
            st.rate,
            secs(a.step_duration),
            st.seq,
            ctx.status.published.clone(),
        )
        .await;
    st.seq = pr.last_seq + 1;
    st.published_total += pr.ok;
    ctx.status.phase("draining");
    let rep = pools
        .report(st.published_total, secs(a.drain.min(2.0)))
        .await?;
    let s1 = ctx.server_stat();
    let b1 = procfs::read("self");
    let expected = rep.connected * pr.ok;
    let mut d = deliveries(&rep, st.prev_unique, expected, pr.seconds);
    st.prev_unique = rep.unique;
    let ratio = d["delivery_ratio"].as_f64().unwrap_or(0.0);
    let p99 = d["latency_ms"]["p99"].as_f64().unwrap_or(f64::INFINITY);
    let achieved = if pr.seconds > 0.0 {
        pr.ok as f64 / pr.seconds
    } else {
        0.0
    };
    let pass = pr.errors == 0 && ratio >= a.min_delivery && p99 <= a.p99_bound_ms;
    d["step"] = json!(step);
    d["target_rate"] = json!(round3(st.rate));
    d["achieved_rate"] = json!(round3(achieved));
    d["published"] = json!(pr.ok);
    d["publish_errors"] = json!(pr.errors);
    d["pass"] = json!(pass);
    if let (Some(x), Some(y)) = (s0, s1) {
        d["server_cpu_s"] = json!(round3(y.cpu_s - x.cpu_s));
    }
    if let (Some(x), Some(y)) = (b0, b1) {
        // The load generator's share of one core over the step.
        d["bench_cpu_util"] = json!(round3((y.cpu_s - x.cpu_s) / pr.seconds.max(1e-3)));
    }
    let per_s = d["deliveries_per_s"].as_f64().unwrap_or(0.0);
    Ok(StepResult {
        json: d,
        pass,
        ratio,
        publish_errors: pr.errors,
        first_error: pr.first_error,
        per_s,
        achieved,
    })
}

pub async fn throughput(ctx: &Ctx) -> Result<Value, String> {
    let a = &ctx.args;
    let channels = channels_of(a);
    let mut pools = ctx.start_pools(a.subscribers, channels.clone())?;
    ctx.status.phase("connecting");
    let connected = pools.wait_ready(ctx.ready_bound(a.subscribers)).await?;
    warmup(ctx, &pools, connected, &channels).await?;
    let publisher = ctx.publisher(&a.channel)?;
    let mut st = Stepping {
        rate: a.rate.max(1.0),
        seq: 1,
        published_total: 0,
        prev_unique: 0,
    };
    let mut steps = Vec::new();
    let mut best: Option<(f64, f64)> = None;
    let mut stop_reason = "max_steps";
    let mut extra_errors = Vec::new();
    for step in 0..a.max_steps.max(1) {
        let r = throughput_step(ctx, &mut pools, &publisher, &mut st, step).await?;
        steps.push(r.json);
        extra_errors.extend(r.first_error);
        if !r.pass {
            stop_reason = if r.publish_errors > 0 {
                "publish_errors"
            } else if r.ratio < a.min_delivery {
                "delivery_below_minimum"
            } else {
                "p99_above_bound"
            };
            break;
        }
        if best.is_none_or(|(b, _)| r.per_s > b) {
            best = Some((r.per_s, st.rate));
        }
        if r.achieved < 0.9 * st.rate {
            stop_reason = "publisher_cannot_keep_up";
            break;
        }
        st.rate *= a.step_factor;
    }
    ctx.status.phase("closing");
    let fin = pools.stop().await?;
    let mut out = header(ctx);
    merge(&mut out, connect_json(&fin));
    merge(
        &mut out,
        json!({
            "p99_bound_ms": a.p99_bound_ms,
            "min_delivery": a.min_delivery,
            "step_duration_s": a.step_duration,
            "max_sustained_deliveries_per_s": best.map(|b| b.0),
            "max_sustained_rate": best.map(|b| round3(b.1)),
            "stop_reason": stop_reason,
            "steps": steps,
        }),
    );
    merge(&mut out, counters(&fin));
    merge(&mut out, errors_json(&fin, &extra_errors));
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
    let alive = pools.progress().0;
    ctx.status.phase("closing");
    let fin = pools.stop().await?;
    let mut out = header(ctx);
    merge(&mut out, connect_json(&fin));
    out["hold_s"] = json!(a.duration);
    out["still_open_after_hold"] = json!(alive.saturating_sub(fin.closed_early).min(connected));
    let mut server = server_json(a.server_pid, s0, s1);
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
    Ok(out)
}

/// Connect → subscribe → close loops; returns (cycles, errors, histogram).
async fn churn_loops(
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
            "server_stats": server_json(a.server_pid, s0, s1),
            "error_count": n_err,
            "errors": errs,
        }),
    );
    Ok(out)
}

/// What one recovering user did.
#[derive(Default)]
struct UserTally {
    sessions: u64,
    recovered: u64,
    failed: u64,
    gaps: u64,
    received: u64,
    errors: Vec<String>,
}

impl UserTally {
    fn add(&mut self, o: UserTally) {
        self.sessions += o.sessions;
        self.recovered += o.recovered;
        self.failed += o.failed;
        self.gaps += o.gaps;
        self.received += o.received;
        self.errors.extend(o.errors);
    }
}

/// A recovering user's memory across sessions.
#[derive(Default)]
struct Resume {
    pos: Option<Position>,
    last_seq: Option<u64>,
}

/// Users that leave and come back, resuming with recovery from the last
/// position they saw (wavecast only). Checks that `seq` stays continuous.
async fn recovery_users(ctx: &Ctx, users: u64, channel: &str, duration: Duration) -> Value {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..users)
        .map(|_| {
            let server = ctx.args.client.server.clone();
            let auth = (
                ctx.args.client.api_key.clone(),
                ctx.args.client.token.clone(),
            );
            let channel = channel.to_string();
            tokio::spawn(async move { recovery_user(server, auth, channel, deadline).await })
        })
        .collect();
    let mut all = UserTally::default();
    for t in tasks {
        if let Ok(u) = t.await {
            all.add(u);
        }
    }
    json!({
        "users": users,
        "sessions": all.sessions,
        "recovered": all.recovered,
        "recovery_failed": all.failed,
        "gaps_after_recovery": all.gaps,
        "received": all.received,
        "error_count": all.errors.len(),
        "errors": all.errors.into_iter().take(10).collect::<Vec<_>>(),
    })
}

/// One user's sessions until `deadline`.
async fn recovery_user(
    server: String,
    auth: (Option<String>, Option<String>),
    channel: String,
    deadline: Instant,
) -> UserTally {
    let mut t = UserTally::default();
    let mut resume = Resume::default();
    while Instant::now() < deadline {
        let mut cfg = ClientConfig::new(&server).reconnect(false);
        if let Some(k) = &auth.0 {
            cfg = cfg.api_key(k.clone());
        }
        if let Some(tok) = &auth.1 {
            cfg = cfg.token(tok.clone());
        }
        let client = match Client::connect(cfg).await {
            Ok(c) => c,
            Err(e) => {
                t.errors.push(e.to_string());
                break;
            }
        };
        t.sessions += 1;
        let opts = SubscribeOptions {
            recover_from: resume.pos.clone(),
            ..Default::default()
        };
        let mut sub = match client.subscribe_with(&channel, opts).await {
            Ok(s) => s,
            Err(e) => {
                t.errors.push(e.to_string());
                break;
            }
        };
        let mut resumed = true;
        if let Some(s) = sub.confirmed() {
            match &s.recovery {
                Recovery::Recovered { .. } => t.recovered += 1,
                Recovery::Failed { .. } | Recovery::NoHistory => {
                    t.failed += 1;
                    resumed = false;
                }
                Recovery::NotRequested => resumed = false,
            }
            if resume.pos.is_none() || !resumed {
                resume.pos = s.position.clone();
            }
        }
        stay(&mut sub, &mut t, &mut resume, resumed).await;
        let _ = client.close().await;
    }
    t
}

/// Stays subscribed about a second, checking `seq` continuity.
async fn stay(
    sub: &mut wavecast_client::Subscription,
    t: &mut UserTally,
    resume: &mut Resume,
    mut resumed: bool,
) {
    let stay = tokio::time::sleep(Duration::from_millis(700 + fastrand::u64(0..600)));
    tokio::pin!(stay);
    loop {
        tokio::select! {
            _ = &mut stay => break,
            ev = sub.next() => match ev {
                Some(SubEvent::Publication(p)) => {
                    t.received += 1;
                    let seq = super::payload::field_u64(p.data.to_string().as_bytes(), b"\"seq\":");
                    if let (Some(s), Some(l)) = (seq, resume.last_seq) {
                        if resumed && s > l + 1 {
                            t.gaps += s - l - 1;
                        }
                    }
                    resumed = true;
                    if seq.is_some() {
                        resume.last_seq = seq;
                    }
                    if let (Some(o), Some(ps)) = (p.offset, resume.pos.as_mut()) {
                        ps.offset = o;
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
}

/// The publishers' totals in the mixed scenario.
#[derive(Default)]
struct PubTotals {
    published: u64,
    errors: u64,
    seconds: f64,
    first_errors: Vec<String>,
}

/// One publisher per channel at `--rate` for `duration`, in tasks.
fn spawn_publishers(
    ctx: &Ctx,
    channels: &[String],
    duration: Duration,
) -> Result<Vec<tokio::task::JoinHandle<super::publisher::PubReport>>, String> {
    let publishers: Vec<_> = channels
        .iter()
        .map(|c| ctx.publisher(c))
        .collect::<Result<_, _>>()?;
    Ok(publishers
        .into_iter()
        .map(|p| {
            let (rate, progress) = (ctx.args.rate, ctx.status.published.clone());
            tokio::spawn(async move { p.run(rate, duration, 1, progress).await })
        })
        .collect())
}

async fn join_publishers(
    tasks: Vec<tokio::task::JoinHandle<super::publisher::PubReport>>,
) -> Result<PubTotals, String> {
    let mut t = PubTotals::default();
    for task in tasks {
        let r = task.await.map_err(|e| format!("publisher task: {e}"))?;
        t.published += r.ok;
        t.errors += r.errors;
        t.seconds = t.seconds.max(r.seconds);
        t.first_errors.extend(r.first_error);
    }
    Ok(t)
}

fn churn_json(
    concurrency: u64,
    (cycles, errs, n_err, h, elapsed): (u64, Vec<String>, u64, hdrhistogram::Histogram<u64>, f64),
) -> Value {
    json!({
        "concurrency": concurrency,
        "cycles": cycles,
        "connections_per_s": if elapsed > 0.0 { (cycles as f64 / elapsed).round() } else { 0.0 },
        "cycle_ms": summary_ms(&h),
        "error_count": n_err,
        "errors": errs,
    })
}

pub async fn mixed(ctx: &Ctx) -> Result<Value, String> {
    let a = &ctx.args;
    let channels = channels_of(a);
    let mut pools = ctx.start_pools(a.subscribers, channels.clone())?;
    ctx.status.phase("connecting");
    let connected = pools.wait_ready(ctx.ready_bound(a.subscribers)).await?;
    warmup(ctx, &pools, connected, &channels).await?;
    let s0 = ctx.server_stat();
    ctx.status.phase("mixed");
    let duration = secs(a.duration);
    let pub_tasks = spawn_publishers(ctx, &channels, duration)?;
    let churners = (a.subscribers / 20).clamp(1, 50);
    let churn = churn_loops(ctx, churners, &channels[0], duration);
    let users = (a.subscribers / 50).clamp(1, 20);
    let recovery = async {
        if ctx.generic() {
            json!({"not_run": "recovery needs the wavecast protocol"})
        } else {
            recovery_users(ctx, users, &channels[0], duration).await
        }
    };
    let (churned, recovery) = tokio::join!(churn, recovery);
    let pubs = join_publishers(pub_tasks).await?;
    // Every subscriber gets its own channel's publications (equal rates).
    let per_channel = pubs.published / channels.len().max(1) as u64;
    ctx.status.phase("draining");
    let rep = pools.report(per_channel, secs(a.drain)).await?;
    let s1 = ctx.server_stat();
    let fin = pools.stop().await?;
    let expected = rep.connected * per_channel;
    let mut feed = json!({
        "channels": channels.len(),
        "rate_per_channel": a.rate,
        "published": pubs.published,
        "publish_errors": pubs.errors,
    });
    merge(&mut feed, connect_json(&fin));
    merge(&mut feed, deliveries(&rep, 0, expected, pubs.seconds));
    merge(&mut feed, counters(&fin));
    let mut out = header(ctx);
    merge(
        &mut out,
        json!({
            "duration_s": a.duration,
            "feed_users": feed,
            "churn_users": churn_json(churners, churned),
            "recovery_users": recovery,
            "not_run": {
                "feature_streaming": "this server has no feature-streaming endpoint yet",
                "simulation_streaming": "this server has no simulation-streaming endpoint yet",
            },
            "server_stats": server_json(a.server_pid, s0, s1),
        }),
    );
    merge(&mut out, errors_json(&fin, &pubs.first_errors));
    Ok(out)
}
