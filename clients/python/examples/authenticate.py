"""Authenticate: the MFN flow's INIT → AUTH, with a signed API key (or a
key id, or a JWT).

    python examples/authenticate.py --url ws://127.0.0.1:8000/ws --api-key key-one
    python examples/authenticate.py --key-id mobile --secret mobile-secret
    python examples/authenticate.py --token "$(wavecast token --secret ... --sub alice)"

``wavecast.connect`` sends ``init``, then the ``auth`` message (signed
with a fresh timestamp), and returns once ``auth_success`` arrived; a
refusal raises its typed error (``InvalidSignatureError``,
``StaleTimestampError``...).
"""

from __future__ import annotations

import argparse
import asyncio
import os

import wavecast


def credentials(args: argparse.Namespace) -> wavecast.Credentials:
    if args.token:
        return wavecast.Jwt(args.token)
    if args.key_id:
        return wavecast.KeyId(args.key_id, args.secret)
    return wavecast.SignedApiKey(args.api_key)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("WAVECAST_URL", "ws://127.0.0.1:8000/ws"))
    ap.add_argument("--api-key", default=os.environ.get("WAVECAST_API_KEY"))
    ap.add_argument("--key-id")
    ap.add_argument("--secret")
    ap.add_argument("--token")
    args = ap.parse_args()
    if not (args.api_key or args.key_id or args.token):
        ap.error("give --api-key, --key-id with --secret, or --token")

    try:
        async with wavecast.connect(args.url, auth=credentials(args)) as client:
            print(f"auth_success: user_id={client.user_id} connection_id={client.connection_id}")
            print(f"ping: {await client.ping() * 1000:.1f} ms")
    except wavecast.WavecastError as err:
        print(f"refused: {err.code}: {err.message} (help: {err.help})")
        raise SystemExit(1) from None


if __name__ == "__main__":
    asyncio.run(main())
