"""Tune the package defaults on validation data, with the same budget for every method.

    python benchmarks/tune_defaults.py [--configs 12] [--seeds 3] [--out benchmarks/results/tuning_digits.json]
    python benchmarks/tune_defaults.py --confirm [--out ...]    # stage 2, on the stage-1 file

Protocol (chapter 6, section 4): for each seed s, `drift.load_data("digits", labels_per_class=5,
seed=s).with_validation(0.25, seed=s)` holds out a quarter of the unlabeled pool, with its
hidden labels, as the validation set; the test split is never read. Every tuned method gets
the same budget: the current defaults plus `configs - 1` settings drawn at random (fixed RNG)
from its search space, each trained on every seed. A method's default changes only if its
best setting beats the current default by more than one standard error of their paired
difference over the seeds; otherwise the difference is noise and the default stays.
DRIFT's ablations (drift_labels, drift_weights) share DRIFT's settings.

Stage 2 (`--confirm`): `steps`, `lr` and `input_noise` are `drift.train` arguments shared by
every method, while the other settings belong to a method's preset. For each method that
stage 1 would change, its best *preset* settings are run at the shared train defaults against
its current preset on 5 fresh seeds (3-7), and adopted only if they win by more than one
standard error there too. A shared train default changes only if that helps every method.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import torch

import drift

TRAIN_SPACE = {"lr": [3e-4, 1e-3, 3e-3], "steps": [1000, 2000], "input_noise": [0.05, 0.1, 0.2]}
METHOD_SPACE = {
    "supervised": {},
    "alternating": {"refresh_every": [50, 100, 200, 400], "threshold": [0.6, 0.8, 0.95], "lam": [0.5, 1.0, 2.0]},
    "mean_teacher": {"alpha": [0.9, 0.95, 0.99], "lam": [0.5, 1.0, 2.0]},
    "drift": {"alpha": [0.9, 0.95, 0.99], "lam": [0.5, 1.0, 2.0]},
}
TRAIN_DEFAULTS = {"lr": 1e-3, "steps": 1000, "input_noise": 0.1}  # drift.train's defaults


def validation_split(seed: int, *, name: str = "digits", labels_per_class: int = 5):
    """Seed s's labeled draw, with validation data held out of its unlabeled pool."""
    return drift.load_data(name, labels_per_class=labels_per_class, seed=seed).with_validation(0.25, seed=seed)


def candidates(method: str, count: int, rng: random.Random) -> list[dict]:
    """The current defaults first, then `count - 1` other settings drawn without replacement."""
    space = {**TRAIN_SPACE, **METHOD_SPACE[method]}
    preset = drift.METHODS[method]
    default = {k: TRAIN_DEFAULTS[k] if k in TRAIN_DEFAULTS else getattr(preset, k) for k in space}
    grid = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    others = [g for g in grid if g != default]
    return [default] + rng.sample(others, min(count - 1, len(others)))


def run(method: str, setting: dict, seed: int) -> float:
    """Final validation accuracy (%) of one method, setting and seed."""
    train_args = {k: v for k, v in setting.items() if k in TRAIN_SPACE}
    overrides = {k: v for k, v in setting.items() if k not in TRAIN_SPACE}
    history = drift.train(method, validation_split(seed), seed=seed, progress=False,
                          eval_every=train_args["steps"], **train_args, **overrides)
    return history.final_test_accuracy


def run_all(settings: dict[str, list[dict]], jobs: list[tuple[str, int, int]], workers: int) -> dict:
    """Validation accuracy of every job (method, index into settings[method], seed), over processes."""
    context = get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = {job: pool.submit(run, job[0], settings[job[0]][job[1]], job[2]) for job in jobs}
        return {job: f.result() for job, f in futures.items()}


def confirm(path: str, workers: int, seeds=range(3, 8)) -> int:
    """Stage 2 on the stage-1 report at `path`; adds its findings under "confirm"."""
    with open(path) as f:
        report = json.load(f)
    trials = {}
    for m, r in report["methods"].items():
        preset = {k: v for k, v in r["best"].items() if k not in TRAIN_SPACE and v != r["default"][k]}
        if r["adopt"] and preset:
            trials[m] = [{**r["default"], **preset}, r["default"]]
    jobs = [(m, i, s) for m in trials for i in (0, 1) for s in seeds]
    accuracy = run_all(trials, jobs, workers)
    report["confirm"] = {}
    print("| method | preset change | default (val. %) | changed (val. %) | gain (pp) | decision |\n|---|---|---|---|---|---|")
    for m, (changed, default) in trials.items():
        new, old = (np.array([accuracy[(m, i, s)] for s in seeds]) for i in (0, 1))
        gain = new - old
        stderr = gain.std(ddof=1) / np.sqrt(len(gain))
        adopt = bool(gain.mean() > stderr)
        delta = {k: v for k, v in changed.items() if v != default[k]}
        report["confirm"][m] = {"change": delta, "default": old.tolist(), "changed": new.tolist(), "adopt": adopt}
        print(f"| {m} | {delta} | {old.mean():.2f} ± {old.std(ddof=1):.2f} | {new.mean():.2f} ± {new.std(ddof=1):.2f} "
              f"| {gain.mean():+.2f} ± {stderr:.2f} | {'adopt' if adopt else 'keep the default'} |")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=12, help="settings per method, the defaults included (default 12)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", default="benchmarks/results/tuning_digits.json")
    p.add_argument("--confirm", action="store_true", help="stage 2: check stage 1's changes on fresh seeds")
    args = p.parse_args(argv)
    if args.confirm:
        return confirm(args.out, args.workers)

    drift.seed_everything(0)
    rng = random.Random(0)
    settings = {m: candidates(m, args.configs, rng) for m in METHOD_SPACE}
    jobs = [(m, i, s) for m in settings for i in range(len(settings[m])) for s in range(args.seeds)]
    tic = time.perf_counter()
    accuracy = run_all(settings, jobs, args.workers)
    minutes = (time.perf_counter() - tic) / 60

    report = {"protocol": __doc__, "seeds": args.seeds, "minutes": round(minutes, 1), "methods": {}}
    print(f"{len(jobs)} runs in {minutes:.1f} min ({args.workers} workers)\n")
    print("| method | default (val. %) | best (val. %) | best − default (pp) | best setting | decision |")
    print("|---|---|---|---|---|---|")
    for m, cands in settings.items():
        acc = np.array([[accuracy[(m, i, s)] for s in range(args.seeds)] for i in range(len(cands))])  # (configs, seeds)
        best = int(acc.mean(1).argmax())
        gain = acc[best] - acc[0]
        stderr = gain.std(ddof=1) / np.sqrt(args.seeds)
        adopt = best != 0 and gain.mean() > stderr
        report["methods"][m] = {
            "settings": cands, "accuracy": acc.tolist(), "default": cands[0], "best": cands[best],
            "gain": float(gain.mean()), "stderr": float(stderr), "adopt": bool(adopt),
        }
        changed = {k: v for k, v in cands[best].items() if v != cands[0][k]}
        print(f"| {m} | {acc[0].mean():.2f} ± {acc[0].std(ddof=1):.2f} | {acc[best].mean():.2f} ± {acc[best].std(ddof=1):.2f} "
              f"| {gain.mean():+.2f} ± {stderr:.2f} | {changed or 'the default'} | {'adopt' if adopt else 'keep the default'} |")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
