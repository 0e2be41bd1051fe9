"""Every authentication mode against the real server (require_auth on)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import wavecast
from wavecast.testing import ServerProcess

from .conftest import API_KEY, JWT_SECRET, KEY_ID, KEY_SECRET
from .helpers import WAIT, mint_jwt, until


def test_sign_matches_the_protocol_example() -> None:
    # docs/protocol.md §2.5: echo -n 1795297680000 | openssl dgst -sha256 -hmac key-one
    assert (
        wavecast.sign("key-one", 1795297680000)
        == "bca72becc473fa0bc0ccd006ebbcb9697288851038510c47ed8acbdd11e8587a"
    )
    with pytest.raises(ValueError):
        wavecast.sign("k", -1)


def test_sign_matches_the_server_cli(binary: Path) -> None:
    out = subprocess.run(
        [str(binary), "sign", "--key-id", KEY_ID, "--secret", KEY_SECRET, "--timestamp", "1700000000123"],
        capture_output=True, text=True, timeout=WAIT, check=True,
    ).stdout
    assert wavecast.sign(KEY_SECRET, 1700000000123) in out


@pytest.mark.parametrize(
    ("auth", "user"),
    [
        (wavecast.ApiKey(API_KEY), "api_key:0"),
        (wavecast.ApiKey(API_KEY, via="header"), "api_key:0"),
        (wavecast.ApiKey(API_KEY, via="query"), "api_key:0"),
        (wavecast.SignedApiKey(API_KEY), "api_key:0"),
        (wavecast.KeyId(KEY_ID, KEY_SECRET), KEY_ID),
        (wavecast.Jwt(mint_jwt(JWT_SECRET, "alice")), "alice"),
        (wavecast.Jwt(mint_jwt(JWT_SECRET, "alice"), via="header"), "alice"),
        (wavecast.Jwt(mint_jwt(JWT_SECRET, "alice"), via="query"), "alice"),
    ],
    ids=["api_key", "api_key-header", "api_key-query", "signed", "key_id", "jwt", "jwt-header", "jwt-query"],
)
async def test_every_auth_mode_is_admitted(
    server: ServerProcess, channel: str, auth: wavecast.Credentials, user: str
) -> None:
    async with wavecast.connect(server.url, auth=auth) as client:
        assert client.user_id == user
        assert client.connection_id
        # Admitted: a subscription works (it would get auth_required otherwise).
        sub = await client.subscribe(channel)
        assert sub.epoch is not None


async def test_shortcuts_api_key_and_token(server: ServerProcess) -> None:
    async with wavecast.connect(server.url, api_key=API_KEY) as client:
        assert client.user_id == "api_key:0"
    async with wavecast.connect(server.url, token=mint_jwt(JWT_SECRET, "bob")) as client:
        assert client.user_id == "bob"
    with pytest.raises(ValueError):
        wavecast.connect(server.url, api_key=API_KEY, token="x.y.z")


async def test_unknown_api_key_is_invalid_credentials(server: ServerProcess) -> None:
    with pytest.raises(wavecast.InvalidCredentialsError) as info:
        await wavecast.connect(server.url, api_key="nope", reconnect=False)
    err = info.value
    assert err.code == "invalid_credentials" and err.recoverable is True
    assert err.help and err.frame is not None and err.frame["type"] == "auth_failed"
    # The same key refused at the upgrade: HTTP 401 with the same code.
    with pytest.raises(wavecast.InvalidCredentialsError) as info:
        await wavecast.connect(server.url, auth=wavecast.ApiKey("nope", via="header"))
    assert info.value.status == 401


async def test_wrong_secret_is_invalid_signature(server: ServerProcess) -> None:
    with pytest.raises(wavecast.InvalidSignatureError):
        await wavecast.connect(server.url, auth=wavecast.KeyId(KEY_ID, "wrong-secret"))
    # An unknown key id gets the same answer (ids cannot be probed).
    with pytest.raises(wavecast.InvalidSignatureError):
        await wavecast.connect(server.url, auth=wavecast.KeyId("nobody", KEY_SECRET))


async def test_expired_and_forged_tokens(server: ServerProcess) -> None:
    with pytest.raises(wavecast.TokenExpiredError):
        await wavecast.connect(server.url, token=mint_jwt(JWT_SECRET, ttl=-60))
    with pytest.raises(wavecast.InvalidCredentialsError):
        await wavecast.connect(server.url, token=mint_jwt("another-secret-0123456789abcdef"))


async def test_without_credentials_requests_get_auth_required(server: ServerProcess, channel: str) -> None:
    async with wavecast.connect(server.url) as client:
        assert client.user_id is None
        with pytest.raises(wavecast.AuthRequiredError) as info:
            await client.subscribe(channel)
        assert info.value.recoverable


async def test_a_replayed_signature_is_refused(server: ServerProcess) -> None:
    ts = wavecast.timestamp_ms()
    frame = {"type": "auth", "api_key": API_KEY, "timestamp": ts, "signature": wavecast.sign(API_KEY, ts)}
    async with wavecast.connect(server.url, api_key=API_KEY) as client:
        first = await client.request(frame)
        second = await client.request(frame)
    assert first["type"] == "auth_success"
    assert second["type"] == "auth_failed"
    assert isinstance(wavecast.error_from_frame(second), wavecast.ReplayError)


async def test_stale_timestamp(server: ServerProcess) -> None:
    ts = wavecast.timestamp_ms() - 3_600_000
    frame = {"type": "auth", "key_id": KEY_ID, "timestamp": ts, "signature": wavecast.sign(KEY_SECRET, ts)}
    async with wavecast.connect(server.url, api_key=API_KEY) as client:
        reply = await client.request(frame)
    assert isinstance(wavecast.error_from_frame(reply), wavecast.StaleTimestampError)


async def test_require_signature_refuses_plain_keys(make_server: Callable[[str], ServerProcess]) -> None:
    srv = make_server(
        f'[auth]\nrequire_auth = true\nrequire_signature = true\napi_keys = ["{API_KEY}"]\n'
    )
    with pytest.raises(wavecast.InvalidSignatureError):
        await wavecast.connect(srv.url, api_key=API_KEY)
    with pytest.raises(wavecast.InvalidSignatureError) as info:
        await wavecast.connect(srv.url, auth=wavecast.ApiKey(API_KEY, via="header"))
    assert info.value.status == 401
    async with wavecast.connect(srv.url, auth=wavecast.SignedApiKey(API_KEY)) as client:
        assert client.user_id == "api_key:0"


async def test_token_provider_answers_refresh_required(server: ServerProcess) -> None:
    calls: list[str] = []

    async def provider() -> str:
        # The first token expires in 5 s (refresh_before is 2 s on this
        # server); the refresh gets a long-lived one.
        token = mint_jwt(JWT_SECRET, "carol", ttl=5 if not calls else 3600)
        calls.append(token)
        return token

    async with wavecast.connect(server.url, auth=wavecast.Jwt(provider)) as client:
        events = await until(client.events(), lambda e: isinstance(e, wavecast.Refreshed), timeout=WAIT)
        assert len(calls) == 2
        assert events[-1].expires_at is not None
        assert client.user_id == "carol"
        assert await asyncio.wait_for(client.ping(), WAIT) >= 0
