"""Test helpers: JWT minting (HS256, standard library) and bounded waits."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Every wait in the tests is bounded by this (seconds).
WAIT = 15.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def mint_jwt(secret: str, sub: str | None = "alice", ttl: float = 3600, **claims: Any) -> str:
    """An HS256 token with ``exp = now + ttl``."""
    payload: dict[str, Any] = {"exp": int(time.time() + ttl), **claims}
    if sub is not None:
        payload["sub"] = sub
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


async def take(it: AsyncIterable[T], n: int, timeout: float = WAIT) -> list[T]:
    """The next ``n`` items of ``it``, within ``timeout``."""

    async def run() -> list[T]:
        out: list[T] = []
        async for item in it:
            out.append(item)
            if len(out) == n:
                break
        return out

    return await asyncio.wait_for(run(), timeout)


async def until(it: AsyncIterable[Any], pred: Callable[[Any], bool], timeout: float = WAIT) -> list[Any]:
    """Items of ``it`` up to and including the first for which ``pred`` holds."""

    async def run() -> list[Any]:
        out: list[Any] = []
        async for item in it:
            out.append(item)
            if pred(item):
                return out
        raise AssertionError(f"the iterator ended before the awaited item; got {out!r}")

    return await asyncio.wait_for(run(), timeout)
