"""Pseudo-labels as functions of teacher logits g (DESIGN §1).

All functions map logits (N, C) to label distributions (N, C) whose rows sum to 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def hard_labels(logits: Tensor) -> Tensor:
    """onehot(argmax g), (N, C). Piecewise constant: its gradient is zero."""
    return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


def soft_labels(logits: Tensor, tau: float = 1.0) -> Tensor:
    """softmax(g / tau), (N, C). tau < 1 sharpens; tau -> 0 approaches `hard_labels`."""
    return torch.softmax(logits / tau, dim=-1)


def straight_through_labels(logits: Tensor, tau: float = 1.0) -> Tensor:
    """Hard labels in the forward pass, the gradient of `soft_labels` in the backward pass."""
    soft = soft_labels(logits, tau)
    return soft + (hard_labels(logits) - soft).detach()


def pseudo_labels(logits: Tensor, kind: str = "soft", tau: float = 1.0) -> Tensor:
    """Dispatch on `kind` ("hard", "soft", "straight_through"); (N, C) -> (N, C)."""
    if kind == "hard":
        return hard_labels(logits)
    if kind == "soft":
        return soft_labels(logits, tau)
    if kind == "straight_through":
        return straight_through_labels(logits, tau)
    raise ValueError(f"kind must be 'hard', 'soft' or 'straight_through'; got {kind!r}")
