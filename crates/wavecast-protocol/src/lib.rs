//! wavecast protocol v1: the wire types and codecs shared by the server and
//! the clients. Pure data and encoding, no I/O.
//!
//! - [`channel`]: channel-name rules and namespaces.
//! - [`codes`]: the stable error codes and WebSocket close codes.
//! - [`client`]: parsing of client → server frames.
//! - [`server`]: encoding of server → client frames.
//! - [`signature`]: the HMAC signature of signed `auth` messages.
//! - [`time`]: RFC 3339 timestamps with milliseconds.

pub mod channel;
pub mod client;
pub mod codes;
pub mod server;
pub mod signature;
pub mod time;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: &str = "1.0";
/// The major protocol version; an `init` with another major is refused.
pub const PROTOCOL_MAJOR: u32 = 1;

pub use codes::{CloseCode, ErrorCode};
