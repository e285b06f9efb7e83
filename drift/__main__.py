"""Command line: `python -m drift compare ...`, `python -m drift train ...` and
`python -m drift predict ...`.

    python -m drift compare --data digits --labels-per-class 5 --seeds 5
                            [--methods drift mean_teacher] [--steps N] [--model mlp|cnn]
                            [--engine vmap|processes] [--workers N] [--references] [--out DIR]
    python -m drift train --data digits --labels-per-class 5 --method drift|cosine|... [--steps N]
                          [--batch-size B] [--precision fp32|bf16|fp16] [--out DIR]
    python -m drift train --data FILE.npz|FILE.csv [--label-column label] [--text-column NAME]
                          [--test-fraction F] [--save MODEL.pt [--force]] ...
    python -m drift predict --model MODEL.pt --data FILE [--out PREDICTIONS.csv [--force]]
    torchrun --standalone --nproc_per_node=N -m drift train ...   (data-parallel on N processes)

`compare` prints a markdown table (mean ± std over seeds, paired differences against mean
teacher) and writes results.json and curves.png to --out. Seed s draws labeled subset s.
`train` prints the final test accuracy and, with --out, writes history.json there; on a file of
your own (`drift.data.files`: -1 or an empty label marks an unlabeled row) every labeled row
trains unless --test-fraction holds some out as the test set, and --save writes the student and
teacher (`drift.training.saved`) for `predict`. Under torchrun (`train` only), rank 0 prints
and writes (see `drift.training.distributed`).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
import time

from .training import distributed
from .data import files
from .data.datasets import DATASETS, load_data
from .core.methods import EXTRA_PRESETS, METHODS
from .models import MODELS
from .runtime import resolve_device, seed_everything
from .training.config import PRECISIONS, TrainConfig
from .training.history import WHICH
from .training.loop import train
from .training.saved import check_writable, load_classifier, save_classifier


def _common(p: argparse.ArgumentParser, *, files: bool = False) -> None:
    if files:
        p.add_argument(
            "--data",
            default="digits",
            metavar="NAME|FILE",
            help=f"a built-in data set ({', '.join(DATASETS)}; default: digits) or a file of "
            "your own: FILE.npz with arrays X (N, ...) and y (N,) of integers, -1 for an "
            "unlabeled row; or FILE.csv with a header, a label column (--label-column; an empty "
            "cell or -1: unlabeled; integers 0..C-1 or class names) and numeric feature columns "
            "(all the others), or a text column (--text-column)",
        )
    else:
        p.add_argument(
            "--data", choices=DATASETS, default="digits", help="built-in data set (default: digits)"
        )
    p.add_argument(
        "--labels-per-class",
        type=int,
        default=None,
        help="labeled examples per class of a built-in data set (default: 5)",
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
    t = sub.add_parser(
        "train",
        help="train one method on a built-in data set or a file of your own, print its accuracy",
        description="Train one method. On a built-in data set, print its final test accuracy. "
        "On a file of your own, every labeled row trains and the unlabeled rows are the "
        "unlabeled set; with --test-fraction F a stratified share F of the labeled rows is held "
        "out instead (never trained on) and the test accuracy on them is printed; without it "
        "the accuracy printed is on the labeled training rows themselves (optimistic).",
    )
    _common(t, files=True)
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
    t.add_argument(
        "--label-column",
        default=None,
        help="a CSV's label column (default: label)",
    )
    t.add_argument(
        "--text-column",
        default=None,
        help="a CSV's column of texts, embedded by a frozen pretrained encoder as the features "
        "(the other columns are then unused)",
    )
    t.add_argument(
        "--encoder",
        default=None,
        help="the encoder of --text-column (default: minilm, the bundled all-MiniLM-L6-v2)",
    )
    t.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="a file's share of labeled rows held out as the test set, stratified by class and "
        "drawn with --seed (default: 0, every labeled row trains)",
    )
    t.add_argument(
        "--validation",
        type=_size,
        default=None,
        metavar="SIZE",
        help="hold out labeled rows for model selection (SemiSupervisedData."
        "with_labeled_validation): a fraction in (0, 1) or a count, stratified, drawn with "
        "--seed; their accuracy is printed (default: none)",
    )
    t.add_argument(
        "--patience",
        type=int,
        default=None,
        help="with --validation: stop after this many evaluations without a better validation "
        "accuracy (default: run every step)",
    )
    t.add_argument(
        "--restore-best",
        action="store_true",
        help="with --validation: keep the student and teacher of the best validation accuracy",
    )
    t.add_argument(
        "--save",
        default=None,
        metavar="PATH",
        help="write the trained student and teacher to PATH, for predict (default: none)",
    )
    t.add_argument("--force", action="store_true", help="overwrite the file of --save")
    p = sub.add_parser(
        "predict",
        help="predict every row of a file with a model saved by train --save",
        description="Predict the class of every row of a file (.npz with X, or .csv with the "
        "training file's feature or text columns) with a model that train --save wrote. Labels "
        "in the file are ignored: every row is predicted. Prints, or writes to --out, a CSV "
        "with one line per row: its index, the predicted label (as in the training file) and "
        "the probability of each class.",
    )
    p.add_argument("--model", required=True, metavar="PATH", help="the file of train --save")
    p.add_argument("--data", required=True, metavar="FILE", help="the .npz or .csv to predict")
    p.add_argument(
        "--predict-with",
        choices=list(WHICH),
        default="student",
        help="the trained student or its teacher (default: student)",
    )
    p.add_argument(
        "--out", default=None, metavar="PATH", help="write the CSV to PATH (default: print it)"
    )
    p.add_argument("--force", action="store_true", help="overwrite the file of --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:  # output piped into a reader that stopped (| head): quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, TypeError, ImportError, OSError) as err:  # a message, not a traceback
        parser.exit(2, f"{parser.prog}: error: {err}\n")


def _run(args: argparse.Namespace) -> int:
    seed_everything(0, threads=1)
    if args.command == "predict":
        return _predict(args)
    if args.command == "train" and _is_file(args.data):
        _check_file_flags(args)
    else:
        _check_builtin_flags(args)
    run_kwargs = {"model": args.model, "device": args.device}
    flags = {"steps": args.steps}  # the TrainConfig settings given on the command line
    if args.command == "train":
        flags.update(
            batch_size=args.batch_size,
            seed=args.seed,
            precision=args.precision,
            patience=args.patience,
            restore_best=args.restore_best or None,
        )
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
    """`train`: every process trains; rank 0 prints, writes history.json to --out and saves."""
    if _is_file(args.data):
        return _train_file(args, config, run_kwargs, tic)
    data = load_data(args.data, labels_per_class=args.labels_per_class, seed=args.seed)
    if _validation(args) is not None:
        data = data.with_labeled_validation(args.validation, seed=args.seed)
    history = train(args.method, data, config, **run_kwargs)
    if not distributed.is_main():
        return 0
    processes = f", {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    print(
        f"{args.method} on {args.data} ({args.labels_per_class} labels/class, seed "
        f"{args.seed}{processes}): final test accuracy {history.final_test_accuracy:.2f}%"
        f"{_selection(history)} in {time.perf_counter() - tic:.1f} s"
    )
    _write_history(args, history)
    return 0


def _train_file(args: argparse.Namespace, config: TrainConfig, run_kwargs: dict, tic: float):
    """`train --data FILE`: read and split the file, train, print the accuracy, save."""
    if not args.data.lower().endswith(files.EXTENSIONS):
        raise ValueError(
            f"--data {args.data!r} is neither a built-in data set ({', '.join(DATASETS)}) nor a "
            ".npz or .csv file"
        )
    if args.save is not None:
        check_writable(args.save, force=args.force)  # before training, not after
    read = files.read_file(
        args.data,
        label_column=args.label_column or "label",
        text_column=args.text_column,
        encoder=args.encoder or "minilm",
    )
    data = files.split(
        read,
        test_fraction=args.test_fraction or 0.0,
        validation=_validation(args),
        seed=args.seed,
    )
    history = train(args.method, data, config, **run_kwargs)
    if not distributed.is_main():
        return 0
    n_labeled, n_test = len(data.y_labeled), 0 if data.y_test is None else len(data.y_test)
    n_unlabeled = int((read.y == files.UNLABELED).sum())
    processes = f", {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    if n_test:
        accuracy = (
            f"final test accuracy {history.final_test_accuracy:.2f}% on the {n_test} held-out rows"
        )
    else:
        train_accuracy = 100 * float(
            (history.predict(data.x_labeled) == data.y_labeled).float().mean()
        )
        accuracy = (
            f"accuracy {train_accuracy:.2f}% on the {n_labeled} labeled rows it trained on "
            "(optimistic; hold some out with --test-fraction)"
        )
    print(
        f"{args.method} on {args.data} ({len(read.x)} rows: {n_labeled} labeled for training, "
        f"{n_test} held out, {_held_for_validation(data)}{n_unlabeled} unlabeled; "
        f"{read.num_classes} classes; seed {args.seed}{processes}): {accuracy}"
        f"{_selection(history)} in {time.perf_counter() - tic:.1f} s"
    )
    _write_history(args, history)
    if args.save is not None:
        save_classifier(
            args.save,
            history,
            method=args.method,
            config=config,
            model=args.model,
            feature_shape=tuple(read.x.shape[1:]),
            classes=read.classes,
            label_names=read.label_names,
            reading=read.reading,
            force=args.force,
        )
        print(f"wrote {args.save}")
    return 0


def _size(text: str) -> int | float:
    """--validation's SIZE: a count (an integer) or a fraction."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _validation(args: argparse.Namespace) -> int | float | None:
    """--validation's SIZE (None without it), refusing --patience or --restore-best without it."""
    if args.validation is None and (args.patience is not None or args.restore_best):
        raise ValueError(
            "--patience and --restore-best select on a labeled validation set: add "
            "--validation SIZE (e.g. --validation 0.2)"
        )
    return args.validation


def _held_for_validation(data) -> str:
    """The rows held out for validation, for the summary line ("" without any)."""
    return "" if data.y_val is None else f"{len(data.y_val)} for validation, "


def _selection(history) -> str:
    """What model selection did, for the summary line ("" without a validation set)."""
    if not history.val_accuracy:
        return ""
    i = history.final_index
    parts = [f"validation accuracy {history.val_accuracy[i]:.2f}% at step {history.step[i]}"]
    if history.stopped_at is not None:
        parts.append(f"stopped early at step {history.stopped_at}")
    if history.best_step is not None:
        parts.append("best student and teacher restored")
    return " (" + "; ".join(parts) + ")"


def _write_history(args: argparse.Namespace, history) -> None:
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "history.json"), "w") as f:
            json.dump(history.to_dict(), f)
        print(f"wrote {os.path.join(args.out, 'history.json')}")


def _predict(args: argparse.Namespace) -> int:
    """`predict`: the saved model's label and class probabilities for every row of --data."""
    if args.out is not None:
        check_writable(args.out, force=args.force)
    model = load_classifier(args.model)
    read = files.read_file(args.data, labels=False, reading=model.reading)
    proba = model.predict_proba(read.x, which=args.predict_with)  # (N, C)
    out = open(args.out, "w", newline="") if args.out is not None else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(["row", "prediction", *(f"p_{label}" for label in model.classes)])
        for i, (best, row) in enumerate(zip(proba.argmax(axis=1), proba)):
            writer.writerow([i, model.classes[best], *(f"{p:.4f}" for p in row)])
    finally:
        if out is not sys.stdout:
            out.close()
    if args.out is not None:
        print(f"wrote {len(proba)} predictions of {args.model} ({args.predict_with}) to {args.out}")
    return 0


def _is_file(data: str) -> bool:
    """Whether --data names a file rather than a built-in data set."""
    return data not in DATASETS


def _check_file_flags(args: argparse.Namespace) -> None:
    """A file's flags given with a file only; a built-in data set's never."""
    if args.labels_per_class is not None:
        raise ValueError(
            "--labels-per-class chooses the labeled rows of a built-in data set; a file's "
            "labeled rows are those with a label: leave it out"
        )


def _check_builtin_flags(args: argparse.Namespace) -> None:
    """Refuse the file-only flags with a built-in data set; default --labels-per-class."""
    if args.command == "train":
        for flag in ("label_column", "text_column", "encoder", "test_fraction", "save"):
            if getattr(args, flag) is not None:
                raise ValueError(
                    f"--{flag.replace('_', '-')} is for a data file of your own; --data "
                    f"{args.data} is a built-in data set"
                )
    if args.labels_per_class is None:
        args.labels_per_class = 5


if __name__ == "__main__":
    sys.exit(main())
