//! Values that parse but cannot work: zero timeouts, a timeout shorter
//! than its interval, a malformed `redis_url`, production without auth,
//! a room whose model parameters are out of range, …
//!
//! Invariants: the rules run in a fixed order and the first failure is
//! reported, on the key to change (`Invalid::path`); checking reads
//! nothing but the configuration (no files, no network).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use wavecast_sim::SimConfig;

use super::choices::Environment;
use super::duration::{format_duration, Fsync};
use super::error::ConfigError;
use super::humanize::{problem, Problem};
use super::redis_url::RedisUrl;
use super::suggest::closest;
use super::tree::Tree;
use super::types::{Config, PublishedSimulation, DEMO_AGENT};

/// A rule that failed: the key and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub path: Vec<String>,
    pub message: String,
}

fn bad<T>(path: &[&str], message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        path: path.iter().map(|s| s.to_string()).collect(),
        message: message.into(),
    })
}

impl Config {
    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(self).map_err(|i| {
            let tree = match serde_json::to_value(self) {
                Ok(Value::Object(m)) => Tree::new(m),
                _ => Tree::new(serde_json::Map::new()),
            };
            ConfigError(tree.explain(&i.path, &i.message))
        })
    }
}

/// Every rule, in order.
pub(crate) fn check(c: &Config) -> Result<(), Invalid> {
    timing(c)?;
    storage(c)?;
    limits(c)?;
    auth(c)?;
    streams(c)?;
    endpoints(c)?;
    agents(c)?;
    c.monitoring
        .check()
        .map_err(|(path, message)| Invalid { path, message })?;
    namespaces(c)
}

/// Paths the HTTP API uses; an endpoint cannot take one.
const RESERVED_PATHS: &[&str] = &[
    "/",
    "/metrics",
    "/health",
    "/ready",
    "/ws/config",
    "/app.js",
    "/app.css",
    "/index.html",
];

fn endpoints(c: &Config) -> Result<(), Invalid> {
    let mut seen = BTreeSet::new();
    for (i, e) in c.endpoints.iter().enumerate() {
        let index = i.to_string();
        let at = |key: &'static str| -> Vec<&str> { vec!["endpoints", "", key] };
        let path = {
            let mut p = at("path");
            p[1] = index.as_str();
            p
        };
        let valid = e.path.starts_with('/')
            && e.path.len() > 1
            && e.path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'));
        if !valid {
            return bad(
                &path,
                "must be a path like /ws: a slash, then letters, digits and / _ - .",
            );
        }
        if RESERVED_PATHS.contains(&e.path.as_str())
            || e.path.starts_with("/api/") && e.path != "/api/ws/connect"
        {
            return bad(&path, "is a path of the HTTP API; choose another");
        }
        if !seen.insert(e.path.as_str()) {
            return bad(&path, "is used by another endpoint");
        }
    }
    let bits = c.compression.server_max_window_bits;
    if !(9..=15).contains(&bits) {
        return bad(
            &["compression", "server_max_window_bits"],
            "must be from 9 to 15",
        );
    }
    tls(c)
}

/// Both TLS files or neither.
fn tls(c: &Config) -> Result<(), Invalid> {
    match (c.tls.cert_file.is_empty(), c.tls.key_file.is_empty()) {
        (false, true) => bad(&["tls", "key_file"], "is required with tls.cert_file"),
        (true, false) => bad(&["tls", "cert_file"], "is required with tls.key_file"),
        _ if c.tls.enabled() && c.tls.reload_interval.is_zero() => {
            bad(&["tls", "reload_interval"], "must be above zero")
        }
        _ => Ok(()),
    }
}

fn timing(c: &Config) -> Result<(), Invalid> {
    let above_zero: [(&[&str], Duration); 6] = [
        (&["heartbeat_interval"], c.heartbeat_interval),
        (&["http", "body_timeout"], c.http.body_timeout),
        (&["limits", "handshake_timeout"], c.limits.handshake_timeout),
        (&["auth", "auth_timeout"], c.auth.auth_timeout),
        (&["auth", "signature_window"], c.auth.signature_window),
        (&["auth", "connect_timeout"], c.auth.connect_timeout),
    ];
    for (path, d) in above_zero {
        if d.is_zero() {
            return bad(path, "must be above zero");
        }
    }
    if c.heartbeat_timeout <= c.heartbeat_interval {
        return bad(
            &["heartbeat_timeout"],
            format!(
                "must be longer than heartbeat_interval ({})",
                format_duration(c.heartbeat_interval)
            ),
        );
    }
    if c.fsync == Fsync::Every(Duration::ZERO) {
        return bad(
            &["fsync"],
            "use always to sync every write, or a duration above zero like 5ms",
        );
    }
    Ok(())
}

fn storage(c: &Config) -> Result<(), Invalid> {
    if let Err(e) = c.redis_url.parse::<RedisUrl>() {
        return bad(&["redis_url"], e);
    }
    if !c.redis_ca_file.is_empty() && !std::path::Path::new(&c.redis_ca_file).is_file() {
        return bad(
            &["redis_ca_file"],
            "no such file: give the PEM file of the CA that signed Redis's certificate",
        );
    }
    let p = &c.metrics_prefix;
    let name_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if !p.bytes().all(name_char) || p.starts_with(|ch: char| ch.is_ascii_digit()) {
        return bad(
            &["metrics_prefix"],
            "a Prometheus name: letters, digits and _, not starting with a digit (or empty for none)",
        );
    }
    if c.data_dir.as_os_str().is_empty() {
        return bad(
            &["data_dir"],
            "must not be empty (use . for the working directory)",
        );
    }
    let h = &c.history;
    for (key, v) in [
        ("memtable_bytes", h.memtable_bytes),
        ("cache_bytes", h.cache_bytes),
    ] {
        if v < super::types::MIB {
            return bad(&["history", key], "must be at least 1048576 (1 MiB)");
        }
    }
    Ok(())
}

fn limits(c: &Config) -> Result<(), Invalid> {
    let l = &c.limits;
    if l.max_message_size < 128 {
        return bad(&["limits", "max_message_size"], "must be at least 128");
    }
    if l.max_data_depth == 0 {
        return bad(&["limits", "max_data_depth"], "must be at least 1");
    }
    if l.max_connection_queue_bytes == 0 {
        return bad(
            &["limits", "max_connection_queue_bytes"],
            "must be at least 1",
        );
    }
    Ok(())
}

const CREDENTIALS: &str = "set auth.api_keys, auth.keys, auth.jwt_secret, auth.jwt_public_key_file or auth.jwks_file (e.g. WAVECAST_API_KEYS)";

fn auth(c: &Config) -> Result<(), Invalid> {
    let production = c.env == Environment::Production;
    if production && !c.auth.require_auth {
        return bad(
            &["auth", "require_auth"],
            "must be true when env = production",
        );
    }
    if c.auth.require_auth && !c.auth.has_credentials() {
        let why = if production {
            "is on (env = production requires it) but no credential is configured"
        } else {
            "is on but no credential is configured"
        };
        return bad(&["auth", "require_auth"], format!("{why}: {CREDENTIALS}"));
    }
    Ok(())
}

fn streams(c: &Config) -> Result<(), Invalid> {
    if !(0..=19).contains(&c.streams.worker_nice) {
        return bad(&["streams", "worker_nice"], "must be from 0 to 19");
    }
    if c.streams.workers > 256 {
        return bad(
            &["streams", "workers"],
            "must be at most 256 (0: one per core)",
        );
    }
    let mut channels = BTreeSet::new();
    for (i, room) in c.streams.rooms.iter().enumerate() {
        let at = format!("[{i}]");
        let path = |key: &str| -> Vec<String> {
            ["streams", "rooms", &at, key]
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let fail = |key: &str, message: String| {
            Err(Invalid {
                path: path(key),
                message,
            })
        };
        if let Err(e) = wavecast_protocol::channel::validate_channel(&room.channel) {
            return fail("channel", format!("not a valid channel name: {e}"));
        }
        if !channels.insert(room.channel.as_str()) {
            return fail(
                "channel",
                "another room already publishes into this channel".into(),
            );
        }
        if room.interval.is_zero() {
            return fail("interval", "must be above zero".into());
        }
        room_params(room).map_err(|(key, message)| {
            let mut p = path("params");
            p.push(key);
            Invalid { path: p, message }
        })?;
    }
    Ok(())
}

/// Checks a room's model parameters; the error names the parameter.
/// `update_interval_ms` and `steps_per_update` are a stream's options,
/// accepted and ignored here (a room steps once per `interval`).
fn room_params(room: &PublishedSimulation) -> Result<(), (String, String)> {
    let mut params = room.params.clone();
    params.remove("update_interval_ms");
    params.remove("steps_per_update");
    let sim: SimConfig = serde_path_to_error::deserialize(Value::Object(params)).map_err(|e| {
        let key = e.path().to_string();
        match problem(&e.into_inner().to_string()) {
            Problem::UnknownKey { key, expected } => {
                let hint = closest(&key, expected.iter().map(String::as_str))
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_default();
                (key, format!("no such model parameter{hint}"))
            }
            Problem::Missing(k) => (k, "is required".into()),
            Problem::Value(m) => (key, m),
        }
    })?;
    sim.validate().map_err(|e| {
        let field = e.field();
        let text = e.to_string();
        let text = text
            .strip_prefix(field)
            .map_or(text.as_str(), str::trim_start);
        (field.to_string(), text.to_string())
    })
}

fn agents(c: &Config) -> Result<(), Invalid> {
    let a = &c.agents;
    let url = a.upstream_url.as_str();
    if !url.is_empty() && url != DEMO_AGENT {
        if url.starts_with("https://") {
            return bad(
                &["agents", "upstream_url"],
                "https is not supported: wavecast calls the upstream over plain http (keep it on a private network, or behind a local TLS proxy)",
            );
        }
        let parsed = url.parse::<hyper::Uri>();
        let ok = parsed.as_ref().is_ok_and(|u| {
            u.scheme_str() == Some("http") && u.host().is_some_and(|h| !h.is_empty())
        });
        if !ok {
            return bad(
                &["agents", "upstream_url"],
                "use demo (the built-in agent), an http://host:port/path URL, or \"\" to turn agents off",
            );
        }
    }
    let above_zero: [(&str, Duration); 3] = [
        ("timeout", a.timeout),
        ("idle_timeout", a.idle_timeout),
        ("retry_backoff", a.retry_backoff),
    ];
    for (key, d) in above_zero {
        if d.is_zero() {
            return bad(&["agents", key], "must be above zero");
        }
    }
    if a.max_running == 0 {
        return bad(&["agents", "max_running"], "must be at least 1");
    }
    if a.max_event_bytes < 1024 {
        return bad(&["agents", "max_event_bytes"], "must be at least 1024");
    }
    Ok(())
}

fn namespaces(c: &Config) -> Result<(), Invalid> {
    for (name, ns) in &c.namespaces {
        let path = |key: &str| -> Vec<String> {
            let mut p = vec!["namespaces".to_string(), name.clone()];
            if !key.is_empty() {
                p.push(key.into());
            }
            p
        };
        let fail = |key: &str, message: &str| {
            Err(Invalid {
                path: path(key),
                message: message.into(),
            })
        };
        if name != "default" {
            if name.contains(':') {
                return fail(
                    "",
                    "a namespace name cannot contain : (a channel's namespace ends at its first :)",
                );
            }
            if wavecast_protocol::channel::validate_channel(name).is_err() {
                return fail(
                    "",
                    "not a valid namespace name: use letters, digits and - _ .",
                );
            }
        }
        if ns.max_queue_messages == 0 {
            return fail("max_queue_messages", "must be at least 1");
        }
        if ns.max_queue_bytes == 0 {
            return fail("max_queue_bytes", "must be at least 1");
        }
        if ns.sample_every < 2 {
            return fail("sample_every", "must be at least 2");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(edit: impl FnOnce(&mut Config)) -> String {
        let mut c = Config::default();
        edit(&mut c);
        c.validate().unwrap_err().0
    }

    #[test]
    fn the_default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn rules_name_the_key_and_value() {
        assert_eq!(
            error(|c| c.heartbeat_timeout = Duration::from_secs(30)),
            "heartbeat_timeout = \"30s\": must be longer than heartbeat_interval (30s)"
        );
        assert_eq!(
            error(|c| c.http.body_timeout = Duration::ZERO),
            "http.body_timeout = \"0s\": must be above zero"
        );
        assert_eq!(
            error(|c| c.limits.max_message_size = 100),
            "limits.max_message_size = 100: must be at least 128"
        );
        assert_eq!(
            error(|c| c.limits.max_data_depth = 0),
            "limits.max_data_depth = 0: must be at least 1"
        );
        assert_eq!(
            error(|c| c.metrics_prefix = "wave-cast".into()),
            "metrics_prefix = \"wave-cast\": a Prometheus name: letters, digits and _, not starting with a digit (or empty for none)"
        );
        assert_eq!(
            error(|c| c.redis_url = "redis://:hunter2@127.0.0.1".into()),
            "redis_url = \"redis://:[redacted]@127.0.0.1\": no port (Redis usually listens on 6379); write redis://[user:password@]host:port[/db], or rediss://… for TLS"
        );
        assert_eq!(
            error(|c| c.fsync = Fsync::Every(Duration::ZERO)),
            "fsync = \"0s\": use always to sync every write, or a duration above zero like 5ms"
        );
    }

    #[test]
    fn agent_rules() {
        assert_eq!(
            error(|c| c.agents.upstream_url = "https://agents.example.com/run".into()),
            "agents.upstream_url = \"https://agents.example.com/run\": https is not supported: wavecast calls the upstream over plain http (keep it on a private network, or behind a local TLS proxy)"
        );
        assert_eq!(
            error(|c| c.agents.upstream_url = "dmeo".into()),
            "agents.upstream_url = \"dmeo\": use demo (the built-in agent), an http://host:port/path URL, or \"\" to turn agents off"
        );
        assert_eq!(
            error(|c| c.agents.idle_timeout = Duration::ZERO),
            "agents.idle_timeout = \"0s\": must be above zero"
        );
        assert_eq!(
            error(|c| c.agents.max_running = 0),
            "agents.max_running = 0: must be at least 1"
        );
        assert_eq!(
            error(|c| c.streams.worker_nice = 20),
            "streams.worker_nice = 20: must be from 0 to 19"
        );
        assert_eq!(
            error(|c| c.streams.workers = 1000),
            "streams.workers = 1000: must be at most 256 (0: one per core)"
        );
        for url in [
            "",
            "demo",
            "http://127.0.0.1:9000/agent",
            "http://agents:80",
        ] {
            let mut c = Config::default();
            c.agents.upstream_url = url.into();
            assert_eq!(c.validate(), Ok(()), "{url}");
        }
    }

    #[test]
    fn auth_rules() {
        assert_eq!(
            error(|c| c.env = Environment::Production),
            "auth.require_auth = false: must be true when env = production"
        );
        assert_eq!(
            error(|c| c.auth.require_auth = true),
            format!(
                "auth.require_auth = true: is on but no credential is configured: {CREDENTIALS}"
            )
        );
        let mut c = Config {
            env: Environment::Production,
            ..Config::default()
        };
        c.auth.require_auth = true;
        c.auth.api_keys = vec!["k".into()];
        assert_eq!(
            c.validate(),
            Ok(()),
            "production without http.api_key is fine"
        );
        assert!(Config::default().metrics_prefix.len() > 1);
        c.metrics_prefix = String::new();
        assert_eq!(c.validate(), Ok(()), "an empty metrics prefix means none");
    }

    #[test]
    fn engine_memory_rules() {
        assert_eq!(
            error(|c| c.history.memtable_bytes = 4096),
            "history.memtable_bytes = 4096: must be at least 1048576 (1 MiB)"
        );
        assert_eq!(
            error(|c| c.history.cache_bytes = 0),
            "history.cache_bytes = 0: must be at least 1048576 (1 MiB)"
        );
    }

    #[test]
    fn namespace_rules() {
        let with = |name: &str, edit: fn(&mut super::super::types::NamespaceConfig)| {
            error(|c| {
                let mut ns = c.namespace("default").clone();
                edit(&mut ns);
                c.namespaces.insert(name.into(), ns);
            })
        };
        assert_eq!(
            with("chat", |n| n.sample_every = 1),
            "namespaces.chat.sample_every = 1: must be at least 2"
        );
        assert_eq!(
            with("chat", |n| n.max_queue_bytes = 0),
            "namespaces.chat.max_queue_bytes = 0: must be at least 1"
        );
        assert_eq!(
            with("a:b", |_| {}),
            "namespaces.a:b: a namespace name cannot contain : (a channel's namespace ends at its first :)"
        );
        assert_eq!(
            with("a b", |_| {}),
            "namespaces.a b: not a valid namespace name: use letters, digits and - _ ."
        );
    }

    #[test]
    fn stream_options_in_room_params_are_ignored() {
        let mut c = Config::default();
        let mut r = PublishedSimulation::on("mfn:features");
        r.params.insert("update_interval_ms".into(), 100.into());
        r.params.insert("steps_per_update".into(), 2.into());
        c.streams.rooms.push(r);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn room_rules() {
        let room = |params: serde_json::Value| {
            error(move |c| {
                let mut r = PublishedSimulation::on("mfn:features");
                if let Value::Object(m) = params {
                    r.params = m;
                }
                c.streams.rooms.push(r);
            })
        };
        assert_eq!(
            room(serde_json::json!({"gridsize": 32})),
            "streams.rooms[0].params.gridsize = 32: no such model parameter; did you mean grid_size?"
        );
        assert_eq!(
            room(serde_json::json!({"grid_size": "big"})),
            "streams.rooms[0].params.grid_size = \"big\": expected a whole number (0 or more)"
        );
        assert!(room(serde_json::json!({"grid_size": 100000}))
            .starts_with("streams.rooms[0].params.grid_size = 100000: must be in"),);
        assert_eq!(
            error(|c| {
                c.streams.rooms.push(PublishedSimulation::on("a"));
                c.streams.rooms.push(PublishedSimulation::on("a"));
            }),
            "streams.rooms[1].channel = \"a\": another room already publishes into this channel"
        );
        assert_eq!(
            error(|c| {
                let mut r = PublishedSimulation::on("a");
                r.interval = Duration::ZERO;
                c.streams.rooms.push(r);
            }),
            "streams.rooms[0].interval = \"0s\": must be above zero"
        );
    }
}
