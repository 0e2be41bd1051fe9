"""Opening one WebSocket connection: the upgrade with its credentials, then
INIT → AUTH.

``open_session`` returns an admitted connection or raises the typed error:
a refused upgrade becomes the error of its JSON body (``invalid_credentials``
with ``status=401``...), an ``auth_failed`` the error of its code. ``init``
is always sent first, because the MFN stream endpoints ignore every frame
before it; on ``/ws`` it is optional and harmless. Frames that arrive during
the handshake and belong to the application (a server-side
``subscribe_success``, a personal message) are handed back in
``Welcome.leftovers``, in order, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from .auth import Credentials
from .errors import ConnectionClosedError, error_from_frame, error_from_http
from .events import opt_str
from .urls import with_query

__all__ = ["Options", "Welcome", "open_session", "recv_frame", "closed_error", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = "1.0"


@dataclass(frozen=True)
class Options:
    """Transport settings shared by every connection of a client (seconds)."""

    open_timeout: float = 10.0
    close_timeout: float = 5.0
    #: WebSocket ping frames keep the connection alive and detect a dead peer.
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    #: Largest frame accepted from the server (field frames can be ~350 KiB,
    #: history replies larger).
    max_size: int | None = 16 * 1024 * 1024
    #: Extra headers for the upgrade request (e.g. ``Origin`` is separate).
    headers: dict[str, str] = field(default_factory=dict)
    origin: str | None = None
    user_agent: str | None = "wavecast-python"


@dataclass
class Welcome:
    """What the handshake learnt."""

    connection_id: str | None
    user_id: str | None
    protocol_version: str | None
    leftovers: list[dict[str, Any]]


def closed_error(exc: ConnectionClosed, what: str = "connection closed") -> ConnectionClosedError:
    """A :class:`ConnectionClosedError` from a websockets close exception."""
    frame = exc.rcvd
    code = frame.code if frame is not None else None
    reason = frame.reason if frame is not None else ""
    detail = f" ({code} {reason})".rstrip() if code is not None else ""
    return ConnectionClosedError(f"{what}{detail}", close_code=code, reason=reason)


async def open_session(
    url: str, credentials: Credentials | None, options: Options
) -> tuple[ClientConnection, Welcome]:
    """Connects to ``url`` and runs INIT → AUTH (see the module doc)."""
    headers = dict(options.headers)
    query: dict[str, str] = {}
    if credentials is not None and credentials.via != "message":
        extra_headers, query = await credentials.upgrade()
        headers.update(extra_headers)
    try:
        ws = await connect(
            with_query(url, query),
            additional_headers=headers,
            origin=Origin(options.origin) if options.origin else None,
            user_agent_header=options.user_agent,
            compression=None,
            proxy=None,
            open_timeout=options.open_timeout,
            close_timeout=options.close_timeout,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            max_size=options.max_size,
        )
    except InvalidStatus as exc:
        raise error_from_http(exc.response.status_code, bytes(exc.response.body or b"")) from None
    try:
        welcome = await asyncio.wait_for(_handshake(ws, credentials), options.open_timeout)
    except BaseException:
        await ws.close()
        raise
    return ws, welcome


async def _handshake(ws: ClientConnection, credentials: Credentials | None) -> Welcome:
    await ws.send(json.dumps({"type": "init", "protocol_version": PROTOCOL_VERSION, "id": "init"}))
    want_auth = credentials is not None and credentials.via == "message"
    if credentials is not None and want_auth:
        await ws.send(json.dumps({**await credentials.auth_frame(), "id": "auth"}))
    welcome = Welcome(None, None, None, [])
    got_init = False
    got_auth = not want_auth
    while not (got_init and got_auth):
        frame = await recv_frame(ws, "the server closed the connection during the handshake")
        kind = frame.get("type")
        fid = frame.get("id")
        if kind == "connection_established":
            welcome.connection_id = opt_str(frame.get("connection_id"))
            welcome.user_id = opt_str(frame.get("user_id"))
        elif fid == "init" and kind == "init":
            got_init = True
            welcome.protocol_version = opt_str(frame.get("protocol_version"))
            welcome.connection_id = welcome.connection_id or opt_str(frame.get("connection_id"))
        elif fid == "auth" and kind == "auth_success":
            got_auth = True
            welcome.user_id = opt_str(frame.get("user_id"))
            welcome.connection_id = opt_str(frame.get("connection_id")) or welcome.connection_id
        elif fid in ("init", "auth") and kind in ("error", "auth_failed"):
            raise error_from_frame(frame)
        elif kind != "heartbeat":
            welcome.leftovers.append(frame)
    return welcome


async def recv_frame(ws: ClientConnection, what: str) -> dict[str, Any]:
    """The next JSON object frame (other frames are skipped). A closed
    connection raises :class:`ConnectionClosedError` starting with ``what``."""
    while True:
        try:
            data = await ws.recv()
        except ConnectionClosed as exc:
            raise closed_error(exc, what) from None
        if isinstance(data, bytes):
            continue
        try:
            frame = json.loads(data)
        except ValueError:
            continue
        if isinstance(frame, dict):
            return frame
