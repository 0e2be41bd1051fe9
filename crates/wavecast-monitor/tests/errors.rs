//! Bad input gets a typed error with a stable code, and changes nothing.

use wavecast_monitor::{Aggregator, AggregatorConfig, HistoryQuery, Window, HOUR_MS};

const T0: i64 = 1_700_000_000_000;

fn code<T>(r: Result<T, wavecast_monitor::MonitorError>) -> Option<&'static str> {
    r.err().map(|e| e.code())
}

fn count(agg: &Aggregator, metric: &str, now: i64) -> u64 {
    agg.statistics(metric, Window::OneHour, now)
        .ok()
        .flatten()
        .map_or(0, |s| s.count)
}

#[test]
fn refused_points_leave_no_trace() {
    let config = AggregatorConfig {
        max_metrics: 2,
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config).unwrap_or_else(|e| panic!("{e}"));
    agg.ingest("a", 1.0, T0, T0)
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        (code(agg.ingest("a", f64::NAN, T0, T0)), "value_not_finite"),
        (
            code(agg.ingest("a", f64::INFINITY, T0, T0)),
            "value_not_finite",
        ),
        (code(agg.ingest("a", 1e101, T0, T0)), "value_out_of_range"),
        (code(agg.ingest("a", 1.0, T0 - 1, T0)), "out_of_order"),
        (
            code(agg.ingest("a", 1.0, T0 + 5_001, T0)),
            "timestamp_out_of_range",
        ),
        (
            code(agg.ingest("a", 1.0, T0 - HOUR_MS, T0)),
            "timestamp_out_of_range",
        ),
        (code(agg.ingest("a", 1.0, -5, 0)), "timestamp_out_of_range"),
        (
            code(agg.ingest("bad name", 1.0, T0, T0)),
            "invalid_metric_name",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, Some(want));
    }
    assert_eq!(count(&agg, "a", T0), 1);
    assert_eq!(agg.names(), vec!["a"]);
    agg.ingest("b", 1.0, T0, T0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code(agg.ingest("c", 1.0, T0, T0)), Some("too_many_metrics"));
    assert_eq!(agg.len(), 2);
    // A point up to max_future_ms ahead is fine.
    assert!(agg.ingest("a", 2.0, T0 + 5_000, T0).is_ok());
}

#[test]
fn queries_and_config_errors_have_codes() {
    let agg = Aggregator::new(AggregatorConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        code(agg.statistics("x", Window::OneMinute, T0)),
        Some("unknown_metric")
    );
    let q = HistoryQuery::last_hours(1.0, T0, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code(agg.plan_history("x", q, T0)), Some("unknown_metric"));
    assert_eq!(code("7m".parse::<Window>()), Some("invalid_window"));
    assert_eq!(
        code(HistoryQuery::new(T0, T0 - 1, None)),
        Some("invalid_range")
    );
    for (config, field) in [
        (
            AggregatorConfig {
                max_metrics: 0,
                ..AggregatorConfig::default()
            },
            "max_metrics",
        ),
        (
            AggregatorConfig {
                max_points_per_metric: 0,
                ..AggregatorConfig::default()
            },
            "max_points_per_metric",
        ),
        (
            AggregatorConfig {
                max_future_ms: -1,
                ..AggregatorConfig::default()
            },
            "max_future_ms",
        ),
    ] {
        let err = Aggregator::new(config).err();
        assert_eq!(err.as_ref().map(|e| e.code()), Some("invalid_config"));
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .starts_with(field));
    }
}

#[test]
fn corrupt_stored_blocks_are_refused_or_skipped() {
    let mut agg = Aggregator::new(AggregatorConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        code(agg.restore(b"no-separator", b"", T0)),
        Some("corrupt_block")
    );
    let key = wavecast_monitor::block_key("m", 472_222);
    assert_eq!(
        code(agg.restore(&key, b"\x01\x00", T0)),
        Some("corrupt_block")
    );
    // A value whose hour differs from the key's.
    let other = wavecast_monitor::HourBlock::new(472_221).encode();
    assert_eq!(code(agg.restore(&key, &other, T0)), Some("corrupt_block"));
    // A corrupt value met by a history query is skipped and counted.
    agg.ingest("m", 1.0, T0, T0)
        .unwrap_or_else(|e| panic!("{e}"));
    let q = HistoryQuery::last_hours(24.0, T0, None).unwrap_or_else(|e| panic!("{e}"));
    let plan = agg
        .plan_history("m", q, T0)
        .unwrap_or_else(|e| panic!("{e}"));
    let stored: Vec<&[u8]> = vec![b"\x07garbage"];
    let (history, corrupt) = agg
        .history(&plan, &stored)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((corrupt, history.points.len()), (1, 1));
}
