"""Methods x seeds on one data set: `compare` and its `Results` (shared by chapters and the CLI)."""
from __future__ import annotations

import functools
import json
import math
import os
import pickle
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import distributed, vectorized
from .config import TrainConfig, split_overrides
from .data import SemiSupervisedData
from .methods import METHODS, Method, get_method
from .metrics import EXACT_MAX_N, PairedTest, Summary, holm_adjusted, paired_test, summarize
from .runtime import resolve_device
from .sources import DatasetSplits
from .tables import Table
from .validation import check_integer
from .trainer import History, train


@dataclass
class Results:
    """Histories of methods x seeds. Accuracies in %; differences are paired by seed."""

    histories: dict[str, list[History]]
    reference: str | None = "mean_teacher"

    @property
    def methods(self) -> list[str]:
        return list(self.histories)

    def _runs(self, method: str) -> list[History]:
        if method not in self.histories:
            raise KeyError(f"method must be one of {', '.join(self.histories)}; got {method!r}")
        return self.histories[method]

    def final(self, method: str) -> np.ndarray:
        """Final test accuracy of each seed, (seeds,)."""
        return np.array([h.final_test_accuracy for h in self._runs(method)])

    def summary(self, method: str) -> Summary:
        """Mean ± std of the final test accuracy over seeds."""
        return summarize(self.final(method))

    def teacher_final(self, method: str) -> np.ndarray:
        """Final test accuracy of each seed's teacher, (seeds,): the EMA teacher, a copied
        teacher's latest copy, the EMA of the iterates for "supervised" (see
        `History.teacher_test_accuracy`); NaN for runs saved before it was recorded."""
        return np.array([h.final_teacher_test_accuracy for h in self._runs(method)])

    def teacher_summary(self, method: str) -> Summary:
        """Mean ± std of the teacher's final test accuracy over seeds (NaN where not recorded)."""
        return summarize(self.teacher_final(method))

    def paired(self, method: str, reference: str | None = None) -> Summary:
        """Per-seed final accuracy of `method` minus `reference`: mean, std and seeds > 0."""
        return summarize(self.final(method) - self.final(reference or self.reference))

    def _finals(self, *methods: str) -> list[np.ndarray]:
        """Final test accuracies of `methods`, (seeds,) each, checked to pair by seed."""
        finals = [self.final(m) for m in methods]
        if len({len(f) for f in finals}) > 1:
            counts = ", ".join(f"{m!r} {len(f)}" for m, f in zip(methods, finals))
            raise ValueError(f"paired seeds need as many runs of each method; got {counts}: compare them on the same seeds")
        return finals

    def paired_stats(self, method: str, reference: str | None = None, confidence: float = 0.95,
                     margin: float | None = None) -> PairedTest:
        """Per-seed final accuracy of `method` minus `reference` (pp), tested by
        `drift.metrics.paired_test`: mean, t-interval, exact sign-flip p and verdict (TOST
        equivalence within ±margin pp when given). Seeds pair by order; no multiplicity
        adjustment (see `tests`)."""
        mine, ref = self._finals(method, reference or self.reference)
        return paired_test(mine - ref, confidence=confidence, margin=margin)

    def _differences(self, reference: str, references: dict[str, Sequence[float]] | None) -> dict[str, np.ndarray]:
        """Per-seed accuracy minus `reference`'s, (seeds,), of every method but the reference,
        then of each `references` row."""
        ref = self.final(reference)
        rows = {m: self.final(m) for m in self.methods if m != reference}
        for label, values in (references or {}).items():
            if label in self.histories:
                raise ValueError(f"references[{label!r}] must be labelled apart from the methods {self.methods}: rename it")
            rows[label] = np.asarray(values, dtype=float)
        for label, values in rows.items():  # methods and references alike
            if len(values) != len(ref):
                raise ValueError(f"paired seeds need as many runs of {label!r} ({len(values)}) as of the reference "
                                 f"{reference!r} ({len(ref)}): compare them on the same seeds")
        return {label: values - ref for label, values in rows.items()}

    def tests(self, reference: str | None = None, *, references: dict[str, Sequence[float]] | None = None,
              margin: float | None = None) -> dict[str, PairedTest]:
        """{row: PairedTest} of `table`'s paired differences against `reference` (every method
        but the reference, then each `references` row), read as one family: each verdict is
        decided on its Holm-adjusted exact p (`drift.metrics.holm_adjusted`), as the table's is."""
        reference = reference or self.reference
        d = self._differences(reference, references)
        return holm_adjusted({label: paired_test(v, margin=margin) for label, v in d.items()})

    def interaction(self, a1b1: str, a1b0: str, a0b1: str, a0b0: str, *, confidence: float = 0.95,
                    margin: float | None = None) -> PairedTest:
        """Interaction contrast of a 2x2 design, tested like any paired difference
        (`drift.metrics.paired_test`): per seed, (a1b1 - a1b0) - (a0b1 - a0b0) of the final
        accuracies (pp), i.e. how much more factor b helps at a1 than at a0. E.g. "do the views
        help DRIFT less than mean teacher?":
        `results.interaction("drift_views", "drift", "mean_teacher_views", "mean_teacher")`,
        negative if they help DRIFT less. Seeds pair by order."""
        f11, f10, f01, f00 = self._finals(a1b1, a1b0, a0b1, a0b0)
        return paired_test((f11 - f10) - (f01 - f00), confidence=confidence, margin=margin)

    def _stability(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed oscillation of test accuracy (pp) and mean student flip rate (%) between
        evaluations over the second half of training, (seeds,) each."""
        runs = self._runs(method)
        return np.array([h.oscillation for h in runs]), np.array([100 * np.mean(h.settled("flip_rate")) for h in runs])

    def stability(self, method: str) -> tuple[Summary, Summary]:
        """Oscillation of test accuracy (pp) and mean student flip rate (%) between evaluations,
        over the second half of training, each summarised over seeds."""
        osc, flips = self._stability(method)
        return summarize(osc), summarize(flips)

    def stability_test(self, method: str, reference: str | None = None, *,
                       margin: float | tuple[float, float] | None = None) -> tuple[PairedTest, PairedTest]:
        """Paired tests (`drift.metrics.paired_test`, by seed) of `method` minus `reference` in
        the two stability measures of `stability`: oscillation (pp) and flip rate (%), each over
        the second half of training. margin: one for both, or (oscillation's, flip rate's), for
        TOST equivalence. Not adjusted for multiplicity: reading both (or with other tests) as
        one family, pass them to `drift.metrics.holm_adjusted`."""
        reference = reference or self.reference
        self._finals(method, reference)  # same seed count
        margins = margin if isinstance(margin, tuple) else (margin, margin)
        if len(margins) != 2:
            raise ValueError(f"margin must be a number or a pair (oscillation's, flip rate's); got {margin!r}")
        mine, ref = self._stability(method), self._stability(reference)
        return tuple(paired_test(a - b, margin=m) for a, b, m in zip(mine, ref, margins))

    def table(self, reference: str | None = None, *, references: dict[str, Sequence[float]] | None = None,
              margin: float | None = None) -> Table:
        """A markdown `Table`: accuracy, paired difference against `reference`, stability.

        The teacher's final test accuracy stands beside the student's ("teacher acc."; see
        `teacher_final`) when some run recorded it; runs saved before it was recorded show "-".

        The paired difference (pp, per seed against the reference, seeds paired by order) shows
        its mean and 95% t-based confidence interval, "+0.67 [-1.27, 2.61]", the two-sided
        sign-flip permutation p ("p (exact)"; "p (Monte Carlo)" above `EXACT_MAX_N` seeds), a
        verdict ("better", "worse", "equivalent within ±margin" given a margin in pp, or
        "inconclusive") and how many seeds favour the method. Verdicts follow
        `drift.metrics.verdict` at alpha = 0.05 on Holm-adjusted exact p-values across the
        table's rows ("verdict (Holm)"; `tests` returns them). With one seed there is nothing
        to test: interval, p and verdict show "-"; so do rows whose accuracies are not finite.
        references: extra rows {label: per-seed test accuracies (%)} from other learners on the
        same seeds and splits (e.g. `drift.baselines.reference_accuracies`), paired the same way.
        A bare `results` in a notebook cell shows `table()` rendered.
        """
        reference = reference or self.reference
        has_ref = reference in self.histories
        n = len(next(iter(self.histories.values())))
        header = ["method", f"test acc. (%) over {n} seeds"]
        teachers = {m: self.teacher_final(m) for m in self.methods}
        has_teacher = any(np.isfinite(t).any() for t in teachers.values())
        if has_teacher:
            header.append("teacher acc. (%)")
        if has_ref:
            p_header = "p (exact)" if n <= EXACT_MAX_N else "p (Monte Carlo)"
            header += [f"Δ vs {reference} [95% t-CI]", p_header, "verdict (Holm)", "seeds Δ > 0"]
        header += ["oscillation (pp)", "flip rate (%)"]  # second half of training
        for label, values in (references or {}).items():
            if len(values) != n:
                raise ValueError(f"references[{label!r}] must hold one accuracy per seed ({n}); got {len(values)}")

        cells: dict[str, list[str]] = {}
        if has_ref:
            d = self._differences(reference, references)
            tests = holm_adjusted({label: paired_test(v, margin=margin) for label, v in d.items() if np.isfinite(v).all()})
            for label, v in d.items():
                test = tests.get(label)
                ahead = summarize(v)
                cells[label] = [*_paired_cells(test, v), f"{ahead.wins}/{ahead.n}"]
            cells[reference] = ["-"] * 4

        rows = []
        for m in self.methods:
            osc, flips = self.stability(m)
            teacher = [summarize(teachers[m]) if np.isfinite(teachers[m]).all() else "-"] if has_teacher else []
            rows.append([m, self.summary(m), *teacher, *cells.get(m, []), osc, flips])
        for label, values in (references or {}).items():
            rows.append([label, summarize(values), *(["-"] if has_teacher else []), *cells.get(label, []), "-", "-"])
        return Table.from_rows(header, rows)

    def _repr_markdown_(self) -> str:
        return self.table()

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython's plain-text view: the same table
        printer.text(self.table())

    def plot(self, **kwargs):
        """Curves of every method, mean ± std over seeds (see `drift.plotting.plot_histories`)."""
        from .plotting import plot_histories

        return plot_histories(self.histories, **kwargs)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "histories": {m: [h.to_dict() for h in runs] for m, runs in self.histories.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Results":
        return cls({m: [History.from_dict(h) for h in runs] for m, runs in d["histories"].items()}, d["reference"])

    def save(self, path: str | os.PathLike) -> None:
        """Write `to_dict()` as standard JSON (NaN, e.g. an unknown pseudo-label accuracy, as null)."""
        with open(path, "w") as f:
            json.dump(_nan_to_none(self.to_dict()), f, allow_nan=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Results":
        """Read a file written by `save` (null back to NaN)."""
        with open(path) as f:
            return cls.from_dict(_none_to_nan(json.load(f)))


def _paired_cells(test: PairedTest | None, d: np.ndarray) -> list[str]:
    """Table cells of a paired difference d (seeds,): "mean [low, high]", the exact p and the
    verdict, "-" for what is undefined (one seed, non-finite accuracies)."""
    mean = f"{np.mean(d):+.2f}"
    if test is None or test.n == 1:
        return [mean, "-", "-"]
    interval = f" [{test.low:.2f}, {test.high:.2f}]"
    word = test.verdict + (f" within ±{test.margin:g}" if test.verdict == "equivalent" else "")
    return [mean + interval, f"{test.p_exact:.3g}", word]


def _none_to_nan(value):
    if isinstance(value, dict):
        return {k: _none_to_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [math.nan if v is None else _none_to_nan(v) for v in value]
    return value


def _nan_to_none(value):
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def _run(method: Method, data, seed: int, config: TrainConfig, run_kwargs: dict) -> dict:
    """One run of `compare` (engine "processes"): `train` with `config` at `seed`."""
    if callable(data):
        data = data(seed=seed)
    return train(method, data, replace(config, seed=seed), **run_kwargs).to_dict()


def _run_many(jobs: list[tuple[Method, int]], data, config: TrainConfig, run_kwargs: dict) -> list[dict]:
    """A share of `compare`'s runs (engine "vmap"), trained batched."""
    return [h.to_dict() for h in vectorized.train_many(jobs, data, config, **run_kwargs)]


RUN_ARGUMENTS = frozenset({"model", "device", "optimizer", "scheduler", "student_view", "teacher_view", "callback",
                           "checkpoint", "progress"})
"""`drift.train`'s object arguments, which `compare` passes on to every run."""


def _context():
    """fork where it is safe (Linux, CUDA not started): fast, and works from scripts with no
    `if __name__ == "__main__"` guard; spawn elsewhere (macOS, Windows, after CUDA started)."""
    safe = sys.platform.startswith("linux") and not torch.cuda.is_initialized()
    return get_context("fork" if safe else "spawn")


def _init_worker() -> None:
    torch.set_num_threads(1)


ENGINES = ("vmap", "processes")
"""`compare`'s engines: "vmap" trains the runs as one batched model (`drift.vectorized`),
"processes" trains them one by one (`drift.train`), spread over worker processes."""


def compare(
    methods: Sequence[str | Method] | None,
    data: SemiSupervisedData | DatasetSplits | Callable[..., SemiSupervisedData | DatasetSplits],
    *,
    seeds: int | Sequence[int] = 5,
    reference: str | None = "mean_teacher",
    workers: int | None = None,
    engine: str = "vmap",
    progress: bool = True,
    config: TrainConfig | None = None,
    **train_kwargs,
) -> Results:
    """Train every method with every seed and collect the histories.

    methods: preset names or `Method`s (None: all six presets). data: one split (a
    `SemiSupervisedData` or a `DatasetSplits`) shared by all seeds, or `data(seed=...)`
    returning each seed's split (picklable for workers > 1, e.g.
    `functools.partial(drift.load_data, "digits", labels_per_class=5)`). seeds: a count or a list.
    engine: "vmap" (default) trains all runs as one batched model with `torch.func.vmap`
    (`drift.vectorized`): each run keeps the random stream `drift.train` would give it, so the
    results equal one-by-one training up to float rounding. Where it cannot serve (a model with
    dropout or BatchNorm, data in torch Datasets, dict inputs, mixed precision, checkpoints,
    callbacks, optimizer or scheduler factories, views, clipping, torchrun), compare warns once
    with the reason and uses "processes": `drift.train` for each run.
    workers: processes to spread runs over (default: the CPU count on a CPU, 1 on a GPU); each
    worker uses one thread (with "vmap", each trains its share of the runs batched), so a
    run's result does not depend on `workers` when the caller also pins one thread (with
    "vmap", up to float rounding). config: the runs' `drift.TrainConfig` (its seed is each
    run's). train_kwargs go to `drift.train`: Method settings among them (e.g. alpha=0.99) apply
    to every method, TrainConfig settings (e.g. steps=500) replace the config's, and train's
    other arguments (model, device, ...) are passed on; any other name raises TypeError.
    """
    method_settings, config_settings, run_kwargs = split_overrides(train_kwargs, others=RUN_ARGUMENTS - {"progress"})
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a drift.TrainConfig or None; got {type(config).__name__}")
    if "seed" in config_settings:
        raise TypeError("compare sets each run's seed from seeds; pass seeds=[...] rather than seed")
    config = replace(config if config is not None else TrainConfig(), **config_settings)
    methods = [get_method(m) for m in (METHODS if methods is None else methods)]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods must have distinct names; got {names}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}")
    if not (isinstance(data, (SemiSupervisedData, DatasetSplits)) or callable(data)):
        raise TypeError(
            "data must be a drift.SemiSupervisedData, a drift.DatasetSplits or a function of seed returning one; "
            f"got {type(data).__name__}"
        )
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("seeds must be a count >= 1 or a non-empty list of seeds")
    if isinstance(run_kwargs.get("model"), torch.nn.Module):
        raise TypeError("model must be a name or a factory in compare, so that every run starts from a fresh model")
    if workers is None:
        workers = 1 if resolve_device(run_kwargs.get("device", "auto")).type == "cuda" else os.cpu_count() or 1
    example = data
    if callable(data):  # once here: fail fast, show its kind, and forked workers inherit what load_data caches
        example = data(seed=seeds[0])
        if min(workers, len(methods) * len(seeds)) == 1:  # runs in this process reuse that split
            data = functools.partial(_reusing, data, seeds[0], example)
    methods = [get_method(m, **method_settings) for m in methods]
    if engine == "vmap":
        reason = vectorized.unsupported(config, run_kwargs, data_example=example,
                                        distributed=distributed.world_size() > 1)
        if reason is None:
            try:
                return _compare_batched(methods, data, seeds, reference, workers, progress, config, run_kwargs)
            except vectorized.Unbatchable as err:
                reason = str(err)
        warnings.warn(f"compare: engine='vmap' cannot batch these runs ({reason}); training them one by one "
                      "(engine='processes')", stacklevel=2)
    return _compare_processes(methods, data, seeds, reference, workers, progress, config, run_kwargs)


def _reusing(data: Callable, seed0: int, split0, seed: int):
    """data(seed=seed), where the split of seed0 is already made (split0)."""
    return split0 if seed == seed0 else data(seed=seed)


def _pool_checked(methods, data, run_kwargs) -> None:
    """Before worker processes start: check that the work pickles."""
    try:
        pickle.dumps((methods, data, run_kwargs))
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise TypeError(
            "data and train_kwargs must be picklable to run in worker processes: use e.g. "
            "functools.partial(drift.load_data, 'digits', labels_per_class=5) rather than a lambda, "
            f"or pass workers=1 ({err})"
        ) from err


def _results(names: list[str], out: list[dict], reference: str | None) -> Results:
    histories: dict[str, list[History]] = {n: [] for n in names}
    for h in out:
        histories[h["method"]].append(History.from_dict(h))
    return Results(histories, reference)


def _compare_batched(methods, data, seeds, reference, workers, progress, config, run_kwargs) -> Results:
    """`compare` with engine="vmap": the runs split over `workers` processes, each batched."""
    jobs = [(m, s) for m in methods for s in seeds]
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        out = _run_many(jobs, data, config, {**run_kwargs, "progress": progress})
        return _results([m.name for m in methods], out, reference)
    _pool_checked(methods, data, run_kwargs)
    shares = [jobs[i::workers] for i in range(workers)]  # each share keeps the methods' order
    bar = tqdm(total=len(jobs), desc="runs (vmap)", disable=not progress)
    with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker) as pool:
        futures = [pool.submit(_run_many, share, data, config, {**run_kwargs, "progress": False}) for share in shares]
        for share, f in zip(shares, futures):
            f.add_done_callback(lambda _, n=len(share): bar.update(n))
        done = [f.result() for f in futures]
    bar.close()
    order = {(m.name, s): i for i, (m, s) in enumerate(jobs)}
    out = sorted((h for part in done for h in part), key=lambda h: order[h["method"], h["seed"]])
    return _results([m.name for m in methods], out, reference)


def _compare_processes(methods, data, seeds, reference, workers, progress, config, run_kwargs) -> Results:
    """`compare` with engine="processes": `drift.train` for each run, over `workers` processes."""
    jobs = [(m, s) for m in methods for s in seeds]
    workers = max(1, min(workers, len(jobs)))
    run_kwargs = {**run_kwargs, "progress": progress and workers == 1}
    bar = tqdm(total=len(jobs), desc="runs", disable=not progress)
    if workers == 1:
        out = []
        for m, s in jobs:
            out.append(_run(m, data, s, config, run_kwargs))
            bar.update()
    else:
        _pool_checked(methods, data, run_kwargs)
        with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker) as pool:
            futures = [pool.submit(_run, m, data, s, config, run_kwargs) for m, s in jobs]
            for f in futures:
                f.add_done_callback(lambda _: bar.update())
            out = [f.result() for f in futures]
    bar.close()
    return _results([m.name for m in methods], out, reference)


@dataclass(frozen=True)
class Pretrained:
    """A model factory for `train`/`compare`: the student after `steps` of "supervised" training
    on `data`'s labeled part (e.g. weak labels), so that self-training starts from it and the
    teacher starts as its copy. Stage 1 uses the seed `train` has just set (`torch.initial_seed()`),
    so each run of `compare` pre-trains with its own seed. train_kwargs (model, lr, batch_size,
    input_noise, device) go to stage 1's `train`."""

    data: SemiSupervisedData
    steps: int
    train_kwargs: dict

    def __call__(self, feature_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module:
        if tuple(feature_shape) != self.data.feature_shape or num_classes != self.data.num_classes:
            raise ValueError(
                f"Pretrained was built for features {self.data.feature_shape} and {self.data.num_classes} classes; "
                f"the run asks for {tuple(feature_shape)} and {num_classes}: pass the same data to both stages"
            )
        first = train("supervised", self.data, steps=self.steps, seed=torch.initial_seed(), progress=False, **self.train_kwargs)
        return first.model


def compare_after_pretraining(
    methods: Sequence[str | Method] | None, data: SemiSupervisedData, *, pretrain_steps: int, model="mlp", **kwargs,
) -> Results:
    """`compare` where every run first trains its student with "supervised" for `pretrain_steps`
    on `data`'s labeled part, then runs its method for `steps` more (chapter 7: weak labels, then
    self-training). The student's lr, batch_size, input_noise and device are shared by both stages;
    other kwargs go to `compare`."""
    pretrain_steps = check_integer("pretrain_steps", pretrain_steps, minimum=1)
    if not isinstance(data, SemiSupervisedData):
        raise TypeError(f"data must be one drift.SemiSupervisedData shared by both stages; got {type(data).__name__}")
    if isinstance(model, torch.nn.Module):
        raise TypeError("model must be a name or a factory, so that every run starts from a fresh model")
    shared = {k: kwargs[k] for k in ("lr", "batch_size", "input_noise", "device") if k in kwargs}
    return compare(methods, data, model=Pretrained(data, pretrain_steps, {"model": model, **shared}), **kwargs)


RECORDS = Path(__file__).with_name("recorded")
"""Folder of the comparisons shipped with the package (`load_record`)."""


@dataclass(frozen=True)
class Record:
    """A comparison too slow for a CPU notebook, run once by `command` and shipped with the
    package: its `results`, scikit-learn `references` rows on the same seeds and splits
    ({label: (seeds,) accuracies in %}) and a one-line description of the `setting`."""

    results: Results
    references: dict[str, np.ndarray]
    command: str
    setting: str

    def save(self, path: str | os.PathLike) -> None:
        """Write the record as standard JSON (read back by `load_record`)."""
        with open(path, "w") as f:
            json.dump(_nan_to_none({
                "command": self.command, "setting": self.setting, "results": self.results.to_dict(),
                "references": {k: np.asarray(v).tolist() for k, v in self.references.items()},
            }), f, allow_nan=False)


def load_record(name: str) -> Record:
    """A shipped record by name (a file in `RECORDS`, without .json), e.g. "mnist1d_cnn"."""
    path = RECORDS / f"{name}.json"
    if not path.is_file():
        names = sorted(p.stem for p in RECORDS.glob("*.json"))
        raise ValueError(f"name must be one of {', '.join(map(repr, names))}; got {name!r}")
    d = _none_to_nan(json.loads(path.read_text()))
    return Record(Results.from_dict(d["results"]), {k: np.array(v) for k, v in d["references"].items()},
                  d["command"], d["setting"])
