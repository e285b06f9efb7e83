"""Weak supervision (chapter 7): labeling functions vote on the training inputs, a majority
vote turns the votes into noisy labels, and no clean training label is ever handed to training.

`load_weak_data` builds such a split from a built-in data set of `drift.data`; `apply_lfs`,
`lf_stats`, `majority_vote` and `add_label_noise` are its steps, usable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import text
from .datasets import BUILDERS, as_inputs, check_source, per_class
from .splits import SemiSupervisedData
from ..inputs import as_tensor as _as_tensor
from ..metrics import accuracy
from ..tables import Table
from ..core.teacher import eval_mode
from ..validation import check_integer

ABSTAIN = -1
"""The vote of a labeling function that does not apply to an example."""


@dataclass(frozen=True)
class HalfPlane:
    """A labeling function: votes `label` where w . x > b, abstains elsewhere.

    Called on raw inputs x (N, D) with D = len(w); returns votes (N,) int64 in {ABSTAIN, label}.
    """

    name: str
    w: tuple[float, ...]
    b: float
    label: int

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.w):
            raise ValueError(
                f"x must have shape (N, {len(self.w)}) for labeling function {self.name!r}; got "
                f"{x.shape}"
            )
        return np.where(x @ np.asarray(self.w, dtype=float) > self.b, self.label, ABSTAIN).astype(
            np.int64
        )


TWO_MOONS_LFS = (
    HalfPlane("top: y > 0.55 -> 0", (0.0, 1.0), 0.55, 0),
    HalfPlane("bottom: y < -0.15 -> 1", (0.0, -1.0), 0.15, 1),
    HalfPlane("far left: x < -0.3 -> 0", (-1.0, 0.0), 0.3, 0),
    HalfPlane("far right: x > 1.3 -> 1", (1.0, 0.0), 1.3, 1),
    HalfPlane("left: x < 0 -> 0", (-1.0, 0.0), 0.0, 0),
    HalfPlane("right: x > 1 -> 1", (1.0, 0.0), 1.0, 1),
)
"""Half-plane rules on the raw two-moons coordinates (upper moon = class 0): four precise rules
at the tips and edges, two broad ones ("left", "right") that also fire on the other moon's tip."""


def _check_votes(votes, num_classes: int | None = None) -> Tensor:
    votes = _as_tensor("votes", votes)
    if (
        votes.ndim != 2
        or votes.is_floating_point()
        or votes.is_complex()
        or votes.dtype == torch.bool
    ):
        raise ValueError(
            "votes must be an integer array of shape (N, L), one column per labeling function; "
            f"got {votes.dtype} {tuple(votes.shape)}"
        )
    votes = votes.long()
    top = f"num_classes - 1 = {num_classes - 1}" if num_classes is not None else "a class index"
    if votes.numel() and (
        votes.min() < ABSTAIN or (num_classes is not None and votes.max() >= num_classes)
    ):
        raise ValueError(
            f"votes must be ABSTAIN (-1) or class indices 0..{top}; found "
            f"{int(votes.min())}..{int(votes.max())}"
        )
    return votes


def _vote_counts(votes: Tensor, num_classes: int) -> Tensor:
    """Votes per class: votes (N, L) -> counts (N, num_classes)."""
    return torch.stack([(votes == c).sum(1) for c in range(num_classes)], 1)


def apply_lfs(lfs, x, num_classes: int) -> Tensor:
    """Votes of every labeling function on x: (N, L) int64, ABSTAIN (-1) where a rule does not
    apply.

    lfs: callables mapping x (N, ...) to votes (N,) in {ABSTAIN, 0..num_classes-1}.
    """
    lfs = list(lfs)
    if not lfs or not all(callable(lf) for lf in lfs):
        raise ValueError(
            "lfs must be a non-empty sequence of callables (labeling functions), e.g. "
            "drift.data.weak.TWO_MOONS_LFS"
        )
    n = len(x)
    columns = []
    for lf in lfs:
        v = np.asarray(lf(x))
        if v.shape != (n,):
            raise ValueError(
                f"labeling function {_lf_name(lf)!r} must return one vote per example, shape "
                f"({n},); got {v.shape}"
            )
        columns.append(v)
    return _check_votes(np.stack(columns, axis=1), num_classes)


def _lf_name(lf) -> str:
    return getattr(lf, "name", None) or getattr(lf, "__name__", type(lf).__name__)


@dataclass(frozen=True)
class LFStats:
    """Statistics of L labeling functions over N examples, each an array (L,).

    coverage: fraction of the N examples a function votes on; overlap: fraction where it and
    at least one other function vote; conflict: fraction where another function votes a
    different class; accuracy: fraction of its votes that are right (NaN without true labels
    or votes).
    """

    names: tuple[str, ...]
    coverage: np.ndarray
    overlap: np.ndarray
    conflict: np.ndarray
    accuracy: np.ndarray

    def table(self) -> Table:
        """A markdown `Table`, one row per labeling function, in %; a bare `stats` in a notebook
        cell shows it rendered."""
        columns = (self.coverage, self.overlap, self.conflict, self.accuracy)
        rows = [
            [name, *(f"{100 * c[i]:.1f}" for c in columns)] for i, name in enumerate(self.names)
        ]
        return Table.from_rows(
            ["labeling function", "coverage (%)", "overlap (%)", "conflict (%)", "accuracy (%)"],
            rows,
        )

    def _repr_markdown_(self) -> str:
        return self.table()

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython's plain-text view: the same table
        printer.text(self.table())


def lf_stats(votes, y=None, *, names=None) -> LFStats:
    """Coverage, overlap, conflict and (with true labels y (N,)) accuracy of each column of votes
    (N, L)."""
    votes = _check_votes(votes)
    n, L = votes.shape
    if n == 0:
        raise ValueError("votes must cover at least one example (N >= 1)")
    names = tuple(names) if names is not None else tuple(f"lf{i}" for i in range(L))
    if len(names) != L:
        raise ValueError(f"names must hold one name per labeling function ({L}); got {len(names)}")
    voted = votes != ABSTAIN  # (N, L)
    others = voted.sum(1, keepdim=True) - voted.long()  # (N, L) other functions voting
    # Another function votes a different class: some class other than mine gets a vote.
    counts = (
        _vote_counts(votes, int(votes.max()) + 1)
        if voted.any()
        else torch.zeros(n, 1, dtype=torch.long)
    )
    same = counts.gather(1, votes.clamp(min=0)) - 1  # (N, L) others voting my class
    coverage = voted.double().mean(0)
    overlap = (voted & (others > 0)).double().mean(0)
    conflict = (voted & (others > same)).double().mean(0)
    accuracy = torch.full((L,), float("nan"), dtype=torch.float64)
    if y is not None:
        y = _as_tensor("y", y)
        if y.shape != (n,) or y.is_floating_point():
            raise ValueError(
                f"y must hold integer true labels of shape ({n},); got {y.dtype} {tuple(y.shape)}"
            )
        right = (votes == y.long()[:, None]) & voted
        hits = voted.sum(0)
        accuracy = torch.where(hits > 0, right.sum(0).double() / hits.clamp(min=1), accuracy)
    return LFStats(names, coverage.numpy(), overlap.numpy(), conflict.numpy(), accuracy.numpy())


def majority_vote(votes, num_classes: int) -> Tensor:
    """Aggregate votes (N, L) into one label per example, (N,) int64.

    The class with the most votes wins. Tie rule: a tie between the top classes, like an example
    no function votes on, gets ABSTAIN (no majority, no label); it stays unlabeled.
    """
    votes = _check_votes(votes, num_classes)
    counts = _vote_counts(votes, num_classes)  # (N, C)
    top = counts.max(1).values
    unique = (counts == top[:, None]).sum(1) == 1
    return torch.where((top > 0) & unique, counts.argmax(1), torch.full_like(top, ABSTAIN))


def add_label_noise(weak, y_true, noise_rate: float, num_classes: int, *, seed: int = 0) -> Tensor:
    """Weak labels (N,) whose wrong fraction, among the non-ABSTAIN ones, is exactly `noise_rate`
    (rounded to a whole example), for sweeps of the noise rate.

    Labels already wrong stay as they are; round(noise_rate * n) - (wrong so far) right ones,
    drawn at random, are replaced by a uniformly drawn other class. `noise_rate` below the
    labels' own error rate is refused: noise can be added, not removed. Returns a new tensor.
    """
    weak = _as_tensor("weak", weak).long()
    y_true = _as_tensor("y_true", y_true).long()
    if weak.ndim != 1 or y_true.shape != weak.shape:
        raise ValueError(
            f"weak and y_true must both have shape (N,); got {tuple(weak.shape)} and "
            f"{tuple(y_true.shape)}"
        )
    if not 0.0 <= noise_rate < 1.0:
        raise ValueError(
            f"noise_rate must be in [0, 1) (the fraction of wrong weak labels); got {noise_rate}"
        )
    labeled = torch.nonzero(weak != ABSTAIN).flatten()
    if len(labeled) == 0:
        raise ValueError("weak holds no labels (all ABSTAIN): there is nothing to add noise to")
    wrong = int((weak[labeled] != y_true[labeled]).sum())
    target = round(noise_rate * len(labeled))
    if target < wrong:
        raise ValueError(
            f"noise_rate must be at least {wrong / len(labeled):.4f}, the weak labels' own error "
            f"rate (noise can be added, not removed); got {noise_rate}"
        )
    rng = np.random.default_rng(seed)
    right = labeled[weak[labeled] == y_true[labeled]].numpy()
    flip = torch.from_numpy(rng.choice(right, target - wrong, replace=False)).long()
    shift = torch.from_numpy(rng.integers(1, num_classes, len(flip)))  # another class, uniformly
    noisy = weak.clone()
    noisy[flip] = (y_true[flip] + shift) % num_classes
    return noisy


@dataclass
class WeakSupervision:
    """A weakly supervised split: no clean training label reaches training.

    data: labeled = the training examples the majority vote labels, with those noisy labels;
        unlabeled = every training example (y_unlabeled holds their true labels for analysis
        only: pseudo-label accuracy, noise rate); test = the clean test split.
    x_val, y_val: a small clean validation split (for model selection), kept out of `data`.
    votes: (N_unlabeled, L) the labeling functions' votes on data.x_unlabeled.
    labeled_index: (N_labeled,) the rows of data.x_unlabeled that data.x_labeled holds.
    """

    data: SemiSupervisedData
    x_val: Tensor
    y_val: Tensor
    votes: Tensor
    labeled_index: Tensor
    lf_names: tuple[str, ...]

    @property
    def noise_rate(self) -> float:
        """Fraction of the weak labels that are wrong (read from the hidden true labels)."""
        return (
            (self.data.y_labeled != self.data.y_unlabeled[self.labeled_index])
            .double()
            .mean()
            .item()
        )

    @property
    def coverage(self) -> float:
        """Fraction of the training examples that got a weak label."""
        return len(self.labeled_index) / len(self.data.x_unlabeled)

    def stats(self) -> LFStats:
        """Each labeling function's coverage, overlap, conflict and accuracy on the training set."""
        return lf_stats(self.votes, self.data.y_unlabeled, names=self.lf_names)

    @torch.no_grad()
    def validation_accuracy(self, model: torch.nn.Module) -> float:
        """Accuracy (%) of `model` on the clean validation split (evaluated in eval mode)."""
        device = next(model.parameters()).device
        with eval_mode(model):
            return 100 * accuracy(model(self.x_val.to(device)), self.y_val.to(device))


def load_weak_data(
    name: str = "two_moons",
    *,
    lfs=None,
    noise_rate: float | None = None,
    val_per_class: int = 5,
    seed: int = 0,
    **options,
) -> WeakSupervision:
    """A built-in data set with labels from labeling functions (majority vote) instead of clean
    labels.

    The test split is fixed (as in `load_data`). `seed` draws a clean validation split of
    `val_per_class` examples per class from the training pool; the rest is the training set,
    which `lfs` label through `majority_vote`, on the raw inputs before standardisation. For a
    text data set the labeling functions read the texts (N,) instead, which needs the text
    packages (`drift.data.text_lfs`). Default lfs: TWO_MOONS_LFS for two_moons,
    `drift.data.text_lfs.TEXT_LFS[name]` for bbc_news and rotten_tomatoes. noise_rate: if
    given, `add_label_noise` raises the weak labels' error rate to it (seeded by `seed`). Inputs
    are standardised as in `load_data`.
    """
    check_source(name, options)
    if lfs is None:
        from .text_lfs import TEXT_LFS  # text_lfs imports this module (ABSTAIN)

        defaults = {"two_moons": TWO_MOONS_LFS, **TEXT_LFS}
        if name not in defaults:
            raise ValueError(
                f"lfs must be given for {name!r}: built-in labeling functions exist only for "
                f"{', '.join(defaults)}"
            )
        lfs = defaults[name]
    x_pool, y_pool, x_test, y_test = BUILDERS[name](**options)
    lf_inputs = x_pool  # what the labeling functions read: raw inputs, or a text data set's texts
    if name in text.TEXT_DATASETS:
        lf_inputs = text.pool_texts(name, options.get("test_fraction", 0.3))
    classes, counts = np.unique(y_pool, return_counts=True)
    val_per_class = check_integer(
        "val_per_class",
        val_per_class,
        minimum=1,
        maximum=int(counts.min()) - 1,
        hint=f"validation labels per class of {name!r}",
    )
    rng = np.random.default_rng(seed)
    val = per_class(rng, y_pool, classes, val_per_class)
    train = np.setdiff1d(np.arange(len(y_pool)), val)
    votes = apply_lfs(lfs, lf_inputs[train], len(classes))
    y_train = torch.as_tensor(y_pool[train], dtype=torch.long)
    weak = majority_vote(votes, len(classes))
    if noise_rate is not None:
        weak = add_label_noise(
            weak, y_train, noise_rate, len(classes), seed=int(rng.integers(2**31))
        )
    labeled_index = torch.nonzero(weak != ABSTAIN).flatten()
    if len(labeled_index) == 0:
        raise ValueError(
            "lfs label no training example (every majority vote abstains); widen the rules"
        )
    x = as_inputs(x_pool)
    x_train = x(x_pool[train])
    data = SemiSupervisedData(
        x_labeled=x_train[labeled_index],
        y_labeled=weak[labeled_index],
        x_unlabeled=x_train,
        y_unlabeled=y_train,
        x_test=x(x_test),
        y_test=torch.as_tensor(y_test, dtype=torch.long),
        num_classes=len(classes),
    )
    return WeakSupervision(
        data=data,
        x_val=x(x_pool[val]),
        y_val=torch.as_tensor(y_pool[val], dtype=torch.long),
        votes=votes,
        labeled_index=labeled_index,
        lf_names=tuple(_lf_name(lf) for lf in lfs),
    )
