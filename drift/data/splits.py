"""The split object every trainer reads (`SemiSupervisedData`) and the checks of its inputs.

The built-in data sets that fill it are in `drift.data.datasets`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from .. import inputs
from ..inputs import Inputs
from ..inputs import as_tensor as _as_tensor
from ..validation import check_integer, check_real


def _check_x(name: str, x: Tensor, *, in_dict: bool) -> None:
    """One input tensor: (N, ...) with N >= 1, a real dtype (bool only inside a dict), finite
    floats."""
    if x.ndim < (1 if in_dict else 2) or x.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (N, ...) with N >= 1 examples; got shape {tuple(x.shape)}"
        )
    if x.is_complex() or (x.dtype == torch.bool and not in_dict):
        raise TypeError(f"{name} must be floating point (or integer token ids); got {x.dtype}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; clean or impute it before training")


def check_inputs(
    name: str, x: Inputs, reference: Inputs | None, reference_name: str = "x_labeled"
) -> None:
    """x_* valid on its own, and of the same kind, keys, feature shapes and dtypes as the
    `reference` inputs (None when x is the reference itself)."""
    if isinstance(x, dict):
        for k, v in x.items():
            _check_x(f"{name}[{k!r}]", v, in_dict=True)
        rows = {k: v.shape[0] for k, v in x.items()}
        if len(set(rows.values())) > 1:
            raise ValueError(
                f"the tensors of {name} must share the first dimension (one row per example); got "
                f"{rows}"
            )
    else:
        _check_x(name, x, in_dict=False)
    if reference is None:
        return
    if isinstance(x, dict) != isinstance(reference, dict):
        kinds = {True: "a dict", False: "a tensor"}
        raise TypeError(
            f"{name} is {kinds[isinstance(x, dict)]} but {reference_name} is "
            f"{kinds[isinstance(reference, dict)]}; all x_* must be of one kind"
        )
    if isinstance(x, dict) and list(x) != list(reference):
        raise ValueError(
            f"{name} has keys {list(x)} but {reference_name} has {list(reference)}; all x_* must "
            "have the same keys"
        )
    for (key, t), ref in zip(
        x.items() if isinstance(x, dict) else [(None, x)], inputs.tensors(reference)
    ):
        if t.shape[1:] != ref.shape[1:] or t.dtype != ref.dtype:
            part = name if key is None else f"{name}[{key!r}]"
            ref_part = reference_name if key is None else f"{reference_name}[{key!r}]"
            raise ValueError(
                f"{part} has feature shape {tuple(t.shape[1:])} and dtype {t.dtype}, but "
                f"{ref_part} has {tuple(ref.shape[1:])} and {ref.dtype}; all x_* must agree"
            )


@dataclass
class SemiSupervisedData:
    """A labeled / unlabeled / test split.

    x_*: (N, *feature_shape), floating point (or integer token ids; NumPy float arrays become
    torch's default dtype, float32, to match the models; pass tensors to keep float64), or a
    dict of such tensors (booleans allowed) sharing N, e.g. {"input_ids": (N, L), "attention_mask":
    (N, L)}, passed to the model as `model(**x)`: every x_* with the same keys, feature shapes
    and dtypes. y_*: (N,) class indices in [0, num_classes), stored as torch.long. `y_unlabeled`
    holds the true labels of the unlabeled set for analysis only (pseudo-label accuracy); training
    never reads it, and it may be None for a user's own data. `x_test` and `y_test` may both be None
    (no test set: the History's test accuracy is then NaN). `x_val` and `y_val`: an optional
    labeled validation set (see `with_labeled_validation`), scored at every evaluation
    (`History.val_accuracy`) for early stopping and restore-best (`drift.TrainConfig`'s
    `patience` and `restore_best`); never trained on.
    """

    x_labeled: Inputs
    y_labeled: Tensor
    x_unlabeled: Inputs
    y_unlabeled: Tensor | None
    x_test: Inputs | None
    y_test: Tensor | None
    num_classes: int
    x_val: Inputs | None = None
    y_val: Tensor | None = None

    def __post_init__(self):
        self.num_classes = check_integer("num_classes", self.num_classes, minimum=2)
        for part, what in (("test", "no test set"), ("val", "no validation set")):
            if (getattr(self, f"x_{part}") is None) != (getattr(self, f"y_{part}") is None):
                raise ValueError(
                    f"x_{part} and y_{part} must be given together, or both be None ({what})"
                )
        for part in ("labeled", "unlabeled", "test", "val"):
            x_name, y_name = f"x_{part}", f"y_{part}"
            if part in ("test", "val") and getattr(self, x_name) is None:
                continue
            x = inputs.as_inputs(x_name, getattr(self, x_name))
            check_inputs(x_name, x, None if part == "labeled" else self.x_labeled)
            setattr(self, x_name, x)
            n = inputs.num_rows(x)
            y = getattr(self, y_name)
            if y is None and part == "unlabeled":
                continue
            y = _as_tensor(y_name, y)
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
                raise TypeError(
                    f"{y_name} must hold integer class indices; got {y.dtype} (use .long() on "
                    "class ids)"
                )
            if y.shape != (n,):
                raise ValueError(
                    f"{y_name} must have shape ({n},) to match {x_name}; got {tuple(y.shape)}"
                )
            y = y.long()
            if y.min() < 0 or y.max() >= self.num_classes:
                raise ValueError(
                    f"{y_name} must hold class indices in [0, {self.num_classes - 1}] "
                    f"(num_classes={self.num_classes}); found {int(y.min())}..{int(y.max())}"
                )
            setattr(self, y_name, y)

    @property
    def feature_shape(self) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
        """The shape of one input: a tuple, or {name: tuple} for dict inputs."""
        return inputs.feature_shape(self.x_labeled)

    def to(self, device) -> "SemiSupervisedData":
        """A copy with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        moved = {
            k: v if v is None or isinstance(v, int) else inputs.to_device(v, device)
            for k, v in moved.items()
        }
        return SemiSupervisedData(**moved)

    def with_validation(self, fraction: float = 0.25, *, seed: int = 0) -> "SemiSupervisedData":
        """A split for tuning: a random `fraction` of the unlabeled set, with its hidden labels,
        takes the test set's place, and the rest stays unlabeled. The test split is never read.

        Needs `y_unlabeled`. With real few-label data such a validation set counts against the
        labeling budget.
        """
        if self.y_unlabeled is None:
            raise ValueError(
                "with_validation needs y_unlabeled (the hidden labels of the unlabeled set) to "
                "score on"
            )
        if not 0.0 < fraction < 1.0:
            raise ValueError(
                "fraction must be in (0, 1) (the share of the unlabeled set held out); got "
                f"{fraction}"
            )
        n = len(self.y_unlabeled)
        n_val = int(fraction * n)
        if not 0 < n_val < n:
            raise ValueError(
                f"fraction={fraction} of {n} unlabeled examples leaves an empty part; change "
                "fraction"
            )
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(
            self.y_unlabeled.device
        )
        val, rest = order[:n_val], order[n_val:]
        return SemiSupervisedData(
            x_labeled=self.x_labeled,
            y_labeled=self.y_labeled,
            x_unlabeled=inputs.take(self.x_unlabeled, rest),
            y_unlabeled=self.y_unlabeled[rest],
            x_test=inputs.take(self.x_unlabeled, val),
            y_test=self.y_unlabeled[val],
            num_classes=self.num_classes,
            x_val=self.x_val,
            y_val=self.y_val,
        )

    def with_labeled_validation(self, size: int | float, *, seed: int = 0) -> "SemiSupervisedData":
        """A split with a labeled validation set: `size` labeled examples (an int >= 1) or that
        fraction of them (a float in (0, 1), rounded, at least one per class) move from the
        labeled set to `x_val`/`y_val`, stratified by class and drawn from `seed`
        (scikit-learn's `train_test_split`). What a practitioner has for model selection: the
        held-out labels count against the labeling budget, and the test split is never read.
        Every class must keep at least one labeled example for training."""
        from sklearn.model_selection import train_test_split

        if self.x_val is not None:
            raise ValueError("this split already has a validation set (x_val); split only once")
        n = len(self.y_labeled)
        counts = torch.bincount(self.y_labeled.cpu(), minlength=self.num_classes)
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            n_val = check_integer("size", size, minimum=1)
        else:
            fraction = check_real(
                "size",
                size,
                minimum=0.0,
                maximum=1.0,
                low_open=True,
                high_open=True,
                hint="an int count or a fraction in (0, 1)",
            )
            n_val = max(round(fraction * n), self.num_classes)
        if counts.min() < 2:
            raise ValueError(
                "with_labeled_validation needs at least 2 labeled examples of every class (one to "
                f"train on, one to validate on); the rarest class has {counts.min().item()}: label "
                "more examples"
            )
        if not self.num_classes <= n_val <= n - self.num_classes:
            raise ValueError(
                f"size must leave at least one labeled example per class on each side: between "
                f"{self.num_classes} and {n - self.num_classes} of the {n} labeled examples "
                f"({self.num_classes} classes); got {size!r} ({n_val} examples)"
            )
        rows = torch.arange(n)
        train_rows, val_rows = train_test_split(
            rows.numpy(),
            test_size=n_val,
            stratify=self.y_labeled.cpu().numpy(),
            random_state=check_integer("seed", seed, minimum=0),
        )
        train_rows, val_rows = (
            torch.as_tensor(r).sort().values.to(self.y_labeled.device)
            for r in (train_rows, val_rows)
        )
        return SemiSupervisedData(
            x_labeled=inputs.take(self.x_labeled, train_rows),
            y_labeled=self.y_labeled[train_rows],
            x_unlabeled=self.x_unlabeled,
            y_unlabeled=self.y_unlabeled,
            x_test=self.x_test,
            y_test=self.y_test,
            num_classes=self.num_classes,
            x_val=inputs.take(self.x_labeled, val_rows),
            y_val=self.y_labeled[val_rows],
        )

    def __repr__(self) -> str:
        validation = "" if self.y_val is None else f"validation={len(self.y_val)}, "
        return (
            f"SemiSupervisedData(labeled={len(self.y_labeled)}, "
            f"unlabeled={inputs.num_rows(self.x_unlabeled)}, "
            f"test={0 if self.y_test is None else len(self.y_test)}, {validation}"
            f"features={self.feature_shape}, classes={self.num_classes})"
        )
