//! Criterion benchmark of the monitoring store on the server side, with
//! the real embedded engine (fjall) and an injected clock: ingest through
//! [`MetricsCore`] (lock + aggregator; the z-score of every point is
//! computed within its ingest, so this is also the detection latency), a
//! 24-hour history query of one metric read from fjall, and
//! the bytes one 1 Hz metric takes for 7 days (printed, keys + values as
//! stored — the rollups, and apart its raw hour — and the data directory
//! after a clean close).
//!
//! Run: `flock /tmp/wavecast-build.lock cargo bench -p wavecast-server --bench monitoring`.

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wavecast_monitor::{AggregatorConfig, HistoryQuery, DAY_MS, HOUR_MS};
use wavecast_server::history::embedded::EmbeddedStore;
use wavecast_server::monitoring::core::{Clock, MetricsCore};
use wavecast_server::monitoring::store::MetricStore;

const H0: i64 = 480_000 * HOUR_MS;

fn open(dir: &std::path::Path, now: &Arc<AtomicI64>) -> (Arc<EmbeddedStore>, MetricsCore) {
    let store = Arc::new(
        EmbeddedStore::open(dir, Some(Duration::from_millis(5)), 100).expect("open store"),
    );
    let n = now.clone();
    let clock: Clock = Arc::new(move || n.load(Ordering::Relaxed));
    let core = MetricsCore::open(
        AggregatorConfig::default(),
        MetricStore::embedded(&store).expect("keyspaces"),
        clock,
    )
    .expect("core");
    (store, core)
}

/// Feeds `metric` one point a second for `days`, flushing every hour.
fn feed(core: &MetricsCore, now: &AtomicI64, metric: &str, start: i64, days: i64) -> i64 {
    let mut t = start;
    for i in 0..days * 86_400 {
        t = start + i * 1_000;
        now.store(t, Ordering::Relaxed);
        let v = 100.0 + ((i * 7_919) % 1_000) as f64 / 100.0;
        let _ = core.ingest(metric, v, None);
        if i % 3_600 == 3_599 {
            core.flush().expect("flush");
        }
    }
    core.flush().expect("flush");
    t
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn seven_days_size() {
    let dir = wavecast_testkit::temp_dir("bench-monitoring-size");
    let now = Arc::new(AtomicI64::new(H0));
    let before;
    {
        let (_store, core) = open(&dir, &now);
        before = dir_size(&dir);
        feed(&core, &now, "betanet.avg_latency_ms", H0, 7);
        let (blocks, bytes) = core.store().size().expect("size");
        println!("7 days of a 1 Hz metric: {blocks} blocks, {bytes} bytes of keys + values");
        let (chunks, raw) = core.store().raw_size().expect("raw size");
        println!(
            "its raw hour (flushed hourly here): {chunks} chunks, {raw} bytes of keys + values"
        );
    }
    let after = dir_size(&dir);
    println!(
        "data directory after a clean close: {} bytes ({} before the metric)",
        after, before
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench(c: &mut Criterion) {
    seven_days_size();
    let dir = wavecast_testkit::temp_dir("bench-monitoring");
    let now = Arc::new(AtomicI64::new(H0));
    let (_store, core) = open(&dir, &now);
    let end = feed(&core, &now, "q.latency", H0, 1);
    let query = HistoryQuery::new(end - DAY_MS, end, None).expect("query");
    c.bench_function("history_24h_one_metric_from_fjall", |b| {
        b.iter(|| black_box(core.history("q.latency", query).expect("history")))
    });
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(1));
    let mut t = end;
    g.bench_function("one_point_through_the_core", |b| {
        b.iter(|| {
            t += 1;
            now.store(t, Ordering::Relaxed);
            black_box(core.ingest("i.load", 50.0 + (t % 7) as f64, None).ok())
        })
    });
    g.finish();
    drop(core);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
