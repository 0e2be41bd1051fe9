"""Subscriptions, publishing (WebSocket and HTTP), history, personal
messages and server-side changes, against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import wavecast
from wavecast.testing import ServerProcess

from .conftest import API_KEY, HTTP_KEY
from .helpers import WAIT, take, until


def connect(server: ServerProcess, **kw: object) -> wavecast.Client:
    return wavecast.connect(server.url, api_key=API_KEY, http_api_key=HTTP_KEY, **kw)  # type: ignore[arg-type]


async def test_http_publications_arrive_in_order_on_the_subscription(
    server: ServerProcess, channel: str
) -> None:
    async with connect(server) as client:
        sub = await client.subscribe(channel)
        assert sub.offset == 0 and sub.epoch
        for i in range(5):
            res = await client.http_publish(channel, {"n": i}, type="tick")
            assert res.offset == i + 1 and res.delivered == 1
        pubs = await take(sub, 5)
    assert [p.data["n"] for p in pubs] == list(range(5))
    assert [p.offset for p in pubs] == [1, 2, 3, 4, 5]
    assert {p.type for p in pubs} == {"tick"} and all(p.channel == channel for p in pubs)
    assert sub.offset == 5


async def test_websocket_publish_is_acknowledged(server: ServerProcess, channel: str) -> None:
    async with connect(server) as client:
        await client.subscribe(channel)
        res = await client.publish(channel, {"text": "hi"}, event="message_posted")
        assert (res.channel, res.offset, res.delivered) == (channel, 1, 1)
        # The publisher's own copy came before the ack, into the client's stream.
        [pub] = await take(client, 1)
        assert isinstance(pub, wavecast.Publication)
        assert (pub.type, pub.data, pub.offset) == ("message_posted", {"text": "hi"}, 1)
        with pytest.raises(wavecast.ForbiddenError) as info:
            await client.publish("ro:" + channel, 1)
        assert info.value.recoverable and info.value.help
        with pytest.raises(wavecast.InvalidFieldError):
            await client.publish(channel, 1, event="heartbeat")  # a reserved type


async def test_claiming_a_channel_moves_its_waiting_events(server: ServerProcess, channel: str) -> None:
    a, b = channel + "-a", channel + "-b"
    async with connect(server) as client:
        sub_a = await client.subscribe(a)
        await client.subscribe(b)
        for ch in (a, b, a, b):
            await client.publish(ch, ch)
        # Everything so far waits in the client's stream; iterating sub_a
        # takes a's events out of it, in order.
        got_a = await take(sub_a, 2)
        got = await take(client, 2)
    assert [p.offset for p in got_a] == [1, 2] and {p.channel for p in got_a} == {a}
    assert [(p.channel, p.offset) for p in got if isinstance(p, wavecast.Publication)] == [(b, 1), (b, 2)]


async def test_unsubscribe_ends_the_iterator(server: ServerProcess, channel: str) -> None:
    async with connect(server) as client:
        sub = await client.subscribe(channel)
        events = sub.events()
        await client.publish(channel, 1)
        await sub.unsubscribe()
        seen = [e async for e in events]  # ends by itself
        assert [type(e) for e in seen] == [wavecast.Subscribed, wavecast.Publication, wavecast.Unsubscribed]
        assert not sub.active and channel not in client.subscriptions
        res = await client.http_publish(channel, 2)
        assert res.delivered == 0
        with pytest.raises(wavecast.NotSubscribedError):
            await client.unsubscribe(channel)


async def test_subscribe_errors_are_typed(server: ServerProcess) -> None:
    async with connect(server) as client:
        with pytest.raises(wavecast.InvalidChannelError):
            await client.subscribe("bad channel")
        with pytest.raises(wavecast.TooManySubscriptionsError):
            await client.subscribe_many([f"many-{i}" for i in range(51)])


async def test_subscribe_many_and_the_same_channel_twice(server: ServerProcess, channel: str) -> None:
    names = [f"{channel}-{i}" for i in range(3)]
    async with connect(server) as client:
        subs = await client.subscribe_many(names, recover=True)
        assert [s.channel for s in subs] == names and all(s.recover for s in subs)
        again = await client.subscribe(names[0])
        assert again is subs[0]
        await client.http.broadcast(names, {"all": True})
        for sub in subs:
            [pub] = await take(sub, 1)
            assert pub.data == {"all": True}


async def test_recover_from_a_saved_position(server: ServerProcess, channel: str) -> None:
    async with connect(server) as client:
        sub = await client.subscribe(channel, recover=True)
        for i in range(3):
            await client.publish(channel, i)
        await take(sub, 3)
        saved = sub.position
    assert saved is not None and saved.offset == 3
    for i in range(3, 6):
        await client.http_publish(channel, i)
    async with connect(server) as client:
        sub = await client.subscribe(channel, recover=saved)
        events = await take(sub.events(), 4)
    first = events[0]
    assert isinstance(first, wavecast.Subscribed) and first.recovered is True
    assert [e.data for e in events[1:]] == [3, 4, 5]  # type: ignore[union-attr]
    assert [e.offset for e in events[1:]] == [4, 5, 6]  # type: ignore[union-attr]


async def test_recover_with_a_wrong_epoch_is_not_recovered(server: ServerProcess, channel: str) -> None:
    async with connect(server) as client:
        await client.http_publish(channel, 0)
        sub = await client.subscribe(channel, recover=wavecast.Position(0, "0000000000000000"))
        [event] = await take(sub.events(), 1)
    assert isinstance(event, wavecast.Subscribed)
    assert event.recovered is False and sub.recovered is False
    assert sub.offset == 1  # live from the current position


async def test_since_snapshot_and_filter(server: ServerProcess, channel: str) -> None:
    async with connect(server) as client:
        for kind in ("keep", "skip", "keep"):
            await client.http_publish(channel, {"kind": kind})
        replay = await client.subscribe(channel, since=1)
        got = await take(replay, 2)
        assert [p.offset for p in got] == [2, 3]
        await replay.unsubscribe()
        snap = await client.subscribe(channel, snapshot=True)
        [latest] = await take(snap, 1)
        assert latest.offset == 3
        await snap.unsubscribe()
        filtered = await client.subscribe(channel, since=0, filter={"kind": "keep"})
        kept = await take(filtered, 2)
        assert [p.offset for p in kept] == [1, 3]


async def test_history_over_websocket_and_http(server: ServerProcess, channel: str) -> None:
    async with connect(server) as client:
        for i in range(4):
            await client.http_publish(channel, i)
        page = await client.history(channel, since=1, limit=2)
        assert [p.data for p in page.publications] == [1, 2]
        assert page.offset == 4 and page.epoch
        http_page = await client.http.history(channel, since=2)
        assert [p.offset for p in http_page.publications] == [3, 4]
        assert http_page.epoch == page.epoch and http_page.earliest == 1


async def test_personal_message_and_server_side_unsubscribe(server: ServerProcess, channel: str) -> None:
    async with connect(server) as client:
        sub = await client.subscribe(channel)
        assert client.connection_id is not None
        delivered = await client.http.send({"x": 1}, connection_id=client.connection_id, type="notice")
        assert delivered == 1
        [msg] = await take(client, 1)
        assert isinstance(msg, wavecast.Message) and (msg.type, msg.data) == ("notice", {"x": 1})
        await client.http.request(
            "POST", "/api/ws/unsubscribe", {"connection_id": client.connection_id, "rooms": [channel]}
        )
        events = [e async for e in sub.events()]
        assert isinstance(events[-1], wavecast.Unsubscribed) and events[-1].server_side
        assert not sub.active


async def test_http_api_errors_are_typed(server: ServerProcess, channel: str) -> None:
    no_key = wavecast.HttpApi(server.http_url)
    with pytest.raises(wavecast.UnauthorizedError) as info:
        await no_key.publish(channel, 1)
    assert info.value.status == 401
    api = wavecast.HttpApi(server.http_url, api_key=HTTP_KEY)
    with pytest.raises(wavecast.InvalidChannelError):
        await api.publish("bad channel", 1)
    with pytest.raises(wavecast.ConnectionNotFoundError):
        await api.send(1, connection_id="nobody")


async def test_ping_and_close(server: ServerProcess) -> None:
    client = await connect(server)
    rtt = await asyncio.wait_for(client.ping(), WAIT)
    assert 0 <= rtt < WAIT
    await client.close()
    assert not client.connected
    assert [e async for e in client] == []
    with pytest.raises(wavecast.ConnectionClosedError):
        await client.ping()


async def test_slow_consumer_stops_the_reader(server: ServerProcess, channel: str) -> None:
    """With a full inbox the reader waits; nothing is lost or reordered."""
    async with connect(server, max_queue=3) as client:
        sub = await client.subscribe(channel)
        await client.http.broadcast([channel], 0)
        for i in range(1, 20):
            await client.http_publish(channel, i)
        got = await take(sub, 20)
    assert [p.data for p in got] == list(range(20))


async def test_sends_are_paced_under_the_servers_message_rate(
    make_server: Callable[[str], ServerProcess],
) -> None:
    srv = make_server(
        "[limits]\nmax_message_rate = 20\nmessage_burst = 20\n[namespaces.default]\npublish = \"public\"\n"
    )
    async with wavecast.connect(srv.url, max_message_rate=20, message_burst=20) as client:
        results = [await client.publish("paced", i) for i in range(40)]
        assert [r.offset for r in results] == list(range(1, 41))
    # Without pacing, the server refuses what is over its rate, without a reply.
    async with wavecast.connect(srv.url, max_message_rate=0, request_timeout=2) as client:
        with pytest.raises(asyncio.TimeoutError):
            for i in range(40):
                await client.publish("unpaced", i)
        notices = await until(client.events(), lambda e: isinstance(e, wavecast.ServerNotice))
        assert isinstance(notices[-1].error, wavecast.RateLimitedError)
