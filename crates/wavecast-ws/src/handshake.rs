//! Pure helpers for the HTTP/1.1 upgrade (RFC 6455 §4.2): the
//! `Sec-WebSocket-Accept` value, the check of `Sec-WebSocket-Key`, and the
//! parsing of `Sec-WebSocket-Protocol` offers.
//!
//! Invariants: a valid key is base64 (standard alphabet, padded) of exactly
//! 16 bytes; protocol offers are returned in the client's order, each a
//! non-empty RFC 7230 token.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::negotiate::is_token;

/// The GUID RFC 6455 appends to the key.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key ‖ GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(WS_GUID.as_bytes());
    STANDARD.encode(sha.digest().bytes())
}

/// True when `key` is base64 of exactly 16 bytes (RFC 6455 §4.1).
pub fn valid_key(key: &[u8]) -> bool {
    let mut out = [0u8; 18];
    key.len() == 24 && matches!(STANDARD.decode_slice(key, &mut out), Ok(16))
}

/// The subprotocols a client offers, in its order of preference, from the
/// values of its `Sec-WebSocket-Protocol` header(s). Empty elements are
/// skipped; `None` if an element is not a token (a malformed header).
pub fn parse_protocols<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
) -> Option<Vec<&'a str>> {
    let mut out = Vec::new();
    for element in header_values.into_iter().flat_map(|v| v.split(',')) {
        let element = element.trim();
        if element.is_empty() {
            continue;
        }
        if !is_token(element) {
            return None;
        }
        out.push(element);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_accept_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn keys() {
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(valid_key(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        assert!(!valid_key(b""));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ==\n"));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZSE=")); // 17 bytes
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZ===")); // bad padding
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25j*Q=="));
        assert!(!valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAA")); // 18 bytes
    }

    #[test]
    fn protocols() {
        assert_eq!(
            parse_protocols(["chat, superchat"]),
            Some(vec!["chat", "superchat"])
        );
        assert_eq!(parse_protocols(["a", " b ,, c"]), Some(vec!["a", "b", "c"]));
        assert_eq!(parse_protocols([""]), Some(vec![]));
        assert_eq!(parse_protocols(["wavecast.v1, bad proto"]), None);
        assert_eq!(parse_protocols(["\"quoted\""]), None);
    }
}
