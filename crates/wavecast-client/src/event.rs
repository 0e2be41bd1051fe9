//! What the client tells the application: publications and other events of
//! one subscription ([`SubEvent`]), connection-wide events
//! ([`ClientEvent`]) and the connection state ([`ConnectionState`]).
//! A [`Publication`] is the protocol's parsed delivery, as received.

use serde_json::Value;

use crate::error::{Error, ServerError};

/// One delivery of a channel: `channel`, `event` (the type, `publication`
/// unless the publisher chose one), `data`, `offset` (with history) and
/// `timestamp` (RFC 3339). [`Publication::to_json`] gives the frame back.
pub use wavecast_protocol::to_client::Delivery as Publication;

/// A place in a channel's history: the last offset seen, in an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub offset: u64,
    pub epoch: String,
}

/// How a (re)subscription resumed the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// A fresh subscription: deliveries start now.
    NotRequested,
    /// Every publication since `from` is replayed before live ones: no gap.
    Recovered { from: Position },
    /// The server could not replay from `from` (history too short, expired
    /// or lost): publications between `from` and the new position are
    /// missing. The application must resynchronize by other means.
    Failed { from: Position },
    /// The channel keeps no history, so nothing could be recovered after a
    /// reconnect: publications sent while offline are missing.
    NoHistory,
}

/// The server confirmed a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    pub channel: String,
    /// The channel's position at subscribe time (with history).
    pub position: Option<Position>,
    pub recovery: Recovery,
    /// True after a reconnect (or a `recovery_required`).
    pub resubscribed: bool,
}

/// An event of one subscription, in delivery order.
#[derive(Debug, Clone, PartialEq)]
pub enum SubEvent {
    /// The server confirmed the subscription (again after each reconnect).
    Subscribed(Subscribed),
    /// A delivery.
    Publication(Publication),
    /// Backpressure on the server dropped `count` publications.
    Dropped { count: u64 },
    /// A resubscription was refused; the stream ends.
    Failed(Error),
    /// The server ended the subscription (`server_side`), or the client
    /// closed; the stream ends.
    Unsubscribed { server_side: bool },
}

/// The state of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection attempt is under way.
    Connecting,
    /// Admitted: subscriptions and queued messages are (re)sent.
    Connected { connection_id: String },
    /// Lost; waiting `delay_ms` before attempt `attempt` (1-based).
    Reconnecting { attempt: u32, delay_ms: u64 },
    /// Finished: `None` after [`crate::Client::close`], or the error that
    /// ended it.
    Closed(Option<Error>),
}

/// A connection-wide event.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The state changed.
    State(ConnectionState),
    /// The server admitted the connection; `welcome` is the
    /// `connection_established` (or `auth_success`) frame.
    Connected { welcome: Value },
    /// The connection was lost or closed; `code` is the close code, if any.
    Disconnected { code: Option<u16>, reason: String },
    /// A resubscription could not recover a channel.
    RecoveryFailed { channel: String, from: Position },
    /// An `error` frame from the server.
    ServerError(ServerError),
    /// A problem on the client's side that did not end the connection: a
    /// server frame it could not read ([`Error::Protocol`]), or a failing
    /// token provider ([`Error::TokenProvider`]).
    ClientError(Error),
    /// A personal message (`POST /api/send`) or another frame without channel.
    Message { event: String, data: Value },
    /// A delivery of a channel this client has no subscription for (e.g.
    /// joined by the server's connect hook).
    Publication(Publication),
    /// The token was refreshed.
    Refreshed,
    /// Messages were discarded by the offline queue's overflow policy.
    QueueOverflow { discarded: u64 },
}
