"""Pseudo-labels as functions of teacher logits g.

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


def sharpened_labels(
    logits: Tensor, tau: float = 1.0, power: float = 2.0, class_normalize: bool = True
) -> Tensor:
    """COSINE's sharpened soft labels (Yu et al., NAACL 2021), (N, C) -> (N, C):

        q_jc ∝ p_jc^power / f_c,   p = softmax(g / tau),   f_c = sum_j p_jc,

    normalised over c in each row; f_c is the batch's soft frequency of class c (the sum runs
    over the N rows of `logits`, so every label depends on the whole batch). Without
    `class_normalize` the division by f is left out, and q = softmax(power * g / tau) is
    `soft_labels(g, tau / power)`. Computed in log space, q = softmax(power * g / tau - log f),
    with log f_c = logsumexp_j log_softmax(g / tau)_jc: no power of a small probability
    underflows. Differentiable in g, through p and through f alike (no stop-gradient)."""
    z = logits / tau
    scores = power * z  # power * log p_jc up to a per-row constant, which the row softmax drops
    if class_normalize:
        log_frequency = torch.logsumexp(torch.log_softmax(z, dim=-1), dim=0)  # (C,): log f_c
        scores = scores - log_frequency
    return torch.softmax(scores, dim=-1)


def pseudo_labels(
    logits: Tensor,
    kind: str = "soft",
    tau: float = 1.0,
    *,
    power: float = 1.0,
    class_normalize: bool = False,
) -> Tensor:
    """Dispatch on `kind` ("hard", "soft", "straight_through"); (N, C) -> (N, C).

    power, class_normalize: soft labels only; at their defaults (1, False) "soft" is
    `soft_labels(logits, tau)` exactly, otherwise `sharpened_labels(logits, tau, power,
    class_normalize)`."""
    if kind == "hard":
        return hard_labels(logits)
    if kind == "soft":
        if power != 1.0 or class_normalize:
            return sharpened_labels(logits, tau, power, class_normalize)
        return soft_labels(logits, tau)
    if kind == "straight_through":
        return straight_through_labels(logits, tau)
    raise ValueError(f"kind must be 'hard', 'soft' or 'straight_through'; got {kind!r}")
