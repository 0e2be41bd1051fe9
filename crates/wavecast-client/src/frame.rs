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

/// Parses one WebSocket message from the server: a JSON text frame, or a
/// MessagePack binary frame (read as the same message). `None` for
/// anything else (ping, pong, close).
pub fn parse_message(m: &tokio_websockets::Message) -> Option<Result<ServerFrame, Error>> {
    if let Some(text) = m.as_text() {
        return Some(parse(text));
    }
    if !m.is_binary() {
        return None;
    }
    Some(
        wavecast_protocol::msgpack::decode(m.as_payload())
            .map_err(|e| Error::Protocol(e.message))
            .and_then(|v| parse(&v.to_string())),
    )
}

/// The WebSocket message carrying a client frame (`text`, JSON): as it is,
/// or as MessagePack when the connection speaks it.
pub fn outgoing(text: String, msgpack: bool) -> tokio_websockets::Message {
    if !msgpack {
        return tokio_websockets::Message::text(text);
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => tokio_websockets::Message::binary(wavecast_protocol::msgpack::encode(&v)),
        Err(_) => tokio_websockets::Message::text(text),
    }
}
