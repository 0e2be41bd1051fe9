"""Messages per second that one client consumes.

Starts the real server (``$WAVECAST_BIN``, else ``target/release``, else
``target/debug``) with the memory engine, fills the history of the bench
channels, then times one client receiving them all through a recovery
replay (``since=0``), which the server sends as fast as it can write.
Modes:

- ``client``: ``async for msg in client`` over ``--channels`` channels
  (filled with ``/api/broadcast``);
- ``subscription``: ``async for pub in sub`` on one channel (filled with
  HTTP publishes on one keep-alive connection);
- ``raw``: the same replay read with plain ``websockets`` + ``json.loads``,
  no wavecast client: the ceiling, to see what the client costs;
- ``live``: live publications (no replay) while a second process
  broadcasts as fast as it can; this is bounded by the server's publish
  rate as much as by the client.

Each mode runs ``--rounds`` times, interleaved; the median and the spread
are printed, twice: messages per second of wall-clock time, and messages
per CPU-second of this (the client's) process, which is what the client
alone could take from a faster server (the server shares the machine).

    python bench/consume.py --messages 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect

import wavecast
from wavecast.testing import ServerProcess, find_binary

HERE = Path(__file__).resolve().parent

CONFIG = """
engine = "memory"

[limits]
max_subscriptions = 1000
max_message_rate = 0
max_message_size = 1048576
max_connection_queue_bytes = 1073741824

[namespaces.bench]
history_size = {history}
history_ttl = "0"
max_queue_messages = {queue}
max_queue_bytes = 1073741824
"""


def payload(size: int) -> dict[str, str]:
    return {"text": "x" * size}


def fill_broadcast(srv: ServerProcess, channels: list[str], per_channel: int, size: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    body = json.dumps({"channels": channels, "data": payload(size)})
    for _ in range(per_channel):
        conn.request("POST", "/api/broadcast", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"broadcast answered {resp.status}")
    conn.close()


def fill_one(srv: ServerProcess, channel: str, count: int, size: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    body = json.dumps({"channel": channel, "data": payload(size)})
    for _ in range(count):
        conn.request("POST", "/api/publish", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"publish answered {resp.status}")
    conn.close()


async def run_client(srv: ServerProcess, channels: list[str], total: int) -> float:
    async with wavecast.connect(srv.url, max_queue=100_000, max_message_size=1048576) as client:
        start = time.perf_counter()
        await client.subscribe_many(channels, since=0)
        n = 0
        async for _ in client:
            n += 1
            if n == total:
                break
        return total / (time.perf_counter() - start)


async def run_subscription(srv: ServerProcess, channel: str, total: int) -> float:
    async with wavecast.connect(srv.url, max_queue=100_000, max_message_size=1048576) as client:
        start = time.perf_counter()
        sub = await client.subscribe(channel, since=0)
        n = 0
        async for _ in sub:
            n += 1
            if n == total:
                break
        return total / (time.perf_counter() - start)


async def run_raw(srv: ServerProcess, channels: list[str], total: int) -> float:
    async with ws_connect(srv.url, compression=None, proxy=None, max_size=2**24) as ws:
        start = time.perf_counter()
        await ws.send(json.dumps({"type": "subscribe", "channels": channels, "since": 0, "id": 1}))
        n = 0
        loads = json.loads
        async for text in ws:
            frame = loads(text)
            if "channel" in frame and frame.get("type") != "subscribe_success":
                n += 1
                if n == total:
                    break
        return total / (time.perf_counter() - start)


PUBLISHER = """
import http.client, json, sys
port, channels, n, size = int(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
body = json.dumps({"channels": channels, "data": {"text": "x" * size}})
for _ in range(n):
    conn.request("POST", "/api/broadcast", body, {"Content-Type": "application/json"})
    conn.getresponse().read()
"""


async def run_live(srv: ServerProcess, channels: list[str], total: int, size: int) -> float:
    """Counts publications, and publications the server dropped, until all
    sent ones are accounted for; the rate is of those received."""
    async with wavecast.connect(srv.url, max_queue=100_000, max_message_size=1048576) as client:
        await client.subscribe_many(channels)
        rounds = total // len(channels)
        expected = rounds * len(channels)
        pub = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(srv.port), ",".join(channels), str(rounds), str(size)]
        )
        try:
            received = dropped = 0
            start = 0.0
            async for ev in client.events():
                if isinstance(ev, wavecast.Publication):
                    if received == 0:
                        start = time.perf_counter()
                    received += 1
                elif isinstance(ev, wavecast.Dropped):
                    dropped += ev.count
                if received + dropped >= expected:
                    break
            if dropped:
                print(f"  live: the server dropped {dropped} of {expected}", flush=True)
            return (received - 1) / (time.perf_counter() - start)
        finally:
            pub.wait(60)


def summary(name: str, rates: list[float]) -> str:
    med = statistics.median(rates)
    return (
        f"{name:13s} median {med:>9,.0f} msg/s   "
        f"min {min(rates):>9,.0f}   max {max(rates):>9,.0f}   ({len(rates)} rounds)"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100, help="payload bytes")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--modes", default="client,subscription,raw,live")
    args = ap.parse_args()
    binary = find_binary(HERE.parent)
    if binary is None:
        raise SystemExit("no wavecast binary: set WAVECAST_BIN or cargo build --release")
    modes = args.modes.split(",")
    per_channel = args.messages // args.channels
    total = per_channel * args.channels
    channels = [f"bench:{i}" for i in range(args.channels)]
    config = CONFIG.format(history=max(per_channel, args.messages if "subscription" in modes else 1),
                           queue=args.messages + 1000)
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(binary, tmp, config) as srv:
        print(f"binary {binary}; {total} messages of {args.size} payload bytes", flush=True)
        t0 = time.perf_counter()
        fill_broadcast(srv, channels, per_channel, args.size)
        if "subscription" in modes:
            fill_one(srv, "bench:one", args.messages, args.size)
        print(f"filled in {time.perf_counter() - t0:.1f} s", flush=True)
        results: dict[str, list[float]] = {m: [] for m in modes}
        per_cpu: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.rounds):  # interleaved rounds
            for mode in modes:
                cpu0 = time.process_time()
                if mode == "client":
                    run = run_client(srv, channels, total)
                    count = total
                elif mode == "subscription":
                    run = run_subscription(srv, "bench:one", args.messages)
                    count = args.messages
                elif mode == "raw":
                    run = run_raw(srv, channels, total)
                    count = total
                elif mode == "live":
                    live = [f"bench:live-{i}" for i in range(100)]
                    count = min(total, 100_000) // 100 * 100
                    run = run_live(srv, live, count, args.size)
                else:
                    raise SystemExit(f"unknown mode {mode}")
                rate = await asyncio.wait_for(run, 300)
                cpu_rate = count / max(time.process_time() - cpu0, 1e-9)
                results[mode].append(rate)
                per_cpu[mode].append(cpu_rate)
                print(f"  {mode}: {rate:,.0f} msg/s, {cpu_rate:,.0f} msg per client CPU-second", flush=True)
        print("wall clock (the server's replay and the client together):")
        for mode in modes:
            print(summary(mode, results[mode]))
        print("per CPU-second of the client process (what the client alone could take):")
        for mode in modes:
            print(summary(mode, per_cpu[mode]))
        if "client" in results and "raw" in results:
            ratio = statistics.median(results["client"]) / statistics.median(results["raw"])
            print(f"client / raw: {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
