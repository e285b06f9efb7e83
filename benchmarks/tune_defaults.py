"""Tune every method's preset on validation data, with one protocol and one budget for all.

    python benchmarks/tune_defaults.py [--seeds 5] [--steps 1000]
                                       [--out benchmarks/results/tuning_digits.json]

Protocol (chapter 6, section 4):
- Data: for each seed s, `drift.load_data("digits", labels_per_class=5, seed=s)` with a quarter
  of its unlabeled pool held out, with its hidden labels, as the validation set
  (`with_validation(0.25, seed=s)`). The test split is never read. Real users have no such
  labels: the `--small` part of the record shows what a labeled validation set as small as the
  labeled set itself (5 per class) would have chosen instead (Oliver et al., 2018).
- Budget: every tuned method gets the same budget, 18 settings x the same seeds x the same
  steps, with `drift.train`'s other defaults (lr, input noise, batch sizes) shared by all.
- Search spaces (`SPACE`): every method with an EMA teacher over alpha in {0.5, 0.7, 0.8, 0.9,
  0.95, 0.99} times three values of its unlabeled-loss weight (lam, or for entropy_min its
  entropy weight); fixmatch (its teacher is the current student) over its threshold, lam and
  ramp-up; the copied-teacher methods over refresh period, threshold or mask, and lam.
- Decision: each method's preset takes the setting with the highest mean validation accuracy
  over the seeds, ties going to the one listed first in `SPACE` (a fixed rule, the same for
  every method; the record keeps every setting's per-seed accuracies, so the spread behind a
  choice can be read).

Runs go through `drift.compare` (the batched engine: settings that differ only in alpha and lam
train as one vmapped model), over `--workers` processes.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import time

import numpy as np
import torch

import drift
import drift.book.maps

ALPHAS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def grid(**values) -> list[dict]:
    """Every combination of the given setting values, as override dicts."""
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


SPACE: dict[str, list[dict]] = {
    "mean_teacher": grid(alpha=ALPHAS, lam=(0.5, 1.0, 2.0)),
    "drift_labels": grid(alpha=ALPHAS, lam=(0.5, 1.0, 2.0)),
    "drift_weights": grid(alpha=ALPHAS, lam=(0.5, 1.0, 2.0)),
    "drift": grid(alpha=ALPHAS, lam=(0.5, 1.0, 2.0)),
    "entropy_min": grid(alpha=ALPHAS, entropy_weight=(0.1, 0.3, 1.0)),
    "drift_cosine": grid(alpha=ALPHAS, lam=(0.5, 1.0, 2.0)),
    "mean_teacher_original": grid(alpha=ALPHAS, lam=(1.0, 3.0, 10.0)),
    "fixmatch": grid(threshold=(0.8, 0.9, 0.95), lam=(0.5, 1.0, 2.0), rampup=(0.0, 0.3)),
    "alternating": grid(refresh_every=(50, 100, 200), threshold=(0.6, 0.8, 0.95), lam=(0.5, 1.0)),
    "cosine": grid(refresh_every=(100, 200), mask_below=(0.5, 0.6, 0.7), lam=(0.5, 1.0, 2.0)),
}
"""Each method's 18 settings (the budget is the same for all)."""

SMALL = (
    "mean_teacher",
    "drift",
)  # the methods whose choice is also made on a small labeled validation set


def validation_split(seed: int, *, small: int | None = None):
    """Seed s's labeled draw with a quarter of its unlabeled pool (and its hidden labels) held out
    as validation data in the test set's place; with `small`, only `small` of those per class are
    scored (the training data are the same, so the runs are too)."""
    data = drift.book.maps.validation_data(seed, labels_per_class=5)
    if small is None:
        return data
    generator = torch.Generator().manual_seed(seed)
    keep = torch.cat(
        [
            torch.nonzero(data.y_test == c).flatten()[
                torch.randperm(int((data.y_test == c).sum()), generator=generator)[:small]
            ]
            for c in range(data.num_classes)
        ]
    )
    return drift.SemiSupervisedData(
        x_labeled=data.x_labeled,
        y_labeled=data.y_labeled,
        x_unlabeled=data.x_unlabeled,
        y_unlabeled=data.y_unlabeled,
        x_test=data.x_test[keep],
        y_test=data.y_test[keep],
        num_classes=data.num_classes,
    )


def label(setting: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items())


def accuracies(
    method: str, seeds: list[int], steps: int, workers: int, small: int | None = None
) -> np.ndarray:
    """Final validation accuracy (%) of every setting of `method` on every seed, (settings,
    seeds)."""
    methods = [drift.get_method(method, name=f"{method} {label(s)}", **s) for s in SPACE[method]]
    results = drift.compare(
        methods,
        functools.partial(validation_split, small=small),
        seeds=seeds,
        reference=None,
        steps=steps,
        eval_every=steps,
        workers=workers,
        progress=False,
    )
    return np.array([results.final(m.name) for m in methods])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="validation seeds 0..N-1 (default 5)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--methods", nargs="+", default=list(SPACE), choices=list(SPACE))
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "--small",
        type=int,
        default=5,
        help="labeled validation examples per class for the small-set part",
    )
    p.add_argument("--out", default="benchmarks/results/tuning_digits.json")
    args = p.parse_args(argv)
    seeds = list(range(args.seeds))
    report = {"protocol": __doc__, "seeds": seeds, "steps": args.steps, "methods": {}, "small": {}}
    if os.path.exists(args.out):  # keep the methods not re-run
        with open(args.out) as f:
            old = json.load(f)
        if old.get("seeds") == seeds and old.get("steps") == args.steps:
            report["methods"], report["small"] = old.get("methods", {}), old.get("small", {})
    print(
        "| method | best setting | validation acc. (%) | runner-up | default before |\n"
        "|---|---|---|---|---|"
    )
    for method in args.methods:
        tic = time.perf_counter()
        acc = accuracies(method, seeds, args.steps, args.workers)
        order = np.argsort(-acc.mean(1))
        best, second = (SPACE[method][i] for i in order[:2])
        report["methods"][method] = {
            "settings": SPACE[method],
            "accuracy": acc.tolist(),
            "best": best,
            "minutes": round((time.perf_counter() - tic) / 60, 1),
        }
        before = {k: getattr(drift.get_method(method), k) for k in best}
        print(
            f"| {method} | {label(best)} | {acc[order[0]].mean():.2f} ± "
            f"{acc[order[0]].std(ddof=1):.2f} "
            f"| {label(second)}: {acc[order[1]].mean():.2f} | {label(before)} |",
            flush=True,
        )
        if method in SMALL:
            small = accuracies(method, seeds, args.steps, args.workers, small=args.small)
            pick = int(small.mean(1).argmax())
            report["small"][method] = {
                "per_class": args.small,
                "accuracy": small.tolist(),
                "best": SPACE[method][pick],
                "its_full_validation_accuracy": float(acc[pick].mean()),
            }
            print(
                f"|   small validation ({args.small}/class) picks | {label(SPACE[method][pick])} "
                f"| {acc[pick].mean():.2f} on the full validation set | | |",
                flush=True,
            )
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
