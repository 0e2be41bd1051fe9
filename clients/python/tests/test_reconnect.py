"""Reconnecting: recovery across a server restart, the ``recovered`` flag,
final closes, giving up, and the backoff policy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import wavecast
from wavecast.testing import ServerProcess

from .helpers import take, until

FAST = wavecast.Backoff(base=0.05, cap=0.5)


def events_until(client: wavecast.Client, pred: Callable[[wavecast.Event], bool]):  # type: ignore[no-untyped-def]
    return until(client.events(), pred)


def is_pub(offset: int) -> Callable[[wavecast.Event], bool]:
    return lambda e: isinstance(e, wavecast.Publication) and e.offset == offset


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_recovery_across_a_server_restart(
    make_server: Callable[[str], ServerProcess], how: str
) -> None:
    srv = make_server('engine = "embedded"\n')
    async with wavecast.connect(srv.url, backoff=FAST) as client:
        sub = await client.subscribe("news", recover=True)
        for i in range(1, 4):
            await client.http_publish("news", i)
        await events_until(client, is_pub(3))
        epoch = sub.epoch

        await asyncio.to_thread(srv.stop if how == "stop" else srv.kill)
        [lost] = [e for e in await events_until(client, lambda e: isinstance(e, wavecast.Disconnected))
                  if isinstance(e, wavecast.Disconnected)]
        assert lost.will_reconnect
        assert lost.code == (1001 if how == "stop" else None)

        # Publish 4..6 while the client cannot reach the server: through the
        # same data directory served on another port for a moment.
        port, srv.port = srv.port, 0
        await asyncio.to_thread(srv.start)
        other = wavecast.HttpApi(srv.http_url)
        for i in range(4, 7):
            await other.publish("news", i)
        await asyncio.to_thread(srv.stop)
        srv.port = port
        await asyncio.to_thread(srv.start)  # the client's port again
        seen = await events_until(client, is_pub(6))

    kinds = [type(e) for e in seen]
    assert wavecast.Connected in kinds
    [again] = [e for e in seen if isinstance(e, wavecast.Subscribed)]
    assert again.resubscribed and again.recovered is True and again.epoch == epoch
    pubs = [e for e in seen if isinstance(e, wavecast.Publication)]
    assert [p.offset for p in pubs] == [4, 5, 6]  # no gap, no duplicate
    assert [p.data for p in pubs] == [4, 5, 6]
    assert sub.recovered is True and sub.resubscriptions == 1 and sub.offset == 6


async def test_lost_history_is_visible_as_not_recovered(
    make_server: Callable[[str], ServerProcess],
) -> None:
    srv = make_server('engine = "memory"\n')
    async with wavecast.connect(srv.url, backoff=FAST) as client:
        kept = await client.subscribe("news", recover=True)
        live = await client.subscribe("live")  # no recovery asked
        await client.http_publish("news", "before")
        await events_until(client, is_pub(1))
        old_epoch = kept.epoch

        await asyncio.to_thread(srv.stop)
        await asyncio.to_thread(srv.start)  # memory engine: the history is gone, a new epoch
        seen = await events_until(
            client, lambda e: isinstance(e, wavecast.Subscribed) and e.channel == "live" and e.resubscribed
        )
        again = {e.channel: e for e in seen if isinstance(e, wavecast.Subscribed)}
        assert again["news"].recovered is False and again["news"].epoch != old_epoch
        assert again["live"].recovered is None
        assert kept.recovered is False and kept.offset == 0
        await client.http_publish("live", "after")
        [pub] = await take(live, 1)
        assert pub.data == "after"


async def test_disconnect_by_the_server_is_final(server: ServerProcess) -> None:
    from .conftest import API_KEY, HTTP_KEY

    client = await wavecast.connect(server.url, api_key=API_KEY, http_api_key=HTTP_KEY, backoff=FAST)
    try:
        assert client.connection_id is not None
        await client.http.disconnect(client.connection_id)
        with pytest.raises(wavecast.ConnectionClosedError) as info:
            await until(client.events(), lambda e: False)
        assert info.value.close_code == 4009
        assert not client.connected
    finally:
        await client.close()


async def test_reconnecting_gives_up_after_max_attempts(
    make_server: Callable[[str], ServerProcess],
) -> None:
    srv = make_server("")
    backoff = wavecast.Backoff(base=0.01, cap=0.05, max_attempts=3)
    async with wavecast.connect(srv.url, backoff=backoff) as client:
        await asyncio.to_thread(srv.stop)
        with pytest.raises(wavecast.ConnectionClosedError) as info:
            await until(client.events(), lambda e: False)
        assert "after 3 attempt" in str(info.value)


async def test_no_reconnect_when_disabled(make_server: Callable[[str], ServerProcess]) -> None:
    srv = make_server("")
    async with wavecast.connect(srv.url, reconnect=False) as client:
        await asyncio.to_thread(srv.stop)
        with pytest.raises(wavecast.ConnectionClosedError) as info:
            events = []
            async for e in client.events():
                events.append(e)
        assert info.value.close_code == 1001
        assert any(isinstance(e, wavecast.Disconnected) and not e.will_reconnect for e in events)


async def test_signed_auth_is_signed_afresh_on_reconnect(
    make_server: Callable[[str], ServerProcess],
) -> None:
    """The same server process sees the reconnect: a reused signature would
    be refused as a replay, so this passes only with a fresh one."""
    srv = make_server('[auth]\nrequire_auth = true\n[auth.keys]\nmobile = "s3cret"\n')
    auth = wavecast.KeyId("mobile", "s3cret")
    async with wavecast.connect(srv.url, auth=auth, backoff=FAST) as client:
        await client.subscribe("news", recover=True)
        first = client.connection_id
        ws = client._ws
        assert ws is not None
        ws.transport.abort()  # the TCP connection dies without a close frame
        seen = await events_until(client, lambda e: isinstance(e, wavecast.Subscribed) and e.resubscribed)
        [lost] = [e for e in seen if isinstance(e, wavecast.Disconnected)]
        assert lost.code is None and lost.will_reconnect
        [connected] = [e for e in seen if isinstance(e, wavecast.Connected) and e.reconnect]
        assert connected.user_id == "mobile" and connected.connection_id != first
        assert not any(isinstance(e, wavecast.ServerNotice) for e in seen)


def test_backoff_bounds_and_jitter() -> None:
    b = wavecast.Backoff(base=0.1, cap=1.0, max_attempts=3)
    assert [b.bound(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert b.bound(10_000) == 1.0
    delays = [b.delay(2) for _ in range(200)]
    assert all(0 <= d <= 0.4 for d in delays)
    assert len(set(delays)) > 100  # jittered, not fixed
    assert b.allows(2) and not b.allows(3)
    assert wavecast.Backoff().allows(10**6)
    with pytest.raises(ValueError):
        wavecast.Backoff(base=0)
