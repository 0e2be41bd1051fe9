//! [`Authenticator`]: checks credentials against the configuration — API
//! keys (compared in constant time), signed `auth` messages (window and
//! replay cache), and JWTs.

use wavecast_protocol::to_server::AuthRequest;
use wavecast_protocol::ErrorCode;

use super::ct::constant_time_eq;
use super::principal::{AuthError, Claims, Principal};
use super::{jwt, signature};
use crate::config::{AuthConfig, ConfigError};

/// Checks credentials against the configuration.
pub struct Authenticator {
    cfg: AuthConfig,
    jwt: Option<jwt::JwtVerifier>,
    replay: signature::ReplayCache,
}

impl Authenticator {
    /// Loads key files; a bad key file is a configuration error.
    pub fn new(cfg: &AuthConfig) -> Result<Authenticator, ConfigError> {
        Ok(Authenticator {
            jwt: jwt::JwtVerifier::from_config(cfg)?,
            replay: signature::ReplayCache::default(),
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    /// Whether a string looks like a JWT (three dot-separated parts).
    pub fn looks_like_jwt(s: &str) -> bool {
        s.split('.').count() == 3
    }

    /// Checks a JWT.
    pub fn verify_token(&self, token: &str) -> Result<Principal, AuthError> {
        match &self.jwt {
            Some(v) => v.verify(token),
            None => Err(AuthError::new(
                ErrorCode::InvalidCredentials,
                "this server accepts no tokens",
            )),
        }
    }

    /// Finds an API key; returns the principal's user id for it.
    fn find_key(&self, key: &str) -> Option<String> {
        // Compare against every key so timing does not tell which matched.
        let mut found = None;
        for (i, k) in self.cfg.api_keys.iter().enumerate() {
            if constant_time_eq(k.as_bytes(), key.as_bytes()) && found.is_none() {
                found = Some(format!("api_key:{i}"));
            }
        }
        for (id, secret) in &self.cfg.keys {
            if constant_time_eq(secret.as_bytes(), key.as_bytes()) && found.is_none() {
                found = Some(id.clone());
            }
        }
        found
    }

    fn key_principal(user: String) -> Principal {
        Principal {
            authenticated: true,
            user_id: Some(user),
            channels: None,
            expires_at: None,
            claims: Claims::default(),
            via_api_key: true,
        }
    }

    /// Checks an API key sent with the upgrade request (no signature).
    pub fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        if self.cfg.require_signature {
            return Err(AuthError::new(
                ErrorCode::InvalidSignature,
                "this server requires a signed auth message",
            ));
        }
        self.find_key(key)
            .map(Self::key_principal)
            .ok_or_else(|| AuthError::new(ErrorCode::InvalidCredentials, "unknown API key"))
    }

    /// Checks an `auth` message.
    pub fn verify_message(&self, req: &AuthRequest, now_ms: u64) -> Result<Principal, AuthError> {
        if let Some(token) = &req.token {
            return self.verify_token(token);
        }
        let (user, secret) = if let Some(id) = &req.key_id {
            let Some(secret) = self.cfg.keys.get(id) else {
                // Same answer as a wrong signature, so ids cannot be probed.
                return Err(AuthError::new(
                    ErrorCode::InvalidSignature,
                    "signature does not match",
                ));
            };
            (id.clone(), secret.clone())
        } else if let Some(key) = &req.api_key {
            match self.find_key(key) {
                Some(user) => (user, key.clone()),
                None => {
                    return Err(AuthError::new(
                        ErrorCode::InvalidCredentials,
                        "unknown API key",
                    ))
                }
            }
        } else {
            return Err(AuthError::new(
                ErrorCode::InvalidCredentials,
                "auth needs api_key, key_id or token",
            ));
        };
        let must_sign = self.cfg.require_signature || req.key_id.is_some();
        match (&req.signature, req.timestamp) {
            (Some(sig), Some(ts)) => {
                signature::check_window(ts, now_ms, self.cfg.signature_window)?;
                signature::verify(&secret, ts, sig)?;
                self.replay.check_and_remember(
                    &user,
                    ts,
                    sig,
                    now_ms,
                    self.cfg.signature_window,
                )?;
            }
            (None, Some(ts)) if !must_sign => {
                signature::check_window(ts, now_ms, self.cfg.signature_window)?
            }
            (None, None) if !must_sign => {}
            _ => {
                return Err(AuthError::new(
                    ErrorCode::InvalidSignature,
                    "a signed auth needs both timestamp and signature",
                ))
            }
        }
        Ok(Self::key_principal(user))
    }
}
