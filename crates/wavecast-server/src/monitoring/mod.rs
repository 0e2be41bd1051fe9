//! FOG monitoring as a server subsystem: live publishers feeding the
//! monitoring rooms, the metrics aggregator (windows, statistics, z-score
//! anomalies, thresholds, 7 days of rollups) and its storage. The HTTP
//! routes are in `http::monitoring`; docs/monitoring.md is the user's
//! view.
//!
//! A domain part: it publishes through [`crate::hub::Hub::publish`], the
//! path `POST /api/publish` takes, so history, recovery, dialects and
//! backpressure apply; nothing here runs inside the session core or on
//! the fan-out path (publishers are their own tasks; the aggregator is
//! fed by them and by the HTTP routes).
//!
//! Layout:
//! - [`core`]: the aggregator behind a lock, its store and clock.
//! - [`store`]: memory, or the embedded engine's keyspaces `monitor`
//!   (rollups) and `monitor_raw` (the raw hour).
//! - [`sources`]: the built-in data sources.
//! - [`service`]: [`Monitoring`], the subsystem's shared state.
//! - [`publisher`]: the publisher loops, alert publication, the flusher.
//! - [`tasks`]: tasks reported with `POST /api/ws/tasks`.
//!
//! Invariants: a failing source never stops another publisher or the
//! server (it is counted in `monitoring_source_errors_total{source}` and
//! raises one `source_failed` alert until it recovers); the alerts room
//! and the topology are not recorded as metrics.

pub mod core;
pub mod publisher;
pub mod service;
pub mod sources;
pub mod store;
pub mod tasks;

pub use service::Monitoring;
