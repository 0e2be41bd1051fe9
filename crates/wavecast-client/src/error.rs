//! The client's typed errors: what failed (configuration, transport, a
//! refused upgrade, authentication, a subscription, the offline queue…) and
//! whether trying again can help. Errors the server reports keep its stable
//! code as an [`ErrorCode`] (or its text, for a code this client does not
//! know), so callers match on codes, never on messages.

use std::fmt;

use wavecast_protocol::to_client::ErrorBody;
use wavecast_protocol::{AnyErrorCode, ErrorCode};

/// An error reported by the server in an `error`, `auth_failed`,
/// `subscribe_failed` or `unsubscribe_failed` frame, or an HTTP error body
/// (docs/protocol.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The stable code, e.g. `forbidden` or `invalid_signature`. It
    /// compares equal to an [`ErrorCode`] and to its wire spelling.
    pub code: AnyErrorCode,
    /// The human-readable message (`error`); do not parse it.
    pub message: String,
    /// Whether the client can go on after it on the same connection.
    pub recoverable: bool,
    /// The server's hint for the client author.
    pub help: String,
}

impl ServerError {
    /// Reads the error fields of an error frame or HTTP body. Missing
    /// fields are filled in: code `unknown`, and `recoverable`/`help` from
    /// the code when it is known.
    pub fn from_json(v: &serde_json::Value) -> ServerError {
        let code = AnyErrorCode::parse(v["code"].as_str().unwrap_or("unknown"));
        let known = code.known();
        ServerError {
            recoverable: v["recoverable"]
                .as_bool()
                .unwrap_or_else(|| known.is_none_or(ErrorCode::recoverable)),
            help: v["help"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| known.map(ErrorCode::help).unwrap_or("").to_string()),
            message: v["error"].as_str().unwrap_or("").to_string(),
            code,
        }
    }
}

impl From<ErrorBody> for ServerError {
    fn from(e: ErrorBody) -> Self {
        ServerError {
            code: e.code,
            message: e.message,
            recoverable: e.recoverable,
            help: e.help,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Everything that can go wrong in the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The configuration cannot work (bad URL, header value…).
    InvalidConfig(String),
    /// The TCP connection or the WebSocket handshake failed.
    Connect(String),
    /// The server answered the upgrade with this HTTP status instead of 101
    /// (401/403: credentials refused; 429/503: try later).
    Refused { status: u16 },
    /// The server refused the credentials in an `auth` or `refresh`.
    AuthFailed(ServerError),
    /// The server refused a subscription.
    SubscribeFailed {
        channels: Vec<String>,
        error: ServerError,
    },
    /// This client already has a subscription to the channel.
    AlreadySubscribed(String),
    /// The server refused an unsubscribe.
    UnsubscribeFailed(ServerError),
    /// The server closed the connection with this close code and the client
    /// will not reconnect (4001 authentication, 4009 disconnected by the
    /// server, 4011 replaced…).
    ServerClosed { code: u16, reason: String },
    /// The offline queue is full and its policy refuses new messages.
    QueueFull,
    /// A wait took longer than allowed.
    Timeout(&'static str),
    /// A frame from the server did not follow the protocol.
    Protocol(String),
    /// The [`crate::TokenProvider`] failed to supply a token.
    TokenProvider(String),
    /// The reconnect budget is spent; `last` is the last attempt's error.
    GaveUp { attempts: u32, last: Box<Error> },
    /// The client has been closed.
    Closed,
    /// An HTTP API call failed with this status and body.
    Http { status: u16, body: String },
}

impl Error {
    /// Whether connecting again (later) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect(_) | Error::Timeout(_) | Error::Protocol(_) => true,
            // A provider that failed once may succeed on the next try.
            Error::TokenProvider(_) => true,
            Error::Refused { status } => matches!(status, 408 | 429 | 500..=599),
            Error::AuthFailed(e) => matches!(
                e.code.known(),
                Some(ErrorCode::RateLimited | ErrorCode::Unavailable)
            ),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(m) => write!(f, "invalid client configuration: {m}"),
            Error::Connect(m) => write!(f, "cannot connect: {m}"),
            Error::Refused { status } => {
                write!(
                    f,
                    "the server refused the WebSocket upgrade with HTTP {status}"
                )
            }
            Error::AuthFailed(e) => write!(f, "authentication failed: {e}"),
            Error::SubscribeFailed { channels, error } => {
                write!(f, "subscribe to {channels:?} failed: {error}")
            }
            Error::AlreadySubscribed(c) => write!(f, "already subscribed to {c:?}"),
            Error::UnsubscribeFailed(e) => write!(f, "unsubscribe failed: {e}"),
            Error::ServerClosed { code, reason } => {
                write!(f, "the server closed the connection: {code} {reason}")
            }
            Error::QueueFull => f.write_str("the offline queue is full"),
            Error::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::TokenProvider(m) => write!(f, "the token provider failed: {m}"),
            Error::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} connection attempts: {last}")
            }
            Error::Closed => f.write_str("the client is closed"),
            Error::Http { status, body } => write!(f, "HTTP {status}: {body}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
