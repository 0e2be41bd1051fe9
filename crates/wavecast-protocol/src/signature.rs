//! The signature of a signed `auth` message: hex HMAC-SHA256 of the
//! timestamp's decimal string (milliseconds since the epoch), keyed with
//! the API key or the key id's secret. Shared by the server and clients.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `hex(HMAC-SHA256(key, timestamp_ms as decimal))`.
pub fn sign(key: &str, timestamp_ms: u64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this branch cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        // echo -n 1700000000000 | openssl dgst -sha256 -hmac key
        assert_eq!(
            super::sign("key", 1_700_000_000_000),
            "bc219f90295265e57b56e30d1325850a6965bfe4e087c07f1bf5701ecc56bbf6"
        );
    }
}
