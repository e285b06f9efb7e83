"""Starting values of the two original-method presets, probed on validation data.

    python benchmarks/probe_original_baselines.py [--seeds 4] [--out benchmarks/results/probe_original_baselines.json]

Not a tuning run (issue 19's protocol tunes alpha and lam of every method later): a probe that
documents the starting values of `drift.EXTRA_PRESETS`' "mean_teacher_original" (its lam) and
"fixmatch" (its teacher_noise, the weak view). Protocol of `benchmarks/tune_cosine.py`: for each
seed s, `drift.load_data("digits", labels_per_class=5, seed=s).with_validation(0.25, seed=s)`
holds out a quarter of the unlabeled pool, with its hidden labels, as the validation set; the
test split is never read. The package's train defaults (1000 steps, lr 1e-3, input noise 0.1).

Grid: mean_teacher_original with lam in {1, 3, 10, 30, 100} (Tarvainen & Valpola's coefficient
is 100 in the same units) at the preset's alpha = 0.99 and at 0.9; fixmatch with teacher_noise
in {0, 0.05}; supervised as the reference every row is paired with, seed by seed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

import drift

LAMS = (1.0, 3.0, 10.0, 30.0, 100.0)
ALPHAS = (0.99, 0.9)
WEAK_NOISE = (0.0, 0.05)


def validation_split(seed: int):
    return drift.load_data("digits", labels_per_class=5, seed=seed).with_validation(0.25, seed=seed)


def grid() -> list[drift.Method]:
    methods = [
        drift.get_method("mean_teacher_original", lam=lam, alpha=alpha, name=f"mean_teacher_original lam={lam:g} alpha={alpha}")
        for alpha in ALPHAS for lam in LAMS
    ]
    methods += [drift.get_method("fixmatch", teacher_noise=s, name=f"fixmatch teacher_noise={s}") for s in WEAK_NOISE]
    return [*methods, drift.get_method("supervised")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/probe_original_baselines.json")
    args = parser.parse_args(argv)
    drift.seed_everything(0)
    tic = time.perf_counter()
    results = drift.compare(grid(), validation_split, seeds=args.seeds, workers=1, reference=None, eval_every=1000,
                            progress=False)
    val = {m: results.final(m) for m in results.methods}  # validation accuracy (%), (seeds,)
    teacher = {m: results.teacher_final(m) for m in results.methods}
    paired = {}
    for name, acc in val.items():
        d = acc - val["supervised"]
        paired[name] = {"mean": float(d.mean()), "se": float(d.std(ddof=1) / math.sqrt(len(d)))}
        print(f"{name:>45}: {acc.mean():6.2f} ± {acc.std(ddof=1):.2f} (teacher {teacher[name].mean():6.2f}), "
              f"vs supervised {d.mean():+.2f} ± {paired[name]['se']:.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"seeds": args.seeds, "steps": 1000, "validation_accuracy": {k: v.tolist() for k, v in val.items()},
                   "teacher_validation_accuracy": {k: v.tolist() for k, v in teacher.items()},
                   "vs_supervised": paired, "seconds": time.perf_counter() - tic}, f, indent=1)
    print(f"wrote {args.out} ({time.perf_counter() - tic:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
