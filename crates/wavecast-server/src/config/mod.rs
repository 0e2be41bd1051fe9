//! Server configuration: what can be configured, where values come from,
//! and how a bad value is explained.
//!
//! Sources, lowest precedence first: built-in defaults, the TOML file,
//! the seed systems' variables (`MFN_*`, `WEBSOCKET_*`, `ENVIRONMENT`),
//! `WAVECAST_*` variables, then the command-line flags (applied by the
//! binary). docs/configuration.md is the user's view of the same.
//!
//! Layout, one concept per file:
//! - `types`: the configuration's shape and built-in defaults.
//! - `choices`: options that take one of a few names (`env`, `engine`,
//!   `backpressure`, `log.level`, …).
//! - `duration`: duration syntax, and `fsync` (`always` or a duration).
//! - `retention`: how much history a namespace keeps.
//! - `monitoring`: `[monitoring]`, its publishers and threshold rules.
//! - `redis_url`: `redis_url` parsed into its parts.
//! - `schema`: which keys exist, and renamed keys.
//! - `tree`: the sources merged, with the origin of every value.
//! - `env`: environment variables: the nested rule and the aliases.
//! - `load`: reading the sources into a [`Config`].
//! - `humanize`: deserializer messages rewritten for people.
//! - `validate`: values that parse but cannot work.
//! - `redact`: the configuration without its secrets.
//! - `suggest`: "did you mean".
//! - `error`: [`ConfigError`] and [`ConfigWarning`].
//!
//! Invariants: this module imports nothing from the rest of the server
//! (the server imports from here); this file only declares and
//! re-exports, so the files below never import each other in a loop.

mod choices;
mod duration;
mod env;
mod error;
mod humanize;
mod load;
mod monitoring;
mod redact;
mod redis_url;
mod retention;
mod schema;
mod suggest;
mod tree;
mod types;
mod validate;

#[cfg(test)]
mod doc_examples;

pub use self::choices::{
    Backpressure, EndpointHandler, EngineKind, Environment, LogFormat, LogLevel, MetricsProfile,
    PublishPolicy, SubscribePolicy, UserLimitPolicy, WireDialect,
};
pub use self::duration::{format_duration, parse_duration, Fsync, MAX_DURATION};
pub use self::env::EnvVars;
pub use self::error::{ConfigError, ConfigWarning};
pub use self::load::Loaded;
pub use self::monitoring::{MonitorPublisher, MonitorSource, MonitorThreshold, MonitoringConfig};
pub use self::redis_url::{redact_url, RedisUrl};
pub use self::retention::Retention;
pub use self::types::{
    AgentsConfig, AuthConfig, CompressionConfig, Config, ConformanceConfig, DeliveryConfig,
    EndpointConfig, HistoryConfig, HttpConfig, LimitsConfig, LogConfig, NamespaceConfig,
    OriginConfig, PublishedSimulation, StreamsConfig, TlsConfig, DEMO_AGENT,
};
