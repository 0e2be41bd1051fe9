"""Subscribe to channels with recovery: reconnects resume from the last
offset and epoch; a lost history shows as ``recovered=False``.

    python examples/subscribe.py --url ws://127.0.0.1:8000/ws news chat:lobby
    curl -s localhost:8000/api/publish -d '{"channel":"news","data":{"headline":"hi"}}'
"""

from __future__ import annotations

import argparse
import asyncio
import os

import wavecast


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("WAVECAST_URL", "ws://127.0.0.1:8000/ws"))
    ap.add_argument("--api-key", default=os.environ.get("WAVECAST_API_KEY"))
    ap.add_argument("--count", type=int, default=0, help="stop after N publications (0: never)")
    ap.add_argument("channels", nargs="+")
    args = ap.parse_args()

    async with wavecast.connect(args.url, api_key=args.api_key) as client:
        await client.subscribe_many(args.channels, recover=True)
        seen = 0
        async for event in client.events():
            match event:
                case wavecast.Publication(channel=ch, offset=offset, data=data):
                    print(f"{ch}#{offset}: {data}")
                    seen += 1
                    if seen == args.count:
                        return
                case wavecast.Subscribed(channel=ch, recovered=False, resubscribed=True):
                    print(f"{ch}: publications were missed while offline; reload its state")
                case wavecast.Subscribed(channel=ch, offset=offset, recovered=recovered):
                    print(f"{ch}: subscribed at offset {offset} (recovered={recovered})")
                case wavecast.Disconnected(code=code, will_reconnect=again):
                    print(f"disconnected ({code}); reconnecting: {again}")


if __name__ == "__main__":
    asyncio.run(main())
