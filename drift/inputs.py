"""Model inputs: a tensor (N, ...) or a dict of tensors that share the first dimension N.

A dict is passed to the model as keyword arguments, `model(**x)` (e.g. a Hugging Face model's
`input_ids` and `attention_mask`), by the student's forward pass and the teacher's
`functional_call` alike. These helpers count, index, concatenate, move and add noise to either
kind, so the rest of the package treats both the same way.
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
import torch
from torch import Tensor, nn

Inputs = Union[Tensor, dict[str, Tensor]]
"""A tensor (N, ...) or a dict {name: tensor (N, ...)}."""


def as_tensor(name: str, value) -> Tensor:
    """`value` as a tensor: a tensor as is, a NumPy array converted (floating arrays to torch's
    default dtype, float32, to match the models). TypeError naming `name` otherwise."""
    if isinstance(value, np.ndarray):  # NumPy's float64 default becomes torch's float32 default
        value = torch.from_numpy(value)
        value = value.to(torch.get_default_dtype()) if value.is_floating_point() else value
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array; got {type(value).__name__}")
    return value


def as_inputs(name: str, value) -> Inputs:
    """`value` as inputs: a tensor or array (see `as_tensor`), or a dict of them with string
    keys (a new dict of tensors). TypeError naming `name` otherwise."""
    if not isinstance(value, dict):
        return as_tensor(name, value)
    if not value or not all(isinstance(k, str) for k in value):
        raise TypeError(
            f"{name} must be a tensor or a non-empty dict of tensors with str keys (the model's "
            "argument names)"
        )
    return {k: as_tensor(f"{name}[{k!r}]", v) for k, v in value.items()}


def apply(fn: Callable[[Tensor], Tensor], x: Inputs) -> Inputs:
    """fn applied to the tensor, or to each tensor of the dict (a new dict, same keys)."""
    return {k: fn(v) for k, v in x.items()} if isinstance(x, dict) else fn(x)


def tensors(x: Inputs) -> list[Tensor]:
    """The tensor, or the dict's tensors in its order."""
    return list(x.values()) if isinstance(x, dict) else [x]


def num_rows(x: Inputs) -> int:
    """N, the first dimension (shared by every tensor of a dict)."""
    return tensors(x)[0].shape[0]


def device_of(x: Inputs) -> torch.device:
    """The device of the (first) tensor."""
    return tensors(x)[0].device


def feature_shape(x: Inputs) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """The shape of one example: (...) of a tensor, {name: (...)} of a dict."""
    return (
        {k: tuple(v.shape[1:]) for k, v in x.items()} if isinstance(x, dict) else tuple(x.shape[1:])
    )


def take(x: Inputs, index) -> Inputs:
    """Rows `index` (a slice or an index tensor) of every tensor."""
    return apply(lambda t: t[index], x)


def cat(xs: list[Inputs]) -> Inputs:
    """Concatenate inputs of one kind along the rows."""
    if isinstance(xs[0], dict):
        return {k: torch.cat([x[k] for x in xs]) for k in xs[0]}
    return torch.cat(xs)


def to_device(x: Inputs, device, *, non_blocking: bool = False) -> Inputs:
    """Every tensor on `device`."""
    return apply(lambda t: t.to(device, non_blocking=non_blocking), x)


def add_noise(x: Inputs, scale: float, generator: torch.Generator | None = None) -> Inputs:
    """x + scale * Gaussian noise on floating-point tensors (one draw each, in the dict's order,
    from `generator`, default torch's global generator of the tensor's device); integer tensors
    (token ids, attention masks) and booleans unchanged, and everything unchanged when scale is
    0."""

    def noisy(t: Tensor) -> Tensor:
        if not (scale > 0 and t.is_floating_point()):
            return t
        return t + scale * torch.randn(t.shape, dtype=t.dtype, device=t.device, generator=generator)

    return apply(noisy, x)


def forward(model: nn.Module, x: Inputs):
    """model(x) for a tensor, model(**x) for a dict: the model's raw output."""
    args, kwargs = as_args(x)
    return model(*args, **kwargs)


def as_args(x: Inputs) -> tuple[tuple, dict]:
    """(args, kwargs) of the call `model(*args, **kwargs)` on x, e.g. for `functional_call`."""
    return ((), x) if isinstance(x, dict) else ((x,), {})
