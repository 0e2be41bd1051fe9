//! Retention of the monitoring store with an injected clock, on the real
//! embedded engine (fjall): eight days of one point a minute leave raw
//! points for the last hour and rollups for the last seven days, blocks
//! and raw chunks past retention are deleted, and reopening the data
//! directory gives the same history, raw statistics and latest value
//! back; a corrupt stored raw chunk is skipped and deleted at the next
//! opening, not fatal.

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
    let core = MetricsCore::open(
        AggregatorConfig::default(),
        MetricStore::embedded(&store).expect("keyspaces"),
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
    // Raw chunks (one per hourly flush here) an hour old were deleted: the
    // last hour's is left.
    let (chunks, raw_bytes) = core.store().raw_size().expect("raw size");
    assert_eq!(chunks, 1, "{raw_bytes} bytes");
    drop(core);
    drop(store);
    // Reopened a second later: the rollups, the raw hour and the latest
    // value are all there.
    let later = t + 1_000;
    now.store(later, Ordering::Relaxed);
    let (store, core) = open(&dir, clock.clone());
    assert_eq!(core.names(), vec!["fog.load".to_string()]);
    let after = core.history("fog.load", q).expect("history");
    assert_eq!(after.points, before.points);
    for w in Window::ALL {
        let raw = core.statistics("fog.load", w).expect("stats");
        assert_eq!(
            raw.map(|s| s.count),
            Some(w.duration_ms() as u64 / MINUTE_MS as u64)
        );
    }
    let stats = core
        .statistics("fog.load", Window::OneHour)
        .expect("stats")
        .expect("points");
    assert_eq!(stats, s);
    let summary = core.summary();
    assert_eq!(summary[0].latest.map(|p| p.timestamp_ms), Some(t));
    // The next flush writes only what is new: nothing yet.
    assert_eq!(core.flush().expect("flush").raw_chunks_written, 0);
    // A corrupt raw chunk and a key that is no chunk key are skipped (and
    // logged) at the next opening, and deleted.
    let raw_ks = store.keyspace("monitor_raw").expect("keyspace");
    let bad = wavecast_monitor::raw_key("fog.load", 1 << 40);
    raw_ks.insert(&bad, [1u8, 0, 9]).expect("insert");
    raw_ks.insert(b"junk", b"junk").expect("insert");
    drop(raw_ks);
    drop(core);
    drop(store);
    let (store, core) = open(&dir, clock);
    let count = core
        .statistics("fog.load", Window::OneHour)
        .expect("stats")
        .map(|s| s.count);
    assert_eq!(count, Some(60));
    assert_eq!(core.store().raw_size().expect("raw size").0, 1);
    drop(core);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
