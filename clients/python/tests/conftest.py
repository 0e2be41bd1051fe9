"""Fixtures: the real ``wavecast`` binary, started per test session (and
per test where a test needs its own configuration or a restart)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wavecast.testing import ServerProcess, find_binary

HERE = Path(__file__).resolve().parent
API_KEY = "key-one"
KEY_ID, KEY_SECRET = "mobile", "mobile-secret"
JWT_SECRET = "jwt-secret-for-the-python-tests-0123456789"
HTTP_KEY = "http-key"

#: The shared server: authentication required, every credential kind,
#: client publishing allowed except in namespace ``ro``.
MAIN_CONFIG = f"""
[http]
api_key = "{HTTP_KEY}"

[auth]
require_auth = true
api_keys = ["{API_KEY}"]
jwt_secret = "{JWT_SECRET}"
refresh_before = "2s"

[auth.keys]
{KEY_ID} = "{KEY_SECRET}"

[limits]
max_subscriptions = 50
connection_rate_per_user = 0
max_connections_per_user = 0

[namespaces.default]
publish = "public"

[namespaces.ro]
publish = "none"
"""


@pytest.fixture(scope="session")
def binary() -> Path:
    found = find_binary(HERE.parent)
    if found is None or not found.is_file():
        pytest.fail(
            "no wavecast binary: set WAVECAST_BIN or build it (cargo build)", pytrace=False
        )
    return found


@pytest.fixture(scope="session")
def server(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(binary, tmp_path_factory.mktemp("main"), MAIN_CONFIG)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def make_server(
    binary: Path, tmp_path: Path
) -> Iterator[Callable[[str], ServerProcess]]:
    """Starts servers with a configuration of the test's own; stops them after."""
    started: list[ServerProcess] = []

    def make(config: str) -> ServerProcess:
        proc = ServerProcess(binary, tmp_path / f"srv{len(started)}", config)
        started.append(proc)
        proc.start()
        return proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture
def channel() -> str:
    """A channel name no other test uses."""
    return "t-" + uuid.uuid4().hex[:12]
