//! The configuration without its secrets, for `wavecast config`, logs and
//! error texts.
//!
//! Invariants: the secrets are `http.api_key`, `auth.jwt_secret`,
//! `auth.api_keys`, the values of `auth.keys` and the password in
//! `redis_url` and `agents.upstream_url`; a non-empty secret is shown as
//! `[redacted]`, an empty one as it is (so "not set" stays visible);
//! nothing else is changed.

use serde_json::Value;

use super::redis_url::redact_url;
use super::types::Config;

const REDACTED: &str = "[redacted]";

impl Config {
    /// The configuration with its secrets replaced by `[redacted]`.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        let redact = |s: &mut String| {
            if !s.is_empty() {
                *s = REDACTED.into();
            }
        };
        redact(&mut c.http.api_key);
        redact(&mut c.auth.jwt_secret);
        c.auth.api_keys.iter_mut().for_each(redact);
        c.auth.keys.values_mut().for_each(redact);
        c.redis_url = redact_url(&c.redis_url);
        c.agents.upstream_url = redact_url(&c.agents.upstream_url);
        c
    }
}

/// Whether the key at `path` holds a secret (or a list or table of them).
pub(crate) fn is_secret(path: &[String]) -> bool {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    matches!(
        p.as_slice(),
        ["http", "api_key"]
            | ["auth", "jwt_secret"]
            | ["auth", "api_keys", ..]
            | ["auth", "keys", ..]
    )
}

/// `value` as written in TOML, for an error text: secrets hidden, long
/// values cut.
pub(crate) fn shown(path: &[String], value: &Value) -> String {
    if is_secret(path) {
        return format!("{REDACTED:?}");
    }
    let text = match (path.first().map(String::as_str), value) {
        (Some("redis_url"), Value::String(s)) if path.len() == 1 => format!("{:?}", redact_url(s)),
        (Some("agents"), Value::String(s)) if path.len() == 2 && path[1] == "upstream_url" => {
            format!("{:?}", redact_url(s))
        }
        (_, Value::String(s)) => format!("{s:?}"),
        (_, v) => v.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_and_keeps_the_rest() {
        let mut c = Config::default();
        c.http.api_key = "s3cret".into();
        c.auth.jwt_secret = "s3cret".into();
        c.auth.api_keys = vec!["s3cret".into()];
        c.auth.keys.insert("id".into(), "s3cret".into());
        c.redis_url = "redis://app:s3cret@cache:6379/2".into();
        c.auth.jwt_audience = "wavecast".into();
        let r = c.redacted();
        let shown = serde_json::to_string(&r).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(r.redis_url, "redis://app:[redacted]@cache:6379/2");
        assert_eq!(r.auth.keys["id"], "[redacted]");
        assert_eq!(r.auth.jwt_audience, "wavecast");
        let plain = Config::default().redacted();
        assert_eq!(plain, Config::default(), "empty secrets stay empty");
    }

    #[test]
    fn error_texts_hide_secrets() {
        let p = |s: &str| -> Vec<String> { s.split('.').map(String::from).collect() };
        assert_eq!(
            shown(&p("auth.jwt_secret"), &Value::from(5)),
            "\"[redacted]\""
        );
        assert_eq!(
            shown(&p("auth.keys.mobile"), &Value::from("x")),
            "\"[redacted]\""
        );
        assert_eq!(
            shown(&p("redis_url"), &Value::from("redis://:pw@h")),
            "\"redis://:[redacted]@h\""
        );
        assert_eq!(shown(&p("port"), &Value::from(70000)), "70000");
        assert_eq!(shown(&p("env"), &Value::from("prod")), "\"prod\"");
    }
}
