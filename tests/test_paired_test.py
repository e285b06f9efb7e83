"""Statistics that decide: paired t-test and t-based 95% CI of per-seed differences."""
import math

import numpy as np
import pytest
from scipy import stats

import drift
from drift.history import History
from drift.metrics import PairedTest, paired_test

DIFFS = [0.5, -1.2, 2.0, 1.1, 0.9]


def test_against_scipy():
    r = paired_test(DIFFS)
    d = np.array(DIFFS)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert r.n == 5 and r.mean == pytest.approx(d.mean(), abs=1e-12)
    assert (r.low, r.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert r.p_value == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, abs=1e-12)
    assert r.p_value == pytest.approx(stats.ttest_rel(d + 3.0, np.full(5, 3.0)).pvalue, abs=1e-12)


def test_by_hand():
    """d = (1, 2, 3): mean 2, std 1, sem 1/sqrt(3), t = 2 sqrt(3) on 2 degrees of freedom;
    with 2 degrees of freedom the t distribution's CDF is 1/2 + t / (2 sqrt(t^2 + 2)), so
    t_{0.975, 2} = sqrt(2 * 0.95^2 / (1 - 0.95^2)) and the two-sided p is 1 - t / sqrt(t^2 + 2)."""
    r = paired_test([1.0, 2.0, 3.0])
    half = math.sqrt(2 * 0.95**2 / (1 - 0.95**2)) / math.sqrt(3)
    assert r.mean == 2.0 and r.low == pytest.approx(2 - half, abs=1e-12) and r.high == pytest.approx(2 + half, abs=1e-12)
    t = 2 * math.sqrt(3)
    assert r.p_value == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-12)
    assert str(r) == f"+2.00 [{2 - half:+.2f}, {2 + half:+.2f}], p = {r.p_value:.2g}"


def test_confidence_level_and_single_seed():
    assert paired_test(DIFFS, 0.99).low < paired_test(DIFFS).low
    one = paired_test([1.5])
    assert one.n == 1 and one.mean == 1.5 and all(math.isnan(x) for x in (one.low, one.high, one.p_value))
    with pytest.raises(ValueError, match="differences must hold at least one value"):
        paired_test([])
    with pytest.raises(ValueError, match="confidence must be in"):
        paired_test(DIFFS, 95)
    with pytest.raises(AttributeError):
        one.mean = 0.0  # frozen
    assert isinstance(one, PairedTest) and drift.paired_test is paired_test


def _history(method: str, seed: int, acc: float) -> History:
    h = History(method=method, seed=seed)
    h.step.append(10)
    h.test_accuracy.append(acc)
    return h


def test_results_paired_stats_pairs_by_seed():
    a, b = [70.0, 72.0, 71.0, 74.0], [69.0, 72.5, 70.0, 71.0]
    results = drift.Results({"mean_teacher": [_history("mean_teacher", s, v) for s, v in enumerate(b)],
                             "drift": [_history("drift", s, v) for s, v in enumerate(a)]})
    assert results.paired_stats("drift") == paired_test(np.array(a) - np.array(b))
    assert results.paired_stats("mean_teacher", "drift").mean == pytest.approx(-np.mean(np.array(a) - np.array(b)))
    short = drift.Results({"mean_teacher": results.histories["mean_teacher"][:2], "drift": results.histories["drift"]})
    with pytest.raises(ValueError, match="paired seeds need as many runs"):
        short.paired_stats("drift")


def _results(columns: dict[str, list[float]]) -> drift.Results:
    return drift.Results({m: [_history(m, s, v) for s, v in enumerate(vals)] for m, vals in columns.items()})


def _cells(table: str, row: int) -> list[str]:
    return [c.strip() for c in table.splitlines()[row].strip("|").split("|")]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # these one-evaluation histories have no stability
def test_table_shows_the_t_interval_and_p_value():
    """Results.table(): the paired difference as "mean [low, high]" (95%, t-based) and the
    paired t-test's p-value, checked against scipy on known accuracies."""
    a, b = [70.0, 72.0, 71.0, 74.0], [69.0, 72.5, 70.0, 70.7]
    table = _results({"mean_teacher": b, "drift": a}).table()
    header = _cells(table, 0)
    assert header[2:5] == ["Δ vs mean_teacher [95% t-CI]", "p (t-test)", "seeds Δ > 0"]
    assert _cells(table, 2)[2:5] == ["-", "-", "-"]  # the reference itself
    d = np.array(a) - np.array(b)  # (1, -0.5, 1, 3.3)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    p = stats.ttest_rel(a, b).pvalue
    assert _cells(table, 3)[2:5] == [f"{d.mean():+.2f} [{low:.2f}, {high:.2f}]", f"{p:.2g}", "3/4"]
    assert _cells(table, 3)[2:4] == ["+1.20 [-1.30, 3.70]", "0.22"]  # the same, by value
    # extra reference rows are paired the same way
    row = _cells(_results({"mean_teacher": b}).table(references={"other": a}), 3)
    assert row[0] == "other" and row[2:5] == _cells(table, 3)[2:5] and row[5:] == ["-", "-"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_table_with_one_seed_shows_dashes_not_nan():
    one = _results({"mean_teacher": [70.0], "drift": [71.5]}).table()
    assert _cells(one, 3)[2:5] == ["+1.50", "-", "1/1"]
    flat = _results({"mean_teacher": [70.0, 71.0], "drift": [71.0, 72.0]}).table()
    cells = _cells(flat, 3)[2:5]  # no spread: a zero-width interval; p as scipy gives it, or "-"
    p = stats.ttest_1samp([1.0, 1.0], 0.0).pvalue
    assert cells == ["+1.00 [1.00, 1.00]", "-" if np.isnan(p) else f"{p:.2g}", "2/2"]
    short = drift.Results({"mean_teacher": [_history("mean_teacher", 0, 70.0)]})
    with pytest.raises(ValueError, match="one accuracy per seed"):
        short.table(references={"other": [1.0, 2.0]})
