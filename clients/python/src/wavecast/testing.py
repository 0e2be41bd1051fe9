"""Running a real ``wavecast`` server binary for tests and benchmarks.

:class:`ServerProcess` writes a TOML configuration into a directory, starts
``wavecast serve`` on a free port (``--port 0`` unless told otherwise),
waits for the log line that names the bound address and then for
``GET /ready``, with every wait bounded, and stops the process with SIGTERM
(SIGKILL after a bounded wait). It can be stopped and started again on the
same port and directory, which is how a restart is tested. Nothing here
sleeps: each wait is on an event (a log line, an HTTP answer, process exit).
:meth:`ServerProcess.wait_log` lets a test await an audit log entry.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ServerProcess", "find_binary"]


def find_binary(base: Path) -> Path | None:
    """``$WAVECAST_BIN``, else ``target/release/wavecast`` then
    ``target/debug/wavecast`` two levels above ``base`` (the repository
    root, seen from ``clients/python``)."""
    env = os.environ.get("WAVECAST_BIN")
    if env:
        return Path(env)
    root = base.resolve().parent.parent
    for profile in ("release", "debug"):
        candidate = root / "target" / profile / "wavecast"
        if candidate.is_file():
            return candidate
    return None


class ServerProcess:
    """One ``wavecast serve`` process (see the module doc)."""

    def __init__(
        self,
        binary: Path | str,
        workdir: Path | str,
        config: str = "",
        *,
        env: dict[str, str] | None = None,
    ) -> None:
        self.binary = str(binary)
        self.workdir = Path(workdir)
        self.config = config
        self.env = env
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.log: deque[str] = deque(maxlen=200)

    @property
    def url(self) -> str:
        """The WebSocket URL of ``/ws``."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        """Starts the server (on :attr:`port` if it is set) and waits until
        it is ready."""
        if self.proc is not None:
            raise RuntimeError("already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "wavecast.toml"
        path.write_text(f'data_dir = "{self.workdir / "data"}"\n{self.config}')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAVECAST_", "MFN_"))}
        env.update(self.env or {})
        self._lines = queue.Queue()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", str(path), "--port", str(self.port)],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # The thread feeds this start's queue: a killed predecessor's
        # reader may still be draining its pipe, and its end-of-stream must
        # not reach the new process's queue.
        threading.Thread(target=self._drain, args=(self.proc, self._lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        self.port = self._await_listening(deadline)
        self._await_ready(deadline)

    def _drain(self, proc: subprocess.Popen[bytes], lines: queue.Queue[str | None]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            lines.put(line)
        lines.put(None)

    def _await_listening(self, deadline: float) -> int:
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise TimeoutError(self._failure("no 'listening' log line in time")) from None
            if line is None:
                raise RuntimeError(self._failure("the server exited at start"))
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and str(entry.get("message", "")).startswith(
                "wavecast listening"
            ):
                return int(str(entry["addr"]).rsplit(":", 1)[1])

    def wait_log(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        """Blocks until the server logs a JSON entry for which ``pred``
        holds (entries logged since the last wait count), and returns it.
        Call it through ``asyncio.to_thread`` from async code."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise TimeoutError(self._failure("the awaited log entry did not come")) from None
            if line is None:
                raise RuntimeError(self._failure("the server exited"))
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and pred(entry):
                return entry

    def _await_ready(self, deadline: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/ready")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200 or time.monotonic() > deadline:
            raise RuntimeError(self._failure(f"/ready answered {resp.status} {body!r}"))

    def _failure(self, what: str) -> str:
        tail = "\n".join(list(self.log)[-20:])
        return f"{what}; binary {self.binary}; log:\n{tail}"

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: clients get 1001), then SIGKILL after
        ``timeout``. Returns the exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the process dies without closing its connections."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(15)
