"""Ask the server's agent and print the conversation's events as they come.

    python examples/ask_agent.py --url ws://127.0.0.1:8000/ws "What is a fractal?"
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
    ap.add_argument("--thread", help="thread id, to continue a conversation")
    ap.add_argument("question")
    args = ap.parse_args()

    async with wavecast.connect(args.url, api_key=args.api_key) as client:
        try:
            async for event in client.ask_agent(args.question, thread_id=args.thread, timeout=60):
                print(f"[{event.seq}] {event.type}: {event.data}")
        except wavecast.AgentUnavailableError as err:
            print(f"the agent is unavailable, retry later ({err.message})")


if __name__ == "__main__":
    asyncio.run(main())
