"""Metrics of accuracy and stability, and summaries over seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
from torch import Tensor
from .validation import check_real


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


EXACT_MAX_N = 16
"""`paired_test` enumerates all 2^n sign vectors up to this many differences (2^16 = 65 536,
under a second); above, it draws `MONTE_CARLO_RESAMPLES` of them with a fixed seed."""
MONTE_CARLO_RESAMPLES = 100_000


def verdict(mean: float, p: float, p_equivalence: float = math.nan, *, alpha: float = 0.05) -> str:
    """The decision rule of a paired difference, one word:

    "better" if p < alpha and mean > 0; "worse" if p < alpha and mean < 0; otherwise
    "equivalent" if p_equivalence < alpha (a TOST p-value, given a margin); otherwise
    "inconclusive". p is the exact sign-flip p-value, or its multiplicity-adjusted value
    (e.g. Holm's, `holm`); NaN p-values never pass.
    """
    if p < alpha and mean != 0:
        return "better" if mean > 0 else "worse"
    return "equivalent" if p_equivalence < alpha else "inconclusive"


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison over seeds (`paired_test`): of the per-seed differences,

    - mean, and its t-based confidence interval [low, high] at `confidence` (mean ±
      t_{(1+confidence)/2, n-1} * std / sqrt(n), std with ddof=1);
    - p_value: the two-sided paired t-test p (a one-sample t-test against 0);
    - p_exact: the two-sided sign-flip permutation p (exact up to `EXACT_MAX_N` seeds, Monte
      Carlo above); p_adjusted: the p the verdict uses, p_exact itself or its
      multiplicity-adjusted value (`adjusted`, `holm_adjusted`);
    - p_equivalence: the TOST p that the true mean lies within ±margin (NaN without one);
    - verdict: `verdict(mean, p_adjusted, p_equivalence, alpha=1 - confidence)`.

    With n = 1 everything but the mean is NaN; with all differences equal (up to float
    rounding) the interval has zero width and the t-test and TOST p-values are NaN (no
    spread), while p_exact is defined.
    """

    mean: float
    low: float
    high: float
    p_value: float
    n: int
    p_exact: float
    p_equivalence: float
    margin: float | None
    confidence: float
    p_adjusted: float

    @property
    def alpha(self) -> float:
        """The verdict's significance level, 1 - confidence (e.g. 0.05)."""
        return round(1.0 - self.confidence, 12)

    @property
    def verdict(self) -> str:
        """One word: "better", "worse", "equivalent" or "inconclusive" (`drift.metrics.verdict`)."""
        return verdict(self.mean, self.p_adjusted, self.p_equivalence, alpha=self.alpha)

    def adjusted(self, p_adjusted: float) -> "PairedTest":
        """This test with its verdict decided on `p_adjusted` (e.g. from `holm`) instead."""
        return replace(self, p_adjusted=float(p_adjusted))

    def __str__(self) -> str:
        kind = "exact" if self.n <= EXACT_MAX_N else "Monte Carlo"
        return (
            f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}], "
            f"p ({kind}) = {self.p_exact:.3g}, {self.verdict}"
        )


def paired_test(
    differences: Sequence[float], *, confidence: float = 0.95, margin: float | None = None
) -> PairedTest:
    """Tests of per-seed differences (e.g. `Results.final(m) - Results.final(ref)`), (n,) ->
    `PairedTest`: the mean with its t-based interval, the paired t-test p, the exact sign-flip
    p and, given `margin` (> 0, in the units of the differences, e.g. 1.0 for one point of
    accuracy), a TOST equivalence p; and one verdict word at alpha = 1 - confidence.

    The sign-flip test (`scipy.stats.permutation_test`, one sample, permutation_type="samples")
    asks whether the differences are symmetric about 0: it enumerates all 2^n sign vectors for
    n <= `EXACT_MAX_N` and draws `MONTE_CARLO_RESAMPLES` with a fixed seed above (p = (hits +
    1) / (draws + 1): reproducible, and valid though not exact). It needs no
    normality, but its p is a multiple of 2 / 2^n: with 5 seeds the smallest two-sided p is
    2/32 = 0.0625, so five seeds can never give "better" or "worse" at alpha = 0.05; six can
    (2/64 = 0.031). TOST is two one-sided t-tests (`scipy.stats.ttest_1samp` against -margin,
    alternative "greater", and +margin, "less"); its p is the larger, below alpha exactly when
    the (1 - 2 alpha) t-interval lies inside (-margin, +margin).

    Decision rule (`verdict`): "better" if p_exact < alpha and mean > 0, "worse" if p_exact <
    alpha and mean < 0, else "equivalent" if a margin is given and TOST p < alpha, else
    "inconclusive". Several comparisons read at once: adjust p_exact with `holm` (see
    `holm_adjusted`) and decide on that.
    """
    from scipy import stats

    d = np.asarray(differences, dtype=float).reshape(-1)
    if d.size == 0:
        raise ValueError("differences must hold at least one value (one per seed); got none")
    if not np.isfinite(d).all():
        bad = np.flatnonzero(~np.isfinite(d)).tolist()
        raise ValueError(
            f"differences must be finite; got NaN or inf at seeds {bad}: "
            "drop those seeds from both methods (e.g. runs without a test set)"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")
    if margin is not None:
        check_real(
            "margin",
            margin,
            minimum=0,
            low_open=True,
            expected="a number > 0",
            hint=(
                "in the units of the differences, e.g. 1.0 for one point of accuracy; or None for "
                "no equivalence test"
            ),
        )
    margin = None if margin is None else float(margin)
    n, mean, nan = d.size, float(d.mean()), math.nan
    if n == 1:
        return PairedTest(mean, nan, nan, nan, 1, nan, nan, margin, confidence, nan)
    p_exact = float(
        stats.permutation_test(
            (d,),
            np.mean,
            permutation_type="samples",
            vectorized=True,
            alternative="two-sided",
            n_resamples=np.inf if n <= EXACT_MAX_N else MONTE_CARLO_RESAMPLES,
            rng=np.random.default_rng(0),
        ).pvalue
    )
    if np.ptp(d) <= 1e-9 * np.abs(d).max():  # no spread beyond float rounding: no t statistic
        return PairedTest(mean, mean, mean, nan, n, p_exact, nan, margin, confidence, p_exact)
    sem = float(d.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    p_value = float(stats.ttest_1samp(d, 0.0).pvalue)
    p_equivalence = nan
    if margin is not None:
        above = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
        below = stats.ttest_1samp(d, margin, alternative="less").pvalue
        p_equivalence = float(max(above, below))
    return PairedTest(
        mean,
        mean - half,
        mean + half,
        p_value,
        n,
        p_exact,
        p_equivalence,
        margin,
        confidence,
        p_exact,
    )


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, same shape as `p_values` (any shape, flattened into
    one family). With the k finite p-values sorted ascending, p_(1) <= ... <= p_(k), the i-th
    becomes max_{j <= i} min(1, (k - j + 1) p_(j)); rejecting where the adjusted p < alpha
    keeps the chance of any false rejection in the family <= alpha. NaN entries (tests that
    could not be run) stay NaN and do not count in k."""
    p = np.asarray(p_values, dtype=float)
    flat = p.reshape(-1)
    finite = ~np.isnan(flat)
    if ((flat[finite] < 0) | (flat[finite] > 1)).any():
        raise ValueError(f"p_values must lie in [0, 1] (NaN for a test not run); got {p_values!r}")
    out = np.full(flat.shape, np.nan)
    idx = np.flatnonzero(finite)
    order = idx[np.argsort(flat[idx], kind="stable")]
    k = order.size
    scaled = (k - np.arange(k)) * flat[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out.reshape(p.shape)


def holm_adjusted(tests: Mapping[str, PairedTest]) -> dict[str, PairedTest]:
    """The tests {label: PairedTest} read as one family: each one's verdict decided on its
    Holm-adjusted exact p (`holm` of their p_exact; `PairedTest.adjusted`)."""
    adjusted = holm([t.p_exact for t in tests.values()])
    return {label: t.adjusted(p) for (label, t), p in zip(tests.items(), adjusted)}
