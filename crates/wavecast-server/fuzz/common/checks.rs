//! The checks of the server crate's fuzz targets, shared with the crate's
//! `tests/fuzz_corpus.rs` (which replays the committed corpus on stable
//! Rust, so `.ci/run` keeps them tested without a fuzzer).
//!
//! - [`auth`]: byte 0 picks the input kind.
//!   - 0: the rest is a JWT as a client sends it, verified against an
//!     HS256 secret. Never panics; a refusal is `invalid_credentials` or
//!     `token_expired`.
//!   - 1: the rest is `header JSON` 0xFF `claims JSON` (or claims alone),
//!     signed with the right secret. A token is accepted only if its header
//!     says HS256 (the algorithm the verifier chose, never the token), its
//!     `exp` is in the future, and its `sub` is absent, a non-empty string
//!     (kept as it is) or an integer (its decimal text).
//!   - 2: 8 bytes of timestamp, then a signature: the HMAC check accepts
//!     exactly the right hex digest (either case); the replay cache takes
//!     a signed auth once.
//! - [`filters`]: `pattern` 0xFF `name` 0xFF `filter JSON` 0xFF `data
//!   JSON`: channel globs agree with a plain reference matcher, and field
//!   filters with a reference evaluation.

#![allow(dead_code)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use wavecast_server::auth::jwt::JwtVerifier;
use wavecast_server::auth::pattern::glob_match;
use wavecast_server::auth::signature::{self, ReplayCache};
use wavecast_server::config::AuthConfig;
use wavecast_server::hub::channels::filter_matches;

const SECRET: &str = "fuzz-secret";

fn verifier() -> JwtVerifier {
    let cfg = AuthConfig {
        jwt_secret: SECRET.into(),
        ..AuthConfig::default()
    };
    match JwtVerifier::from_config(&cfg) {
        Ok(Some(v)) => v,
        _ => panic!("a secret makes a verifier"),
    }
}

/// JWT and HMAC input handling.
pub fn auth(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => raw_token(rest),
        1 => signed_token(rest),
        _ => hmac_auth(rest),
    }
}

fn raw_token(rest: &[u8]) {
    let Ok(token) = std::str::from_utf8(rest) else {
        return;
    };
    if let Err(e) = verifier().verify(token) {
        let code = e.code.as_str();
        assert!(
            code == "invalid_credentials" || code == "token_expired",
            "{code}"
        );
        assert!(!e.message.is_empty());
    }
}

fn signed_token(rest: &[u8]) {
    let (header, claims) = match rest.iter().position(|&b| b == 0xff) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest),
    };
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = match Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()) {
        Ok(m) => m,
        Err(_) => panic!("any key length works for HMAC"),
    };
    mac.update(input.as_bytes());
    let token = format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    let Ok(p) = verifier().verify(&token) else {
        return;
    };
    let header: Value = serde_json::from_slice(header).expect("an accepted header is JSON");
    assert_eq!(header["alg"], "HS256", "the token chose its algorithm");
    let claims: Value = serde_json::from_slice(claims).expect("accepted claims are JSON");
    let now = now_secs();
    assert!(
        claims["exp"]
            .as_f64()
            .is_some_and(|e| e + 1.0 >= now as f64),
        "{claims}"
    );
    match &claims["sub"] {
        Value::Null => assert_eq!(p.user_id, None),
        Value::String(s) => {
            assert!(!s.is_empty());
            assert_eq!(p.user_id.as_deref(), Some(s.as_str()));
        }
        Value::Number(n) => {
            assert!(n.is_i64() || n.is_u64(), "{n}");
            assert_eq!(p.user_id, Some(n.to_string()));
        }
        other => panic!("sub {other} accepted"),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hmac_auth(rest: &[u8]) {
    if rest.len() < 8 {
        return;
    }
    let (ts, sig) = rest.split_at(8);
    let mut b = [0u8; 8];
    b.copy_from_slice(ts);
    let ts = u64::from_le_bytes(b);
    let Ok(sig) = std::str::from_utf8(sig) else {
        return;
    };
    let right = signature::sign(SECRET, ts);
    assert_eq!(right.len(), 64);
    let ok = signature::verify(SECRET, ts, sig).is_ok();
    assert_eq!(ok, sig.to_ascii_lowercase() == right, "{sig}");
    assert!(signature::verify(SECRET, ts, &right.to_ascii_uppercase()).is_ok());
    let window = Duration::from_millis(u64::from(b[0]) * 1000);
    let _ = signature::check_window(ts, ts ^ u64::from(b[1]), window);
    let cache = ReplayCache::default();
    let now = ts / 2;
    assert!(cache
        .check_and_remember("u", ts, sig, now, Duration::from_secs(30))
        .is_ok());
    let again = cache.check_and_remember(
        "u",
        ts,
        &sig.to_ascii_uppercase(),
        now,
        Duration::from_secs(30),
    );
    assert_eq!(again.map_err(|e| e.code.as_str()), Err("replay"));
}

/// A reference glob matcher: `*` is any run, everything else itself.
fn reference_glob(p: &[u8], n: &[u8]) -> bool {
    // matches[j] = whether p[..i] matches n[..j], row by row.
    let mut row = vec![false; n.len() + 1];
    row[0] = true;
    for &c in p {
        let mut next = vec![false; n.len() + 1];
        if c == b'*' {
            let mut any = false;
            for j in 0..=n.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=n.len() {
                next[j] = row[j - 1] && n[j - 1] == c;
            }
        }
        row = next;
    }
    row[n.len()]
}

/// Channel globs and subscription filters.
pub fn filters(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0xff);
    let (Some(pattern), Some(name)) = (parts.next(), parts.next()) else {
        return;
    };
    if let (Ok(p), Ok(n)) = (std::str::from_utf8(pattern), std::str::from_utf8(name)) {
        assert_eq!(
            glob_match(p, n),
            reference_glob(pattern, name),
            "{p:?} {n:?}"
        );
    }
    let filter = parts
        .next()
        .and_then(|f| serde_json::from_slice::<Value>(f).ok());
    let Some(Value::Object(filter)) = filter else {
        return;
    };
    let data = parts
        .next()
        .and_then(|d| serde_json::from_slice::<Value>(d).ok());
    let event = std::str::from_utf8(name).unwrap_or("publication");
    let expected = filter.iter().all(|(k, v)| match k.as_str() {
        "type" => v == &Value::String(event.to_string()),
        _ => {
            data.as_ref()
                .and_then(|d| d.as_object())
                .and_then(|o| o.get(k))
                == Some(v)
        }
    });
    assert_eq!(filter_matches(&filter, event, data.as_ref()), expected);
}
