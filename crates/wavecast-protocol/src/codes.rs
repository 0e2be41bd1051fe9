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
    /// The connection would exceed `max_subscriptions_per_connection`.
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
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 14] = [
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
        }
    }

    /// Whether the client can go on after this error on the same connection.
    pub fn recoverable(self) -> bool {
        !matches!(self, ErrorCode::UnsupportedVersion)
    }

    /// A short hint for the client author.
    pub fn help(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "send one JSON object per text frame",
            ErrorCode::MissingType => "every message needs a \"type\" field",
            ErrorCode::UnknownType => {
                "known types: init, subscribe, unsubscribe, publish, ping, pong, close"
            }
            ErrorCode::InvalidField => "see docs/protocol.md for the fields of this message",
            ErrorCode::InvalidChannel => {
                "channel names are 1-255 bytes of letters, digits and _ - : . @ # /"
            }
            ErrorCode::NotSubscribed => "subscribe to the channel first",
            ErrorCode::UnsupportedVersion => "this server speaks protocol 1.x",
            ErrorCode::TooManySubscriptions => {
                "unsubscribe from some channels or raise max_subscriptions_per_connection"
            }
            ErrorCode::Forbidden => "this connection is not allowed to do that",
            ErrorCode::UnsupportedFrame => "protocol v1 uses text frames with JSON",
            ErrorCode::Unauthorized => {
                "send the server API key as 'Authorization: Bearer <key>' or 'X-API-Key'"
            }
            ErrorCode::ConnectionNotFound => "the connection is closed or never existed",
            ErrorCode::PayloadTooLarge => "send a smaller body or raise http.max_body_bytes",
            ErrorCode::NotFound => "see docs/protocol.md for the HTTP routes",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// 1009: a message was larger than `max_message_bytes`.
    MessageTooBig,
    /// 4000: no frame from the client within `heartbeat_timeout`.
    HeartbeatTimeout,
    /// 4008: the outbound queue overflowed under the `disconnect` strategy.
    SlowConsumer,
    /// 4009: closed by the server API (`POST /api/disconnect`).
    DisconnectedByServer,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::MessageTooBig => 1009,
            CloseCode::HeartbeatTimeout => 4000,
            CloseCode::SlowConsumer => 4008,
            CloseCode::DisconnectedByServer => 4009,
        }
    }

    /// The close reason text sent with the code.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "normal closure",
            CloseCode::GoingAway => "server shutting down",
            CloseCode::ProtocolError => "protocol error",
            CloseCode::MessageTooBig => "message too big",
            CloseCode::HeartbeatTimeout => "heartbeat timeout",
            CloseCode::SlowConsumer => "slow consumer",
            CloseCode::DisconnectedByServer => "disconnected by server",
        }
    }

    /// The label used for `disconnects_total{reason=…}` and the audit log.
    pub fn label(self) -> &'static str {
        match self {
            CloseCode::Normal => "client_close",
            CloseCode::GoingAway => "shutdown",
            CloseCode::ProtocolError => "protocol_error",
            CloseCode::MessageTooBig => "message_too_big",
            CloseCode::HeartbeatTimeout => "heartbeat_timeout",
            CloseCode::SlowConsumer => "slow_consumer",
            CloseCode::DisconnectedByServer => "server_disconnect",
        }
    }
}
