//! wavecast-monitor: the maths of wavecast's FOG monitoring — metric
//! flattening, time windows and statistics, z-score anomalies, threshold
//! alerts, 1-minute rollups with a compact block encoding, and history
//! planning. Pure computation: no I/O, no clock, no threads. The server
//! supplies every timestamp and does all storage and networking.
//!
//! # Definitions
//!
//! - A **point** is `(timestamp in ms since the Unix epoch, finite value)`
//!   of one metric; `|value| <= `[`MAX_ABS_VALUE`].
//! - A **window** `w` at `now` holds the points with `now − w < t <= now`
//!   ([`window`]). Windows are 1m, 5m and 1h.
//! - **Statistics**: count, min, max, avg, median, population stddev, p95
//!   with quantiles by linear interpolation between closest ranks
//!   ([`stats`]).
//! - **Anomaly**: z-score of a new point against the points of
//!   `(t − 5 min, t]` already recorded, once there are 30; medium above 2.5,
//!   high above 3.5 ([`anomaly`]).
//! - **Threshold**: one alert per crossing, re-armed by crossing back,
//!   with a cooldown ([`threshold`]).
//! - **Retention**: raw points 1 hour, 1-minute rollups 7 days, stored as
//!   hour blocks of 60 rollups, about 1 KB per metric-hour ([`block`]);
//!   the raw hour is stored too, as append-only chunks of the points
//!   recorded between two flushes ([`raw`]).
//!
//! # Use
//!
//! ```
//! use wavecast_monitor::{Aggregator, AggregatorConfig, Window};
//!
//! let mut agg = Aggregator::new(AggregatorConfig::default())?;
//! let now = 1_700_000_000_000;
//! for i in 0..60 {
//!     let alerts = agg.ingest("betanet.avg_latency_ms", 25.0 + (i % 3) as f64, now + i * 1000, now + i * 1000)?;
//!     assert!(alerts.is_empty());
//! }
//! let alerts = agg.ingest("betanet.avg_latency_ms", 90.0, now + 60_000, now + 60_000)?;
//! assert_eq!(alerts[0].data_json()["type"], "anomaly_detected");
//! let stats = agg.statistics("betanet.avg_latency_ms", Window::OneMinute, now + 60_000)?;
//! assert_eq!(stats.map(|s| s.count), Some(60));
//! let writes = agg.take_writes(); // the server puts these in storage
//! assert_eq!(writes.len(), 1);
//! # Ok::<(), wavecast_monitor::MonitorError>(())
//! ```
//!
//! # Modules
//!
//! - [`error`] — [`MonitorError`] with stable codes.
//! - [`name`] — valid metric names.
//! - [`mod@flatten`] — JSON documents to `(dotted name, value)` pairs.
//! - [`window`] — [`Point`], [`Window`], retention constants.
//! - [`stats`] — [`Stats`] and the quantile definition.
//! - `running` — shifted running sums with removal (internal).
//! - `series` — one metric's raw ring and trailing 5m sums (internal).
//! - [`anomaly`] — the z-score rule, [`AnomalyConfig`].
//! - [`threshold`] — [`ThresholdRule`] and its state machine.
//! - [`alert`] — [`Alert`], [`Severity`] and their JSON.
//! - [`rollup`] — [`Rollup`]: count, min, max, mean, m2; merging.
//! - [`block`] — [`HourBlock`], storage keys, the binary encoding.
//! - [`raw`] — [`RawChunk`]: the raw points of one flush, their key and
//!   encoding.
//! - [`history`] — [`HistoryQuery`], raw-or-rollup planning, buckets.
//! - [`config`] — [`AggregatorConfig`].
//! - [`aggregator`] — the [`Aggregator`] facade.

#![warn(missing_docs, clippy::too_many_lines)]

pub mod aggregator;
pub mod alert;
pub mod anomaly;
pub mod block;
pub mod config;
pub mod error;
pub mod flatten;
pub mod history;
pub mod name;
pub mod raw;
pub mod rollup;
mod running;
mod series;
pub mod stats;
pub mod threshold;
pub mod window;

pub use aggregator::{
    delete_before_hour, Aggregator, BlockWrite, DocumentOutcome, ExpireReport, MetricSummary,
    RawFlush, RawRestore, Restored,
};
pub use alert::{Alert, AlertKind, Direction, Severity};
pub use anomaly::AnomalyConfig;
pub use block::{block_key, hour_of, parse_block_key, HourBlock};
pub use config::AggregatorConfig;
pub use error::MonitorError;
pub use flatten::{flatten, FlattenLimits, Flattened};
pub use history::{Bucket, History, HistoryPlan, HistoryPoints, HistoryQuery, Resolution};
pub use name::{validate_name, MAX_NAME_LEN};
pub use raw::{parse_raw_key, raw_key, RawChunk, RawWrite};
pub use rollup::Rollup;
pub use series::Trailing;
pub use stats::{quantile, Stats};
pub use threshold::ThresholdRule;
pub use window::{
    Point, Window, DAY_MS, HOUR_MS, MINUTE_MS, RAW_RETENTION_MS, ROLLUP_RETENTION_MS,
};

/// Largest accepted magnitude of a value. Bounding it keeps every sum of
/// squares finite (`(2·10¹⁰⁰)² × 10⁷ points` is far below `f64::MAX`).
pub const MAX_ABS_VALUE: f64 = 1e100;
