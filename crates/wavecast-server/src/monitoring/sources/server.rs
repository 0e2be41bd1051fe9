//! The `server` source: wavecast's own metrics and the system part of the
//! `metrics` room.
//!
//! Shape (`metrics`, `metrics_update`): `{server: {connections,
//! subscriptions, messages_per_second, publications_per_second,
//! deliveries_per_second, dropped_per_second, drop_rate,
//! delivery_latency_ms: {p50, p95, p99}, uptime_seconds}, system:
//! {cpu_percent, memory_percent, disk_percent, load_1m}, services:
//! {websocket, broker}}`. Rates and latency percentiles are over the time
//! since the previous tick (0 and `null` on the first tick); a percentile is the upper bound of the
//! latency bucket that holds it (`null` with no delivery in the tick).

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::ctx::Ctx;
use super::system::{read_host, HostProbe};
use crate::broker::Broker;
use crate::metrics::LATENCY_BUCKETS;

#[derive(Default, Clone)]
struct Counters {
    sent: u64,
    publications: u64,
    delivered: u64,
    dropped: u64,
    latency: Vec<u64>,
}

/// The `server` source.
pub struct ServerSource {
    probe: Arc<Mutex<HostProbe>>,
    last: Option<(Instant, Counters)>,
}

/// The upper bound (ms) of the bucket holding quantile `q` of `counts`.
pub fn bucket_quantile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(LATENCY_BUCKETS.get(i).map_or(f64::INFINITY, |b| b * 1000.0))
                .filter(|v| v.is_finite());
        }
    }
    None
}

impl Default for ServerSource {
    fn default() -> Self {
        ServerSource::new()
    }
}

impl ServerSource {
    pub fn new() -> ServerSource {
        ServerSource {
            probe: Arc::new(Mutex::new(HostProbe::new())),
            last: None,
        }
    }

    fn counters(ctx: &Ctx<'_>) -> Counters {
        let m = &ctx.state.metrics;
        Counters {
            sent: m.messages_sent_total.get(),
            publications: m.publications_total.get(),
            delivered: m.publications_delivered_total.get(),
            dropped: m.buffer_overflow_total.get(),
            latency: m.delivery_latency.bucket_counts(),
        }
    }

    pub async fn collect(&mut self, ctx: &Ctx<'_>) -> Result<Value, String> {
        let host = read_host(&self.probe).await?;
        let now = (Instant::now(), Self::counters(ctx));
        // The first tick has no previous counts: its rates are 0.
        let (then, before) = self
            .last
            .replace(now.clone())
            .unwrap_or_else(|| now.clone());
        let (at, c) = now;
        let secs = at.duration_since(then).as_secs_f64().max(0.001);
        let rate = |a: u64, b: u64| ((a.saturating_sub(b)) as f64 / secs * 100.0).round() / 100.0;
        let delivered = c.delivered.saturating_sub(before.delivered);
        let dropped = c.dropped.saturating_sub(before.dropped);
        let drop_rate = if delivered + dropped == 0 {
            0.0
        } else {
            dropped as f64 / (delivered + dropped) as f64
        };
        let latency: Vec<u64> = c
            .latency
            .iter()
            .enumerate()
            .map(|(i, n)| n.saturating_sub(before.latency.get(i).copied().unwrap_or(0)))
            .collect();
        let q = |p| bucket_quantile(&latency, p);
        let broker = if ctx.state.hub.broker().healthy() {
            "healthy"
        } else {
            "unavailable"
        };
        Ok(json!({
            "server": {
                "connections": ctx.state.hub.connection_count(),
                "subscriptions": ctx.state.metrics.subscriptions.get(),
                "messages_per_second": rate(c.sent, before.sent),
                "publications_per_second": rate(c.publications, before.publications),
                "deliveries_per_second": rate(c.delivered, before.delivered),
                "dropped_per_second": rate(c.dropped, before.dropped),
                "drop_rate": drop_rate,
                "delivery_latency_ms": {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99)},
                "uptime_seconds": ctx.state.started.elapsed().as_secs(),
            },
            "system": {
                "cpu_percent": host.cpu_percent,
                "memory_percent": host.memory_percent(),
                "disk_percent": host.disk_percent(),
                "load_1m": host.load[0],
            },
            "services": {"websocket": "healthy", "broker": broker},
        }))
    }
}
