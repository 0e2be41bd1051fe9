//! Shared test helpers: an in-memory key/value store standing in for the
//! server's storage engine (rollup blocks and raw chunks), and two-pass
//! reference statistics.

#![allow(dead_code)]

use std::collections::BTreeMap;

use wavecast_monitor::{parse_block_key, Aggregator, BlockWrite, History, HistoryQuery, RawFlush};

/// Storage as the server keeps it: blocks (key → value, overwritten on
/// put) and, apart, raw chunks.
#[derive(Debug, Default, Clone)]
pub struct Store {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
    pub raw: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Store {
    /// Puts the raw chunks (each key new) and deletes the expired ones.
    pub fn put_raw(&mut self, flush: RawFlush) {
        for w in flush.writes {
            assert!(
                self.raw.insert(w.key, w.value).is_none(),
                "a raw chunk was overwritten"
            );
        }
        for k in flush.deletes {
            self.raw.remove(&k);
        }
    }

    /// One flush the way the server does it.
    pub fn flush(&mut self, agg: &mut Aggregator, now: i64) {
        let report = agg.expire(now);
        self.put(agg.take_writes());
        self.put_raw(agg.take_raw_writes());
        self.delete_before(report.delete_blocks_before_hour);
    }

    /// A new aggregator with everything stored restored, as at a start.
    pub fn reopen(&mut self, config: wavecast_monitor::AggregatorConfig, now: i64) -> Aggregator {
        let mut agg = Aggregator::new(config).unwrap_or_else(|e| panic!("{e}"));
        let r = agg.restore_raw(self.raw.iter(), now);
        assert!(r.skipped.is_empty(), "{:?}", r.skipped);
        for k in r.deletes {
            self.raw.remove(&k);
        }
        for (k, v) in &self.map {
            agg.restore(k, v, now).unwrap_or_else(|e| panic!("{e}"));
        }
        agg
    }

    pub fn put(&mut self, writes: Vec<BlockWrite>) {
        for w in writes {
            self.map.insert(w.key, w.value);
        }
    }

    /// Deletes blocks with an hour below `hour`.
    pub fn delete_before(&mut self, hour: u32) {
        self.map
            .retain(|k, _| parse_block_key(k).map(|(_, h)| h >= hour).unwrap_or(false));
    }

    pub fn bytes(&self) -> usize {
        self.map.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Runs a history query the way the server would.
    pub fn history(&self, agg: &Aggregator, metric: &str, q: HistoryQuery, now: i64) -> History {
        let plan = agg
            .plan_history(metric, q, now)
            .unwrap_or_else(|e| panic!("plan: {e}"));
        let found: Vec<&Vec<u8>> = plan.keys().iter().filter_map(|k| self.map.get(k)).collect();
        let (history, corrupt) = agg
            .history(&plan, &found)
            .unwrap_or_else(|e| panic!("history: {e}"));
        assert_eq!(corrupt, 0);
        history
    }
}

/// Two-pass mean and population standard deviation.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Quantile by linear interpolation between closest ranks, on a sorted copy.
pub fn sorted_quantile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p;
    let k = h.floor() as usize;
    let frac = h - k as f64;
    if frac == 0.0 || k + 1 >= v.len() {
        v[k]
    } else {
        v[k] + frac * (v[k + 1] - v[k])
    }
}
