"""Client-side pacing under the server's message rate.

The server takes one token per client message from a bucket of
``limits.message_burst`` tokens refilled at ``limits.max_message_rate`` per
second, and answers a message that finds it empty with an id-less
``rate_limited`` error instead of its reply (docs/protocol.md §3). A
request would then wait for a reply that never comes. :class:`TokenBucket`
keeps the client under that rate by delaying sends instead: each send
reserves a token, possibly ahead of time, and waits until the reservation
is due, so waiting senders go in FIFO order.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``rate <= 0``
    disables pacing."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._tokens = self.burst
        self._stamp = time.monotonic()

    def reserve(self) -> float:
        """Takes a token; returns how many seconds to wait before using it."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def take(self) -> None:
        """Waits until a message may be sent."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
