"""Offline semi-supervised data sets: the registry (`DATASETS`, `load_data`) and its generators.

Nothing is downloaded: two moons come from scikit-learn's generator, digits from its bundled
copy, MNIST-1D from `mnist1d.data.make_dataset` (Greydanus 2020), generated locally; the text
data sets (BBC News, Rotten Tomatoes) are sentence embeddings of corpora from registry packages
(`drift.data.text`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from ..validation import check_integer
from . import text
from .splits import SemiSupervisedData

DATASETS = ("two_moons", "digits", "mnist1d", "tokens", *text.TEXT_DATASETS)


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
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=0, stratify=y
    )
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
    num_samples: int,
    *,
    seq_len: int = 12,
    vocab_size: int = 16,
    num_classes: int = 3,
    seed: int = 0,
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
        raise ValueError(
            f"seq_len must be an integer >= num_classes={num_classes} (each marker appears once); "
            f"got {seq_len!r}"
        )
    if not isinstance(vocab_size, (int, np.integer)) or vocab_size <= num_classes:
        raise ValueError(
            f"vocab_size must be an integer > num_classes={num_classes} (room for filler tokens); "
            f"got {vocab_size!r}"
        )
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_samples) % num_classes)  # (N,) balanced
    x = rng.integers(num_classes, vocab_size, size=(num_samples, seq_len))  # (N, L) fillers
    # (N, C) marker positions
    slots = np.sort(rng.random((num_samples, seq_len)).argsort(axis=1)[:, :num_classes], axis=1)
    # (N, C) a random order of the markers
    others = rng.random((num_samples, num_classes)).argsort(axis=1)
    others = np.where(others == y[:, None], others[:, :1], others)  # swap y to the front ...
    others[:, 0] = y  # ... so the first slot holds the class marker
    np.put_along_axis(x, slots, others, axis=1)
    return x.astype(np.int64), y.astype(np.int64)


def _tokens(num_samples=3000, seq_len=8, vocab_size=5, num_classes=3, test_fraction=0.3):
    x, y = token_sequences(
        num_samples, seq_len=seq_len, vocab_size=vocab_size, num_classes=num_classes, seed=0
    )
    n_test = int(test_fraction * num_samples)
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


BUILDERS = {
    "two_moons": _two_moons,
    "digits": _digits,
    "mnist1d": _mnist1d,
    "tokens": _tokens,
    **{name: functools.partial(text.build, name) for name in text.TEXT_DATASETS},
}
OPTIONS = {
    "two_moons": ("n_samples", "noise", "test_fraction"),
    "digits": ("test_fraction",),
    "mnist1d": ("num_samples",),
    "tokens": ("num_samples", "seq_len", "vocab_size", "num_classes", "test_fraction"),
    **{name: ("encoder", "test_fraction") for name in text.TEXT_DATASETS},
}


def check_source(name: str, options: dict) -> None:
    """A built-in data set name and options its builder accepts, or an error naming the valid
    ones."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}; got {name!r}")
    unknown = sorted(set(options) - set(OPTIONS[name]))
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)} for {name!r}; valid: "
            f"{', '.join(OPTIONS[name]) or 'none'}"
        )


def per_class(rng: np.random.Generator, y: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """Indices of k examples of every class of y, drawn without replacement: (k * len(classes),)."""
    return np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in classes])


def as_inputs(x_pool: np.ndarray):
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
    (N, 2), digits (N, 8, 8), mnist1d (N, 40), tokens (N, 8) ids (see `token_sequences`),
    bbc_news and rotten_tomatoes (N, 384) with encoder="minilm", (N, 50) with "glove" (see
    `drift.data.text`). Options: two_moons n_samples=1000, noise=0.15, test_fraction=0.3; digits
    test_fraction=0.3; mnist1d num_samples=5000; tokens num_samples=3000, seq_len=8,
    vocab_size=5, num_classes=3, test_fraction=0.3; bbc_news and rotten_tomatoes
    encoder="minilm" (or "glove"), test_fraction=0.3.
    """
    check_source(name, options)
    labels_per_class = check_integer("labels_per_class", labels_per_class, minimum=1)
    x_pool, y_pool, x_test, y_test = BUILDERS[name](**options)
    classes, counts = np.unique(y_pool, return_counts=True)
    if labels_per_class > counts.min():
        raise ValueError(
            f"labels_per_class must be at most {counts.min()} for {name!r} (its smallest class has "
            f"that many training examples); got {labels_per_class}"
        )
    if labels_per_class * len(classes) == len(y_pool):
        raise ValueError(
            f"labels_per_class={labels_per_class} would label every training example of {name!r} "
            f"and leave no unlabeled set; use at most {counts.min() - 1}"
        )
    rng = np.random.default_rng(seed)
    labeled = per_class(rng, y_pool, classes, labels_per_class)
    unlabeled = np.setdiff1d(np.arange(len(y_pool)), labeled)
    x = as_inputs(x_pool)

    def y(a):
        return torch.as_tensor(a, dtype=torch.long)

    return SemiSupervisedData(
        x_labeled=x(x_pool[labeled]),
        y_labeled=y(y_pool[labeled]),
        x_unlabeled=x(x_pool[unlabeled]),
        y_unlabeled=y(y_pool[unlabeled]),
        x_test=x(x_test),
        y_test=y(y_test),
        num_classes=len(classes),
    )
