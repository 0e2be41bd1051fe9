"""The reconnect policy: which losses are final, and how long to wait
before each new attempt.

:func:`is_fatal` says when retrying cannot help. :class:`Backoff` is
exponential backoff with full jitter: retry ``n`` (0-based) waits a uniformly random time in
``[0, min(cap, base * 2**n)]``, so clients that lost the same server do not
come back in lockstep. ``max_attempts`` failed attempts in a row end the
reconnecting (``None``: never give up).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import ConnectionClosedError, WavecastError

__all__ = ["Backoff", "is_fatal"]


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


def is_fatal(error: BaseException, can_refresh: bool) -> bool:
    """Whether reconnecting after ``error`` cannot help (so it must not be
    retried): refused credentials, a forbidden origin, a server that said
    to stay away. Network errors, timeouts, shutdowns and rate limits pass."""
    if isinstance(error, ConnectionClosedError):
        code = error.close_code
        if code == 4001:
            return not ("expired" in error.reason and can_refresh)
        return code in (1002, 1003, 1007, 1008, 1009, 4009, 4011)
    if isinstance(error, WavecastError):
        if error.code == "token_expired":
            return not can_refresh
        return error.code in (
            "invalid_credentials",
            "invalid_signature",
            "forbidden",
            "origin_not_allowed",
            "unsupported_version",
            "auth_required",
            "invalid_field",
        ) or (error.status is not None and error.status in (400, 401, 403, 404, 426))
    return False
