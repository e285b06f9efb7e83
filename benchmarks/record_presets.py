"""Record chapter 6's main comparison at the budget the presets were tuned for: too slow for a
CPU notebook.

    python benchmarks/record_presets.py [--workers 2]

Digits, 5 labels per class (each seed draws its own), every preset as a user gets it, tuned by
one protocol and budget (`benchmarks/tune_defaults.py`, record
benchmarks/results/tuning_digits.json): supervised, alternating, mean_teacher,
mean_teacher_original, fixmatch, entropy_min and drift; 1000 steps (the tuning's), evaluated
every 50 steps (stability over the second half: 10 evaluations); 20 fresh seeds, 300-319, used
by no tuning run; scikit-learn's LabelSpreading and self-trained logistic regression on the same
splits. Writes drift/recorded/presets_digits.json (`drift.load_record("presets_digits")`).
About 20 minutes on 2 CPU cores; chapter 6 with SCALE = "gpu" recomputes it instead.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import drift
from drift.experiments.baselines import REFERENCES, reference_accuracies

METHODS = [
    "supervised",
    "alternating",
    "mean_teacher",
    "mean_teacher_original",
    "fixmatch",
    "entropy_min",
    "drift",
]
SEEDS = list(range(300, 320))
STEPS, EVAL_EVERY = 1000, 50
COMMAND = "python benchmarks/record_presets.py"
SETTING = (
    f"digits, 5 labels per class, every preset at its tuned setting, {STEPS} steps, "
    f"{len(SEEDS)} fresh seeds {SEEDS[0]}-{SEEDS[-1]}"
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args(argv)
    drift.seed_everything(0)
    data = functools.partial(drift.load_data, "digits", labels_per_class=5)
    tic = time.perf_counter()
    results = drift.compare(
        METHODS,
        data,
        seeds=SEEDS,
        steps=STEPS,
        eval_every=EVAL_EVERY,
        workers=args.workers,
        progress=False,
    )
    references = {
        label: reference_accuracies(data, seeds=SEEDS, method=m) for m, label in REFERENCES.items()
    }
    record = drift.Record(results, references, command=COMMAND, setting=SETTING)
    path = Path(drift.experiments.RECORDS) / "presets_digits.json"
    record.save(path)
    print(f"{SETTING} ({(time.perf_counter() - tic) / 60:.1f} min)\n")
    print(results.table(references=references, margin=1.0))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
