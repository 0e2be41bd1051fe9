"""The client: one ``/ws`` connection kept alive across losses.

A single reader task owns the socket's inbound side. It answers requests
(by ``id``), feeds agent conversations (by ``correlation_id``), and hands
publications and events to inboxes: a subscription's own once iterated,
else the client's. Requests (subscribe, publish, history...) send a frame
and await the reply the reader resolves.

When the connection is lost, pending requests fail with
:class:`ConnectionClosedError`, and unless the loss is final (refused
credentials, 4009 disconnected by the server, 4011 replaced...) the client
reconnects with exponential backoff and full jitter, authenticates again
(signing a fresh timestamp) and resubscribes every subscription, with
``recover`` from its last offset and epoch when it asked for recovery. The
outcome shows as a :class:`Subscribed` event with ``recovered``.
Invariant: a subscription is registered by the reader when it reads its
``subscribe_success``, before any publication that follows it, so no
publication is misrouted or lost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from . import agents, streams
from .auth import ApiKey, Credentials, Jwt
from .backoff import Backoff, is_fatal
from .errors import ConnectionClosedError, WavecastError, error_from_frame
from .events import (
    Connected,
    Disconnected,
    Dropped,
    Event,
    HistoryPage,
    Message,
    Position,
    Publication,
    PublishResult,
    Refreshed,
    ServerNotice,
    Subscribed,
    Unsubscribed,
    history_from,
    opt_int,
    opt_str,
    publish_result_from,
)
from .http import HttpApi
from .inbox import Inbox
from .pacing import TokenBucket
from .session import Options, Welcome, closed_error, open_session
from .subscription import Subscription
from .urls import http_base, ws_url

__all__ = ["Client", "connect"]

#: Frame types the server uses for itself (docs/protocol.md §9); a frame
#: with a ``channel`` and any other type is a publication delivery.
RESERVED = frozenset(
    {
        "connection_established", "init", "subscribe_success", "subscribe_failed",
        "unsubscribe_success", "unsubscribe_failed", "publish_success", "pong",
        "heartbeat", "error", "dropped", "auth", "auth_success", "auth_failed",
        "refresh", "refresh_required", "refresh_success", "history",
        "recovery_required",
    }
)
_MAX_CHANNELS_PER_REQUEST = 1000
#: Room kept in each subscribe frame for everything but the channel names.
_FRAME_OVERHEAD = 256


def _chunks(
    subs: list[Subscription], positions: Mapping[str, Position], max_bytes: int
) -> Iterator[list[Subscription]]:
    """Splits ``subs`` into subscribe requests of at most 1000 channels whose
    frames stay under ``max_bytes`` (the server closes with 1009 above it)."""
    chunk: list[Subscription] = []
    size = _FRAME_OVERHEAD + (len(_dumps(subs[0].options["filter"])) if subs else 0)
    budget = size
    for sub in subs:
        name = len(_dumps(sub.channel)) + 1
        cost = name
        if sub.channel in positions:  # the name again, as a key of "recover"
            cost += name + len(_dumps(positions[sub.channel].to_json())) + 1
        if chunk and (len(chunk) == _MAX_CHANNELS_PER_REQUEST or budget + cost > max_bytes):
            yield chunk
            chunk, budget = [], size
        chunk.append(sub)
        budget += cost
    if chunk:
        yield chunk


def _dumps(frame: Any) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    on_reply: Callable[[dict[str, Any]], None] | None


class Client:
    """A wavecast client. Create it with :func:`connect`; see the module doc.

    ``async for msg in client`` yields the :class:`Publication` s of
    channels not iterated on their own, and personal :class:`Message` s;
    :meth:`events` yields every :class:`~wavecast.events.Event`.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: Credentials | None = None,
        api_key: str | None = None,
        token: str | None = None,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        http_api_key: str | None = None,
        request_timeout: float = 10.0,
        max_queue: int = 10_000,
        max_message_size: int = 10240,
        max_message_rate: float = 100.0,
        message_burst: float = 200.0,
        options: Options | None = None,
    ) -> None:
        given = [c for c in (auth, api_key, token) if c is not None]
        if len(given) > 1:
            raise ValueError("give at most one of auth, api_key and token")
        if api_key is not None:
            auth = ApiKey(api_key)
        elif token is not None:
            auth = Jwt(token)
        self.url = ws_url(url)
        self.auth = auth
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.request_timeout = request_timeout
        #: The server's ``limits.max_message_size``: subscribe requests are
        #: split to stay under it (a larger frame is closed with 1009).
        self.max_message_size = max_message_size
        # The server's limits.max_message_rate and message_burst, less a
        # margin for WebSocket pings and pongs, which the server counts too.
        self._bucket = TokenBucket(max_message_rate, max(message_burst, max_message_rate) - 10)
        self.options = options or Options()
        #: The server HTTP API of the same server.
        self.http = HttpApi(http_base(url), api_key=http_api_key, timeout=request_timeout)
        #: The current connection's id and user id (``None`` when anonymous).
        self.connection_id: str | None = None
        self.user_id: str | None = None
        self._max_queue = max_queue
        self._inbox: Inbox[Event] = Inbox(max_queue)
        self._subs: dict[str, Subscription] = {}
        self._pending: dict[int, _Pending] = {}
        self._conversations: dict[str, Inbox[dict[str, Any]]] = {}
        self._next_id = 1
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()
        self._closing = False
        self._error: BaseException | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        state = "connected" if self._ready.is_set() else "ended" if self._ended.is_set() else "offline"
        return f"Client({self.url!r}, {state}, subscriptions={len(self._subs)})"

    # -- lifecycle -----------------------------------------------------------

    async def open(self) -> Client:
        """Connects and authenticates. The first attempt is not retried:
        its error (refused credentials, connection refused...) is raised."""
        if self._supervisor is not None:
            raise RuntimeError("this client is already open")
        ws, welcome = await open_session(self.url, self.auth, self.options)
        self._attach(ws, welcome, reconnect=False)
        self._supervisor = asyncio.create_task(self._supervise(ws), name="wavecast-client")
        return self

    async def close(self) -> None:
        """Closes the connection and stops reconnecting. Iterators end after
        handing out what they already hold."""
        if self._closing:
            return
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close()
        sup = self._supervisor
        if sup is not None and not sup.done():
            sup.cancel()
            try:
                await sup
            except asyncio.CancelledError:
                pass
        for task in list(self._tasks):
            task.cancel()
        self._finish(None)

    async def __aenter__(self) -> Client:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __await__(self) -> Generator[Any, None, Client]:
        return self.open().__await__()

    @property
    def connected(self) -> bool:
        """Whether the client is connected and authenticated right now."""
        return self._ready.is_set()

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """The live subscriptions, by channel (a copy)."""
        return dict(self._subs)

    def _attach(self, ws: ClientConnection, welcome: Welcome, *, reconnect: bool) -> None:
        self._ws = ws
        self.connection_id = welcome.connection_id
        self.user_id = welcome.user_id
        self._ready.set()
        self._inbox.put_nowait(Connected(welcome.connection_id, welcome.user_id, reconnect))
        for frame in welcome.leftovers:
            box, item = self._route(frame)
            if box is None:
                self._control(frame)
            else:
                box.put_nowait(item)

    def _finish(self, error: BaseException | None) -> None:
        """The end: every iterator and request is told, once."""
        if self._ended.is_set():
            return
        self._error = error
        self._ready.clear()
        self._ended.set()
        self._ws = None
        self._fail_pending(error or ConnectionClosedError("the client is closed"))
        for sub in list(self._subs.values()):
            sub._end(None, error)
        self._subs.clear()
        self._inbox.close(error)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the reader and reconnecting -------------------------------------------

    async def _supervise(self, ws: ClientConnection) -> None:
        current: ClientConnection | None = ws
        while current is not None:
            lost = await self._read(current)
            self._ready.clear()
            self._ws = None
            self._fail_pending(lost)
            if self._closing:
                return
            retry = self.reconnect and not is_fatal(lost, self._can_refresh())
            self._inbox.put_nowait(Disconnected(lost.close_code, lost.reason, retry))
            if not retry:
                self._finish(lost)
                return
            current = await self._reconnect()

    def _can_refresh(self) -> bool:
        return self.auth is not None and self.auth.can_refresh

    async def _reconnect(self) -> ClientConnection | None:
        failures = 0
        while not self._closing:
            await asyncio.sleep(self.backoff.delay(failures))
            try:
                ws, welcome = await open_session(self.url, self.auth, self.options)
            except Exception as exc:  # refused, unreachable, timed out, handshake...
                failures += 1
                if is_fatal(exc, self._can_refresh()) or not self.backoff.allows(failures):
                    self._finish(_gave_up(exc, failures))
                    return None
                continue
            self._attach(ws, welcome, reconnect=True)
            self._spawn(self._resubscribe(list(self._subs.values())))
            return ws
        return None

    async def _read(self, ws: ClientConnection) -> ConnectionClosedError:
        """Reads until the connection ends; returns how it ended."""
        loads = json.loads
        try:
            async for text in ws:
                if type(text) is not str:
                    continue
                try:
                    frame = loads(text)
                except ValueError:
                    continue
                if type(frame) is not dict:
                    continue
                box, item = self._route(frame)
                if box is None:
                    self._control(frame)
                    continue
                while box.full() and not box.closed:
                    # Wait for the consumer, then route again: iterating a
                    # subscription meanwhile may have moved the channel.
                    await box.wait_space()
                    box, item = self._route(frame)
                    if box is None:
                        break
                else:
                    box.put_nowait(item)
        except ConnectionClosed as exc:
            return closed_error(exc, "connection lost")
        code, reason = ws.close_code, ws.close_reason or ""
        return ConnectionClosedError(
            f"connection closed ({code} {reason})".rstrip(), close_code=code, reason=reason
        )

    def _route(self, frame: dict[str, Any]) -> tuple[Inbox[Any] | None, Any]:
        """For a delivery: its inbox and the :class:`Publication`;
        ``(None, None)`` for any other frame. Tracks the offset."""
        kind = frame.get("type")
        channel = frame.get("channel")
        if type(channel) is not str or type(kind) is not str or kind in RESERVED:
            return None, None
        offset = frame.get("offset")
        if type(offset) is not int:
            offset = None
        pub = Publication(channel, kind, frame.get("data"), offset, frame.get("timestamp"))
        sub = self._subs.get(channel)
        if sub is None:
            return self._inbox, pub
        if offset is not None:
            sub.offset = offset
        return sub.route(), pub

    def _control(self, frame: dict[str, Any]) -> None:
        """Every frame that is not a delivery."""
        fid = frame.get("id")
        if type(fid) is int:
            pending = self._pending.pop(fid, None)
            if pending is not None:
                if pending.on_reply is not None:
                    pending.on_reply(frame)
                if not pending.future.done():
                    pending.future.set_result(frame)
                return
        cid = frame.get("correlation_id")
        if type(cid) is str and cid in self._conversations:
            self._conversations[cid].put_nowait(frame)
            return
        kind = frame.get("type")
        if kind in agents.AGENT_EVENT_TYPES:
            return  # a conversation that was given up (e.g. after agent_cancel)
        if kind == "heartbeat":
            self._spawn(self._send_quietly({"type": "pong"}))
        elif kind == "dropped":
            self._dropped(frame)
        elif kind in ("subscribe_success", "unsubscribe_success") and frame.get("server_side"):
            self._server_side(frame)
        elif kind == "recovery_required":
            subs = [self._subs[c] for c in _names(frame.get("channels")) if c in self._subs]
            self._spawn(self._resubscribe(subs))
        elif kind == "refresh_required":
            self._spawn(self._refresh())
        elif kind == "error" and fid is None:
            self._inbox.put_nowait(ServerNotice(error_from_frame(frame)))
        elif kind == "connection_established":
            self.connection_id = opt_str(frame.get("connection_id"))
            self.user_id = opt_str(frame.get("user_id"))
        elif isinstance(kind, str) and kind not in RESERVED and "channel" not in frame:
            self._inbox.put_nowait(
                Message(kind, frame.get("data"), opt_str(frame.get("timestamp")), frame)
            )

    def _dropped(self, frame: dict[str, Any]) -> None:
        channel = str(frame.get("channel", ""))
        event = Dropped(channel, opt_int(frame.get("count")) or 0, opt_str(frame.get("timestamp")))
        sub = self._subs.get(channel)
        (sub.route() if sub is not None else self._inbox).put_nowait(event)

    def _server_side(self, frame: dict[str, Any]) -> None:
        """A subscription change made by the server API or the connect hook."""
        positions = frame.get("positions")
        positions = positions if isinstance(positions, dict) else {}
        for channel in _names(frame.get("channels")):
            if frame.get("type") == "unsubscribe_success":
                sub = self._subs.pop(channel, None)
                event = Unsubscribed(channel, server_side=True)
                if sub is not None:
                    sub._end(event)
                else:
                    self._inbox.put_nowait(event)
                continue
            state = positions.get(channel)
            state = state if isinstance(state, dict) else {}
            self._inbox.put_nowait(
                Subscribed(
                    channel,
                    opt_int(state.get("offset")),
                    opt_str(state.get("epoch")),
                    None,
                    server_side=True,
                )
            )

    def _fail_pending(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(error)
        conversations, self._conversations = self._conversations, {}
        for inbox in conversations.values():
            inbox.close(error)

    # -- requests --------------------------------------------------------------

    async def _connection(self, timeout: float) -> ClientConnection:
        """The live connection, waiting (at most ``timeout``) while reconnecting."""
        ws = self._ws
        if ws is not None and self._ready.is_set():
            return ws
        if self._ended.is_set() or self._supervisor is None:
            raise self._error or ConnectionClosedError("the client is not connected")
        ready = asyncio.ensure_future(self._ready.wait())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait((ready, ended), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            ended.cancel()
        ws = self._ws
        if ws is None or not self._ready.is_set():
            if self._ended.is_set():
                raise self._error or ConnectionClosedError("the client is closed")
            raise asyncio.TimeoutError("still reconnecting")
        return ws

    async def request(
        self,
        frame: dict[str, Any],
        *,
        timeout: float | None = None,
        on_reply: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Sends ``frame`` with a fresh ``id`` and returns the server's reply
        (whatever its type). ``on_reply`` runs in the reader, before any
        later frame is handled."""
        timeout = self.request_timeout if timeout is None else timeout
        ws = await self._connection(timeout)
        rid = self._next_id
        self._next_id += 1
        frame = {**frame, "id": rid}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = _Pending(future, on_reply)
        try:
            await self._bucket.take()
            await ws.send(_dumps(frame))
            return await asyncio.wait_for(future, timeout)
        except ConnectionClosed as exc:
            raise closed_error(exc, "connection lost") from None
        finally:
            self._pending.pop(rid, None)

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        ws = await self._connection(self.request_timeout)
        try:
            await self._bucket.take()
            await ws.send(_dumps(frame))
        except ConnectionClosed as exc:
            raise closed_error(exc, "connection lost") from None

    async def _send_quietly(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None:
            self._bucket.reserve()  # counted, never delayed (a pong is urgent)
            try:
                await ws.send(_dumps(frame))
            except ConnectionClosed:
                pass

    async def _refresh(self) -> None:
        """Answers ``refresh_required`` with a new token, when there is one."""
        auth = self.auth
        if auth is None or not auth.can_refresh:
            return
        try:
            token = await auth.refreshed_token()
            reply = await self.request({"type": "refresh", "token": token})
        except Exception as exc:  # reported, and the server closes at exp
            self._inbox.put_nowait(ServerNotice(_as_error(exc)))
            return
        if reply.get("type") == "refresh_success":
            self._inbox.put_nowait(Refreshed(opt_str(reply.get("expires_at"))))
        else:
            self._inbox.put_nowait(ServerNotice(error_from_frame(reply)))

    async def ping(self) -> float:
        """Round-trip time of a ``ping`` → ``pong``, in seconds."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self.request({"type": "ping"})
        return loop.time() - start

    async def publish(self, channel: str, data: Any, *, event: str | None = None) -> PublishResult:
        """Publishes over the WebSocket and waits for ``publish_success``.
        The namespace must allow client publishing (``publish`` policy)."""
        frame: dict[str, Any] = {"type": "publish", "channel": channel, "data": data}
        if event is not None:
            frame["event"] = event
        reply = await self.request(frame)
        if reply.get("type") != "publish_success":
            raise error_from_frame(reply)
        return publish_result_from(reply)

    async def http_publish(self, channel: str, data: Any, *, type: str | None = None) -> PublishResult:
        """Publishes through ``POST /api/publish`` (needs ``http_api_key``
        unless the server has none and this host is loopback)."""
        return await self.http.publish(channel, data, type=type)

    async def history(
        self, channel: str, *, since: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        """Reads retained publications without subscribing."""
        frame: dict[str, Any] = {"type": "history", "channel": channel}
        if since is not None:
            frame["since"] = since
        if limit is not None:
            frame["limit"] = limit
        reply = await self.request(frame)
        if reply.get("type") != "history":
            raise error_from_frame(reply)
        return history_from(reply)

    # -- subscriptions ---------------------------------------------------------

    async def subscribe(
        self,
        channel: str,
        *,
        recover: bool | Position = False,
        since: int | None = None,
        snapshot: bool = False,
        filter: Mapping[str, Any] | None = None,
    ) -> Subscription:
        """Subscribes to ``channel``.

        ``recover=True`` keeps the channel's position so that reconnects
        resume from the last offset and epoch; a :class:`Position` (saved
        from an earlier run) also resumes from it now. ``since`` replays
        from that offset whatever the epoch; ``snapshot`` sends the latest
        retained publication first; ``filter`` keeps only publications
        whose fields match. Subscribing to a channel this client already
        has returns its existing subscription.
        """
        positions = {channel: recover} if isinstance(recover, Position) else {}
        subs = await self.subscribe_many(
            [channel], recover=positions or bool(recover), since=since,
            snapshot=snapshot, filter=filter,
        )
        return subs[0]

    async def subscribe_many(
        self,
        channels: Iterable[str],
        *,
        recover: bool | Mapping[str, Position] = False,
        since: int | None = None,
        snapshot: bool = False,
        filter: Mapping[str, Any] | None = None,
    ) -> list[Subscription]:
        """Subscribes to several channels in as few requests as possible
        (1000 channels each); ``recover`` may map channels to positions.
        Options as for :meth:`subscribe`."""
        names = list(dict.fromkeys(channels))
        if not names:
            raise ValueError("no channel to subscribe to")
        positions = dict(recover) if isinstance(recover, Mapping) else {}
        options = {"snapshot": snapshot, "filter": dict(filter) if filter else None}
        new = [
            Subscription(self, c, recover=bool(recover), options=options, max_queue=self._max_queue)
            for c in names
            if c not in self._subs
        ]
        for chunk in _chunks(new, positions, self.max_message_size):
            await self._subscribe(chunk, positions, since=since, resubscribed=False)
        return [self._subs.get(c) or next(s for s in new if s.channel == c) for c in names]

    async def _subscribe(
        self,
        subs: list[Subscription],
        positions: Mapping[str, Position],
        *,
        since: int | None,
        resubscribed: bool,
    ) -> None:
        names = [s.channel for s in subs]
        frame: dict[str, Any] = {"type": "subscribe"}
        if len(names) == 1:
            frame["channel"] = names[0]
        else:
            frame["channels"] = names
        asked = {c: positions[c] for c in names if c in positions}
        if asked:
            frame["recover"] = (
                asked[names[0]].to_json()
                if len(names) == 1
                else {c: p.to_json() for c, p in asked.items()}
            )
        if since is not None:
            frame["since"] = since
        if subs[0].options.get("snapshot"):
            frame["snapshot"] = True
        if subs[0].options.get("filter"):
            frame["filter"] = subs[0].options["filter"]

        def on_reply(reply: dict[str, Any]) -> None:
            if reply.get("type") != "subscribe_success":
                return
            states = reply.get("positions")
            states = states if isinstance(states, dict) else {}
            for sub in subs:
                state = states.get(sub.channel)
                start = asked.get(sub.channel) or (Position(since) if since is not None else None)
                event = sub._started(state if isinstance(state, dict) else {}, start, resubscribed)
                self._subs[sub.channel] = sub
                sub.route().put_nowait(event)

        reply = await self.request(frame, on_reply=on_reply)
        if reply.get("type") != "subscribe_success":
            raise error_from_frame(reply)

    async def _resubscribe(self, subs: list[Subscription]) -> None:
        """Makes ``subs`` again after a reconnect or ``recovery_required``,
        recovering those that asked for it."""
        groups: dict[str, list[Subscription]] = {}
        for sub in subs:
            if sub.active:
                groups.setdefault(_dumps(sub.options), []).append(sub)
        for group in groups.values():
            positions = {s.channel: p for s in group if s.recover and (p := s.position) is not None}
            for chunk in _chunks(group, positions, self.max_message_size):
                try:
                    await self._subscribe(chunk, positions, since=None, resubscribed=True)
                except ConnectionClosedError:
                    return  # lost again: the next reconnect resubscribes
                except asyncio.TimeoutError:
                    ws = self._ws
                    if ws is not None:  # a stuck connection: start over
                        await ws.close()
                    return
                except WavecastError as exc:
                    for sub in chunk:
                        self._subs.pop(sub.channel, None)
                        sub._end(None, exc)
                    self._inbox.put_nowait(ServerNotice(exc))

    async def unsubscribe(self, channel: str) -> None:
        """Ends the subscription to ``channel``; no frame of it follows."""
        sub = self._subs.get(channel)
        if sub is not None and not self._ready.is_set():
            self._subs.pop(channel, None)  # nothing to undo on the server
            sub._end(Unsubscribed(channel))
            return

        def on_reply(reply: dict[str, Any]) -> None:
            if reply.get("type") == "unsubscribe_success":
                gone = self._subs.pop(channel, None)
                if gone is not None:
                    gone._end(Unsubscribed(channel))

        reply = await self.request({"type": "unsubscribe", "channel": channel}, on_reply=on_reply)
        if reply.get("type") == "unsubscribe_success":
            return
        error = error_from_frame(reply)
        if error.code == "not_subscribed" and sub is not None:
            self._subs.pop(channel, None)
            sub._end(Unsubscribed(channel))
            return
        raise error

    # -- iteration -------------------------------------------------------------

    def __aiter__(self) -> AsyncGenerator[Publication | Message, None]:
        return self._messages()

    async def _messages(self) -> AsyncGenerator[Publication | Message, None]:
        get = self._inbox.get
        while True:
            try:
                event = await get()
            except StopAsyncIteration:
                return
            if type(event) is Publication or type(event) is Message:
                yield event

    async def events(self) -> AsyncGenerator[Event, None]:
        """Every event the client's stream holds (see the class doc)."""
        while True:
            try:
                yield await self._inbox.get()
            except StopAsyncIteration:
                return

    # -- agents and MFN streams -----------------------------------------------

    def ask_agent(
        self,
        content: str | None = None,
        *,
        thread_id: str | None = None,
        agent: str | None = None,
        input: Any = None,
        timeout: float | None = None,
    ) -> AsyncGenerator[agents.AgentEvent, None]:
        """One agent conversation: yields its events up to
        ``agent_completed``. Without ``agent``, sends ``user_message``
        (``content``, ``thread_id``); with it, ``agent_request`` with
        ``input`` (default ``{"content": content}``). An error frame raises
        its typed error (e.g. :class:`AgentUnavailableError`); stopping
        early sends ``agent_cancel``. ``timeout`` bounds each wait."""
        cid = agents.new_correlation_id()
        frame: dict[str, Any]
        if agent is not None:
            payload = input if input is not None else {"content": content}
            frame = {"type": "agent_request", "agent": agent, "input": payload}
        elif content is None:
            raise ValueError("ask_agent needs content (or agent and input)")
        else:
            frame = {"type": "user_message", "content": content}
            if thread_id is not None:
                frame["thread_id"] = thread_id
        frame["correlation_id"] = cid
        return agents.converse(self, frame, timeout=timeout)

    def _open_conversation(self, correlation_id: str) -> Inbox[dict[str, Any]]:
        inbox: Inbox[dict[str, Any]] = Inbox()
        self._conversations[correlation_id] = inbox
        return inbox

    def _close_conversation(self, correlation_id: str) -> None:
        self._conversations.pop(correlation_id, None)

    def _is_connected(self) -> bool:
        return self._ready.is_set()

    def stream_features(
        self, *, stream_id: str = "features", params: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncGenerator[streams.FeatureUpdate, None]:
        """:func:`wavecast.streams.stream_features` on this client's server,
        with its credentials, over a connection of its own."""
        return streams.stream_features(
            self.url, auth=self.auth, stream_id=stream_id, params=params,
            options=self.options, **kwargs,
        )

    def simulation_live(
        self, *, stream_id: str = "simulation", params: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncGenerator[streams.SimulationState | streams.SimulationComplete, None]:
        """:func:`wavecast.streams.simulation_live` on this client's server,
        with its credentials, over a connection of its own."""
        return streams.simulation_live(
            self.url, auth=self.auth, stream_id=stream_id, params=params,
            options=self.options, **kwargs,
        )


def _names(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _gave_up(exc: Exception, attempts: int) -> WavecastError:
    """The error that ends a client whose reconnecting failed: the server's
    own error when it refused, else a :class:`ConnectionClosedError`."""
    if isinstance(exc, WavecastError):
        return exc
    error = ConnectionClosedError(f"reconnecting failed after {attempts} attempt(s): {exc!r}")
    error.__cause__ = exc
    return error


def _as_error(exc: BaseException) -> WavecastError:
    if isinstance(exc, WavecastError):
        return exc
    return WavecastError(str(exc) or type(exc).__name__)


def connect(
    url: str,
    *,
    auth: Credentials | None = None,
    api_key: str | None = None,
    token: str | None = None,
    reconnect: bool = True,
    backoff: Backoff | None = None,
    http_api_key: str | None = None,
    request_timeout: float = 10.0,
    max_queue: int = 10_000,
    max_message_size: int = 10240,
    max_message_rate: float = 100.0,
    message_burst: float = 200.0,
    open_timeout: float = 10.0,
    close_timeout: float = 5.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    max_size: int | None = 16 * 1024 * 1024,
    headers: Mapping[str, str] | None = None,
    origin: str | None = None,
) -> Client:
    """A :class:`Client` for ``url`` (``ws://host:port/ws``, or just
    ``ws://host:port`` / ``http://host:port``). Use it as
    ``async with wavecast.connect(url, ...) as client:``, or
    ``client = await wavecast.connect(url, ...)`` and ``await client.close()``.

    Credentials: ``auth`` (:class:`ApiKey`, :class:`SignedApiKey`,
    :class:`KeyId`, :class:`Jwt`), or the shortcuts ``api_key``/``token``
    (sent in an ``auth`` message). ``http_api_key`` is the server API key
    for :attr:`Client.http`. ``max_queue`` bounds each inbox: when the
    application falls that far behind, the client stops reading and the
    server's backpressure applies. ``max_message_size`` is the server's
    ``limits.max_message_size`` (subscribe requests are split under it);
    ``max_message_rate`` and ``message_burst`` its ``limits`` of the same
    names: the client paces what it sends under them (0: no pacing), since
    a message over the rate gets no reply.
    """
    options = Options(
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_size=max_size,
        headers=dict(headers or {}),
        origin=origin,
    )
    return Client(
        url, auth=auth, api_key=api_key, token=token, reconnect=reconnect,
        backoff=backoff, http_api_key=http_api_key, request_timeout=request_timeout,
        max_queue=max_queue, max_message_size=max_message_size,
        max_message_rate=max_message_rate, message_burst=message_burst, options=options,
    )
