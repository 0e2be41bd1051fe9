"""What the client hands to the application: publications, personal
messages and the lifecycle events of subscriptions and the connection.

All are small slotted dataclasses. :data:`Event` is the union a client's
:meth:`~wavecast.Client.events` yields; :data:`ChannelEvent` the union of
one subscription's :meth:`~wavecast.Subscription.events`. Parsing never
raises on odd input: a field of the wrong JSON type becomes ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import WavecastError

__all__ = [
    "Position",
    "Publication",
    "Message",
    "Subscribed",
    "Unsubscribed",
    "Dropped",
    "Connected",
    "Disconnected",
    "Refreshed",
    "ServerNotice",
    "Event",
    "ChannelEvent",
    "PublishResult",
    "HistoryPage",
]


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a channel's log: an offset, meaningful within its epoch."""

    offset: int
    epoch: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"offset": self.offset}
        if self.epoch is not None:
            out["epoch"] = self.epoch
        return out


@dataclass(slots=True)
class Publication:
    """One delivery of a channel. ``type`` is its event type
    (``publication`` unless the publisher chose one); ``offset`` is set in
    namespaces with history."""

    channel: str
    type: str
    data: Any
    offset: int | None
    timestamp: str | None


@dataclass(slots=True)
class Message:
    """A frame without channel meant for the application: a personal
    message (``POST /api/send``), or a frame type this client does not know."""

    type: str
    data: Any
    timestamp: str | None
    frame: dict[str, Any] = field(repr=False)


@dataclass(slots=True)
class Subscribed:
    """The server confirmed a subscription (again after every reconnect).

    ``recovered`` is ``None`` when no recovery was asked; ``True`` when every
    publication since the last one received is replayed (no gap);
    ``False`` when publications were missed and the application should
    reload its state. ``resubscribed`` is ``True`` after a reconnect or a
    ``recovery_required``.
    """

    channel: str
    offset: int | None
    epoch: str | None
    recovered: bool | None
    resubscribed: bool = False
    server_side: bool = False


@dataclass(slots=True)
class Unsubscribed:
    """A subscription ended: by :meth:`~wavecast.Subscription.unsubscribe`,
    or by the server (``server_side``)."""

    channel: str
    server_side: bool = False


@dataclass(slots=True)
class Dropped:
    """Backpressure on the server dropped ``count`` publications of
    ``channel`` for this connection."""

    channel: str
    count: int
    timestamp: str | None


@dataclass(slots=True)
class Connected:
    """The server admitted the connection (``reconnect``: again, after a loss)."""

    connection_id: str | None
    user_id: str | None
    reconnect: bool = False


@dataclass(slots=True)
class Disconnected:
    """The connection was lost. ``will_reconnect`` tells whether the client
    tries again; if not, the client's iterators end with the error."""

    code: int | None
    reason: str
    will_reconnect: bool


@dataclass(slots=True)
class Refreshed:
    """The token was renewed in answer to ``refresh_required``."""

    expires_at: str | None


@dataclass(slots=True)
class ServerNotice:
    """An ``error`` frame that answers no request (e.g. ``rate_limited``)."""

    error: WavecastError


Event = (
    Publication
    | Message
    | Subscribed
    | Unsubscribed
    | Dropped
    | Connected
    | Disconnected
    | Refreshed
    | ServerNotice
)
ChannelEvent = Publication | Subscribed | Unsubscribed | Dropped


@dataclass(frozen=True, slots=True)
class PublishResult:
    """The answer to a publish. ``delivered``: subscriber queues on this
    node that took it; ``nodes`` instead in redis mode; ``offset`` in
    namespaces with history."""

    channel: str
    offset: int | None
    delivered: int | None
    nodes: int | None = None


@dataclass(slots=True)
class HistoryPage:
    """Retained publications of a channel, oldest first, and its position."""

    channel: str
    offset: int | None
    epoch: str | None
    publications: list[Publication]
    earliest: int | None = None


def opt_int(value: Any) -> int | None:
    """``value`` if it is a JSON whole number, else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def opt_str(value: Any) -> str | None:
    """``value`` if it is a string, else ``None``."""
    return value if isinstance(value, str) else None


def publication_from(frame: dict[str, Any]) -> Publication:
    """Reads a delivery (or a publication nested in a history reply)."""
    return Publication(
        str(frame.get("channel", "")),
        str(frame.get("type", "publication")),
        frame.get("data"),
        opt_int(frame.get("offset")),
        opt_str(frame.get("timestamp")),
    )


def publish_result_from(frame: dict[str, Any]) -> PublishResult:
    """Reads ``publish_success`` or the body of ``POST /api/publish``."""
    return PublishResult(
        str(frame.get("channel", "")),
        opt_int(frame.get("offset")),
        opt_int(frame.get("delivered")),
        opt_int(frame.get("nodes")),
    )


def history_from(frame: dict[str, Any]) -> HistoryPage:
    """Reads a ``history`` reply or the body of ``GET /api/history``."""
    pubs = frame.get("publications")
    return HistoryPage(
        str(frame.get("channel", "")),
        opt_int(frame.get("offset")),
        opt_str(frame.get("epoch")),
        [publication_from(p) for p in pubs if isinstance(p, dict)]
        if isinstance(pubs, list)
        else [],
        opt_int(frame.get("earliest")),
    )
