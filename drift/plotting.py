"""Figures shared by the chapters and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

CURVES = {
    "test_accuracy": "test accuracy (%)",
    "pseudo_label_accuracy": "pseudo-label accuracy (%)",
    "mean_weight": "mean weight",
    "flip_rate": "student flip rate",
    "label_flip_rate": "teacher label flip rate",
    "loss": "leader objective F",
}
"""Series of a History that `plot_histories` can draw; the first four are the default."""


def plot_histories(histories: dict, *, metrics: Sequence[str] = tuple(CURVES)[:4], axes=None):
    """Mean curve over seeds with a ±1 std band, one panel per metric.

    histories: {label: [History, ...]} (one list of seeds per method). Returns the figure.
    """
    import matplotlib.pyplot as plt

    unknown = [m for m in metrics if m not in CURVES]
    if unknown:
        raise ValueError(f"metrics must be among {', '.join(CURVES)}; got {unknown}")
    own_figure = axes is None
    if own_figure:
        _, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(3.4 * len(metrics) + 1.5, 3.0),
            squeeze=False,
            layout="constrained",
        )
        axes = axes[0]
    for label, runs in histories.items():
        steps = np.asarray(runs[0].step)
        for ax, metric in zip(axes, metrics):
            values = np.asarray([getattr(h, metric) for h in runs], dtype=float)  # (seeds, evals)
            mean, std = values.mean(0), values.std(0)
            (line,) = ax.plot(steps, mean, label=label)
            if len(runs) > 1:
                ax.fill_between(
                    steps, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0
                )
    for ax, metric in zip(axes, metrics):
        ax.set_xlabel("step")
        ax.set_ylabel(CURVES[metric])
        ax.grid(alpha=0.3)
        # from ~1 after the first steps down to a few in a thousand
        if metric.endswith("flip_rate"):
            ax.set_yscale("log")
    fig = axes[0].figure
    if own_figure:
        fig.legend(
            *axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small"
        )
    else:
        axes[0].legend(fontsize="small")
    return fig


@dataclass(frozen=True)
class Grid:
    """A regular grid over a 2-D input space, for maps of a classifier's predictions.

    xx, yy: (n, n) coordinates (rows follow y); `points` lists them as model inputs (n * n, 2).
    """

    xx: Tensor
    yy: Tensor

    @classmethod
    def around(cls, *xs: Tensor, margin: float = 0.3, n: int = 150) -> "Grid":
        """An n x n grid over the bounding box of the points xs (each (N, 2)), widened by
        `margin`."""
        x = torch.cat([torch.as_tensor(v, dtype=torch.float32) for v in xs])
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"xs must be points of shape (N, 2); got shape {tuple(x.shape)}")
        lo, hi = (x.min(0).values - margin).tolist(), (x.max(0).values + margin).tolist()
        xx, yy = torch.meshgrid(
            torch.linspace(lo[0], hi[0], n), torch.linspace(lo[1], hi[1], n), indexing="xy"
        )
        return cls(xx, yy)

    @property
    def points(self) -> Tensor:
        return torch.stack([self.xx.ravel(), self.yy.ravel()], dim=1)

    def reshape(self, values: Tensor) -> Tensor:
        """Per-point values (n * n,) as a map (n, n) matching xx and yy."""
        return torch.as_tensor(values).reshape(self.xx.shape)


def plot_class_map(
    ax,
    grid: Grid,
    p1: Tensor,
    data=None,
    *,
    title: str | None = None,
    colors: Sequence[str] = ("tab:blue", "tab:red"),
) -> None:
    """A two-class map on `ax`: p(class 1) (n, n) on `grid` as background, its 0.5 level as the
    boundary, and, given a `SemiSupervisedData`, its unlabeled points (grey) and labeled points
    (stars in their class's colour)."""
    ax.contourf(grid.xx, grid.yy, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.3)
    ax.contour(grid.xx, grid.yy, p1, levels=[0.5], colors="k", linewidths=1.2)
    if data is not None:
        ax.scatter(*data.x_unlabeled.T, s=3, color="0.45")
        ax.scatter(
            *data.x_labeled.T,
            s=110,
            marker="*",
            c=np.asarray(colors)[data.y_labeled],
            edgecolors="k",
        )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")


def plot_finals(
    results,
    references: Mapping[str, Sequence[float]] | None = None,
    *,
    methods: Sequence[str] | None = None,
    ax=None,
    title=None,
):
    """Each seed's final test accuracy per method (dots; black bar: the mean over seeds), grey
    lines joining one seed's runs of the methods of `results` (a `drift.Results`).

    references: extra columns {label: per-seed accuracies (%)}, e.g. scikit-learn's rows.
    methods: which of the results' methods to draw, in that order (default: all). Returns the
    figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4), layout="constrained")
    methods = list(results.methods if methods is None else methods)
    references = dict(references or {})
    labels = methods + list(references)
    finals = [results.final(m) for m in methods] + [
        np.asarray(v, dtype=float) for v in references.values()
    ]
    seeds = min((len(v) for v in finals[: len(methods)]), default=0)
    ax.plot(
        range(len(methods)),
        np.array([v[:seeds] for v in finals[: len(methods)]]),
        color="0.8",
        lw=0.8,
        zorder=1,
    )
    for i, values in enumerate(finals):
        ax.scatter(np.full(len(values), i), values, s=14, color=f"C{i % 10}", zorder=3)
        ax.hlines(values.mean(), i - 0.3, i + 0.3, color="k", lw=1.5)
    ax.set_xticks(
        range(len(labels)),
        [lab.replace("sklearn ", "sklearn\n") for lab in labels],
        rotation=60,
        ha="right",
        fontsize="x-small",
    )
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3, axis="y")
    return ax.figure


GAME_STYLES = {
    "simultaneous": dict(color="tab:red"),
    "sequential": dict(color="tab:orange"),
    "stackelberg": dict(color="tab:blue"),
    "mean_teacher": dict(color="tab:green"),
    "drift": dict(color="tab:purple"),
}
"""The matplotlib style of each dynamics of `drift.book.games.play` in the game figures."""


def plot_phase_portrait(game, trajectories: dict, *, ax=None, box=None, marks: dict | None = None):
    """A game's gradient play (`drift.book.games.QuadraticGame`, `drift.book.games.play`):
    trajectories {name: (T, 2) array} in the (x, y) plane, with the follower's best response
    y*(x), the Stackelberg equilibrium (star; left out when the game has none) and the stationary
    point (cross; left out when it is not unique). marks: extra points {label: (x, y)}, drawn as
    diamonds (e.g. a resting point). box = (x_min, x_max, y_min, y_max) fixes the view (default:
    around the starts and the equilibria). Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.0), layout="constrained")
    marks = (
        {}
        if marks is None
        else {label: np.asarray(point, dtype=float) for label, point in marks.items()}
    )
    points = [*(np.asarray(t)[0] for t in trajectories.values()), *marks.values()]
    special = {}
    for label, find in (
        ("Stackelberg equilibrium", game.stackelberg_equilibrium),
        ("stationary point", game.stationary_point),
    ):
        try:
            special[label] = find()
            points.append(special[label])
        except ValueError:
            pass
    if box is None:
        lo, hi = np.min(points, axis=0), np.max(points, axis=0)
        pad = 0.4 * max(hi - lo) + 0.5
        box = (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)
    xs = np.linspace(box[0], box[1], 50)
    ax.plot(
        xs,
        game.best_response(xs),
        color="0.6",
        ls="--",
        lw=1,
        label="follower's best response $y^*(x)$",
    )
    for name, path in trajectories.items():
        path = np.asarray(path)
        style = GAME_STYLES.get(name, {})
        ax.plot(path[:, 0], path[:, 1], lw=1.2, label=name, **style)
        ax.plot(*path[0], "o", ms=4, **style)
    if "Stackelberg equilibrium" in special:
        ax.plot(
            *special["Stackelberg equilibrium"],
            "*",
            color="k",
            ms=13,
            label="Stackelberg equilibrium",
            zorder=5,
        )
    if "stationary point" in special:
        ax.plot(
            *special["stationary point"],
            "X",
            color="0.25",
            ms=8,
            label="stationary point",
            zorder=5,
        )
    for label, point in marks.items():
        ax.plot(*point, "D", color="tab:purple", mec="k", ms=7, label=label, zorder=6)
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_xlabel("leader's move $x$")
    ax.set_ylabel("follower's move $y$")
    ax.grid(alpha=0.3)
    return ax
