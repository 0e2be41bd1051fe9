"""One channel subscription: its position in the channel's log and its own
stream of events.

Invariants:

- ``offset`` is the offset of the last publication handed to the
  application's inboxes (or, before any, the position the subscription
  started from), and ``epoch`` the log's epoch from the last
  ``subscribe_success``. Together they are what a resubscription recovers
  from, so a reconnect neither skips nor repeats a publication.
- Until the subscription is iterated, its events go to the client's own
  stream. Iterating it (``async for`` or :meth:`events`) *claims* the
  channel: the channel's events still waiting in the client's stream move
  here, in order, and later ones come only here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

from .events import ChannelEvent, Dropped, Event, Position, Publication, Subscribed, Unsubscribed
from .inbox import Inbox

__all__ = ["Subscription"]

_CHANNEL_EVENTS = (Publication, Subscribed, Unsubscribed, Dropped)


class _Host(Protocol):
    """What a subscription needs from its client."""

    _inbox: Inbox[Event]

    async def unsubscribe(self, channel: str) -> None: ...


class Subscription:
    """A channel this client is subscribed to (see the module doc).

    ``async for pub in sub`` yields the channel's :class:`Publication` s;
    :meth:`events` yields its lifecycle events too (:class:`Subscribed`
    after every (re)subscription, with ``recovered``; :class:`Dropped`;
    :class:`Unsubscribed` at the end). Iteration ends when the subscription
    ends, and raises the error that ended the client, if any.
    """

    def __init__(
        self,
        host: _Host,
        channel: str,
        *,
        recover: bool,
        options: dict[str, Any],
        max_queue: int,
    ) -> None:
        self._host = host
        #: The channel name.
        self.channel = channel
        #: Whether reconnects resubscribe from the last offset and epoch.
        self.recover = recover
        #: The log's epoch (``None`` in namespaces without history).
        self.epoch: str | None = None
        #: The last offset received (``None`` in namespaces without history).
        self.offset: int | None = None
        #: The outcome of the last recovery asked for (see :class:`Subscribed`).
        self.recovered: bool | None = None
        #: How many times the subscription was made again after a loss.
        self.resubscriptions = 0
        self.options = options
        self._inbox: Inbox[ChannelEvent] = Inbox(max_queue)
        self._claimed = False

    def __repr__(self) -> str:
        return (
            f"Subscription({self.channel!r}, offset={self.offset}, "
            f"epoch={self.epoch!r}, recovered={self.recovered})"
        )

    @property
    def active(self) -> bool:
        """``False`` once the subscription has ended."""
        return not self._inbox.closed

    @property
    def position(self) -> Position | None:
        """Where a recovery would resume, if the channel keeps history."""
        if self.offset is None:
            return None
        return Position(self.offset, self.epoch)

    def route(self) -> Inbox[Any]:
        """The inbox this subscription's events go to now."""
        return self._inbox if self._claimed else self._host._inbox

    def _claim(self) -> None:
        if self._claimed:
            return
        self._claimed = True
        channel = self.channel
        moved: list[Any] = self._host._inbox.take_where(
            lambda ev: isinstance(ev, _CHANNEL_EVENTS) and ev.channel == channel
        )
        self._inbox.adopt(moved)

    def __aiter__(self) -> AsyncGenerator[Publication, None]:
        self._claim()
        return self._publications()

    async def _publications(self) -> AsyncGenerator[Publication, None]:
        get = self._inbox.get
        while True:
            try:
                ev = await get()
            except StopAsyncIteration:
                return
            if type(ev) is Publication:
                yield ev

    async def events(self) -> AsyncGenerator[ChannelEvent, None]:
        """Every event of this channel, in delivery order (see the class doc)."""
        self._claim()
        while True:
            try:
                yield await self._inbox.get()
            except StopAsyncIteration:
                return

    async def unsubscribe(self) -> None:
        """Ends the subscription (no frame of the channel follows)."""
        if self.active:
            await self._host.unsubscribe(self.channel)

    def _started(self, state: dict[str, Any], asked: Position | None, resubscribed: bool) -> Subscribed:
        """Applies a ``subscribe_success`` position; returns its event."""
        epoch = state.get("epoch")
        offset = state.get("offset")
        recovered = state.get("recovered")
        self.epoch = epoch if isinstance(epoch, str) else None
        self.recovered = recovered if isinstance(recovered, bool) else None
        if asked is not None and self.recovered:
            # The replay from the asked offset follows and advances it.
            self.offset = asked.offset
        elif isinstance(offset, int) and not isinstance(offset, bool):
            self.offset = offset
        else:
            self.offset = None
        if resubscribed:
            self.resubscriptions += 1
        return Subscribed(self.channel, self.offset, self.epoch, self.recovered, resubscribed)

    def _end(self, event: Unsubscribed | None, error: BaseException | None = None) -> None:
        """Ends the subscription, after ``event`` (if any) is handed out."""
        if event is not None:
            self.route().put_nowait(event)
        self._inbox.close(error)
