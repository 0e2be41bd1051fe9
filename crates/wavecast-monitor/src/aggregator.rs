//! The aggregator: one facade over every metric's raw points, trailing
//! sums, open rollup block and threshold rules.
//!
//! Invariants:
//! - a metric accepts a point only if its timestamp is at or after the
//!   metric's newest point and after every hour already sealed for it, not
//!   more than `max_future_ms` ahead of the clock, and newer than one hour
//!   ago (so the raw ring, the trailing sums and the open block only move
//!   forward);
//! - at most `max_metrics` metrics are held;
//! - each metric has at most one open hour block (the hour of its newest
//!   point); when a point of a later hour arrives, or [`Aggregator::expire`]
//!   sees the hour is over, the block is sealed and queued for writing;
//! - the block that was last sealed stays in memory until the next one is
//!   sealed, so a history query sees it even before the server wrote it;
//! - each raw point is handed out in a raw chunk at most once
//!   ([`Aggregator::take_raw_writes`], see [`mod@crate::raw`]); a metric's
//!   chunks are numbered without reuse while it is held, and every chunk
//!   handed out is remembered until its newest point is an hour old, then
//!   handed out for deletion (before the metric can be forgotten).
//!
//! Storage is the server's: [`Aggregator::take_writes`] hands out blocks to
//! put, [`Aggregator::restore`] takes stored blocks back at start, and
//! [`Aggregator::history`] merges blocks the server read;
//! [`Aggregator::take_raw_writes`] and [`Aggregator::restore_raw`] do the
//! same for the raw hour.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use serde_json::Value;

use crate::alert::{Alert, AlertKind};
use crate::block::{block_key, hour_of, parse_block_key, HourBlock};
use crate::config::AggregatorConfig;
use crate::flatten::{flatten, FlattenLimits};
use crate::history::{self, History, HistoryPlan, HistoryPoints, HistoryQuery, Resolution};
use crate::name::validate_name;
use crate::raw::{parse_raw_key, raw_key, RawChunk, RawWrite};
use crate::series::RawSeries;
use crate::stats::Stats;
use crate::threshold::RuleState;
use crate::window::{Point, Window, HOUR_MS, RAW_RETENTION_MS, ROLLUP_RETENTION_MS};
use crate::{MonitorError, MAX_ABS_VALUE};

/// A block to put in storage: `key` → `value`, overwriting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockWrite {
    /// The metric.
    pub metric: String,
    /// The hour since the epoch.
    pub hour: u32,
    /// [`block_key`]`(metric, hour)`.
    pub key: Vec<u8>,
    /// [`HourBlock::encode`] of the block.
    pub value: Vec<u8>,
}

/// What [`Aggregator::expire`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExpireReport {
    /// Raw points older than an hour dropped.
    pub raw_points_dropped: usize,
    /// Hour blocks sealed because their hour is over.
    pub blocks_sealed: usize,
    /// Metrics forgotten: no point and no block for seven days.
    pub metrics_forgotten: usize,
    /// Blocks with an hour below this are past retention: delete them.
    pub delete_blocks_before_hour: u32,
}

/// What [`Aggregator::restore`] did with a stored block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The block is the current hour's: it is the metric's open block again.
    Adopted,
    /// An older hour: the metric is registered, the block left in storage.
    Registered,
    /// Past retention: delete it.
    Expired,
    /// An hour after the clock's: ignored (the clock went back?).
    Future,
}

/// One metric in [`Aggregator::summary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSummary {
    /// The metric.
    pub metric: String,
    /// Its newest point (kept after the raw hour; restored with the raw
    /// chunks; `None` for a metric restored from rollups alone).
    pub latest: Option<Point>,
    /// Statistics of its 5-minute window.
    pub stats_5m: Option<Stats>,
}

/// What [`Aggregator::ingest_document`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentOutcome {
    /// Points recorded.
    pub accepted: usize,
    /// Alerts raised.
    pub alerts: Vec<Alert>,
    /// Points refused, with why.
    pub rejected: Vec<(String, MonitorError)>,
    /// Leaves the flattening left out (see [`mod@crate::flatten`]).
    pub skipped: usize,
}

/// What [`Aggregator::take_raw_writes`] hands out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawFlush {
    /// New chunks to put (keys never seen before).
    pub writes: Vec<RawWrite>,
    /// Keys of chunks whose newest point is an hour old: delete them.
    pub deletes: Vec<Vec<u8>>,
}

/// What [`Aggregator::restore_raw`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawRestore {
    /// Points back in the metrics' raw series.
    pub points: usize,
    /// Chunks kept in storage (remembered until they expire).
    pub chunks: usize,
    /// Keys to delete: chunks past the raw hour, and the skipped ones.
    pub deletes: Vec<Vec<u8>>,
    /// Chunks skipped, with why: a key or value that does not decode,
    /// points ahead of the clock, or a metric refused.
    pub skipped: Vec<(Vec<u8>, MonitorError)>,
}

#[derive(Debug, Clone)]
struct MetricState {
    series: RawSeries,
    block: Option<HourBlock>,
    sealed: Option<HourBlock>,
    dirty: bool,
    accepts_from: i64,
    last_seen: i64,
    last: Option<Point>,
    rules: Vec<usize>,
    raw: RawLog,
}

/// A metric's raw chunks: what was handed out, what storage holds.
#[derive(Debug, Clone, Default)]
struct RawLog {
    /// Number (in the series) of the first point not handed out yet.
    next_point: u64,
    /// Newest timestamp handed out.
    last_ms: Option<i64>,
    /// The next chunk's number.
    next_chunk: u64,
    /// Chunks handed out or restored and not yet expired: (number, newest
    /// timestamp), oldest first.
    stored: VecDeque<(u64, i64)>,
}

/// One stored raw chunk at restore: number, key, decoded value.
type StoredChunk = (u64, Vec<u8>, Result<RawChunk, MonitorError>);

/// The metrics aggregator. Not thread-safe by itself: the server holds it
/// behind a lock. Cloning copies every metric's state (for tests and
/// benchmarks; a server has one).
#[derive(Debug, Clone)]
pub struct Aggregator {
    config: AggregatorConfig,
    metrics: HashMap<String, MetricState>,
    rules: Vec<RuleState>,
    pending: Vec<(String, HourBlock)>,
    /// Raw chunk keys to delete, handed out by the next `take_raw_writes`.
    raw_doomed: Vec<Vec<u8>>,
}

impl Aggregator {
    /// A new, empty aggregator.
    ///
    /// # Errors
    /// The errors of [`AggregatorConfig::validate`].
    pub fn new(config: AggregatorConfig) -> Result<Self, MonitorError> {
        config.validate()?;
        let rules = config
            .thresholds
            .iter()
            .map(RuleState::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Aggregator {
            config,
            metrics: HashMap::new(),
            rules,
            pending: Vec::new(),
            raw_doomed: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    /// Records one point and returns the alerts it raises (anomaly first,
    /// then threshold rules in configuration order).
    ///
    /// # Errors
    /// [`MonitorError::NotFinite`], [`MonitorError::ValueOutOfRange`],
    /// [`MonitorError::TimestampOutOfRange`], [`MonitorError::OutOfOrder`],
    /// [`MonitorError::InvalidMetricName`] or
    /// [`MonitorError::TooManyMetrics`]; nothing is recorded then.
    pub fn ingest(
        &mut self,
        metric: &str,
        value: f64,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<Alert>, MonitorError> {
        check_value(metric, value)?;
        self.check_time(metric, timestamp_ms, now_ms)?;
        if !self.metrics.contains_key(metric) {
            self.create(metric, i64::MIN)?;
        }
        let Aggregator {
            config,
            metrics,
            rules,
            pending,
            ..
        } = self;
        let state = metrics
            .get_mut(metric)
            .ok_or_else(|| MonitorError::UnknownMetric {
                metric: metric.to_owned(),
            })?;
        if timestamp_ms < state.accepts_from {
            return Err(MonitorError::OutOfOrder {
                metric: metric.to_owned(),
                timestamp_ms,
                accepts_from_ms: state.accepts_from,
            });
        }
        let point = Point {
            timestamp_ms,
            value,
        };
        let mut alerts = Vec::new();
        let trailing = state.series.push(point);
        if let Some(z) = config.anomaly.z_score(value, &trailing) {
            if let Some(severity) = config.anomaly.classify(z) {
                alerts.push(Alert {
                    metric: metric.to_owned(),
                    value,
                    timestamp_ms,
                    severity,
                    kind: AlertKind::Anomaly {
                        z_score: z,
                        mean: trailing.mean,
                        stddev: trailing.stddev,
                        window_count: trailing.count,
                    },
                });
            }
        }
        for &i in &state.rules {
            if let Some(c) = rules
                .get_mut(i)
                .and_then(|r| r.observe(value, timestamp_ms))
            {
                alerts.push(Alert {
                    metric: metric.to_owned(),
                    value,
                    timestamp_ms,
                    severity: c.severity,
                    kind: AlertKind::Threshold {
                        threshold: c.threshold,
                        direction: c.direction,
                        rule: i,
                    },
                });
            }
        }
        record_rollup(state, pending, metric, point);
        Ok(alerts)
    }

    /// Flattens a document (see [`mod@crate::flatten`]) and records each
    /// numeric leaf at `timestamp_ms`; refusals are collected, not fatal.
    pub fn ingest_document(
        &mut self,
        prefix: &str,
        document: &Value,
        timestamp_ms: i64,
        now_ms: i64,
        limits: &FlattenLimits,
    ) -> DocumentOutcome {
        let flat = flatten(prefix, document, limits);
        let mut out = DocumentOutcome {
            skipped: flat.skipped,
            ..DocumentOutcome::default()
        };
        for (name, value) in flat.points {
            match self.ingest(&name, value, timestamp_ms, now_ms) {
                Ok(alerts) => {
                    out.accepted += 1;
                    out.alerts.extend(alerts);
                }
                Err(e) => out.rejected.push((name, e)),
            }
        }
        out
    }

    fn check_time(&self, metric: &str, timestamp_ms: i64, now_ms: i64) -> Result<(), MonitorError> {
        let in_range = timestamp_ms > now_ms.saturating_sub(RAW_RETENTION_MS)
            && timestamp_ms <= now_ms.saturating_add(self.config.max_future_ms)
            && hour_of(timestamp_ms).is_some();
        if in_range {
            Ok(())
        } else {
            Err(MonitorError::TimestampOutOfRange {
                metric: metric.to_owned(),
                timestamp_ms,
                now_ms,
            })
        }
    }

    /// Registers a metric; raw points are complete after `complete_after`.
    fn create(
        &mut self,
        metric: &str,
        complete_after: i64,
    ) -> Result<&mut MetricState, MonitorError> {
        validate_name(metric)?;
        if self.metrics.len() >= self.config.max_metrics {
            return Err(MonitorError::TooManyMetrics {
                max_metrics: self.config.max_metrics,
            });
        }
        let rules = self
            .config
            .thresholds
            .iter()
            .enumerate()
            .filter(|(_, r)| r.metric == metric)
            .map(|(i, _)| i)
            .collect();
        let state = MetricState {
            series: RawSeries::new(
                self.config.max_points_per_metric,
                Window::FiveMinutes.duration_ms(),
                complete_after,
            ),
            block: None,
            sealed: None,
            dirty: false,
            accepts_from: i64::MIN,
            last_seen: i64::MIN,
            last: None,
            rules,
            raw: RawLog::default(),
        };
        Ok(self.metrics.entry(metric.to_owned()).or_insert(state))
    }

    fn state(&self, metric: &str) -> Result<&MetricState, MonitorError> {
        self.metrics
            .get(metric)
            .ok_or_else(|| MonitorError::UnknownMetric {
                metric: metric.chars().take(128).collect(),
            })
    }

    /// Statistics of `metric` over `window` at `now_ms`; `None` when the
    /// window holds no point.
    ///
    /// # Errors
    /// [`MonitorError::UnknownMetric`].
    pub fn statistics(
        &self,
        metric: &str,
        window: Window,
        now_ms: i64,
    ) -> Result<Option<Stats>, MonitorError> {
        let state = self.state(metric)?;
        let mut values: Vec<f64> = state
            .series
            .range(now_ms - window.duration_ms(), now_ms)
            .map(|p| p.value)
            .collect();
        Ok(Stats::compute(&mut values))
    }

    /// Every metric, by name, with its newest point and 5-minute statistics.
    pub fn summary(&self, now_ms: i64) -> Vec<MetricSummary> {
        let mut scratch = Vec::new();
        let mut out: Vec<MetricSummary> = self
            .metrics
            .iter()
            .map(|(name, state)| {
                scratch.clear();
                let from = now_ms - Window::FiveMinutes.duration_ms();
                scratch.extend(state.series.range(from, now_ms).map(|p| p.value));
                MetricSummary {
                    metric: name.clone(),
                    latest: state.last,
                    stats_5m: Stats::compute(&mut scratch),
                }
            })
            .collect();
        out.sort_by(|a, b| a.metric.cmp(&b.metric));
        out
    }

    /// The metric names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.metrics.keys().cloned().collect();
        names.sort();
        names
    }

    /// Number of metrics held.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// Whether no metric is held.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The newest point of `metric` (see [`MetricSummary::latest`]).
    pub fn latest(&self, metric: &str) -> Option<Point> {
        self.metrics.get(metric)?.last
    }

    /// Drops raw points at or before `now − 1 h` (and queues for deletion
    /// the raw chunks holding only such points), seals blocks whose hour is
    /// over, and forgets metrics with no point and no block for 7 days.
    pub fn expire(&mut self, now_ms: i64) -> ExpireReport {
        let mut report = ExpireReport {
            delete_blocks_before_hour: delete_before_hour(now_ms),
            ..ExpireReport::default()
        };
        for (name, state) in &mut self.metrics {
            report.raw_points_dropped += state.series.drop_front_until(now_ms - RAW_RETENTION_MS);
            while let Some(&(seq, last)) = state.raw.stored.front() {
                if last > now_ms - RAW_RETENTION_MS {
                    break;
                }
                state.raw.stored.pop_front();
                self.raw_doomed.push(raw_key(name, seq));
            }
            if state.block.as_ref().is_some_and(|b| b.end_ms() <= now_ms) {
                seal(state, &mut self.pending, name);
                report.blocks_sealed += 1;
            }
        }
        let before = self.metrics.len();
        self.metrics.retain(|_, s| {
            s.series.len() > 0 || s.block.is_some() || s.last_seen > now_ms - ROLLUP_RETENTION_MS
        });
        report.metrics_forgotten = before - self.metrics.len();
        report
    }

    /// The blocks to write: every block sealed since the last call, then
    /// the open block of every metric that changed since. Each write
    /// overwrites the key. Call it periodically (each call encodes about a
    /// kilobyte per changed metric) and at shutdown, after
    /// [`Aggregator::expire`].
    pub fn take_writes(&mut self) -> Vec<BlockWrite> {
        let mut out: Vec<BlockWrite> = self
            .pending
            .drain(..)
            .map(|(metric, block)| write_of(metric, &block))
            .collect();
        for (name, state) in &mut self.metrics {
            if let (true, Some(block)) = (state.dirty, state.block.as_ref()) {
                out.push(write_of(name.clone(), block));
            }
            state.dirty = false;
        }
        out
    }

    /// The raw chunks to put — for every metric with points recorded since
    /// its previous chunk, one chunk of exactly those points (points the
    /// per-metric bound dropped before they were handed out are missing;
    /// the chunk's `complete_after` says so) — and the keys of the chunks
    /// [`Aggregator::expire`] found an hour old. Call it at each flush,
    /// after [`Aggregator::expire`]; put every write (each key is new) and
    /// delete every key.
    pub fn take_raw_writes(&mut self) -> RawFlush {
        let writes = self
            .metrics
            .iter_mut()
            .filter_map(|(name, state)| cut_chunk(name, &state.series, &mut state.raw))
            .collect();
        RawFlush {
            writes,
            deletes: std::mem::take(&mut self.raw_doomed),
        }
    }

    /// Takes back writes of [`Aggregator::take_raw_writes`] that could not
    /// be put: the next call hands out the same chunk numbers again with
    /// their points (and any newer ones), so a failed write leaves no gap.
    /// Call it before the next `take_raw_writes`; a write that is not its
    /// metric's newest chunk is ignored.
    pub fn return_raw_writes(&mut self, writes: impl IntoIterator<Item = RawWrite>) {
        let mut writes: Vec<RawWrite> = writes.into_iter().collect();
        writes.sort_by_key(|w| std::cmp::Reverse(w.seq));
        for w in writes {
            let Some(state) = self.metrics.get_mut(&w.metric) else {
                continue;
            };
            let raw = &mut state.raw;
            if raw.stored.back().map(|c| c.0) != Some(w.seq) || raw.next_chunk != w.seq + 1 {
                continue;
            }
            raw.stored.pop_back();
            raw.next_chunk = w.seq;
            raw.next_point = w.first_point;
            raw.last_ms = w.prev_last_ms;
        }
    }

    /// Takes back the stored raw chunks at start, given in any order:
    /// each metric's points of the last hour go back into its raw series
    /// (statistics, the anomaly detector's trailing window, the latest
    /// value) without being recorded again (the rollups already hold
    /// them). Call it once, before ingesting; before or after
    /// [`Aggregator::restore`]. A metric's raw points then count as
    /// complete after the newest timestamp a missing or skipped chunk could
    /// have held (`now_ms` when its newest chunk is skipped) and after what
    /// its chunks recorded. A metric that already has raw points keeps
    /// them, restores none, and only remembers its chunks until they
    /// expire. Nothing here panics on bad bytes: such chunks are skipped
    /// and their keys handed out for deletion.
    pub fn restore_raw<K, V>(
        &mut self,
        entries: impl IntoIterator<Item = (K, V)>,
        now_ms: i64,
    ) -> RawRestore
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut report = RawRestore::default();
        let mut by_metric: BTreeMap<String, Vec<StoredChunk>> = BTreeMap::new();
        for (k, v) in entries {
            let key = k.as_ref();
            match parse_raw_key(key) {
                Ok((metric, seq)) => by_metric.entry(metric.to_owned()).or_default().push((
                    seq,
                    key.to_vec(),
                    RawChunk::decode(v.as_ref()),
                )),
                Err(e) => {
                    report.skipped.push((key.to_vec(), e));
                    report.deletes.push(key.to_vec());
                }
            }
        }
        for (metric, mut chunks) in by_metric {
            chunks.sort_by_key(|c| c.0);
            let horizon = now_ms.saturating_add(self.config.max_future_ms);
            let sorted = sort_out(&metric, chunks, now_ms, horizon, &mut report);
            self.install_raw(&metric, sorted, now_ms, &mut report);
        }
        report
    }

    /// Puts one metric's sorted-out chunks back (see
    /// [`Aggregator::restore_raw`]).
    fn install_raw(&mut self, metric: &str, sorted: Sorted, now_ms: i64, report: &mut RawRestore) {
        let capacity = self.config.max_points_per_metric;
        let known = self.metrics.contains_key(metric);
        if sorted.kept.is_empty() && !known {
            return; // nothing to restore: not even a name
        }
        if !known {
            if let Err(e) = self.create(metric, sorted.complete_after) {
                for (_, _, key, _) in sorted.kept {
                    report.skipped.push((key.clone(), e.clone()));
                    report.deletes.push(key);
                }
                return;
            }
        }
        let Some(state) = self.metrics.get_mut(metric) else {
            return;
        };
        let raw = &mut state.raw;
        raw.next_chunk = raw.next_chunk.max(sorted.next_chunk);
        raw.last_ms = raw.last_ms.max(sorted.last_ms);
        let fresh = state.series.len() == 0;
        if fresh {
            let trailing = Window::FiveMinutes.duration_ms();
            state.series = RawSeries::new(capacity, trailing, sorted.complete_after);
        }
        let cutoff = now_ms - RAW_RETENTION_MS;
        let mut newest: Option<Point> = None;
        for (seq, last, _, points) in sorted.kept {
            raw.stored.push_back((seq, last));
            report.chunks += 1;
            if !fresh {
                continue;
            }
            for p in points {
                let in_order = newest.is_none_or(|q| p.timestamp_ms >= q.timestamp_ms);
                if in_order && p.timestamp_ms > cutoff {
                    state.series.push(p);
                    newest = Some(p);
                }
            }
        }
        if !fresh {
            return;
        }
        raw.next_point = state.series.next_seq();
        report.points += state.series.len();
        if let Some(p) = newest {
            state.accepts_from = state.accepts_from.max(p.timestamp_ms);
            state.last_seen = state.last_seen.max(p.timestamp_ms);
            if state.last.is_none_or(|q| q.timestamp_ms <= p.timestamp_ms) {
                state.last = Some(p);
            }
        }
    }

    /// Takes back a stored block at start: registers its metric and, when
    /// the block is the current hour's, makes it the open block again (so
    /// the next writes extend it instead of replacing it). Call it for at
    /// least the newest block of every metric in storage, before ingesting.
    /// Raw points of a metric this registers (one
    /// [`Aggregator::restore_raw`] did not) count as complete only after
    /// `now_ms` (history before that comes from rollups).
    ///
    /// # Errors
    /// [`MonitorError::CorruptBlock`] (bad key, bad value, or hours that
    /// differ); [`MonitorError::TooManyMetrics`].
    pub fn restore(
        &mut self,
        key: &[u8],
        value: &[u8],
        now_ms: i64,
    ) -> Result<Restored, MonitorError> {
        let (metric, hour) = parse_block_key(key)?;
        let block = HourBlock::decode(value)?;
        if block.hour() != hour {
            return Err(MonitorError::CorruptBlock {
                reason: "the value's hour differs from the key's",
            });
        }
        if block.end_ms() <= now_ms - ROLLUP_RETENTION_MS {
            return Ok(Restored::Expired);
        }
        if block.start_ms() > now_ms {
            return Ok(Restored::Future);
        }
        if !self.metrics.contains_key(metric) {
            self.create(metric, now_ms)?;
        }
        let state = self
            .metrics
            .get_mut(metric)
            .ok_or_else(|| MonitorError::UnknownMetric {
                metric: metric.to_owned(),
            })?;
        state.last_seen = state.last_seen.max((block.end_ms() - 1).min(now_ms));
        if block.end_ms() <= now_ms {
            state.accepts_from = state.accepts_from.max(block.end_ms());
            return Ok(Restored::Registered);
        }
        state.accepts_from = state.accepts_from.max(block.start_ms());
        if state
            .block
            .as_ref()
            .is_some_and(|b| b.hour() != block.hour())
        {
            seal(state, &mut self.pending, metric);
        }
        match state.block.take() {
            // Points came first: keep the stored minutes they lack.
            Some(memory) => {
                let mut merged = block;
                merged.overlay(&memory);
                state.block = Some(merged);
                state.dirty = true;
            }
            None => state.block = Some(block),
        }
        Ok(Restored::Adopted)
    }

    /// Plans a history query: raw points or rollups, and which blocks to
    /// read ([`HistoryPlan::keys`]).
    ///
    /// # Errors
    /// [`MonitorError::UnknownMetric`].
    pub fn plan_history(
        &self,
        metric: &str,
        query: HistoryQuery,
        now_ms: i64,
    ) -> Result<HistoryPlan, MonitorError> {
        let state = self.state(metric)?;
        Ok(history::plan(
            metric,
            query,
            now_ms,
            state.series.complete_after(),
        ))
    }

    /// Answers a planned query. `stored` holds the values the server found
    /// for [`HistoryPlan::keys`] (in any order; missing keys simply absent).
    /// In-memory blocks take precedence minute by minute. A stored value
    /// that does not decode is skipped and counted in the second element.
    ///
    /// # Errors
    /// [`MonitorError::UnknownMetric`] if the metric was forgotten since
    /// the plan.
    pub fn history<B: AsRef<[u8]>>(
        &self,
        plan: &HistoryPlan,
        stored: &[B],
    ) -> Result<(History, usize), MonitorError> {
        let state = self.state(&plan.metric)?;
        let q = plan.query;
        let (points, corrupt) = match plan.resolution {
            Resolution::Raw => {
                let raw = state.series.range(q.from_ms, q.to_ms).copied().collect();
                (HistoryPoints::Raw(raw), 0)
            }
            Resolution::Rollup { step_ms } => {
                let (blocks, corrupt) = gather_blocks(plan, state, stored);
                let buckets = history::buckets(plan, step_ms, blocks.values());
                (HistoryPoints::Rollup(buckets), corrupt)
            }
        };
        let history = History {
            metric: plan.metric.clone(),
            from: q.from_ms,
            to: q.to_ms,
            resolution: plan.resolution,
            points,
        };
        Ok((history, corrupt))
    }
}

/// One metric's stored raw chunks, sorted out for restoring.
struct Sorted {
    /// Chunks with points of the last hour: (number, newest timestamp,
    /// key, points).
    kept: Vec<(u64, i64, Vec<u8>, Vec<Point>)>,
    /// Raw points are complete after this (see `restore_raw`).
    complete_after: i64,
    /// A number above every stored chunk's.
    next_chunk: u64,
    /// The newest timestamp of a chunk that decoded.
    last_ms: Option<i64>,
}

/// Decodes and sorts out one metric's chunks (in number order): skipped
/// ones (bad value, points ahead of `horizon`) and those past the raw hour
/// go to the report's deletes; a gap in the numbers or a skipped chunk
/// moves `complete_after` past what the missing chunk could have held.
fn sort_out(
    metric: &str,
    chunks: Vec<StoredChunk>,
    now_ms: i64,
    horizon: i64,
    report: &mut RawRestore,
) -> Sorted {
    let mut out = Sorted {
        kept: Vec::new(),
        complete_after: i64::MIN,
        next_chunk: chunks.last().map_or(0, |c| c.0.saturating_add(1)),
        last_ms: None,
    };
    let mut previous: Option<u64> = None;
    let mut newest_skipped = false;
    for (seq, key, chunk) in chunks {
        let chunk = chunk.and_then(|c| match c.last_ms() {
            Some(t) if t > horizon => Err(MonitorError::TimestampOutOfRange {
                metric: metric.to_owned(),
                timestamp_ms: t,
                now_ms,
            }),
            _ => Ok(c),
        });
        let (c, last) = match chunk {
            Ok(c) => match c.last_ms() {
                Some(last) => (c, last),
                None => continue,
            },
            Err(e) => {
                report.skipped.push((key.clone(), e));
                report.deletes.push(key);
                newest_skipped = true;
                continue;
            }
        };
        newest_skipped = false;
        if previous.and_then(|p| p.checked_add(1)) != Some(seq) {
            out.complete_after = out.complete_after.max(c.prev_last_ms.unwrap_or(i64::MIN));
        }
        out.complete_after = out
            .complete_after
            .max(c.complete_after_ms.unwrap_or(i64::MIN));
        previous = Some(seq);
        out.last_ms = out.last_ms.max(Some(last));
        if last <= now_ms - RAW_RETENTION_MS {
            report.deletes.push(key);
        } else {
            out.kept.push((seq, last, key, c.points));
        }
    }
    if newest_skipped {
        out.complete_after = out.complete_after.max(now_ms);
    }
    out
}

/// The chunk of `series`' points not handed out yet, if any.
fn cut_chunk(metric: &str, series: &RawSeries, log: &mut RawLog) -> Option<RawWrite> {
    let points: Vec<Point> = series.since(log.next_point).copied().collect();
    let first_point = series.next_seq() - points.len() as u64;
    log.next_point = series.next_seq();
    let last = points.last()?.timestamp_ms;
    let complete = series.complete_after();
    let chunk = RawChunk {
        prev_last_ms: log.last_ms,
        complete_after_ms: (complete != i64::MIN).then_some(complete),
        points,
    };
    let seq = log.next_chunk;
    log.next_chunk += 1;
    log.last_ms = Some(last);
    log.stored.push_back((seq, last));
    Some(RawWrite {
        metric: metric.to_owned(),
        seq,
        key: raw_key(metric, seq),
        value: chunk.encode(),
        points: chunk.points.len(),
        first_point,
        prev_last_ms: chunk.prev_last_ms,
    })
}

/// Blocks with an hour below the result are past the 7-day retention.
pub fn delete_before_hour(now_ms: i64) -> u32 {
    u32::try_from((now_ms - ROLLUP_RETENTION_MS).div_euclid(HOUR_MS)).unwrap_or(0)
}

fn check_value(metric: &str, value: f64) -> Result<(), MonitorError> {
    if !value.is_finite() {
        return Err(MonitorError::NotFinite {
            metric: metric.chars().take(128).collect(),
        });
    }
    if value.abs() > MAX_ABS_VALUE {
        return Err(MonitorError::ValueOutOfRange {
            metric: metric.chars().take(128).collect(),
            value,
        });
    }
    Ok(())
}

fn write_of(metric: String, block: &HourBlock) -> BlockWrite {
    BlockWrite {
        key: block_key(&metric, block.hour()),
        hour: block.hour(),
        value: block.encode(),
        metric,
    }
}

/// Seals the open block: queued for writing if it changed since the last
/// write, kept in memory as the last sealed block.
fn seal(state: &mut MetricState, pending: &mut Vec<(String, HourBlock)>, metric: &str) {
    if let Some(block) = state.block.take() {
        state.accepts_from = state.accepts_from.max(block.end_ms());
        if state.dirty {
            pending.push((metric.to_owned(), block.clone()));
        }
        state.sealed = Some(block);
    }
    state.dirty = false;
}

fn record_rollup(
    state: &mut MetricState,
    pending: &mut Vec<(String, HourBlock)>,
    metric: &str,
    point: Point,
) {
    let hour = hour_of(point.timestamp_ms).unwrap_or(0);
    if state.block.as_ref().is_some_and(|b| b.hour() != hour) {
        seal(state, pending, metric);
    }
    let block = state.block.get_or_insert_with(|| HourBlock::new(hour));
    block.record(point.timestamp_ms, point.value);
    state.dirty = true;
    state.accepts_from = point.timestamp_ms;
    state.last_seen = point.timestamp_ms;
    state.last = Some(point);
}

/// The plan's blocks: stored ones, overlaid with the in-memory ones.
fn gather_blocks<B: AsRef<[u8]>>(
    plan: &HistoryPlan,
    state: &MetricState,
    stored: &[B],
) -> (BTreeMap<u32, HourBlock>, usize) {
    let wanted = |h: u32| plan.hours.binary_search(&h).is_ok();
    let mut blocks = BTreeMap::new();
    let mut corrupt = 0;
    for bytes in stored {
        match HourBlock::decode(bytes.as_ref()) {
            Ok(b) if wanted(b.hour()) => {
                blocks.insert(b.hour(), b);
            }
            Ok(_) => {}
            Err(_) => corrupt += 1,
        }
    }
    for memory in [&state.sealed, &state.block].into_iter().flatten() {
        if wanted(memory.hour()) {
            blocks
                .entry(memory.hour())
                .and_modify(|b: &mut HourBlock| b.overlay(memory))
                .or_insert_with(|| memory.clone());
        }
    }
    (blocks, corrupt)
}
