//! The messages the decoder hands to the caller: owned, complete, validated.
//!
//! Invariants: `Text` is valid UTF-8 (it is a `String`); `Ping`/`Pong`
//! payloads are at most 125 bytes; a `Close` code is valid on the wire
//! ([`crate::valid_close_code`]) and its reason is UTF-8.

use bytes::Bytes;

/// A complete message received from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (all its fragments joined, inflated if compressed).
    Text(String),
    /// A binary message (all its fragments joined, inflated if compressed).
    Binary(Bytes),
    /// A ping; answer with [`crate::encode_pong`] of the same payload.
    Ping(Bytes),
    /// A pong (unsolicited pongs are allowed and should be ignored).
    Pong(Bytes),
    /// A close: `None` when the client sent no code, else `(code, reason)`.
    Close(Option<(u16, String)>),
}
