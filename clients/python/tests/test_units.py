"""Pure units: the inbox, URLs, error mapping, credentials' frames."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import wavecast
from wavecast import errors
from wavecast.inbox import Inbox
from wavecast.urls import http_base, with_query, ws_url

from .helpers import WAIT


async def test_inbox_hands_out_in_order_then_ends() -> None:
    box: Inbox[int] = Inbox()
    for i in range(3):
        box.put_nowait(i)
    box.close()
    assert [await box.get() for _ in range(3)] == [0, 1, 2]
    with pytest.raises(StopAsyncIteration):
        await box.get()
    box.put_nowait(9)  # dropped: closed
    assert len(box) == 0


async def test_inbox_close_with_error_wakes_a_waiting_consumer() -> None:
    box: Inbox[int] = Inbox()
    getter = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)  # let it wait
    box.close(wavecast.ConnectionClosedError("gone"))
    with pytest.raises(wavecast.ConnectionClosedError):
        await asyncio.wait_for(getter, WAIT)


async def test_inbox_bound_makes_put_wait_for_the_consumer() -> None:
    box: Inbox[int] = Inbox(maxsize=2)
    await box.put(1)
    await box.put(2)
    assert box.full()
    putter = asyncio.ensure_future(box.put(3))
    await asyncio.sleep(0)
    assert not putter.done()
    assert await box.get() == 1
    await asyncio.wait_for(putter, WAIT)
    assert [await box.get(), await box.get()] == [2, 3]


async def test_inbox_take_where_and_adopt() -> None:
    src: Inbox[str] = Inbox()
    for item in ("a1", "b1", "a2", "b2"):
        src.put_nowait(item)
    dst: Inbox[str] = Inbox()
    dst.close()
    dst.adopt(src.take_where(lambda s: s.startswith("a")))
    assert [await dst.get(), await dst.get()] == ["a1", "a2"]
    assert [await src.get(), await src.get()] == ["b1", "b2"]


def test_urls() -> None:
    assert ws_url("ws://h:1") == "ws://h:1/ws"
    assert ws_url("http://h:1/") == "ws://h:1/ws"
    assert ws_url("https://h/api/ws/connect") == "wss://h/api/ws/connect"
    assert ws_url("ws://h:1/ws", "/ws/stream_features") == "ws://h:1/ws/stream_features"
    assert ws_url("ws://h:1/proxy/ws", "/ws/simulation_live") == "ws://h:1/proxy/ws/simulation_live"
    assert http_base("wss://h:2/ws") == "https://h:2"
    assert with_query("ws://h/ws?a=1", {"token": "x y"}) == "ws://h/ws?a=1&token=x+y"
    with pytest.raises(ValueError):
        ws_url("ftp://h")


CODES_RS = Path(__file__).resolve().parents[3] / "crates" / "wavecast-protocol" / "src" / "codes.rs"


def server_codes() -> dict[str, bool]:
    """The server's error codes and whether each is recoverable, read from
    its source of truth (``ErrorCode::as_str`` and ``ErrorCode::recoverable``
    in codes.rs), so this client cannot drift from it unnoticed."""
    src = CODES_RS.read_text()
    as_str = src[src.index("pub fn as_str(self)"):src.index("pub fn recoverable(self)")]
    recoverable = src[src.index("pub fn recoverable(self)"):src.index("pub fn help(self)")]
    spelled = dict(re.findall(r'ErrorCode::(\w+) => "(\w+)"', as_str))
    fatal = set(re.findall(r"ErrorCode::(\w+)", recoverable))
    assert len(spelled) >= 30 and fatal and fatal <= set(spelled), "codes.rs changed shape"
    return {code: variant not in fatal for variant, code in spelled.items()}


def test_every_code_has_its_class() -> None:
    codes = server_codes()
    assert {c for c, ok in codes.items() if not ok} == {
        "origin_not_allowed", "agent_rejected", "agent_protocol_error",
    }, "update the doc of WavecastError.recoverable"
    assert set(codes) == set(errors._BY_CODE), "the client's codes differ from codes.rs"
    for code, recoverable in codes.items():
        err = errors.error_from_frame(
            {"type": "error", "code": code, "error": "e", "help": "h", "recoverable": recoverable}
        )
        assert type(err).CODE == code and err.code == code and err.recoverable is recoverable
        assert isinstance(err, wavecast.ServerError) and isinstance(err, wavecast.WavecastError)
        assert type(err).__name__ in wavecast.__all__
    assert errors.error_from_frame({"code": "origin_not_allowed"}).recoverable is True  # field missing
    unknown = errors.error_from_frame({"code": "brand_new", "error": "x", "recoverable": False})
    assert type(unknown) is wavecast.ServerError and unknown.code == "brand_new" and not unknown.recoverable


def test_http_errors() -> None:
    err = errors.error_from_http(403, b'{"code":"origin_not_allowed","error":"no","help":"h","recoverable":false,"type":"error"}')
    assert isinstance(err, wavecast.OriginNotAllowedError) and err.status == 403 and not err.recoverable
    plain = errors.error_from_http(502, b"bad gateway")
    assert type(plain) is wavecast.ServerError and plain.code == "http_502" and plain.message == "bad gateway"


async def test_credentials_frames_and_secrets() -> None:
    signed = await wavecast.SignedApiKey("key-one").auth_frame()
    assert signed["signature"] == wavecast.sign("key-one", signed["timestamp"])
    keyed = await wavecast.KeyId("mobile", "s").auth_frame()
    assert "s" not in (keyed["key_id"], str(keyed["timestamp"])) and keyed["signature"] == wavecast.sign("s", keyed["timestamp"])
    assert await wavecast.ApiKey("k", via="header").upgrade() == ({"X-API-Key": "k"}, {})
    assert await wavecast.Jwt("a.b.c", via="query").upgrade() == ({}, {"token": "a.b.c"})
    assert "k3y" not in repr(wavecast.ApiKey("k3y")) and "s3" not in repr(wavecast.KeyId("id", "s3"))
    calls = iter(["t1.x.y", "t2.x.y"])
    jwt = wavecast.Jwt(lambda: next(calls))
    assert jwt.can_refresh and await jwt.token() == "t1.x.y" and await jwt.refreshed_token() == "t2.x.y"
    assert not wavecast.Jwt("a.b.c").can_refresh
    with pytest.raises(ValueError):
        wavecast.ApiKey("")


def test_which_losses_are_final() -> None:
    from wavecast.backoff import is_fatal

    closed = wavecast.ConnectionClosedError
    assert not is_fatal(closed("x", close_code=1001, reason="server shutting down"), False)
    assert not is_fatal(closed("x", close_code=None), False)  # a dropped socket
    assert not is_fatal(closed("x", close_code=4008, reason="slow consumer"), False)
    assert is_fatal(closed("x", close_code=4009, reason="disconnected by server"), False)
    assert is_fatal(closed("x", close_code=4011, reason="replaced"), False)
    assert is_fatal(closed("x", close_code=4001, reason="token expired"), False)
    assert not is_fatal(closed("x", close_code=4001, reason="token expired"), True)
    assert is_fatal(closed("x", close_code=4001, reason="authentication failed"), True)
    assert is_fatal(wavecast.InvalidCredentialsError("x"), False)
    assert is_fatal(wavecast.TokenExpiredError("x"), False) and not is_fatal(wavecast.TokenExpiredError("x"), True)
    assert not is_fatal(wavecast.RateLimitedError("x", status=429), False)
    assert not is_fatal(wavecast.UnavailableError("x", status=503), False)
    assert not is_fatal(wavecast.ReplayError("x"), False)  # signed again next time
    assert not is_fatal(ConnectionRefusedError(), False)
