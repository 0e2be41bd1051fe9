//! Server frames, typed. The parser is the protocol crate's
//! ([`wavecast_protocol::to_client::parse_server_frame`]), so the client and
//! the server share one wire definition; this module re-exports its types
//! and maps its errors to the client's [`Error`].

pub use wavecast_protocol::to_client::{
    parse_server_frame, ChannelPosition, Delivery, ErrorBody, FrameError, HistoryPage, InitReply,
    PublishSuccess, ServerFrame, SubscribeSuccess, Welcome,
};

use crate::error::Error;

/// Parses one text frame from the server.
pub fn parse(text: &str) -> Result<ServerFrame, Error> {
    parse_server_frame(text).map_err(|e| Error::Protocol(e.to_string()))
}
