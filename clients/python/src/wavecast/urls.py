"""Server addresses: one base URL gives the WebSocket endpoints and the
HTTP API.

A user may pass ``ws://host:port/ws``, ``ws://host:port`` or
``http://host:port``; every function here accepts any of them and keeps
only scheme (mapped between ``ws``/``http`` and ``wss``/``https``), host
and port, plus any path prefix before a known endpoint (a proxy mount).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

__all__ = ["ws_url", "http_base", "with_query"]

_ENDPOINTS = (
    "/api/ws/connect",
    "/ws/stream_features",
    "/ws/simulation_live",
    "/ws/heartbeat",
    "/ws",
)
_TO_WS = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_TO_HTTP = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _split(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _TO_WS or not parts.netloc:
        raise ValueError(f"not a ws://, wss://, http:// or https:// URL: {url!r}")
    prefix = parts.path.rstrip("/")
    for endpoint in _ENDPOINTS:
        if prefix.endswith(endpoint):
            prefix = prefix[: -len(endpoint)]
            break
    return scheme, parts.netloc, prefix


def ws_url(url: str, path: str | None = None) -> str:
    """The WebSocket URL of ``path`` (``/ws``, ``/ws/stream_features``...)
    on the server of ``url``. Without ``path``: ``url`` itself (its query
    dropped) if it names a path, else its ``/ws``."""
    scheme, netloc, prefix = _split(url)
    if path is None:
        own = urlsplit(url).path
        path, prefix = ("", own) if own not in ("", "/") else ("/ws", prefix)
    return urlunsplit((_TO_WS[scheme], netloc, prefix + path, "", ""))


def http_base(url: str) -> str:
    """The HTTP base URL (no trailing slash) of the server of ``url``."""
    scheme, netloc, prefix = _split(url)
    return urlunsplit((_TO_HTTP[scheme], netloc, prefix, "", ""))


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended to its query string."""
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
