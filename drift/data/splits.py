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
from .validation import check_integer

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
        self.num_classes = check_integer("num_classes", self.num_classes, minimum=2)
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
    num_samples = check_integer("num_samples", num_samples, minimum=1)
    num_classes = check_integer("num_classes", num_classes, minimum=2)
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
    labels_per_class = check_integer("labels_per_class", labels_per_class, minimum=1)
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
