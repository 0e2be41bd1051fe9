//! Signed `auth` messages: hex HMAC-SHA256 of the timestamp's decimal
//! string with the key as secret, a ±window check on the timestamp, and a
//! replay cache so the same (key, timestamp, signature) works only once.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use wavecast_protocol::ErrorCode;

use super::principal::AuthError;
use crate::auth::ct::constant_time_eq;

/// Entries kept before expired ones are pruned.
const PRUNE_AT: usize = 10_000;
/// Entries beyond which signed auth is refused (fail closed under flood).
const MAX_ENTRIES: usize = 200_000;

pub use wavecast_protocol::signature::sign;

/// Checks `signature` (hex, either case) for `timestamp_ms`.
pub fn verify(secret: &str, timestamp_ms: u64, signature: &str) -> Result<(), AuthError> {
    let expected = sign(secret, timestamp_ms);
    if constant_time_eq(
        expected.as_bytes(),
        signature.to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(AuthError::new(
            ErrorCode::InvalidSignature,
            "signature does not match",
        ))
    }
}

/// Checks that `ts_ms` is within `window` of `now_ms`.
pub fn check_window(ts_ms: u64, now_ms: u64, window: Duration) -> Result<(), AuthError> {
    let skew = ts_ms.abs_diff(now_ms);
    if skew as u128 > window.as_millis() {
        Err(AuthError::new(
            ErrorCode::StaleTimestamp,
            format!(
                "timestamp is {} s away from server time; the window is ±{} s",
                skew / 1000,
                window.as_secs()
            ),
        ))
    } else {
        Ok(())
    }
}

/// Signed auths seen within the window.
#[derive(Default)]
pub struct ReplayCache {
    seen: Mutex<HashMap<(String, u64, String), u64>>,
}

impl ReplayCache {
    /// Refuses a (user, timestamp, signature) seen before; remembers it
    /// until it leaves the window.
    pub fn check_and_remember(
        &self,
        user: &str,
        ts_ms: u64,
        signature: &str,
        now_ms: u64,
        window: Duration,
    ) -> Result<(), AuthError> {
        let mut seen = self.seen.lock();
        if seen.len() >= PRUNE_AT {
            seen.retain(|_, expires| *expires > now_ms);
        }
        if seen.len() >= MAX_ENTRIES {
            return Err(AuthError::new(
                ErrorCode::RateLimited,
                "too many signed auths in the window; retry later",
            ));
        }
        let key = (user.to_string(), ts_ms, signature.to_ascii_lowercase());
        if seen.contains_key(&key) {
            return Err(AuthError::new(
                ErrorCode::Replay,
                "this signed auth was already used",
            ));
        }
        seen.insert(key, ts_ms.saturating_add(window.as_millis() as u64));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // echo -n 1700000000000 | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign("key", 1_700_000_000_000),
            "bc219f90295265e57b56e30d1325850a6965bfe4e087c07f1bf5701ecc56bbf6"
        );
        assert_eq!(sign("key", 1).len(), 64);
        assert!(verify("key", 5, &sign("key", 5)).is_ok());
        assert!(verify("key", 5, &sign("key", 6)).is_err());
        assert!(verify("key", 5, &sign("key", 5).to_uppercase()).is_ok());
    }

    #[test]
    fn window_and_replay() {
        let w = Duration::from_secs(300);
        assert!(check_window(1_000_000, 1_000_000 + 299_000, w).is_ok());
        assert_eq!(
            check_window(1_000_000, 1_000_000 + 301_000, w)
                .unwrap_err()
                .code,
            ErrorCode::StaleTimestamp
        );
        let c = ReplayCache::default();
        assert!(c.check_and_remember("u", 1, "ab", 1, w).is_ok());
        assert_eq!(
            c.check_and_remember("u", 1, "AB", 1, w).unwrap_err().code,
            ErrorCode::Replay
        );
        assert!(c.check_and_remember("v", 1, "ab", 1, w).is_ok());
    }
}
