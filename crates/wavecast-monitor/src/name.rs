//! Metric names: what a valid name is.
//!
//! A name is 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9_.:/-]`. Dots join
//! the levels of a flattened document (`betanet.avg_latency_ms`). The
//! character set keeps names safe in URLs, log lines and storage keys (no
//! NUL byte, which separates the name from the hour in a block key).

use crate::MonitorError;

/// Longest metric name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Whether `b` may appear in a metric name.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-')
}

/// Checks a metric name.
///
/// # Errors
/// [`MonitorError::InvalidMetricName`] when it is empty, longer than
/// [`MAX_NAME_LEN`] bytes or has a character outside `[A-Za-z0-9_.:/-]`.
pub fn validate_name(name: &str) -> Result<(), MonitorError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_LEN {
        "it is longer than 128 bytes"
    } else if !name.bytes().all(is_name_byte) {
        "use only letters, digits and _ . : / -"
    } else {
        return Ok(());
    };
    Err(MonitorError::InvalidMetricName {
        name: name.chars().take(64).collect(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dotted_names_and_refuses_the_rest() {
        assert!(validate_name("betanet.avg_latency_ms").is_ok());
        assert!(validate_name("devices.0.cpu-load:p/x").is_ok());
        for bad in ["", "a b", "a\0b", "é", &"x".repeat(129)] {
            let err = validate_name(bad).err();
            assert_eq!(
                err.map(|e| e.code()),
                Some("invalid_metric_name"),
                "{bad:?}"
            );
        }
        assert!(validate_name(&"x".repeat(128)).is_ok());
    }
}
