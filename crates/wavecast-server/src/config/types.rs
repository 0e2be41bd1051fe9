//! The configuration's shape and its built-in defaults: one struct per
//! TOML table.
//!
//! Invariants: every struct is `#[serde(default, deny_unknown_fields)]`
//! and serializes every field (no `skip`), so the serialized default is
//! the complete list of keys (see the `schema` module); durations are
//! written as text (`"30s"`); `namespaces` always has `default` after
//! loading.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::choices::{
    Backpressure, EndpointHandler, EngineKind, Environment, LogFormat, LogLevel, MetricsProfile,
    PublishPolicy, SubscribePolicy, UserLimitPolicy, WireDialect,
};
use super::duration::Fsync;
use super::retention::Retention;

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
    /// Who may subscribe.
    pub subscribe: SubscribePolicy,
    /// Who may publish from a client connection.
    pub publish: PublishPolicy,
    /// Publications kept per channel for recovery (0: no history, no
    /// offsets).
    pub history_size: usize,
    /// How long publications are kept (0: no time limit).
    #[serde(with = "super::duration::as_text")]
    pub history_ttl: Duration,
}

impl NamespaceConfig {
    /// The retention, or `None` without history.
    pub fn retention(&self) -> Option<Retention> {
        (self.history_size > 0).then_some(Retention {
            size: self.history_size,
            ttl: self.history_ttl,
        })
    }
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        NamespaceConfig {
            backpressure: Backpressure::DropOldest,
            max_queue_messages: 1000,
            max_queue_bytes: 4 * 1024 * 1024,
            sample_every: 2,
            subscribe: SubscribePolicy::Public,
            publish: PublishPolicy::None,
            history_size: 10_000,
            history_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// The server API (`/api/…`) options (`[http]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The server API key. Empty: the API answers loopback clients only.
    pub api_key: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time to receive a whole request body.
    #[serde(with = "super::duration::as_text")]
    pub body_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            api_key: String::new(),
            max_body_bytes: 1024 * 1024,
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// Client authentication (`[auth]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Refuse connections that do not authenticate.
    pub require_auth: bool,
    /// Valid API keys (any of them authenticates).
    pub api_keys: Vec<String>,
    /// Named keys, `key_id = "secret"`, for signed `auth` {key_id, …}
    /// where the secret never travels.
    pub keys: BTreeMap<String, String>,
    /// Require the HMAC signature in `auth` messages.
    pub require_signature: bool,
    /// How far a signed timestamp may be from server time.
    #[serde(with = "super::duration::as_text")]
    pub signature_window: Duration,
    /// Time a connection without credentials has to send `auth`.
    #[serde(with = "super::duration::as_text")]
    pub auth_timeout: Duration,
    /// Failed `auth` attempts before closing with 4001.
    pub max_auth_failures: u32,
    /// HS256/384/512 secret.
    pub jwt_secret: String,
    /// PEM public key (RSA, EC P-256 or Ed25519) for RS256/ES256/EdDSA.
    pub jwt_public_key_file: String,
    /// JWKS file with the public keys (selected by `kid`).
    pub jwks_file: String,
    pub jwt_audience: String,
    pub jwt_issuer: String,
    /// Send `refresh_required` this long before the token expires.
    #[serde(with = "super::duration::as_text")]
    pub refresh_before: Duration,
    /// Optional backend check after authentication.
    pub connect_url: String,
    #[serde(with = "super::duration::as_text")]
    pub connect_timeout: Duration,
    /// Allow the connection when the connect hook fails or times out.
    pub connect_fail_open: bool,
    /// Every endpoint's default for refusing a tokenless upgrade with 401
    /// before accepting it (an endpoint's own setting wins); unset: yes
    /// for the `fog` and `netra` dialects, no for the others.
    pub require_token_at_upgrade: Option<bool>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            require_auth: false,
            api_keys: Vec::new(),
            keys: BTreeMap::new(),
            require_signature: false,
            signature_window: Duration::from_secs(300),
            auth_timeout: Duration::from_secs(10),
            max_auth_failures: 3,
            jwt_secret: String::new(),
            jwt_public_key_file: String::new(),
            jwks_file: String::new(),
            jwt_audience: String::new(),
            jwt_issuer: String::new(),
            refresh_before: Duration::from_secs(30),
            connect_url: String::new(),
            connect_timeout: Duration::from_secs(2),
            connect_fail_open: false,
            require_token_at_upgrade: None,
        }
    }
}

impl AuthConfig {
    /// Whether any credential can be checked at all.
    pub fn has_credentials(&self) -> bool {
        !self.api_keys.is_empty()
            || !self.keys.is_empty()
            || !self.jwt_secret.is_empty()
            || !self.jwt_public_key_file.is_empty()
            || !self.jwks_file.is_empty()
    }
}

/// Origin checks (`[origins]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OriginConfig {
    /// Allowed origins, e.g. `https://app.example.com`,
    /// `https://*.example.com`, `http://localhost:3000`. `dev` and
    /// `staging` also allow any localhost origin; `production` only the
    /// list.
    pub allowed: Vec<String>,
    /// Allow upgrade requests without an Origin header (non-browser clients).
    pub allow_missing: bool,
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            allowed: Vec::new(),
            allow_missing: true,
        }
    }
}

/// Admission and rate limits (`[limits]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Open connections per authenticated user (0: no limit).
    pub max_connections_per_user: usize,
    pub on_user_limit: UserLimitPolicy,
    /// New connections per user per minute (0: no limit).
    pub connection_rate_per_user: u32,
    /// New connections per client IP per minute (0: no limit).
    pub connection_rate_per_ip: u32,
    /// Loopback clients are exempt from the per-IP rate (a local proxy or
    /// load generator would otherwise be one IP).
    pub exempt_loopback: bool,
    /// Client messages per second per connection (0: no limit).
    pub max_message_rate: u32,
    /// Messages allowed in a burst above the rate.
    pub message_burst: u32,
    /// Client messages per minute per connection, for rates a whole number
    /// per second cannot say (Netra's 90 a minute); when not 0 it replaces
    /// `max_message_rate`.
    pub max_message_rate_per_minute: u32,
    /// Rate-limited messages in a row that close the connection with 4008.
    pub rate_limit_close_after: u32,
    /// Largest inbound WebSocket message; larger ones close with 1009.
    pub max_message_size: usize,
    /// Subscriptions per connection.
    pub max_subscriptions: usize,
    /// Open connections per process; 0 picks the open-file limit less a
    /// reserve. Upgrades beyond it get HTTP 503.
    pub max_connections: usize,
    /// Time to receive a request's headers (slowloris guard).
    #[serde(with = "super::duration::as_text")]
    pub handshake_timeout: Duration,
    /// Deepest JSON nesting (arrays and objects) of published data.
    pub max_data_depth: usize,
    /// Byte budget of one connection's whole outbound queue, control
    /// frames included (values above 4 GiB act as 4 GiB).
    pub max_connection_queue_bytes: usize,
}

impl LimitsConfig {
    /// Client messages allowed per minute per connection (0: no limit):
    /// `max_message_rate_per_minute` if set, else `max_message_rate` × 60.
    pub fn messages_per_minute(&self) -> u64 {
        match self.max_message_rate_per_minute {
            0 => u64::from(self.max_message_rate) * 60,
            n => u64::from(n),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections_per_user: 5,
            on_user_limit: UserLimitPolicy::ReplaceOldest,
            connection_rate_per_user: 10,
            connection_rate_per_ip: 10,
            exempt_loopback: true,
            max_message_rate: 100,
            message_burst: 200,
            max_message_rate_per_minute: 0,
            rate_limit_close_after: 50,
            max_message_size: 10 * 1024,
            max_subscriptions: 10,
            max_connections: 0,
            handshake_timeout: Duration::from_secs(10),
            max_data_depth: 64,
            max_connection_queue_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A simulation that runs with the server and publishes its features
/// into an ordinary channel (`[[streams.rooms]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedSimulation {
    /// The channel, e.g. `mfn:features`.
    pub channel: String,
    /// Time between `feature_update` publications.
    #[serde(with = "super::duration::as_text", default = "default_room_interval")]
    pub interval: Duration,
    /// Model parameters (as in a stream's `params`).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

fn default_room_interval() -> Duration {
    Duration::from_secs(1)
}

impl PublishedSimulation {
    /// A room on `channel` with the default interval and parameters (the
    /// template of `[[streams.rooms]]` keys).
    pub fn on(channel: &str) -> PublishedSimulation {
        PublishedSimulation {
            channel: channel.into(),
            interval: default_room_interval(),
            params: serde_json::Map::new(),
        }
    }
}

/// Limits of the simulation streams (`[streams]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamsConfig {
    /// Streams one connection may run at once.
    pub max_per_connection: usize,
    /// Streams the process runs at once (default sized in docs/mfn.md).
    pub max_running: usize,
    /// Largest grid side a client may ask for.
    pub max_grid_size: usize,
    /// Most steps of one `simulation_live` run.
    pub max_steps: u64,
    /// Threads that compute the streams (0: one per core).
    pub workers: usize,
    /// Nice value of those threads (0 to 19; higher yields more to fan-out).
    pub worker_nice: i32,
    /// Simulations published into channels.
    pub rooms: Vec<PublishedSimulation>,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            max_per_connection: 4,
            max_running: 1000,
            max_grid_size: 512,
            max_steps: 1_000_000,
            workers: 0,
            worker_nice: 10,
            rooms: Vec::new(),
        }
    }
}

/// The server-wide history budget (`[history]`); what each namespace
/// keeps is in `[namespaces.*]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Channel logs the server keeps at once (0: no limit).
    pub max_channels: usize,
    /// Embedded engine: bytes of recent writes each of its keyspaces keeps
    /// in memory (its memtable) before writing them to a table file.
    pub memtable_bytes: u64,
    /// Embedded engine: bytes of table blocks kept in memory for reads.
    pub cache_bytes: u64,
}

/// One mebibyte, the least `memtable_bytes` and `cache_bytes` take.
pub const MIB: u64 = 1 << 20;

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            max_channels: 100_000,
            memtable_bytes: 8 * MIB,
            cache_bytes: 16 * MIB,
        }
    }
}

/// The agent relay (`[agents]`): where `user_message` and
/// `agent_request` go, and its limits (docs/agents.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// `demo` (the built-in agent), an `http://` URL, or empty (off).
    /// With `env = "production"` the default is empty.
    pub upstream_url: String,
    /// Retries after a refused connection or a 502/503 answer.
    pub retries: u32,
    /// The first retry's delay; each next one doubles (with jitter).
    #[serde(with = "super::duration::as_text")]
    pub retry_backoff: Duration,
    /// Longest a whole conversation may take.
    #[serde(with = "super::duration::as_text")]
    pub timeout: Duration,
    /// Longest wait for the answer's head and between two events.
    #[serde(with = "super::duration::as_text")]
    pub idle_timeout: Duration,
    /// Conversations one user runs at once (0: no limit).
    pub max_per_user: usize,
    /// Conversations the process runs at once.
    pub max_running: usize,
    /// Largest event (one NDJSON line or SSE event) from the upstream.
    pub max_event_bytes: usize,
    /// Token claims sent to the upstream (none unless named here).
    pub forward_claims: Vec<String>,
    /// Also publish every event into the user's `user:<id>` channel.
    pub fan_out_to_user: bool,
}

/// `upstream_url` naming the built-in demo agent.
pub const DEMO_AGENT: &str = "demo";

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            upstream_url: DEMO_AGENT.into(),
            retries: 2,
            retry_backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(60),
            max_per_user: 4,
            max_running: 256,
            max_event_bytes: 1024 * 1024,
            forward_claims: Vec::new(),
            fan_out_to_user: false,
        }
    }
}

/// Logging options (`[log]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` (default) or `text`.
    pub format: LogFormat,
    /// `error`, `warn`, `info` (default), `debug` or `trace`.
    pub level: LogLevel,
}

/// One WebSocket endpoint (`[[endpoints]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointConfig {
    /// The URL path, e.g. `/ws`.
    pub path: String,
    /// What it serves.
    pub handler: EndpointHandler,
    /// The wire dialect it speaks (a client may pick another with
    /// `Sec-WebSocket-Protocol`).
    pub dialect: WireDialect,
    /// Accept permessage-deflate on it (`[compression]` sets the window).
    pub deflate: bool,
    /// Refuse an upgrade without a token with 401 before accepting it,
    /// when authentication is required. Default: yes for `fog` and
    /// `netra`, no for the others (they may authenticate by message).
    pub require_token_at_upgrade: Option<bool>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            path: "/ws".into(),
            handler: EndpointHandler::Channels,
            dialect: WireDialect::Wavecast,
            deflate: false,
            require_token_at_upgrade: None,
        }
    }
}

impl EndpointConfig {
    fn at(path: &str, handler: EndpointHandler, dialect: WireDialect) -> EndpointConfig {
        EndpointConfig {
            path: path.into(),
            handler,
            dialect,
            ..EndpointConfig::default()
        }
    }

    /// Whether a tokenless upgrade is refused before accepting: the
    /// endpoint's setting, else the server-wide `auth` one, else the
    /// dialect's default.
    pub fn token_at_upgrade(&self, server_default: Option<bool>) -> bool {
        self.require_token_at_upgrade
            .or(server_default)
            .unwrap_or(matches!(
                self.dialect,
                WireDialect::Fog | WireDialect::Netra
            ))
    }

    /// The built-in endpoints.
    pub fn defaults() -> Vec<EndpointConfig> {
        use self::EndpointHandler as H;
        vec![
            Self::at("/ws", H::Channels, WireDialect::Wavecast),
            Self::at("/api/ws/connect", H::Channels, WireDialect::Fog),
            Self::at("/ws/stream_features", H::StreamFeatures, WireDialect::Mfn),
            Self::at("/ws/simulation_live", H::SimulationLive, WireDialect::Mfn),
            Self::at("/ws/heartbeat", H::Heartbeat, WireDialect::Mfn),
        ]
    }
}

/// permessage-deflate (`[compression]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionConfig {
    /// The largest window (log2, 9 to 15) the server compresses with.
    pub server_max_window_bits: u8,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            server_max_window_bits: 15,
        }
    }
}

/// When writers coalesce frames (`[delivery]`).
///
/// While the whole server delivers at least `coalesce_above` frames per
/// second, a connection that wrote less than `coalesce_window` ago holds
/// new frames until that window has passed, so many publications leave in
/// one write. Below the threshold every frame is written at once, and
/// with `direct_writes` by the delivering thread itself when the
/// connection's writer is idle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Longest time a frame waits for others to share its write ("0ms"
    /// turns coalescing off).
    #[serde(with = "super::duration::as_text")]
    pub coalesce_window: Duration,
    /// Deliveries per second (all connections) from which writers
    /// coalesce; 0 turns coalescing off.
    pub coalesce_above: u64,
    /// Below `coalesce_above`, the thread that delivers a publication
    /// writes it to the plain-TCP sockets of idle writers itself (one
    /// system call, no task wake-up each).
    pub direct_writes: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            coalesce_window: Duration::from_millis(5),
            coalesce_above: 100_000,
            direct_writes: true,
        }
    }
}

/// Conformance testing aids (`[conformance]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConformanceConfig {
    /// Serve `/echo`, which echoes every message (off by default).
    pub echo: bool,
}

/// Native TLS (`[tls]`). With both files set, the port speaks TLS only
/// (`https://`, `wss://`); with neither, plain HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of that certificate.
    pub key_file: String,
    /// How often both files are checked for changes; a change (or
    /// SIGHUP) reloads them without dropping connections.
    #[serde(with = "super::duration::as_text")]
    pub reload_interval: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            reload_interval: Duration::from_secs(10),
        }
    }
}

impl TlsConfig {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub env: Environment,
    /// History engine.
    pub engine: EngineKind,
    /// Where the embedded engine keeps its files.
    pub data_dir: PathBuf,
    /// Group-commit interval of the embedded engine, or `always`.
    pub fsync: Fsync,
    /// Redis for `engine = "redis"`; see `RedisUrl` for its parts.
    pub redis_url: String,
    /// For `rediss://`: a PEM file of the CA certificates to trust (empty:
    /// the public web roots).
    pub redis_ca_file: String,
    /// Prefix of every Redis key and pub/sub channel.
    pub redis_prefix: String,
    /// The address other nodes and clients reach this node at, shown in
    /// the node registry (default: the bound address).
    pub advertise_address: String,
    pub bind: IpAddr,
    pub port: u16,
    #[serde(with = "super::duration::as_text")]
    pub heartbeat_interval: Duration,
    #[serde(with = "super::duration::as_text")]
    pub heartbeat_timeout: Duration,
    /// Longest time a graceful shutdown may take before the process exits.
    #[serde(with = "super::duration::as_text")]
    pub shutdown_timeout: Duration,
    /// Prefix of every Prometheus metric name.
    pub metrics_prefix: String,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub origins: OriginConfig,
    pub limits: LimitsConfig,
    pub streams: StreamsConfig,
    pub history: HistoryConfig,
    pub log: LogConfig,
    /// The WebSocket endpoints, each with its handler and dialect.
    pub endpoints: Vec<EndpointConfig>,
    pub compression: CompressionConfig,
    pub delivery: DeliveryConfig,
    pub conformance: ConformanceConfig,
    pub tls: TlsConfig,
    /// Which metric names `/metrics` exports.
    pub metrics_profile: MetricsProfile,
    pub agents: AgentsConfig,
    /// The monitoring publishers and metrics aggregator (docs/monitoring.md).
    pub monitoring: super::monitoring::MonitoringConfig,
    /// Per-namespace options; `default` applies to channels with no
    /// namespace of their own.
    pub namespaces: BTreeMap<String, NamespaceConfig>,
}

impl Default for Config {
    fn default() -> Self {
        let mut namespaces = BTreeMap::new();
        namespaces.insert("default".to_string(), NamespaceConfig::default());
        Config {
            env: Environment::Dev,
            engine: EngineKind::Embedded,
            data_dir: "./data".into(),
            fsync: Fsync::default(),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_ca_file: String::new(),
            redis_prefix: "wavecast".into(),
            advertise_address: String::new(),
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(10),
            metrics_prefix: "wavecast".into(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            origins: OriginConfig::default(),
            limits: LimitsConfig::default(),
            streams: StreamsConfig::default(),
            history: HistoryConfig::default(),
            log: LogConfig::default(),
            endpoints: EndpointConfig::defaults(),
            compression: CompressionConfig::default(),
            delivery: DeliveryConfig::default(),
            conformance: ConformanceConfig::default(),
            tls: TlsConfig::default(),
            metrics_profile: MetricsProfile::default(),
            agents: AgentsConfig::default(),
            monitoring: Default::default(),
            namespaces,
        }
    }
}

static DEFAULT_NAMESPACE: LazyLock<NamespaceConfig> = LazyLock::new(NamespaceConfig::default);

impl Config {
    /// The options of `namespace`, falling back to `default`.
    pub fn namespace(&self, namespace: &str) -> &NamespaceConfig {
        self.namespaces
            .get(namespace)
            .or_else(|| self.namespaces.get("default"))
            .unwrap_or(&DEFAULT_NAMESPACE)
    }

    /// The group-commit interval; `None` syncs every write.
    pub fn fsync_interval(&self) -> Option<Duration> {
        self.fsync.interval()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_a_persistent_store() {
        let c = Config::default();
        let ns = c.namespace("anything");
        assert_eq!(ns.history_size, 10_000);
        assert_eq!(ns.history_ttl, Duration::from_secs(86_400));
        assert_eq!(
            ns.retention(),
            Some(Retention {
                size: 10_000,
                ttl: Duration::from_secs(86_400)
            })
        );
        assert_eq!(c.history.max_channels, 100_000);
        assert_eq!(c.limits.max_data_depth, 64);
        assert_eq!(c.limits.max_connection_queue_bytes, 16 << 20);
        assert_eq!(c.http.body_timeout, Duration::from_secs(10));
        assert_eq!(c.fsync_interval(), Some(Duration::from_millis(5)));
    }

    #[test]
    fn no_history_no_retention() {
        let ns = NamespaceConfig {
            history_size: 0,
            ..NamespaceConfig::default()
        };
        assert_eq!(ns.retention(), None);
    }

    #[test]
    fn the_serialized_default_reads_back_the_same() {
        let mut c = Config::default();
        c.streams
            .rooms
            .push(PublishedSimulation::on("mfn:features"));
        let v = serde_json::to_value(&c).unwrap();
        let back: Config = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }
}
