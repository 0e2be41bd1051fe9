#!/usr/bin/env python3
"""wavecast-sim against the NumPy reference, measured the fair way.

Both sides are pinned to the same core (taskset -c CORE). NumPy runs with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment (for
its command only; they can slow a current NumPy), and reports the BLAS
kernel threadpoolctl sees. The three commands (wavecast, NumPy with the
flush, NumPy without it) are interleaved ROUNDS times; each run is short
and, with --lock, holds the shared build lock so no compile runs meanwhile.
Steps/s is the median over every run of every round; the ratio divides
wavecast by the faster NumPy variant.

    python3 bench/compare.py --wavecast target/release/examples/steps_per_sec \\
        --python .venv/bin/python [--core 1] [--rounds 5] [--sizes 64,128,256,512]
        [--seconds 1.0] [--lock /tmp/wavecast-build.lock] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, lock, env=None):
    if lock:
        cmd = ["flock", lock] + cmd
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def numpy_env():
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    return env


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wavecast", required=True, help="the steps_per_sec example binary")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--core", default="1")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--sizes", default="64,128,256,512")
    p.add_argument("--seconds", default="1.0")
    p.add_argument("--repeats", default="1", help="runs per size per command per round")
    p.add_argument("--lock", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()

    pin = ["taskset", "-c", args.core]
    script = os.path.join(HERE, "numpy_gray_scott.py")
    np_cmd = pin + [args.python, script, "--sizes", args.sizes, "--repeats", args.repeats,
                    "--seconds", args.seconds]
    wc_cmd = pin + [args.wavecast, args.sizes, args.repeats, args.seconds]
    keys = {"step": "runs", "serial": "serial_runs", "batch": "batch_runs"}
    runs = {}
    runtime = None
    for r in range(args.rounds):
        wc = run(wc_cmd, args.lock)
        for row in wc["results"]:
            for name, key in keys.items():
                runs.setdefault((name, row["grid"]), []).extend(row[key])
        for flush, name in ((True, "numpy"), (False, "numpy_no_flush")):
            out = run(np_cmd + ([] if flush else ["--no-flush"]), args.lock, numpy_env())
            runtime = out["runtime"]
            for row in out["results"]:
                runs.setdefault((name, row["grid"]), []).extend(row["runs"])
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    sizes = [int(s) for s in args.sizes.split(",")]
    med = {k: statistics.median(v) for k, v in runs.items()}
    table = []
    for n in sizes:
        best_np = max(med[("numpy", n)], med[("numpy_no_flush", n)])
        table.append({
            "grid": n,
            "step": med[("step", n)],
            "serial": med[("serial", n)],
            "batch": med[("batch", n)],
            "numpy": med[("numpy", n)],
            "numpy_no_flush": med[("numpy_no_flush", n)],
            "ratio_step": med[("step", n)] / best_np,
            "ratio_batch": med[("batch", n)] / best_np,
        })
    result = {"core": args.core, "rounds": args.rounds, "numpy_runtime": runtime,
              "kernel": wc.get("kernel"), "table": table, "runs": {f"{k[0]}/{k[1]}": v for k, v in runs.items()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print("| grid | step() | step() serial | step_n(64) | NumPy | NumPy, no flush | ratio step() | ratio step_n |")
    print("|---|---|---|---|---|---|---|---|")
    for t in table:
        print(f"| {t['grid']}² | {t['step']:,.0f} | {t['serial']:,.0f} | {t['batch']:,.0f} | {t['numpy']:,.0f} | "
              f"{t['numpy_no_flush']:,.0f} | {t['ratio_step']:.1f}× | {t['ratio_batch']:.1f}× |")


if __name__ == "__main__":
    main()
