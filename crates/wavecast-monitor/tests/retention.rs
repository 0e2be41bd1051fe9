//! Retention with an injected clock: raw points for an hour, rollups for
//! seven days; a restart that restores stored blocks keeps the history;
//! seven days of a 1 Hz metric fit in 200 KB.

mod common;

use std::collections::BTreeMap;

use common::Store;
use wavecast_monitor::{
    delete_before_hour, parse_block_key, Aggregator, AggregatorConfig, HistoryPoints, HistoryQuery,
    Resolution, Restored, Window, DAY_MS, HOUR_MS, MINUTE_MS,
};

/// An hour boundary (2024-10-05T00:00Z).
const H0: i64 = 480_000 * HOUR_MS;

fn new_aggregator() -> Aggregator {
    Aggregator::new(AggregatorConfig::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Per-minute reference counts of `points` with minute start in `(lo, hi]`.
fn minute_counts(points: &[(i64, f64)], lo: i64, hi: i64) -> BTreeMap<i64, u64> {
    let mut out = BTreeMap::new();
    for &(t, _) in points {
        let m = t.div_euclid(MINUTE_MS) * MINUTE_MS;
        if m > lo && m <= hi {
            *out.entry(m).or_insert(0) += 1;
        }
    }
    out
}

fn rollup_counts(points: &HistoryPoints) -> BTreeMap<i64, u64> {
    match points {
        HistoryPoints::Rollup(b) => b.iter().map(|b| (b.timestamp, b.count)).collect(),
        HistoryPoints::Raw(_) => panic!("expected rollups"),
    }
}

#[test]
fn rollups_last_seven_days_and_raw_points_one_hour() {
    let mut agg = new_aggregator();
    let mut store = Store::default();
    let mut points = Vec::new();
    let mut now = H0;
    for i in 0..(8 * 24 * 180) {
        now = H0 + i * 20_000 + 7_000;
        let value = (i % 1_000) as f64 * 0.5;
        agg.ingest("fog.load", value, now, now)
            .unwrap_or_else(|e| panic!("{e}"));
        points.push((now, value));
        if i % 9 == 0 {
            store.put(agg.take_writes());
        }
        if i % 180 == 0 {
            let report = agg.expire(now);
            store.delete_before(report.delete_blocks_before_hour);
        }
    }
    let report = agg.expire(now);
    store.put(agg.take_writes());
    store.delete_before(report.delete_blocks_before_hour);

    // Storage holds the blocks of the last 7 days (plus the partial hour).
    let hours: Vec<u32> = store
        .map
        .keys()
        .filter_map(|k| parse_block_key(k).ok())
        .map(|(_, h)| h)
        .collect();
    assert_eq!(hours.first().copied(), Some(delete_before_hour(now)));
    assert_eq!(hours.len(), 7 * 24 + 1);

    // The rollup history is exactly the minutes of the last 7 days.
    let q = HistoryQuery::last_hours(10.0 * 24.0, now, Some(MINUTE_MS))
        .unwrap_or_else(|e| panic!("{e}"));
    let h = store.history(&agg, "fog.load", q, now);
    assert_eq!(h.resolution, Resolution::Rollup { step_ms: MINUTE_MS });
    let want = minute_counts(&points, now - 7 * DAY_MS, now);
    assert_eq!(want.len(), 7 * 24 * 60);
    assert_eq!(rollup_counts(&h.points), want);

    // Raw points: the last hour only.
    let q = HistoryQuery::last_hours(1.0, now, None).unwrap_or_else(|e| panic!("{e}"));
    let h = store.history(&agg, "fog.load", q, now);
    assert_eq!(h.resolution, Resolution::Raw);
    let raw_want: Vec<i64> = points
        .iter()
        .map(|p| p.0)
        .filter(|&t| t > now - HOUR_MS)
        .collect();
    match &h.points {
        HistoryPoints::Raw(p) => assert_eq!(
            p.iter().map(|p| p.timestamp_ms).collect::<Vec<_>>(),
            raw_want
        ),
        HistoryPoints::Rollup(_) => panic!("expected raw points"),
    }
    assert_eq!(raw_want.len(), 180);

    // An hour later with no new point the raw points are gone.
    let later = now + HOUR_MS;
    let report = agg.expire(later);
    assert_eq!(report.raw_points_dropped, 180);
    assert_eq!(
        agg.statistics("fog.load", Window::OneHour, later).ok(),
        Some(None)
    );
    // The latest value outlives the raw hour.
    assert_eq!(agg.latest("fog.load").map(|p| p.timestamp_ms), Some(now));

    // Seven days after the last point the metric and its blocks are gone.
    let gone = now + 7 * DAY_MS + HOUR_MS;
    let report = agg.expire(gone);
    store.put(agg.take_writes());
    store.delete_before(report.delete_blocks_before_hour);
    assert_eq!(report.metrics_forgotten, 1);
    assert!(agg.names().is_empty());
    assert!(store.map.is_empty());
}

#[test]
fn a_restart_with_restored_blocks_keeps_the_history() {
    let mut agg = new_aggregator();
    let mut store = Store::default();
    let mut points = Vec::new();
    // 90 minutes at one point per 10 s, crash 30 s into minute 30 of hour 2.
    let crash = H0 + HOUR_MS + 30 * MINUTE_MS + 30_000;
    let mut t = H0;
    while t < crash {
        agg.ingest("fog.cpu", 1.0, t, t)
            .unwrap_or_else(|e| panic!("{e}"));
        points.push((t, 1.0));
        t += 10_000;
    }
    store.put(agg.take_writes());
    drop(agg);

    let start = crash + 5_000;
    let mut agg = new_aggregator();
    let mut outcomes = Vec::new();
    for (k, v) in &store.map {
        outcomes.push(agg.restore(k, v, start).unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(outcomes, vec![Restored::Registered, Restored::Adopted]);
    assert_eq!(agg.names(), vec!["fog.cpu"]);
    // Raw points before the restart are gone: the last hour comes from rollups.
    let q = HistoryQuery::last_hours(1.0, start, None).unwrap_or_else(|e| panic!("{e}"));
    let plan = agg
        .plan_history("fog.cpu", q, start)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.resolution, Resolution::Rollup { step_ms: MINUTE_MS });

    // A point of the hour whose block was restored as sealed is refused:
    // its stored block must not be replaced by a new one.
    let err = agg.ingest("fog.cpu", 1.0, H0 + HOUR_MS - 1, start).err();
    assert_eq!(err.map(|e| e.code()), Some("out_of_order"));

    let mut t = start;
    while t < start + 20 * MINUTE_MS {
        agg.ingest("fog.cpu", 2.0, t, t)
            .unwrap_or_else(|e| panic!("{e}"));
        points.push((t, 2.0));
        t += 10_000;
    }
    store.put(agg.take_writes());
    let now = t;
    let q = HistoryQuery::last_hours(3.0, now, None).unwrap_or_else(|e| panic!("{e}"));
    let h = store.history(&agg, "fog.cpu", q, now);
    assert_eq!(
        rollup_counts(&h.points),
        minute_counts(&points, now - 3 * HOUR_MS, now)
    );
    // The crash minute merges the points from before and after the restart.
    if let HistoryPoints::Rollup(b) = &h.points {
        let crash_minute = crash.div_euclid(MINUTE_MS) * MINUTE_MS;
        let m = b.iter().find(|b| b.timestamp == crash_minute);
        assert_eq!(m.map(|b| (b.count, b.min, b.max)), Some((6, 1.0, 2.0)));
    }
}

#[test]
fn seven_days_of_a_one_hertz_metric_fit_in_200_kb() {
    let mut agg = new_aggregator();
    let mut store = Store::default();
    let mut rng = fastrand::Rng::with_seed(1);
    let name = "betanet.avg_latency_ms";
    for s in 0..(7 * 24 * 3_600) {
        let t = H0 + s * 1_000;
        // Full-precision noisy values: nothing for the encoding to exploit.
        let value = 25.0 + rng.f64() * 10.0;
        agg.ingest(name, value, t, t)
            .unwrap_or_else(|e| panic!("{e}"));
        if s % 3_600 == 3_599 {
            store.put(agg.take_writes());
        }
    }
    let bytes = store.bytes();
    let values: usize = store.map.values().map(Vec::len).sum();
    eprintln!(
        "7 days at 1 Hz: {} blocks, {values} bytes of values, {bytes} bytes with keys",
        store.map.len()
    );
    assert_eq!(store.map.len(), 168);
    assert_eq!(values, 168 * 1_037);
    assert!(bytes <= 200_000, "{bytes} bytes");
}

#[test]
fn restoring_after_points_arrived_keeps_both() {
    // Storage has minutes 0–9 of the hour; the server ingests a point in
    // minute 20 before it restores that block: the block keeps all of them.
    let mut old = new_aggregator();
    for m in 0..10 {
        let t = H0 + m * MINUTE_MS;
        old.ingest("x", 1.0, t, t).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut store = Store::default();
    store.put(old.take_writes());
    let now = H0 + 20 * MINUTE_MS;
    let mut agg = new_aggregator();
    agg.ingest("x", 2.0, now, now)
        .unwrap_or_else(|e| panic!("{e}"));
    for (k, v) in &store.map {
        assert_eq!(agg.restore(k, v, now).ok(), Some(Restored::Adopted));
    }
    let mut writes = agg.take_writes();
    assert_eq!(writes.len(), 1);
    let block = wavecast_monitor::HourBlock::decode(&writes.remove(0).value)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(block.minutes().count(), 11);
    assert_eq!(block.minute(20).map(|r| r.mean), Some(2.0));
}
