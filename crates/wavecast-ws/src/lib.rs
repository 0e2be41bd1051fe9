//! A sans-IO WebSocket codec for the server side (RFC 6455, with
//! permessage-deflate from RFC 7692). No sockets, no async runtime: the
//! caller moves bytes; this crate decodes client frames into messages and
//! builds server frames.
//!
//! Layout (one concept per module):
//! - [`decoder`]: the per-connection streaming [`Decoder`] (≤ 64 bytes
//!   idle; the caller keeps no leftover bytes between reads).
//! - [`frame`]: opcodes, client header parsing, server header building.
//! - [`mask`]: the payload mask (XOR, in place).
//! - `assemble`: a message spanning several frames or reads.
//! - `utf8`: incremental UTF-8 validation (fails fast).
//! - [`close`]: close codes and close payloads.
//! - [`message`]: the owned [`Message`] the decoder returns.
//! - [`error`]: [`WsError`], each with the close code to send.
//! - [`encode`]: server frames (unmasked, shareable `Bytes`).
//! - [`mod@negotiate`]: the `Sec-WebSocket-Extensions` negotiation.
//! - [`compress`]: per-message deflate for server frames.
//! - `inflate`: per-message inflate for client frames, output capped.
//! - [`handshake`]: accept key, key check, subprotocol offers.
//!
//! Integration, in short: for each read, `loop { let (n, r) =
//! decoder.feed(&mut buf[off..len]); off += n; ... }` until the input is
//! used up; answer `Ping(p)` with [`encode_pong`]`(&p)`; answer `Close(c)`
//! with [`encode_close_reply`]`(&c)` then close the socket; on
//! `Err(e)` send [`encode_close`]`(e.close_code(), e.reason())` and close.

#![warn(clippy::too_many_lines)]

mod assemble;
pub mod close;
pub mod compress;
pub mod decoder;
pub mod encode;
pub mod error;
pub mod frame;
pub mod handshake;
mod inflate;
pub mod mask;
pub mod message;
pub mod negotiate;
mod utf8;

#[cfg(test)]
mod decoder_tests;
#[cfg(test)]
mod testutil;

pub use close::valid_close_code;
pub use compress::{compress_message, encode_compressed_frame, Compressor};
pub use decoder::{Decoder, Feed, DEFAULT_MAX_MESSAGE_SIZE};
pub use encode::{
    encode_close, encode_close_empty, encode_close_reply, encode_frame, encode_frame_with,
    encode_ping, encode_pong,
};
pub use error::{close_code, WsError};
pub use frame::{frame_header, Opcode};
pub use handshake::{accept_key, parse_protocols, valid_key};
pub use mask::apply_mask;
pub use message::Message;
pub use negotiate::{negotiate, DeflateConfig, DeflateParams, Negotiated};
