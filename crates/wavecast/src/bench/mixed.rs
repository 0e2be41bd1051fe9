//! The mixed scenario: feed subscribers over several channels, churning
//! users and users that leave and come back with recovery, at once.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use wavecast_client::{Client, ClientConfig, Position, Recovery, SubEvent, SubscribeOptions};

use super::ctx::Ctx;
use super::publisher::PubReport;
use super::scenarios::{
    channels_of, churn_loops, connect_json, counters, deliveries, errors_json, header, merge, secs,
    warmup,
};
use super::stats::server_json;
use super::stats::summary_ms;
use super::verdict::Verdict;

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
}

/// Users that leave and come back, resuming with recovery from the last
/// position they saw (wavecast only). Checks that offsets stay continuous
/// (not `seq`: with several publishes in flight, publications may reach
/// the server, and so take their offsets, out of `seq` order).
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

/// Stays subscribed about a second, checking offset continuity.
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
                    if let (Some(o), Some(ps)) = (p.offset, resume.pos.as_mut()) {
                        if resumed && o > ps.offset + 1 {
                            t.gaps += o - ps.offset - 1;
                        }
                        ps.offset = o;
                    }
                    resumed = true;
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
) -> Result<Vec<tokio::task::JoinHandle<PubReport>>, String> {
    let publishers: Vec<_> = channels
        .iter()
        .map(|c| ctx.publisher(c))
        .collect::<Result<_, _>>()?;
    Ok(publishers
        .into_iter()
        .map(|p| {
            let (rate, progress) = (ctx.args.rate, ctx.status.published.clone());
            let concurrency = ctx.args.pub_concurrency;
            tokio::spawn(async move { p.run(rate, duration, 1, concurrency, progress).await })
        })
        .collect())
}

async fn join_publishers(
    tasks: Vec<tokio::task::JoinHandle<PubReport>>,
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
                "feature_streaming": "not part of mixed: measure the stream endpoints with `wavecast bench streams`",
                "simulation_streaming": "not part of mixed: measure the stream endpoints with `wavecast bench streams`",
            },
            "server_stats": server_json(&a.server_pid, s0, s1),
        }),
    );
    merge(&mut out, errors_json(&fin, &pubs.first_errors));
    let mut v = Verdict::default();
    v.connections(&fin, a.subscribers);
    v.publishing(
        pubs.published,
        pubs.errors,
        pubs.first_errors.first().map(String::as_str),
        a.rate > 0.0,
    );
    v.delivery(rep.unique, expected, a.min_delivery);
    let churn_errors = out["churn_users"]["error_count"].as_u64().unwrap_or(0);
    if churn_errors > 0 {
        v.other(format!("{churn_errors} churn cycles failed"));
    }
    let rec = &out["recovery_users"];
    let rec_errors = rec["error_count"].as_u64().unwrap_or(0);
    let rec_gaps = rec["gaps_after_recovery"].as_u64().unwrap_or(0);
    if rec_errors + rec_gaps > 0 {
        v.other(format!(
            "recovery users: {rec_errors} errors, {rec_gaps} publications missing after recovery"
        ));
    }
    v.write(&mut out);
    Ok(out)
}
