//! The raw hour across a restart, with an injected clock: raw chunks
//! written at each flush (only points not written before, never a key
//! twice) and deleted an hour after their newest point; restored, they
//! give back the same 1m/5m/1h statistics, raw history, latest value and
//! anomaly warm-up. Bad stored chunks are skipped and deleted, and the
//! raw history around them falls back to rollups. What the raw hour
//! costs in storage.

mod common;

use common::Store;
use wavecast_monitor::{
    Aggregator, AggregatorConfig, AlertKind, HistoryPoints, HistoryQuery, RawChunk, Resolution,
    Window, HOUR_MS, MINUTE_MS,
};

/// An hour boundary (2024-10-05T00:00Z).
const H0: i64 = 480_000 * HOUR_MS;

fn new_aggregator() -> Aggregator {
    Aggregator::new(AggregatorConfig::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn ok<T>(r: Result<T, wavecast_monitor::MonitorError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn raw_points(
    agg: &Aggregator,
    store: &Store,
    metric: &str,
    from: i64,
    to: i64,
) -> Vec<(i64, u64)> {
    let q = ok(HistoryQuery::new(from, to, None));
    let h = store.history(agg, metric, q, to);
    match h.points {
        HistoryPoints::Raw(p) => p
            .iter()
            .map(|p| (p.timestamp_ms, p.value.to_bits()))
            .collect(),
        HistoryPoints::Rollup(_) => panic!("expected raw points"),
    }
}

#[test]
fn the_raw_hour_survives_a_restart() {
    let mut agg = new_aggregator();
    let mut store = Store::default();
    let mut rng = fastrand::Rng::with_seed(3);
    // Two hours at one point per 5 s, a flush every 30 s.
    let mut t = H0;
    for i in 0..(2 * 720) {
        t = H0 + i * 5_000;
        ok(agg.ingest("fog.cpu", 20.0 + rng.f64() * 10.0, t, t));
        if i % 6 == 5 {
            store.flush(&mut agg, t);
        }
    }
    store.flush(&mut agg, t);
    // Chunks an hour old were deleted as the run went on.
    let lasts: Vec<i64> = store
        .raw
        .values()
        .map(|v| ok(RawChunk::decode(v)).last_ms().unwrap_or(0))
        .collect();
    assert!(lasts.iter().all(|&l| l > t - HOUR_MS), "{lasts:?}");
    assert_eq!(lasts.len(), 120);

    let start = t + 2_000;
    let mut back = store.reopen(AggregatorConfig::default(), start);
    for w in Window::ALL {
        let want = ok(agg.statistics("fog.cpu", w, start));
        assert!(want.is_some());
        assert_eq!(ok(back.statistics("fog.cpu", w, start)), want, "{w}");
    }
    assert_eq!(back.latest("fog.cpu"), agg.latest("fog.cpu"));
    assert_eq!(back.summary(start), agg.summary(start));
    // The raw history of the last hour is raw again, point for point.
    assert_eq!(
        raw_points(&back, &store, "fog.cpu", start - HOUR_MS, start),
        raw_points(&agg, &store, "fog.cpu", start - HOUR_MS, start)
    );
    // The anomaly detector is warm: an outlier right after the restart is
    // flagged as it would have been without the restart (the running sums
    // differ in their last bits: they were built from another start).
    let want = ok(agg.ingest("fog.cpu", 90.0, start, start));
    let got = ok(back.ingest("fog.cpu", 90.0, start, start));
    assert_eq!((got.len(), want.len()), (1, 1));
    assert_eq!(got[0].severity, want[0].severity);
    match (got[0].kind, want[0].kind) {
        (
            AlertKind::Anomaly {
                z_score: z,
                window_count: n,
                ..
            },
            AlertKind::Anomaly {
                z_score: z0,
                window_count: n0,
                ..
            },
        ) => {
            assert_eq!(n, n0);
            assert!((z - z0).abs() <= 1e-9 * z0, "{z} vs {z0}");
        }
        other => panic!("{other:?}"),
    }
    // A point older than the restored ones is refused (the ring stays in
    // order), and new chunks take new keys (Store::put_raw checks).
    let err = back.ingest("fog.cpu", 1.0, t - 1, start).err();
    assert_eq!(err.map(|e| e.code()), Some("out_of_order"));
    let before = store.raw.len();
    store.flush(&mut back, start);
    assert_eq!(store.raw.len(), before + 1);
    // An hour after the last point every chunk is gone.
    store.flush(&mut back, start + HOUR_MS);
    assert!(store.raw.is_empty());
    let mut empty = store.reopen(AggregatorConfig::default(), start + HOUR_MS + 1);
    assert_eq!(
        ok(empty.statistics("fog.cpu", Window::OneHour, start + HOUR_MS + 1)),
        None
    );
    assert!(empty.take_raw_writes().writes.is_empty());
}

/// Twenty minutes at one point per 10 s, a flush at each minute.
fn twenty_minutes(store: &mut Store, metric: &str) -> (i64, Vec<i64>) {
    let mut agg = new_aggregator();
    let mut firsts = Vec::new();
    let mut t = H0;
    for m in 0..20 {
        for s in 0..6 {
            t = H0 + m * MINUTE_MS + s * 10_000;
            ok(agg.ingest(metric, (m * 6 + s) as f64, t, t));
            if s == 0 {
                firsts.push(t);
            }
        }
        store.flush(&mut agg, t);
    }
    (t, firsts)
}

#[test]
fn bad_stored_raw_chunks_are_skipped_and_the_gap_falls_back_to_rollups() {
    let mut store = Store::default();
    let (end, firsts) = twenty_minutes(&mut store, "g");
    let keys: Vec<Vec<u8>> = store.raw.keys().cloned().collect();
    assert_eq!(keys.len(), 20);
    // Chunk 10 truncated; a key that is no chunk key; a metric whose only
    // chunk is garbage.
    let v = store
        .raw
        .get_mut(&keys[10])
        .unwrap_or_else(|| panic!("chunk"));
    v.truncate(v.len() / 2);
    store.raw.insert(b"not a key".to_vec(), vec![1, 2, 3]);
    store
        .raw
        .insert(wavecast_monitor::raw_key("h", 0), vec![1, 0, 5]);

    let now = end + 1_000;
    let mut agg = new_aggregator();
    let r = agg.restore_raw(store.raw.iter(), now);
    let mut codes: Vec<&str> = r.skipped.iter().map(|(_, e)| e.code()).collect();
    codes.sort_unstable();
    assert_eq!(codes, vec!["corrupt_raw_chunk"; 3]);
    assert_eq!(r.deletes.len(), 3);
    assert_eq!(r.chunks, 19);
    assert_eq!(r.points, 19 * 6);
    for (k, v) in &store.map {
        ok(agg.restore(k, v, now));
    }
    // Before the gap raw points may be missing: rollups answer.
    let q = ok(HistoryQuery::new(now - HOUR_MS, now, None));
    let plan = ok(agg.plan_history("g", q, now));
    assert_eq!(plan.resolution, Resolution::Rollup { step_ms: MINUTE_MS });
    // After it (from chunk 11's first point on, the newest point of the
    // missing chunk being before that) the raw points are complete.
    let q = ok(HistoryQuery::new(firsts[11] - 1, now, None));
    assert_eq!(
        ok(agg.plan_history("g", q, now)).resolution,
        Resolution::Raw
    );
    for k in &r.deletes {
        store.raw.remove(k);
    }
    assert_eq!(
        raw_points(&agg, &store, "g", firsts[11] - 1, now).len(),
        9 * 6
    );
    // The metric of the garbage chunk was not invented.
    assert_eq!(agg.names(), vec!["g".to_string()]);
}

#[test]
fn a_skipped_newest_chunk_makes_the_whole_raw_hour_incomplete() {
    let mut store = Store::default();
    let (end, _) = twenty_minutes(&mut store, "g");
    let newest = store.raw.keys().last().cloned().unwrap_or_default();
    store.raw.insert(newest, vec![7]);
    let now = end + 1_000;
    let mut agg = new_aggregator();
    let r = agg.restore_raw(store.raw.iter(), now);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.points, 19 * 6);
    // Statistics use what is there; history says rollups until `now`.
    let s = ok(agg.statistics("g", Window::OneHour, now));
    assert_eq!(s.map(|s| s.count), Some(19 * 6));
    let q = ok(HistoryQuery::new(now - MINUTE_MS, now + 1, None));
    let plan = ok(agg.plan_history("g", q, now + 1));
    assert_eq!(plan.resolution, Resolution::Rollup { step_ms: MINUTE_MS });
}

#[test]
fn a_raw_write_that_failed_is_handed_out_again() {
    let mut agg = new_aggregator();
    for i in 0..3 {
        ok(agg.ingest("x", i as f64, H0 + i * 1_000, H0 + i * 1_000));
    }
    let first = agg.take_raw_writes();
    assert_eq!(first.writes.len(), 1);
    agg.return_raw_writes(first.writes.clone());
    ok(agg.ingest("x", 3.0, H0 + 3_000, H0 + 3_000));
    let again = agg.take_raw_writes();
    assert_eq!(again.writes.len(), 1);
    assert_eq!(again.writes[0].key, first.writes[0].key);
    let chunk = ok(RawChunk::decode(&again.writes[0].value));
    assert_eq!(chunk.points.len(), 4);
    assert!(agg.take_raw_writes().writes.is_empty());
}

/// The figures of docs/monitoring.md ("Size per metric").
#[test]
fn what_the_raw_hour_of_a_one_hertz_metric_costs() {
    let name = "betanet.avg_latency_ms";
    let cost = |value: &dyn Fn(&mut fastrand::Rng, i64) -> f64| {
        let mut agg = new_aggregator();
        let mut store = Store::default();
        let mut rng = fastrand::Rng::with_seed(1);
        for s in 0..3_600 {
            let t = H0 + s * 1_000;
            ok(agg.ingest(name, value(&mut rng, s), t, t));
            if s % 5 == 4 {
                store.flush(&mut agg, t);
            }
        }
        let keys: usize = store.raw.keys().map(Vec::len).sum();
        let values: usize = store.raw.values().map(Vec::len).sum();
        (store.raw.len(), keys, values)
    };
    let noise = cost(&|rng, _| 25.0 + rng.f64() * 10.0);
    let steady = cost(&|_, s| (s / 600) as f64);
    eprintln!("raw hour at 1 Hz, flush every 5 s: noise {noise:?}, steady {steady:?}");
    assert_eq!(noise.0, 720);
    assert_eq!(noise.1, 720 * 31);
    assert!(noise.2 <= 720 * 61, "{noise:?}");
    assert!(steady.2 <= 720 * 30, "{steady:?}");
}
