"""Credentials: API keys, HMAC-signed auth and JWTs, and how each travels.

A credential goes either with the WebSocket upgrade (a header or the query
string) or in an ``auth`` message sent after ``init`` (docs/protocol.md §2).
The signed forms always use the message, and every attempt signs a fresh
timestamp: the server refuses a signed ``auth`` it has seen before
(``replay``). Secrets never appear in ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Literal

__all__ = [
    "Credentials",
    "ApiKey",
    "SignedApiKey",
    "KeyId",
    "Jwt",
    "Via",
    "sign",
    "timestamp_ms",
]

#: Where a credential travels: the ``auth`` message, a header of the upgrade
#: request, or the upgrade URL's query string (ends up in proxy logs).
Via = Literal["message", "header", "query"]

TokenSource = str | Callable[[], str | Awaitable[str]]


def timestamp_ms() -> int:
    """The current time in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def sign(key: str | bytes, timestamp: int) -> str:
    """``lowercase_hex(HMAC-SHA256(key, decimal(timestamp)))``.

    ``key`` is the API key (``api_key`` form) or the ``[auth.keys]`` secret
    (``key_id`` form); ``timestamp`` is in milliseconds.
    """
    if isinstance(key, str):
        key = key.encode("utf-8")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a whole number of milliseconds >= 0")
    return hmac.new(key, str(timestamp).encode("ascii"), hashlib.sha256).hexdigest()


class Credentials(ABC):
    """How a client proves who it is. Subclasses: :class:`ApiKey`,
    :class:`SignedApiKey`, :class:`KeyId`, :class:`Jwt`."""

    via: Via = "message"

    @abstractmethod
    async def auth_frame(self) -> dict[str, Any]:
        """The ``auth`` message (without ``id``), freshly signed if signed."""

    async def upgrade(self) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and query parameters for the upgrade request."""
        return {}, {}

    async def refreshed_token(self) -> str | None:
        """A new JWT for ``refresh``, or ``None`` when this credential has none."""
        return None

    @property
    def can_refresh(self) -> bool:
        """Whether :meth:`refreshed_token` can give a new token."""
        return False


class ApiKey(Credentials):
    """A plain API key (``auth.api_keys``, or an ``[auth.keys]`` secret).

    ``via="header"`` sends it as ``X-API-Key`` with the upgrade,
    ``via="query"`` as ``?api_key=``; the default sends ``{"api_key"}`` in
    an ``auth`` message.
    """

    def __init__(self, key: str, *, via: Via = "message") -> None:
        if not key:
            raise ValueError("the API key is empty")
        self._key = key
        self.via = via

    def __repr__(self) -> str:
        return f"ApiKey(via={self.via!r})"

    async def auth_frame(self) -> dict[str, Any]:
        return {"type": "auth", "api_key": self._key}

    async def upgrade(self) -> tuple[dict[str, str], dict[str, str]]:
        if self.via == "header":
            return {"X-API-Key": self._key}, {}
        if self.via == "query":
            return {}, {"api_key": self._key}
        return {}, {}


class SignedApiKey(Credentials):
    """An API key sent with ``timestamp`` and its HMAC ``signature``
    (the MFN form ``HMAC-SHA256(api_key, timestamp)``)."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the API key is empty")
        self._key = key

    def __repr__(self) -> str:
        return "SignedApiKey()"

    async def auth_frame(self) -> dict[str, Any]:
        ts = timestamp_ms()
        return {
            "type": "auth",
            "api_key": self._key,
            "timestamp": ts,
            "signature": sign(self._key, ts),
        }


class KeyId(Credentials):
    """An ``[auth.keys]`` entry: only ``key_id`` and the HMAC travel, never
    the secret."""

    def __init__(self, key_id: str, secret: str) -> None:
        if not key_id or not secret:
            raise ValueError("key_id and secret must not be empty")
        self.key_id = key_id
        self._secret = secret

    def __repr__(self) -> str:
        return f"KeyId({self.key_id!r})"

    async def auth_frame(self) -> dict[str, Any]:
        ts = timestamp_ms()
        return {
            "type": "auth",
            "key_id": self.key_id,
            "timestamp": ts,
            "signature": sign(self._secret, ts),
        }


class Jwt(Credentials):
    """A JSON Web Token.

    ``token`` is the token itself, or a function (plain or ``async``) that
    returns a current one. With a function, the client asks it again for
    every reconnect and answers the server's ``refresh_required``, so the
    connection outlives each token's ``exp``.
    ``via="header"`` sends ``Authorization: Bearer``, ``via="query"``
    ``?token=``; the default sends ``{"token"}`` in an ``auth`` message.
    """

    def __init__(self, token: TokenSource, *, via: Via = "message") -> None:
        if isinstance(token, str) and not token:
            raise ValueError("the token is empty")
        self._source = token
        self.via = via

    def __repr__(self) -> str:
        kind = "provider" if callable(self._source) else "static"
        return f"Jwt({kind}, via={self.via!r})"

    async def token(self) -> str:
        """The token to present now (calls the provider, if any)."""
        if isinstance(self._source, str):
            return self._source
        value = self._source()
        if inspect.isawaitable(value):
            value = await value
        if not isinstance(value, str) or not value:
            raise ValueError("the token provider returned no token")
        return value

    async def auth_frame(self) -> dict[str, Any]:
        return {"type": "auth", "token": await self.token()}

    async def upgrade(self) -> tuple[dict[str, str], dict[str, str]]:
        if self.via == "header":
            return {"Authorization": f"Bearer {await self.token()}"}, {}
        if self.via == "query":
            return {}, {"token": await self.token()}
        return {}, {}

    @property
    def can_refresh(self) -> bool:
        return callable(self._source)

    async def refreshed_token(self) -> str | None:
        return await self.token() if self.can_refresh else None
