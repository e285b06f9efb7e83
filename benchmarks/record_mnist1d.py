"""Record the MNIST-1D comparison that chapter 6 quotes: too slow for a CPU notebook.

    python benchmarks/record_mnist1d.py [--seeds 5] [--steps 3000]

MNIST-1D with 20,000 generated samples (16,000 to train), 100 labels per class, the 1-D CNN
student, supervised / mean teacher / DRIFT over 5 seeds (mean teacher and DRIFT at one shared
setting, `drift.book.maps.SHARED`: alpha 0.9, lam 1, so that only the Stackelberg term differs),
plus scikit-learn's LabelSpreading (kNN graph) and self-trained logistic regression on the
same splits. Writes
drift/recorded/mnist1d_cnn.json, which `drift.load_record("mnist1d_cnn")` reads. About 5
minutes on 2 CPU cores; chapter 6 with SCALE = "gpu" recomputes it instead.
"""

import argparse
import functools
import sys
import time
from pathlib import Path

import drift
import drift.book.maps
from drift.experiments.baselines import REFERENCES, reference_accuracies

OPTIONS = {"label_spreading": {"kernel": "knn", "n_neighbors": 10}, "self_training": {}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3000)
    args = p.parse_args(argv)
    drift.seed_everything(0)
    tic = time.perf_counter()
    data = functools.partial(drift.load_data, "mnist1d", labels_per_class=100, num_samples=20000)
    methods = [
        "supervised",
        drift.book.maps.shared("mean_teacher"),
        drift.book.maps.shared("drift"),
    ]
    results = drift.compare(methods, data, seeds=args.seeds, steps=args.steps, model="cnn")
    references = {
        label: reference_accuracies(data, seeds=args.seeds, method=m, **OPTIONS[m])
        for m, label in REFERENCES.items()
    }
    record = drift.Record(
        results,
        references,
        command=f"python benchmarks/record_mnist1d.py --seeds {args.seeds} --steps {args.steps}",
        setting=f"MNIST-1D (20,000 samples), 100 labels per class, CNN, {args.steps} steps, "
        f"{args.seeds} seeds",
    )
    path = Path(drift.experiments.RECORDS) / "mnist1d_cnn.json"
    record.save(path)
    print(f"{record.setting} ({(time.perf_counter() - tic) / 60:.1f} min)\n")
    print(results.table(reference="supervised", references=references))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
