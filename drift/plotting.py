"""Figures shared by the chapters and the CLI."""
from __future__ import annotations

from typing import Sequence

import numpy as np

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
        _, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics) + 1.5, 3.0), squeeze=False, layout="constrained")
        axes = axes[0]
    for label, runs in histories.items():
        steps = np.asarray(runs[0].step)
        for ax, metric in zip(axes, metrics):
            values = np.asarray([getattr(h, metric) for h in runs], dtype=float)  # (seeds, evals)
            mean, std = values.mean(0), values.std(0)
            (line,) = ax.plot(steps, mean, label=label)
            if len(runs) > 1:
                ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
    for ax, metric in zip(axes, metrics):
        ax.set_xlabel("step")
        ax.set_ylabel(CURVES[metric])
        ax.grid(alpha=0.3)
        if metric.endswith("flip_rate"):  # from ~1 after the first steps down to a few in a thousand
            ax.set_yscale("log")
    fig = axes[0].figure
    if own_figure:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    else:
        axes[0].legend(fontsize="small")
    return fig
