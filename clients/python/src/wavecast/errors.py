"""Exceptions: one class per protocol error code, plus the client's own.

Every error the server reports (WebSocket ``error``, ``auth_failed``,
``subscribe_failed``, ``unsubscribe_failed``, ``stream_error`` frames and
HTTP error bodies) becomes an instance of the class registered for its
``code``, all subclasses of :class:`WavecastError`. An unknown code still
gives a :class:`WavecastError` carrying that code, so new server codes never
break a client. Invariant: ``type(error_from_frame(f)).CODE == f["code"]``
whenever the code is known.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

__all__ = [
    "WavecastError",
    "ServerError",
    "ConnectionClosedError",
    "ProtocolViolationError",
    "InvalidJsonError",
    "MissingTypeError",
    "UnknownTypeError",
    "InvalidFieldError",
    "InvalidChannelError",
    "NotSubscribedError",
    "UnsupportedVersionError",
    "TooManySubscriptionsError",
    "ForbiddenError",
    "UnsupportedFrameError",
    "UnauthorizedError",
    "ConnectionNotFoundError",
    "PayloadTooLargeError",
    "NotFoundError",
    "AuthRequiredError",
    "InvalidCredentialsError",
    "TokenExpiredError",
    "InvalidSignatureError",
    "StaleTimestampError",
    "ReplayError",
    "RateLimitedError",
    "TooManyConnectionsError",
    "OriginNotAllowedError",
    "UnavailableError",
    "TooManyStreamsError",
    "RequestTimeoutError",
    "AgentUnavailableError",
    "AgentRejectedError",
    "AgentProtocolError",
    "AgentTimeoutError",
    "TooManyRequestsError",
    "error_from_frame",
    "error_from_http",
]


class WavecastError(Exception):
    """Base class of every error this package raises on purpose."""

    #: The protocol code of this class (the instance's ``code`` may differ
    #: for :class:`ServerError`, which stands for every unknown code).
    CODE: ClassVar[str] = "client_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        recoverable: bool = True,
        help: str = "",
        frame: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The stable protocol code (``invalid_credentials``, ...).
        self.code: str = code if code is not None else type(self).CODE
        #: As the server sent it: ``False`` for errors retrying cannot fix
        #: (``origin_not_allowed``, ``agent_rejected``, ``agent_protocol_error``).
        self.recoverable = recoverable
        #: The server's fixed hint for the client author.
        self.help = help
        #: The frame or HTTP body the error came from, if any.
        self.frame = frame
        #: The HTTP status, for errors of the HTTP API or a refused upgrade.
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ServerError(WavecastError):
    """An error the server reported (error frame or HTTP error body).

    Each known code has its own subclass below; ``ServerError`` itself stands
    for codes this client does not know (``code`` then holds the server's).
    """

    CODE = "unknown"


class ConnectionClosedError(WavecastError):
    """The connection ended (and, if reconnecting, will not come back).

    ``close_code`` and ``reason`` are the WebSocket close frame's, when one
    was received.
    """

    CODE = "connection_closed"

    def __init__(
        self, message: str, *, close_code: int | None = None, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.reason = reason


class ProtocolViolationError(WavecastError):
    """The server sent something this client cannot make sense of."""

    CODE = "protocol_violation"


# The codes of docs/protocol.md §6, of the MFN streams (docs/mfn.md) and of
# the agent conversation contract. They are never renamed or reused.


class InvalidJsonError(ServerError):
    """The frame or body is not a JSON object."""

    CODE = "invalid_json"


class MissingTypeError(ServerError):
    """The frame has no ``type``."""

    CODE = "missing_type"


class UnknownTypeError(ServerError):
    """``type`` names no client message."""

    CODE = "unknown_type"


class InvalidFieldError(ServerError):
    """A field is missing, has the wrong type or an invalid value."""

    CODE = "invalid_field"


class InvalidChannelError(ServerError):
    """A channel name breaks the rules."""

    CODE = "invalid_channel"


class NotSubscribedError(ServerError):
    """Not subscribed to that channel."""

    CODE = "not_subscribed"


class UnsupportedVersionError(ServerError):
    """The server does not speak this protocol version."""

    CODE = "unsupported_version"


class TooManySubscriptionsError(ServerError):
    """``limits.max_subscriptions`` would be exceeded."""

    CODE = "too_many_subscriptions"


class ForbiddenError(ServerError):
    """Not allowed for this connection."""

    CODE = "forbidden"


class UnsupportedFrameError(ServerError):
    """Binary frames are not supported."""

    CODE = "unsupported_frame"


class UnauthorizedError(ServerError):
    """The server API key is missing or wrong."""

    CODE = "unauthorized"


class ConnectionNotFoundError(ServerError):
    """The named connection does not exist."""

    CODE = "connection_not_found"


class PayloadTooLargeError(ServerError):
    """The request body is too large."""

    CODE = "payload_too_large"


class NotFoundError(ServerError):
    """No such route, or the namespace keeps no history."""

    CODE = "not_found"


class AuthRequiredError(ServerError):
    """Authenticate first."""

    CODE = "auth_required"


class InvalidCredentialsError(ServerError):
    """Unknown API key or bad token."""

    CODE = "invalid_credentials"


class TokenExpiredError(ServerError):
    """The token expired (or is not valid yet)."""

    CODE = "token_expired"


class InvalidSignatureError(ServerError):
    """The HMAC signature is missing, wrong, or the key id unknown."""

    CODE = "invalid_signature"


class StaleTimestampError(ServerError):
    """The signed timestamp is outside the server's window."""

    CODE = "stale_timestamp"


class ReplayError(ServerError):
    """This signed auth was already used."""

    CODE = "replay"


class RateLimitedError(ServerError):
    """A rate limit was hit."""

    CODE = "rate_limited"


class TooManyConnectionsError(ServerError):
    """The user has too many connections."""

    CODE = "too_many_connections"


class OriginNotAllowedError(ServerError):
    """The Origin is not allowed."""

    CODE = "origin_not_allowed"


class UnavailableError(ServerError):
    """The server is full, shutting down, or its storage failed."""

    CODE = "unavailable"


class TooManyStreamsError(ServerError):
    """Too many simulation streams."""

    CODE = "too_many_streams"


class RequestTimeoutError(ServerError):
    """HTTP: the request body did not arrive within ``http.body_timeout``."""

    CODE = "request_timeout"


class AgentUnavailableError(ServerError):
    """The agent back end cannot be reached; retry later."""

    CODE = "agent_unavailable"


class AgentRejectedError(ServerError):
    """The agent refused the request."""

    CODE = "agent_rejected"


class AgentProtocolError(ServerError):
    """The agent back end broke the agent protocol."""

    CODE = "agent_protocol_error"


class AgentTimeoutError(ServerError):
    """The agent did not answer in time."""

    CODE = "agent_timeout"


class TooManyRequestsError(ServerError):
    """Too many agent conversations at once."""

    CODE = "too_many_requests"


_BY_CODE: dict[str, type[WavecastError]] = {
    cls.CODE: cls
    for cls in (
        InvalidJsonError,
        MissingTypeError,
        UnknownTypeError,
        InvalidFieldError,
        InvalidChannelError,
        NotSubscribedError,
        UnsupportedVersionError,
        TooManySubscriptionsError,
        ForbiddenError,
        UnsupportedFrameError,
        UnauthorizedError,
        ConnectionNotFoundError,
        PayloadTooLargeError,
        NotFoundError,
        AuthRequiredError,
        InvalidCredentialsError,
        TokenExpiredError,
        InvalidSignatureError,
        StaleTimestampError,
        ReplayError,
        RateLimitedError,
        TooManyConnectionsError,
        OriginNotAllowedError,
        UnavailableError,
        TooManyStreamsError,
        RequestTimeoutError,
        AgentUnavailableError,
        AgentRejectedError,
        AgentProtocolError,
        AgentTimeoutError,
        TooManyRequestsError,
    )
}


def error_class(code: str) -> type[WavecastError]:
    """The exception class of a protocol code (:class:`ServerError` if unknown)."""
    return _BY_CODE.get(code, ServerError)


def error_from_frame(
    frame: dict[str, Any], *, status: int | None = None
) -> WavecastError:
    """Builds the typed exception for an error frame or HTTP error body."""
    raw_code = frame.get("code")
    code = raw_code if isinstance(raw_code, str) else "unknown"
    message = frame.get("error")
    recoverable = frame.get("recoverable")
    help_text = frame.get("help")
    return error_class(code)(
        message if isinstance(message, str) else str(frame),
        code=code,
        recoverable=recoverable if isinstance(recoverable, bool) else True,
        help=help_text if isinstance(help_text, str) else "",
        frame=frame,
        status=status,
    )


def error_from_http(status: int, body: bytes) -> WavecastError:
    """Builds the typed exception for a refused HTTP request or upgrade."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), str):
        return error_from_frame(parsed, status=status)
    text = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    return ServerError(text, code=f"http_{status}", status=status)
