//! Who a connection is ([`Principal`]) and why credentials were refused
//! ([`AuthError`]): plain data shared by every part of authentication.

use serde_json::Value;
use wavecast_protocol::ErrorCode;

/// Who a connection is, and what its credentials allow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Principal {
    /// Set once credentials were checked.
    pub authenticated: bool,
    /// The user id (`sub` of a token, or the API key's id).
    pub user_id: Option<String>,
    /// Channel patterns from the token's `channels` / `rooms`; `None`
    /// means the token does not restrict channels.
    pub channels: Option<Vec<String>>,
    /// Token expiry, seconds since the epoch.
    pub expires_at: Option<u64>,
    /// The token's claims (none for API keys), for the connect hook and
    /// the agent relay.
    pub claims: Claims,
    /// Authenticated by an API key: the id names an application, not a
    /// person, so per-user connection limits do not apply.
    pub via_api_key: bool,
}

/// A token's claims, kept as compact JSON text: they are read only at
/// connect time and per agent request, so a connection holds ~100 bytes
/// instead of a parsed map (~600 bytes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims(Option<Box<str>>);

impl Claims {
    /// Keeps `claims` (nothing for `null`).
    pub fn new(claims: &Value) -> Claims {
        match claims {
            Value::Null => Claims(None),
            v => Claims(Some(v.to_string().into_boxed_str())),
        }
    }

    /// Keeps only the claims named in `names` (nothing when none of them
    /// is there). A connection keeps what outlives its admission: the
    /// claims `agents.forward_claims` forwards; the connect hook has seen
    /// them all by then.
    pub fn keep_only(&mut self, names: &[String]) {
        let Value::Object(all) = self.value() else {
            self.0 = None;
            return;
        };
        let kept: serde_json::Map<String, Value> = names
            .iter()
            .filter_map(|n| all.get(n).map(|v| (n.clone(), v.clone())))
            .collect();
        *self = if kept.is_empty() {
            Claims(None)
        } else {
            Claims::new(&Value::Object(kept))
        };
    }

    /// The claims as a JSON value (`null` when there are none).
    pub fn value(&self) -> Value {
        self.0
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null)
    }
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal::default()
    }

    /// The principal as a connection keeps it after admission: with only
    /// the claims in `forward_claims` (see [`Claims::keep_only`]).
    pub fn admitted(mut self, forward_claims: &[String]) -> Principal {
        self.claims.keep_only(forward_claims);
        self
    }
}

/// Why credentials were refused. The message never contains a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthError {
    pub code: ErrorCode,
    pub message: String,
}

impl AuthError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AuthError {
        AuthError {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_connection_keeps_only_the_forwarded_claims() {
        let claims = Claims::new(&json!({"sub": "u1", "exp": 5, "org": "acme", "tier": 2}));
        let names = ["org".to_string(), "tier".to_string(), "absent".to_string()];
        let mut kept = claims.clone();
        kept.keep_only(&names);
        assert_eq!(kept.value(), json!({"org": "acme", "tier": 2}));
        let mut none = claims;
        none.keep_only(&[]);
        assert_eq!(none, Claims::default());
        assert_eq!(none.value(), Value::Null);
    }
}
