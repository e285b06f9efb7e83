"""Offline semi-supervised data sets and the split object every trainer reads.

Nothing is downloaded: two moons come from scikit-learn's generator, digits from its bundled
copy, MNIST-1D from `mnist1d.data.make_dataset` (Greydanus 2020), generated locally.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from . import inputs
from .inputs import Inputs
from .inputs import as_tensor as _as_tensor
from .metrics import accuracy
from .tables import Table
from .teacher import eval_mode

DATASETS = ("two_moons", "digits", "mnist1d", "tokens")


def _check_x(name: str, x: Tensor, *, in_dict: bool) -> None:
    """One input tensor: (N, ...) with N >= 1, a real dtype (bool only inside a dict), finite floats."""
    if x.ndim < (1 if in_dict else 2) or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, ...) with N >= 1 examples; got shape {tuple(x.shape)}")
    if x.is_complex() or (x.dtype == torch.bool and not in_dict):
        raise TypeError(f"{name} must be floating point (or integer token ids); got {x.dtype}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; clean or impute it before training")


def _check_inputs(name: str, x: Inputs, reference: Inputs | None, reference_name: str = "x_labeled") -> None:
    """x_* valid on its own, and of the same kind, keys, feature shapes and dtypes as the
    `reference` inputs (None when x is the reference itself)."""
    if isinstance(x, dict):
        for k, v in x.items():
            _check_x(f"{name}[{k!r}]", v, in_dict=True)
        rows = {k: v.shape[0] for k, v in x.items()}
        if len(set(rows.values())) > 1:
            raise ValueError(f"the tensors of {name} must share the first dimension (one row per example); got {rows}")
    else:
        _check_x(name, x, in_dict=False)
    if reference is None:
        return
    if isinstance(x, dict) != isinstance(reference, dict):
        kinds = {True: "a dict", False: "a tensor"}
        raise TypeError(
            f"{name} is {kinds[isinstance(x, dict)]} but {reference_name} is {kinds[isinstance(reference, dict)]}; "
            "all x_* must be of one kind"
        )
    if isinstance(x, dict) and list(x) != list(reference):
        raise ValueError(
            f"{name} has keys {list(x)} but {reference_name} has {list(reference)}; all x_* must have the same keys"
        )
    for (key, t), ref in zip(x.items() if isinstance(x, dict) else [(None, x)], inputs.tensors(reference)):
        if t.shape[1:] != ref.shape[1:] or t.dtype != ref.dtype:
            part = name if key is None else f"{name}[{key!r}]"
            ref_part = reference_name if key is None else f"{reference_name}[{key!r}]"
            raise ValueError(
                f"{part} has feature shape {tuple(t.shape[1:])} and dtype {t.dtype}, but {ref_part} has "
                f"{tuple(ref.shape[1:])} and {ref.dtype}; all x_* must agree"
            )


@dataclass
class SemiSupervisedData:
    """A labeled / unlabeled / test split.

    x_*: (N, *feature_shape), floating point (or integer token ids; NumPy float arrays become
    torch's default dtype, float32, to match the models; pass tensors to keep float64), or a
    dict of such tensors (booleans allowed) sharing N, e.g. {"input_ids": (N, L), "attention_mask":
    (N, L)}, passed to the model as `model(**x)`: every x_* with the same keys, feature shapes
    and dtypes. y_*: (N,) class indices in [0, num_classes), stored as torch.long. `y_unlabeled` holds the true labels of the
    unlabeled set for analysis only (pseudo-label accuracy); training never reads it, and it
    may be None for a user's own data. `x_test` and `y_test` may both be None (no test set:
    the History's test accuracy is then NaN).
    """

    x_labeled: Inputs
    y_labeled: Tensor
    x_unlabeled: Inputs
    y_unlabeled: Tensor | None
    x_test: Inputs | None
    y_test: Tensor | None
    num_classes: int

    def __post_init__(self):
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, (int, np.integer)) or self.num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2; got {self.num_classes!r}")
        self.num_classes = int(self.num_classes)
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("x_test and y_test must be given together, or both be None (no test set)")
        for part in ("labeled", "unlabeled", "test"):
            x_name, y_name = f"x_{part}", f"y_{part}"
            if part == "test" and self.x_test is None:
                continue
            x = inputs.as_inputs(x_name, getattr(self, x_name))
            _check_inputs(x_name, x, None if part == "labeled" else self.x_labeled)
            setattr(self, x_name, x)
            n = inputs.num_rows(x)
            y = getattr(self, y_name)
            if y is None and part == "unlabeled":
                continue
            y = _as_tensor(y_name, y)
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
                raise TypeError(f"{y_name} must hold integer class indices; got {y.dtype} (use .long() on class ids)")
            if y.shape != (n,):
                raise ValueError(f"{y_name} must have shape ({n},) to match {x_name}; got {tuple(y.shape)}")
            y = y.long()
            if y.min() < 0 or y.max() >= self.num_classes:
                raise ValueError(
                    f"{y_name} must hold class indices in [0, {self.num_classes - 1}] (num_classes={self.num_classes}); "
                    f"found {int(y.min())}..{int(y.max())}"
                )
            setattr(self, y_name, y)

    @property
    def feature_shape(self) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
        """The shape of one input: a tuple, or {name: tuple} for dict inputs."""
        return inputs.feature_shape(self.x_labeled)

    def to(self, device) -> "SemiSupervisedData":
        """A copy with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        moved = {k: v if v is None or isinstance(v, int) else inputs.to_device(v, device) for k, v in moved.items()}
        return SemiSupervisedData(**moved)

    def with_validation(self, fraction: float = 0.25, *, seed: int = 0) -> "SemiSupervisedData":
        """A split for tuning: a random `fraction` of the unlabeled set, with its hidden labels,
        takes the test set's place, and the rest stays unlabeled. The test split is never read.

        Needs `y_unlabeled`. With real few-label data such a validation set counts against the
        labeling budget.
        """
        if self.y_unlabeled is None:
            raise ValueError("with_validation needs y_unlabeled (the hidden labels of the unlabeled set) to score on")
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1) (the share of the unlabeled set held out); got {fraction}")
        n = len(self.y_unlabeled)
        n_val = int(fraction * n)
        if not 0 < n_val < n:
            raise ValueError(f"fraction={fraction} of {n} unlabeled examples leaves an empty part; change fraction")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(self.y_unlabeled.device)
        val, rest = order[:n_val], order[n_val:]
        return SemiSupervisedData(
            x_labeled=self.x_labeled, y_labeled=self.y_labeled,
            x_unlabeled=inputs.take(self.x_unlabeled, rest), y_unlabeled=self.y_unlabeled[rest],
            x_test=inputs.take(self.x_unlabeled, val), y_test=self.y_unlabeled[val], num_classes=self.num_classes,
        )

    def __repr__(self) -> str:
        return (
            f"SemiSupervisedData(labeled={len(self.y_labeled)}, unlabeled={inputs.num_rows(self.x_unlabeled)}, "
            f"test={0 if self.y_test is None else len(self.y_test)}, features={self.feature_shape}, "
            f"classes={self.num_classes})"
        )


@functools.lru_cache(maxsize=None)
def _mnist1d(num_samples=5000):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    state = np.random.get_state()  # make_dataset reseeds numpy's global generator
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return d["x"], d["y"], d["x_test"], d["y_test"]


def _two_moons(n_samples=1000, noise=0.15, test_fraction=0.3):
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=0)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=0, stratify=y)
    return x_tr, y_tr, x_te, y_te


def _digits(test_fraction=0.3):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x.reshape(-1, 8, 8), y, test_size=test_fraction, random_state=0, stratify=y
    )
    return x_tr, y_tr, x_te, y_te


def token_sequences(
    num_samples: int, *, seq_len: int = 12, vocab_size: int = 16, num_classes: int = 3, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A token-sequence classification task whose class is order-dependent: x (N, L) int64, y (N,).

    Tokens 0..num_classes-1 are markers; every sequence holds each marker exactly once, at random
    positions, and filler tokens drawn uniformly from [num_classes, vocab_size) elsewhere. The
    class is the marker that comes first. Token counts are the same for every class, so a
    bag-of-tokens model is at chance; reading positions (attention) solves it. Classes are
    balanced (they differ by at most one example); the same seed gives the same arrays.
    """
    for name, value, low in (("num_samples", num_samples, 1), ("num_classes", num_classes, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if not isinstance(seq_len, (int, np.integer)) or seq_len < num_classes:
        raise ValueError(f"seq_len must be an integer >= num_classes={num_classes} (each marker appears once); got {seq_len!r}")
    if not isinstance(vocab_size, (int, np.integer)) or vocab_size <= num_classes:
        raise ValueError(f"vocab_size must be an integer > num_classes={num_classes} (room for filler tokens); got {vocab_size!r}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_samples) % num_classes)  # (N,) balanced
    x = rng.integers(num_classes, vocab_size, size=(num_samples, seq_len))  # (N, L) fillers
    slots = np.sort(rng.random((num_samples, seq_len)).argsort(axis=1)[:, :num_classes], axis=1)  # (N, C) marker positions
    others = rng.random((num_samples, num_classes)).argsort(axis=1)  # (N, C) a random order of the markers
    others = np.where(others == y[:, None], others[:, :1], others)  # swap y to the front ...
    others[:, 0] = y  # ... so the first slot holds the class marker
    np.put_along_axis(x, slots, others, axis=1)
    return x.astype(np.int64), y.astype(np.int64)


def _tokens(num_samples=3000, seq_len=8, vocab_size=5, num_classes=3, test_fraction=0.3):
    x, y = token_sequences(num_samples, seq_len=seq_len, vocab_size=vocab_size, num_classes=num_classes, seed=0)
    n_test = int(test_fraction * num_samples)
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


_BUILDERS = {"two_moons": _two_moons, "digits": _digits, "mnist1d": _mnist1d, "tokens": _tokens}
_OPTIONS = {
    "two_moons": ("n_samples", "noise", "test_fraction"), "digits": ("test_fraction",), "mnist1d": ("num_samples",),
    "tokens": ("num_samples", "seq_len", "vocab_size", "num_classes", "test_fraction"),
}


def _check_source(name: str, options: dict) -> None:
    """A built-in data set name and options its builder accepts, or an error naming the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}; got {name!r}")
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)} for {name!r}; valid: {', '.join(_OPTIONS[name]) or 'none'}")


def _per_class(rng: np.random.Generator, y: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """Indices of k examples of every class of y, drawn without replacement: (k * len(classes),)."""
    return np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in classes])


def _as_inputs(x_pool: np.ndarray):
    """A converter of raw inputs to tensors: floats standardised with the pool's mean and std
    (float32), token ids kept as long."""
    mean, std = x_pool.mean(), x_pool.std()

    def x(a: np.ndarray) -> Tensor:
        if np.issubdtype(a.dtype, np.integer):  # token ids stay ids
            return torch.as_tensor(a, dtype=torch.long)
        return torch.as_tensor((a - mean) / std, dtype=torch.float32)

    return x


def load_data(name: str, *, labels_per_class: int, seed: int = 0, **options) -> SemiSupervisedData:
    """A built-in data set split into labeled / unlabeled / test.

    The test split is fixed; `seed` draws a class-balanced labeled subset of `labels_per_class`
    examples per class from the rest, and the remainder is the unlabeled set. Float inputs are
    standardised with the training pool's mean and std; token ids stay long. Shapes: two_moons
    (N, 2), digits (N, 8, 8), mnist1d (N, 40), tokens (N, 8) ids (see `token_sequences`).
    Options: two_moons n_samples=1000, noise=0.15, test_fraction=0.3; digits test_fraction=0.3;
    mnist1d num_samples=5000; tokens num_samples=3000, seq_len=8, vocab_size=5, num_classes=3,
    test_fraction=0.3.
    """
    _check_source(name, options)
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, (int, np.integer)) or labels_per_class < 1:
        raise ValueError(f"labels_per_class must be an integer >= 1; got {labels_per_class!r}")
    x_pool, y_pool, x_test, y_test = _BUILDERS[name](**options)
    classes, counts = np.unique(y_pool, return_counts=True)
    if labels_per_class > counts.min():
        raise ValueError(
            f"labels_per_class must be at most {counts.min()} for {name!r} (its smallest class has that many "
            f"training examples); got {labels_per_class}"
        )
    if labels_per_class * len(classes) == len(y_pool):
        raise ValueError(
            f"labels_per_class={labels_per_class} would label every training example of {name!r} and leave no "
            f"unlabeled set; use at most {counts.min() - 1}"
        )
    rng = np.random.default_rng(seed)
    labeled = _per_class(rng, y_pool, classes, labels_per_class)
    unlabeled = np.setdiff1d(np.arange(len(y_pool)), labeled)
    x = _as_inputs(x_pool)

    def y(a):
        return torch.as_tensor(a, dtype=torch.long)

    return SemiSupervisedData(
        x_labeled=x(x_pool[labeled]), y_labeled=y(y_pool[labeled]),
        x_unlabeled=x(x_pool[unlabeled]), y_unlabeled=y(y_pool[unlabeled]),
        x_test=x(x_test), y_test=y(y_test), num_classes=len(classes),
    )


# Weak supervision (chapter 7): labeling functions vote on the training inputs, a majority vote
# turns the votes into noisy labels, and no clean training label is ever handed to training.

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
            raise ValueError(f"x must have shape (N, {len(self.w)}) for labeling function {self.name!r}; got {x.shape}")
        return np.where(x @ np.asarray(self.w, dtype=float) > self.b, self.label, ABSTAIN).astype(np.int64)


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
    if votes.ndim != 2 or votes.is_floating_point() or votes.is_complex() or votes.dtype == torch.bool:
        raise ValueError(f"votes must be an integer array of shape (N, L), one column per labeling function; got {votes.dtype} {tuple(votes.shape)}")
    votes = votes.long()
    top = f"num_classes - 1 = {num_classes - 1}" if num_classes is not None else "a class index"
    if votes.numel() and (votes.min() < ABSTAIN or (num_classes is not None and votes.max() >= num_classes)):
        raise ValueError(f"votes must be ABSTAIN (-1) or class indices 0..{top}; found {int(votes.min())}..{int(votes.max())}")
    return votes


def _vote_counts(votes: Tensor, num_classes: int) -> Tensor:
    """Votes per class: votes (N, L) -> counts (N, num_classes)."""
    return torch.stack([(votes == c).sum(1) for c in range(num_classes)], 1)


def apply_lfs(lfs, x, num_classes: int) -> Tensor:
    """Votes of every labeling function on x: (N, L) int64, ABSTAIN (-1) where a rule does not apply.

    lfs: callables mapping x (N, ...) to votes (N,) in {ABSTAIN, 0..num_classes-1}.
    """
    lfs = list(lfs)
    if not lfs or not all(callable(lf) for lf in lfs):
        raise ValueError("lfs must be a non-empty sequence of callables (labeling functions), e.g. drift.data.TWO_MOONS_LFS")
    n = len(x)
    columns = []
    for lf in lfs:
        v = np.asarray(lf(x))
        if v.shape != (n,):
            raise ValueError(f"labeling function {_lf_name(lf)!r} must return one vote per example, shape ({n},); got {v.shape}")
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
        rows = [[name, *(f"{100 * c[i]:.1f}" for c in columns)] for i, name in enumerate(self.names)]
        return Table.from_rows(["labeling function", "coverage (%)", "overlap (%)", "conflict (%)", "accuracy (%)"], rows)

    def _repr_markdown_(self) -> str:
        return self.table()

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython's plain-text view: the same table
        printer.text(self.table())


def lf_stats(votes, y=None, *, names=None) -> LFStats:
    """Coverage, overlap, conflict and (with true labels y (N,)) accuracy of each column of votes (N, L)."""
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
    counts = _vote_counts(votes, int(votes.max()) + 1) if voted.any() else torch.zeros(n, 1, dtype=torch.long)
    same = counts.gather(1, votes.clamp(min=0)) - 1  # (N, L) others voting my class
    coverage = voted.double().mean(0)
    overlap = (voted & (others > 0)).double().mean(0)
    conflict = (voted & (others > same)).double().mean(0)
    accuracy = torch.full((L,), float("nan"), dtype=torch.float64)
    if y is not None:
        y = _as_tensor("y", y)
        if y.shape != (n,) or y.is_floating_point():
            raise ValueError(f"y must hold integer true labels of shape ({n},); got {y.dtype} {tuple(y.shape)}")
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
        raise ValueError(f"weak and y_true must both have shape (N,); got {tuple(weak.shape)} and {tuple(y_true.shape)}")
    if not 0.0 <= noise_rate < 1.0:
        raise ValueError(f"noise_rate must be in [0, 1) (the fraction of wrong weak labels); got {noise_rate}")
    labeled = torch.nonzero(weak != ABSTAIN).flatten()
    if len(labeled) == 0:
        raise ValueError("weak holds no labels (all ABSTAIN): there is nothing to add noise to")
    wrong = int((weak[labeled] != y_true[labeled]).sum())
    target = round(noise_rate * len(labeled))
    if target < wrong:
        raise ValueError(
            f"noise_rate must be at least {wrong / len(labeled):.4f}, the weak labels' own error rate "
            f"(noise can be added, not removed); got {noise_rate}"
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
        return (self.data.y_labeled != self.data.y_unlabeled[self.labeled_index]).double().mean().item()

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
    name: str = "two_moons", *, lfs=None, noise_rate: float | None = None, val_per_class: int = 5, seed: int = 0, **options,
) -> WeakSupervision:
    """A built-in data set with labels from labeling functions (majority vote) instead of clean labels.

    The test split is fixed (as in `load_data`). `seed` draws a clean validation split of
    `val_per_class` examples per class from the training pool; the rest is the training set,
    which `lfs` (default for two_moons: TWO_MOONS_LFS) label through `majority_vote`, on the raw
    inputs before standardisation. noise_rate: if given, `add_label_noise` raises the weak
    labels' error rate to it (seeded by `seed`). Inputs are standardised as in `load_data`.
    """
    _check_source(name, options)
    if lfs is None:
        if name != "two_moons":
            raise ValueError(f"lfs must be given for {name!r}: built-in labeling functions exist only for two_moons")
        lfs = TWO_MOONS_LFS
    x_pool, y_pool, x_test, y_test = _BUILDERS[name](**options)
    classes, counts = np.unique(y_pool, return_counts=True)
    if isinstance(val_per_class, bool) or not isinstance(val_per_class, (int, np.integer)) or not 1 <= val_per_class < counts.min():
        raise ValueError(f"val_per_class must be an integer in [1, {counts.min() - 1}] for {name!r}; got {val_per_class!r}")
    rng = np.random.default_rng(seed)
    val = _per_class(rng, y_pool, classes, val_per_class)
    train = np.setdiff1d(np.arange(len(y_pool)), val)
    votes = apply_lfs(lfs, x_pool[train], len(classes))
    y_train = torch.as_tensor(y_pool[train], dtype=torch.long)
    weak = majority_vote(votes, len(classes))
    if noise_rate is not None:
        weak = add_label_noise(weak, y_train, noise_rate, len(classes), seed=int(rng.integers(2**31)))
    labeled_index = torch.nonzero(weak != ABSTAIN).flatten()
    if len(labeled_index) == 0:
        raise ValueError("lfs label no training example (every majority vote abstains); widen the rules")
    x = _as_inputs(x_pool)
    x_train = x(x_pool[train])
    data = SemiSupervisedData(
        x_labeled=x_train[labeled_index], y_labeled=weak[labeled_index],
        x_unlabeled=x_train, y_unlabeled=y_train,
        x_test=x(x_test), y_test=torch.as_tensor(y_test, dtype=torch.long), num_classes=len(classes),
    )
    return WeakSupervision(
        data=data, x_val=x(x_pool[val]), y_val=torch.as_tensor(y_pool[val], dtype=torch.long),
        votes=votes, labeled_index=labeled_index, lf_names=tuple(_lf_name(lf) for lf in lfs),
    )
