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


def stackelberg_game_explorer(
    *, lr: float = 0.1, steps: int = 150, start: tuple[float, float] = (-1.0, -1.0)
):
    """Chapter 3: a coupling slider (κ from 0.3 to 3) for `games.QuadraticGame.example`; each move
    redraws the simultaneous, sequential and Stackelberg gradient play from `start` (phase
    portrait) and their distance to the Stackelberg equilibrium (log axis). Below κ = 1/sqrt(2)
    the game has no Stackelberg equilibrium: the right panel then shows the distance to the
    origin and says so. Pure NumPy: an update takes milliseconds plus the drawing. Returns an
    `ipywidgets.interactive`."""
    widgets = _ipywidgets()
    import matplotlib.pyplot as plt
    import numpy as np

    from .. import plotting
    from . import games

    names = ("simultaneous", "sequential", "stackelberg")

    def update(coupling=2.0):
        game = games.QuadraticGame.example(coupling)
        paths = {name: games.play(game, name, *start, lr=lr, steps=steps) for name in names}
        try:
            target, what = game.stackelberg_equilibrium(), "distance to the Stackelberg equilibrium"
            title = f"coupling κ = {coupling:.2f}"
        except ValueError:  # κ <= 1/sqrt(2): the leader's total cost is concave
            target, what = np.zeros(2), "distance to the origin"
            title = f"coupling κ = {coupling:.2f}: no Stackelberg equilibrium (total cost concave)"
        fig, (ax_plane, ax_dist) = plt.subplots(1, 2, figsize=(9.5, 3.8), layout="constrained")
        plotting.plot_phase_portrait(game, paths, ax=ax_plane, box=(-2.5, 2.5, -2.5, 2.5))
        with np.errstate(over="ignore", invalid="ignore"):
            for name, path in paths.items():
                ax_dist.semilogy(
                    np.linalg.norm(path - target, axis=1), label=name, **plotting.GAME_STYLES[name]
                )
        ax_dist.set_ylim(bottom=1e-13)
        ax_dist.set_xlabel("step")
        ax_dist.set_ylabel(what)
        ax_dist.grid(alpha=0.3)
        ax_dist.legend(fontsize="small")
        fig.suptitle(title, fontsize="medium")
        plt.show()

    slider = widgets.FloatSlider(
        value=2.0,
        min=0.3,
        max=3.0,
        step=0.1,
        description="coupling κ",
        continuous_update=False,
    )
    return widgets.interactive(update, coupling=slider)


def refresh_period_explorer(
    runs: dict | None = None,
    *,
    reference=None,
    data=None,
    periods=(5, 10, 20, 50, 100),
    steps: int = 300,
    eval_every: int = 10,
    seed: int = 0,
    **train_kwargs,
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
        from ..data.datasets import load_data
        from ..experiments.comparison import compare
        from ..core.methods import get_method

        data = load_data("digits", labels_per_class=2, seed=seed) if data is None else data
        methods = [
            get_method("alternating", refresh_every=int(k), name=f"K={int(k)}") for k in periods
        ]
        results = compare(
            methods,
            data,
            seeds=[seed],
            steps=steps,
            eval_every=eval_every,
            progress=False,
            **train_kwargs,
        )
        runs = {int(k): results.histories[f"K={int(k)}"][0] for k in periods}
    if not isinstance(runs, dict) or not runs:
        raise ValueError(
            "runs must be a non-empty dict {refresh period K: History}; or pass runs=None to train "
            "them"
        )
    runs = dict(sorted(runs.items()))

    def update(period=None):
        h = runs[period]
        steps_ = np.asarray(h.step)
        # no layout engine: faster redraws
        fig, (ax_acc, ax_flip) = plt.subplots(1, 2, figsize=(10, 3.4))
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
        if reference is not None:
            ax_acc.plot(
                reference.step, reference.test_accuracy, color="0.6", label=reference.method
            )
            ax_flip.plot(
                reference.step,
                100 * np.asarray(reference.label_flip_rate),
                color="0.6",
                label=reference.method,
            )
        ax_acc.plot(steps_, h.test_accuracy, color="C3", label=f"alternating, K = {period}")
        if steps_[-1] / period <= 40:  # mark the refreshes while they stay readable
            ax_acc.vlines(
                range(period, int(steps_[-1]) + 1, period),
                0,
                1,
                transform=ax_acc.get_xaxis_transform(),
                color="C3",
                lw=0.6,
                ls=":",
                alpha=0.6,
            )
        flips = 100 * np.asarray(h.label_flip_rate)
        ax_flip.bar(
            steps_[flips > 0],
            flips[flips > 0],
            width=0.8 * np.min(np.diff(steps_), initial=steps_[0]),
            color="C3",
            label=f"alternating, K = {period}",
        )
        ax_flip.set_yscale("log")
        ax_acc.set_title(
            f"oscillation over the second half: {h.oscillation:.2f} pp", fontsize="medium"
        )
        ax_acc.set_ylabel("test accuracy (%)")
        ax_flip.set_ylabel("pseudo-labels changed since the last evaluation (%)", fontsize="small")
        for ax in (ax_acc, ax_flip):
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        plt.show()

    keys = list(runs)
    slider = widgets.SelectionSlider(
        options=keys,
        value=keys[len(keys) // 2],
        description="refresh K",
        continuous_update=False,
    )
    return widgets.interactive(update, period=slider)


def self_training_explorer(
    *, seed: int = 0, steps: int = 100, max_labels: int = 20, **train_kwargs
):
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

    from ..core.weights import threshold_weights
    from ..data.datasets import load_data
    from ..models import eval_mode
    from ..plotting import Grid, plot_class_map
    from ..training.loop import train

    train_kwargs = {"device": "cpu", **train_kwargs}  # a tiny MLP: the CPU is the fast choice

    @functools.lru_cache(maxsize=None)
    def first_teacher(labels_per_class: int):
        data = load_data("two_moons", labels_per_class=labels_per_class, seed=seed)
        model = train(
            "supervised",
            data,
            steps=steps,
            seed=seed,
            eval_every=steps,
            progress=False,
            **train_kwargs,
        ).model
        grid = Grid.around(data.x_labeled, data.x_unlabeled, data.x_test, n=120)
        device = next(model.parameters()).device
        with torch.no_grad(), eval_mode(model):
            probs = torch.softmax(model(data.x_unlabeled.to(device)), -1).cpu()  # (N_u, 2)
            p1 = grid.reshape(model(grid.points.to(device)).softmax(-1)[:, 1].cpu())  # (n, n)
        return data, probs, grid, p1

    def update(labels_per_class=3, threshold=0.8):
        data, probs, grid, p1 = first_teacher(int(labels_per_class))
        keep = threshold_weights(probs, threshold).bool()  # (N_u,)
        labels = probs.argmax(-1)
        right = labels == data.y_unlabeled
        coverage = keep.float().mean().item()
        accuracy = right[keep].float().mean().item() if keep.any() else math.nan
        fig, ax = plt.subplots(figsize=(6.8, 4.6), layout="constrained")
        plot_class_map(ax, grid, p1)
        xu, xl = data.x_unlabeled.numpy(), data.x_labeled.numpy()
        ax.scatter(*xu[~keep.numpy()].T, s=8, color="0.7", label="dropped: max p < γ")
        for c, color in enumerate(("tab:blue", "tab:red")):
            ax.scatter(
                *xu[(keep & (labels == c)).numpy()].T, s=10, color=color, label=f"pseudo-label {c}"
            )
        ax.scatter(
            *xu[(keep & ~right).numpy()].T,
            s=30,
            marker="x",
            color="k",
            lw=1,
            label="wrong pseudo-label",
        )
        ax.scatter(
            *xl.T,
            s=160,
            marker="*",
            c=np.array(["tab:blue", "tab:red"])[data.y_labeled.numpy()],
            edgecolors="k",
            label="labeled",
        )
        acc_text = "n/a" if math.isnan(accuracy) else f"{100 * accuracy:.1f}%"
        ax.set_title(
            f"{labels_per_class} labels/class, γ = {threshold:.2f}: coverage "
            f"{100 * coverage:.0f}%, accuracy of kept labels {acc_text}",
            fontsize="medium",
        )
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
        plt.show()
        return {"coverage": coverage, "accuracy": accuracy}

    return widgets.interactive(
        update,
        labels_per_class=widgets.IntSlider(
            value=3, min=1, max=max_labels, description="labels/class", continuous_update=False
        ),
        threshold=widgets.FloatSlider(
            value=0.8,
            min=0.5,
            max=0.99,
            step=0.01,
            description="threshold γ",
            readout_format=".2f",
            continuous_update=False,
        ),
    )


def weight_path_explorer(*, num_classes: int = 10):
    """Chapter 5: one unlabeled example whose teacher logits are g = (m, 0, ..., 0) (margin m).

    Sliders for the margin m and the threshold gamma. Left: threshold weight 1[max p >= gamma]
    and entropy weight 1 - H(p)/log C against m, with the current m marked. Right: the teacher
    probabilities p and the descent direction of the weight path on the logits, -dw/dg (for a
    positive cross-entropy CE_j the leader's gradient on g_j is lam/|B_u| * CE_j * dw/dg, so one
    step moves g along -dw/dg: the top logit down, the others up, i.e. toward uncertainty); the
    threshold weight has no such direction (its gradient is zero). Pure torch on one vector:
    an update takes milliseconds plus the drawing. Returns an `ipywidgets.interactive`.
    """
    widgets = _ipywidgets()
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from ..validation import check_integer
    from ..core.weights import entropy_weights, threshold_weights

    num_classes = check_integer("num_classes", num_classes, minimum=2)
    margins = torch.linspace(0.0, 10.0, 201, dtype=torch.float64)
    curve_logits = torch.zeros(len(margins), num_classes, dtype=torch.float64)
    curve_logits[:, 0] = margins
    curve_probs = torch.softmax(curve_logits, -1)
    entropy_curve = entropy_weights(curve_probs).numpy()

    def update(margin=3.0, threshold=0.8):
        g = torch.zeros(num_classes, dtype=torch.float64)
        g[0] = margin
        g.requires_grad_(True)
        p = torch.softmax(g, -1)
        w_entropy = entropy_weights(p[None])[0]
        (grad,) = torch.autograd.grad(w_entropy, g)
        w_threshold = threshold_weights(p[None].detach(), threshold)[0].item()
        descent = (-grad).numpy()

        fig, (ax_w, ax_g) = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
        ax_w.plot(margins, entropy_curve, label="entropy weight $1 - H(p)/\\log C$")
        ax_w.plot(
            margins,
            threshold_weights(curve_probs, threshold).numpy(),
            label=f"threshold weight, γ = {threshold:.2f}",
        )
        ax_w.axvline(margin, color="k", lw=0.8, ls="--")
        ax_w.set_xlabel("teacher logit margin m")
        ax_w.set_ylabel("weight w")
        ax_w.set_ylim(-0.05, 1.05)
        ax_w.grid(alpha=0.3)
        ax_w.legend(fontsize="small", loc="lower right")
        k = np.arange(num_classes)
        ax_g.bar(k - 0.2, p.detach().numpy(), width=0.4, label="teacher probability $p_c$")
        ax_g.bar(
            k + 0.2,
            descent,
            width=0.4,
            color="tab:red",
            label="weight-path step on $g_c$ ($-\\partial w/\\partial g_c$)",
        )
        ax_g.axhline(0, color="k", lw=0.8)
        ax_g.set_xticks(k)
        ax_g.set_xlabel("class c (class 0 is the teacher's pick)")
        ax_g.legend(fontsize="small", loc="upper right")
        ax_g.set_title(
            f"w_entropy = {w_entropy.item():.2f}, w_threshold = {w_threshold:.0f}",
            fontsize="medium",
        )
        plt.show()
        return {
            "entropy_weight": w_entropy.item(),
            "threshold_weight": w_threshold,
            "descent": descent,
        }

    return widgets.interactive(
        update,
        margin=widgets.FloatSlider(
            value=3.0,
            min=0.0,
            max=10.0,
            step=0.1,
            description="margin m",
            readout_format=".1f",
            continuous_update=False,
        ),
        threshold=widgets.FloatSlider(
            value=0.8,
            min=0.5,
            max=0.99,
            step=0.01,
            description="threshold γ",
            readout_format=".2f",
            continuous_update=False,
        ),
    )


def label_temperature_explorer(logits=None, *, taus=None):
    """Chapter 4: a temperature slider for soft pseudo-labels softmax(g / tau).

    logits: a few rows of teacher logits, (R, C) (default: three fixed rows of 4 classes, from
    confident to unsure). For the slider's tau it draws each row's soft label (bars) next to its
    hard label (outlined), and the Frobenius norm of the Jacobian d softmax(g / tau) / d g
    (autograd through `drift.soft_labels`) against tau, precomputed on a grid (log axes), with the
    current tau marked. Hard labels have a zero Jacobian; straight-through labels share the soft
    one. Each update returns {"labels": (R, C) array, "jacobian_norms": (R,) array}, readable as
    `widget.result`. Returns an `ipywidgets.interactive`.
    """
    widgets = _ipywidgets()
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from torch.func import jacrev, vmap

    from ..core.labels import hard_labels, soft_labels

    g = (
        torch.tensor(
            [[3.0, 1.0, 0.5, 0.0], [1.2, 1.0, 0.2, 0.0], [0.3, 0.2, 0.1, 0.0]], dtype=torch.float64
        )
        if logits is None
        else torch.as_tensor(logits, dtype=torch.float64)
    )
    if g.ndim != 2 or g.shape[1] < 2:
        raise ValueError(
            f"logits must have shape (rows, classes) with >= 2 classes; got {tuple(g.shape)}"
        )
    taus = (
        np.round(np.geomspace(0.1, 10.0, 41), 3) if taus is None else np.asarray(taus, dtype=float)
    )

    def jacobian_norms(tau: float) -> np.ndarray:
        jac = vmap(jacrev(lambda row: soft_labels(row, tau)))(g)  # (R, C, C)
        return jac.flatten(1).norm(dim=1).numpy()

    norms = np.stack([jacobian_norms(float(t)) for t in taus])  # (len(taus), R)
    hard = hard_labels(g).numpy()

    def update(tau=1.0):
        labels = soft_labels(g, tau).numpy()  # (R, C)
        current = jacobian_norms(tau)
        fig, (ax_bar, ax_jac) = plt.subplots(1, 2, figsize=(10, 3.4))
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.88, wspace=0.28)
        n_rows, n_classes = labels.shape
        width = 0.8 / n_rows
        for r in range(n_rows):
            x = np.arange(n_classes) + (r - (n_rows - 1) / 2) * width
            ax_bar.bar(
                x,
                labels[r],
                width,
                color=f"C{r}",
                label=f"row {r}: g = {np.round(g[r].numpy(), 1).tolist()}",
            )
            ax_bar.bar(x, hard[r], width, fill=False, edgecolor=f"C{r}", lw=1, ls="--")
        ax_bar.set(
            xticks=range(n_classes),
            xlabel="class c",
            ylabel=r"soft label $\tilde y_c$",
            ylim=(0, 1.05),
        )
        ax_bar.set_title(f"τ = {tau:.2f} (dashed: hard labels)", fontsize="medium")
        ax_bar.legend(fontsize="x-small")
        for r in range(n_rows):
            ax_jac.loglog(taus, norms[:, r], color=f"C{r}", label=f"row {r}")
            ax_jac.plot(tau, current[r], "o", color=f"C{r}")
        ax_jac.axvline(tau, color="0.5", lw=0.8, ls=":")
        ax_jac.set(xlabel="temperature τ", ylabel=r"$\|\partial \tilde y / \partial g\|_F$")
        ax_jac.set_title("Jacobian norm (hard labels: 0)", fontsize="medium")
        ax_jac.grid(alpha=0.3, which="both")
        ax_jac.legend(fontsize="x-small")
        plt.show()
        return {"labels": labels, "jacobian_norms": current}

    slider = widgets.FloatLogSlider(
        value=1.0,
        base=10,
        min=-1,
        max=1,
        step=0.05,
        description="τ",
        readout_format=".2f",
        continuous_update=False,
    )
    return widgets.interactive(update, tau=slider)


def method_comparison_explorer(results, *, references: dict | None = None):
    """Chapter 6: pick methods and a metric of a precomputed `drift.Results` to compare.

    results: a `drift.Results` (e.g. from `drift.compare`). references: optional
    {label: per-seed final test accuracies} (e.g. scikit-learn rows) drawn as dots in the
    right panel. The left panel draws the chosen metric against step (mean ± std over seeds,
    `drift.plotting.plot_histories`); the right one each seed's final test accuracy, with lines
    joining the same seed across methods (the pairing behind `Results.paired`). An update only
    redraws precomputed numbers. Returns an `ipywidgets.interactive`.
    """
    widgets = _ipywidgets()
    import matplotlib.pyplot as plt

    from ..plotting import CURVES, plot_finals, plot_histories

    methods = list(getattr(results, "methods", []))
    if not methods:
        raise ValueError(
            "results must be a drift.Results with at least one method (e.g. from drift.compare)"
        )
    references = dict(references or {})

    def update(chosen=tuple(methods), metric="test_accuracy"):
        chosen = [m for m in methods if m in chosen] or methods[:1]
        fig, (ax_curve, ax_final) = plt.subplots(
            1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": (3, 2)}
        )
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.28, top=0.92, wspace=0.3)
        plot_histories({m: results.histories[m] for m in chosen}, metrics=[metric], axes=[ax_curve])
        plot_finals(results, references, methods=chosen, ax=ax_final)
        ax_final.set_ylabel("final test accuracy (%)")
        ax_curve.set_title(CURVES[metric], fontsize="medium")
        plt.show()
        return {m: float(results.final(m).mean()) for m in chosen}

    return widgets.interactive(
        update,
        chosen=widgets.SelectMultiple(
            options=methods, value=tuple(methods), description="methods", rows=min(6, len(methods))
        ),
        metric=widgets.Dropdown(
            options=[(v, k) for k, v in CURVES.items()], value="test_accuracy", description="metric"
        ),
    )
