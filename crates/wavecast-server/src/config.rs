//! Server configuration: defaults, TOML file and `WAVECAST_…` environment
//! variables merged with figment, plus per-namespace options.
//!
//! Precedence, lowest first: built-in defaults, the TOML file, environment
//! variables, command-line flags (applied by the binary).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What to do when a connection's outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Backpressure {
    /// Evict the oldest queued publication (the default).
    #[default]
    DropOldest,
    /// Refuse the new publication.
    DropNewest,
    /// Thin the queue, keeping every `sample_every`-th queued publication.
    /// The MFN document calls this `compress`.
    #[serde(alias = "compress")]
    Sample,
    /// Close the connection with 4008 "slow consumer".
    Disconnect,
}

/// Options of one namespace (`[namespaces.NAME]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamespaceConfig {
    pub backpressure: Backpressure,
    /// Queued publications per connection before the strategy applies.
    pub max_queue_messages: usize,
    /// Queued bytes per connection before the strategy applies.
    pub max_queue_bytes: usize,
    /// For `sample`: keep every Nth queued publication (N ≥ 2).
    pub sample_every: usize,
    /// Whether client connections may `publish` into this namespace.
    pub allow_client_publish: bool,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        NamespaceConfig {
            backpressure: Backpressure::DropOldest,
            max_queue_messages: 1000,
            max_queue_bytes: 4 * 1024 * 1024,
            sample_every: 2,
            allow_client_publish: false,
        }
    }
}

/// The server API (`/api/…`) options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The server API key. Empty: the API answers loopback clients only.
    pub api_key: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            api_key: String::new(),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Logging options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` (default) or `text`.
    pub format: String,
    /// `error`, `warn`, `info` (default), `debug` or `trace`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    #[serde(with = "duration_str")]
    pub heartbeat_interval: Duration,
    #[serde(with = "duration_str")]
    pub heartbeat_timeout: Duration,
    /// Largest WebSocket message accepted from a client; larger ones close
    /// the connection with 1009.
    pub max_message_bytes: usize,
    pub max_subscriptions_per_connection: usize,
    /// Longest time a graceful shutdown may take before the process exits.
    #[serde(with = "duration_str")]
    pub shutdown_timeout: Duration,
    /// Prefix of every Prometheus metric name.
    pub metrics_prefix: String,
    pub http: HttpConfig,
    pub log: LogConfig,
    /// Per-namespace options; `default` applies to channels with no
    /// namespace of their own.
    pub namespaces: BTreeMap<String, NamespaceConfig>,
}

impl Default for Config {
    fn default() -> Self {
        let mut namespaces = BTreeMap::new();
        namespaces.insert("default".to_string(), NamespaceConfig::default());
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(60),
            max_message_bytes: 64 * 1024,
            max_subscriptions_per_connection: 1000,
            shutdown_timeout: Duration::from_secs(10),
            metrics_prefix: "wavecast".into(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            namespaces,
        }
    }
}

/// A configuration that could not be loaded or does not make sense.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads defaults, then `file` (if given), then `WAVECAST_*` variables.
    ///
    /// Environment keys: `WAVECAST_PORT`, `WAVECAST_HEARTBEAT_INTERVAL`,
    /// `WAVECAST_HTTP_API_KEY`, `WAVECAST_LOG_LEVEL`, and for nested tables
    /// `__` as separator (`WAVECAST_NAMESPACES__CHAT__BACKPRESSURE`).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(Env::prefixed("WAVECAST_").map(|key| {
            let k = key.as_str().to_ascii_lowercase();
            for table in ["http_", "log_"] {
                if let Some(rest) = k.strip_prefix(table) {
                    return format!("{}.{rest}", &table[..table.len() - 1]).into();
                }
            }
            k.replace("__", ".").into()
        }));
        Self::from_figment(fig)
    }

    /// Parses a TOML string on top of the defaults (no environment).
    pub fn from_toml_str(toml: &str) -> Result<Config, ConfigError> {
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)),
        )
    }

    fn from_figment(fig: Figment) -> Result<Config, ConfigError> {
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError(format!("invalid configuration: {e}")))?;
        cfg.namespaces.entry("default".into()).or_default();
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.heartbeat_interval.is_zero() {
            return err("heartbeat_interval must be above zero".into());
        }
        if self.heartbeat_timeout <= self.heartbeat_interval {
            return err(format!(
                "heartbeat_timeout ({:?}) must be longer than heartbeat_interval ({:?})",
                self.heartbeat_timeout, self.heartbeat_interval
            ));
        }
        if self.max_message_bytes < 128 {
            return err("max_message_bytes must be at least 128".into());
        }
        for (name, ns) in &self.namespaces {
            if ns.max_queue_messages == 0 || ns.max_queue_bytes == 0 {
                return err(format!(
                    "namespaces.{name}: max_queue_messages and max_queue_bytes must be above zero"
                ));
            }
            if ns.sample_every < 2 {
                return err(format!(
                    "namespaces.{name}: sample_every must be at least 2"
                ));
            }
            if name != "default" && crate::protocol::channel::validate_channel(name).is_err() {
                return err(format!("namespaces.{name}: not a valid namespace name"));
            }
        }
        Ok(())
    }

    /// The options of `namespace`, falling back to `default`.
    pub fn namespace(&self, namespace: &str) -> &NamespaceConfig {
        self.namespaces
            .get(namespace)
            .or_else(|| self.namespaces.get("default"))
            .unwrap_or(&DEFAULT_NAMESPACE)
    }

    /// The configuration as TOML-like JSON with secrets redacted.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        if !c.http.api_key.is_empty() {
            c.http.api_key = "[redacted]".into();
        }
        c
    }
}

static DEFAULT_NAMESPACE: std::sync::LazyLock<NamespaceConfig> =
    std::sync::LazyLock::new(NamespaceConfig::default);

/// Parses durations written as `250ms`, `30s`, `5m`, `1h`, or a bare
/// number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 250ms, 30s, 5m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("invalid duration unit {other:?} in {s:?}")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(60_000) || ms == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}m", ms / 60_000)
    }
}

mod duration_str {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n.is_finite() && n >= 0.0 => Ok(Duration::from_secs_f64(n)),
            Raw::Num(n) => Err(serde::de::Error::custom(format!("invalid duration {n}"))),
            Raw::Str(s) => parse_duration(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn toml_namespaces_and_aliases() {
        let c = Config::from_toml_str(
            r#"
            heartbeat_interval = "1s"
            heartbeat_timeout = "3s"
            [namespaces.mfn]
            backpressure = "compress"
            max_queue_messages = 10
            "#,
        )
        .unwrap();
        assert_eq!(c.namespace("mfn").backpressure, Backpressure::Sample);
        assert_eq!(c.namespace("mfn").max_queue_messages, 10);
        assert_eq!(c.namespace("other").backpressure, Backpressure::DropOldest);
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
    }

    #[test]
    fn refuses_nonsense() {
        assert!(Config::from_toml_str("heartbeat_timeout = \"1s\"").is_err());
        assert!(Config::from_toml_str("unknown_key = 1").is_err());
        assert!(Config::from_toml_str("[namespaces.x]\nsample_every = 1").is_err());
    }

    #[test]
    fn redacts_secrets() {
        let mut c = Config::default();
        c.http.api_key = "s3cret".into();
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        assert!(!shown.contains("s3cret"));
    }
}
