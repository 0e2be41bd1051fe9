//! Reading the sources into a [`Config`]: built-in defaults, the TOML
//! file, the seed systems' variables, then `WAVECAST_*` variables (the
//! command-line flags are applied by the binary afterwards).
//!
//! Invariants: a file is strict (an unknown key is an error) while an
//! unknown variable is a warning; every error names the key as written
//! in TOML and where its value came from (the file or the variable),
//! shows the value (secrets hidden) and says what is allowed; with
//! `env = "production"`, `auth.require_auth` defaults to true and
//! `agents.upstream_url` to empty.

use std::path::Path;

use figment::providers::{Format, Toml};
use serde_json::{Map, Value};

use super::choices::Environment;
use super::env::{self, EnvVars};
use super::error::{ConfigError, ConfigWarning};
use super::humanize::{problem, Problem};
use super::schema::{self, display};
use super::suggest::closest;
use super::tree::{Origin, Tree};
use super::types::Config;
use super::validate::check;

/// A loaded configuration and what was ignored on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// For the caller to log, e.g. unknown `WAVECAST_*` variables.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Loads defaults, then `file` (if given), then the environment.
    /// Warnings are dropped: see [`Config::load_reporting`].
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_reporting(file).map(|l| l.config)
    }

    /// Like [`Config::load`], returning the warnings too.
    pub fn load_reporting(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        Self::load_from(file, &EnvVars::from_process())
    }

    /// Loads defaults, then `file` (if given), then the variables of `env`.
    pub fn load_from(file: Option<&Path>, env: &EnvVars) -> Result<Loaded, ConfigError> {
        let mut tree = defaults();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(match e.kind() {
                    std::io::ErrorKind::NotFound => format!("config file {shown} does not exist"),
                    _ => format!("cannot read config file {shown}: {e}"),
                })
            })?;
            merge_toml(&mut tree, &text, Origin::File(shown))?;
        }
        let from_env = env::read(env)?;
        for s in from_env.seed.iter().chain(&from_env.wavecast) {
            tree.set(&s.path, s.value.clone(), &Origin::Var(s.var.clone()));
        }
        let mut warnings = from_env.warnings;
        let config = finish(tree, &mut warnings)?;
        Ok(Loaded { config, warnings })
    }

    /// Parses a TOML string on top of the defaults (no environment).
    pub fn from_toml_str(toml: &str) -> Result<Config, ConfigError> {
        let mut tree = defaults();
        merge_toml(&mut tree, toml, Origin::Text)?;
        finish(tree, &mut Vec::new())
    }
}

fn defaults() -> Tree {
    match serde_json::to_value(Config::default()) {
        Ok(Value::Object(m)) => Tree::new(m),
        _ => Tree::new(Map::new()),
    }
}

/// Parses `text` as TOML, checks its keys and merges it into `tree`.
fn merge_toml(tree: &mut Tree, text: &str, origin: Origin) -> Result<(), ConfigError> {
    let fail = |m: String| ConfigError(format!("{}{m}", origin.prefix()));
    let value: Value = Toml::from_str(text).map_err(|e| fail(toml_error(&e.to_string())))?;
    let Value::Object(table) = value else {
        return Err(fail("not a TOML table".into()));
    };
    schema::check_keys(&table, &mut Vec::new()).map_err(fail)?;
    tree.merge(table, &origin);
    Ok(())
}

/// A TOML syntax error on one line: `invalid TOML at line 3, column 7:
/// invalid string` (the parser's quoted source lines and its list of
/// expected characters are left out).
fn toml_error(text: &str) -> String {
    let mut lines = text.lines();
    let place = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("TOML parse error at ")
        .to_string();
    // After the place come the quoted source lines (`  |`, `3 | …`), then
    // the explanation.
    let why = lines
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains('|'))
        .unwrap_or("syntax error");
    format!("invalid TOML at {place}: {}", why.replace('`', "\""))
}

/// Deserializes and checks the merged values.
fn finish(mut tree: Tree, warnings: &mut Vec<ConfigWarning>) -> Result<Config, ConfigError> {
    production_defaults(&mut tree);
    let mut cfg: Config = serde_path_to_error::deserialize(tree.value())
        .map_err(|e| ConfigError(describe(&tree, e)))?;
    cfg.namespaces.entry("default".into()).or_default();
    if cfg.env == Environment::Production && cfg.http.api_key.is_empty() {
        warnings.push(ConfigWarning(
            "http.api_key is not set: the server API (/api/…) answers loopback clients only".into(),
        ));
    }
    check(&cfg).map_err(|i| ConfigError(tree.explain(&i.path, &i.message)))?;
    Ok(cfg)
}

/// With `env = "production"`, `auth.require_auth` defaults to true and
/// `agents.upstream_url` to empty (no demo agent).
fn production_defaults(tree: &mut Tree) {
    let env = tree
        .get(&["env".to_string()])
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Environment>().ok());
    if env != Some(Environment::Production) {
        return;
    }
    let require_auth = ["auth".to_string(), "require_auth".to_string()];
    if *tree.origin(&require_auth) == Origin::Default {
        tree.set(&require_auth, Value::Bool(true), &Origin::Default);
    }
    let upstream = ["agents".to_string(), "upstream_url".to_string()];
    if *tree.origin(&upstream) == Origin::Default {
        tree.set(&upstream, Value::from(""), &Origin::Default);
    }
}

/// A deserialization error, for people.
fn describe(tree: &Tree, e: serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_path_to_error::Segment;
    let mut path: Vec<String> = e
        .path()
        .iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(format!("[{index}]")),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect();
    match problem(&e.into_inner().to_string()) {
        Problem::UnknownKey { key, expected } => {
            if path.last() != Some(&key) {
                path.push(key.clone());
            }
            let hint = closest(&key, expected.iter().map(String::as_str))
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            format!(
                "{}unknown key {}{hint}",
                tree.origin(&path).prefix(),
                display(&path)
            )
        }
        Problem::Missing(field) => {
            let origin = tree.origin(&path).prefix();
            path.push(field);
            format!("{origin}{} is required", display(&path))
        }
        Problem::Value(message) => tree.explain(&path, &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::config::{Backpressure, Fsync, LogFormat, LogLevel};

    fn vars(v: &[(&str, &str)]) -> EnvVars {
        v.iter().copied().collect()
    }

    fn with_env(v: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        Config::load_from(None, &vars(v))
    }

    fn toml_err(text: &str) -> String {
        Config::from_toml_str(text).unwrap_err().0
    }

    fn env_err(v: &[(&str, &str)]) -> String {
        with_env(v).unwrap_err().0
    }

    #[test]
    fn toml_namespaces_and_aliases() {
        let c = Config::from_toml_str(
            r#"
            heartbeat_interval = "1s"
            heartbeat_timeout = "3s"
            fsync = "always"
            [log]
            format = "text"
            level = "debug"
            [namespaces.mfn]
            backpressure = "compress"
            max_queue_messages = 10
            "#,
        )
        .unwrap();
        assert_eq!(c.namespace("mfn").backpressure, Backpressure::Sample);
        assert_eq!(c.namespace("mfn").max_queue_messages, 10);
        assert_eq!(c.namespace("mfn").history_size, 10_000, "built-in default");
        assert_eq!(c.namespace("other").backpressure, Backpressure::DropOldest);
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.fsync, Fsync::Always);
        assert_eq!(
            (c.log.format, c.log.level),
            (LogFormat::Text, LogLevel::Debug)
        );
    }

    #[test]
    fn file_errors_are_for_people() {
        assert_eq!(
            toml_err("heartbeat_intervall = \"1s\""),
            "unknown key heartbeat_intervall; did you mean heartbeat_interval?"
        );
        assert_eq!(
            toml_err("max_message_bytes = 65536"),
            "max_message_bytes was renamed to limits.max_message_size"
        );
        assert_eq!(
            toml_err("env = \"prodution\""),
            "env = \"prodution\": use dev, staging or production; did you mean \"production\"?"
        );
        assert_eq!(
            toml_err("port = 70000"),
            "port = 70000: expected a whole number from 0 to 65535"
        );
        assert_eq!(
            toml_err("[limits]\nmax_subscriptions = -1"),
            "limits.max_subscriptions = -1: expected a whole number (0 or more)"
        );
        assert_eq!(
            toml_err("[namespaces.chat]\nbackpressure = \"drop-newest\""),
            "namespaces.chat.backpressure = \"drop-newest\": use drop_oldest, drop_newest, sample or disconnect; did you mean \"drop_newest\"?"
        );
        assert_eq!(
            toml_err("heartbeat_timeout = \"soon\""),
            "heartbeat_timeout = \"soon\": invalid duration: write a number and a unit (ms, s, m, h or d), e.g. 250ms, 30s, 5m or 1h"
        );
        assert_eq!(
            toml_err("fsync = \"sometimes\""),
            "fsync = \"sometimes\": use always or a duration like 5ms"
        );
        assert_eq!(
            toml_err("[log]\nlevel = \"verbose\""),
            "log.level = \"verbose\": use error, warn, info, debug or trace"
        );
        assert_eq!(
            toml_err("bind = \"localhost\""),
            "bind = \"localhost\": expected an IP address such as 127.0.0.1, 0.0.0.0 or ::"
        );
        assert_eq!(
            toml_err("[[streams.rooms]]\ninterval = \"1s\""),
            "streams.rooms[0].channel is required"
        );
        assert_eq!(toml_err("limits = 5"), "limits = 5: expected a table");
        assert_eq!(
            toml_err("redis_url = \"redis://127.0.0.1\""),
            "redis_url = \"redis://127.0.0.1\": no port (Redis usually listens on 6379); write redis://[user:password@]host:port[/db], or rediss://… for TLS"
        );
        assert_eq!(
            toml_err("port = \n"),
            "invalid TOML at line 1, column 8: invalid string"
        );
        assert_eq!(
            toml_err("port = "),
            "invalid TOML at line 1, column 8: syntax error"
        );
        let e = toml_err("a = 1\na = 2");
        assert_eq!(
            e,
            "invalid TOML at line 2, column 1: duplicate key \"a\" in document root"
        );
    }

    #[test]
    fn errors_name_the_variable_and_never_the_profile() {
        assert_eq!(
            env_err(&[("WAVECAST_ENV", "prodution")]),
            "WAVECAST_ENV: env = \"prodution\": use dev, staging or production; did you mean \"production\"?"
        );
        assert_eq!(
            env_err(&[("WAVECAST_PORT", "eighty")]),
            "WAVECAST_PORT: port = \"eighty\": expected a whole number from 0 to 65535"
        );
        assert_eq!(
            env_err(&[("WAVECAST_REQUIRE_AUTH", "maybe")]),
            "WAVECAST_REQUIRE_AUTH: auth.require_auth = \"maybe\": expected true or false"
        );
        assert_eq!(
            env_err(&[("WAVECAST_HEARTBEAT_INTERVAL", "2m")]),
            "heartbeat_timeout = \"1m\": must be longer than heartbeat_interval (2m)"
        );
        assert_eq!(
            env_err(&[("WAVECAST_MAX_MESSAGE_SIZE", "100")]),
            "WAVECAST_MAX_MESSAGE_SIZE: limits.max_message_size = 100: must be at least 128"
        );
        assert_eq!(
            env_err(&[("WAVECAST_REDIS_URL", "redis://app:hunter2@cache")]),
            "WAVECAST_REDIS_URL: redis_url = \"redis://app:[redacted]@cache\": no port (Redis usually listens on 6379); write redis://[user:password@]host:port[/db], or rediss://… for TLS"
        );
        assert_eq!(
            toml_err("[namespaces.default]\nsample_every = \"x\""),
            "namespaces.default.sample_every = \"x\": expected a whole number (0 or more)"
        );
    }

    #[test]
    fn prod_is_production_now() {
        let l = with_env(&[("WAVECAST_ENV", "prod"), ("WAVECAST_API_KEYS", "k")]).unwrap();
        assert_eq!(l.config.env, Environment::Production);
        assert!(l.config.auth.require_auth, "the production default");
        assert_eq!(
            l.config.agents.upstream_url, "",
            "no demo agent in production"
        );
        let dev = with_env(&[]).unwrap();
        assert_eq!(dev.config.agents.upstream_url, "demo");
        let set = with_env(&[
            ("WAVECAST_ENV", "production"),
            ("WAVECAST_API_KEYS", "k"),
            ("WAVECAST_AGENTS__UPSTREAM_URL", "demo"),
        ])
        .unwrap();
        assert_eq!(set.config.agents.upstream_url, "demo", "asked for");
    }

    #[test]
    fn unknown_variables_warn_and_do_not_stop_the_server() {
        let l = with_env(&[("WAVECAST_PORTT", "1"), ("WAVECAST_PORT", "9001")]).unwrap();
        assert_eq!(l.config.port, 9001);
        assert_eq!(
            l.warnings,
            [ConfigWarning(
                "WAVECAST_PORTT is ignored: no such setting; did you mean WAVECAST_PORT?".into()
            )]
        );
    }

    #[test]
    fn precedence_wavecast_over_seed_over_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("wavecast-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("precedence.toml");
        std::fs::write(
            &file,
            "heartbeat_interval = \"5s\"\nheartbeat_timeout = \"2m\"\n[limits]\nmax_connections_per_user = 1\nmax_subscriptions = 7\n",
        )
        .unwrap();
        let load = |v: &[(&str, &str)]| Config::load_from(Some(&file), &vars(v)).unwrap().config;
        let c = load(&[]);
        assert_eq!(
            (c.heartbeat_interval, c.limits.max_connections_per_user),
            (Duration::from_secs(5), 1)
        );
        assert_eq!(c.limits.max_message_size, 10 * 1024, "default");
        let c = load(&[
            ("WEBSOCKET_HEARTBEAT_INTERVAL", "20000"),
            ("WEBSOCKET_MAX_CONNECTIONS_PER_USER", "2"),
        ]);
        assert_eq!(
            (c.heartbeat_interval, c.limits.max_connections_per_user),
            (Duration::from_secs(20), 2)
        );
        let c = load(&[
            ("WEBSOCKET_MAX_CONNECTIONS_PER_USER", "2"),
            ("WAVECAST_MAX_CONNECTIONS_PER_USER", "3"),
        ]);
        assert_eq!(c.limits.max_connections_per_user, 3);
        let c = load(&[
            ("WAVECAST_LIMITS__MAX_CONNECTIONS_PER_USER", "4"),
            ("WAVECAST_MAX_CONNECTIONS_PER_USER", "3"),
        ]);
        assert_eq!(c.limits.max_connections_per_user, 4);
        assert_eq!(c.limits.max_subscriptions, 7, "the file still applies");
        let e = Config::load_from(Some(&file), &vars(&[("WAVECAST_PORT", "x")])).unwrap_err();
        assert_eq!(
            e.0,
            "WAVECAST_PORT: port = \"x\": expected a whole number from 0 to 65535"
        );
        std::fs::write(&file, "[limits]\nmax_conections = 1\n").unwrap();
        let e = Config::load_from(Some(&file), &vars(&[])).unwrap_err();
        assert_eq!(
            e.0,
            format!(
                "{}: unknown key limits.max_conections; did you mean limits.max_connections?",
                file.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = Config::load_from(Some(Path::new("/nonexistent/w.toml")), &vars(&[]));
        assert_eq!(
            missing.unwrap_err().0,
            "config file /nonexistent/w.toml does not exist"
        );
    }

    #[test]
    fn mfn_production_starts_with_only_mfn_variables() {
        // The seed document's deployment block, and nothing else.
        let l = with_env(&[
            ("MFN_API_KEY_REQUIRED", "true"),
            ("MFN_API_KEY", "primary-key"),
            ("MFN_API_KEYS", "key1,key2,key3"),
            ("MFN_ENV", "production"),
            ("MFN_CORS_ORIGINS", "https://app.example.com"),
        ])
        .unwrap();
        let c = l.config;
        assert_eq!(c.env, Environment::Production);
        assert!(c.auth.require_auth);
        assert_eq!(c.auth.api_keys, ["primary-key", "key1", "key2", "key3"]);
        assert_eq!(c.origins.allowed, ["https://app.example.com"]);
        assert_eq!(
            l.warnings,
            [ConfigWarning(
                "http.api_key is not set: the server API (/api/…) answers loopback clients only"
                    .into()
            )]
        );
        // Without MFN_API_KEY_REQUIRED, production still requires auth.
        let c = with_env(&[("MFN_ENV", "production"), ("MFN_API_KEY", "k")])
            .unwrap()
            .config;
        assert!(c.auth.require_auth);
        assert_eq!(
            env_err(&[("MFN_ENV", "production")]),
            "auth.require_auth = true: is on (env = production requires it) but no credential is configured: set auth.api_keys, auth.keys, auth.jwt_secret, auth.jwt_public_key_file or auth.jwks_file (e.g. WAVECAST_API_KEYS)"
        );
        assert_eq!(
            env_err(&[("MFN_ENV", "production"), ("MFN_API_KEY_REQUIRED", "false")]),
            "MFN_API_KEY_REQUIRED: auth.require_auth = false: must be true when env = production"
        );
    }

    #[test]
    fn netra_variables() {
        let c = with_env(&[
            (
                "WEBSOCKET_ALLOWED_ORIGINS",
                "http://localhost:3000,https://app.example.com",
            ),
            ("ENVIRONMENT", "staging"),
            ("WEBSOCKET_MAX_CONNECTIONS_PER_USER", "5"),
            ("WEBSOCKET_MAX_MESSAGE_RATE", "60"),
            ("WEBSOCKET_HEARTBEAT_INTERVAL", "30000"),
            ("WEBSOCKET_ENABLE_CORS", "true"),
            ("WEBSOCKET_REQUIRE_AUTH", "true"),
            ("WAVECAST_JWT_SECRET", "s"),
        ])
        .unwrap()
        .config;
        assert_eq!(c.env, Environment::Staging);
        assert_eq!(c.origins.allowed.len(), 2);
        assert_eq!(c.limits.max_connections_per_user, 5);
        assert_eq!(
            (c.limits.max_message_rate_per_minute, c.limits.message_burst),
            (60, 60)
        );
        assert_eq!(c.limits.messages_per_minute(), 60);
        assert_eq!(c.heartbeat_interval, Duration::from_secs(30));
        assert!(c.auth.require_auth);
    }

    #[test]
    fn new_knobs_load_from_file_and_env() {
        let l = Config::load_from(
            None,
            &vars(&[
                ("WAVECAST_HISTORY__MAX_CHANNELS", "500"),
                ("WAVECAST_LIMITS__MAX_DATA_DEPTH", "8"),
                ("WAVECAST_LIMITS__MAX_CONNECTION_QUEUE_BYTES", "65536"),
                ("WAVECAST_HTTP__BODY_TIMEOUT", "3s"),
                ("WAVECAST_FSYNC", "always"),
                ("WAVECAST_LOG__FORMAT", "text"),
            ]),
        )
        .unwrap();
        let c = l.config;
        assert_eq!(c.history.max_channels, 500);
        assert_eq!(c.limits.max_data_depth, 8);
        assert_eq!(c.limits.max_connection_queue_bytes, 65536);
        assert_eq!(c.http.body_timeout, Duration::from_secs(3));
        assert_eq!(c.fsync_interval(), None);
        assert_eq!(c.log.format, LogFormat::Text);
        assert!(l.warnings.is_empty());
        assert_eq!(
            toml_err("[history]\nmax_channel = 1"),
            "unknown key history.max_channel; did you mean history.max_channels?"
        );
    }

    #[test]
    fn rooms_are_checked_at_load() {
        assert_eq!(
            toml_err("[[streams.rooms]]\nchannel = \"mfn:features\"\nparams = { gridsize = 32 }"),
            "streams.rooms[0].params.gridsize = 32: no such model parameter; did you mean grid_size?"
        );
        let c = Config::from_toml_str(
            "[[streams.rooms]]\nchannel = \"mfn:features\"\ninterval = \"50ms\"\nparams = { grid_size = 32 }",
        )
        .unwrap();
        assert_eq!(c.streams.rooms[0].interval, Duration::from_millis(50));
    }
}
