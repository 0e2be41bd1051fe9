//! Thresholds through the aggregator: one alert per crossing, re-armed by
//! crossing back, cooldown respected, the documented JSON and priority.

use serde_json::json;
use wavecast_monitor::{
    Aggregator, AggregatorConfig, AlertKind, AnomalyConfig, Direction, Severity, ThresholdRule,
};

const T0: i64 = 1_700_000_000_000;

fn rule(
    metric: &str,
    above: Option<f64>,
    below: Option<f64>,
    severity: Severity,
    cooldown_ms: u64,
) -> ThresholdRule {
    ThresholdRule {
        metric: metric.into(),
        above,
        below,
        severity,
        cooldown_ms,
        hysteresis: 0.0,
    }
}

fn aggregator(rules: Vec<ThresholdRule>) -> Aggregator {
    let config = AggregatorConfig {
        thresholds: rules,
        anomaly: AnomalyConfig {
            enabled: false,
            ..AnomalyConfig::default()
        },
        ..AggregatorConfig::default()
    };
    Aggregator::new(config).unwrap_or_else(|e| panic!("{e}"))
}

/// Feeds `(seconds after T0, value)` and returns `(seconds, rule index)` of
/// every threshold alert.
fn feed(agg: &mut Aggregator, metric: &str, series: &[(i64, f64)]) -> Vec<(i64, usize)> {
    let mut out = Vec::new();
    for &(s, v) in series {
        let t = T0 + s * 1_000;
        for a in agg
            .ingest(metric, v, t, t)
            .unwrap_or_else(|e| panic!("{e}"))
        {
            if let AlertKind::Threshold { rule, .. } = a.kind {
                out.push((s, rule));
            }
        }
    }
    out
}

#[test]
fn one_alert_per_crossing_on_both_sides() {
    let mut agg = aggregator(vec![
        rule("cpu_usage", Some(90.0), None, Severity::Critical, 0),
        rule("cpu_usage", None, Some(5.0), Severity::Warning, 0),
        rule("other", Some(1.0), None, Severity::Info, 0),
    ]);
    let series: Vec<(i64, f64)> = [
        50.0, 91.0, 95.0, 99.0, 90.0, 92.0, 60.0, 4.0, 3.0, 5.0, 4.9, 95.0,
    ]
    .iter()
    .enumerate()
    .map(|(i, &v)| (i as i64, v))
    .collect();
    assert_eq!(
        feed(&mut agg, "cpu_usage", &series),
        vec![(1, 0), (5, 0), (7, 1), (10, 1), (11, 0)]
    );
}

#[test]
fn cooldown_silences_flapping_but_not_a_lasting_breach() {
    let mut agg = aggregator(vec![rule(
        "queue.pending",
        Some(100.0),
        None,
        Severity::High,
        30_000,
    )]);
    // Crossings at 0 s (alerted), 10 s and 20 s (within the 30 s cooldown,
    // both over before it ends: silent), then a breach from 25 s that lasts
    // past 30 s: alerted once, at the first point after the cooldown.
    let series = [
        (0, 150.0),
        (5, 50.0),
        (10, 150.0),
        (15, 50.0),
        (20, 150.0),
        (22, 50.0),
        (25, 150.0),
        (29, 160.0),
        (30, 170.0),
        (40, 180.0),
        (50, 50.0),
        (55, 150.0),
        (70, 50.0),
        (100, 150.0),
    ];
    assert_eq!(
        feed(&mut agg, "queue.pending", &series),
        vec![(0, 0), (30, 0), (100, 0)]
    );
}

#[test]
fn alert_json_and_priority_follow_the_spec() {
    let mut agg = aggregator(vec![rule(
        "cpu_usage",
        Some(90.0),
        None,
        Severity::Critical,
        0,
    )]);
    let alerts = agg
        .ingest("cpu_usage", 95.0, T0, T0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].data_json(),
        json!({"type": "threshold_exceeded", "metric": "cpu_usage", "value": 95.0, "threshold": 90.0, "severity": "critical"})
    );
    assert_eq!(alerts[0].priority(), "critical");
    assert!(matches!(
        alerts[0].kind,
        AlertKind::Threshold {
            direction: Direction::Above,
            ..
        }
    ));
}

#[test]
fn one_point_can_raise_an_anomaly_and_a_threshold_alert() {
    let config = AggregatorConfig {
        thresholds: vec![rule("lat", Some(50.0), None, Severity::Critical, 0)],
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..40 {
        let t = T0 + i * 1_000;
        assert!(agg
            .ingest("lat", 20.0 + (i % 3) as f64, t, t)
            .unwrap_or_default()
            .is_empty());
    }
    let t = T0 + 40_000;
    let alerts = agg.ingest("lat", 80.0, t, t).unwrap_or_default();
    let types: Vec<&str> = alerts.iter().map(|a| a.alert_type()).collect();
    assert_eq!(types, vec!["anomaly_detected", "threshold_exceeded"]);
}

#[test]
fn bad_rules_are_refused_at_construction() {
    let config = AggregatorConfig {
        thresholds: vec![rule("cpu", Some(1.0), Some(2.0), Severity::Info, 0)],
        ..AggregatorConfig::default()
    };
    let err = Aggregator::new(config).err().map(|e| e.code());
    assert_eq!(err, Some("invalid_threshold_rule"));
    let parsed: Result<ThresholdRule, _> = serde_json::from_value(
        json!({"metric": "cpu", "above": 90, "severity": "critical", "cooldown_ms": 60000}),
    );
    assert_eq!(
        parsed.ok().map(|r| (r.above, r.cooldown_ms)),
        Some((Some(90.0), 60_000))
    );
}
