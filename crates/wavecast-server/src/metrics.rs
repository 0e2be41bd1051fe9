//! Prometheus metrics (`GET /metrics`) and the counters behind
//! `/api/ws/stats`. Hot-path counters are plain atomics updated once per
//! write batch; the latency histogram is lock-free.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::{Registry, Unit};

/// Label set of `disconnects_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// Label set of `limit_rejections_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    pub limit: String,
}

/// Label set of `publication_frames_encoded_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FormatLabel {
    pub format: String,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub connections_total: TotalCounter,
    pub disconnects_total: Family<ReasonLabel, Counter>,
    pub messages_sent_total: Counter,
    pub messages_received_total: Counter,
    pub bytes_sent_total: Counter,
    pub publications_total: Counter,
    pub buffer_overflow_total: Counter,
    pub subscriptions: Gauge,
    pub channels: Gauge,
    pub delivery_latency: LatencyHistogram,
    pub limit_rejections_total: Family<LimitLabel, Counter>,
    pub auth_attempts_total: Family<ResultLabel, Counter>,
    /// Socket writes (system calls) for WebSocket connections.
    pub socket_writes_total: Counter,
    /// Of those, the ones a delivering thread made itself
    /// (`delivery.direct_writes`).
    pub direct_writes_total: Counter,
    /// Times a writer held frames back to coalesce them (`[delivery]`).
    pub write_holds_total: Counter,
    /// Channel logs held by the local history store.
    pub history_channels: Gauge,
    /// Embedded engine: bytes in memtables (bounded by `history.memtable_bytes` per keyspace).
    pub history_memtable_bytes: Gauge,
    /// Embedded engine: bytes in the block cache (bounded by `history.cache_bytes`).
    pub history_cache_bytes: Gauge,
    /// Agent conversations, by how they ended.
    pub agent_requests_total: Family<OutcomeLabel, Counter>,
    /// Length of agent conversations.
    pub agent_duration: Histogram,
    /// Agent events relayed to clients, by type.
    pub agent_events_total: Family<TypeLabel, Counter>,
    /// How long connections lasted, every dialect.
    pub connection_duration: Histogram,
    /// Publications written to subscribers (deliveries, not every frame).
    pub publications_delivered_total: Counter,
    /// Publication frames built, by wire format (one per format in use on
    /// the channel per publication, whatever the subscriber count).
    pub publication_frames_encoded_total: Family<FormatLabel, Counter>,
    /// Open SSE streams (`GET /api/sse`).
    pub sse_connections: Gauge,
    /// SSE streams opened since start.
    pub sse_connections_total: Counter,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures_total: Counter,
    /// Certificate reloads, by result (`success`, `failure`).
    pub tls_reloads_total: Family<ResultLabel, Counter>,
    /// Monitoring source failures, by source.
    pub monitoring_source_errors_total: Family<SourceLabel, Counter>,
    /// Monitoring alerts published, by kind.
    pub monitoring_alerts_total: Family<TypeLabel, Counter>,
    /// NeuroGraph's names and meanings (`metrics_profile = "neurograph"`).
    neurograph: Option<Registry>,
}

/// Label set of `monitoring_source_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

/// Label set of `agent_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

/// Label set of `agent_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: String,
}

/// Buckets of `agent_duration_seconds`: 50 ms to about 7 minutes.
fn agent_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

/// Label set of `auth_attempts_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

impl Metrics {
    // A registration table: one entry per metric.
    #[allow(clippy::too_many_lines)]
    pub fn new(prefix: &str) -> Metrics {
        let mut registry = if prefix.is_empty() {
            Registry::default()
        } else {
            Registry::with_prefix(prefix)
        };
        let m = Metrics {
            connections: Gauge::default(),
            connections_total: TotalCounter::default(),
            disconnects_total: Family::default(),
            messages_sent_total: Counter::default(),
            messages_received_total: Counter::default(),
            bytes_sent_total: Counter::default(),
            publications_total: Counter::default(),
            buffer_overflow_total: Counter::default(),
            subscriptions: Gauge::default(),
            channels: Gauge::default(),
            delivery_latency: LatencyHistogram::default(),
            limit_rejections_total: Family::default(),
            auth_attempts_total: Family::default(),
            socket_writes_total: Counter::default(),
            direct_writes_total: Counter::default(),
            write_holds_total: Counter::default(),
            history_channels: Gauge::default(),
            history_memtable_bytes: Gauge::default(),
            history_cache_bytes: Gauge::default(),
            agent_requests_total: Family::default(),
            agent_duration: agent_duration_histogram(),
            agent_events_total: Family::default(),
            connection_duration: Histogram::new(exponential_buckets(0.1, 3.0, 12)),
            publications_delivered_total: Counter::default(),
            publication_frames_encoded_total: Family::default(),
            sse_connections: Gauge::default(),
            sse_connections_total: Counter::default(),
            tls_handshake_failures_total: Counter::default(),
            tls_reloads_total: Family::default(),
            monitoring_source_errors_total: Family::default(),
            monitoring_alerts_total: Family::default(),
            neurograph: None,
            registry: Registry::default(),
        };
        registry.register(
            "connections",
            "Open WebSocket connections",
            m.connections.clone(),
        );
        registry.register(
            "runtime_alive_tasks",
            "Tasks alive in the server's async runtime (read at scrape time)",
            RuntimeTasks,
        );
        registry.register(
            "connections_total",
            "WebSocket connections accepted since start",
            m.connections_total.clone(),
        );
        registry.register(
            "disconnects",
            "Closed connections, by reason",
            m.disconnects_total.clone(),
        );
        registry.register(
            "messages_sent",
            "Frames written to clients",
            m.messages_sent_total.clone(),
        );
        registry.register(
            "messages_received",
            "Frames received from clients",
            m.messages_received_total.clone(),
        );
        registry.register(
            "bytes_sent",
            "Payload bytes written to clients",
            m.bytes_sent_total.clone(),
        );
        registry.register(
            "publications",
            "Publications accepted",
            m.publications_total.clone(),
        );
        registry.register(
            "buffer_overflow",
            "Frames dropped by backpressure (queue overflow)",
            m.buffer_overflow_total.clone(),
        );
        registry.register(
            "subscriptions",
            "Active subscriptions",
            m.subscriptions.clone(),
        );
        registry.register(
            "channels",
            "Channels with at least one subscriber",
            m.channels.clone(),
        );
        registry.register_with_unit(
            "delivery_latency",
            "Time from publish accepted to frame written to the socket",
            Unit::Seconds,
            m.delivery_latency.clone(),
        );
        registry.register(
            "limit_rejections",
            "Requests refused by a limit, by limit name",
            m.limit_rejections_total.clone(),
        );
        registry.register(
            "auth_attempts",
            "Authentications, by result (success, refresh, or the error code)",
            m.auth_attempts_total.clone(),
        );
        registry.register(
            "socket_writes",
            "Socket writes (system calls) for WebSocket connections; frames per write = messages_sent / socket_writes",
            m.socket_writes_total.clone(),
        );
        registry.register(
            "direct_writes",
            "Of the socket writes, those the thread delivering a publication made itself while the connection's writer was idle (delivery.direct_writes)",
            m.direct_writes_total.clone(),
        );
        registry.register(
            "write_holds",
            "Times a connection's writer held frames back to coalesce them while the server was busy (delivery.coalesce_window, delivery.coalesce_above)",
            m.write_holds_total.clone(),
        );
        registry.register(
            "history_channels",
            "Channel logs held by the local history store (bounded by history.max_channels)",
            m.history_channels.clone(),
        );
        registry.register_with_unit(
            "history_memtable",
            "Embedded engine: recent writes held in memory before they go to a table file (at most history.memtable_bytes per keyspace, plus tables being written)",
            Unit::Bytes,
            m.history_memtable_bytes.clone(),
        );
        registry.register_with_unit(
            "history_cache",
            "Embedded engine: table blocks cached in memory (at most history.cache_bytes)",
            Unit::Bytes,
            m.history_cache_bytes.clone(),
        );
        registry.register_with_unit(
            "connection_duration",
            "How long connections lasted, from the upgrade to the close",
            Unit::Seconds,
            m.connection_duration.clone(),
        );
        registry.register(
            "publications_delivered",
            "Publications written to subscribers' sockets (deliveries)",
            m.publications_delivered_total.clone(),
        );
        registry.register(
            "publication_frames_encoded",
            "Publication frames built, by wire format (dialect, .msgpack, +deflate): one per format in use on a channel per publication",
            m.publication_frames_encoded_total.clone(),
        );
        registry.register(
            "agent_requests",
            "Agent conversations, by outcome (completed, cancelled, disconnected, or the error code)",
            m.agent_requests_total.clone(),
        );
        registry.register_with_unit(
            "agent_duration",
            "Length of agent conversations, from the request to the last frame",
            Unit::Seconds,
            m.agent_duration.clone(),
        );
        registry.register(
            "agent_events",
            "Agent events relayed to clients, by type",
            m.agent_events_total.clone(),
        );
        m.register_transports(&mut registry);
        registry.register(
            "monitoring_source_errors",
            "Monitoring publisher ticks whose source failed, by source",
            m.monitoring_source_errors_total.clone(),
        );
        registry.register(
            "monitoring_alerts",
            "Monitoring alerts published, by type (anomaly_detected, threshold_exceeded, source_failed)",
            m.monitoring_alerts_total.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The SSE and TLS metrics.
    fn register_transports(&self, registry: &mut Registry) {
        registry.register(
            "sse_connections",
            "Open Server-Sent Events streams (GET /api/sse)",
            self.sse_connections.clone(),
        );
        registry.register(
            "sse_connections_opened",
            "Server-Sent Events streams opened since start",
            self.sse_connections_total.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            self.tls_handshake_failures_total.clone(),
        );
        registry.register(
            "tls_reloads",
            "TLS certificate reloads, by result (success, failure)",
            self.tls_reloads_total.clone(),
        );
    }

    /// Counts a certificate reload with its result.
    pub fn tls_reloads(&self, result: &str) {
        self.tls_reloads_total
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
    }

    /// The metrics, plus NeuroGraph's names when `profile` asks for them.
    pub fn with_profile(prefix: &str, profile: crate::config::MetricsProfile) -> Metrics {
        let mut m = Metrics::new(prefix);
        if profile == crate::config::MetricsProfile::NeuroGraph {
            m.neurograph = Some(m.neurograph_registry());
        }
        m
    }

    /// NeuroGraph's metrics (ADR-003), over the same values:
    /// `neurograph_ws_connections_total` is the *active* connections,
    /// `messages_sent_total` the events broadcast (deliveries), and
    /// `message_latency_seconds` the delivery latency.
    fn neurograph_registry(&self) -> Registry {
        let mut r = Registry::with_prefix("neurograph_ws");
        r.register(
            "connections_total",
            "Active WebSocket connections",
            self.connections.clone(),
        );
        r.register(
            "messages_sent",
            "Events broadcast to subscribers",
            self.publications_delivered_total.clone(),
        );
        r.register_with_unit(
            "message_latency",
            "Delivery latency of events",
            Unit::Seconds,
            self.delivery_latency.clone(),
        );
        r.register(
            "buffer_overflow",
            "Events dropped from full per-client buffers",
            self.buffer_overflow_total.clone(),
        );
        r.register(
            "disconnects",
            "Disconnections, by reason",
            self.disconnects_total.clone(),
        );
        r
    }

    /// Counts a closed connection under `reason`.
    pub fn disconnect(&self, reason: &str) {
        self.disconnects_total
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a request refused by the limit `limit`.
    pub fn limit_rejections(&self, limit: &str) {
        self.limit_rejections_total
            .get_or_create(&LimitLabel {
                limit: limit.to_string(),
            })
            .inc();
    }

    /// Counts an authentication attempt with its result.
    pub fn auth_result(&self, result: &str) {
        self.auth_attempts_total
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts a publication frame built in `format` (a format label).
    pub fn frame_encoded(&self, format: &str) {
        self.publication_frames_encoded_total
            .get_or_create(&FormatLabel {
                format: format.to_string(),
            })
            .inc();
    }

    /// Counts an agent conversation that ended with `outcome`, and its
    /// length if it ran (`None`: refused before it started).
    pub fn agent_request(&self, outcome: &str, duration: Option<Duration>) {
        self.agent_requests_total
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
        if let Some(d) = duration {
            self.agent_duration.observe(d.as_secs_f64());
        }
    }

    /// Counts one relayed agent event of type `kind`.
    pub fn agent_event(&self, kind: &str) {
        self.agent_events_total
            .get_or_create(&TypeLabel {
                r#type: kind.to_string(),
            })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Some(ng) = &self.neurograph {
            if prometheus_client::encoding::text::encode_registry(&mut out, ng).is_err() {
                out.clear();
            }
        }
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A counter exported under its own name, `…_total`, as an untyped
/// metric. OpenMetrics would name a typed counter family `connections`,
/// which clashes with the `connections` gauge and breaks scrapes.
#[derive(Clone, Default, Debug)]
pub struct TotalCounter(Counter);

impl TotalCounter {
    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

impl EncodeMetric for TotalCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0.get())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Unknown
    }
}

/// The number of tasks alive in the current tokio runtime, read when the
/// metrics are scraped (0 outside a runtime). Steady under steady load; a
/// leak of per-connection tasks shows here first.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuntimeTasks;

impl EncodeMetric for RuntimeTasks {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let alive = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_alive_tasks() as i64)
            .unwrap_or(0);
        encoder.encode_gauge(&alive)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// Upper bounds of the delivery-latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A fixed-bucket histogram of durations, updated with atomics only.
#[derive(Clone, Default, Debug)]
pub struct LatencyHistogram(std::sync::Arc<LatencyInner>);

#[derive(Default, Debug)]
struct LatencyInner {
    /// One more than the buckets: the last counts values above all bounds.
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, d: Duration) {
        self.observe_n(d, 1);
    }

    /// Records `n` observations of `d`.
    pub fn observe_n(&self, d: Duration, n: u64) {
        let secs = d.as_secs_f64();
        let idx = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.0.counts[idx].fetch_add(n, Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos.saturating_mul(n), Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.0.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Each bucket's count ([`LATENCY_BUCKETS`] order), then the count
    /// above every bound.
    pub fn bucket_counts(&self) -> Vec<u64> {
        self.0.counts.iter().map(|c| c.load(Relaxed)).collect()
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .zip(self.0.counts.iter())
            .map(|(b, c)| (*b, c.load(Relaxed)))
            .collect();
        buckets.push((
            f64::INFINITY,
            self.0.counts[LATENCY_BUCKETS.len()].load(Relaxed),
        ));
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = self.0.sum_nanos.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
