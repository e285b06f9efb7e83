"""Maps of where the Stackelberg term matters (chapter 10): paired comparisons on a grid of
settings, one shipped `Record` per grid cell, and the entropy-minimisation baseline tuned on
validation data.

Each cell of a map is one `compare` of DRIFT against mean teacher over the same seeds, saved by
`benchmarks/record_where.py` as `drift/recorded/<cell_name(...)>.json` and read back with
`drift.load_record`. The names are the grid's coordinates:

- "where_digits_a{alpha}_k{k}" (map 1: EMA decay alpha x k labels per class, digits),
- "where_weak_noise{rate}" (map 2: label-noise rate of chapter 7's weak labels, "rules" for the
  rules' own noise),
- "where_entropy_tuning" (validation accuracies of every tuned setting) and
  "where_entropy_test" (the tuned settings on test, fresh seeds).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..data.datasets import load_data
from ..data.splits import SemiSupervisedData
from ..experiments.comparison import compare, compare_after_pretraining
from ..experiments.records import Record, load_record
from ..experiments.results import Results
from ..core.methods import Method, get_method
from ..metrics import PairedTest, paired_test, summarize
from ..data.weak import load_weak_data

SHARED = {"alpha": 0.9, "lam": 1.0}
"""The one setting every map's methods share, so that the Stackelberg term is the only difference
between DRIFT and mean teacher in a cell (and the shipped records reproduce): lam = 1 and, except
where map 1 sets it, alpha = 0.9. Not the presets, which carry each method's own tuned setting."""
ALPHAS = (0.5, 0.9, 0.99)
"""Map 1's EMA decays of the teacher (shared by DRIFT and mean teacher in each cell)."""
LABELS_PER_CLASS = (2, 5, 20)
"""Map 1's labels per class on digits."""
NOISE_RATES = (None, 0.2, 0.3, 0.4)
"""Map 2's weak-label noise rates (`drift.load_weak_data(noise_rate=...)`; None: the rules' own)."""
ENTROPY_WEIGHTS = (0.1, 0.3, 1.0, 3.0)
"""entropy_min's candidate values of `entropy_weight` (1.0, its preset's, is the default)."""
LABEL_ALPHAS = (0.8, 0.9, 0.95, 0.99)
"""drift_labels' candidate alphas (SHARED's 0.9 is the default): (1 - alpha) scales its label
path, as entropy_weight scales entropy_min's term, so both get four strengths of their term."""


def shared(preset: str, **settings) -> Method:
    """`preset` at the maps' `SHARED` setting, with `settings` on top, under the preset's name."""
    return get_method(preset, **{**SHARED, **settings})


def cell_name(
    map_name: str,
    *,
    alpha: float | None = None,
    labels_per_class: int | None = None,
    noise_rate: float | None | str = "unset",
) -> str:
    """The record name of one grid cell: cell_name("digits", alpha=0.9, labels_per_class=5) is
    "where_digits_a0.9_k5"; cell_name("weak", noise_rate=0.2) is "where_weak_noise0.20" and
    noise_rate=None gives "where_weak_noiserules"."""
    if map_name == "digits":
        if alpha is None or labels_per_class is None:
            raise ValueError("alpha and labels_per_class must both be given for the digits map")
        return f"where_digits_a{alpha:g}_k{labels_per_class}"
    if map_name == "weak":
        if noise_rate == "unset":
            raise ValueError(
                "noise_rate must be given for the weak map (None for the rules' own noise)"
            )
        return "where_weak_noise" + ("rules" if noise_rate is None else f"{noise_rate:.2f}")
    raise ValueError(f"map_name must be 'digits' or 'weak'; got {map_name!r}")


def digits_cell(
    alpha: float,
    labels_per_class: int,
    *,
    seeds: int | Sequence[int] = 10,
    steps: int = 1000,
    workers: int | None = 1,
    progress: bool = False,
    **kwargs,
) -> Results:
    """Map 1's cell: mean teacher and DRIFT, both with EMA decay `alpha`, on digits with
    `labels_per_class` labels per class (seed s draws its own labels), paired by seed."""
    data = functools.partial(load_data, "digits", labels_per_class=labels_per_class)
    methods = [shared(m, alpha=alpha) for m in ("mean_teacher", "drift")]
    return compare(
        methods, data, seeds=seeds, steps=steps, workers=workers, progress=progress, **kwargs
    )


def weak_cell(
    noise_rate: float | None,
    *,
    seeds: int | Sequence[int] = 10,
    pretrain_steps: int = 500,
    steps: int = 1000,
    workers: int | None = 1,
    progress: bool = False,
    **kwargs,
) -> Results:
    """Map 2's cell: chapter 7's two-moons weak labels (data seed 0) at `noise_rate`, a
    supervised pre-training of `pretrain_steps` on them, then mean teacher and DRIFT for
    `steps`, paired by seed (both at `SHARED`)."""
    weak = load_weak_data("two_moons", noise_rate=noise_rate, seed=0)
    return compare_after_pretraining(
        [shared("mean_teacher"), shared("drift")],
        weak.data,
        pretrain_steps=pretrain_steps,
        steps=steps,
        seeds=seeds,
        workers=workers,
        progress=progress,
        **kwargs,
    )


def validation_data(seed: int, *, labels_per_class: int = 5) -> SemiSupervisedData:
    """Digits, seed s's labels, with a quarter of the unlabeled pool held out as validation data
    (in the test slot): the tuning protocol of `benchmarks/tune_defaults.py`."""
    return load_data("digits", labels_per_class=labels_per_class, seed=seed).with_validation(
        0.25, seed=seed
    )


def tuning_candidates() -> list:
    """The tuned settings, as `Method` objects with distinct names, at `SHARED` otherwise:
    entropy_min at each of ENTROPY_WEIGHTS and drift_labels at each of LABEL_ALPHAS (four each:
    the same budget)."""
    return [
        shared("entropy_min", name=f"entropy_min_w{w:g}", entropy_weight=w) for w in ENTROPY_WEIGHTS
    ] + [shared("drift_labels", name=f"drift_labels_a{a:g}", alpha=a) for a in LABEL_ALPHAS]


def choose(results: Results, candidates: Sequence[str], default: str) -> str:
    """The project's tuning rule: the candidate with the best mean validation accuracy replaces
    `default` only if it beats it by more than one standard error of their paired difference."""
    best = max(candidates, key=lambda m: results.final(m).mean())
    if best == default:
        return default
    d = summarize(results.final(best) - results.final(default))
    return best if d.mean > d.std / math.sqrt(d.n) else default


def tuned(results: Results) -> dict[str, str]:
    """{"entropy_min": chosen candidate name, "drift_labels": chosen candidate name} from the
    validation `results` of `tuning_candidates()`."""
    return {
        "entropy_min": choose(
            results, [f"entropy_min_w{w:g}" for w in ENTROPY_WEIGHTS], "entropy_min_w1"
        ),
        "drift_labels": choose(
            results, [f"drift_labels_a{a:g}" for a in LABEL_ALPHAS], "drift_labels_a0.9"
        ),
    }


def tuned_methods(choice: dict[str, str]) -> list:
    """mean_teacher (the reference, at `SHARED`) and the two chosen settings, under their preset
    names, from `tuned(...)`'s choice."""
    by_name = {m.name: m for m in tuning_candidates()}
    return [shared("mean_teacher")] + [
        replace(by_name[choice[k]], name=k) for k in ("entropy_min", "drift_labels")
    ]


@dataclass(frozen=True)
class Cell:
    """One grid cell's paired comparison of `method` against `reference` (pp): its
    `drift.metrics.paired_test` and the seeds where `method` is ahead."""

    test: PairedTest
    wins: int


def paired_cell(results: Results, method: str = "drift", reference: str = "mean_teacher") -> Cell:
    """`Cell` of `results`: paired test of method - reference over seeds, and its seeds ahead."""
    d = results.final(method) - results.final(reference)
    return Cell(paired_test(d), int((d > 0).sum()))


def load_digits_map() -> dict[tuple[float, int], Record]:
    """Map 1's shipped records, {(alpha, labels_per_class): Record}."""
    return {
        (a, k): load_record(cell_name("digits", alpha=a, labels_per_class=k))
        for a in ALPHAS
        for k in LABELS_PER_CLASS
    }


def load_weak_map() -> dict[float | None, Record]:
    """Map 2's shipped records, {noise_rate: Record} (None: the rules' own noise)."""
    return {r: load_record(cell_name("weak", noise_rate=r)) for r in NOISE_RATES}


def grid(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Arrays of a grid of `Cell` objects (any shape): mean, low, high, p_value (t-test),
    p_exact (sign-flip), wins, excludes_zero."""
    flat = list(np.asarray(cells, dtype=object).reshape(-1))
    shape = np.shape(cells)
    out = {
        k: np.array([getattr(c.test, k) for c in flat]).reshape(shape)
        for k in ("mean", "low", "high", "p_value", "p_exact")
    }
    out["wins"] = np.array([c.wins for c in flat]).reshape(shape)
    out["excludes_zero"] = (out["low"] > 0) | (out["high"] < 0)
    return out


def plot_paired_map(
    ax, cells, *, xticklabels, yticklabels, xlabel: str, ylabel: str, limit: float | None = None
):
    """A heatmap of a 2-D grid of `Cell` objects (rows x columns) on `ax`: colour = paired mean (pp,
    diverging around 0, saturated at ±`limit`, default the largest absolute mean or 1), text = mean
    and 95% CI, bold with a star where the CI excludes 0.
    Returns the image (for a colour bar)."""
    g = grid(cells)
    limit = limit or max(1.0, float(np.abs(g["mean"]).max()))
    image = ax.imshow(g["mean"], cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), mean in np.ndenumerate(g["mean"]):
        star = "*" if g["excludes_zero"][i, j] else ""
        text = f"{mean:+.1f}{star}\n[{g['low'][i, j]:+.1f}, {g['high'][i, j]:+.1f}]"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize="small",
            fontweight="bold" if star else "normal",
            color="w" if abs(mean) > 0.6 * limit else "k",
        )
    ax.set_xticks(range(len(xticklabels)), xticklabels)
    ax.set_yticks(range(len(yticklabels)), yticklabels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return image
