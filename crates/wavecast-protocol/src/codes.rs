//! The stable error codes carried by `error`, `subscribe_failed`,
//! `unsubscribe_failed` and HTTP error bodies, and the WebSocket close codes
//! the server uses. Both lists are part of protocol v1: codes are never
//! renamed or reused (see docs/protocol.md).

/// A stable, machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The frame is not valid JSON, or not a JSON object.
    InvalidJson,
    /// The object has no `type` field.
    MissingType,
    /// `type` names no client message of this protocol.
    UnknownType,
    /// A field is missing, has the wrong JSON type or an invalid value.
    InvalidField,
    /// A channel name breaks the channel rules.
    InvalidChannel,
    /// `unsubscribe` named a channel the connection is not subscribed to.
    NotSubscribed,
    /// `init` asked for a protocol major version the server does not speak.
    UnsupportedVersion,
    /// The connection would exceed `limits.max_subscriptions`.
    TooManySubscriptions,
    /// The action is not allowed for this connection.
    Forbidden,
    /// A binary frame was sent; protocol v1 uses text frames.
    UnsupportedFrame,
    /// HTTP: missing or wrong server API key.
    Unauthorized,
    /// HTTP: the named connection does not exist (anymore).
    ConnectionNotFound,
    /// HTTP: the request body is larger than `http.max_body_bytes`.
    PayloadTooLarge,
    /// HTTP: the route does not exist.
    NotFound,
    /// A message other than `init`, `auth`, `ping`, `pong` or `close` before
    /// authentication (or `refresh` on an unauthenticated connection).
    AuthRequired,
    /// Unknown API key, bad token, or credentials of the wrong form.
    InvalidCredentials,
    /// The token's `exp` has passed (or `nbf` is in the future).
    TokenExpired,
    /// The HMAC signature does not match.
    InvalidSignature,
    /// The signed timestamp is outside the allowed window.
    StaleTimestamp,
    /// The same signed `auth` was already used within the window.
    Replay,
    /// A rate limit (messages, or connections per user or IP) was hit.
    RateLimited,
    /// The user already has `max_connections_per_user` connections and the
    /// policy is to refuse new ones.
    TooManyConnections,
    /// The `Origin` of the upgrade request is not allowed.
    OriginNotAllowed,
    /// The process is at `max_connections`, or shutting down.
    Unavailable,
    /// A connection or the server runs as many streams as allowed.
    TooManyStreams,
    /// HTTP: the request body did not arrive within `http.body_timeout`.
    RequestTimeout,
    /// The agent upstream cannot be reached, or answered 502/503, after
    /// `agents.retries` retries (or no agent is configured).
    AgentUnavailable,
    /// The agent upstream refused the request (HTTP 4xx); the message is
    /// the upstream's. Not recoverable: the same request fails again.
    AgentRejected,
    /// The agent upstream broke the agent contract: a malformed event, a
    /// stream that ended without `agent_completed`. Not recoverable.
    AgentProtocolError,
    /// The agent took longer than `agents.timeout`, or sent no event for
    /// `agents.idle_timeout`.
    AgentTimeout,
    /// The user (or the server) runs as many agent conversations as allowed.
    TooManyRequests,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 31] = [
        ErrorCode::InvalidJson,
        ErrorCode::MissingType,
        ErrorCode::UnknownType,
        ErrorCode::InvalidField,
        ErrorCode::InvalidChannel,
        ErrorCode::NotSubscribed,
        ErrorCode::UnsupportedVersion,
        ErrorCode::TooManySubscriptions,
        ErrorCode::Forbidden,
        ErrorCode::UnsupportedFrame,
        ErrorCode::Unauthorized,
        ErrorCode::ConnectionNotFound,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotFound,
        ErrorCode::AuthRequired,
        ErrorCode::InvalidCredentials,
        ErrorCode::TokenExpired,
        ErrorCode::InvalidSignature,
        ErrorCode::StaleTimestamp,
        ErrorCode::Replay,
        ErrorCode::RateLimited,
        ErrorCode::TooManyConnections,
        ErrorCode::OriginNotAllowed,
        ErrorCode::Unavailable,
        ErrorCode::TooManyStreams,
        ErrorCode::RequestTimeout,
        ErrorCode::AgentUnavailable,
        ErrorCode::AgentRejected,
        ErrorCode::AgentProtocolError,
        ErrorCode::AgentTimeout,
        ErrorCode::TooManyRequests,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::MissingType => "missing_type",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidChannel => "invalid_channel",
            ErrorCode::NotSubscribed => "not_subscribed",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnsupportedFrame => "unsupported_frame",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::ConnectionNotFound => "connection_not_found",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AuthRequired => "auth_required",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::StaleTimestamp => "stale_timestamp",
            ErrorCode::Replay => "replay",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::TooManyStreams => "too_many_streams",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::AgentUnavailable => "agent_unavailable",
            ErrorCode::AgentRejected => "agent_rejected",
            ErrorCode::AgentProtocolError => "agent_protocol_error",
            ErrorCode::AgentTimeout => "agent_timeout",
            ErrorCode::TooManyRequests => "too_many_requests",
        }
    }

    /// Whether trying again (later, on the same connection) can succeed.
    /// No error frame closes the connection by itself; `false` says the
    /// same request will fail the same way.
    pub fn recoverable(self) -> bool {
        !matches!(
            self,
            ErrorCode::OriginNotAllowed | ErrorCode::AgentRejected | ErrorCode::AgentProtocolError
        )
    }

    /// A short hint for the client author.
    pub fn help(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "send one JSON object per text frame",
            ErrorCode::MissingType => "every message needs a \"type\" field",
            ErrorCode::UnknownType => {
                "known types: init, auth, refresh, subscribe, unsubscribe, publish, history, ping, pong, close, user_message, agent_request, agent_cancel"
            }
            ErrorCode::InvalidField => "see docs/protocol.md for the fields of this message",
            ErrorCode::InvalidChannel => {
                "channel names are 1-255 bytes of letters, digits and _ - : . @ # /"
            }
            ErrorCode::NotSubscribed => "subscribe to the channel first",
            ErrorCode::UnsupportedVersion => "this server speaks protocol 1.x",
            ErrorCode::TooManySubscriptions => {
                "unsubscribe from some channels or raise limits.max_subscriptions"
            }
            ErrorCode::Forbidden => "this connection is not allowed to do that",
            ErrorCode::UnsupportedFrame => "protocol v1 uses text frames with JSON",
            ErrorCode::Unauthorized => {
                "send the server API key as 'Authorization: Bearer <key>' or 'X-API-Key'"
            }
            ErrorCode::ConnectionNotFound => "the connection is closed or never existed",
            ErrorCode::PayloadTooLarge => "send a smaller body or raise http.max_body_bytes",
            ErrorCode::NotFound => "see docs/protocol.md for the HTTP routes",
            ErrorCode::AuthRequired => "send an auth message first",
            ErrorCode::InvalidCredentials => "check the API key or token",
            ErrorCode::TokenExpired => "get a fresh token and reconnect or refresh",
            ErrorCode::InvalidSignature => {
                "signature = hex(HMAC-SHA256(key, decimal timestamp in ms))"
            }
            ErrorCode::StaleTimestamp => "sign the current time; check the client clock",
            ErrorCode::Replay => "sign a fresh timestamp for every auth",
            ErrorCode::RateLimited => "slow down and retry later",
            ErrorCode::TooManyConnections => "close another connection of this user first",
            ErrorCode::OriginNotAllowed => "the page's origin is not in origins.allowed",
            ErrorCode::Unavailable => "retry later, or on another node",
            ErrorCode::TooManyStreams => "unsubscribe a stream first, or retry later",
            ErrorCode::RequestTimeout => "send the whole body at once, or raise http.body_timeout",
            ErrorCode::AgentUnavailable => "the agent back end is down or busy; retry later",
            ErrorCode::AgentRejected => "the agent refused this request; change it before sending it again",
            ErrorCode::AgentProtocolError => {
                "the agent back end broke the agent contract (docs/agents.md); report it to its operator"
            }
            ErrorCode::AgentTimeout => "the agent was too slow; retry, or ask for less",
            ErrorCode::TooManyRequests => "wait for a running conversation to end, or cancel one",
        }
    }
}

/// A code string that names no [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownErrorCode(pub String);

impl std::fmt::Display for UnknownErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown error code {:?}", self.0)
    }
}

impl std::error::Error for UnknownErrorCode {}

impl std::str::FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    /// Parses the wire spelling (as sent in `code`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_string()))
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error code as read from the wire: one of the [`ErrorCode`]s this
/// crate knows, or the text of a code it does not know (a newer server, or
/// a code of a domain part such as agents). Compares equal to its wire
/// spelling, so `code == "forbidden"` and `code == ErrorCode::Forbidden`
/// both work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyErrorCode {
    Known(ErrorCode),
    Unknown(String),
}

impl AnyErrorCode {
    /// Reads a wire spelling; never fails.
    pub fn parse(s: &str) -> AnyErrorCode {
        s.parse::<ErrorCode>()
            .map(AnyErrorCode::Known)
            .unwrap_or_else(|UnknownErrorCode(text)| AnyErrorCode::Unknown(text))
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            AnyErrorCode::Known(c) => c.as_str(),
            AnyErrorCode::Unknown(s) => s,
        }
    }

    /// The code, when this crate knows it.
    pub fn known(&self) -> Option<ErrorCode> {
        match self {
            AnyErrorCode::Known(c) => Some(*c),
            AnyErrorCode::Unknown(_) => None,
        }
    }
}

impl From<ErrorCode> for AnyErrorCode {
    fn from(c: ErrorCode) -> Self {
        AnyErrorCode::Known(c)
    }
}

impl std::fmt::Display for AnyErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<ErrorCode> for AnyErrorCode {
    fn eq(&self, other: &ErrorCode) -> bool {
        self.known() == Some(*other)
    }
}

impl PartialEq<str> for AnyErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for AnyErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// WebSocket close codes the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: normal close, after the client's `close`.
    Normal,
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1002: the peer broke the WebSocket protocol.
    ProtocolError,
    /// 1007: a text frame was not valid UTF-8.
    InvalidPayload,
    /// 1009: a message was larger than `limits.max_message_size`.
    MessageTooBig,
    /// 4000: no frame from the client within `heartbeat_timeout`.
    HeartbeatTimeout,
    /// 4008: the outbound queue overflowed under the `disconnect` strategy.
    SlowConsumer,
    /// 4009: closed by the server API (`POST /api/disconnect`).
    DisconnectedByServer,
    /// 4001: authentication failed too often.
    AuthFailed,
    /// 4001: no successful `auth` within `auth_timeout`.
    AuthTimeout,
    /// 4001: the token expired without a `refresh`.
    TokenExpired,
    /// 4008: the client kept sending above its message rate.
    RateLimit,
    /// 4011: the user opened a connection beyond `max_connections_per_user`
    /// and this, its oldest, was replaced.
    Replaced,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::InvalidPayload => 1007,
            CloseCode::MessageTooBig => 1009,
            CloseCode::HeartbeatTimeout => 4000,
            CloseCode::SlowConsumer => 4008,
            CloseCode::DisconnectedByServer => 4009,
            CloseCode::AuthFailed | CloseCode::AuthTimeout | CloseCode::TokenExpired => 4001,
            CloseCode::RateLimit => 4008,
            CloseCode::Replaced => 4011,
        }
    }

    /// The close reason text sent with the code.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "normal closure",
            CloseCode::GoingAway => "server shutting down",
            CloseCode::ProtocolError => "protocol error",
            CloseCode::InvalidPayload => "invalid utf8",
            CloseCode::MessageTooBig => "message too big",
            CloseCode::HeartbeatTimeout => "heartbeat timeout",
            CloseCode::SlowConsumer => "slow consumer",
            CloseCode::DisconnectedByServer => "disconnected by server",
            CloseCode::AuthFailed => "authentication failed",
            CloseCode::AuthTimeout => "authentication timeout",
            CloseCode::TokenExpired => "token expired",
            CloseCode::RateLimit => "message rate exceeded",
            CloseCode::Replaced => "replaced",
        }
    }

    /// The label used for `disconnects_total{reason=…}` and the audit log.
    pub fn label(self) -> &'static str {
        match self {
            CloseCode::Normal => "client_close",
            CloseCode::GoingAway => "shutdown",
            CloseCode::ProtocolError => "protocol_error",
            CloseCode::InvalidPayload => "invalid_payload",
            CloseCode::MessageTooBig => "message_too_big",
            CloseCode::HeartbeatTimeout => "heartbeat_timeout",
            CloseCode::SlowConsumer => "slow_consumer",
            CloseCode::DisconnectedByServer => "server_disconnect",
            CloseCode::AuthFailed => "auth_failed",
            CloseCode::AuthTimeout => "auth_timeout",
            CloseCode::TokenExpired => "token_expired",
            CloseCode::RateLimit => "rate_limit",
            CloseCode::Replaced => "replaced",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>(), Ok(c));
        }
        assert!("nope".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn any_code_keeps_unknown_text() {
        let known = AnyErrorCode::parse("forbidden");
        assert_eq!(known, AnyErrorCode::Known(ErrorCode::Forbidden));
        assert_eq!(known, ErrorCode::Forbidden);
        assert_eq!(known, "forbidden");
        let unknown = AnyErrorCode::parse("some_future_code");
        assert_eq!(unknown.known(), None);
        assert_eq!(unknown, "some_future_code");
        assert_ne!(unknown, ErrorCode::Forbidden);
        assert_eq!(unknown.to_string(), "some_future_code");
    }
}
