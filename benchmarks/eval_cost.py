"""Share of wall time spent in evaluation with a large unlabeled set, whole or on a subset.

A digits-like task with 100,000 unlabeled rows (the digits training pool, resampled with a
little Gaussian jitter; 5 labels per class; the real test split), the default MLP, DRIFT,
1000 steps, an evaluation every 50. Each evaluation scores the test set and the unlabeled rows
with the student and the teacher: all of them, or a fixed subset (`eval_unlabeled=2000`). The
time inside the trainer's evaluation (`drift.training.loop._snapshot`) is measured directly, for the
tensors in memory and for the same data as a `drift.DatasetSplits`.

    python benchmarks/eval_cost.py [--rows 100000] [--steps 1000] [--eval-every 50] [--subset 2000]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import TensorDataset

import drift
import drift.training.loop


def digits_like(rows: int) -> drift.SemiSupervisedData:
    d = drift.load_data("digits", labels_per_class=5, seed=0)
    g = torch.Generator().manual_seed(0)
    pick = torch.randint(len(d.x_unlabeled), (rows,), generator=g)
    x_u = d.x_unlabeled[pick] + 0.1 * torch.randn(rows, *d.feature_shape, generator=g)
    return drift.SemiSupervisedData(
        x_labeled=d.x_labeled,
        y_labeled=d.y_labeled,
        x_unlabeled=x_u,
        y_unlabeled=d.y_unlabeled[pick],
        x_test=d.x_test,
        y_test=d.y_test,
        num_classes=10,
    )


def timed_run(data, **kwargs) -> tuple[float, float]:
    """(total seconds, seconds in evaluation) of one training run."""
    spent = [0.0]
    snapshot = drift.training.loop._snapshot

    def timed(*args, **kw):
        tic = time.perf_counter()
        try:
            return snapshot(*args, **kw)
        finally:
            spent[0] += time.perf_counter() - tic

    drift.training.loop._snapshot = timed
    try:
        tic = time.perf_counter()
        drift.train("drift", data, progress=False, **kwargs)
        return time.perf_counter() - tic, spent[0]
    finally:
        drift.training.loop._snapshot = snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="unlabeled rows")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument(
        "--subset", type=int, default=2000, help="eval_unlabeled of the subset runs"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    drift.seed_everything(0, threads=args.threads)
    data = digits_like(args.rows)
    splits = drift.DatasetSplits(
        labeled=TensorDataset(data.x_labeled, data.y_labeled),
        unlabeled=TensorDataset(data.x_unlabeled, data.y_unlabeled),
        test=TensorDataset(data.x_test, data.y_test),
        num_classes=10,
    )
    device = drift.resolve_device(args.device)
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); "
        f"{args.rows} unlabeled rows, {args.steps} steps, an evaluation every {args.eval_every}\n"
    )
    print("| data | unlabeled rows evaluated | total (s) | evaluation (s) | evaluation share |")
    print("|---|---|---|---|---|")
    for name, d in (("tensors (SemiSupervisedData)", data), ("DatasetSplits", splits)):
        for subset in (None, args.subset):
            total, spent = timed_run(
                d,
                steps=args.steps,
                eval_every=args.eval_every,
                eval_unlabeled=subset,
                device=device,
            )
            rows = "all" if subset is None else subset
            print(f"| {name} | {rows} | {total:.1f} | {spent:.1f} | {100 * spent / total:.0f}% |")


if __name__ == "__main__":
    main()
