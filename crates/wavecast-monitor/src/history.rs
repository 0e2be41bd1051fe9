//! History queries: choose raw points or rollups for a range, list the
//! blocks to read, and merge rollups into steps.
//!
//! A query asks for `from < t <= to` (ms), optionally with a `step`.
//! - **Raw** when no step is given, `from >= now − 1 h` (inside raw
//!   retention) and the metric's raw points are complete since `from`
//!   (not so right after a restart, or when the per-metric point bound
//!   dropped some): every point with `from < t <= to`.
//! - **Rollup** otherwise. The step is the one given (a whole number of
//!   minutes, 1 min to 1 day) or, without one, the first of 1m, 5m, 15m,
//!   1h, 6h, 1d giving at most [`MAX_AUTO_BUCKETS`] buckets over
//!   `to − from`. Buckets are aligned on multiples of the step since the
//!   epoch; the answer covers whole buckets, from the one holding `from`
//!   to the one holding `to`, and lists only buckets with points, each
//!   `{timestamp (bucket start), count, min, max, avg}`. Minutes whose
//!   start is at or before `now − 7 days` are left out (retention), even
//!   if their block has not been deleted yet.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::block::{block_key, hour_of, HourBlock};
use crate::rollup::Rollup;
use crate::window::{Point, DAY_MS, HOUR_MS, MINUTE_MS, RAW_RETENTION_MS, ROLLUP_RETENTION_MS};
use crate::MonitorError;

/// Most buckets an automatic step may produce.
pub const MAX_AUTO_BUCKETS: i64 = 1_500;
/// Longest `hours` a query may give (a year).
pub const MAX_HOURS: f64 = 24.0 * 366.0;

const STEP_LADDER: [i64; 6] = [
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    HOUR_MS,
    6 * HOUR_MS,
    DAY_MS,
];

/// A validated history range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Exclusive lower bound (ms since the epoch).
    pub from_ms: i64,
    /// Inclusive upper bound.
    pub to_ms: i64,
    /// Bucket width, a whole number of minutes; `None` to choose.
    pub step_ms: Option<i64>,
}

impl HistoryQuery {
    /// `from < t <= to` with an optional step.
    ///
    /// # Errors
    /// [`MonitorError::InvalidRange`] when `from >= to`;
    /// [`MonitorError::InvalidStep`] when the step is not a whole number of
    /// minutes between 1 minute and 1 day.
    pub fn new(from_ms: i64, to_ms: i64, step_ms: Option<i64>) -> Result<Self, MonitorError> {
        if from_ms >= to_ms {
            return Err(MonitorError::InvalidRange {
                reason: format!("from ({from_ms}) must be before to ({to_ms})"),
            });
        }
        if let Some(step) = step_ms {
            if !(MINUTE_MS..=DAY_MS).contains(&step) || step % MINUTE_MS != 0 {
                return Err(MonitorError::InvalidStep { step_ms: step });
            }
        }
        Ok(HistoryQuery {
            from_ms,
            to_ms,
            step_ms,
        })
    }

    /// The last `hours` hours up to `now_ms` (`hours` may be fractional).
    ///
    /// # Errors
    /// [`MonitorError::InvalidRange`] unless `0 < hours <= 8784` (a year),
    /// and the errors of [`HistoryQuery::new`].
    pub fn last_hours(hours: f64, now_ms: i64, step_ms: Option<i64>) -> Result<Self, MonitorError> {
        if !(hours.is_finite() && hours > 0.0 && hours <= MAX_HOURS) {
            return Err(MonitorError::InvalidRange {
                reason: format!("hours must be above 0 and at most {MAX_HOURS}"),
            });
        }
        let span = (hours * HOUR_MS as f64).round().max(1.0) as i64;
        HistoryQuery::new(now_ms.saturating_sub(span), now_ms, step_ms)
    }
}

/// Raw points or rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "resolution")]
pub enum Resolution {
    /// Raw points.
    Raw,
    /// Rollups merged into buckets of `step_ms`.
    Rollup {
        /// Bucket width in ms.
        step_ms: i64,
    },
}

/// What a query will read: made by
/// [`Aggregator::plan_history`](crate::Aggregator::plan_history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPlan {
    /// The metric.
    pub metric: String,
    /// The query.
    pub query: HistoryQuery,
    /// The clock when planned.
    pub now_ms: i64,
    /// Raw or rollup.
    pub resolution: Resolution,
    /// Hours whose blocks the rollup answer needs (empty for raw).
    pub hours: Vec<u32>,
}

impl HistoryPlan {
    /// Storage keys of the blocks to read (the server passes the ones it
    /// finds to [`Aggregator::history`](crate::Aggregator::history)).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.hours
            .iter()
            .map(|&h| block_key(&self.metric, h))
            .collect()
    }
}

/// One rollup bucket of a history answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    /// Bucket start (ms since the epoch).
    pub timestamp: i64,
    /// Points in the bucket.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub avg: f64,
}

/// The points of a history answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HistoryPoints {
    /// `{timestamp, value}` per point.
    Raw(Vec<Point>),
    /// `{timestamp, count, min, max, avg}` per bucket.
    Rollup(Vec<Bucket>),
}

impl HistoryPoints {
    /// Number of points or buckets.
    pub fn len(&self) -> usize {
        match self {
            HistoryPoints::Raw(p) => p.len(),
            HistoryPoints::Rollup(b) => b.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A history answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// The metric.
    pub metric: String,
    /// Exclusive lower bound asked.
    pub from: i64,
    /// Inclusive upper bound asked.
    pub to: i64,
    /// `raw` or `rollup` (with `step_ms`).
    #[serde(flatten)]
    pub resolution: Resolution,
    /// The points.
    pub points: HistoryPoints,
}

/// The automatic step for a span: the first of the ladder giving at most
/// [`MAX_AUTO_BUCKETS`] buckets.
pub fn auto_step(span_ms: i64) -> i64 {
    STEP_LADDER
        .into_iter()
        .find(|step| span_ms / step <= MAX_AUTO_BUCKETS)
        .unwrap_or(DAY_MS)
}

/// Plans a query for a metric whose raw points are complete after
/// `raw_complete_after`.
pub(crate) fn plan(
    metric: &str,
    query: HistoryQuery,
    now_ms: i64,
    raw_complete_after: i64,
) -> HistoryPlan {
    let raw = query.step_ms.is_none()
        && query.from_ms >= now_ms - RAW_RETENTION_MS
        && query.from_ms >= raw_complete_after;
    if raw {
        return HistoryPlan {
            metric: metric.to_owned(),
            query,
            now_ms,
            resolution: Resolution::Raw,
            hours: Vec::new(),
        };
    }
    let step_ms = query
        .step_ms
        .unwrap_or_else(|| auto_step(query.to_ms - query.from_ms));
    let (first, last) = minute_span(&query, step_ms, now_ms);
    let hours = match (hour_of(first), hour_of(last)) {
        (Some(a), Some(b)) if first <= last => (a..=b).collect(),
        (None, Some(b)) if first <= last => (0..=b).collect(),
        _ => Vec::new(),
    };
    HistoryPlan {
        metric: metric.to_owned(),
        query,
        now_ms,
        resolution: Resolution::Rollup { step_ms },
        hours,
    }
}

/// First and last minute starts a rollup answer can hold: the covered
/// buckets, cut to retention and to `now`.
fn minute_span(query: &HistoryQuery, step_ms: i64, now_ms: i64) -> (i64, i64) {
    let first = query.from_ms.div_euclid(step_ms) * step_ms;
    let last = query.to_ms.div_euclid(step_ms) * step_ms + step_ms - MINUTE_MS;
    let oldest = (now_ms - ROLLUP_RETENTION_MS).div_euclid(MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    let newest = now_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
    (first.max(oldest), last.min(newest))
}

/// Merges the minutes of `blocks` (one per hour, any order) into the
/// plan's buckets.
pub(crate) fn buckets<'a>(
    plan: &HistoryPlan,
    step_ms: i64,
    blocks: impl IntoIterator<Item = &'a HourBlock>,
) -> Vec<Bucket> {
    let (first, last) = minute_span(&plan.query, step_ms, plan.now_ms);
    let mut merged: BTreeMap<i64, Rollup> = BTreeMap::new();
    for block in blocks {
        for (start, r) in block.minutes() {
            if start < first || start > last {
                continue;
            }
            let key = start.div_euclid(step_ms) * step_ms;
            merged.entry(key).and_modify(|b| b.merge(r)).or_insert(*r);
        }
    }
    merged
        .into_iter()
        .map(|(timestamp, r)| Bucket {
            timestamp,
            count: r.count,
            min: r.min,
            max: r.max,
            avg: r.mean,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * HOUR_MS + 30 * MINUTE_MS;

    #[test]
    fn queries_are_validated() {
        assert!(HistoryQuery::new(5, 5, None).is_err());
        for bad in [0, 30_000, 90_000, DAY_MS + MINUTE_MS] {
            assert_eq!(
                HistoryQuery::new(0, 1, Some(bad)).err().map(|e| e.code()),
                Some("invalid_step")
            );
        }
        assert!(HistoryQuery::last_hours(0.0, NOW, None).is_err());
        assert!(HistoryQuery::last_hours(f64::NAN, NOW, None).is_err());
        let q = HistoryQuery::last_hours(0.5, NOW, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((q.from_ms, q.to_ms), (NOW - 30 * MINUTE_MS, NOW));
    }

    #[test]
    fn raw_inside_the_hour_rollups_otherwise() {
        let q =
            |h: f64, step| HistoryQuery::last_hours(h, NOW, step).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan("m", q(1.0, None), NOW, i64::MIN).resolution,
            Resolution::Raw
        );
        let p = plan("m", q(1.0, None), NOW, NOW - 10 * MINUTE_MS);
        assert_eq!(p.resolution, Resolution::Rollup { step_ms: MINUTE_MS });
        let p = plan("m", q(1.0, Some(5 * MINUTE_MS)), NOW, i64::MIN);
        assert_eq!(
            p.resolution,
            Resolution::Rollup {
                step_ms: 5 * MINUTE_MS
            }
        );
        let p = plan("m", q(24.0, None), NOW, i64::MIN);
        assert_eq!(p.resolution, Resolution::Rollup { step_ms: MINUTE_MS });
        assert_eq!(p.hours.len(), 25);
        assert_eq!(p.keys()[0], block_key("m", 1_000 - 24));
        let p = plan("m", q(7.0 * 24.0, None), NOW, i64::MIN);
        assert_eq!(
            p.resolution,
            Resolution::Rollup {
                step_ms: 15 * MINUTE_MS
            }
        );
        // Retention cuts the hours read: 7 days back at most.
        let p = plan("m", q(300.0 * 24.0, None), NOW, i64::MIN);
        assert_eq!(p.hours.len(), 7 * 24 + 1);
    }

    #[test]
    fn buckets_cover_whole_steps_and_merge_minutes() {
        let mut block = HourBlock::new(1_000);
        for m in 0..30 {
            block.record(block.start_ms() + m * MINUTE_MS, m as f64);
            block.record(block.start_ms() + m * MINUTE_MS + 1, m as f64 + 1.0);
        }
        let query = HistoryQuery::new(NOW - 12 * MINUTE_MS, NOW, Some(10 * MINUTE_MS))
            .unwrap_or_else(|e| panic!("{e}"));
        let p = plan("m", query, NOW, i64::MIN);
        let got = buckets(&p, 10 * MINUTE_MS, [&block]);
        // from = minute 18 → buckets starting at minutes 10 and 20 (whole).
        let starts: Vec<i64> = got
            .iter()
            .map(|b| (b.timestamp - block.start_ms()) / MINUTE_MS)
            .collect();
        assert_eq!(starts, vec![10, 20]);
        assert_eq!((got[0].count, got[0].min, got[0].max), (20, 10.0, 20.0));
        assert!((got[0].avg - 15.0).abs() < 1e-12);
    }
}
