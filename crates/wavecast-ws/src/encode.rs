//! Server → client frames. Server frames are not masked, so a frame is a
//! pure function of its payload: a publication's frame is built once and
//! the same `Bytes` is written to every subscriber (or its header is built
//! with [`crate::frame_header`] and written with the shared payload in one
//! writev).
//!
//! Invariants: every frame built here is final (FIN set), uses the shortest
//! length encoding, and control frames carry at most 125 payload bytes
//! (longer ping/pong payloads are truncated; a close reason is cut at a
//! character boundary to fit 123 bytes).

use bytes::Bytes;

use crate::frame::{frame_header, Opcode, MAX_CONTROL_PAYLOAD};

/// A final, uncompressed frame carrying `payload`.
pub fn encode_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    encode_frame_with(opcode, true, false, payload)
}

/// A frame with explicit FIN and RSV1 bits (RSV1: `payload` is already
/// compressed, see [`crate::Compressor::compress`]).
pub fn encode_frame_with(opcode: Opcode, fin: bool, rsv1: bool, payload: &[u8]) -> Bytes {
    let (header, used) = frame_header(opcode, fin, rsv1, payload.len());
    let mut out = Vec::with_capacity(used + payload.len());
    out.extend_from_slice(&header[..used]);
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// A close frame with `code` and `reason` (cut to fit at a char boundary).
/// Send only codes valid on the wire (not 1005, 1006 or 1015).
pub fn encode_close(code: u16, reason: &str) -> Bytes {
    let reason = truncate_at_char(reason, MAX_CONTROL_PAYLOAD - 2);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    encode_frame(Opcode::Close, &payload)
}

/// A close frame without a payload (the answer to a close without a code).
pub fn encode_close_empty() -> Bytes {
    Bytes::from_static(&[0x88, 0x00])
}

/// The answer to a received [`crate::Message::Close`]: the same code
/// (RFC 6455 §5.5.1), or an empty close when the client sent none.
pub fn encode_close_reply(close: &Option<(u16, String)>) -> Bytes {
    match close {
        Some((code, _)) => encode_close(*code, ""),
        None => encode_close_empty(),
    }
}

/// A ping frame (payload truncated to 125 bytes).
pub fn encode_ping(payload: &[u8]) -> Bytes {
    encode_frame(
        Opcode::Ping,
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    )
}

/// A pong frame (payload truncated to 125 bytes): answer a
/// [`crate::Message::Ping`] with `encode_pong(&payload)`.
pub fn encode_pong(payload: &[u8]) -> Bytes {
    encode_frame(
        Opcode::Pong,
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    )
}

/// The longest prefix of `s` of at most `max` bytes ending on a char boundary.
fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(&encode_frame(Opcode::Text, b"hi")[..], b"\x81\x02hi");
        assert_eq!(
            &encode_frame_with(Opcode::Binary, false, true, b"z")[..],
            b"\x42\x01z"
        );
        let big = encode_frame(Opcode::Binary, &[7u8; 300]);
        assert_eq!(&big[..4], &[0x82, 126, 0x01, 0x2c]);
        assert_eq!(big.len(), 304);
        let huge = encode_frame(Opcode::Binary, &vec![1u8; 70_000]);
        assert_eq!(&huge[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn close_frames() {
        assert_eq!(&encode_close(1000, "bye")[..], b"\x88\x05\x03\xe8bye");
        assert_eq!(&encode_close_empty()[..], b"\x88\x00");
        assert_eq!(&encode_close_reply(&None)[..], b"\x88\x00");
        let reply = encode_close_reply(&Some((4001, "client reason".to_owned())));
        assert_eq!(&reply[..], b"\x88\x02\x0f\xa1");
        // 61 two-byte chars = 122 bytes fit; 62 = 124 bytes are cut to 122.
        let long = "é".repeat(62);
        let frame = encode_close(1009, &long);
        assert_eq!(frame[1], 2 + 122);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        let ascii = "x".repeat(200);
        assert_eq!(encode_close(1002, &ascii)[1], 125);
    }

    #[test]
    fn ping_pong() {
        assert_eq!(&encode_ping(b"p")[..], b"\x89\x01p");
        assert_eq!(&encode_pong(b"")[..], b"\x8a\x00");
        assert_eq!(encode_pong(&[0u8; 200])[1], 125);
    }
}
