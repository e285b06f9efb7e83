"""Record the maps of chapter 10 (where the Stackelberg term matters): too slow for a CPU notebook.

    python benchmarks/record_where.py --part digits [--seeds 10] [--steps 1000]
    python benchmarks/record_where.py --part weak [--seeds 10] [--steps 1000]
    python benchmarks/record_where.py --part entropy [--seeds 10] [--steps 1000]
    python benchmarks/record_where.py --part sensitivity [--seeds 10] [--steps 1000]
    python benchmarks/record_where.py --part all         # the four, in this order

digits: map 1, DRIFT and mean teacher (same alpha) on digits over `drift.book.maps.ALPHAS` x
`drift.book.maps.LABELS_PER_CLASS`, seeds 0..9, `drift.train`'s defaults, both methods at
`drift.book.maps.SHARED` otherwise; one record per cell.
weak: map 2, chapter 7's weak labels on two moons at each of `drift.book.maps.NOISE_RATES`, 500
    steps
of supervised pre-training then each method for `--steps` (chapter 7's GPU scale), seeds 0..9.
entropy: entropy_min's entropy_weight and drift_labels' alpha, four settings each, on validation
data (a quarter of the unlabeled pool of seeds 0..4; the test split is never read), chosen by
the rule of benchmarks/tune_defaults.py; then mean teacher and the two chosen settings on test
with fresh seeds 100..109.
sensitivity: after the fact, entropy_min at each of its four candidate weights on the same test
seeds (whether the chosen weight decides the comparison; it chooses nothing).

Everything runs in one process with one thread (workers=1), so the records are deterministic
given the seeds; about 25 minutes of one CPU core in all. Records go to drift/recorded/ under the
names of `drift.book.maps.cell_name` ("where_..."), read by `drift.load_record`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import drift
from drift.book import maps

OUT = Path(drift.experiments.RECORDS)  # --out replaces it (e.g. for a quick trial run)
TUNING_SEEDS = range(5)
TEST_SEEDS = range(100, 110)


def save(name: str, results, command: str, setting: str) -> None:
    drift.Record(results, {}, command=command, setting=setting).save(OUT / f"{name}.json")
    print(f"wrote {name}: {setting}", flush=True)


def record_digits(args, command: str) -> None:
    for alpha in maps.ALPHAS:
        for k in maps.LABELS_PER_CLASS:
            results = maps.digits_cell(
                alpha, k, seeds=args.seeds, steps=args.steps, eval_every=args.steps // 4
            )
            setting = (
                f"digits, {k} labels per class, mean teacher and DRIFT at alpha = {alpha:g}, "
                f"{args.steps} steps, {args.seeds} seeds"
            )
            save(
                maps.cell_name("digits", alpha=alpha, labels_per_class=k), results, command, setting
            )
            print("   ", maps.paired_cell(results).test, flush=True)


def record_weak(args, command: str) -> None:
    for rate in maps.NOISE_RATES:
        results = maps.weak_cell(
            rate, seeds=args.seeds, pretrain_steps=500, steps=args.steps, eval_every=args.steps // 4
        )
        noise = drift.load_weak_data("two_moons", noise_rate=rate, seed=0).noise_rate
        setting = (
            f"two moons, chapter 7's weak labels ({100 * noise:.1f}% wrong), 500 steps supervised "
            f"pre-training, then mean teacher and DRIFT for {args.steps} steps, {args.seeds} seeds"
        )
        save(maps.cell_name("weak", noise_rate=rate), results, command, setting)
        print("   ", maps.paired_cell(results).test, flush=True)


def record_entropy(args, command: str) -> None:
    tuning = drift.compare(
        maps.tuning_candidates(),
        maps.validation_data,
        seeds=list(TUNING_SEEDS),
        steps=args.steps,
        eval_every=args.steps,
        workers=1,
        progress=False,
        reference=None,
    )
    save(
        "where_entropy_tuning",
        tuning,
        command,
        f"digits, 5 labels per class, validation accuracy (a quarter of the unlabeled pool) of "
        f"entropy_min and drift_labels settings, {args.steps} steps, seeds "
        f"{TUNING_SEEDS[0]}-{TUNING_SEEDS[-1]}",
    )
    choice = maps.tuned(tuning)
    print("    chosen:", choice, flush=True)
    results = drift.compare(
        maps.tuned_methods(choice),
        functools.partial(drift.load_data, "digits", labels_per_class=5),
        seeds=list(TEST_SEEDS),
        steps=args.steps,
        eval_every=args.steps // 4,
        workers=1,
        progress=False,
    )
    save(
        "where_entropy_test",
        results,
        command,
        "digits, 5 labels per class, mean teacher and the tuned entropy_min "
        f"({choice['entropy_min']}) and drift_labels ({choice['drift_labels']}) on test, "
        f"{args.steps} steps, seeds {TEST_SEEDS[0]}-{TEST_SEEDS[-1]}",
    )
    print("   ", maps.paired_cell(results, "drift_labels", "entropy_min").test, flush=True)


def record_sensitivity(args, command: str) -> None:
    """Post hoc, after the choice: entropy_min at every candidate weight on the test seeds, to see
    whether the chosen weight decides the comparison. Chooses nothing."""
    methods = [m for m in maps.tuning_candidates() if m.name.startswith("entropy_min")]
    results = drift.compare(
        methods,
        functools.partial(drift.load_data, "digits", labels_per_class=5),
        seeds=list(TEST_SEEDS),
        steps=args.steps,
        eval_every=args.steps // 4,
        workers=1,
        progress=False,
        reference=None,
    )
    save(
        "where_entropy_sensitivity",
        results,
        command,
        "digits, 5 labels per class, entropy_min at every candidate entropy_weight on test (post "
        f"hoc, chooses nothing), {args.steps} steps, seeds {TEST_SEEDS[0]}-{TEST_SEEDS[-1]}",
    )


PARTS = {
    "digits": record_digits,
    "weak": record_weak,
    "entropy": record_entropy,
    "sensitivity": record_sensitivity,
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=[*PARTS, "all"], default="all")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument(
        "--out", type=Path, default=None, help="folder for the records (default: drift/recorded)"
    )
    args = p.parse_args(argv)
    global OUT
    OUT = args.out or OUT
    drift.seed_everything(0)
    for part in PARTS if args.part == "all" else [args.part]:
        tic = time.perf_counter()
        command = (
            f"python benchmarks/record_where.py --part {part} --seeds {args.seeds} --steps "
            f"{args.steps}"
        )
        PARTS[part](args, command)
        print(f"{part}: {(time.perf_counter() - tic) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
