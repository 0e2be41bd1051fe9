"""The MFN simulation streams (docs/mfn.md) as async iterators.

Each call opens its own connection to ``/ws/stream_features`` or
``/ws/simulation_live``, runs INIT → AUTH → SUBSCRIBE, and yields the
stream's frames as dataclasses. The connection is closed when the stream
ends (``simulation_complete``), fails (``subscribe_failed`` and
``stream_error`` raise their typed errors, a lost connection raises
:class:`~wavecast.ConnectionClosedError`), or the consumer stops
iterating; closing it cancels the stream on the server. Streams are not
resumed after a lost connection: a simulation has no log to recover from.
Frames dropped by the server's backpressure show as gaps in ``sequence``
(``stream_features``) or ``step`` (``simulation_live``); their number is
counted in :attr:`StreamInfo.dropped`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from .auth import Credentials
from .errors import error_from_frame
from .events import opt_int, opt_str
from .session import Options, open_session, recv_frame
from .urls import ws_url

__all__ = [
    "FeatureUpdate",
    "SimulationState",
    "SimulationComplete",
    "Field",
    "StreamInfo",
    "stream_features",
    "simulation_live",
]


@dataclass(slots=True)
class StreamInfo:
    """What the server said about a running stream."""

    stream_id: str
    #: The effective parameters, defaults filled in (``subscribe_success``).
    params: dict[str, Any]
    #: Frames the server dropped for this stream so far (``dropped`` notices).
    dropped: int = 0


@dataclass(slots=True)
class FeatureUpdate:
    """One tick of ``stream_features``: the features of ``v`` after ``step``."""

    stream_id: str
    sequence: int | None
    step: int | None
    features: dict[str, Any]
    timestamp: str | None
    info: StreamInfo = dc_field(repr=False)


@dataclass(slots=True)
class Field:
    """The potential ``v`` in ``u8-base64``: one level per cell, row-major."""

    width: int
    height: int
    min: float
    max: float
    data: str = dc_field(repr=False)

    def levels(self) -> bytes:
        """The ``width * height`` levels (0..=255)."""
        return base64.b64decode(self.data)

    def values(self) -> list[float]:
        """The decoded values, ``min + level * (max - min) / 255``."""
        scale = (self.max - self.min) / 255.0
        return [self.min + level * scale for level in self.levels()]


@dataclass(slots=True)
class SimulationState:
    """A ``simulation_state`` of ``simulation_live``."""

    stream_id: str
    step: int | None
    total_steps: int | None
    progress: float | None
    metrics: dict[str, Any]
    growth_events: dict[str, Any]
    field: Field | None
    timestamp: str | None
    info: StreamInfo = dc_field(repr=False)


@dataclass(slots=True)
class SimulationComplete:
    """The last frame of ``simulation_live``: the final metrics."""

    stream_id: str
    steps: int | None
    duration_ms: int | None
    metrics: dict[str, Any]
    timestamp: str | None
    info: StreamInfo = dc_field(repr=False)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _field(value: Any) -> Field | None:
    if not isinstance(value, dict) or value.get("encoding") != "u8-base64":
        return None
    return Field(
        int(value.get("width", 0)),
        int(value.get("height", 0)),
        float(value.get("min", 0.0)),
        float(value.get("max", 0.0)),
        str(value.get("data", "")),
    )


def _parse(frame: dict[str, Any], info: StreamInfo) -> Any:
    kind = frame.get("type")
    sid = info.stream_id
    ts = opt_str(frame.get("timestamp"))
    if kind == "feature_update":
        return FeatureUpdate(
            sid, opt_int(frame.get("sequence")), opt_int(frame.get("step")),
            _dict(frame.get("features")), ts, info,
        )
    if kind == "simulation_state":
        progress = frame.get("progress")
        return SimulationState(
            sid, opt_int(frame.get("step")), opt_int(frame.get("total_steps")),
            float(progress) if isinstance(progress, (int, float)) else None,
            _dict(frame.get("metrics")), _dict(frame.get("growth_events")),
            _field(frame.get("field")), ts, info,
        )
    if kind == "simulation_complete":
        return SimulationComplete(
            sid, opt_int(frame.get("steps")), opt_int(frame.get("duration_ms")),
            _dict(frame.get("metrics")), ts, info,
        )
    return None


async def _run(
    url: str,
    path: str,
    stream_type: str,
    credentials: Credentials | None,
    options: Options,
    stream_id: str,
    params: dict[str, Any],
) -> AsyncGenerator[Any, None]:
    ws, _ = await open_session(ws_url(url, path), credentials, options)
    try:
        await ws.send(json.dumps({
            "type": "subscribe", "stream_type": stream_type, "stream_id": stream_id,
            "params": params, "id": "stream",
        }))
        info: StreamInfo | None = None
        while True:
            frame = await recv_frame(ws, "the stream's connection was lost")
            kind = frame.get("type")
            if info is None:
                if frame.get("id") != "stream":
                    continue
                if kind != "subscribe_success":
                    raise error_from_frame(frame)
                info = StreamInfo(stream_id, _dict(frame.get("params")))
                continue
            if kind == "stream_error":
                raise error_from_frame(frame)
            if kind == "dropped":
                info.dropped += opt_int(frame.get("count")) or 0
                continue
            if kind == "heartbeat":
                await ws.send('{"type":"pong"}')
                continue
            item = _parse(frame, info)
            if item is not None:
                yield item
                if isinstance(item, SimulationComplete):
                    return
    finally:
        await ws.close()


async def stream_features(
    url: str,
    *,
    auth: Credentials | None = None,
    stream_id: str = "features",
    params: dict[str, Any] | None = None,
    options: Options | None = None,
    **kwargs: Any,
) -> AsyncGenerator[FeatureUpdate, None]:
    """Yields ``feature_update`` frames of a ``stream_features`` stream,
    without end. ``params`` and keyword arguments (merged) are the stream
    options and model parameters, e.g. ``grid_size=64,
    update_interval_ms=100, steps_per_update=5, F=0.035, k=0.065``."""
    merged = {**(params or {}), **kwargs}
    async for item in _run(
        url, "/ws/stream_features", "stream_features", auth, options or Options(), stream_id, merged
    ):
        yield item


async def simulation_live(
    url: str,
    *,
    auth: Credentials | None = None,
    stream_id: str = "simulation",
    params: dict[str, Any] | None = None,
    options: Options | None = None,
    **kwargs: Any,
) -> AsyncGenerator[SimulationState | SimulationComplete, None]:
    """Yields the ``simulation_state`` frames of one run, then its
    ``simulation_complete``, and stops. Parameters as for
    :func:`stream_features` (``steps``, ``update_every``, ``include_field``,
    model parameters)."""
    merged = {**(params or {}), **kwargs}
    async for item in _run(
        url, "/ws/simulation_live", "simulation_live", auth, options or Options(), stream_id, merged
    ):
        yield item
