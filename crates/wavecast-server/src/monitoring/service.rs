//! [`Monitoring`]: the subsystem's shared state — configuration, the
//! metrics core, reported tasks, alert counts, which publishers are
//! failing and running, and the task tracker of its loops.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio_util::task::TaskTracker;
use wavecast_monitor::AggregatorConfig;

use super::core::{system_clock, Clock, MetricsCore};
use super::store::MetricStore;
use super::tasks::TaskBoard;
use crate::config::MonitoringConfig;
use crate::state::AppState;
use crate::streams::StreamCounter;

/// Alerts published so far, by kind.
#[derive(Default)]
pub struct AlertCounts {
    pub total: AtomicU64,
    pub anomalies: AtomicU64,
    pub thresholds: AtomicU64,
    pub sources: AtomicU64,
}

/// The monitoring subsystem of one server.
pub struct Monitoring {
    pub config: MonitoringConfig,
    pub core: MetricsCore,
    pub tasks: TaskBoard,
    /// The simulation streams running in this process (tasks).
    pub streams: Arc<StreamCounter>,
    pub alert_counts: AlertCounts,
    /// Publisher loops running now.
    pub publishers_active: AtomicUsize,
    /// `room/source` of the publishers whose last tick failed.
    failing: Mutex<BTreeSet<String>>,
    /// The publisher loops and the flusher.
    pub tracker: TaskTracker,
}

impl Monitoring {
    /// The subsystem of `state`, with the engine's store: the embedded
    /// database's keyspaces `monitor` and `monitor_raw`, or memory (memory
    /// and redis).
    pub fn new(state: &AppState, streams: Arc<StreamCounter>) -> Monitoring {
        Self::with_clock(state, streams, system_clock())
    }

    /// [`Monitoring::new`] with another clock.
    pub fn with_clock(state: &AppState, streams: Arc<StreamCounter>, clock: Clock) -> Monitoring {
        let config = state.config.monitoring.clone();
        let store = match state.embedded.as_deref().map(MetricStore::embedded) {
            Some(Ok(store)) => store,
            Some(Err(e)) => {
                tracing::error!(error = %e, "monitoring: rollups and raw points kept in memory only");
                MetricStore::memory()
            }
            None => MetricStore::memory(),
        };
        let agg = aggregator_config(&config);
        let core = match MetricsCore::open(agg.clone(), store, clock.clone()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "monitoring: stored rollups unreadable; starting empty in memory");
                MetricsCore::open(AggregatorConfig::default(), MetricStore::memory(), clock)
                    .expect("the default aggregator configuration over an empty store opens")
            }
        };
        Monitoring {
            tasks: TaskBoard::new(config.max_tasks, config.finished_task_ttl),
            config,
            core,
            streams,
            alert_counts: AlertCounts::default(),
            publishers_active: AtomicUsize::new(0),
            failing: Mutex::new(BTreeSet::new()),
            tracker: TaskTracker::new(),
        }
    }

    /// Waits (at most `bound`) for the loops to end after shutdown; the
    /// flusher writes the rollups one last time.
    pub async fn stopped(&self, bound: std::time::Duration) {
        self.tracker.close();
        let _ = tokio::time::timeout(bound, self.tracker.wait()).await;
    }

    pub fn publishers_active(&self) -> usize {
        self.publishers_active.load(Ordering::Relaxed)
    }

    /// The publishers whose last tick failed, as `room/source`.
    pub fn failing_sources(&self) -> Vec<String> {
        self.failing.lock().iter().cloned().collect()
    }

    /// Marks a publisher failing; true when it was not already.
    pub fn set_failing(&self, key: &str, failing: bool) -> bool {
        let mut f = self.failing.lock();
        if failing {
            f.insert(key.to_string())
        } else {
            f.remove(key);
            false
        }
    }

    /// The rooms the publishers feed, and the alerts room.
    pub fn rooms(&self) -> Vec<String> {
        if !self.config.enabled {
            return Vec::new();
        }
        let mut rooms: Vec<String> = self
            .config
            .publishers
            .iter()
            .map(|p| p.room.clone())
            .collect();
        rooms.push(self.config.alerts_room.clone());
        rooms.sort();
        rooms.dedup();
        rooms
    }
}

/// The aggregator's configuration from `[monitoring]` (checked at load).
pub fn aggregator_config(c: &MonitoringConfig) -> AggregatorConfig {
    AggregatorConfig {
        max_metrics: c.max_metrics,
        max_points_per_metric: c.max_points_per_metric,
        thresholds: c.thresholds.iter().filter_map(|t| t.rule().ok()).collect(),
        ..AggregatorConfig::default()
    }
}
