//! Windows: every statistic of every window equals a reference computation
//! (filter by the window definition, sort, two-pass) on the same points.

mod common;

use common::{mean_sd, sorted_quantile};
use wavecast_monitor::{Aggregator, AggregatorConfig, Stats, Window};

const T0: i64 = 1_700_000_000_000;

fn reference(points: &[(i64, f64)], window: Window, now: i64) -> Option<Stats> {
    let values: Vec<f64> = points
        .iter()
        .filter(|(t, _)| *t > now - window.duration_ms() && *t <= now)
        .map(|(_, v)| *v)
        .collect();
    if values.is_empty() {
        return None;
    }
    let (avg, stddev) = mean_sd(&values);
    Some(Stats {
        count: values.len() as u64,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        avg,
        median: sorted_quantile(&values, 0.5),
        stddev,
        p95: sorted_quantile(&values, 0.95),
    })
}

fn assert_same(got: Option<Stats>, want: Option<Stats>, context: &str) {
    let (Some(g), Some(w)) = (got, want) else {
        assert_eq!(got, want, "{context}");
        return;
    };
    assert_eq!(
        (g.count, g.min, g.max, g.median, g.p95),
        (w.count, w.min, w.max, w.median, w.p95),
        "{context}"
    );
    let peak = w.min.abs().max(w.max.abs());
    let tolerance = g.count as f64 * 2.3e-16 * peak;
    assert!(
        (g.avg - w.avg).abs() <= tolerance,
        "{context}: avg {} vs {}",
        g.avg,
        w.avg
    );
    assert!(
        (g.stddev - w.stddev).abs() <= 1e-9 * w.stddev + tolerance,
        "{context}: stddev {} vs {}",
        g.stddev,
        w.stddev
    );
}

#[test]
fn every_statistic_matches_the_reference() {
    let mut rng = fastrand::Rng::with_seed(99);
    let config = AggregatorConfig {
        max_points_per_metric: 50_000,
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config).unwrap_or_else(|e| panic!("{e}"));
    let mut points = Vec::new();
    let mut t = T0;
    let mut checks = 0;
    for i in 0..12_000 {
        // Gaps from 0 (ties) to 3 s, and a 20-minute silence in the middle.
        t += if i == 6_000 {
            1_200_000
        } else {
            rng.i64(0..=3_000)
        };
        let value = match i % 4 {
            0 => rng.f64() * 100.0,
            1 => (rng.i32(-5..=5)) as f64,
            2 => 1e9 + rng.f64(),
            _ => -rng.f64() * 1e-3,
        };
        agg.ingest("mix", value, t, t)
            .unwrap_or_else(|e| panic!("point {i}: {e}"));
        points.push((t, value));
        if i % 397 == 0 {
            for now in [t, t + 1, t + 30_000, t + 59_999, t + 60_000, t + 299_999] {
                for w in Window::ALL {
                    let got = agg
                        .statistics("mix", w, now)
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_same(
                        got,
                        reference(&points, w, now),
                        &format!("point {i} {w} now+{}", now - t),
                    );
                    checks += 1;
                }
            }
        }
    }
    assert!(checks > 500);
}

#[test]
fn window_edges_follow_the_definition() {
    let mut agg = Aggregator::new(AggregatorConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    for (t, v) in [(T0, 1.0), (T0 + 1, 2.0), (T0 + 60_000, 3.0)] {
        agg.ingest("edge", v, t, t)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let count = |w, now| {
        agg.statistics("edge", w, now)
            .ok()
            .flatten()
            .map_or(0, |s| s.count)
    };
    // (now − 1 min, now]: at T0 + 60 s the point at T0 is exactly 1 min old: out.
    assert_eq!(count(Window::OneMinute, T0 + 60_000), 2);
    assert_eq!(count(Window::OneMinute, T0 + 60_001), 1);
    assert_eq!(count(Window::OneMinute, T0 + 59_999), 2);
    assert_eq!(count(Window::FiveMinutes, T0 + 60_000), 3);
    assert_eq!(count(Window::OneHour, T0 + 3_600_000), 2);
    assert_eq!(
        agg.statistics("edge", Window::OneMinute, T0 + 999_999).ok(),
        Some(None)
    );
    assert!(agg.statistics("nope", Window::OneMinute, T0).is_err());
}

#[test]
fn summary_lists_every_metric_with_latest_value_and_5m_stats() {
    let mut agg = Aggregator::new(AggregatorConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let doc = serde_json::json!({"betanet": {"active_nodes": 12, "avg_latency_ms": 25.5}, "p2p": {"peers": 8, "up": true}});
    let out = agg.ingest_document("nodes", &doc, T0, T0, &Default::default());
    assert_eq!((out.accepted, out.rejected.len(), out.skipped), (3, 0, 0));
    agg.ingest("nodes.p2p.peers", 9.0, T0 + 1_000, T0 + 1_000)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        agg.names(),
        vec![
            "nodes.betanet.active_nodes",
            "nodes.betanet.avg_latency_ms",
            "nodes.p2p.peers"
        ]
    );
    let summary = agg.summary(T0 + 2_000);
    assert_eq!(summary.len(), 3);
    let peers = &summary[2];
    assert_eq!(peers.latest.map(|p| p.value), Some(9.0));
    assert_eq!(peers.stats_5m.map(|s| (s.count, s.avg)), Some((2, 8.5)));
    let json = serde_json::to_value(&summary[1]).unwrap_or_default();
    assert_eq!(json["latest"]["value"], 25.5);
    assert_eq!(json["stats_5m"]["p95"], 25.5);
    // Ten minutes later the 5m window is empty but the latest point stays.
    let later = agg.summary(T0 + 600_000);
    assert_eq!((later[2].latest.is_some(), later[2].stats_5m), (true, None));
}
