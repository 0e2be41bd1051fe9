"""``ask_agent``: against an in-process fake server that follows the agent
conversation contract, and (marked ``agents``) against the real server's
demo agent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

import wavecast
from wavecast.testing import ServerProcess

from .helpers import WAIT

ERRORS = {
    "down": ("agent_unavailable", True, wavecast.AgentUnavailableError),
    "picky": ("agent_rejected", False, wavecast.AgentRejectedError),
    "broken": ("agent_protocol_error", False, wavecast.AgentProtocolError),
    "sleepy": ("agent_timeout", True, wavecast.AgentTimeoutError),
    "busy": ("too_many_requests", True, wavecast.TooManyRequestsError),
}


@dataclass
class FakeServer:
    """A WebSocket server speaking just enough of the protocol, plus the
    agent contract. ``received`` holds every client frame; ``cancelled``
    the correlation ids of ``agent_cancel`` frames, each also setting
    ``cancel_seen``."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    cancel_seen: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def _event(kind: str, cid: str, seq: int, data: Any) -> str:
    return json.dumps({
        "type": kind, "correlation_id": cid, "data": data, "seq": seq,
        "timestamp": "2026-11-21T21:48:00.123Z",
    })


async def _conversation(fake: FakeServer, ws: ServerConnection, msg: dict[str, Any]) -> None:
    cid = msg["correlation_id"]
    agent = msg.get("agent")
    if agent in ERRORS:
        code, recoverable, _ = ERRORS[agent]
        await ws.send(json.dumps({
            "type": "error", "code": code, "correlation_id": cid, "error": f"{agent} says no",
            "help": "try again later", "recoverable": recoverable,
            "timestamp": "2026-11-21T21:48:00.123Z",
        }))
        return
    if agent == "silent":
        return
    await ws.send(_event("agent_started", cid, 1, {"agent": agent or "default"}))
    if agent == "drop":
        ws.transport.abort()
        return
    if agent in ("slow", "silent-after-start"):
        await fake.release.wait()  # until the client cancels
        await ws.send(_event("agent_completed", cid, 2, {"cancelled": True}))
        return
    if agent == "interleaved":
        await fake.release.wait()
    await ws.send(_event("agent_thinking", cid, 2, {"text": "thinking"}))
    await ws.send(_event("tool_executing", cid, 3, {"tool": "search"}))
    text = msg.get("content") or json.dumps(msg.get("input"))
    for i, part in enumerate((text[:2], text[2:])):
        await ws.send(_event("partial_result", cid, 4 + i, {"text": part}))
    await ws.send(_event("agent_completed", cid, 6, {"text": text, "thread_id": msg.get("thread_id")}))


async def _handler(fake: FakeServer, ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "connection_established", "connection_id": "fake-1", "user_id": None}))
    tasks = set()
    async for text in ws:
        msg = json.loads(text)
        fake.received.append(msg)
        kind = msg.get("type")
        if kind == "init":
            await ws.send(json.dumps({"type": "init", "connection_id": "fake-1", "id": msg["id"], "protocol_version": "1.0"}))
        elif kind in ("user_message", "agent_request"):
            task = asyncio.create_task(_conversation(fake, ws, msg))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif kind == "agent_cancel":
            fake.cancelled.append(msg["correlation_id"])
            fake.cancel_seen.set()
            fake.release.set()


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    state = FakeServer()
    async with serve(lambda ws: _handler(state, ws), "127.0.0.1", 0) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        state.url = f"ws://127.0.0.1:{port}/ws"
        yield state


async def collect(it: AsyncIterator[wavecast.AgentEvent]) -> list[wavecast.AgentEvent]:
    return await asyncio.wait_for(_all(it), WAIT)


async def _all(it: AsyncIterator[wavecast.AgentEvent]) -> list[wavecast.AgentEvent]:
    return [e async for e in it]


async def test_a_conversation_yields_its_events_in_order(fake: FakeServer) -> None:
    async with wavecast.connect(fake.url) as client:
        events = await collect(client.ask_agent("hello", thread_id="t1"))
    assert [e.type for e in events] == [
        "agent_started", "agent_thinking", "tool_executing", "partial_result", "partial_result", "agent_completed",
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert len({e.correlation_id for e in events}) == 1
    assert "".join(e.data["text"] for e in events if e.type == "partial_result") == "hello"
    assert events[-1].completed and not events[-1].cancelled
    [sent] = [m for m in fake.received if m["type"] == "user_message"]
    assert sent["content"] == "hello" and sent["thread_id"] == "t1"
    assert sent["correlation_id"] == events[0].correlation_id


async def test_agent_request_carries_agent_and_input(fake: FakeServer) -> None:
    async with wavecast.connect(fake.url) as client:
        events = await collect(client.ask_agent(agent="calc", input={"expr": "1+1"}))
    assert events[-1].data["text"] == '{"expr": "1+1"}'
    [sent] = [m for m in fake.received if m["type"] == "agent_request"]
    assert (sent["agent"], sent["input"]) == ("calc", {"expr": "1+1"})
    assert "thread_id" not in sent


@pytest.mark.parametrize("agent", sorted(ERRORS))
async def test_error_frames_raise_typed_errors(fake: FakeServer, agent: str) -> None:
    code, recoverable, cls = ERRORS[agent]
    async with wavecast.connect(fake.url) as client:
        with pytest.raises(cls) as info:
            await collect(client.ask_agent("hi", agent=agent))
        assert info.value.code == code and info.value.recoverable is recoverable
        assert info.value.help == "try again later"
    # The error ended the conversation: no cancel is sent.
    assert fake.cancelled == []


async def test_breaking_out_sends_agent_cancel(fake: FakeServer) -> None:
    async with wavecast.connect(fake.url) as client:
        conversation = client.ask_agent("stop me", agent="slow")
        async for event in conversation:
            assert event.type == "agent_started"
            cid = event.correlation_id
            break
        # The generator is finalised when dropped; do it now, deterministically.
        await conversation.aclose()
        await asyncio.wait_for(fake.cancel_seen.wait(), WAIT)
    assert fake.cancelled == [cid]


async def test_breaking_out_without_aclose_still_cancels(fake: FakeServer) -> None:
    async with wavecast.connect(fake.url) as client:
        async for event in client.ask_agent("stop me", agent="slow"):
            break
        # asyncio finalises the abandoned generator in a task of its own.
        await asyncio.wait_for(fake.cancel_seen.wait(), WAIT)
        assert fake.cancelled == [event.correlation_id]
        # The late agent_completed (cancelled) goes nowhere; the client still works.
        follow_up = await collect(client.ask_agent("again"))
        assert follow_up[-1].completed


async def test_a_bounded_wait_times_out_and_cancels(fake: FakeServer) -> None:
    async with wavecast.connect(fake.url) as client:
        with pytest.raises(asyncio.TimeoutError):
            await collect(client.ask_agent("anyone?", agent="silent", timeout=0.2))
        await asyncio.wait_for(fake.cancel_seen.wait(), WAIT)


async def test_concurrent_conversations_are_kept_apart(fake: FakeServer) -> None:
    async with wavecast.connect(fake.url) as client:
        first = asyncio.ensure_future(collect(client.ask_agent("first", agent="interleaved")))
        second = await collect(client.ask_agent("second"))
        fake.release.set()
        first_events = await first
    assert second[-1].data["text"] == "second" and first_events[-1].data["text"] == '{"content": "first"}'
    assert {e.correlation_id for e in first_events}.isdisjoint({e.correlation_id for e in second})


async def test_a_lost_connection_ends_the_conversation(fake: FakeServer) -> None:
    async with wavecast.connect(fake.url, reconnect=False) as client:
        with pytest.raises(wavecast.ConnectionClosedError):
            await collect(client.ask_agent("x", agent="drop"))


@pytest.mark.agents
async def test_the_servers_demo_agent(make_server: Callable[[str], ServerProcess]) -> None:
    srv = make_server('[agents]\nupstream_url = "demo"\n')
    async with wavecast.connect(srv.url) as client:
        events = await collect(client.ask_agent("hello, demo", thread_id="t1"))
        assert events[0].type == "agent_started" and events[-1].type == "agent_completed"
        assert not events[-1].cancelled
        seqs = [e.seq for e in events if e.seq is not None]
        assert len(seqs) == len(events) and seqs == sorted(seqs)
        assert len({e.correlation_id for e in events}) == 1
        assert {e.type for e in events} <= set(wavecast.agents.AGENT_EVENT_TYPES)
        # A second conversation on the same connection works too.
        again = await collect(client.ask_agent("again"))
        assert again[-1].completed
        # Cancelling one: break after the first event; the server confirms
        # nothing to us (the conversation is gone), and the client stays usable.
        async for _ in client.ask_agent("long one"):
            break
        assert await asyncio.wait_for(client.ping(), WAIT) >= 0
