"""Stream fractal features: the MFN flow INIT → AUTH → SUBSCRIBE → STREAM
on ``/ws/stream_features``.

    python examples/stream_features.py --url ws://127.0.0.1:8000/ws --api-key key-one --count 10

Each ``feature_update`` is printed as one line. Leaving the loop closes the
connection, which cancels the stream on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from contextlib import aclosing

import wavecast


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("WAVECAST_URL", "ws://127.0.0.1:8000/ws"))
    ap.add_argument("--api-key", default=os.environ.get("WAVECAST_API_KEY"), help="signed with HMAC")
    ap.add_argument("--count", type=int, default=10, help="updates to print (0: forever)")
    ap.add_argument("--grid-size", type=int, default=64)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--steps-per-update", type=int, default=5)
    args = ap.parse_args()

    auth = wavecast.SignedApiKey(args.api_key) if args.api_key else None
    client = wavecast.connect(args.url, auth=auth)
    stream = client.stream_features(
        stream_id="features-1",
        grid_size=args.grid_size,
        update_interval_ms=args.interval_ms,
        steps_per_update=args.steps_per_update,
        F=0.035,
        k=0.065,
    )
    async with aclosing(stream):
        async for update in stream:
            f = update.features
            print(
                f"seq={update.sequence} step={update.step} active={f['active_nodes']} "
                f"fractal_dimension={f['fractal_dimension']:.4f} energy={f['energy']:.3f}"
            )
            if args.count and update.sequence is not None and update.sequence + 1 >= args.count:
                break


if __name__ == "__main__":
    asyncio.run(main())
