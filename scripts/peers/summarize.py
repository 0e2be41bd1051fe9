#!/usr/bin/env python3
"""Medians of scripts/peers/measure.sh's results, as Markdown tables.

    scripts/peers/summarize.py OUTDIR [OUTDIR ...]

Every figure is the median over the runs found (NAME-TEST-RUN.json), with
the runs' values in brackets; "cb" counts the runs the bench marked
client-bound. For C, the server's CPU-seconds per million deliveries and
the p99 are also given at fixed steps of the rate schedule (the steps are
the same for every server: 20/s × 1.5^k publications to 1,000 subscribers),
which compares servers at the same load even where the bench was the limit.
"""
import glob
import json
import os
import statistics
import sys

STEPS = (342, 513, 769)  # publications/s of the C schedule (× 1,000 deliveries)


def load(dirs):
    runs = {}
    for d in dirs:
        for f in sorted(glob.glob(os.path.join(d, "*.json"))):
            name, test, _ = os.path.basename(f)[:-5].rsplit("-", 2)
            try:
                with open(f) as fh:
                    runs.setdefault((name, test), []).append(json.load(fh))
            except (OSError, ValueError):
                pass
    return runs


def med(values, fmt="{:,.0f}"):
    vals = [v for v in values if v is not None]
    if not vals:
        return "—"
    m = statistics.median(vals)
    each = " / ".join(fmt.format(v) for v in vals)
    return f"{fmt.format(m)} [{each}]" if len(vals) > 1 else fmt.format(m)


def cb(runs):
    return sum(1 for r in runs if r.get("client_bound"))


def step_at(run, rate):
    for s in run.get("steps", []):
        if round(s.get("target_rate", 0)) == rate:
            return s
    return None


def main():
    runs = load(sys.argv[1:])
    names = sorted({n for n, _ in runs})
    print("| server | A bytes/conn | B20 p50 ms | B20 p99 ms | B20 CPU-s/M | B5 p50 ms | B5 p99 ms | B5 CPU-s/M | C best deliveries/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        a = runs.get((n, "a"), [])
        row = [n, med([r["server_stats"].get("rss_bytes_per_connection") for r in a])]
        for t in ("b20", "b5"):
            b = runs.get((n, t), [])
            ratio = {r.get("delivery_ratio") for r in b}
            row += [
                med([r["latency_ms"]["p50"] for r in b], "{:,.1f}"),
                med([r["latency_ms"]["p99"] for r in b], "{:,.1f}"),
                med([r["server_stats"].get("cpu_s_per_million") for r in b], "{:.2f}")
                + ("" if ratio <= {1.0} else f" (delivered {sorted(ratio)})")
                + (f" cb {cb(b)}/{len(b)}" if b else ""),
            ]
        c = runs.get((n, "c"), [])
        row.append(med([r.get("max_sustained_deliveries_per_s") for r in c]) + (f" cb {cb(c)}/{len(c)}" if c else ""))
        print("| " + " | ".join(row) + " |")
    print()
    print("| server | " + " | ".join(f"C at {s}k/s: CPU-s/M, p99 ms, bench cores" for s in STEPS) + " |")
    print("|---|" + "---|" * len(STEPS))
    for n in names:
        c = runs.get((n, "c"), [])
        cells = []
        for s in STEPS:
            st = [step_at(r, s) for r in c]
            st = [x for x in st if x]
            cells.append(
                med([x["server_cpu_s_per_million"] for x in st], "{:.2f}")
                + ", "
                + med([x["latency_ms"]["p99"] for x in st], "{:.0f}")
                + ", "
                + med([x["client"]["cores_used"] for x in st], "{:.2f}")
            )
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
