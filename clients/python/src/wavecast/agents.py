"""Agent conversations over the client's ``/ws`` connection.

One conversation is one ``correlation_id``: the client sends
``user_message`` (or ``agent_request``) with it, and the server answers with
``agent_started``, ``agent_thinking``, ``partial_result``,
``tool_executing`` and finally ``agent_completed``, or with an ``error``
frame carrying the same ``correlation_id``. Either last frame ends the
conversation. :func:`converse` turns that into an async iterator: it
raises the typed error of an error frame, and when the consumer stops
early (``break``, an exception, cancellation) it sends ``agent_cancel``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import error_from_frame
from .events import opt_int, opt_str
from .inbox import Inbox

__all__ = ["AgentEvent", "AGENT_EVENT_TYPES", "converse", "new_correlation_id"]

#: The event types of a conversation; ``agent_completed`` is the last.
AGENT_EVENT_TYPES = frozenset(
    {"agent_started", "agent_thinking", "partial_result", "tool_executing", "agent_completed"}
)


@dataclass(slots=True)
class AgentEvent:
    """One event of a conversation. ``seq`` orders them; ``data`` is the
    agent's payload (``data.cancelled`` is ``True`` on an
    ``agent_completed`` that answers a cancel)."""

    type: str
    correlation_id: str
    seq: int | None
    data: Any
    timestamp: str | None
    frame: dict[str, Any] = field(repr=False)

    @property
    def completed(self) -> bool:
        """Whether this event ends the conversation."""
        return self.type == "agent_completed"

    @property
    def cancelled(self) -> bool:
        """Whether the conversation ended because it was cancelled."""
        return self.completed and isinstance(self.data, dict) and self.data.get("cancelled") is True


class _Host(Protocol):
    """What a conversation needs from its client."""

    def _open_conversation(self, correlation_id: str) -> Inbox[dict[str, Any]]: ...

    def _close_conversation(self, correlation_id: str) -> None: ...

    async def _send_frame(self, frame: dict[str, Any]) -> None: ...

    def _is_connected(self) -> bool: ...


def new_correlation_id() -> str:
    """A correlation id no other conversation of this process uses."""
    return "agent-" + uuid.uuid4().hex[:16]


def _event(frame: dict[str, Any], correlation_id: str) -> AgentEvent:
    return AgentEvent(
        str(frame.get("type")),
        correlation_id,
        opt_int(frame.get("seq")),
        frame.get("data"),
        opt_str(frame.get("timestamp")),
        frame,
    )


async def converse(
    host: _Host,
    request: dict[str, Any],
    *,
    timeout: float | None = None,
) -> AsyncGenerator[AgentEvent, None]:
    """Sends ``request`` (which carries its ``correlation_id``) and yields
    the conversation's events; see the module doc. ``timeout`` bounds the
    wait for each event (``None``: no bound)."""
    cid = str(request["correlation_id"])
    inbox = host._open_conversation(cid)
    finished = False
    try:
        await host._send_frame(request)
        while True:
            frame = await asyncio.wait_for(inbox.get(), timeout)
            if frame.get("type") == "error":
                finished = True
                raise error_from_frame(frame)
            if frame.get("type") not in AGENT_EVENT_TYPES:
                continue
            event = _event(frame, cid)
            if event.completed:
                finished = True
            yield event
            if finished:
                return
    except StopAsyncIteration:
        finished = True
    finally:
        host._close_conversation(cid)
        if not finished and host._is_connected():
            try:
                await host._send_frame({"type": "agent_cancel", "correlation_id": cid})
            except Exception:  # the connection went away: nothing to cancel
                pass
