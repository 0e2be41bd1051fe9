"""The server HTTP API (docs/protocol.md §12): publish, broadcast, send,
history, stats.

Standard library only (``http.client``). Each call opens one HTTP/1.1
connection in a worker thread (``asyncio.to_thread``), so the event loop is
never blocked. A non-2xx answer raises the typed error of its JSON body,
with ``status`` set. The server API key (``http.api_key``) is sent as
``Authorization: Bearer``; without one, the server answers loopback
clients only.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from .errors import ServerError, error_from_http
from .events import HistoryPage, PublishResult, history_from, publish_result_from, opt_int

__all__ = ["HttpApi"]


class HttpApi:
    """A client of the server API at ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http:// or https:// URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:
        scheme = "https" if self._https else "http"
        return f"HttpApi({scheme}://{self._host}:{self._port}{self._prefix})"

    def request_sync(self, method: str, path: str, body: Any = None) -> Any:
        """One blocking request; the parsed JSON answer (text if not JSON)."""
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.timeout)
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            conn.request(method, self._prefix + path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            raise error_from_http(resp.status, raw)
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """:meth:`request_sync` in a worker thread."""
        return await asyncio.to_thread(self.request_sync, method, path, body)

    async def publish(self, channel: str, data: Any, *, type: str | None = None) -> PublishResult:
        """``POST /api/publish``: publishes ``data`` to ``channel``."""
        body: dict[str, Any] = {"channel": channel, "data": data}
        if type is not None:
            body["type"] = type
        return publish_result_from(_object(await self.request("POST", "/api/publish", body)))

    async def broadcast(
        self, channels: list[str], data: Any, *, type: str | None = None
    ) -> dict[str, Any]:
        """``POST /api/broadcast``: ``{"channels": {name: delivered}, "delivered": n}``."""
        body: dict[str, Any] = {"channels": channels, "data": data}
        if type is not None:
            body["type"] = type
        return _object(await self.request("POST", "/api/broadcast", body))

    async def send(
        self,
        data: Any,
        *,
        connection_id: str | None = None,
        user_id: str | None = None,
        type: str | None = None,
    ) -> int:
        """``POST /api/send``: a personal message; returns how many
        connections got it."""
        if (connection_id is None) == (user_id is None):
            raise ValueError("give exactly one of connection_id and user_id")
        body: dict[str, Any] = {"data": data}
        if connection_id is not None:
            body["connection_id"] = connection_id
        if user_id is not None:
            body["user_id"] = user_id
        if type is not None:
            body["type"] = type
        return opt_int(_object(await self.request("POST", "/api/send", body)).get("delivered")) or 0

    async def history(
        self, channel: str, *, since: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        """``GET /api/history/{channel}``."""
        query = {k: str(v) for k, v in (("since", since), ("limit", limit)) if v is not None}
        path = "/api/history/" + quote(channel, safe="")
        if query:
            path += "?" + urlencode(query)
        return history_from(_object(await self.request("GET", path)))

    async def disconnect(self, connection_id: str) -> None:
        """``POST /api/disconnect``: closes a connection with 4009."""
        await self.request("POST", "/api/disconnect", {"connection_id": connection_id})

    async def stats(self) -> dict[str, Any]:
        """``GET /api/ws/stats``."""
        return _object(await self.request("GET", "/api/ws/stats"))


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ServerError(f"expected a JSON object, got {value!r:.200}", code="invalid_json")
    return value
