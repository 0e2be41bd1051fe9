//! The server's side of the aggregator: one [`Aggregator`] behind a lock,
//! its store and its clock. Ingest, queries, and persistence (flush,
//! restore, retention) go through here.
//!
//! Invariants: every timestamp comes from the injected [`Clock`] (tests
//! drive days of retention in milliseconds); the lock is held only for
//! in-memory work — storage reads for a history query happen between
//! planning and answering, outside it; a flush writes the blocks and the
//! raw chunks the aggregator hands out (raw chunks that could not be put
//! are handed back, to go out with the next flush), deletes the raw
//! chunks an hour old, and deletes hours past retention once per hour;
//! opening restores the raw chunks, then the blocks, and never fails on
//! a bad stored chunk (it is logged, skipped and deleted).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use wavecast_monitor::{
    Aggregator, AggregatorConfig, Alert, DocumentOutcome, FlattenLimits, History, HistoryQuery,
    MetricSummary, MonitorError, RawFlush, Restored, Stats, Window,
};

use super::store::MetricStore;

/// Milliseconds since the Unix epoch, injectable.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

/// What a flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    pub blocks_written: usize,
    pub blocks_deleted: usize,
    pub raw_points_dropped: usize,
    pub raw_chunks_written: usize,
    pub raw_chunks_deleted: usize,
}

/// The aggregator, its store and its clock.
pub struct MetricsCore {
    agg: Mutex<Aggregator>,
    store: MetricStore,
    clock: Clock,
    limits: FlattenLimits,
    /// The retention hour last deleted up to (0: not yet this run).
    deleted_before: AtomicU32,
}

impl MetricsCore {
    /// A core over `store`, with the raw chunks and blocks already in it
    /// restored.
    pub fn open(
        config: AggregatorConfig,
        store: MetricStore,
        clock: Clock,
    ) -> Result<MetricsCore, String> {
        let agg = Aggregator::new(config).map_err(|e| e.to_string())?;
        let core = MetricsCore {
            agg: Mutex::new(agg),
            store,
            clock,
            limits: FlattenLimits::default(),
            deleted_before: AtomicU32::new(0),
        };
        core.restore_raw()?;
        core.restore()?;
        Ok(core)
    }

    /// The raw hour back from the stored chunks; bad ones are logged and
    /// deleted, never fatal.
    fn restore_raw(&self) -> Result<(), String> {
        let now = self.now();
        let stored = self.store.raw_all()?;
        if stored.is_empty() {
            return Ok(());
        }
        let report = self.agg.lock().restore_raw(stored, now);
        for (key, e) in &report.skipped {
            let key = String::from_utf8_lossy(key);
            tracing::warn!(key = %key, error = %e, "monitoring: stored raw chunk skipped");
        }
        tracing::info!(
            points = report.points,
            chunks = report.chunks,
            skipped = report.skipped.len(),
            "monitoring: raw points restored"
        );
        if let Err(e) = self.store.delete_raw(&report.deletes) {
            tracing::warn!(error = %e, "monitoring: old raw chunks not deleted");
        }
        Ok(())
    }

    fn restore(&self) -> Result<(), String> {
        let now = self.now();
        let mut expired = false;
        let mut agg = self.agg.lock();
        for (k, v) in self.store.all()? {
            match agg.restore(&k, &v, now) {
                Ok(Restored::Expired) => expired = true,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "monitoring: stored block skipped"),
            }
        }
        drop(agg);
        if expired {
            self.store
                .delete_before(wavecast_monitor::delete_before_hour(now))?;
        }
        Ok(())
    }

    /// The clock's time.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn store(&self) -> &MetricStore {
        &self.store
    }

    /// Records one point (`timestamp` defaults to now).
    pub fn ingest(
        &self,
        metric: &str,
        value: f64,
        timestamp: Option<i64>,
    ) -> Result<Vec<Alert>, MonitorError> {
        let now = self.now();
        self.agg
            .lock()
            .ingest(metric, value, timestamp.unwrap_or(now), now)
    }

    /// Records every numeric leaf of `doc`, stamped now.
    pub fn ingest_document(&self, doc: &Value) -> DocumentOutcome {
        let now = self.now();
        self.agg
            .lock()
            .ingest_document("", doc, now, now, &self.limits)
    }

    pub fn names(&self) -> Vec<String> {
        self.agg.lock().names()
    }

    pub fn len(&self) -> usize {
        self.agg.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn statistics(&self, metric: &str, window: Window) -> Result<Option<Stats>, MonitorError> {
        let now = self.now();
        self.agg.lock().statistics(metric, window, now)
    }

    pub fn summary(&self) -> Vec<MetricSummary> {
        let now = self.now();
        self.agg.lock().summary(now)
    }

    /// Answers a history query: plan under the lock, read the blocks
    /// without it, merge under it again.
    pub fn history(&self, metric: &str, query: HistoryQuery) -> Result<History, HistoryError> {
        let now = self.now();
        let plan = self
            .agg
            .lock()
            .plan_history(metric, query, now)
            .map_err(HistoryError::Monitor)?;
        let keys = plan.keys();
        let stored = if keys.is_empty() {
            Vec::new()
        } else {
            self.store.get_many(&keys).map_err(HistoryError::Storage)?
        };
        let (history, corrupt) = self
            .agg
            .lock()
            .history(&plan, &stored)
            .map_err(HistoryError::Monitor)?;
        if corrupt > 0 {
            tracing::warn!(metric, corrupt, "monitoring: corrupt stored blocks skipped");
        }
        Ok(history)
    }

    /// Expires raw points, writes changed blocks and new raw chunks,
    /// deletes raw chunks an hour old, and deletes the hours past
    /// retention (once per hour).
    pub fn flush(&self) -> Result<Flushed, String> {
        let now = self.now();
        let (report, writes, raw) = {
            let mut agg = self.agg.lock();
            let report = agg.expire(now);
            let raw = if self.store.keeps_raw() {
                agg.take_raw_writes()
            } else {
                RawFlush::default()
            };
            (report, agg.take_writes(), raw)
        };
        let mut out = Flushed {
            blocks_written: writes.len(),
            raw_points_dropped: report.raw_points_dropped,
            raw_chunks_written: raw.writes.len(),
            ..Flushed::default()
        };
        let blocks = self.store.put(&writes);
        if let Err((e, unwritten)) = self.store.put_raw(raw.writes) {
            self.agg.lock().return_raw_writes(unwritten);
            return Err(e);
        }
        blocks?;
        out.raw_chunks_deleted = self.store.delete_raw(&raw.deletes)?;
        let before = report.delete_blocks_before_hour;
        if self.deleted_before.load(Ordering::Relaxed) < before {
            out.blocks_deleted = self.store.delete_before(before)?;
            self.deleted_before.store(before, Ordering::Relaxed);
        }
        Ok(out)
    }
}

/// Why a history query failed.
#[derive(Debug)]
pub enum HistoryError {
    Monitor(MonitorError),
    Storage(String),
}
