//! Latency figures: a fixed-bucket histogram (0.1 ms buckets below
//! 100 ms, 1 ms buckets up to 120 s) that workers send sparse and the
//! coordinator merges, and exact percentiles of small samples.

use serde_json::{json, Value};

const FINE: u64 = 1_000; // 0.1 ms buckets below 100 ms
const COARSE: u64 = 119_900; // 1 ms buckets from 100 ms to 120 s

/// Microseconds since the Unix epoch (wall clock: shared by every
/// process of the run, which all run on this machine).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A latency histogram in microseconds.
pub struct Hist {
    counts: Vec<u64>,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: vec![0; (FINE + COARSE + 1) as usize],
        }
    }
}

fn bucket(us: u64) -> usize {
    let b = if us < 100_000 {
        us / 100
    } else {
        FINE + ((us - 100_000) / 1_000).min(COARSE)
    };
    b as usize
}

/// The upper edge of a bucket, in microseconds.
fn edge(b: usize) -> u64 {
    let b = b as u64;
    if b < FINE {
        (b + 1) * 100
    } else {
        100_000 + (b - FINE + 1) * 1_000
    }
}

impl Hist {
    pub fn record(&mut self, us: u64) {
        self.counts[bucket(us)] += 1;
    }

    /// `[[bucket, count], ...]` for the non-empty buckets.
    pub fn sparse(&self) -> Value {
        let v: Vec<Value> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| json!([b, c]))
            .collect();
        Value::Array(v)
    }

    pub fn merge_sparse(&mut self, v: &Value) {
        for pair in v.as_array().into_iter().flatten() {
            let b = pair[0].as_u64().unwrap_or(0) as usize;
            if let Some(slot) = self.counts.get_mut(b) {
                *slot += pair[1].as_u64().unwrap_or(0);
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile (0..=1) in milliseconds (a bucket's upper edge).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(edge(b) as f64 / 1000.0);
            }
        }
        None
    }
}

/// The `q` quantile (nearest rank) of `values`, which it sorts.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// Rounds to one decimal.
pub fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
