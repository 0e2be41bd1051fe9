"""The examples run against the real server and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wavecast.testing import ServerProcess

from .conftest import API_KEY, HTTP_KEY, KEY_ID, KEY_SECRET
from .helpers import WAIT

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / args[0]), *args[1:]],
        capture_output=True, text=True, timeout=WAIT, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sign_reproduces_the_protocol_example() -> None:
    out = run("sign.py", "--api-key", "key-one", "--timestamp", "1795297680000")
    assert "bca72becc473fa0bc0ccd006ebbcb9697288851038510c47ed8acbdd11e8587a" in out
    out = run("sign.py", "--key-id", KEY_ID, "--secret", KEY_SECRET, "--timestamp", "1")
    assert '"key_id": "mobile"' in out and KEY_SECRET not in out


def test_authenticate(server: ServerProcess) -> None:
    out = run("authenticate.py", "--url", server.url, "--api-key", API_KEY)
    assert "auth_success: user_id=api_key:0" in out
    out = run("authenticate.py", "--url", server.url, "--key-id", KEY_ID, "--secret", KEY_SECRET)
    assert f"auth_success: user_id={KEY_ID}" in out
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "authenticate.py"), "--url", server.url, "--key-id", KEY_ID, "--secret", "nope"],
        capture_output=True, text=True, timeout=WAIT, check=False,
    )
    assert done.returncode == 1 and "refused: invalid_signature" in done.stdout


def test_stream_features(server: ServerProcess) -> None:
    out = run(
        "stream_features.py", "--url", server.url, "--api-key", API_KEY,
        "--count", "3", "--grid-size", "16", "--interval-ms", "10",
    )
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["seq=0", "seq=1", "seq=2"]
    assert all("fractal_dimension=" in line for line in lines)


@pytest.mark.agents
def test_ask_agent(server: ServerProcess) -> None:
    # The shared server has no [agents] section: env = "dev" answers with
    # the demo agent by default, as docs/agents.md tells readers.
    out = run("ask_agent.py", "--url", server.url, "--api-key", API_KEY, "--thread", "t1",
              "What is a fractal?")
    lines = out.splitlines()
    kinds = [line.split()[1].rstrip(":") for line in lines]
    assert kinds[:4] == ["agent_started", "agent_thinking", "agent_thinking", "tool_executing"]
    assert kinds[-1] == "agent_completed" and set(kinds[4:-1]) == {"partial_result"}
    seqs = [int(line.split()[0].strip("[]")) for line in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert "'thread_id': 't1'" in lines[0]
    assert 'You said "What is a fractal?": 4 words, 18 characters.' in lines[-1]


def test_subscribe(server: ServerProcess, channel: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "subscribe.py"), "--url", server.url, "--api-key", API_KEY,
         "--count", "1", channel],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once subscribed: an event, no sleep
        assert f"{channel}: subscribed at offset 0" in first
        import http.client
        import json

        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        conn.request("POST", "/api/publish", json.dumps({"channel": channel, "data": "hi"}),
                     {"Authorization": f"Bearer {HTTP_KEY}"})
        assert conn.getresponse().status == 200
        conn.close()
        out, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
        assert f"{channel}#1: hi" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
