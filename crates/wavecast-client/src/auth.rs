//! Credentials: HMAC-signed `auth` messages and development JWTs.
//!
//! `signature = lowercase_hex(HMAC-SHA256(key, decimal timestamp in ms))`,
//! where `key` is the API key (`api_key` form) or the secret of a named key
//! (`key_id` form; the secret never travels). The messages are encoded by
//! the protocol crate ([`AuthRequest`]), like every client frame.

use std::time::Duration;

use serde_json::{json, Value};
use wavecast_protocol::to_server::{AuthRequest, ClientMessage, ClientRequest};

use crate::error::Error;

pub use wavecast_protocol::signature::sign;
pub use wavecast_protocol::time::now_millis;

/// `{"type":"auth","api_key","timestamp","signature"}` signed at `timestamp_ms`.
pub fn signed_api_key_auth(api_key: &str, timestamp_ms: u64) -> Value {
    auth_value(AuthRequest::signed_api_key(api_key, timestamp_ms))
}

/// `{"type":"auth","key_id","timestamp","signature"}` signed with `secret`.
pub fn signed_key_id_auth(key_id: &str, secret: &str, timestamp_ms: u64) -> Value {
    auth_value(AuthRequest::signed_key_id(key_id, secret, timestamp_ms))
}

fn auth_value(req: AuthRequest) -> Value {
    ClientMessage::new(ClientRequest::Auth(req)).to_value()
}

/// Claims of a development token.
#[derive(Debug, Clone, Default)]
pub struct TokenClaims {
    /// The user id (`sub`); `None` mints a token without user.
    pub sub: Option<String>,
    /// Channel patterns (`channels`); empty: no restriction.
    pub channels: Vec<String>,
    /// Lifetime from now.
    pub ttl: Duration,
}

/// Mints an HS256 JWT signed with `secret`, with `sub`, `channels`, `iat`
/// and `exp`. Meant for development and tests: production tokens come from
/// your own identity service.
pub fn mint_token(secret: &str, claims: &TokenClaims) -> Result<String, Error> {
    if secret.is_empty() {
        return Err(Error::InvalidConfig("the JWT secret is empty".into()));
    }
    let now = now_millis() / 1000;
    let mut body = json!({"iat": now, "exp": now + claims.ttl.as_secs().max(1)});
    if let Some(s) = &claims.sub {
        body["sub"] = json!(s);
    }
    if !claims.channels.is_empty() {
        body["channels"] = json!(claims.channels);
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &body,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| Error::InvalidConfig(format!("cannot sign the token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_protocol_example() {
        // docs/protocol.md §2.5.
        assert_eq!(
            sign("key-one", 1_795_297_680_000),
            "bca72becc473fa0bc0ccd006ebbcb9697288851038510c47ed8acbdd11e8587a"
        );
    }

    #[test]
    fn signed_messages_have_the_documented_fields() {
        // docs/protocol.md §2.4.
        assert_eq!(
            signed_api_key_auth("key-one", 1_795_297_680_000),
            json!({"type":"auth","api_key":"key-one","timestamp":1_795_297_680_000u64,
                   "signature":"bca72becc473fa0bc0ccd006ebbcb9697288851038510c47ed8acbdd11e8587a"})
        );
        let v = signed_key_id_auth("mobile", "secret", 7);
        assert_eq!(v["key_id"], "mobile");
        assert_eq!(v["signature"], sign("secret", 7));
        assert!(v.get("api_key").is_none());
    }

    #[test]
    fn minted_token_has_three_parts() {
        let t = mint_token(
            "s3cret",
            &TokenClaims {
                sub: Some("alice".into()),
                channels: vec!["news".into()],
                ttl: Duration::from_secs(60),
            },
        )
        .unwrap();
        assert_eq!(t.split('.').count(), 3);
        assert!(mint_token("", &TokenClaims::default()).is_err());
    }
}
