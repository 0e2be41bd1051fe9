//! JWT verification: HS256/384/512 with a secret, RS256, ES256 and EdDSA
//! with a PEM public key or a JWKS file. The accepted algorithms follow
//! from the configured key, never from the token, so `alg: none` and
//! algorithm confusion (an HMAC token "signed" with a public key) fail.
//! `exp` is required; `nbf`, `iss` and `aud` are checked.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use wavecast_protocol::ErrorCode;

use super::principal::{AuthError, Claims, Principal};
use crate::config::{AuthConfig, ConfigError};

/// A key with the algorithms it may verify.
struct KeyEntry {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// Verifies tokens against the configured keys.
pub struct JwtVerifier {
    keys: Vec<KeyEntry>,
    audience: Option<String>,
    issuer: Option<String>,
}

/// A PEM parser of one key family.
type PemParser = fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>;

fn pem_entry(pem: &[u8], path: &str) -> Result<KeyEntry, ConfigError> {
    let text = String::from_utf8_lossy(pem);
    let attempts: [(PemParser, Algorithm); 3] = [
        (DecodingKey::from_rsa_pem, Algorithm::RS256),
        (DecodingKey::from_ec_pem, Algorithm::ES256),
        (DecodingKey::from_ed_pem, Algorithm::EdDSA),
    ];
    // Try the parser that fits the PEM's key type first.
    let order: Vec<usize> = if text.contains("RSA") {
        vec![0, 1, 2]
    } else if text.contains("EC PUBLIC") {
        vec![1, 0, 2]
    } else {
        vec![0, 1, 2]
    };
    for i in order {
        let (parse, alg) = attempts[i];
        if let Ok(key) = parse(pem) {
            // from_*_pem accept any SPKI; make sure the key really is of
            // this family by letting the family decide the algorithm.
            if key.family() == alg.family() {
                return Ok(KeyEntry {
                    kid: None,
                    key,
                    algorithms: vec![alg],
                });
            }
        }
    }
    Err(ConfigError(format!(
        "auth.jwt_public_key_file {path}: not an RSA, EC P-256 or Ed25519 public key in PEM"
    )))
}

impl JwtVerifier {
    /// Builds a verifier from the configuration; `None` if no JWT key is set.
    pub fn from_config(cfg: &AuthConfig) -> Result<Option<JwtVerifier>, ConfigError> {
        let mut keys = Vec::new();
        if !cfg.jwt_secret.is_empty() {
            keys.push(KeyEntry {
                kid: None,
                key: DecodingKey::from_secret(cfg.jwt_secret.as_bytes()),
                algorithms: vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
            });
        }
        if !cfg.jwt_public_key_file.is_empty() {
            let pem = std::fs::read(&cfg.jwt_public_key_file).map_err(|e| {
                ConfigError(format!(
                    "cannot read auth.jwt_public_key_file {}: {e}",
                    cfg.jwt_public_key_file
                ))
            })?;
            keys.push(pem_entry(&pem, &cfg.jwt_public_key_file)?);
        }
        if !cfg.jwks_file.is_empty() {
            let text = std::fs::read_to_string(&cfg.jwks_file).map_err(|e| {
                ConfigError(format!("cannot read auth.jwks_file {}: {e}", cfg.jwks_file))
            })?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| ConfigError(format!("auth.jwks_file {}: {e}", cfg.jwks_file)))?;
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                    ConfigError(format!(
                        "auth.jwks_file {}: unusable key: {e}",
                        cfg.jwks_file
                    ))
                })?;
                let algorithms: Vec<Algorithm> = match jwk.common.key_algorithm {
                    Some(ka) => match Algorithm::try_from(ka) {
                        Ok(a) => vec![a],
                        Err(_) => continue,
                    },
                    None => key.family().algorithms().to_vec(),
                };
                keys.push(KeyEntry {
                    kid: jwk.common.key_id.clone(),
                    key,
                    algorithms,
                });
            }
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(Some(JwtVerifier {
            keys,
            audience: opt(&cfg.jwt_audience),
            issuer: opt(&cfg.jwt_issuer),
        }))
    }

    /// Verifies `token` and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let invalid = |m: &str| AuthError::new(ErrorCode::InvalidCredentials, m);
        let header = decode_header(token).map_err(|_| invalid("malformed token"))?;
        let candidates = self.keys.iter().filter(|k| {
            k.algorithms.contains(&header.alg)
                && match (&header.kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    (Some(_), None) | (None, _) => true,
                }
        });
        let mut last = invalid("no configured key accepts this token's algorithm");
        for entry in candidates {
            let mut v = Validation::new(header.alg);
            v.algorithms = entry.algorithms.clone();
            v.leeway = 0;
            v.validate_nbf = true;
            let mut required = vec!["exp"];
            match &self.audience {
                Some(a) => {
                    v.set_audience(&[a]);
                    required.push("aud");
                }
                None => v.validate_aud = false,
            }
            if let Some(i) = &self.issuer {
                v.set_issuer(&[i]);
                required.push("iss");
            }
            v.set_required_spec_claims(&required);
            match decode::<Value>(token, &entry.key, &v) {
                Ok(data) => return principal_from_claims(data.claims),
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::ExpiredSignature => {
                            AuthError::new(ErrorCode::TokenExpired, "token expired")
                        }
                        ErrorKind::ImmatureSignature => {
                            AuthError::new(ErrorCode::TokenExpired, "token not valid yet (nbf)")
                        }
                        ErrorKind::InvalidAudience => invalid("wrong token audience"),
                        ErrorKind::InvalidIssuer => invalid("wrong token issuer"),
                        ErrorKind::MissingRequiredClaim(c) => {
                            invalid(&format!("token lacks the {c} claim"))
                        }
                        _ => invalid("invalid token signature"),
                    };
                    if matches!(last.code, ErrorCode::TokenExpired) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

/// The token's `sub` as its canonical string: a string as it is, an integer
/// (of either sign) in decimal. An empty or non-scalar `sub` is refused, so
/// every authenticated user has an id that per-user limits can count.
fn subject(claims: &Value) -> Result<Option<String>, AuthError> {
    let refuse = |why: &str| AuthError::new(ErrorCode::InvalidCredentials, why);
    match claims.get("sub") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(refuse("the token's sub claim is empty")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(_) => Err(refuse(
            "the token's sub claim must be a non-empty string or an integer",
        )),
    }
}

fn principal_from_claims(claims: Value) -> Result<Principal, AuthError> {
    // `channels` / `rooms` must be arrays of strings: anything else would
    // silently widen the token, so it is refused.
    let patterns = |key: &str| -> Result<Option<Vec<String>>, AuthError> {
        let bad = || {
            AuthError::new(
                ErrorCode::InvalidCredentials,
                format!("the token's {key} claim must be an array of strings"),
            )
        };
        match claims.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    };
    let channels = match (patterns("channels")?, patterns("rooms")?) {
        (None, None) => None,
        (a, b) => Some(a.into_iter().chain(b).flatten().collect()),
    };
    Ok(Principal {
        authenticated: true,
        user_id: subject(&claims)?,
        channels,
        expires_at: claims.get("exp").and_then(Value::as_u64),
        claims: Claims::new(&claims),
        via_api_key: false,
    })
}
