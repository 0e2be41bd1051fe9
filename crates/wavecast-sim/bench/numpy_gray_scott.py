#!/usr/bin/env python3
"""NumPy reference for wavecast-sim: the same Gray–Scott scheme, timed.

Same equations, coefficients, initial state (SplitMix64 noise, vectorised),
operation order and flush of tiny values as the Rust crate: periodic 5-point
Laplacian built with np.roll, explicit Euler, float32 fields by default. Timing covers the step
only (no growth tracking, which the Rust timing includes).

    python3 bench/numpy_gray_scott.py [--sizes 64,128,256,512] [--repeats 5]
                                      [--seconds 1.0] [--dtype float32]
                                      [--no-flush]
    python3 bench/numpy_gray_scott.py --checksum N STEPS SEED

--checksum prints the same JSON as `cargo run --release -p wavecast-sim
--example field_checksum -- N STEPS SEED`; with float32 the two fields are
expected to be bit-identical.

The timing output names what NumPy ran on: its version, the BLAS library
and kernel that threadpoolctl reports (architecture, threads), and the
OPENBLAS_* variables in the environment (a set OPENBLAS_CORETYPE or
OPENBLAS_L2_SIZE can slow NumPy; measure with them unset:
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 python3 ...`).
"""

import argparse
import json
import os
import statistics
import time

import numpy as np

DU, DV, FEED, KILL, DT = 0.16, 0.08, 0.035, 0.065, 1.0
NOISE = 0.02
# |x| < FLUSH becomes 0 after each step (the crate's FLUSH_TO_ZERO): keeps
# float32 out of the slow subnormal range.
FLUSH = 1e-15
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64_f64(seed, count):
    """The first `count` outputs of SplitMix64(seed) as floats in [0, 1)."""
    k = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + GOLDEN * k
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def initial_state(n, seed, dtype):
    u = np.ones((n, n), dtype=dtype)
    v = np.zeros((n, n), dtype=dtype)
    side = min(max(n // 8, 4), n)
    s = (n - side) // 2
    u[s:s + side, s:s + side] = 0.5
    v[s:s + side, s:s + side] = 0.25
    r = splitmix64_f64(seed, 2 * n * n)
    r1 = r[0::2].reshape(n, n)
    r2 = r[1::2].reshape(n, n)
    u = (u.astype(np.float64) - NOISE * r1).astype(dtype)
    v = (v.astype(np.float64) + NOISE * r2).astype(dtype)
    return u, v


def make_step(dtype, flush=True):
    dt_du = dtype(DT * DU)
    dt_dv = dtype(DT * DV)
    dt = dtype(DT)
    dt_f = dtype(DT * FEED)
    dt_fk = dtype(DT * (FEED + KILL))
    four = dtype(4.0)
    one = dtype(1.0)
    tiny = dtype(FLUSH)
    zero = dtype(0.0)

    def flush_tiny(x):
        return np.where(np.abs(x) < tiny, zero, x)

    def lap(z):
        # (up + down) + (left + right) - 4 z, as in the Rust kernel.
        return (np.roll(z, 1, 0) + np.roll(z, -1, 0)) + (np.roll(z, 1, 1) + np.roll(z, -1, 1)) - four * z

    def step(u, v):
        lu = lap(u)
        lv = lap(v)
        uvv = u * v * v
        u_new = u + dt_du * lu - dt * uvv + dt_f * (one - u)
        v_new = v + dt_dv * lv + dt * uvv - dt_fk * v
        if flush:
            return flush_tiny(u_new), flush_tiny(v_new)
        return u_new, v_new

    return step


def run_once(step, u, v, seconds):
    start = time.perf_counter()
    steps = 0
    batch = 1
    while time.perf_counter() - start < seconds:
        for _ in range(batch):
            u, v = step(u, v)
        steps += batch
        batch = min(batch * 2, 1024)
    return steps / (time.perf_counter() - start), u, v


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def checksum(n, steps, seed):
    dtype = np.float32
    step = make_step(dtype)
    u, v = initial_state(n, seed, dtype)
    for _ in range(steps):
        u, v = step(u, v)
    v_bytes = v.astype("<f4").tobytes()
    print(json.dumps({
        "grid": n,
        "steps": steps,
        "seed": seed,
        "v_sum": float(v.astype(np.float64).sum()),
        "v_fnv1a": f"{fnv1a64(v_bytes):016x}",
    }))


def runtime_info():
    """What NumPy runs on: BLAS kernels (threadpoolctl) and OPENBLAS_* variables."""
    info = {"openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["threadpoolctl"] = "not installed"
        return info
    info["threadpoolctl"] = [
        {k: p.get(k) for k in ("internal_api", "architecture", "version", "num_threads", "threading_layer")}
        for p in threadpool_info()
    ]
    return info


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="64,128,256,512")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-flush", action="store_true",
                   help="skip the flush of tiny values (not the crate's scheme; for comparison)")
    p.add_argument("--checksum", nargs=3, type=int, metavar=("N", "STEPS", "SEED"))
    args = p.parse_args()
    if args.checksum:
        checksum(*args.checksum)
        return
    dtype = np.dtype(args.dtype).type
    step = make_step(dtype, flush=not args.no_flush)
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        u, v = initial_state(n, args.seed, dtype)
        _, u, v = run_once(step, u, v, 0.2)  # warm-up
        runs = []
        for _ in range(args.repeats):
            rate, u, v = run_once(step, u, v, args.seconds)
            runs.append(round(rate, 1))
        results.append({"grid": n, "steps_per_sec": round(statistics.median(runs), 1), "runs": runs})
    print(json.dumps({
        "numpy": np.__version__,
        "runtime": runtime_info(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "dtype": args.dtype,
        "flush": not args.no_flush,
        "cores": os.cpu_count(),
        "repeats": args.repeats,
        "seconds_per_run": args.seconds,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
