"""Time and memory of `drift.compare`'s two engines, measured side by side in one run.

    python benchmarks/engine_speed.py [--steps 1000] [--out benchmarks/results/engine_speed.json]

Settings (digits, 5 labels per class, the MLP, `drift.train`'s defaults otherwise):

- table: the CLI's default table, six methods x five seeds, with engine="vmap" and
  engine="processes", each with the default workers (the CPU count) and with one worker;
- seeds: DRIFT with 1 and with 20 seeds, engine="vmap" in one process (how the cost grows with
  the batch), and the 20 seeds one by one (engine="processes", one worker) for comparison.

Each setting runs in a fresh Python process, one after the other (no two at once), pinned to
one thread per process as the book and the CLI are; its wall time covers `compare` alone (data
are loaded before the clock starts) and its memory is the peak resident set of the process
and, with worker processes, of the largest worker. Results print as a table and are saved as
JSON with the machine's CPU count and torch version.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time

SETTINGS = {
    "table, vmap": dict(methods=None, seeds=5, engine="vmap", workers=None),
    "table, processes": dict(methods=None, seeds=5, engine="processes", workers=None),
    "table, vmap, 1 worker": dict(methods=None, seeds=5, engine="vmap", workers=1),
    "table, processes, 1 worker": dict(methods=None, seeds=5, engine="processes", workers=1),
    "drift x 1 seed, vmap": dict(methods=["drift"], seeds=1, engine="vmap", workers=1),
    "drift x 20 seeds, vmap": dict(methods=["drift"], seeds=20, engine="vmap", workers=1),
    "drift x 20 seeds, one by one": dict(
        methods=["drift"], seeds=20, engine="processes", workers=1
    ),
}


def _one(name: str, steps: int) -> dict:
    """Run one setting in this process; its wall time and peak memory (MB)."""
    import drift

    drift.seed_everything(0, threads=1)
    setting = SETTINGS[name]
    data = functools.partial(drift.load_data, "digits", labels_per_class=5)
    for seed in range(setting["seeds"]):
        data(seed=seed)  # cached: loading is not timed
    tic = time.perf_counter()
    results = drift.compare(
        setting["methods"],
        data,
        seeds=setting["seeds"],
        engine=setting["engine"],
        workers=setting["workers"],
        steps=steps,
        progress=False,
    )
    seconds = time.perf_counter() - tic
    # ru_maxrss: KiB on Linux, bytes on macOS
    mb = 1024 if sys.platform != "darwin" else 1024 * 1024
    return {
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / mb,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mb,
        "mean_final_accuracy": {m: float(results.final(m).mean()) for m in results.methods},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/results/engine_speed.json")
    # a child process's setting
    parser.add_argument("--one", choices=list(SETTINGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.steps)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    measured = {}
    for name in SETTINGS:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--steps", str(args.steps)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        measured[name] = json.loads(out.stdout.strip().splitlines()[-1])
        m = measured[name]
        print(
            f"{name:32s} {m['seconds']:7.1f} s   peak {m['peak_mb']:6.0f} MB   workers' peak "
            f"{m['worker_peak_mb']:6.0f} MB",
            flush=True,
        )
    t = {k: v["seconds"] for k, v in measured.items()}
    ratios = {
        "table: processes / vmap (default workers)": t["table, processes"] / t["table, vmap"],
        "table: processes / vmap (1 worker)": t["table, processes, 1 worker"]
        / t["table, vmap, 1 worker"],
        "drift: 20 seeds / 1 seed (vmap)": t["drift x 20 seeds, vmap"] / t["drift x 1 seed, vmap"],
        "drift x 20 seeds: one by one / vmap": t["drift x 20 seeds, one by one"]
        / t["drift x 20 seeds, vmap"],
    }
    for k, v in ratios.items():
        print(f"{k:45s} {v:5.2f}")
    import torch

    record = {
        "command": "python benchmarks/engine_speed.py"
        + (f" --steps {args.steps}" if args.steps != 1000 else ""),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "steps": args.steps,
        "settings": measured,
        "ratios": ratios,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
