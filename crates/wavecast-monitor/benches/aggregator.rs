//! Criterion benchmarks of the monitoring maths: ingest throughput (one
//! metric, 1,000 metrics), the latency of an ingest that raises an anomaly,
//! a 24-hour history query, window statistics, the summary, and block
//! encoding.
//!
//! Run with `cargo bench -p wavecast-monitor --bench aggregator` (hold the
//! build lock so nothing compiles meanwhile). Ingest throughput is reported
//! in points (elements) per second.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wavecast_monitor::{
    Aggregator, AggregatorConfig, HistoryPoints, HistoryQuery, HourBlock, Window, HOUR_MS,
};

/// An hour boundary.
const H0: i64 = 480_000 * HOUR_MS;

fn aggregator() -> Aggregator {
    let Ok(agg) = Aggregator::new(AggregatorConfig::default()) else {
        panic!("the default configuration is valid");
    };
    agg
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    // One metric at 1,000 points/s of event time: the ring is at its 7,200
    // point bound, so each ingest also evicts from it and the trailing sums.
    let mut agg = aggregator();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut t = H0;
    group.bench_function("one_metric", |b| {
        b.iter(|| {
            t += 1;
            let alerts = agg.ingest("betanet.avg_latency_ms", 25.0 + rng.f64(), t, t);
            black_box(alerts.map(|a| a.len()).unwrap_or(usize::MAX))
        })
    });
    // 1,000 metrics round-robin, 1 ms of event time apart: each metric gets
    // one point per second.
    let names: Vec<String> = (0..1_000)
        .map(|i| format!("device.{i}.cpu_percent"))
        .collect();
    let mut agg = aggregator();
    let mut t = H0;
    group.bench_function("1000_metrics", |b| {
        b.iter(|| {
            t += 1;
            let name = &names[(t % 1_000) as usize];
            let alerts = agg.ingest(name, 50.0 + rng.f64(), t, t);
            black_box(alerts.map(|a| a.len()).unwrap_or(usize::MAX))
        })
    });
    group.finish();
}

fn alert_latency(c: &mut Criterion) {
    let mut agg = aggregator();
    let mut t = H0;
    for i in 0..300 {
        t += 1_000;
        let _ = agg.ingest("lat", 20.0 + (i % 7) as f64, t, t);
    }
    t += 1_000;
    c.bench_function("ingest_to_anomaly_alert", |b| {
        b.iter_batched(
            || agg.clone(),
            |mut a| {
                let alerts = a.ingest("lat", 500.0, t, t).unwrap_or_default();
                assert_eq!(alerts.len(), 1);
                // Returned, so the clone is dropped outside the timing.
                (alerts, a)
            },
            BatchSize::LargeInput,
        )
    });
}

fn history_24h(c: &mut Criterion) {
    let mut agg = aggregator();
    let mut store: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = fastrand::Rng::with_seed(2);
    let end = H0 + 24 * HOUR_MS;
    let mut t = H0;
    while t < end {
        let _ = agg.ingest("betanet.avg_latency_ms", 25.0 + rng.f64() * 10.0, t, t);
        if t % HOUR_MS == HOUR_MS - 1_000 {
            store.extend(agg.take_writes().into_iter().map(|w| (w.key, w.value)));
        }
        t += 1_000;
    }
    let now = end;
    c.bench_function("history_24h_one_metric", |b| {
        b.iter(|| {
            let Ok(q) = HistoryQuery::last_hours(24.0, now, None) else {
                panic!("valid query");
            };
            let Ok(plan) = agg.plan_history("betanet.avg_latency_ms", q, now) else {
                panic!("known metric");
            };
            let found: Vec<&Vec<u8>> = plan.keys().iter().filter_map(|k| store.get(k)).collect();
            let Ok((history, _)) = agg.history(&plan, &found) else {
                panic!("history");
            };
            assert!(matches!(&history.points, HistoryPoints::Rollup(b) if b.len() == 1_440));
            black_box(history)
        })
    });
}

fn queries(c: &mut Criterion) {
    let mut group = c.benchmark_group("queries");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    let mut agg = aggregator();
    let mut rng = fastrand::Rng::with_seed(3);
    let names: Vec<String> = (0..1_000)
        .map(|i| format!("device.{i}.cpu_percent"))
        .collect();
    let end = H0 + HOUR_MS;
    for s in 0..3_600 {
        let t = H0 + s * 1_000;
        let _ = agg.ingest("one", rng.f64(), t, t);
        if s >= 3_300 {
            for name in &names {
                let _ = agg.ingest(name, rng.f64(), t, t);
            }
        }
    }
    group.bench_function("statistics_1h_3600_points", |b| {
        b.iter(|| black_box(agg.statistics("one", Window::OneHour, end)))
    });
    group.bench_function("summary_1001_metrics", |b| {
        b.iter(|| black_box(agg.summary(end)))
    });
    let mut block = HourBlock::new(480_000);
    for s in 0..3_600 {
        block.record(H0 + s * 1_000, 25.0 + rng.f64() * 10.0);
    }
    let bytes = block.encode();
    group.bench_function("encode_block", |b| b.iter(|| black_box(block.encode())));
    group.bench_function("decode_block", |b| {
        b.iter(|| black_box(HourBlock::decode(&bytes)))
    });
    group.finish();
}

criterion_group!(benches, ingest, alert_latency, history_24h, queries);
criterion_main!(benches);
