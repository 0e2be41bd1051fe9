//! `wavecast token` (mint a development HS256 JWT with `sub`, `channels`,
//! `aud`, `iss`, `nbf`, `exp` and any extra claim) and `wavecast sign` (a
//! signed HMAC `auth` message).
//!
//! Invariants: every minted token has `iat` and `exp` (the server requires
//! `exp`); `--claim` is applied last, so it can set or replace any claim;
//! the secret is never printed.

use std::time::Duration;

use serde_json::{json, Map, Value};
use wavecast_client::auth::{now_millis, signed_api_key_auth, signed_key_id_auth};

/// What `wavecast token` puts in the token.
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    pub sub: Option<String>,
    /// Channel patterns (comma-separated or repeated).
    pub channels: Vec<String>,
    /// Lifetime: `3600`, `90s`, `15m`, `2h`, `1d`.
    pub ttl: String,
    /// Audiences: one is written as a string, several as an array.
    pub aud: Vec<String>,
    pub iss: Option<String>,
    /// Not before: `now`, a duration from now (`30s`, `-5m`), or a Unix time
    /// in seconds.
    pub nbf: Option<String>,
    /// Extra claims, `name=value`; the value is JSON if it parses, else a
    /// string.
    pub claims: Vec<String>,
}

/// Parses `90`, `90s`, `15m`, `2h`, `1d` as a duration.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: write 3600, 90s, 15m, 2h or 1d"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("bad duration {s:?}: use s, m, h or d")),
    };
    secs.map(Duration::from_secs)
        .ok_or_else(|| format!("bad duration {s:?}: too long"))
}

/// `--nbf`: `now`, `±duration` from `now_s`, or an absolute Unix time (s).
pub fn parse_nbf(s: &str, now_s: u64) -> Result<u64, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now_s);
    }
    let bad = || {
        format!("--nbf {s:?}: write now, a duration from now (30s, -5m) or a Unix time in seconds")
    };
    if let Some(past) = s.strip_prefix('-') {
        let d = parse_ttl(past).map_err(|_| bad())?;
        return Ok(now_s.saturating_sub(d.as_secs()));
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    // A bare number this large is a Unix time, not a number of seconds.
    if let Ok(n) = body.parse::<u64>() {
        if n >= 1_000_000_000 && !s.starts_with('+') {
            return Ok(n);
        }
    }
    let d = parse_ttl(body).map_err(|_| bad())?;
    Ok(now_s.saturating_add(d.as_secs()))
}

/// `name=value` → (name, JSON value).
fn parse_claim(s: &str) -> Result<(String, Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("--claim {s:?}: write name=value"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("--claim {s:?}: the claim name is empty"));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

fn split_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .flat_map(|c| c.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

/// The claims of the token, at `now_s`.
pub fn claims(spec: &TokenSpec, now_s: u64) -> Result<Map<String, Value>, String> {
    let ttl = parse_ttl(&spec.ttl)?.as_secs().max(1);
    let mut c = Map::new();
    c.insert("iat".into(), json!(now_s));
    c.insert("exp".into(), json!(now_s.saturating_add(ttl)));
    if let Some(s) = &spec.sub {
        c.insert("sub".into(), json!(s));
    }
    let channels = split_list(&spec.channels);
    if !channels.is_empty() {
        c.insert("channels".into(), json!(channels));
    }
    match split_list(&spec.aud).as_slice() {
        [] => {}
        [one] => {
            c.insert("aud".into(), json!(one));
        }
        many => {
            c.insert("aud".into(), json!(many));
        }
    }
    if let Some(iss) = &spec.iss {
        c.insert("iss".into(), json!(iss));
    }
    if let Some(nbf) = &spec.nbf {
        c.insert("nbf".into(), json!(parse_nbf(nbf, now_s)?));
    }
    for raw in &spec.claims {
        let (k, v) = parse_claim(raw)?;
        c.insert(k, v);
    }
    Ok(c)
}

/// Mints the HS256 token.
pub fn mint(secret: &str, spec: &TokenSpec) -> Result<String, String> {
    if secret.is_empty() {
        return Err("the JWT secret is empty: give --secret or WAVECAST_JWT_SECRET".into());
    }
    let body = Value::Object(claims(spec, now_millis() / 1000)?);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &body,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

/// `wavecast token`: prints the token.
pub fn token(secret: &str, spec: &TokenSpec) -> Result<(), String> {
    println!("{}", mint(secret, spec)?);
    Ok(())
}

/// `wavecast sign`: prints a signed `auth` message.
pub fn sign(
    api_key: Option<String>,
    key_id: Option<String>,
    secret: Option<String>,
    timestamp: Option<u64>,
) -> Result<(), String> {
    let ts = timestamp.unwrap_or_else(now_millis);
    let msg = match (api_key, key_id, secret) {
        (Some(k), None, _) => signed_api_key_auth(&k, ts),
        (None, Some(id), Some(s)) => signed_key_id_auth(&id, &s, ts),
        (None, Some(_), None) => return Err("--key-id needs --secret".into()),
        (Some(_), Some(_), _) => return Err("give --api-key or --key-id, not both".into()),
        (None, None, _) => return Err("give --api-key, or --key-id with --secret".into()),
    };
    println!("{msg}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl() {
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_ttl("2y").is_err());
        assert!(parse_ttl("99999999999999999999d").is_err());
    }

    #[test]
    fn nbf_forms() {
        let now = 1_800_000_000;
        assert_eq!(parse_nbf("now", now).unwrap(), now);
        assert_eq!(parse_nbf("30s", now).unwrap(), now + 30);
        assert_eq!(parse_nbf("+1m", now).unwrap(), now + 60);
        assert_eq!(parse_nbf("-5m", now).unwrap(), now - 300);
        assert_eq!(parse_nbf("1700000000", now).unwrap(), 1_700_000_000);
        assert!(parse_nbf("soon", now).is_err());
    }

    #[test]
    fn claims_of_a_spec() {
        let spec = TokenSpec {
            sub: Some("erin".into()),
            channels: vec!["news,chat:*".into()],
            ttl: "10m".into(),
            aud: vec!["wavecast".into()],
            iss: Some("https://id.example.com".into()),
            nbf: Some("now".into()),
            claims: vec!["role=admin".into(), "tier=3".into(), "exp=5".into()],
        };
        let c = claims(&spec, 1000).unwrap();
        assert_eq!(c["sub"], "erin");
        assert_eq!(c["channels"], json!(["news", "chat:*"]));
        assert_eq!(c["aud"], "wavecast");
        assert_eq!(c["iss"], "https://id.example.com");
        assert_eq!(c["nbf"], 1000);
        assert_eq!(c["role"], "admin");
        assert_eq!(c["tier"], 3);
        // --claim comes last.
        assert_eq!(c["exp"], 5);
        let two = TokenSpec {
            aud: vec!["a".into(), "b".into()],
            ttl: "1h".into(),
            ..TokenSpec::default()
        };
        assert_eq!(claims(&two, 0).unwrap()["aud"], json!(["a", "b"]));
        let bad = TokenSpec {
            claims: vec!["novalue".into()],
            ttl: "1h".into(),
            ..TokenSpec::default()
        };
        assert!(claims(&bad, 0).is_err());
    }
}
