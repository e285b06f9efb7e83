"""Metrics of accuracy and stability, and summaries over seeds."""
from __future__ import annotations

import math
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


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison over seeds: the mean of the per-seed differences, its 95% t-based
    confidence interval [low, high] (mean ± t_{0.975, n-1} * std / sqrt(n), std with ddof=1),
    and the two-sided p-value of a paired t-test (a one-sample t-test of the differences
    against 0). With n = 1 the interval and p-value are NaN (no spread to test against); with
    all differences equal (std 0) they follow scipy (interval of zero width, p-value NaN)."""

    mean: float
    low: float
    high: float
    p_value: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}], p = {self.p_value:.2g}"


def paired_test(differences: Sequence[float], confidence: float = 0.95) -> PairedTest:
    """Mean, t-based confidence interval and paired t-test p-value of per-seed differences
    (e.g. `Results.final(m) - Results.final(ref)`), (n,) -> PairedTest. Needs scipy (installed
    with scikit-learn)."""
    from scipy import stats

    d = np.asarray(differences, dtype=float).reshape(-1)
    if d.size == 0:
        raise ValueError("differences must hold at least one value (one per seed); got none")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")
    n, mean = d.size, float(d.mean())
    if n == 1:
        return PairedTest(mean, math.nan, math.nan, math.nan, 1)
    sem = float(d.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    p_value = float(stats.ttest_1samp(d, 0.0).pvalue)
    return PairedTest(mean, mean - half, mean + half, p_value, n)
