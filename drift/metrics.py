"""Metrics of accuracy and stability, and summaries over seeds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows whose argmax equals y: logits (N, C), y (N,)."""
    return (logits.argmax(dim=-1) == y).float().mean().item()


def flip_rate(before: Tensor, after: Tensor) -> float:
    """Fraction of predicted classes that changed: before, after (N,) class indices."""
    return (before != after).float().mean().item()


def oscillation(values: Sequence[float]) -> float:
    """Mean absolute change between consecutive evaluations, e.g. of test accuracy."""
    values = np.asarray(values, dtype=float)
    return float(np.abs(np.diff(values)).mean()) if len(values) > 1 else 0.0


def error_bound(err: float, floor: float = 1e-9) -> str:
    """A relative or absolute error as printed in the book: "< 1e-09" when it is below `floor`
    (round-off, whose digits vary with the CPU's arithmetic), else its value, e.g. "3.2e-05"."""
    return f"< {floor:.0e}" if err < floor else f"{err:.1e}"


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof=1) over seeds; `wins` counts values > 0."""

    mean: float
    std: float
    n: int
    wins: int

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f}"


def summarize(values: Sequence[float]) -> Summary:
    """Summary of per-seed values (a paired difference's wins are its seeds > 0)."""
    values = np.asarray(values, dtype=float)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return Summary(float(values.mean()), std, len(values), int((values > 0).sum()))
