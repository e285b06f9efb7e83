"""The settings of a training run as data: `TrainConfig`, and the split of `train`'s keyword
arguments between it and the `Method`.

`drift.train(method, data, config, **overrides)` takes its plain settings (step counts, batch
sizes, learning rate, noise, precision, evaluation, clipping, seed) as one frozen `TrainConfig`;
the objects a run is built from (the model, the device, optimizer and scheduler factories, views,
callback, checkpoint path, progress bar) stay keyword arguments of `train`. Keyword overrides
are split by name: `Method` fields change the method, `TrainConfig` fields the config, so
`drift.train("drift", data, steps=500, alpha=0.9)` reads as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from ..core.methods import Method, get_method
from ..validation import check_bool, check_choice, check_integer, check_real

PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
"""`train`'s precision choices and their autocast dtypes (None: no autocast)."""


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run (see `drift.train` for what each one does).

    steps: optimizer steps. batch_size, unlabeled_batch_size: examples per step (global under
        torchrun; unlabeled default None: 2 * batch_size). lr: the default optimizer's (Adam's)
        learning rate. input_noise: std of the Gaussian noise on the student's inputs (the
        default student view). seed: seeds the run's initial model, batches and noise.
    precision: "fp32", "bf16" or "fp16" (autocast of F's forward passes; `PRECISIONS`).
    eval_every: steps between evaluations (None: steps // 20, at least 1). eval_batch_size: rows
        per evaluation batch. eval_unlabeled: evaluate on a fixed random subset of this many
        unlabeled rows (None: all of them).
    max_grad_norm: clip the student's gradient to this norm before each step (None: no clipping).
    patience: stop when the student's validation accuracy has not improved for this many
        evaluations (None: run every step). restore_best: return the student and the teacher of
        the evaluation with the best validation accuracy (the first, on ties). Both need a
        labeled validation set (`SemiSupervisedData.with_labeled_validation`).

    Checked when made (TypeError for a wrong type, ValueError for a bad value, naming the
    setting); NumPy integers and floats are stored as Python numbers. `resolved()` fills in the
    defaults that depend on other settings. Frozen: change a setting with
    `dataclasses.replace(config, steps=500)`.
    """

    steps: int = 1000
    batch_size: int = 64
    unlabeled_batch_size: int | None = None
    lr: float = 1e-3
    input_noise: float = 0.1
    seed: int = 0
    precision: str = "fp32"
    eval_every: int | None = None
    eval_batch_size: int = 4096
    eval_unlabeled: int | None = None
    max_grad_norm: float | None = None
    patience: int | None = None
    restore_best: bool = False

    def __post_init__(self):
        for name, check in _CONSTRAINTS.items():
            value = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            checked = check(name, value)
            if checked is not value:  # a NumPy scalar, stored as a Python number
                object.__setattr__(self, name, checked)

    def resolved(self) -> TrainConfig:
        """This config with unlabeled_batch_size (2 * batch_size) and eval_every (steps // 20,
        at least 1) filled in where they are None."""
        return replace(
            self,
            unlabeled_batch_size=2 * self.batch_size
            if self.unlabeled_batch_size is None
            else self.unlabeled_batch_size,
            eval_every=max(1, self.steps // 20) if self.eval_every is None else self.eval_every,
        )


def _positive(name, value):
    return check_integer(name, value, minimum=1)


_CONSTRAINTS = {
    "steps": _positive,
    "batch_size": _positive,
    "unlabeled_batch_size": _positive,
    "lr": lambda name, value: check_real(
        name,
        value,
        minimum=0.0,
        low_open=True,
        finite=False,
        hint="the default optimizer's learning rate",
    ),
    "input_noise": lambda name, value: check_real(
        name, value, minimum=0.0, finite=False, hint="a standard deviation"
    ),
    "seed": check_integer,
    "precision": lambda name, value: check_choice(name, value, PRECISIONS),
    "eval_every": _positive,
    "eval_batch_size": _positive,
    "eval_unlabeled": _positive,
    "max_grad_norm": lambda name, value: check_real(
        name,
        value,
        minimum=0.0,
        low_open=True,
        expected="a number > 0",
        hint="the largest gradient norm, finite; or None for no clipping",
    ),
    "patience": lambda name, value: check_integer(
        name, value, minimum=1, hint="evaluations without a better validation accuracy; or None"
    ),
    "restore_best": check_bool,
}
"""TrainConfig's settings, each with its check (`drift.validation`)."""

_OPTIONAL = {"unlabeled_batch_size", "eval_every", "eval_unlabeled", "max_grad_norm", "patience"}
"""Settings that may be None (a default computed from others, or off)."""

DEFAULT = TrainConfig()
"""The default settings (what `train` uses without a config)."""

METHOD_FIELDS = frozenset(f.name for f in fields(Method))
CONFIG_FIELDS = frozenset(f.name for f in fields(TrainConfig))


def split_overrides(
    overrides: dict, *, others: frozenset | set = frozenset()
) -> tuple[dict, dict, dict]:
    """Split keyword arguments by name into (Method settings, TrainConfig settings, `others`).
    Any other name raises TypeError naming it and listing the valid ones."""
    unknown = sorted(set(overrides) - METHOD_FIELDS - CONFIG_FIELDS - set(others))
    if unknown:
        extra = f"; other arguments are {', '.join(sorted(others))}" if others else ""
        raise TypeError(
            f"unknown setting(s) {', '.join(unknown)}; "
            f"Method settings are {', '.join(sorted(METHOD_FIELDS))}; "
            f"TrainConfig settings are {', '.join(f.name for f in fields(TrainConfig))}{extra}"
        )
    method = {k: v for k, v in overrides.items() if k in METHOD_FIELDS}
    config = {k: v for k, v in overrides.items() if k in CONFIG_FIELDS}
    rest = {k: v for k, v in overrides.items() if k not in METHOD_FIELDS and k not in CONFIG_FIELDS}
    return method, config, rest


def settings(
    method: str | Method, config: TrainConfig | None = None, **overrides
) -> tuple[Method, TrainConfig]:
    """The run's (Method, TrainConfig): the preset or Method `method` and `config` (default
    `TrainConfig()`), each with its fields among `overrides` replaced. TypeError for a name that
    is neither, or a config that is not a TrainConfig."""
    if config is None:
        config = DEFAULT
    elif not isinstance(config, TrainConfig):
        raise TypeError(
            "config must be a drift.TrainConfig, e.g. drift.TrainConfig(steps=500), or None; "
            f"got {type(config).__name__}"
        )
    method_overrides, config_overrides, _ = split_overrides(overrides)
    method = get_method(method, **method_overrides)
    return method, replace(config, **config_overrides) if config_overrides else config
