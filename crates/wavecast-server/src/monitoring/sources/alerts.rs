//! The `alerts` source: a periodic summary of the alerts raised so far
//! (each alert itself is published at once, as a FOG `alert` envelope).
//! The summary has no `data` key, so every dialect shows it as plain data.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::ctx::Ctx;

pub fn collect(ctx: &Ctx<'_>) -> Value {
    let a = &ctx.monitoring.alert_counts;
    json!({
        "alerts_total": a.total.load(Ordering::Relaxed),
        "anomalies": a.anomalies.load(Ordering::Relaxed),
        "thresholds": a.thresholds.load(Ordering::Relaxed),
        "source_failures": a.sources.load(Ordering::Relaxed),
        "failing_sources": ctx.monitoring.failing_sources(),
    })
}
