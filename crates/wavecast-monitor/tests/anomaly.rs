//! Anomaly accuracy: a labelled series with outliers injected at known
//! points is flagged exactly there, with the right severity; steady and
//! flat series are not flagged.

mod common;

use common::mean_sd;
use wavecast_monitor::{Aggregator, AggregatorConfig, AlertKind, Severity};

const T0: i64 = 1_700_000_000_000;

/// Points of `(t − 5 min, t]` recorded before `points[i]`.
fn trailing(points: &[(i64, f64)], i: usize) -> Vec<f64> {
    let t = points[i].0;
    points[..i]
        .iter()
        .filter(|(ts, _)| *ts > t - 300_000)
        .map(|(_, v)| *v)
        .collect()
}

fn aggregator() -> Aggregator {
    let config = AggregatorConfig {
        max_points_per_metric: 20_000,
        ..AggregatorConfig::default()
    };
    Aggregator::new(config).unwrap_or_else(|e| panic!("{e}"))
}

/// Injected deviations in trailing standard deviations, cycled; the sign
/// alternates. 2.8 and 3.2 must be `medium`, the rest `high`.
const KS: [f64; 6] = [2.8, 3.2, 3.9, 6.0, 12.0, 3.45];

#[test]
fn labelled_series_flags_exactly_the_injected_outliers() {
    let mut rng = fastrand::Rng::with_seed(20_251_022);
    let mut agg = aggregator();
    let mut points: Vec<(i64, f64)> = Vec::new();
    let mut expected: Vec<(i64, Severity, f64)> = Vec::new();
    let mut flagged: Vec<(i64, Severity, f64)> = Vec::new();
    let mut max_clean_z: f64 = 0.0;
    let mut next_outlier = 200;
    let mut t = T0;
    for i in 0..7_200usize {
        t += 800 + rng.i64(0..=400);
        let phase = (t - T0) as f64 / 3_600_000.0 * std::f64::consts::TAU;
        let mut value = 100.0 + phase.sin() + (rng.f64() * 2.0 - 1.0);
        points.push((t, value));
        let window = trailing(&points, i);
        if i == 10 {
            // A spike during warm-up (10 points in the window): never scored.
            value = 1e6;
        } else if i == next_outlier {
            let (mean, sd) = mean_sd(&window);
            let k = KS[expected.len() % KS.len()];
            let sign = if expected.len().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            value = mean + sign * k * sd;
            let severity = if k > 3.5 {
                Severity::High
            } else {
                Severity::Medium
            };
            expected.push((t, severity, k));
            next_outlier += 120 + rng.usize(0..120);
        } else if window.len() >= 30 {
            let (mean, sd) = mean_sd(&window);
            max_clean_z = max_clean_z.max((value - mean).abs() / sd);
        }
        points[i].1 = value;
        let alerts = agg
            .ingest("fog.signal", value, t, t)
            .unwrap_or_else(|e| panic!("point {i}: {e}"));
        for a in alerts {
            if let AlertKind::Anomaly { z_score, .. } = a.kind {
                flagged.push((a.timestamp_ms, a.severity, z_score));
            }
        }
    }
    // The series is a valid test: clean points stay clear of 2.5 σ.
    assert!(max_clean_z < 2.4, "clean points reach z = {max_clean_z}");
    assert!(expected.len() >= 25, "{} outliers", expected.len());
    assert!(expected.iter().any(|e| e.1 == Severity::Medium));
    let times = |v: &[(i64, Severity, f64)]| v.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>();
    assert_eq!(times(&flagged), times(&expected));
    for ((_, _, z), (_, _, k)) in flagged.iter().zip(&expected) {
        assert!((z - k).abs() < 1e-6 * k, "z {z} for an injected {k} σ");
    }
}

#[test]
fn a_steady_noisy_series_flags_nothing() {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut agg = aggregator();
    let mut t = T0;
    for i in 0..7_200 {
        t += 500 + rng.i64(0..=1_000);
        // 1e9 offset: the running sums must not lose the 0.01 noise.
        let value = 1e9 + (rng.f64() * 2.0 - 1.0) * 0.01;
        let alerts = agg
            .ingest("steady", value, t, t)
            .unwrap_or_else(|e| panic!("point {i}: {e}"));
        assert!(alerts.is_empty(), "point {i}: {alerts:?}");
    }
}

#[test]
fn a_flat_window_flags_any_change_as_high_with_a_null_score() {
    let mut agg = aggregator();
    let mut t = T0;
    for _ in 0..40 {
        t += 1_000;
        let alerts = agg.ingest("peers", 8.0, t, t).unwrap_or_default();
        assert!(alerts.is_empty());
    }
    t += 1_000;
    let alerts = agg.ingest("peers", 9.0, t, t).unwrap_or_default();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].severity, Severity::High);
    assert_eq!(alerts[0].data_json()["z_score"], serde_json::Value::Null);
    assert_eq!(alerts[0].priority(), "high");
}

#[test]
fn scoring_waits_for_thirty_points_in_the_trailing_five_minutes() {
    let mut agg = aggregator();
    // 29 points, then an outlier: not scored.
    let mut t = T0;
    for i in 0..29 {
        t += 1_000;
        let _ = agg.ingest("m", f64::from(i % 2), t, t);
    }
    t += 1_000;
    assert!(agg.ingest("m", 100.0, t, t).unwrap_or_default().is_empty());
    // 30 points in the window now (29 + the outlier): the next one is scored.
    t += 1_000;
    assert_eq!(agg.ingest("m", 1_000.0, t, t).unwrap_or_default().len(), 1);
    // Six minutes later the window is empty again: not scored.
    t += 360_000;
    assert!(agg.ingest("m", -1e6, t, t).unwrap_or_default().is_empty());
}
