//! The monitoring subsystem's options (`[monitoring]`): the publishers
//! (`[[monitoring.publishers]]`), the threshold rules
//! (`[[monitoring.thresholds]]`) and the aggregator's bounds.
//!
//! Invariants: the default has the six FOG rooms (`nodes`, `tasks`,
//! `metrics`, `alerts`, `resources`, `topology`), so a plain
//! `wavecast serve` publishes live data; every field serializes (see the
//! `schema` module), so a threshold's missing side is written `null`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where a publisher's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorSource {
    /// CPU, memory, disk, network and load of this host.
    System,
    /// The nodes of this deployment and their figures.
    Cluster,
    /// The nodes and the links between them (published on change only).
    Topology,
    /// wavecast's own metrics, with the system part.
    Server,
    /// Tasks and their progress: running simulations and reported tasks.
    Tasks,
    /// A summary of the alerts raised (real alerts go out at once).
    Alerts,
    /// A JSON document pulled from `url` on each tick.
    Http,
}

impl MonitorSource {
    /// The source's name, as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorSource::System => "system",
            MonitorSource::Cluster => "cluster",
            MonitorSource::Topology => "topology",
            MonitorSource::Server => "server",
            MonitorSource::Tasks => "tasks",
            MonitorSource::Alerts => "alerts",
            MonitorSource::Http => "http",
        }
    }
}

/// One `[[monitoring.publishers]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorPublisher {
    /// The room (channel) it publishes into.
    pub room: String,
    /// The event type of its publications, e.g. `node_status_update`.
    #[serde(rename = "type")]
    pub event: String,
    /// Time between ticks (`topology` checks each tick, publishes on
    /// change).
    #[serde(with = "super::duration::as_text")]
    pub interval: Duration,
    pub source: MonitorSource,
    /// For `source = "http"`: the URL to GET (JSON object expected).
    #[serde(default)]
    pub url: String,
    /// For `source = "http"`: how long one pull may take.
    #[serde(with = "super::duration::as_text", default = "default_pull_timeout")]
    pub timeout: Duration,
}

fn default_pull_timeout() -> Duration {
    Duration::from_secs(2)
}

impl MonitorPublisher {
    /// A publisher with no URL and the default timeout.
    pub fn new(room: &str, event: &str, secs: u64, source: MonitorSource) -> MonitorPublisher {
        MonitorPublisher {
            room: room.into(),
            event: event.into(),
            interval: Duration::from_secs(secs),
            source,
            url: String::new(),
            timeout: default_pull_timeout(),
        }
    }

    /// The six publishers of the FOG document.
    pub fn defaults() -> Vec<MonitorPublisher> {
        use MonitorSource::*;
        vec![
            MonitorPublisher::new("nodes", "node_status_update", 5, Cluster),
            MonitorPublisher::new("tasks", "task_progress", 2, Tasks),
            MonitorPublisher::new("metrics", "metrics_update", 10, Server),
            MonitorPublisher::new("alerts", "alert_summary", 10, Alerts),
            MonitorPublisher::new("resources", "resource_update", 15, System),
            MonitorPublisher::new("topology", "topology_update", 5, Topology),
        ]
    }
}

/// One `[[monitoring.thresholds]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorThreshold {
    /// The metric watched (exact dotted name).
    pub metric: String,
    /// Alert when the value goes above this (exactly one of above/below).
    #[serde(default)]
    pub above: Option<f64>,
    /// Alert when the value goes below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// info, low, warning, medium, high or critical (also the priority).
    pub severity: String,
    /// Least time between two alerts of this rule.
    #[serde(with = "super::duration::as_text", default)]
    pub cooldown: Duration,
    /// How far back the value must go to re-arm the rule.
    #[serde(default)]
    pub hysteresis: f64,
}

impl Default for MonitorThreshold {
    fn default() -> Self {
        MonitorThreshold {
            metric: String::new(),
            above: None,
            below: None,
            severity: "warning".into(),
            cooldown: Duration::ZERO,
            hysteresis: 0.0,
        }
    }
}

/// `[monitoring]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Run the publishers and the aggregator.
    pub enabled: bool,
    /// The room anomaly and threshold alerts go to.
    pub alerts_room: String,
    /// Most metrics the aggregator holds.
    pub max_metrics: usize,
    /// Most raw points held per metric (an hour at 2 points/s).
    pub max_points_per_metric: usize,
    /// How often rollups are written to storage and raw points expired.
    #[serde(with = "super::duration::as_text")]
    pub flush_interval: Duration,
    /// Most tasks reported with `POST /api/ws/tasks` held at once.
    pub max_tasks: usize,
    /// How long a completed or failed task stays listed.
    #[serde(with = "super::duration::as_text")]
    pub finished_task_ttl: Duration,
    pub publishers: Vec<MonitorPublisher>,
    pub thresholds: Vec<MonitorThreshold>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            enabled: true,
            alerts_room: "alerts".into(),
            max_metrics: 1_000,
            max_points_per_metric: 7_200,
            flush_interval: Duration::from_secs(5),
            max_tasks: 1_000,
            finished_task_ttl: Duration::from_secs(600),
            publishers: MonitorPublisher::defaults(),
            thresholds: Vec::new(),
        }
    }
}

/// A rule that failed: the key path (relative to the top) and the reason.
pub(crate) type Failure = (Vec<String>, String);

impl MonitoringConfig {
    /// Values that parse but cannot work; the first failure, on its key.
    pub(crate) fn check(&self) -> Result<(), Failure> {
        let top = |key: &str, why: &str| -> Result<(), Failure> {
            Err((vec!["monitoring".into(), key.into()], why.into()))
        };
        if wavecast_protocol::channel::validate_channel(&self.alerts_room).is_err() {
            return top("alerts_room", "not a valid channel name");
        }
        if !(1..=1_000_000).contains(&self.max_metrics) {
            return top("max_metrics", "must be between 1 and 1000000");
        }
        if !(1..=10_000_000).contains(&self.max_points_per_metric) {
            return top("max_points_per_metric", "must be between 1 and 10000000");
        }
        if self.flush_interval < Duration::from_millis(100) {
            return top("flush_interval", "must be at least 100ms");
        }
        if self.max_tasks == 0 {
            return top("max_tasks", "must be at least 1");
        }
        for (i, p) in self.publishers.iter().enumerate() {
            p.check()
                .map_err(|(key, why)| at("publishers", i, key, why))?;
        }
        for (i, t) in self.thresholds.iter().enumerate() {
            t.rule()
                .map_err(|(key, why)| at("thresholds", i, key, why))?;
        }
        Ok(())
    }
}

fn at(list: &str, i: usize, key: &str, why: String) -> Failure {
    (
        vec![
            "monitoring".into(),
            list.into(),
            format!("[{i}]"),
            key.into(),
        ],
        why,
    )
}

impl MonitorPublisher {
    fn check(&self) -> Result<(), (&'static str, String)> {
        if let Err(e) = wavecast_protocol::channel::validate_channel(&self.room) {
            return Err(("room", format!("not a valid channel name: {e}")));
        }
        if wavecast_protocol::to_server::validate_event_type(&self.event).is_err() {
            return Err(("type", "not a valid event type".into()));
        }
        if self.interval < Duration::from_millis(10) || self.interval > Duration::from_secs(86_400)
        {
            return Err(("interval", "must be between 10ms and 1d".into()));
        }
        if self.source == MonitorSource::Http {
            if !self.url.starts_with("http://") {
                return Err((
                    "url",
                    "source = \"http\" needs an http:// URL to pull JSON from".into(),
                ));
            }
            if self.timeout.is_zero() {
                return Err(("timeout", "must be above 0".into()));
            }
        }
        Ok(())
    }
}

impl MonitorThreshold {
    /// The aggregator's rule.
    pub fn rule(&self) -> Result<wavecast_monitor::ThresholdRule, (&'static str, String)> {
        let severity = self.severity.parse().map_err(|_| {
            (
                "severity",
                "use info, low, warning, medium, high or critical".into(),
            )
        })?;
        let rule = wavecast_monitor::ThresholdRule {
            metric: self.metric.clone(),
            above: self.above,
            below: self.below,
            severity,
            cooldown_ms: u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX),
            hysteresis: self.hysteresis,
        };
        match rule.validate() {
            Ok(_) => Ok(rule),
            Err(wavecast_monitor::MonitorError::InvalidRule { field, reason, .. }) => {
                Err((field, reason.to_string()))
            }
            Err(e) => Err(("metric", e.to_string())),
        }
    }
}
