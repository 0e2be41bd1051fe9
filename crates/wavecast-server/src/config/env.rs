//! Environment variables: one nested rule for every key, the names kept
//! from earlier versions, and the seed systems' names.
//!
//! The rule: `WAVECAST_` + the key path in capitals, with `__` (double
//! underscore) between levels: `WAVECAST_PORT`, `WAVECAST_LIMITS__MAX_CONNECTIONS`,
//! `WAVECAST_NAMESPACES__CHAT__PUBLISH`. Older `WAVECAST_` names
//! (`WAVECAST_API_KEYS`, `WAVECAST_HTTP_API_KEY`, `WAVECAST_LOG_LEVEL`, …)
//! still work; the nested name wins over them. The seed systems' names
//! (`MFN_*`, `WEBSOCKET_*`, `ENVIRONMENT`) rank below every `WAVECAST_`
//! name and above the file.
//!
//! Invariants: an unknown or unusable `WAVECAST_` variable never stops
//! the server: it becomes a warning and is ignored; a known variable's
//! value is typed by the key it sets (numbers, booleans, comma-separated
//! lists, text) and a bad value is an error, reported by the loader with
//! the variable's name; warnings never show a value, as any may be a
//! secret.

use std::collections::BTreeMap;

use serde_json::Value;

use super::choices::Environment;
use super::error::{ConfigError, ConfigWarning};
use super::schema::{self, Slot};
use super::suggest::closest;

/// A snapshot of the environment.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    vars: BTreeMap<String, String>,
    /// Names of variables we read whose value is not UTF-8.
    unreadable: Vec<String>,
}

impl EnvVars {
    /// The process environment.
    pub fn from_process() -> EnvVars {
        let mut env = EnvVars::default();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            match v.into_string() {
                Ok(v) => {
                    env.vars.insert(k, v);
                }
                Err(_) if is_ours(&k) => env.unreadable.push(k),
                Err(_) => {}
            }
        }
        env
    }

    /// One variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EnvVars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> EnvVars {
        EnvVars {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            unreadable: Vec::new(),
        }
    }
}

const PREFIX: &str = "WAVECAST_";

/// Read by the command line, not the server.
const CLI_ONLY: [&str; 2] = ["WAVECAST_CONFIG", "WAVECAST_SERVER"];

/// `WAVECAST_` names from before the nested rule.
const WAVECAST_ALIASES: [(&str, &[&str]); 13] = [
    ("WAVECAST_API_KEYS", &["auth", "api_keys"]),
    ("WAVECAST_REQUIRE_AUTH", &["auth", "require_auth"]),
    ("WAVECAST_REQUIRE_SIGNATURE", &["auth", "require_signature"]),
    ("WAVECAST_JWT_SECRET", &["auth", "jwt_secret"]),
    (
        "WAVECAST_JWT_PUBLIC_KEY_FILE",
        &["auth", "jwt_public_key_file"],
    ),
    ("WAVECAST_JWKS_FILE", &["auth", "jwks_file"]),
    ("WAVECAST_JWT_AUDIENCE", &["auth", "jwt_audience"]),
    ("WAVECAST_JWT_ISSUER", &["auth", "jwt_issuer"]),
    ("WAVECAST_ALLOWED_ORIGINS", &["origins", "allowed"]),
    (
        "WAVECAST_MAX_CONNECTIONS_PER_USER",
        &["limits", "max_connections_per_user"],
    ),
    ("WAVECAST_MAX_MESSAGE_RATE", &["limits", "max_message_rate"]),
    ("WAVECAST_MAX_MESSAGE_SIZE", &["limits", "max_message_size"]),
    (
        "WAVECAST_MAX_SUBSCRIPTIONS",
        &["limits", "max_subscriptions"],
    ),
];

/// The seed systems' names, read by [`seed_settings`].
const SEED_NAMES: [&str; 12] = [
    "MFN_ENV",
    "ENVIRONMENT",
    "MFN_API_KEY",
    "MFN_API_KEYS",
    "MFN_API_KEY_REQUIRED",
    "MFN_CORS_ORIGINS",
    "WEBSOCKET_ALLOWED_ORIGINS",
    "WEBSOCKET_REQUIRE_AUTH",
    "WEBSOCKET_MAX_CONNECTIONS_PER_USER",
    "WEBSOCKET_MAX_MESSAGE_RATE",
    "WEBSOCKET_HEARTBEAT_INTERVAL",
    "WEBSOCKET_ENABLE_CORS",
];

fn is_ours(name: &str) -> bool {
    name.starts_with(PREFIX) || SEED_NAMES.contains(&name)
}

/// One value set by one variable (or a few, for a merged list).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setting {
    pub path: Vec<String>,
    pub value: Value,
    pub var: String,
}

/// What the environment sets, in order of precedence (lowest first
/// within each list).
#[derive(Debug, Default)]
pub(crate) struct FromEnv {
    /// The seed systems' variables.
    pub seed: Vec<Setting>,
    /// `WAVECAST_` variables: older names first, nested names last.
    pub wavecast: Vec<Setting>,
    pub warnings: Vec<ConfigWarning>,
}

/// The `WAVECAST_` name of a key path.
pub(crate) fn var_name(path: &[String]) -> String {
    let parts: Vec<String> = path.iter().map(|s| s.to_ascii_uppercase()).collect();
    format!("{PREFIX}{}", parts.join("__"))
}

/// Reads every variable of `env`.
pub(crate) fn read(env: &EnvVars) -> Result<FromEnv, ConfigError> {
    let mut out = FromEnv::default();
    for name in &env.unreadable {
        out.warnings.push(ConfigWarning(format!(
            "{name} is ignored: its value is not valid UTF-8"
        )));
    }
    seed_settings(env, &mut out)?;
    let mut older = Vec::new();
    let mut nested = Vec::new();
    for (name, raw) in &env.vars {
        if !name.starts_with(PREFIX) || CLI_ONLY.contains(&name.as_str()) {
            continue;
        }
        let (path, is_older) = wavecast_path(name);
        match usable(name, &path) {
            Ok(slot) => {
                let s = Setting {
                    path,
                    value: typed(&slot, raw),
                    var: name.clone(),
                };
                if is_older {
                    older.push(s)
                } else {
                    nested.push(s)
                }
            }
            Err(w) => out.warnings.push(w),
        }
    }
    out.wavecast = older;
    out.wavecast.append(&mut nested);
    out.warnings.extend(conflicts(&out.seed, &out.wavecast));
    Ok(out)
}

/// The key path a `WAVECAST_` name sets, and whether it is an older name.
fn wavecast_path(name: &str) -> (Vec<String>, bool) {
    if let Some((_, path)) = WAVECAST_ALIASES.iter().find(|(n, _)| *n == name) {
        return (path.iter().map(|s| s.to_string()).collect(), true);
    }
    let rest = name[PREFIX.len()..].to_ascii_lowercase();
    if !rest.contains("__") {
        for table in ["http_", "log_"] {
            if let Some(key) = rest.strip_prefix(table) {
                return (vec![table.trim_end_matches('_').into(), key.into()], true);
            }
        }
    }
    (rest.split("__").map(String::from).collect(), false)
}

/// The slot `name` sets, or why it is ignored.
fn usable(name: &str, path: &[String]) -> Result<Slot, ConfigWarning> {
    let ignored = |why: String| ConfigWarning(format!("{name} is ignored: {why}"));
    if path.iter().any(String::is_empty) {
        return Err(ignored("no such setting".into()));
    }
    let shown = schema::display(path);
    match schema::slot(path) {
        Some(s @ (Slot::Number | Slot::Bool | Slot::Text | Slot::Unset | Slot::List)) => Ok(s),
        Some(Slot::Tables | Slot::Free) => {
            Err(ignored(format!("{shown} can only be set in a config file")))
        }
        Some(Slot::Table(keys)) => Err(ignored(format!(
            "{shown} is a table; set one of its keys, e.g. {}",
            var_name(&[path, &[keys.first().cloned().unwrap_or_default()]].concat())
        ))),
        Some(Slot::Names) => Err(ignored(format!(
            "{shown} is a table; set one entry, e.g. {}__NAME…",
            var_name(path)
        ))),
        None => Err(ignored(unknown_var(name, path))),
    }
}

/// Why `name` (for `path`) is no setting, with the likely intended name.
fn unknown_var(name: &str, path: &[String]) -> String {
    if let Some((text, new)) = schema::renamed(path) {
        return format!("{text} ({})", var_name(&new));
    }
    let mut candidates: Vec<String> = schema::leaf_paths().iter().map(|p| var_name(p)).collect();
    candidates.extend(WAVECAST_ALIASES.iter().map(|(n, _)| n.to_string()));
    if path.len() == 3 && path[0] == "namespaces" {
        for key in schema::namespace_keys() {
            candidates.push(var_name(&[path[0].clone(), path[1].clone(), key]));
        }
    }
    let rest = |n: &str| n.get(PREFIX.len()..).unwrap_or_default().to_string();
    let rests: Vec<String> = candidates.iter().map(|c| rest(c)).collect();
    match closest(&rest(name), rests.iter().map(String::as_str)) {
        Some(s) => format!("no such setting; did you mean {PREFIX}{s}?"),
        None => "no such setting".into(),
    }
}

/// `raw` as a value of the kind `slot` holds; text that does not fit is
/// kept as text, for the loader to refuse with the variable's name.
fn typed(slot: &Slot, raw: &str) -> Value {
    match slot {
        Slot::Number => number(raw).unwrap_or_else(|| Value::from(raw)),
        Slot::Bool => boolean(raw).map_or_else(|| Value::from(raw), Value::from),
        Slot::List => list(raw),
        // Unset by default: empty leaves it unset; else a switch, a number
        // or text, whichever the value reads as.
        Slot::Unset if raw.trim().is_empty() => Value::Null,
        Slot::Unset => boolean(raw)
            .map(Value::from)
            .or_else(|| number(raw))
            .unwrap_or_else(|| Value::from(raw)),
        _ => Value::from(raw),
    }
}

fn number(raw: &str) -> Option<Value> {
    let t = raw.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Some(n.into());
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(n.into());
    }
    t.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

/// `1`/`true`/`yes`/`on` and `0`/`false`/`no`/`off`/empty, any case.
fn boolean(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// A comma-separated list (brackets and quotes around items allowed);
/// items are trimmed and empty ones dropped.
fn list(raw: &str) -> Value {
    let t = raw.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    let items: Vec<String> = t
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').trim())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    Value::from(items)
}

/// One warning per key set by several variables with different values.
fn conflicts(seed: &[Setting], wavecast: &[Setting]) -> Vec<ConfigWarning> {
    let mut by_path: BTreeMap<&[String], Vec<&Setting>> = BTreeMap::new();
    for s in seed.iter().chain(wavecast) {
        by_path.entry(&s.path).or_default().push(s);
    }
    let mut out = Vec::new();
    for (path, settings) in by_path {
        let Some(winner) = settings.last() else {
            continue;
        };
        let losers: Vec<&str> = settings
            .iter()
            .filter(|s| s.value != winner.value)
            .map(|s| s.var.as_str())
            .collect();
        if !losers.is_empty() {
            out.push(ConfigWarning(format!(
                "{} and {} set {} differently; {} wins",
                losers.join(", "),
                winner.var,
                schema::display(path),
                winner.var
            )));
        }
    }
    out
}

fn path(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|s| s.to_string()).collect()
}

/// The seed systems' variables, lowest precedence first.
fn seed_settings(env: &EnvVars, out: &mut FromEnv) -> Result<(), ConfigError> {
    let mut push = |keys: &[&str], value: Value, var: &str| {
        out.seed.push(Setting {
            path: path(keys),
            value,
            var: var.into(),
        });
    };
    for name in ["MFN_ENV", "ENVIRONMENT"] {
        let Some(v) = env.get(name) else { continue };
        match v.parse::<Environment>() {
            Ok(e) => push(&["env"], e.as_str().into(), name),
            Err(_) if v.trim().is_empty() => {}
            Err(_) => out.warnings.push(ConfigWarning(format!(
                "{name} is ignored: it is not dev, staging or production (or development, local, stage, prod)"
            ))),
        }
    }
    // MFN's primary key and its list are both valid keys.
    let keys: Vec<(&str, &str)> = ["MFN_API_KEY", "MFN_API_KEYS"]
        .into_iter()
        .filter_map(|n| env.get(n).map(|v| (n, v)))
        .collect();
    if !keys.is_empty() {
        let mut all: Vec<Value> = Vec::new();
        for (_, v) in &keys {
            if let Value::Array(items) = list(v) {
                for item in items {
                    if !all.contains(&item) {
                        all.push(item);
                    }
                }
            }
        }
        let names: Vec<&str> = keys.iter().map(|(n, _)| *n).collect();
        push(
            &["auth", "api_keys"],
            Value::Array(all),
            &names.join(" and "),
        );
    }
    let simple: [(&str, &[&str], Slot); 5] = [
        (
            "MFN_API_KEY_REQUIRED",
            &["auth", "require_auth"],
            Slot::Bool,
        ),
        (
            "WEBSOCKET_REQUIRE_AUTH",
            &["auth", "require_auth"],
            Slot::Bool,
        ),
        (
            "WEBSOCKET_ALLOWED_ORIGINS",
            &["origins", "allowed"],
            Slot::List,
        ),
        ("MFN_CORS_ORIGINS", &["origins", "allowed"], Slot::List),
        (
            "WEBSOCKET_MAX_CONNECTIONS_PER_USER",
            &["limits", "max_connections_per_user"],
            Slot::Number,
        ),
    ];
    for (name, keys, slot) in simple {
        if let Some(v) = env.get(name) {
            push(keys, typed(&slot, v), name);
        }
    }
    netra_units(env, &mut push)?;
    if let Some(v) = env.get("WEBSOCKET_ENABLE_CORS") {
        if boolean(v) != Some(true) {
            out.warnings.push(ConfigWarning(
                "WEBSOCKET_ENABLE_CORS is ignored: wavecast always checks origins; to allow every origin set origins.allowed = [\"*\"] (WAVECAST_ALLOWED_ORIGINS=*)".into(),
            ));
        }
    }
    Ok(())
}

/// Netra's rate (messages per minute) and heartbeat (milliseconds),
/// converted to wavecast's units.
fn netra_units(
    env: &EnvVars,
    push: &mut impl FnMut(&[&str], Value, &str),
) -> Result<(), ConfigError> {
    const RATE: &str = "WEBSOCKET_MAX_MESSAGE_RATE";
    if let Some(v) = env.get(RATE) {
        let per_minute: u32 = v.trim().parse().map_err(|_| {
            ConfigError(format!(
                "{RATE}: limits.max_message_rate = {v:?}: expected a whole number of messages per minute"
            ))
        })?;
        if per_minute == 0 {
            push(&["limits", "max_message_rate"], 0.into(), RATE);
        } else {
            // Exactly per minute (90 a minute is 1.5 a second), with Netra's
            // one-minute window as the burst.
            push(
                &["limits", "max_message_rate_per_minute"],
                per_minute.into(),
                RATE,
            );
            push(&["limits", "message_burst"], per_minute.into(), RATE);
        }
    }
    const HEARTBEAT: &str = "WEBSOCKET_HEARTBEAT_INTERVAL";
    if let Some(v) = env.get(HEARTBEAT) {
        let value = match v.trim().parse::<u64>() {
            Ok(ms) => format!("{ms}ms"),
            Err(_) => v.to_string(),
        };
        push(&["heartbeat_interval"], value.into(), HEARTBEAT);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(vars: &[(&str, &str)]) -> FromEnv {
        read(&vars.iter().copied().collect()).unwrap()
    }

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    fn set(settings: &[Setting]) -> Vec<(String, Value)> {
        settings
            .iter()
            .map(|s| (schema::display(&s.path), s.value.clone()))
            .collect()
    }

    #[test]
    fn the_nested_rule_types_values_by_key() {
        let e = env(&[
            ("WAVECAST_PORT", "9000"),
            ("WAVECAST_LIMITS__MAX_CONNECTIONS", "50"),
            ("WAVECAST_ORIGINS__ALLOW_MISSING", "off"),
            (
                "WAVECAST_ORIGINS__ALLOWED",
                "https://a.example, http://localhost:3000",
            ),
            ("WAVECAST_NAMESPACES__CHAT__PUBLISH", "authenticated"),
            ("WAVECAST_AUTH__KEYS__MOBILE", "s3cret"),
            ("WAVECAST_HEARTBEAT_INTERVAL", "10"),
            ("WAVECAST_BIND", "0.0.0.0"),
            ("WAVECAST_CONFIG", "/etc/w.toml"),
        ]);
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
        let got = set(&e.wavecast);
        for want in [
            ("port", json!(9000)),
            ("limits.max_connections", json!(50)),
            ("origins.allow_missing", json!(false)),
            (
                "origins.allowed",
                json!(["https://a.example", "http://localhost:3000"]),
            ),
            ("namespaces.chat.publish", json!("authenticated")),
            ("auth.keys.mobile", json!("s3cret")),
            ("heartbeat_interval", json!("10")),
            ("bind", json!("0.0.0.0")),
        ] {
            assert!(
                got.contains(&(want.0.to_string(), want.1.clone())),
                "{want:?} in {got:?}"
            );
        }
        assert_eq!(got.len(), 8);
    }

    #[test]
    fn unusable_wavecast_variables_are_warnings() {
        let e = env(&[
            ("WAVECAST_HEARTBEAT_INTERVALL", "1s"),
            ("WAVECAST_LIMITS_MAX_CONNECTIONS", "5"),
            ("WAVECAST_MAX_MESSAGE_BYTES", "100"),
            ("WAVECAST_LIMITS", "5"),
            ("WAVECAST_STREAMS__ROOMS", "x"),
            ("WAVECAST_NAMESPACES__CHAT__PUBLISHH", "public"),
            ("WAVECAST_WHATEVER", "1"),
        ]);
        assert!(e.wavecast.is_empty());
        let w: Vec<String> = e.warnings.iter().map(|w| w.0.clone()).collect();
        assert_eq!(
            w,
            [
                "WAVECAST_HEARTBEAT_INTERVALL is ignored: no such setting; did you mean WAVECAST_HEARTBEAT_INTERVAL?",
                "WAVECAST_LIMITS is ignored: limits is a table; set one of its keys, e.g. WAVECAST_LIMITS__CONNECTION_RATE_PER_IP",
                "WAVECAST_LIMITS_MAX_CONNECTIONS is ignored: no such setting; did you mean WAVECAST_LIMITS__MAX_CONNECTIONS?",
                "WAVECAST_MAX_MESSAGE_BYTES is ignored: max_message_bytes was renamed to limits.max_message_size (WAVECAST_LIMITS__MAX_MESSAGE_SIZE)",
                "WAVECAST_NAMESPACES__CHAT__PUBLISHH is ignored: no such setting; did you mean WAVECAST_NAMESPACES__CHAT__PUBLISH?",
                "WAVECAST_STREAMS__ROOMS is ignored: streams.rooms can only be set in a config file",
                "WAVECAST_WHATEVER is ignored: no such setting",
            ]
        );
    }

    #[test]
    fn older_names_lose_to_nested_names() {
        let e = env(&[
            ("WAVECAST_HTTP_API_KEY", "old"),
            ("WAVECAST_HTTP__API_KEY", "new"),
            ("WAVECAST_LOG_LEVEL", "debug"),
            ("WAVECAST_API_KEYS", "a, b"),
        ]);
        let got = set(&e.wavecast);
        assert_eq!(
            got.last(),
            Some(&("http.api_key".to_string(), json!("new")))
        );
        assert!(got.contains(&("log.level".into(), json!("debug"))));
        assert!(got.contains(&("auth.api_keys".into(), json!(["a", "b"]))));
        assert_eq!(
            e.warnings,
            [ConfigWarning(
                "WAVECAST_HTTP_API_KEY and WAVECAST_HTTP__API_KEY set http.api_key differently; WAVECAST_HTTP__API_KEY wins".into()
            )]
        );
    }

    #[test]
    fn seed_variables() {
        let e = env(&[
            ("MFN_ENV", "production"),
            ("MFN_API_KEY_REQUIRED", "true"),
            ("MFN_API_KEY", "primary-key"),
            ("MFN_API_KEYS", "key1,key2,primary-key"),
            ("MFN_CORS_ORIGINS", "https://app.example.com"),
            ("WEBSOCKET_MAX_CONNECTIONS_PER_USER", "3"),
            ("WEBSOCKET_MAX_MESSAGE_RATE", "90"),
            ("WEBSOCKET_HEARTBEAT_INTERVAL", "30000"),
            ("WEBSOCKET_ENABLE_CORS", "true"),
        ]);
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
        assert_eq!(
            set(&e.seed),
            [
                ("env".to_string(), json!("production")),
                (
                    "auth.api_keys".into(),
                    json!(["primary-key", "key1", "key2"])
                ),
                ("auth.require_auth".into(), json!(true)),
                ("origins.allowed".into(), json!(["https://app.example.com"])),
                ("limits.max_connections_per_user".into(), json!(3)),
                ("limits.max_message_rate_per_minute".into(), json!(90)),
                ("limits.message_burst".into(), json!(90)),
                ("heartbeat_interval".into(), json!("30000ms")),
            ]
        );
        assert_eq!(e.seed[1].var, "MFN_API_KEY and MFN_API_KEYS");
    }

    #[test]
    fn settings_unset_by_default_read_as_switches() {
        let e = env(&[("WAVECAST_AUTH__REQUIRE_TOKEN_AT_UPGRADE", "yes")]);
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
        assert_eq!(
            set(&e.wavecast),
            [("auth.require_token_at_upgrade".to_string(), json!(true))]
        );
        let e = env(&[("WAVECAST_AUTH__REQUIRE_TOKEN_AT_UPGRADE", "")]);
        assert_eq!(
            set(&e.wavecast),
            [("auth.require_token_at_upgrade".to_string(), Value::Null)]
        );
    }

    #[test]
    fn seed_oddities() {
        let e = env(&[
            ("ENVIRONMENT", "qa"),
            ("WEBSOCKET_ENABLE_CORS", "false"),
            ("WEBSOCKET_HEARTBEAT_INTERVAL", "15s"),
            ("WEBSOCKET_MAX_MESSAGE_RATE", "0"),
        ]);
        assert_eq!(e.warnings.len(), 2, "{:?}", e.warnings);
        assert!(e.warnings[0].0.starts_with("ENVIRONMENT is ignored"));
        assert!(e.warnings[1]
            .0
            .starts_with("WEBSOCKET_ENABLE_CORS is ignored"));
        assert!(set(&e.seed).contains(&("heartbeat_interval".into(), json!("15s"))));
        assert!(set(&e.seed).contains(&("limits.max_message_rate".into(), json!(0))));
        let bad = read(
            &[("WEBSOCKET_MAX_MESSAGE_RATE", "lots")]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            bad.unwrap_err().0,
            "WEBSOCKET_MAX_MESSAGE_RATE: limits.max_message_rate = \"lots\": expected a whole number of messages per minute"
        );
    }

    #[test]
    fn lists_and_booleans() {
        assert_eq!(list("[\"a\", 'b',, c ]"), json!(["a", "b", "c"]));
        assert_eq!(list(""), json!([]));
        assert_eq!(boolean("YES"), Some(true));
        assert_eq!(boolean(""), Some(false));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(typed(&Slot::Bool, "maybe"), json!("maybe"));
        assert_eq!(typed(&Slot::Number, "-3"), json!(-3));
        assert_eq!(typed(&Slot::Number, "ten"), json!("ten"));
        assert_eq!(
            var_name(&p("namespaces.chat.publish")),
            "WAVECAST_NAMESPACES__CHAT__PUBLISH"
        );
    }
}
