"""The results of a comparison of methods x seeds (`Results`): final accuracies, paired tests
against a reference method, tables, figures and their JSON form."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..metrics import EXACT_MAX_N, PairedTest, Summary, holm_adjusted, paired_test, summarize
from ..tables import Table
from ..training.history import History


@dataclass
class Results:
    """Histories of methods x seeds. Accuracies in %; differences are paired by seed."""

    histories: dict[str, list[History]]
    reference: str | None = "mean_teacher"

    @property
    def methods(self) -> list[str]:
        return list(self.histories)

    def _runs(self, method: str) -> list[History]:
        if method not in self.histories:
            raise KeyError(f"method must be one of {', '.join(self.histories)}; got {method!r}")
        return self.histories[method]

    def final(self, method: str) -> np.ndarray:
        """Final test accuracy of each seed, (seeds,)."""
        return np.array([h.final_test_accuracy for h in self._runs(method)])

    def summary(self, method: str) -> Summary:
        """Mean ± std of the final test accuracy over seeds."""
        return summarize(self.final(method))

    def teacher_final(self, method: str) -> np.ndarray:
        """Final test accuracy of each seed's teacher, (seeds,): the EMA teacher, a copied
        teacher's latest copy, the EMA of the iterates for "supervised" (see
        `History.teacher_test_accuracy`); NaN for runs saved before it was recorded."""
        return np.array([h.final_teacher_test_accuracy for h in self._runs(method)])

    def teacher_summary(self, method: str) -> Summary:
        """Mean ± std of the teacher's final test accuracy over seeds (NaN where not recorded)."""
        return summarize(self.teacher_final(method))

    def paired(self, method: str, reference: str | None = None) -> Summary:
        """Per-seed final accuracy of `method` minus `reference`: mean, std and seeds > 0."""
        return summarize(self.final(method) - self.final(reference or self.reference))

    def _finals(self, *methods: str) -> list[np.ndarray]:
        """Final test accuracies of `methods`, (seeds,) each, checked to pair by seed."""
        finals = [self.final(m) for m in methods]
        if len({len(f) for f in finals}) > 1:
            counts = ", ".join(f"{m!r} {len(f)}" for m, f in zip(methods, finals))
            raise ValueError(
                f"paired seeds need as many runs of each method; got {counts}: compare them on the "
                "same seeds"
            )
        return finals

    def paired_stats(
        self,
        method: str,
        reference: str | None = None,
        confidence: float = 0.95,
        margin: float | None = None,
    ) -> PairedTest:
        """Per-seed final accuracy of `method` minus `reference` (pp), tested by
        `drift.metrics.paired_test`: mean, t-interval, exact sign-flip p and verdict (TOST
        equivalence within ±margin pp when given). Seeds pair by order; no multiplicity
        adjustment (see `tests`)."""
        mine, ref = self._finals(method, reference or self.reference)
        return paired_test(mine - ref, confidence=confidence, margin=margin)

    def _differences(
        self, reference: str, references: dict[str, Sequence[float]] | None
    ) -> dict[str, np.ndarray]:
        """Per-seed accuracy minus `reference`'s, (seeds,), of every method but the reference,
        then of each `references` row."""
        ref = self.final(reference)
        rows = {m: self.final(m) for m in self.methods if m != reference}
        for label, values in (references or {}).items():
            if label in self.histories:
                raise ValueError(
                    f"references[{label!r}] must be labelled apart from the methods "
                    f"{self.methods}: rename it"
                )
            rows[label] = np.asarray(values, dtype=float)
        for label, values in rows.items():  # methods and references alike
            if len(values) != len(ref):
                raise ValueError(
                    f"paired seeds need as many runs of {label!r} ({len(values)}) as of the "
                    f"reference {reference!r} ({len(ref)}): compare them on the same seeds"
                )
        return {label: values - ref for label, values in rows.items()}

    def tests(
        self,
        reference: str | None = None,
        *,
        references: dict[str, Sequence[float]] | None = None,
        margin: float | None = None,
    ) -> dict[str, PairedTest]:
        """{row: PairedTest} of `table`'s paired differences against `reference` (every method
        but the reference, then each `references` row), read as one family: each verdict is
        decided on its Holm-adjusted exact p (`drift.metrics.holm_adjusted`), as the table's is."""
        reference = reference or self.reference
        d = self._differences(reference, references)
        return holm_adjusted({label: paired_test(v, margin=margin) for label, v in d.items()})

    def interaction(
        self,
        a1b1: str,
        a1b0: str,
        a0b1: str,
        a0b0: str,
        *,
        confidence: float = 0.95,
        margin: float | None = None,
    ) -> PairedTest:
        """Interaction contrast of a 2x2 design, tested like any paired difference
        (`drift.metrics.paired_test`): per seed, (a1b1 - a1b0) - (a0b1 - a0b0) of the final
        accuracies (pp), i.e. how much more factor b helps at a1 than at a0. E.g. "do the views
        help DRIFT less than mean teacher?":
        `results.interaction("drift_views", "drift", "mean_teacher_views", "mean_teacher")`,
        negative if they help DRIFT less. Seeds pair by order."""
        f11, f10, f01, f00 = self._finals(a1b1, a1b0, a0b1, a0b0)
        return paired_test((f11 - f10) - (f01 - f00), confidence=confidence, margin=margin)

    def _stability(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed oscillation of test accuracy (pp) and mean student flip rate (%) between
        evaluations over the second half of training, (seeds,) each."""
        runs = self._runs(method)
        return np.array([h.oscillation for h in runs]), np.array(
            [100 * np.mean(h.settled("flip_rate")) for h in runs]
        )

    def stability(self, method: str) -> tuple[Summary, Summary]:
        """Oscillation of test accuracy (pp) and mean student flip rate (%) between evaluations,
        over the second half of training, each summarised over seeds."""
        osc, flips = self._stability(method)
        return summarize(osc), summarize(flips)

    def stability_test(
        self,
        method: str,
        reference: str | None = None,
        *,
        margin: float | tuple[float, float] | None = None,
    ) -> tuple[PairedTest, PairedTest]:
        """Paired tests (`drift.metrics.paired_test`, by seed) of `method` minus `reference` in
        the two stability measures of `stability`: oscillation (pp) and flip rate (%), each over
        the second half of training. margin: one for both, or (oscillation's, flip rate's), for
        TOST equivalence. Not adjusted for multiplicity: reading both (or with other tests) as
        one family, pass them to `drift.metrics.holm_adjusted`."""
        reference = reference or self.reference
        self._finals(method, reference)  # same seed count
        margins = margin if isinstance(margin, tuple) else (margin, margin)
        if len(margins) != 2:
            raise ValueError(
                f"margin must be a number or a pair (oscillation's, flip rate's); got {margin!r}"
            )
        mine, ref = self._stability(method), self._stability(reference)
        return tuple(paired_test(a - b, margin=m) for a, b, m in zip(mine, ref, margins))

    def table(
        self,
        reference: str | None = None,
        *,
        references: dict[str, Sequence[float]] | None = None,
        margin: float | None = None,
    ) -> Table:
        """A markdown `Table`: accuracy, paired difference against `reference`, stability.

        The teacher's final test accuracy stands beside the student's ("teacher acc."; see
        `teacher_final`) when some run recorded it; runs saved before it was recorded show "-".

        The paired difference (pp, per seed against the reference, seeds paired by order) shows
        its mean and 95% t-based confidence interval, "+0.67 [-1.27, 2.61]", the two-sided
        sign-flip permutation p ("p (exact)"; "p (Monte Carlo)" above `EXACT_MAX_N` seeds), a
        verdict ("better", "worse", "equivalent within ±margin" given a margin in pp, or
        "inconclusive") and how many seeds favour the method. Verdicts follow
        `drift.metrics.verdict` at alpha = 0.05 on Holm-adjusted exact p-values across the
        table's rows ("verdict (Holm)"; `tests` returns them). With one seed there is nothing
        to test: interval, p and verdict show "-"; so do rows whose accuracies are not finite.
        references: extra rows {label: per-seed test accuracies (%)} from other learners on the
        same seeds and splits (e.g. `drift.experiments.baselines.reference_accuracies`), paired the
        same way. A bare `results` in a notebook cell shows `table()` rendered.
        """
        reference = reference or self.reference
        has_ref = reference in self.histories
        n = len(next(iter(self.histories.values())))
        header = ["method", f"test acc. (%) over {n} seeds"]
        teachers = {m: self.teacher_final(m) for m in self.methods}
        has_teacher = any(np.isfinite(t).any() for t in teachers.values())
        if has_teacher:
            header.append("teacher acc. (%)")
        if has_ref:
            p_header = "p (exact)" if n <= EXACT_MAX_N else "p (Monte Carlo)"
            header += [f"Δ vs {reference} [95% t-CI]", p_header, "verdict (Holm)", "seeds Δ > 0"]
        header += ["oscillation (pp)", "flip rate (%)"]  # second half of training
        for label, values in (references or {}).items():
            if len(values) != n:
                raise ValueError(
                    f"references[{label!r}] must hold one accuracy per seed ({n}); got "
                    f"{len(values)}"
                )

        cells: dict[str, list[str]] = {}
        if has_ref:
            d = self._differences(reference, references)
            tests = holm_adjusted(
                {
                    label: paired_test(v, margin=margin)
                    for label, v in d.items()
                    if np.isfinite(v).all()
                }
            )
            for label, v in d.items():
                test = tests.get(label)
                ahead = summarize(v)
                cells[label] = [*_paired_cells(test, v), f"{ahead.wins}/{ahead.n}"]
            cells[reference] = ["-"] * 4

        rows = []
        for m in self.methods:
            osc, flips = self.stability(m)
            teacher = (
                [summarize(teachers[m]) if np.isfinite(teachers[m]).all() else "-"]
                if has_teacher
                else []
            )
            rows.append([m, self.summary(m), *teacher, *cells.get(m, []), osc, flips])
        for label, values in (references or {}).items():
            rows.append(
                [
                    label,
                    summarize(values),
                    *(["-"] if has_teacher else []),
                    *cells.get(label, []),
                    "-",
                    "-",
                ]
            )
        return Table.from_rows(header, rows)

    def _repr_markdown_(self) -> str:
        return self.table()

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython's plain-text view: the same table
        printer.text(self.table())

    def plot(self, **kwargs):
        """Curves of every method, mean ± std over seeds (see `drift.plotting.plot_histories`)."""
        from ..plotting import plot_histories

        return plot_histories(self.histories, **kwargs)

    def to_dict(self) -> dict:
        return {
            "reference": self.reference,
            "histories": {m: [h.to_dict() for h in runs] for m, runs in self.histories.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Results":
        return cls(
            {m: [History.from_dict(h) for h in runs] for m, runs in d["histories"].items()},
            d["reference"],
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write `to_dict()` as standard JSON (NaN, e.g. an unknown pseudo-label accuracy, as
        null)."""
        with open(path, "w") as f:
            json.dump(nan_to_none(self.to_dict()), f, allow_nan=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Results":
        """Read a file written by `save` (null back to NaN)."""
        with open(path) as f:
            return cls.from_dict(none_to_nan(json.load(f)))


def _paired_cells(test: PairedTest | None, d: np.ndarray) -> list[str]:
    """Table cells of a paired difference d (seeds,): "mean [low, high]", the exact p and the
    verdict, "-" for what is undefined (one seed, non-finite accuracies)."""
    mean = f"{np.mean(d):+.2f}"
    if test is None or test.n == 1:
        return [mean, "-", "-"]
    interval = f" [{test.low:.2f}, {test.high:.2f}]"
    word = test.verdict + (f" within ±{test.margin:g}" if test.verdict == "equivalent" else "")
    return [mean + interval, f"{test.p_exact:.3g}", word]


def none_to_nan(value):
    if isinstance(value, dict):
        return {k: none_to_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [math.nan if v is None else none_to_nan(v) for v in value]
    return value


def nan_to_none(value):
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value
