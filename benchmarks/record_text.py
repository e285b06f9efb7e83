"""Record chapter 11 (the paper's setting on real text): too slow for a CPU notebook.

    python benchmarks/record_text.py [--part tuning|test|weak|all] [--seeds 10] [--steps 500]

tuning: BBC News (frozen MiniLM embeddings), 2 labels per class, seeds 0..4, a quarter of each
seed's unlabeled pool held out with its hidden labels as validation data (`with_validation`; the
test split is never read). Every tuned method gets the same budget, three candidates of its one
main knob at `--steps` steps: alternating's confidence threshold (0.7, 0.9, 0.95), mean teacher's
and DRIFT's EMA decay alpha (0.5, 0.8, 0.95; each at its preset's lam), and scikit-learn's
LabelSpreading's RBF width gamma (0.003, 0.01, 0.03; its default, 20, is degenerate on these
384-d embeddings). The highest mean validation accuracy decides. Record "text_tuning".
test: the chosen settings on test, BBC News at 1, 2 and 5 labels per class, fresh seeds 100..109
(every method sees the same split per seed): supervised, alternating, mean teacher, DRIFT,
drift_labels and drift_weights (at DRIFT's chosen alpha and lam, so only the routing differs),
cosine, drift_cosine, and LabelSpreading as a reference row. Records "text_bbc_k1", "_k2", "_k5".
weak: BBC News from the keyword labeling functions and Rotten Tomatoes from VADER (chapter 7's
protocol: 200 steps supervised on the weak labels, then each method for `--steps`), seeds
100..109, with the clean-label baseline beside it (supervised on the clean validation split
only, 200 + `--steps` steps). Records "text_weak_bbc_news", "text_weak_rotten_tomatoes".

Runs are batched (`drift.compare`'s vmap engine) over two worker processes of one thread each;
a run's result does not depend on the number of workers, so the records are deterministic given
the seeds. About 13 minutes on two cores (tuning 2, test 6, weak 5). Records go to
drift/recorded/ (`drift.load_record`); the protocol (candidates, choice rule, compared methods)
lives in `drift.book.real_text`, which the chapter reads too.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import drift
from drift.book import real_text
from drift.experiments.baselines import reference_accuracies

OUT = Path(drift.experiments.RECORDS)
TUNING_SEEDS = range(5)
TEST_SEEDS = range(100, 110)
WORKERS = 2
PRETRAIN_STEPS = 200


def save(name: str, results, references: dict, command: str, setting: str) -> None:
    record = drift.Record(results, references, command=command, setting=setting)
    record.save(OUT / f"{name}.json")
    print(f"wrote {name} ({(OUT / f'{name}.json').stat().st_size / 1e3:.0f} kB): {setting}")


def record_tuning(args, command: str) -> None:
    results = drift.compare(
        real_text.candidates(),
        real_text.bbc_validation,
        seeds=list(TUNING_SEEDS),
        steps=args.steps,
        eval_every=args.steps,
        workers=WORKERS,
        progress=False,
        reference=None,
    )
    references = {
        f"label_spreading_g{g:g}": reference_accuracies(
            real_text.bbc_validation, seeds=list(TUNING_SEEDS), gamma=g
        )
        for g in real_text.GAMMAS
    }
    setting = (
        "BBC News (MiniLM), 2 labels per class, validation accuracy (a quarter of the unlabeled "
        f"pool) of three settings per method, {args.steps} steps, seeds "
        f"{TUNING_SEEDS[0]}-{TUNING_SEEDS[-1]}"
    )
    save("text_tuning", results, references, command, setting)


def record_test(args, command: str) -> None:
    tuned, gamma = real_text.chosen(drift.load_record("text_tuning"))
    print("    chosen:", {k: (m.alpha, m.threshold) for k, m in tuned.items()}, gamma)
    for k in real_text.LABELS_PER_CLASS:
        data = functools.partial(real_text.bbc, labels_per_class=k)
        results = drift.compare(
            real_text.compared_methods(tuned),
            data,
            seeds=list(TEST_SEEDS),
            steps=args.steps,
            eval_every=args.steps // 5,
            workers=WORKERS,
            progress=False,
            reference="mean_teacher",
        )
        spreading = reference_accuracies(data, seeds=list(TEST_SEEDS), gamma=gamma)
        setting = (
            f"BBC News (MiniLM), {k} labels per class, the tuned methods on test, "
            f"{args.steps} steps, seeds {TEST_SEEDS[0]}-{TEST_SEEDS[-1]}"
        )
        save(
            f"text_bbc_k{k}",
            results,
            {f"sklearn LabelSpreading (gamma {gamma:g})": spreading},
            command,
            setting,
        )


def record_weak(args, command: str) -> None:
    tuned, _ = real_text.chosen(drift.load_record("text_tuning"))
    methods = ["supervised", tuned["alternating"], tuned["mean_teacher"], tuned["drift"]]
    for name in real_text.WEAK:
        weak = drift.load_weak_data(name, seed=0, encoder="minilm")
        runs = drift.compare_after_pretraining(
            methods,
            weak.data,
            pretrain_steps=PRETRAIN_STEPS,
            steps=args.steps,
            seeds=list(TEST_SEEDS),
            eval_every=args.steps // 5,
            workers=WORKERS,
            progress=False,
            reference="supervised",
        )
        d = weak.data
        clean = drift.SemiSupervisedData(
            x_labeled=weak.x_val,
            y_labeled=weak.y_val,
            x_unlabeled=d.x_unlabeled,
            y_unlabeled=d.y_unlabeled,
            x_test=d.x_test,
            y_test=d.y_test,
            num_classes=d.num_classes,
        )
        baseline = drift.compare(
            ["supervised"],
            clean,
            seeds=list(TEST_SEEDS),
            steps=PRETRAIN_STEPS + args.steps,
            eval_every=(PRETRAIN_STEPS + args.steps) // 5,
            workers=WORKERS,
            progress=False,
            reference=None,
        )
        results = drift.Results(
            {"clean labels only": baseline.histories["supervised"], **runs.histories},
            reference="clean labels only",
        )
        setting = (
            f"{name} (MiniLM), weak labels from its labeling functions ({100 * weak.coverage:.1f}%"
            f" covered, {100 * weak.noise_rate:.1f}% wrong), {PRETRAIN_STEPS} steps supervised on "
            f"them, then each tuned method for {args.steps} steps; clean labels only: supervised "
            f"on the {len(weak.y_val)} clean validation labels; seeds "
            f"{TEST_SEEDS[0]}-{TEST_SEEDS[-1]}"
        )
        save(f"text_weak_{name}", results, {}, command, setting)


PARTS = {"tuning": record_tuning, "test": record_test, "weak": record_weak}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=[*PARTS, "all"], default="all")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=500)
    args = p.parse_args(argv)
    global TEST_SEEDS
    TEST_SEEDS = range(100, 100 + args.seeds)
    drift.seed_everything(0)
    for part in PARTS if args.part == "all" else [args.part]:
        tic = time.perf_counter()
        command = (
            f"python benchmarks/record_text.py --part {part} --seeds {args.seeds} "
            f"--steps {args.steps}"
        )
        PARTS[part](args, command)
        print(f"{part}: {(time.perf_counter() - tic) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
