//! Retention of the monitoring store with an injected clock, on the real
//! embedded engine (fjall): eight days of one point a minute leave raw
//! points for the last hour and rollups for the last seven days, blocks
//! past retention are deleted, and reopening the data directory gives the
//! same history back.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wavecast_monitor::{
    AggregatorConfig, HistoryPoints, HistoryQuery, Window, DAY_MS, HOUR_MS, MINUTE_MS,
};
use wavecast_server::history::embedded::EmbeddedStore;
use wavecast_server::monitoring::core::{Clock, MetricsCore};
use wavecast_server::monitoring::store::MetricStore;

/// An hour boundary (2024-10-05T00:00Z).
const H0: i64 = 480_000 * HOUR_MS;

fn open(dir: &std::path::Path, clock: Clock) -> (Arc<EmbeddedStore>, MetricsCore) {
    let store = Arc::new(
        EmbeddedStore::open(dir, Some(Duration::from_millis(5)), 100).expect("open store"),
    );
    let ks = store.keyspace("monitor").expect("keyspace");
    let core = MetricsCore::open(
        AggregatorConfig::default(),
        MetricStore::Embedded(ks),
        clock,
    )
    .expect("open core");
    (store, core)
}

fn bucket_total(points: &HistoryPoints) -> u64 {
    match points {
        HistoryPoints::Rollup(b) => b.iter().map(|b| b.count).sum(),
        HistoryPoints::Raw(p) => p.len() as u64,
    }
}

#[test]
fn seven_days_of_rollups_one_hour_of_raw_points_across_a_restart() {
    let dir = wavecast_testkit::temp_dir("monitoring-retention");
    let now = Arc::new(AtomicI64::new(H0));
    let n = now.clone();
    let clock: Clock = Arc::new(move || n.load(Ordering::Relaxed));
    let (store, core) = open(&dir, clock.clone());
    let minutes = 8 * 24 * 60;
    for i in 0..minutes {
        let t = H0 + i * MINUTE_MS + 30_000;
        now.store(t, Ordering::Relaxed);
        core.ingest("fog.load", (i % 100) as f64, None)
            .expect("ingest");
        if (i + 1) % 60 == 0 {
            core.flush().expect("flush");
        }
    }
    core.flush().expect("flush");
    let t = now.load(Ordering::Relaxed);
    // Raw points: the last hour only.
    let s = core
        .statistics("fog.load", Window::OneHour)
        .expect("stats")
        .expect("points");
    assert_eq!(s.count, 60);
    // Rollups: seven days (minutes starting after now − 7 d), not eight.
    let q = HistoryQuery::new(t - 8 * DAY_MS, t, Some(HOUR_MS)).expect("query");
    let before = core.history("fog.load", q).expect("history");
    assert_eq!(bucket_total(&before.points), 7 * 24 * 60);
    // Blocks past retention were deleted: 7 days of hours, plus the open one.
    let (blocks, bytes) = core.store().size().expect("size");
    assert!(blocks <= 7 * 24 + 1, "{blocks} blocks");
    assert!(bytes < 200_000, "{bytes} bytes");
    drop(core);
    drop(store);
    // Reopened a second later: the raw hour is gone with the process, the
    // rollups are all there.
    now.store(t + 1_000, Ordering::Relaxed);
    let (store, core) = open(&dir, clock);
    assert_eq!(core.names(), vec!["fog.load".to_string()]);
    let after = core.history("fog.load", q).expect("history");
    assert_eq!(after.points, before.points);
    let raw = core.statistics("fog.load", Window::OneHour).expect("stats");
    assert_eq!(raw, None);
    drop(core);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
