"""The MFN stream helpers against the real server: INIT → AUTH →
SUBSCRIBE → STREAM → END on /ws/stream_features and /ws/simulation_live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import pytest

import wavecast
from wavecast.testing import ServerProcess

from .conftest import API_KEY, KEY_ID, KEY_SECRET
from .helpers import WAIT, take

T = TypeVar("T")

FEATURES = {
    "step", "potential_mean", "potential_std", "potential_min", "potential_max",
    "active_nodes", "active_ratio", "fractal_dimension", "fractal_r_squared",
    "energy", "gradient_energy", "spatial_variance",
}


async def test_stream_features_with_a_signed_auth(server: ServerProcess) -> None:
    client = wavecast.connect(server.url, auth=wavecast.SignedApiKey(API_KEY))
    stream = client.stream_features(
        stream_id="f1", grid_size=16, update_interval_ms=10, steps_per_update=5, F=0.035, k=0.065
    )
    async with aclosing(stream):
        updates = await take(stream, 3)
    assert [u.sequence for u in updates] == [0, 1, 2]
    assert [u.step for u in updates] == [5, 10, 15]
    first = updates[0]
    assert first.stream_id == "f1" and set(first.features) == FEATURES
    assert first.features["step"] == first.step
    params = first.info.params
    assert params["grid_size"] == 16 and params["steps_per_update"] == 5
    assert params["model"]["feed"] == 0.035 and params["model"]["kill"] == 0.065


async def test_simulation_live_runs_to_completion(server: ServerProcess) -> None:
    client = wavecast.connect(server.url, auth=wavecast.KeyId(KEY_ID, KEY_SECRET))
    frames = await asyncio.wait_for(
        _collect(client.simulation_live(grid_size=8, steps=20, update_every=10, include_field=True, seed=7)),
        WAIT,
    )
    complete = frames[-1]
    states = [s for s in frames[:-1] if isinstance(s, wavecast.SimulationState)]
    assert len(states) == len(frames) - 1 == 2
    assert isinstance(complete, wavecast.SimulationComplete)
    assert [s.step for s in states] == [10, 20]
    assert [s.progress for s in states] == [0.5, 1.0]
    assert complete.steps == 20 and complete.metrics["step"] == 20
    last = states[-1]
    assert isinstance(last, wavecast.SimulationState) and last.field is not None
    field = last.field
    assert (field.width, field.height) == (8, 8) and len(field.levels()) == 64
    values = field.values()
    # Decoding is within half a level of the true values, whose extremes are min and max.
    half_level = (field.max - field.min) / 510
    assert min(values) == pytest.approx(field.min, abs=half_level)
    assert max(values) == pytest.approx(field.max, abs=half_level)
    assert last.metrics["potential_max"] == pytest.approx(field.max, rel=1e-6)
    assert last.growth_events["step"] == 20


async def _collect(it: AsyncIterable[T]) -> list[T]:
    return [x async for x in it]


async def test_invalid_stream_parameters_raise_the_typed_error(server: ServerProcess) -> None:
    client = wavecast.connect(server.url, api_key=API_KEY)
    with pytest.raises(wavecast.InvalidFieldError) as info:
        await take(client.stream_features(update_interval_ms=5), 1)
    assert "update_interval_ms" in info.value.message and info.value.recoverable
    assert info.value.frame is not None and info.value.frame["type"] == "subscribe_failed"
    with pytest.raises(wavecast.InvalidFieldError):
        await take(client.simulation_live(dt=5), 1)


async def test_streams_need_credentials_on_this_server(server: ServerProcess) -> None:
    client = wavecast.connect(server.url)
    with pytest.raises(wavecast.AuthRequiredError):
        await take(client.stream_features(), 1)


async def test_module_level_helpers(server: ServerProcess) -> None:
    stream = wavecast.stream_features(
        server.url, auth=wavecast.ApiKey(API_KEY, via="header"), grid_size=8, update_interval_ms=10
    )
    async with aclosing(stream):
        [update] = await take(stream, 1)
    assert update.sequence == 0


def _ended(stream_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event") == "stream_ended" and e.get("stream_id") == stream_id


async def test_leaving_the_loop_cancels_the_stream_on_the_server(
    make_server: Callable[[str], ServerProcess],
) -> None:
    srv = make_server("")
    client = wavecast.connect(srv.url)
    stream = client.stream_features(stream_id="gone", grid_size=8, update_interval_ms=10)
    async with aclosing(stream):
        await take(stream, 1)
    entry = await asyncio.to_thread(srv.wait_log, _ended("gone"), WAIT)
    assert entry["reason"] == "client_close"
    # Without aclosing: asyncio finalises the abandoned generator by itself.
    async for _ in client.simulation_live(stream_id="dropped", grid_size=8, steps=1_000_000, update_every=1):
        break
    await asyncio.to_thread(srv.wait_log, _ended("dropped"), WAIT)
