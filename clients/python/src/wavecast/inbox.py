"""A single-consumer FIFO between the connection's reader and the
application, with a bound and an end.

``get`` takes an item without suspending when one is there (the hot path
of a fast consumer). ``put`` (and ``wait_space``) suspends while the inbox holds
``maxsize`` items or more, which stops the reader, so the socket stops being read and
the server's backpressure strategy takes over. ``close`` ends the inbox:
items already in it are still handed out, then ``get`` raises the closing
error, or :class:`StopAsyncIteration` for a normal end.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Inbox"]

T = TypeVar("T")


class Inbox(Generic[T]):
    """See the module doc. ``maxsize <= 0`` means unbounded."""

    __slots__ = ("_items", "_maxsize", "_getter", "_putter", "_closed", "_error")

    def __init__(self, maxsize: int = 0) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None
        self._closed = False
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def full(self) -> bool:
        return 0 < self._maxsize <= len(self._items)

    def put_nowait(self, item: T) -> None:
        """Appends ``item`` whatever the bound (dropped if closed)."""
        if self._closed:
            return
        self._items.append(item)
        g = self._getter
        if g is not None:
            self._getter = None
            if not g.done():
                g.set_result(None)

    async def wait_space(self) -> None:
        """Returns once the inbox is below its bound (or closed)."""
        while self.full() and not self._closed:
            fut = asyncio.get_running_loop().create_future()
            self._putter = fut
            try:
                await fut
            finally:
                if self._putter is fut:
                    self._putter = None

    async def put(self, item: T) -> None:
        """Appends ``item``, first waiting while the inbox is full."""
        await self.wait_space()
        self.put_nowait(item)

    def _wake_putter(self) -> None:
        p = self._putter
        if p is not None and not self.full():
            self._putter = None
            if not p.done():
                p.set_result(None)

    async def get(self) -> T:
        """The oldest item; waits for one. Raises once closed and empty."""
        while True:
            if self._items:
                item = self._items.popleft()
                if self._putter is not None:
                    self._wake_putter()
                return item
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            fut = asyncio.get_running_loop().create_future()
            self._getter = fut
            try:
                await fut
            finally:
                if self._getter is fut:
                    self._getter = None

    def close(self, error: BaseException | None = None) -> None:
        """Ends the inbox (idempotent; the first error wins)."""
        if self._closed:
            return
        self._closed = True
        self._error = error
        for fut in (self._getter, self._putter):
            if fut is not None and not fut.done():
                fut.set_result(None)
        self._getter = self._putter = None

    def adopt(self, items: list[T]) -> None:
        """Appends items taken from another inbox, even if this one is
        closed (they were delivered before it ended)."""
        if not items:
            return
        self._items.extend(items)
        g = self._getter
        if g is not None:
            self._getter = None
            if not g.done():
                g.set_result(None)

    def take_where(self, pred: Callable[[T], bool]) -> list[T]:
        """Removes and returns, in order, every item for which ``pred`` holds."""
        kept: deque[T] = deque()
        taken: list[T] = []
        for item in self._items:
            (taken if pred(item) else kept).append(item)
        self._items = kept
        if taken:
            self._wake_putter()
        return taken
