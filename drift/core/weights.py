"""Sample weights as functions of teacher probabilities p = softmax(g).

All functions map probabilities (N, C) to weights (N,).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def entropy(probs: Tensor) -> Tensor:
    """Shannon entropy H(p) in nats, (N, C) -> (N,). 0 log 0 is taken as 0, with a finite
    gradient even where a softmax underflowed to exactly 0 (xlogy's gradient is NaN there)."""
    return -(probs * probs.clamp_min(torch.finfo(probs.dtype).tiny).log()).sum(dim=-1)


def entropy_weights(probs: Tensor) -> Tensor:
    """Entropy confidence 1 - H(p) / log C in [0, 1]: 1 for a one-hot p, 0 for a uniform p."""
    return 1.0 - entropy(probs) / math.log(probs.shape[-1])


def threshold_weights(probs: Tensor, threshold: float) -> Tensor:
    """1[max p >= threshold], (N,). Piecewise constant: its gradient is zero."""
    return (probs.max(dim=-1).values >= threshold).to(probs.dtype)


NORMALIZATIONS = (False, True, "detached", "batch")
"""Values of `sample_weights(normalize=...)`: False (none), True or "detached" (w_j / sg(mean w)),
"batch" (w_j / mean w, with gradient through the mean)."""


def check_normalize(name: str, value) -> None:
    """Raise ValueError naming `name` unless `value` is one of NORMALIZATIONS
    (exactly: not 1 or 0)."""
    if not any(value is v or (isinstance(value, str) and value == v) for v in NORMALIZATIONS):
        raise ValueError(
            f"{name} must be one of False, True, 'detached' or 'batch' (True and 'detached' divide "
            f"by the stop-gradient batch mean, 'batch' by the mean with gradient); got {value!r}"
        )


def confidence_mask(weights: Tensor, below: float) -> Tensor:
    """COSINE's confidence mask: w_j, or 0 where w_j < `below`, (N,) -> (N,). A kept weight keeps
    its gradient (d w_j); a masked one has none. The mask itself is piecewise constant: its
    threshold crossings are jumps of F that no gradient sees."""
    return torch.where(weights >= below, weights, torch.zeros_like(weights))


def sample_weights(
    probs: Tensor,
    kind: str = "entropy",
    *,
    threshold: float = 0.8,
    normalize: bool | str = False,
    mask_below: float = 0.0,
) -> Tensor:
    """Weights (N,) of kind "uniform", "threshold" or "entropy".

    mask_below: weights below it are set to 0 (`confidence_mask`), before any normalisation;
    0 (the default) masks nothing and computes nothing more.

    normalize: False leaves w as is; True or "detached" divides by the stop-gradient batch mean,
    w_j / sg(mean_k w_k), so the scale of the unlabeled loss stays fixed; "batch" divides by the
    batch mean with gradient through it, w_j / mean_k w_k, so the weights only redistribute
    (they sum to N) and lowering them all together changes nothing. A batch with all weights
    zero keeps zero weights.
    """
    check_normalize("normalize", normalize)
    if kind == "uniform":
        w = torch.ones(probs.shape[:-1], dtype=probs.dtype, device=probs.device)
    elif kind == "threshold":
        w = threshold_weights(probs, threshold)
    elif kind == "entropy":
        w = entropy_weights(probs)
    else:
        raise ValueError(f"kind must be 'uniform', 'threshold' or 'entropy'; got {kind!r}")
    if mask_below != 0.0:  # opt-in
        w = confidence_mask(w, mask_below)
    if normalize is not False:
        mean = w.mean() if normalize == "batch" else w.mean().detach()
        w = w / mean.clamp_min(torch.finfo(w.dtype).tiny)
    return w
