//! Close frames: which close codes may appear on the wire (RFC 6455 §7.4),
//! and the parsing of a received close payload into `(code, reason)`.
//!
//! Invariant: a parsed close carries a code that [`valid_close_code`]
//! accepts and a reason that is valid UTF-8.

use crate::error::WsError;

/// Whether `code` may appear in a close frame: 1000–1003, 1007–1014 and
/// 3000–4999. Codes below 1000, 1004–1006, 1015 and 1016–2999 may not.
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a close frame's payload: empty → `None`; otherwise a 2-byte code
/// then a UTF-8 reason.
pub(crate) fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::BadCloseLength),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !valid_close_code(code) {
                return Err(WsError::BadCloseCode);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_ranges() {
        for code in [1000, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 4999] {
            assert!(valid_close_code(code), "{code}");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert!(!valid_close_code(code), "{code}");
        }
    }

    #[test]
    fn payloads() {
        assert_eq!(parse_close(b""), Ok(None));
        assert_eq!(parse_close(b"\x03"), Err(WsError::BadCloseLength));
        assert_eq!(parse_close(b"\x03\xe8"), Ok(Some((1000, String::new()))));
        assert_eq!(
            parse_close(b"\x03\xe9bye \xc3\xa9"),
            Ok(Some((1001, "bye é".to_owned())))
        );
        assert_eq!(parse_close(b"\x03\xed"), Err(WsError::BadCloseCode));
        assert_eq!(parse_close(b"\x03\xe8\xff"), Err(WsError::InvalidUtf8));
    }
}
