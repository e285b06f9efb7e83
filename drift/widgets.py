"""ipywidgets explorers used by the chapters (one function per chapter knob).

Each function builds and returns a widget; ipywidgets is imported lazily so that the package
itself does not need it (`pip install "drift-book[book]"` brings it).
"""
from __future__ import annotations


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError('the widgets need ipywidgets: pip install "drift-book[book]"') from err
    return ipywidgets


def stackelberg_game_explorer(*, lr: float = 0.1, steps: int = 150, start: tuple[float, float] = (-1.0, -1.0)):
    """Chapter 3: a coupling slider for `games.QuadraticGame.example`; each move redraws the
    simultaneous, alternating and Stackelberg gradient play from `start` (phase portrait) and
    their distance to the Stackelberg equilibrium (log axis). Pure NumPy: an update takes
    milliseconds plus the drawing. Returns an `ipywidgets.interactive`."""
    widgets = _ipywidgets()
    import matplotlib.pyplot as plt
    import numpy as np

    from . import games

    def update(coupling=2.0):
        game = games.QuadraticGame.example(coupling)
        paths = {name: games.play(game, name, *start, lr=lr, steps=steps) for name in games.DYNAMICS}
        target = game.stackelberg_equilibrium()
        fig, (ax_plane, ax_dist) = plt.subplots(1, 2, figsize=(9.5, 3.8), layout="constrained")
        games.plot_phase_portrait(game, paths, ax=ax_plane, box=(-2.5, 2.5, -2.5, 2.5))
        for name, path in paths.items():
            ax_dist.semilogy(np.linalg.norm(path - target, axis=1), label=name, **games.STYLES[name])
        ax_dist.set_ylim(bottom=1e-13)
        ax_dist.set_xlabel("step")
        ax_dist.set_ylabel("distance to the Stackelberg equilibrium")
        ax_dist.grid(alpha=0.3)
        ax_dist.legend(fontsize="small")
        ax_plane.set_title(f"coupling k = {coupling:.2f}", fontsize="medium")
        plt.show()

    slider = widgets.FloatSlider(
        value=2.0, min=1.2, max=3.0, step=0.1, description="coupling k", continuous_update=False,
    )
    return widgets.interactive(update, coupling=slider)


def refresh_period_explorer(
    runs: dict | None = None, *, reference=None, data=None, periods=(5, 10, 20, 50, 100),
    steps: int = 300, eval_every: int = 10, seed: int = 0, **train_kwargs,
):
    """Chapter 2: a slider over the refresh period K of alternating self-training.

    runs: {K: History} of alternating runs with refresh_every=K (e.g. from `drift.compare`).
    When None, trains the "alternating" preset once per K in `periods` on `data` (default:
    digits, 2 labels per class) for `steps` steps with `seed` (seconds on a CPU); `train_kwargs`
    go to `drift.train`. reference: an optional History (e.g. mean teacher) drawn in grey.
    A move of the slider only redraws the precomputed curves: test accuracy with the teacher's
    refreshes marked, and the teacher's label flip rate (%) per evaluation. Returns an
    `ipywidgets.interactive`.
    """
    widgets = _ipywidgets()
    import matplotlib.pyplot as plt
    import numpy as np

    if runs is None:
        from .data import load_data
        from .experiments import compare
        from .methods import get_method

        data = load_data("digits", labels_per_class=2, seed=seed) if data is None else data
        methods = [get_method("alternating", refresh_every=int(k), name=f"K={int(k)}") for k in periods]
        results = compare(methods, data, seeds=[seed], steps=steps, eval_every=eval_every, progress=False, **train_kwargs)
        runs = {int(k): results.histories[f"K={int(k)}"][0] for k in periods}
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict {refresh period K: History}; or pass runs=None to train them")
    runs = dict(sorted(runs.items()))

    def update(period=None):
        h = runs[period]
        steps_ = np.asarray(h.step)
        fig, (ax_acc, ax_flip) = plt.subplots(1, 2, figsize=(10, 3.4))  # no layout engine: faster redraws
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
        if reference is not None:
            ax_acc.plot(reference.step, reference.test_accuracy, color="0.6", label=reference.method)
            ax_flip.plot(reference.step, 100 * np.asarray(reference.label_flip_rate), color="0.6", label=reference.method)
        ax_acc.plot(steps_, h.test_accuracy, color="C3", label=f"alternating, K = {period}")
        if steps_[-1] / period <= 40:  # mark the refreshes while they stay readable
            ax_acc.vlines(range(period, int(steps_[-1]) + 1, period), 0, 1, transform=ax_acc.get_xaxis_transform(),
                          color="C3", lw=0.6, ls=":", alpha=0.6)
        flips = 100 * np.asarray(h.label_flip_rate)
        ax_flip.bar(steps_[flips > 0], flips[flips > 0], width=0.8 * np.min(np.diff(steps_), initial=steps_[0]), color="C3",
                    label=f"alternating, K = {period}")
        ax_flip.set_yscale("log")
        ax_acc.set_title(f"oscillation over the second half: {h.oscillation:.2f} pp", fontsize="medium")
        ax_acc.set_ylabel("test accuracy (%)")
        ax_flip.set_ylabel("pseudo-labels changed since the last evaluation (%)", fontsize="small")
        for ax in (ax_acc, ax_flip):
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        plt.show()

    keys = list(runs)
    slider = widgets.SelectionSlider(
        options=keys, value=keys[len(keys) // 2], description="refresh K", continuous_update=False,
    )
    return widgets.interactive(update, period=slider)


def self_training_explorer(*, seed: int = 0, steps: int = 100, max_labels: int = 20, **train_kwargs):
    """Chapter 1: sliders for the labels per class and the confidence threshold gamma, on two moons.

    For a number of labels per class, trains a supervised student for `steps` steps on the
    two-moons split `seed` (the first teacher of alternating self-training; cached, a fraction of
    a second on a CPU; `train_kwargs` go to `drift.train`). For a threshold it keeps the
    teacher's pseudo-labels with max p >= gamma and draws the labeled points, the kept
    pseudo-labels (wrong ones crossed), the dropped unlabeled points (grey) and the teacher's
    decision boundary; the title gives the coverage and the accuracy of the kept labels. Each
    update returns {"coverage": ..., "accuracy": ...} (fractions; accuracy NaN when nothing is
    kept), readable as `widget.result`. Returns an `ipywidgets.interactive`.
    """
    widgets = _ipywidgets()
    import functools
    import math

    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from .data import load_data
    from .teacher import eval_mode
    from .trainer import train
    from .weights import threshold_weights

    train_kwargs = {"device": "cpu", **train_kwargs}  # a tiny MLP: the CPU is the fast choice

    @functools.lru_cache(maxsize=None)
    def first_teacher(labels_per_class: int):
        data = load_data("two_moons", labels_per_class=labels_per_class, seed=seed)
        model = train("supervised", data, steps=steps, seed=seed, eval_every=steps, progress=False, **train_kwargs).model
        x_all = torch.cat([data.x_labeled, data.x_unlabeled, data.x_test])
        lo, hi = (x_all.min(0).values - 0.3).tolist(), (x_all.max(0).values + 0.3).tolist()
        gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 120), torch.linspace(lo[1], hi[1], 120), indexing="xy")
        with torch.no_grad(), eval_mode(model):
            probs = torch.softmax(model(data.x_unlabeled.to(next(model.parameters()).device)), -1).cpu()  # (N_u, 2)
            grid = model(torch.stack([gx.ravel(), gy.ravel()], 1).to(next(model.parameters()).device)).softmax(-1)
        return data, probs, (gx.numpy(), gy.numpy(), grid[:, 1].reshape(gx.shape).cpu().numpy())

    def update(labels_per_class=3, threshold=0.8):
        data, probs, (gx, gy, p1) = first_teacher(int(labels_per_class))
        keep = threshold_weights(probs, threshold).bool()  # (N_u,)
        labels = probs.argmax(-1)
        right = labels == data.y_unlabeled
        coverage = keep.float().mean().item()
        accuracy = right[keep].float().mean().item() if keep.any() else math.nan
        fig, ax = plt.subplots(figsize=(6.8, 4.6), layout="constrained")
        ax.contourf(gx, gy, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.25)
        ax.contour(gx, gy, p1, levels=[0.5], colors="k", linewidths=1)
        xu, xl = data.x_unlabeled.numpy(), data.x_labeled.numpy()
        ax.scatter(*xu[~keep.numpy()].T, s=8, color="0.7", label="dropped: max p < γ")
        for c, color in enumerate(("tab:blue", "tab:red")):
            ax.scatter(*xu[(keep & (labels == c)).numpy()].T, s=10, color=color, label=f"pseudo-label {c}")
        ax.scatter(*xu[(keep & ~right).numpy()].T, s=30, marker="x", color="k", lw=1, label="wrong pseudo-label")
        ax.scatter(*xl.T, s=160, marker="*", c=np.array(["tab:blue", "tab:red"])[data.y_labeled.numpy()],
                   edgecolors="k", label="labeled")
        acc_text = "n/a" if math.isnan(accuracy) else f"{100 * accuracy:.1f}%"
        ax.set_title(f"{labels_per_class} labels/class, γ = {threshold:.2f}: coverage {100 * coverage:.0f}%, "
                     f"accuracy of kept labels {acc_text}", fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
        plt.show()
        return {"coverage": coverage, "accuracy": accuracy}

    return widgets.interactive(
        update,
        labels_per_class=widgets.IntSlider(value=3, min=1, max=max_labels, description="labels/class",
                                           continuous_update=False),
        threshold=widgets.FloatSlider(value=0.8, min=0.5, max=0.99, step=0.01, description="threshold γ",
                                      readout_format=".2f", continuous_update=False),
    )
