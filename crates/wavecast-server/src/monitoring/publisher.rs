//! The publisher loops, alert publication and the flusher.
//!
//! A publisher ticks every `interval` (missed ticks are skipped, so the
//! mean interval stays the configured one), asks its source for a
//! document and publishes it with its event type through the hub. The
//! document's numeric leaves are then recorded (except for the alerts
//! room and the topology); the alerts they raise are published to the
//! alerts room as FOG envelopes `{"type":"alert","data":{…},
//! "priority","timestamp"}`.
//!
//! A failing tick logs, counts `monitoring_source_errors_total{source}`,
//! and — the first time in a row — publishes one `source_failed` alert.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use wavecast_monitor::{Alert, AlertKind};
use wavecast_protocol::time::now_rfc3339;

use super::service::Monitoring;
use super::sources::ctx::Ctx;
use super::sources::source::Source;
use crate::config::{MonitorPublisher, MonitorSource};
use crate::metrics::{SourceLabel, TypeLabel};
use crate::state::AppState;

/// Starts the publishers (when enabled) and the flusher.
pub fn start(mon: &Arc<Monitoring>, state: &Arc<AppState>) {
    if mon.config.enabled {
        for p in mon.config.publishers.clone() {
            mon.tracker
                .spawn(run(mon.clone(), Arc::downgrade(state), p));
        }
    }
    mon.tracker
        .spawn(flusher(mon.clone(), state.shutdown.clone()));
}

/// Counts a running loop while alive.
struct Active<'a>(&'a Monitoring);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.publishers_active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One publisher, until shutdown.
pub async fn run(mon: Arc<Monitoring>, weak: Weak<AppState>, p: MonitorPublisher) {
    let Some(shutdown) = weak.upgrade().map(|s| s.shutdown.clone()) else {
        return;
    };
    mon.publishers_active.fetch_add(1, Ordering::Relaxed);
    let _active = Active(&mon);
    let mut source = Source::new(&p);
    let key = format!("{}/{}", p.room, p.source.as_str());
    let mut ticker = tokio::time::interval(p.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Some(state) = weak.upgrade() else { return };
        let ctx = Ctx {
            state: &state,
            monitoring: &mon,
        };
        match source.collect(&ctx).await {
            Ok(Some(doc)) => {
                mon.set_failing(&key, false);
                publish_tick(&state, &mon, &p, doc).await;
            }
            Ok(None) => {
                mon.set_failing(&key, false);
            }
            Err(e) => source_failed(&state, &mon, &p, &key, &e).await,
        }
    }
}

/// Publishes one tick's document and records it.
async fn publish_tick(state: &Arc<AppState>, mon: &Monitoring, p: &MonitorPublisher, doc: Value) {
    let data = Bytes::from(doc.to_string());
    if let Err(e) = state.hub.publish(&p.room, &p.event, data, None).await {
        tracing::warn!(room = %p.room, error = %e, "monitoring publisher could not publish");
    }
    let recorded = p.room != mon.config.alerts_room
        && !matches!(p.source, MonitorSource::Topology | MonitorSource::Alerts);
    if recorded {
        let out = mon.core.ingest_document(&doc);
        if !out.rejected.is_empty() {
            tracing::debug!(room = %p.room, rejected = out.rejected.len(), "monitoring: points refused");
        }
        publish_alerts(state, mon, &out.alerts).await;
    }
}

async fn source_failed(
    state: &Arc<AppState>,
    mon: &Monitoring,
    p: &MonitorPublisher,
    key: &str,
    error: &str,
) {
    tracing::warn!(room = %p.room, source = p.source.as_str(), error, "monitoring source failed");
    state
        .metrics
        .monitoring_source_errors_total
        .get_or_create(&SourceLabel {
            source: p.source.as_str().to_string(),
        })
        .inc();
    if !mon.set_failing(key, true) {
        return;
    }
    mon.alert_counts.sources.fetch_add(1, Ordering::Relaxed);
    let data = json!({
        "type": "source_failed",
        "source": p.source.as_str(),
        "room": p.room,
        "error": error,
        "severity": "warning",
    });
    publish_envelope(state, mon, data, "warning", "source_failed").await;
}

/// Publishes each alert to the alerts room.
pub async fn publish_alerts(state: &AppState, mon: &Monitoring, alerts: &[Alert]) {
    for a in alerts {
        let counter = match a.kind {
            AlertKind::Anomaly { .. } => &mon.alert_counts.anomalies,
            AlertKind::Threshold { .. } => &mon.alert_counts.thresholds,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        publish_envelope(state, mon, a.data_json(), a.priority(), a.alert_type()).await;
    }
}

async fn publish_envelope(
    state: &AppState,
    mon: &Monitoring,
    data: Value,
    priority: &str,
    kind: &str,
) {
    mon.alert_counts.total.fetch_add(1, Ordering::Relaxed);
    state
        .metrics
        .monitoring_alerts_total
        .get_or_create(&TypeLabel {
            r#type: kind.to_string(),
        })
        .inc();
    let envelope = json!({
        "type": "alert",
        "data": data,
        "priority": priority,
        "timestamp": now_rfc3339(),
    });
    let room = &mon.config.alerts_room;
    if let Err(e) = state
        .hub
        .publish(room, "alert", Bytes::from(envelope.to_string()), None)
        .await
    {
        tracing::warn!(room = %room, error = %e, "monitoring alert could not be published");
    }
}

/// Writes rollups and raw points every `flush_interval` and once more at
/// shutdown.
pub async fn flusher(mon: Arc<Monitoring>, shutdown: CancellationToken) {
    let every = mon.config.flush_interval;
    loop {
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
        };
        flush(&mon).await;
        if stop {
            return;
        }
    }
}

/// One flush, on the blocking pool (it writes to storage).
pub async fn flush(mon: &Arc<Monitoring>) {
    let m = mon.clone();
    let done = tokio::task::spawn_blocking(move || m.core.flush()).await;
    match done {
        Ok(Ok(f)) if f.blocks_deleted > 0 => {
            tracing::debug!(
                deleted = f.blocks_deleted,
                "monitoring: rollups past retention deleted"
            );
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "monitoring: rollups or raw points not written"),
        Err(e) => tracing::warn!(error = %e, "monitoring: flush task failed"),
    }
}

/// How long shutdown waits for the monitoring loops.
pub const STOP_BOUND: Duration = Duration::from_secs(5);
