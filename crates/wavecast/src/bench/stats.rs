//! Measurements: hdrhistograms (µs) that can be dumped to JSON and merged
//! across worker processes, the counters a subscriber pool reports, and
//! the server readings of a result (`server_json`).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::procfs::ProcStat;

/// The largest recorded value: one hour in µs (larger ones saturate).
const MAX_US: u64 = 3_600_000_000;

/// A new µs histogram with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram always accepts; no input reaches this.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid")
}

/// Records `v` µs (at least 1).
pub fn record(h: &mut Histogram<u64>, v: u64) {
    h.saturating_record(v.clamp(1, MAX_US));
}

/// A histogram as (value, count) pairs, for sending between processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistDump(pub Vec<(u64, u64)>);

impl HistDump {
    pub fn of(h: &Histogram<u64>) -> HistDump {
        HistDump(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(v, c) in &self.0 {
            let _ = h.record_n(v.clamp(1, MAX_US), c);
        }
    }
}

/// `{count, p50, p90, p99, p999, max, mean}` in milliseconds.
pub fn summary_ms(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": (h.mean() / 10.0).round() / 100.0,
    })
}

/// What a pool of subscribers reports (cumulative since it started, except
/// `latency_us`, which covers the time since the last report).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PoolReport {
    pub connections: u64,
    pub connected: u64,
    pub connect_failed: u64,
    pub connect_us: HistDump,
    pub subscribe_us: HistDump,
    pub latency_us: HistDump,
    /// Bench publications received, duplicates included.
    pub received: u64,
    /// Bytes of every frame received after subscribing.
    #[serde(default)]
    pub received_bytes: u64,
    /// Distinct bench publications received.
    pub unique: u64,
    /// Publications missing below later ones, counted once the reorder
    /// window (4,096 `seq`s) has passed them.
    pub seq_gaps: u64,
    pub duplicates: u64,
    /// Offsets skipped (servers that send offsets).
    pub offset_gaps: u64,
    pub dropped_notices: u64,
    /// Connections that ended before the bench closed them.
    pub closed_early: u64,
    pub close_codes: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    pub error_count: u64,
    /// CPU seconds of the process(es) running the pool.
    pub cpu_s: f64,
}

impl PoolReport {
    /// Keeps the first few error messages and counts all of them.
    pub fn error(&mut self, e: String) {
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(e);
        }
    }

    /// Adds another pool's report to this one.
    pub fn merge(&mut self, o: &PoolReport) {
        self.connections += o.connections;
        self.connected += o.connected;
        self.connect_failed += o.connect_failed;
        for (dst, src) in [
            (&mut self.connect_us, &o.connect_us),
            (&mut self.subscribe_us, &o.subscribe_us),
            (&mut self.latency_us, &o.latency_us),
        ] {
            let mut h = histogram();
            dst.add_to(&mut h);
            src.add_to(&mut h);
            *dst = HistDump::of(&h);
        }
        self.received += o.received;
        self.received_bytes += o.received_bytes;
        self.unique += o.unique;
        self.seq_gaps += o.seq_gaps;
        self.duplicates += o.duplicates;
        self.offset_gaps += o.offset_gaps;
        self.dropped_notices += o.dropped_notices;
        self.closed_early += o.closed_early;
        for (k, v) in &o.close_codes {
            *self.close_codes.entry(k.clone()).or_default() += v;
        }
        for e in &o.errors {
            if self.errors.len() < 10 {
                self.errors.push(e.clone());
            }
        }
        self.error_count += o.error_count;
        self.cpu_s += o.cpu_s;
    }

    pub fn hist(d: &HistDump) -> Histogram<u64> {
        let mut h = histogram();
        d.add_to(&mut h);
        h
    }
}

/// Rounds to 3 decimals for the report.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `{"pids","rss_kb_before","rss_kb_after","cpu_s","cpu_sys_s"}` between
/// two readings (`cpu_sys_s`: the kernel's share of `cpu_s`).
pub fn server_json(pids: &[u32], a: Option<ProcStat>, b: Option<ProcStat>) -> Value {
    match (pids, a, b) {
        ([], _, _) => Value::Null,
        (_, Some(a), Some(b)) => json!({
            "pids": pids,
            "rss_kb_before": a.rss_kb,
            "rss_kb_after": b.rss_kb,
            "cpu_s": round3(b.cpu_s - a.cpu_s),
            "cpu_sys_s": round3(b.sys_s - a.sys_s),
        }),
        _ => json!({"pids": pids, "error": "cannot read /proc for these pids"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_and_merge() {
        let mut h = histogram();
        for v in [100, 200, 300, 10_000] {
            record(&mut h, v);
        }
        let mut a = PoolReport {
            latency_us: HistDump::of(&h),
            unique: 4,
            ..Default::default()
        };
        let b = a.clone();
        a.merge(&b);
        let m = PoolReport::hist(&a.latency_us);
        assert_eq!(m.len(), 8);
        assert_eq!(a.unique, 8);
        assert!(m.max() >= 9_990);
        assert_eq!(summary_ms(&histogram())["count"], 0);
    }
}
