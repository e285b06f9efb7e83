"""Command line: `python -m drift compare ...` and `python -m drift train ...`.

    python -m drift compare --data digits --labels-per-class 5 --seeds 5
                            [--methods drift mean_teacher] [--steps N] [--model mlp|cnn]
                            [--engine vmap|processes] [--workers N] [--references] [--out DIR]
    python -m drift train --data digits --labels-per-class 5 --method drift|cosine|... [--steps N]
                          [--batch-size B] [--precision fp32|bf16|fp16] [--out DIR]
    torchrun --standalone --nproc_per_node=N -m drift train ...   (data-parallel on N processes)

`compare` prints a markdown table (mean ± std over seeds, paired differences against mean
teacher) and writes results.json and curves.png to --out. Seed s draws labeled subset s.
`train` prints the final test accuracy and, with --out, writes history.json there. Under
torchrun (`train` only), rank 0 prints and writes (see `drift.training.distributed`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

from .training import distributed
from .data.datasets import DATASETS, load_data
from .core.methods import EXTRA_PRESETS, METHODS
from .models import MODELS
from .runtime import resolve_device, seed_everything
from .training.config import PRECISIONS, TrainConfig
from .training.loop import train


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", choices=DATASETS, default="digits", help="built-in data set (default: digits)"
    )
    p.add_argument(
        "--labels-per-class", type=int, default=5, help="labeled examples per class (default: 5)"
    )
    p.add_argument(
        "--model", choices=list(MODELS), default="mlp", help="student network (default: mlp)"
    )
    p.add_argument(
        "--steps", type=int, default=None, help="training steps (default: drift.train's)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m drift", description="Self-training with a differentiable teacher."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run methods x seeds, print a table, save JSON and a plot")
    _common(c)
    c.add_argument(
        "--methods",
        nargs="+",
        choices=[*METHODS, *EXTRA_PRESETS],
        default=list(METHODS),
        metavar="METHOD",
        help=f"methods to run (default: all of {', '.join(METHODS)}; also the extra presets "
        f"{', '.join(EXTRA_PRESETS)})",
    )
    c.add_argument("--seeds", type=int, default=5, help="number of seeds (default: 5)")
    c.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default: CPU count on a CPU, 1 on a GPU)",
    )
    c.add_argument(
        "--engine",
        choices=["vmap", "processes"],
        default="vmap",
        help="vmap: train the runs batched with torch.func (default); processes: one run at a time",
    )
    c.add_argument(
        "--out",
        default="runs/compare",
        help="folder for results.json and curves.png (default: runs/compare)",
    )
    c.add_argument(
        "--references",
        action="store_true",
        help="add scikit-learn LabelSpreading and SelfTraining (LR) rows on the same splits, as in "
        "chapter 6",
    )
    t = sub.add_parser("train", help="train one method and print its final test accuracy")
    _common(t)
    t.add_argument(
        "--method",
        choices=[*METHODS, *EXTRA_PRESETS],
        default="drift",
        help=f"a preset, or an extra one: {', '.join(EXTRA_PRESETS)} (default: drift)",
    )
    t.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    t.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="global labeled batch size, split over the processes (default: drift.train's)",
    )
    t.add_argument(
        "--precision",
        choices=list(PRECISIONS),
        default="fp32",
        help="autocast dtype of the forward passes (default: fp32, no autocast)",
    )
    t.add_argument("--out", default=None, help="folder to write history.json to (default: none)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError) as err:  # bad arguments: a message, not a traceback
        parser.exit(2, f"{parser.prog}: error: {err}\n")


def _run(args: argparse.Namespace) -> int:
    seed_everything(0, threads=1)
    run_kwargs = {"model": args.model, "device": args.device}
    flags = {"steps": args.steps}  # the TrainConfig settings given on the command line
    if args.command == "train":
        flags.update(batch_size=args.batch_size, seed=args.seed, precision=args.precision)
    config = TrainConfig(**{k: v for k, v in flags.items() if v is not None})
    tic = time.perf_counter()
    if args.command == "train":
        with distributed.process_group(distributed.local_device(resolve_device(args.device))):
            return _train(args, config, run_kwargs, tic)

    if distributed.launched():
        raise ValueError(
            "compare runs its seeds in worker processes of its own; run it with python -m drift, "
            "not under torchrun (torchrun is for train)"
        )

    from .experiments.comparison import compare

    data = functools.partial(load_data, args.data, labels_per_class=args.labels_per_class)
    data(seed=0)  # fail fast on bad arguments, before any worker starts
    results = compare(
        args.methods,
        data,
        seeds=args.seeds,
        workers=args.workers,
        engine=args.engine,
        config=config,
        **run_kwargs,
    )
    references = None
    if args.references:
        from .experiments.baselines import REFERENCES, reference_accuracies

        references = {
            label: reference_accuracies(data, seeds=range(args.seeds), method=method)
            for method, label in REFERENCES.items()
        }
    print(
        f"{args.data}, {args.labels_per_class} labels/class, {args.model}, {args.seeds} seeds "
        f"({time.perf_counter() - tic:.1f} s)\n"
    )
    print(results.table(references=references))
    os.makedirs(args.out, exist_ok=True)
    results.save(os.path.join(args.out, "results.json"))
    results.plot().savefig(os.path.join(args.out, "curves.png"), dpi=120)
    print(
        f"\nwrote {os.path.join(args.out, 'results.json')} and "
        f"{os.path.join(args.out, 'curves.png')}"
    )
    return 0


def _train(args: argparse.Namespace, config: TrainConfig, run_kwargs: dict, tic: float) -> int:
    """`train`: every process trains; rank 0 prints and writes history.json to --out."""
    data = load_data(args.data, labels_per_class=args.labels_per_class, seed=args.seed)
    history = train(args.method, data, config, **run_kwargs)
    if not distributed.is_main():
        return 0
    processes = f", {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    print(
        f"{args.method} on {args.data} ({args.labels_per_class} labels/class, seed "
        f"{args.seed}{processes}): final test accuracy {history.final_test_accuracy:.2f}% in "
        f"{time.perf_counter() - tic:.1f} s"
    )
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "history.json"), "w") as f:
            json.dump(history.to_dict(), f)
        print(f"wrote {os.path.join(args.out, 'history.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
