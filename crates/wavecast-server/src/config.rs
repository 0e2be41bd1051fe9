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

/// Who may subscribe to a namespace's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubscribePolicy {
    /// Any connection (the default).
    #[default]
    Public,
    /// Authenticated connections only.
    Authenticated,
    /// Only connections whose token's `channels` / `rooms` match.
    Claim,
}

/// Who may publish into a namespace from a client connection. The HTTP API
/// may always publish with the server key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PublishPolicy {
    /// Nobody (the default).
    #[default]
    None,
    /// Any authenticated connection.
    Authenticated,
    /// Connections whose token's `channels` / `rooms` match.
    Claim,
    /// Any connection, even anonymous ones.
    Public,
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
    /// Who may subscribe.
    pub subscribe: SubscribePolicy,
    /// Who may publish from a client connection.
    pub publish: PublishPolicy,
    /// Publications kept per channel for recovery (0: no history, no
    /// offsets).
    pub history_size: usize,
    /// How long publications are kept (0: no time limit).
    #[serde(with = "duration_str")]
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

/// How much history a namespace keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub size: usize,
    pub ttl: Duration,
}

impl Retention {
    /// Whether `ts_ms` is still within the TTL at `now_ms`.
    pub fn keeps(&self, ts_ms: u64, now_ms: u64) -> bool {
        self.ttl.is_zero() || now_ms.saturating_sub(ts_ms) <= self.ttl.as_millis() as u64
    }
}

/// Where history lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Persistent, fjall under `data_dir` (the default).
    #[default]
    Embedded,
    /// In memory; lost on restart.
    Memory,
    /// Redis: history in streams, publications shared by every node.
    Redis,
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
            history_size: 100,
            history_ttl: Duration::from_secs(300),
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

/// The deployment profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// May run without auth; allows localhost origins (the default).
    #[default]
    Dev,
    Staging,
    /// Refuses to start without auth configured.
    Production,
}

/// What to do when a user opens more than `max_connections_per_user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserLimitPolicy {
    /// Close the user's oldest connection with 4011 "replaced" (the default).
    #[default]
    ReplaceOldest,
    /// Refuse the new connection.
    Refuse,
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
    #[serde(with = "duration_str")]
    pub signature_window: Duration,
    /// Time a connection without credentials has to send `auth`.
    #[serde(with = "duration_str")]
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
    #[serde(with = "duration_str")]
    pub refresh_before: Duration,
    /// Optional backend check after authentication.
    pub connect_url: String,
    #[serde(with = "duration_str")]
    pub connect_timeout: Duration,
    /// Allow the connection when the connect hook fails or times out.
    pub connect_fail_open: bool,
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
    /// `https://*.example.com`, `http://localhost:3000`. Empty: in `dev`
    /// every origin is allowed; elsewhere only requests without Origin.
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
    #[serde(with = "duration_str")]
    pub handshake_timeout: Duration,
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
            rate_limit_close_after: 50,
            max_message_size: 10 * 1024,
            max_subscriptions: 10,
            max_connections: 0,
            handshake_timeout: Duration::from_secs(10),
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
    #[serde(with = "duration_str", default = "default_room_interval")]
    pub interval: Duration,
    /// Model parameters (as in a stream's `params`).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

fn default_room_interval() -> Duration {
    Duration::from_secs(1)
}

/// Limits of the simulation streams (`[streams]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamsConfig {
    /// Streams one connection may run at once.
    pub max_per_connection: usize,
    /// Streams the process runs at once.
    pub max_running: usize,
    /// Largest grid side a client may ask for.
    pub max_grid_size: usize,
    /// Most steps of one `simulation_live` run.
    pub max_steps: u64,
    /// Simulations published into channels.
    pub rooms: Vec<PublishedSimulation>,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            max_per_connection: 4,
            max_running: 16,
            max_grid_size: 512,
            max_steps: 1_000_000,
            rooms: Vec::new(),
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
    pub env: Environment,
    /// History engine (env WAVECAST_ENGINE).
    pub engine: EngineKind,
    /// Where the embedded engine keeps its files (env WAVECAST_DATA_DIR).
    pub data_dir: std::path::PathBuf,
    /// Group-commit interval of the embedded engine (`5ms`), or `always`
    /// to fsync every write.
    pub fsync: String,
    /// Redis for `engine = "redis"` (env WAVECAST_REDIS_URL).
    pub redis_url: String,
    /// Prefix of every Redis key and pub/sub channel.
    pub redis_prefix: String,
    /// The address other nodes and clients reach this node at, shown in
    /// the node registry (default: the bound address).
    pub advertise_address: String,
    pub bind: IpAddr,
    pub port: u16,
    #[serde(with = "duration_str")]
    pub heartbeat_interval: Duration,
    #[serde(with = "duration_str")]
    pub heartbeat_timeout: Duration,
    /// Longest time a graceful shutdown may take before the process exits.
    #[serde(with = "duration_str")]
    pub shutdown_timeout: Duration,
    /// Prefix of every Prometheus metric name.
    pub metrics_prefix: String,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub origins: OriginConfig,
    pub limits: LimitsConfig,
    pub streams: StreamsConfig,
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
            env: Environment::Dev,
            engine: EngineKind::Embedded,
            data_dir: "./data".into(),
            fsync: "5ms".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
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
        fig = fig.merge(Env::prefixed("WAVECAST_").ignore(&ALIAS_IGNORE).map(|key| {
            let k = key.as_str().to_ascii_lowercase();
            for table in ["http_", "log_"] {
                if let Some(rest) = k.strip_prefix(table) {
                    let rest = rest.trim_start_matches('_');
                    return format!("{}.{rest}", &table[..table.len() - 1]).into();
                }
            }
            k.replace("__", ".").into()
        }));
        fig = fig.merge(Serialized::defaults(env_aliases(|k| {
            std::env::var(k).ok()
        })?));
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

    /// The group-commit interval; `None` syncs every write.
    pub fn fsync_interval(&self) -> Option<Duration> {
        if self.fsync == "always" {
            None
        } else {
            Some(parse_duration(&self.fsync).unwrap_or(Duration::from_millis(5)))
        }
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
        if !matches!(
            self.log.level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return err(format!(
                "log.level {:?}: use error, warn, info, debug or trace",
                self.log.level
            ));
        }
        if !matches!(self.log.format.as_str(), "json" | "text") {
            return err(format!(
                "log.format {:?}: use json or text",
                self.log.format
            ));
        }
        if self.fsync != "always" && parse_duration(&self.fsync).map_or(true, |d| d.is_zero()) {
            return err(format!(
                "fsync {:?}: use a duration like 5ms, or always",
                self.fsync
            ));
        }
        if self.limits.max_message_size < 128 {
            return err("limits.max_message_size must be at least 128".into());
        }
        if self.env == Environment::Production && !self.auth.require_auth {
            return err(
                "env = production needs auth: set auth.require_auth = true (WAVECAST_REQUIRE_AUTH=true) with API keys or a JWT key".into(),
            );
        }
        if self.auth.require_auth && !self.auth.has_credentials() {
            return err(
                "auth.require_auth is set but no credential is configured: set auth.api_keys, auth.keys, auth.jwt_secret, auth.jwt_public_key_file or auth.jwks_file".into(),
            );
        }
        if self.env == Environment::Production && self.http.api_key.is_empty() {
            return err(
                "env = production needs http.api_key (WAVECAST_HTTP_API_KEY) for the server API"
                    .into(),
            );
        }
        for room in &self.streams.rooms {
            if crate::protocol::channel::validate_channel(&room.channel).is_err() {
                return err(format!(
                    "streams.rooms: {:?} is not a valid channel",
                    room.channel
                ));
            }
            if let Err(e) = crate::streams::params::features(room.params.clone(), usize::MAX) {
                return err(format!("streams.rooms {}: {e}", room.channel));
            }
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
        let redact = |s: &mut String| {
            if !s.is_empty() {
                *s = "[redacted]".into();
            }
        };
        redact(&mut c.http.api_key);
        redact(&mut c.auth.jwt_secret);
        // redis://user:password@host → keep the host, hide the credentials.
        if let Some((scheme, rest)) = c.redis_url.split_once("://") {
            if let Some((_, host)) = rest.rsplit_once('@') {
                c.redis_url = format!("{scheme}://[redacted]@{host}");
            }
        }
        c.auth.api_keys.iter_mut().for_each(redact);
        c.auth.keys.values_mut().for_each(redact);
        c
    }
}

/// `WAVECAST_*` names with a meaning of their own, read by [`env_aliases`]
/// instead of the generic mapping.
const ALIAS_IGNORE: [&str; 16] = [
    // Read by the command line, not the server.
    "config",
    "server",
    "env",
    "require_auth",
    "api_keys",
    "require_signature",
    "jwt_secret",
    "jwt_public_key_file",
    "jwks_file",
    "jwt_audience",
    "jwt_issuer",
    "allowed_origins",
    "max_connections_per_user",
    "max_message_rate",
    "max_message_size",
    "max_subscriptions",
];

/// The environment variables operators rely on (and the source documents'
/// names), mapped onto the configuration. `get` reads one variable.
pub fn env_aliases(get: impl Fn(&str) -> Option<String>) -> Result<serde_json::Value, ConfigError> {
    use serde_json::{json, Map, Value};
    let mut root = Map::new();
    let mut set = |path: &str, v: Value| match path.split_once('.') {
        None => {
            root.insert(path.to_string(), v);
        }
        Some((table, key)) => {
            if let Value::Object(m) = root.entry(table.to_string()).or_insert_with(|| json!({})) {
                m.insert(key.to_string(), v);
            }
        }
    };
    let list = |s: &str| -> Value {
        Value::from(
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    };
    let boolean = |name: &str, s: &str| -> Result<Value, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Value::from(true)),
            "0" | "false" | "no" | "off" | "" => Ok(Value::from(false)),
            _ => Err(ConfigError(format!(
                "{name}={s:?} is not a boolean (true/false)"
            ))),
        }
    };
    let number = |name: &str, s: &str| -> Result<Value, ConfigError> {
        s.trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| ConfigError(format!("{name}={s:?} is not a whole number")))
    };
    // Lowest precedence first: the documents' names, then ours.
    // Hosting platforms set ENVIRONMENT to many spellings: known ones are
    // mapped, unknown ones ignored. WAVECAST_ENV itself is strict.
    for name in ["MFN_ENV", "ENVIRONMENT"] {
        if let Some(v) = get(name) {
            let env = match v.trim().to_ascii_lowercase().as_str() {
                "dev" | "development" | "local" => Some("dev"),
                "staging" | "stage" => Some("staging"),
                "prod" | "production" => Some("production"),
                _ => None,
            };
            if let Some(e) = env {
                set("env", Value::from(e));
            }
        }
    }
    if let Some(v) = get("WAVECAST_ENV") {
        set("env", Value::from(v.trim().to_ascii_lowercase()));
    }
    if let Some(v) = get("MFN_API_KEY") {
        set("auth.api_keys", list(&v));
    }
    for name in ["MFN_API_KEYS", "WAVECAST_API_KEYS"] {
        if let Some(v) = get(name) {
            set("auth.api_keys", list(&v));
        }
    }
    for name in ["MFN_API_KEY_REQUIRED", "WAVECAST_REQUIRE_AUTH"] {
        if let Some(v) = get(name) {
            set("auth.require_auth", boolean(name, &v)?);
        }
    }
    for name in [
        "WEBSOCKET_ALLOWED_ORIGINS",
        "MFN_CORS_ORIGINS",
        "WAVECAST_ALLOWED_ORIGINS",
    ] {
        if let Some(v) = get(name) {
            set("origins.allowed", list(&v));
        }
    }
    let strings = [
        ("WAVECAST_JWT_SECRET", "auth.jwt_secret"),
        ("WAVECAST_JWT_PUBLIC_KEY_FILE", "auth.jwt_public_key_file"),
        ("WAVECAST_JWKS_FILE", "auth.jwks_file"),
        ("WAVECAST_JWT_AUDIENCE", "auth.jwt_audience"),
        ("WAVECAST_JWT_ISSUER", "auth.jwt_issuer"),
    ];
    for (name, path) in strings {
        if let Some(v) = get(name) {
            set(path, Value::from(v));
        }
    }
    if let Some(v) = get("WAVECAST_REQUIRE_SIGNATURE") {
        set(
            "auth.require_signature",
            boolean("WAVECAST_REQUIRE_SIGNATURE", &v)?,
        );
    }
    let numbers = [
        (
            "WAVECAST_MAX_CONNECTIONS_PER_USER",
            "limits.max_connections_per_user",
        ),
        ("WAVECAST_MAX_MESSAGE_RATE", "limits.max_message_rate"),
        ("WAVECAST_MAX_MESSAGE_SIZE", "limits.max_message_size"),
        ("WAVECAST_MAX_SUBSCRIPTIONS", "limits.max_subscriptions"),
    ];
    for (name, path) in numbers {
        if let Some(v) = get(name) {
            set(path, number(name, &v)?);
        }
    }
    Ok(Value::Object(root))
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
    fn operator_env_names() {
        let env: std::collections::HashMap<&str, &str> = [
            ("MFN_API_KEY", "old"),
            ("WAVECAST_API_KEYS", "a, b"),
            ("WAVECAST_REQUIRE_AUTH", "true"),
            ("ENVIRONMENT", "staging"),
            (
                "WAVECAST_ALLOWED_ORIGINS",
                "https://*.example.com,http://localhost:3000",
            ),
            ("WAVECAST_MAX_SUBSCRIPTIONS", "100"),
            ("WAVECAST_JWT_AUDIENCE", "wavecast"),
        ]
        .into_iter()
        .collect();
        let v = env_aliases(|k| env.get(k).map(|s| s.to_string())).unwrap();
        let c = Config::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Serialized::defaults(v)),
        )
        .unwrap();
        assert_eq!(c.auth.api_keys, ["a", "b"]);
        assert!(c.auth.require_auth);
        assert_eq!(c.env, Environment::Staging);
        assert_eq!(c.origins.allowed.len(), 2);
        assert_eq!(c.limits.max_subscriptions, 100);
        assert_eq!(c.auth.jwt_audience, "wavecast");
        assert!(env_aliases(|k| (k == "WAVECAST_REQUIRE_AUTH").then(|| "maybe".into())).is_err());
    }

    #[test]
    fn production_refuses_to_start_without_auth() {
        let e = Config::from_toml_str("env = \"production\"").unwrap_err();
        assert!(e.0.contains("require_auth"), "{e}");
        let e = Config::from_toml_str("[auth]\nrequire_auth = true").unwrap_err();
        assert!(e.0.contains("no credential"), "{e}");
    }

    #[test]
    fn redacts_secrets() {
        let mut c = Config::default();
        c.http.api_key = "s3cret".into();
        c.auth.jwt_secret = "s3cret".into();
        c.auth.api_keys = vec!["s3cret".into()];
        c.auth.keys.insert("id".into(), "s3cret".into());
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        assert!(!shown.contains("s3cret"));
    }
}
