"""Where the training loop's batches come from: one small interface, two implementations.

The loop asks a source for a step's global batch (`batch`), for two labeled examples to probe
the model with (`probe`) and for evaluation batches of the test, validation and unlabeled sets
(`eval_batches`); everything it gets is on the training device.

- `TensorSource` serves a `SemiSupervisedData` held in memory: the whole split moves to the
  device once, and each step's indices are drawn with replacement from torch's global
  generator (labeled, then unlabeled), so a run is determined by `train`'s seed.
- `LoaderSource` serves a `DatasetSplits` of torch map-style Datasets through DataLoaders
  (worker processes, pinned memory on CUDA): only batches move to the device. Step t's indices
  are drawn with replacement from a generator seeded by (seed, split, t), not from the global
  generator, so a resumed run draws the batches an uninterrupted one would.

Both evaluate in batches of `eval_batch_size` the test set, the labeled validation set (if any)
and the unlabeled set: the whole of it, or a fixed random subset of `eval_unlabeled` rows chosen
once from the seed (by its own generator, so the global random stream of the run is untouched).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, default_collate

from .. import inputs
from .splits import SemiSupervisedData, check_inputs
from ..inputs import Inputs
from ..validation import check_integer

Batch = tuple[Inputs, Tensor, Inputs]
"""A step's global batch on the device: x_l (B, ...), y_l (B,) long, x_u (B_u, ...)."""


@dataclass(kw_only=True)
class DatasetSplits:
    """Labeled / unlabeled / test torch map-style Datasets (with `__len__` and `__getitem__`),
    for data that does not fit in memory or on the device.

    Labeled and test items are `(x, y)`, unlabeled items `x`, `(x,)` (as from a one-tensor
    `TensorDataset`) or `(x, y_hidden)` (hidden labels score pseudo-labels only; training never
    reads them). x is a tensor of a fixed shape or a dict of such tensors (passed as
    `model(**x)`); y an integer class in [0, num_classes). Items are batched by torch's default
    collate. `test` may be None (test accuracy NaN). `validation`: optional labeled (x, y) items
    scored at every evaluation (as `SemiSupervisedData.x_val`), never trained on.
    num_workers: DataLoader worker processes per split (0: load in the training process).
    Only the first item of each split is checked here; a bad item further on fails in training.
    """

    labeled: Dataset
    unlabeled: Dataset
    test: Dataset | None = None
    num_classes: int
    num_workers: int = 0
    validation: Dataset | None = None

    def __post_init__(self):
        self.num_classes = check_integer("num_classes", self.num_classes, minimum=2)
        self.num_workers = check_integer(
            "num_workers", self.num_workers, minimum=0, hint="DataLoader worker processes"
        )
        reference = None
        for name in ("labeled", "unlabeled", "test", "validation"):
            dataset = getattr(self, name)
            if dataset is None and name in ("test", "validation"):
                continue
            if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
                raise TypeError(
                    f"{name} must be a map-style torch Dataset (with __len__ and __getitem__), "
                    f"e.g. torch.utils.data.TensorDataset; got {type(dataset).__name__}"
                )
            if len(dataset) == 0:
                raise ValueError(f"{name} must hold at least one item; it is empty")
            item = dataset[0]
            x, y = _split_item(name, item, labeled=name != "unlabeled")
            if name == "unlabeled":  # x, (x,) or (x, y_hidden): how LoaderSource unpacks batches
                self._unlabeled_parts = len(item) if isinstance(item, (tuple, list)) else 0
            label = f"x of {name}[0]"
            if any(isinstance(v, np.ndarray) for v in (x.values() if isinstance(x, dict) else [x])):
                raise TypeError(
                    f"{label} must hold tensors, not NumPy arrays: use torch.as_tensor(a, "
                    "dtype=torch.float32)"
                )
            batch = default_collate([inputs.as_inputs(label, x)])  # (1, ...)
            check_inputs(label, batch, reference, "x of labeled[0]")
            reference = batch if reference is None else reference
            if y is not None and not (0 <= y < self.num_classes):
                raise ValueError(
                    f"y of {name}[0] must be a class in [0, {self.num_classes - 1}]; got {y}"
                )
        self._feature_shape = inputs.feature_shape(reference)

    @property
    def feature_shape(self) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
        """The shape of one input x: a tuple, or {name: tuple} for dict inputs."""
        return self._feature_shape

    def __repr__(self) -> str:
        test = 0 if self.test is None else len(self.test)
        validation = "" if self.validation is None else f"validation={len(self.validation)}, "
        return (
            f"DatasetSplits(labeled={len(self.labeled)}, unlabeled={len(self.unlabeled)}, "
            f"test={test}, {validation}features={self.feature_shape}, "
            f"classes={self.num_classes})"
        )


def _split_item(name: str, item, *, labeled: bool):
    """(x, y) of a Dataset item: y None for an unlabeled item without a hidden label."""
    if isinstance(item, (tuple, list)) and len(item) == 1 and not labeled:
        return item[0], None
    if isinstance(item, (tuple, list)):
        if len(item) != 2:
            kinds = "(x, y) pairs" if labeled else "x, (x,) or (x, y_hidden)"
            raise TypeError(f"{name} items must be {kinds}; item 0 has {len(item)} parts")
        x, y = item
        if isinstance(y, Tensor):
            y = (
                y.item()
                if y.numel() == 1 and not y.is_floating_point() and y.dtype != torch.bool
                else None
            )
        if not isinstance(y, (int, np.integer)) or isinstance(y, bool):
            raise TypeError(
                f"y of {name}[0] must be an integer class (an int or a 0-d integer tensor); got "
                f"{item[1]!r}"
            )
        return x, int(y)
    if labeled:
        raise TypeError(f"{name} items must be (x, y) pairs; item 0 is a {type(item).__name__}")
    return item, None


class Source(Protocol):
    """What the training loop draws batches from (all on the training device)."""

    num_classes: int
    feature_shape: tuple[int, ...] | dict[str, tuple[int, ...]]

    def batch(self, step: int) -> Batch:
        """The global batch of 0-based training step `step`."""

    def probe(self) -> Inputs:
        """x of (up to) the first two labeled examples."""

    def eval_batches(self, split: str) -> Iterator[tuple[Inputs, Tensor | None]]:
        """(x, y) batches of `split` ("test", "validation" or "unlabeled": the evaluated rows), in
        a fixed order; y None where there are no labels (none at all for a missing split)."""


def _eval_rows(n: int, eval_unlabeled: int | None, seed: int) -> Tensor | None:
    """Sorted indices of a fixed random subset of eval_unlabeled of n rows, drawn from the seed
    by a generator of its own; None for all rows."""
    if eval_unlabeled is None or eval_unlabeled >= n:
        return None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:eval_unlabeled].sort().values


class TensorSource:
    """Batches of a `SemiSupervisedData`, moved whole to `device` (see the module docstring)."""

    def __init__(
        self,
        data: SemiSupervisedData,
        *,
        device: torch.device,
        seed: int,
        batch_size: int,
        unlabeled_batch_size: int,
        eval_batch_size: int = 4096,
        eval_unlabeled: int | None = None,
    ):
        self.data = data.to(device)
        self.num_classes, self.feature_shape = data.num_classes, data.feature_shape
        self.batch_size, self.unlabeled_batch_size, self.eval_batch_size = (
            batch_size,
            unlabeled_batch_size,
            eval_batch_size,
        )
        rows = _eval_rows(inputs.num_rows(data.x_unlabeled), eval_unlabeled, seed)
        x_u, y_u = self.data.x_unlabeled, self.data.y_unlabeled
        if rows is not None:
            rows = rows.to(device)
            x_u, y_u = inputs.take(x_u, rows), None if y_u is None else y_u[rows]
        self._eval = {
            "test": (self.data.x_test, self.data.y_test),
            "validation": (self.data.x_val, self.data.y_val),
            "unlabeled": (x_u, y_u),
        }

    def batch(self, step: int, generator: torch.Generator | None = None) -> Batch:
        """Indices drawn with replacement on the CPU from `generator` (default torch's global
        one)."""
        d = self.data
        device = d.y_labeled.device
        i_l = torch.randint(len(d.y_labeled), (self.batch_size,), generator=generator).to(device)
        i_u = torch.randint(
            inputs.num_rows(d.x_unlabeled), (self.unlabeled_batch_size,), generator=generator
        ).to(device)
        return inputs.take(d.x_labeled, i_l), d.y_labeled[i_l], inputs.take(d.x_unlabeled, i_u)

    def probe(self) -> Inputs:
        return inputs.take(self.data.x_labeled, slice(0, 2))

    def eval_batches(self, split: str) -> Iterator[tuple[Inputs, Tensor | None]]:
        x, y = self._eval[split]
        if x is None:
            return
        for i in range(0, inputs.num_rows(x), self.eval_batch_size):
            rows = slice(i, i + self.eval_batch_size)
            yield inputs.take(x, rows), None if y is None else y[rows]


class _Draws(Sampler):
    """Index batches for steps start, start + 1, ...: `size` indices in [0, n), drawn with
    replacement by a generator seeded from (seed, stream, step) alone."""

    def __init__(self, n: int, size: int, *, seed: int, stream: int, start: int):
        self.n, self.size, self.seed, self.stream, self.start = n, size, seed, stream, start

    def __iter__(self):
        for step in itertools.count(self.start):
            state = np.random.SeedSequence((self.seed % 2**64, self.stream, step)).generate_state(
                1
            )[0]
            yield torch.randint(
                self.n, (self.size,), generator=torch.Generator().manual_seed(int(state))
            ).tolist()


class LoaderSource:
    """Batches of a `DatasetSplits` through DataLoaders (see the module docstring)."""

    def __init__(
        self,
        splits: DatasetSplits,
        *,
        device: torch.device,
        seed: int,
        batch_size: int,
        unlabeled_batch_size: int,
        eval_batch_size: int = 4096,
        eval_unlabeled: int | None = None,
    ):
        self.splits, self.device, self.seed = splits, device, seed
        self.num_classes, self.feature_shape = splits.num_classes, splits.feature_shape
        self.sizes = {"labeled": batch_size, "unlabeled": unlabeled_batch_size}
        self.pin = device.type == "cuda"
        rows = _eval_rows(len(splits.unlabeled), eval_unlabeled, seed)
        unlabeled = splits.unlabeled if rows is None else Subset(splits.unlabeled, rows.tolist())
        self._eval = {
            name: None
            if dataset is None
            else self._loader(dataset, batch_size=eval_batch_size, persistent=True)
            for name, dataset in (
                ("test", splits.test),
                ("validation", splits.validation),
                ("unlabeled", unlabeled),
            )
        }
        self._batches, self._next = None, None

    def _loader(self, dataset: Dataset, *, persistent: bool = False, **kwargs) -> DataLoader:
        """A DataLoader with its own generator: its worker seeds are not drawn from torch's global
        generator. Evaluation loaders keep their workers between evaluations (`persistent`)."""
        workers = self.splits.num_workers
        return DataLoader(
            dataset,
            num_workers=workers,
            pin_memory=self.pin,
            persistent_workers=persistent and workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
            **kwargs,
        )

    def _move(self, part, *, labeled: bool):
        """(x, y) of a collated batch on the device; y None for unlabeled items without labels."""
        parts = 2 if labeled else self.splits._unlabeled_parts
        x, y = part if parts == 2 else (part[0] if parts == 1 else part, None)
        x = inputs.to_device(x, self.device, non_blocking=self.pin)
        return x, None if y is None else y.to(self.device, non_blocking=self.pin).long()

    def batch(self, step: int) -> Batch:
        # the first step, or a jump (a resumed run): samplers from this step on
        if self._next != step:
            self._batches = {
                name: iter(
                    self._loader(
                        getattr(self.splits, name),
                        batch_sampler=_Draws(
                            len(getattr(self.splits, name)),
                            size,
                            seed=self.seed,
                            stream=stream,
                            start=step,
                        ),
                    )
                )
                for stream, (name, size) in enumerate(self.sizes.items())
            }
        self._next = step + 1
        x_l, y_l = self._move(next(self._batches["labeled"]), labeled=True)
        x_u, _ = self._move(next(self._batches["unlabeled"]), labeled=False)
        return x_l, y_l, x_u

    def probe(self) -> Inputs:
        items = [self.splits.labeled[i] for i in range(min(2, len(self.splits.labeled)))]
        return self._move(default_collate(items), labeled=True)[0]

    def eval_batches(self, split: str) -> Iterator[tuple[Inputs, Tensor | None]]:
        loader = self._eval[split]
        for part in () if loader is None else loader:
            yield self._move(part, labeled=split != "unlabeled")


def source_of(
    data: SemiSupervisedData | DatasetSplits,
    *,
    device,
    seed: int,
    batch_size: int,
    unlabeled_batch_size: int,
    eval_batch_size: int = 4096,
    eval_unlabeled: int | None = None,
) -> Source:
    """The source of `data` on `device`: a `TensorSource` for a `SemiSupervisedData`, a
    `LoaderSource` for a `DatasetSplits`. Global batches of batch_size labeled and
    unlabeled_batch_size unlabeled examples; evaluation as `drift.train` describes it."""
    kwargs = dict(
        device=torch.device(device),
        seed=seed,
        batch_size=batch_size,
        unlabeled_batch_size=unlabeled_batch_size,
        eval_batch_size=eval_batch_size,
        eval_unlabeled=eval_unlabeled,
    )
    check_data(data)
    return (TensorSource if isinstance(data, SemiSupervisedData) else LoaderSource)(data, **kwargs)


def check_data(data) -> None:
    """TypeError, naming both kinds, unless `data` is a SemiSupervisedData or a DatasetSplits."""
    if not isinstance(data, (SemiSupervisedData, DatasetSplits)):
        raise TypeError(
            "data must be a drift.SemiSupervisedData (use drift.load_data or build one from your "
            f"tensors) or a drift.DatasetSplits of torch Datasets; got {type(data).__name__}"
        )
