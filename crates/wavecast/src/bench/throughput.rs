//! The throughput scenario (preset C): the highest sustained deliveries
//! per second. The publish rate starts at `--rate` and is multiplied by
//! `--step-factor` each `--step-duration` step while a step passes (no
//! publish error, ≥ `--min-delivery` delivered, p99 ≤ `--p99-bound-ms`);
//! after the first failing step, `--refine` more steps bisect between the
//! last passing and the failing rate. The result is the best passing
//! step's deliveries per second; each step reports the bench's own load,
//! and a step the bench itself limited is marked client-bound.

use serde_json::{json, Value};

use super::ctx::Ctx;
use super::monitor::ClientLoad;
use super::pools::Pools;
use super::publisher::Publisher;
use super::scenarios::{
    channels_of, client_json, connect_json, counters, cpu_per_million, deliveries, errors_json,
    header, merge, secs, sys_per_million, warmup,
};
use super::stats::round3;
use super::verdict::Verdict;

/// Where a throughput run stands between steps.
struct Stepping {
    seq: u64,
    published_total: u64,
    prev_unique: u64,
}

/// One step: its JSON and what decides the next.
struct StepResult {
    json: Value,
    pass: bool,
    /// Why it failed (`None`: it passed).
    failed_by: Option<&'static str>,
    publish_errors: u64,
    first_error: Option<String>,
    per_s: f64,
    achieved: f64,
    load: ClientLoad,
}

async fn step(
    ctx: &Ctx,
    pools: &mut Pools,
    publisher: &Publisher,
    st: &mut Stepping,
    index: usize,
    rate: f64,
) -> Result<StepResult, String> {
    let a = &ctx.args;
    ctx.status.phase("publishing");
    let s0 = ctx.server_stat();
    let mark = ctx.monitor.mark();
    let pr = publisher
        .run(
            rate,
            secs(a.step_duration),
            st.seq,
            a.pub_concurrency,
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
    let load = ctx.monitor.summary(&mark, pr.lag_p99_ms());
    let expected = rep.connected * pr.ok;
    let mut d = deliveries(&rep, st.prev_unique, expected, pr.seconds);
    let delivered = rep.unique.saturating_sub(st.prev_unique);
    st.prev_unique = rep.unique;
    let ratio = d["delivery_ratio"].as_f64().unwrap_or(0.0);
    let p99 = d["latency_ms"]["p99"].as_f64().unwrap_or(f64::INFINITY);
    let achieved = if pr.seconds > 0.0 {
        pr.ok as f64 / pr.seconds
    } else {
        0.0
    };
    let failed_by = if pr.errors > 0 {
        Some("publish_errors")
    } else if ratio < a.min_delivery {
        Some("delivery_below_minimum")
    } else if p99 > a.p99_bound_ms {
        Some("p99_above_bound")
    } else {
        None
    };
    d["step"] = json!(index);
    d["target_rate"] = json!(round3(rate));
    d["achieved_rate"] = json!(round3(achieved));
    d["published"] = json!(pr.ok);
    d["publish_errors"] = json!(pr.errors);
    d["publish_lag_ms"] = super::stats::summary_ms(&pr.lag_us);
    d["pass"] = json!(failed_by.is_none());
    if let (Some(x), Some(y)) = (s0, s1) {
        d["server_cpu_s"] = json!(round3(y.cpu_s - x.cpu_s));
    }
    if let Some(c) = cpu_per_million(s0, s1, delivered) {
        d["server_cpu_s_per_million"] = json!(c);
    }
    if let Some(c) = sys_per_million(s0, s1, delivered) {
        d["server_cpu_sys_s_per_million"] = json!(c);
    }
    d["client"] = load.json();
    d["client_bound"] = json!(load.bound());
    let per_s = d["deliveries_per_s"].as_f64().unwrap_or(0.0);
    Ok(StepResult {
        json: d,
        pass: failed_by.is_none(),
        failed_by,
        publish_errors: pr.errors,
        first_error: pr.first_error,
        per_s,
        achieved,
        load,
    })
}

/// The search over rates: steps up, then bisects.
#[derive(Default)]
struct Search {
    steps: Vec<Value>,
    loads: Vec<ClientLoad>,
    /// (deliveries/s, rate, step index) of the best passing step.
    best: Option<(f64, f64, usize)>,
    /// The first failing step's index.
    failed_at: Option<usize>,
    stop_reason: &'static str,
    publish_errors: u64,
    first_errors: Vec<String>,
}

impl Search {
    fn record(&mut self, r: StepResult, rate: f64) {
        let index = self.steps.len();
        self.publish_errors += r.publish_errors;
        self.first_errors.extend(r.first_error);
        if r.pass && self.best.is_none_or(|(b, _, _)| r.per_s > b) {
            self.best = Some((r.per_s, rate, index));
        }
        if !r.pass && self.failed_at.is_none() {
            self.failed_at = Some(index);
            self.stop_reason = r.failed_by.unwrap_or("failed");
        }
        self.steps.push(r.json);
        self.loads.push(r.load);
    }

    /// The steps whose client load decides whether the result is
    /// client-bound: the best passing step and the first failing one.
    fn deciding_loads(&self) -> Vec<ClientLoad> {
        [self.best.map(|b| b.2), self.failed_at]
            .into_iter()
            .flatten()
            .filter_map(|i| self.loads.get(i).cloned())
            .collect()
    }
}

pub async fn throughput(ctx: &Ctx) -> Result<Value, String> {
    let a = &ctx.args;
    let channels = channels_of(a);
    let mut pools = ctx.start_pools(a.subscribers, channels.clone())?;
    ctx.status.phase("connecting");
    let connected = pools.wait_ready(ctx.ready_bound(a.subscribers)).await?;
    let mut search = Search {
        stop_reason: "max_steps",
        ..Search::default()
    };
    if connected > 0 {
        warmup(ctx, &pools, connected, &channels).await?;
        let publisher = ctx.publisher(&a.channel)?;
        climb(ctx, &mut pools, &publisher, &mut search).await?;
    } else {
        search.stop_reason = "nothing_connected";
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
            "pub_concurrency": a.pub_concurrency,
            "max_sustained_deliveries_per_s": search.best.map(|b| b.0),
            "max_sustained_rate": search.best.map(|b| round3(b.1)),
            "best_step": search.best.map(|b| b.2),
            "stop_reason": search.stop_reason,
        }),
    );
    client_json(&mut out, &search.deciding_loads());
    out["steps"] = json!(search.steps);
    merge(&mut out, counters(&fin));
    merge(&mut out, errors_json(&fin, &search.first_errors));
    let mut v = Verdict::default();
    v.connections(&fin, a.subscribers);
    if search.publish_errors > 0 {
        v.publishing(
            0,
            search.publish_errors,
            search.first_errors.first().map(String::as_str),
            true,
        );
    }
    if connected > 0 && search.best.is_none() {
        v.other(format!(
            "no step passed (the first failed by {})",
            search.stop_reason
        ));
    }
    v.write(&mut out);
    Ok(out)
}

/// Steps the rate up until a step fails, then bisects `--refine` times.
async fn climb(
    ctx: &Ctx,
    pools: &mut Pools,
    publisher: &Publisher,
    search: &mut Search,
) -> Result<(), String> {
    let a = &ctx.args;
    let mut st = Stepping {
        seq: 1,
        published_total: 0,
        prev_unique: 0,
    };
    let mut rate = a.rate.max(1.0);
    let mut failing: Option<f64> = None;
    for _ in 0..a.max_steps.max(1) {
        let r = step(ctx, pools, publisher, &mut st, search.steps.len(), rate).await?;
        let (pass, achieved) = (r.pass, r.achieved);
        search.record(r, rate);
        if !pass {
            failing = Some(rate);
            break;
        }
        if achieved < 0.9 * rate {
            search.stop_reason = "publisher_cannot_keep_up";
            return Ok(());
        }
        rate *= a.step_factor;
    }
    let (Some(mut hi), Some((_, mut lo, _))) = (failing, search.best) else {
        return Ok(());
    };
    for _ in 0..a.refine {
        let mid = (lo * hi).sqrt();
        let r = step(ctx, pools, publisher, &mut st, search.steps.len(), mid).await?;
        let pass = r.pass;
        search.record(r, mid);
        if pass {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(())
}
