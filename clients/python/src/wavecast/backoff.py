"""Reconnect delays: exponential backoff with full jitter.

Retry ``n`` (0-based) waits a uniformly random time in
``[0, min(cap, base * 2**n)]``, so clients that lost the same server do not
come back in lockstep. ``max_attempts`` failed attempts in a row end the
reconnecting (``None``: never give up).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """The reconnect policy. Times are in seconds."""

    base: float = 0.2
    cap: float = 30.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap >= self.base):
            raise ValueError("backoff needs 0 < base <= cap")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None)")

    def bound(self, attempt: int) -> float:
        """The largest delay before retry number ``attempt`` (0-based)."""
        return min(self.cap, self.base * 2.0 ** min(attempt, 62))

    def delay(self, attempt: int) -> float:
        """A random delay in ``[0, bound(attempt)]`` (full jitter)."""
        return random.uniform(0.0, self.bound(attempt))

    def allows(self, failures: int) -> bool:
        """Whether another attempt may follow ``failures`` failures in a row."""
        return self.max_attempts is None or failures < self.max_attempts
