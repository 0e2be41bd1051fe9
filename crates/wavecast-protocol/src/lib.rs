//! wavecast protocol v1: the wire types and codecs shared by the server and
//! the clients. Pure data and encoding, no I/O.
//!
//! - [`channel`]: channel-name rules and namespaces.
//! - [`codes`]: the stable error codes and WebSocket close codes.
//! - [`to_server`]: client → server messages: the envelope and typed
//!   requests, parsed for the server and encoded for clients.
//! - [`to_client`]: server → client messages: publications and control
//!   frames, encoded for the server and parsed ([`to_client::ServerFrame`])
//!   for clients.
//! - [`replies`]: reply bodies shared by the WebSocket and HTTP sides.
//! - [`dialect`]: the wire shapes of the systems wavecast serves (native,
//!   FOG, Netra, NeuroGraph, MFN).
//! - [`msgpack`]: the same messages as MessagePack maps.
//! - [`json`]: raw JSON helpers (nesting depth, type-first objects).
//! - [`signature`]: the HMAC signature of signed `auth` messages.
//! - [`time`]: RFC 3339 timestamps with milliseconds.

pub mod channel;
pub mod codes;
pub mod dialect;
pub mod json;
pub mod msgpack;
pub mod replies;
pub mod signature;
pub mod time;
pub mod to_client;
pub mod to_server;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: &str = "1.0";
/// The major protocol version; an `init` with another major is refused.
pub const PROTOCOL_MAJOR: u32 = 1;

pub use codes::{AnyErrorCode, CloseCode, ErrorCode};
pub use to_client::Publication;
