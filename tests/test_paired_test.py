"""Statistics that decide: per-seed differences tested by a t-interval, an exact sign-flip p, a
TOST equivalence p and one verdict; Holm's adjustment across a table; 2x2 interactions;
stability."""

import math

import numpy as np
import pytest
from scipy import stats

import drift
from drift.training.history import History
from drift.metrics import EXACT_MAX_N, PairedTest, holm, holm_adjusted, paired_test, verdict

DIFFS = [0.5, -1.2, 2.0, 1.1, 0.9]


def sign_flip_p(d) -> float:
    """Brute force: the share of all 2^n sign vectors s with |sum(s d)| >= |sum(d)| (integer d:
    exact arithmetic, no ties lost to rounding)."""
    d = np.asarray(d, dtype=np.int64)
    n = d.size
    signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    return float((np.abs(signs @ d) >= abs(d.sum())).mean())


def test_t_interval_and_t_test_against_scipy():
    r = paired_test(DIFFS)
    d = np.array(DIFFS)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert r.n == 5 and r.mean == pytest.approx(d.mean(), abs=1e-12)
    assert (r.low, r.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert r.p_value == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, abs=1e-12)
    assert r.p_value == pytest.approx(stats.ttest_rel(d + 3.0, np.full(5, 3.0)).pvalue, abs=1e-12)


def test_t_interval_by_hand():
    """d = (1, 2, 3): mean 2, std 1, sem 1/sqrt(3), t = 2 sqrt(3) on 2 degrees of freedom;
    with 2 degrees of freedom the t distribution's CDF is 1/2 + t / (2 sqrt(t^2 + 2)), so
    t_{0.975, 2} = sqrt(2 * 0.95^2 / (1 - 0.95^2)) and the two-sided p is 1 - t / sqrt(t^2 + 2)."""
    r = paired_test([1.0, 2.0, 3.0])
    half = math.sqrt(2 * 0.95**2 / (1 - 0.95**2)) / math.sqrt(3)
    assert (
        r.mean == 2.0
        and r.low == pytest.approx(2 - half, abs=1e-12)
        and r.high == pytest.approx(2 + half, abs=1e-12)
    )
    t = 2 * math.sqrt(3)
    assert r.p_value == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-12)
    # all 8 sign vectors: only (+,+,+) and (-,-,-) reach |sum| = 6
    assert r.p_exact == pytest.approx(2 / 8, abs=1e-12) and r.verdict == "inconclusive"
    assert str(r) == f"+2.00 [{2 - half:+.2f}, {2 + half:+.2f}], p (exact) = 0.25, inconclusive"
    many = drift.paired_test(np.arange(1.0, 1.0 + drift.metrics.EXACT_MAX_N + 1))
    # above EXACT_MAX_N seeds the p is sampled, and says so
    assert "p (Monte Carlo) = " in str(many)


@pytest.mark.parametrize(
    "d",
    [
        [3, -1, 4, 1, 5],
        [2, 2, -2, 1, 0, 3],
        [1, 1, 1, -1, 2, 7, -3],
        [0, 0, 5, -5],
        [4, 9, 1, 6, 2, 8, 3, -1, 5, 7, 2, 4],
        [-2, -3, -1, -4, 1, -2],
    ],
)
def test_exact_p_against_brute_force_and_scipy(d):
    r = paired_test(d)
    assert r.p_exact == pytest.approx(sign_flip_p(d), abs=1e-12)
    direct = stats.permutation_test(
        (np.array(d, dtype=float),),
        np.mean,
        permutation_type="samples",
        n_resamples=np.inf,
        alternative="two-sided",
    )
    assert r.p_exact == pytest.approx(direct.pvalue, abs=1e-12)
    assert r.p_adjusted == r.p_exact  # not adjusted until asked


def test_five_seeds_can_never_decide_six_can():
    """The exact p is a multiple of 2 / 2^n: with 5 seeds its floor is 2/32 = 0.0625 > 0.05,
    however large and consistent the gain; with 6 all on one side it is 2/64."""
    five = paired_test([10.0, 12.0, 11.0, 13.0, 10.5])
    assert five.p_exact == 0.0625 and five.verdict == "inconclusive"
    assert five.p_value < 1e-4  # the t-test would call it at any level: it leans on normality
    assert paired_test([-1.0, -2.0, -0.5, -3.0, -1.5]).p_exact == 0.0625
    six = paired_test([1.0, 2.0, 0.5, 3.0, 1.5, 0.25])
    assert six.p_exact == 2 / 64 and six.verdict == "better"
    assert paired_test([-x for x in (1.0, 2.0, 0.5, 3.0, 1.5, 0.25)]).verdict == "worse"


def test_above_the_exact_limit_a_fixed_seed_monte_carlo_is_close_to_exact():
    d = list(range(-5, 10)) + [3, 2]  # EXACT_MAX_N + 1 integers, exact p = 0.069
    assert len(d) == EXACT_MAX_N + 1
    r = paired_test(d)
    assert r.p_exact == paired_test(d).p_exact  # reproducible
    assert r.p_exact == pytest.approx(sign_flip_p(d), abs=0.005)  # 100 000 draws: sd about 0.001


@pytest.mark.parametrize(
    "d, margin",
    [
        (DIFFS, 2.5),
        (DIFFS, 1.0),
        ([0.1, -0.2, 0.3, 0.0, 0.1, -0.1], 0.5),
        ([1.0, 1.5, 0.8, 1.2], 1.0),
        ([1.0, 1.5, 0.8, 1.2], 2.0),
    ],
)
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_tost_is_two_one_sided_t_tests_and_the_interval_rule(d, margin, confidence):
    r = paired_test(d, confidence=confidence, margin=margin)
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    assert r.margin == margin and r.p_equivalence == pytest.approx(max(lower, upper), abs=1e-12)
    alpha = 1 - confidence
    low, high = stats.t.interval(1 - 2 * alpha, len(d) - 1, loc=np.mean(d), scale=stats.sem(d))
    assert (r.p_equivalence < alpha) == (-margin < low and high < margin)
    assert math.isnan(paired_test(d, confidence=confidence).p_equivalence)  # no margin, no TOST


def test_every_verdict_branch():
    assert verdict(1.2, 0.01) == "better" and verdict(-1.2, 0.01) == "worse"
    assert verdict(1.2, 0.2, 0.01) == "equivalent"  # not significant, inside the margin
    assert verdict(1.2, 0.2, 0.3) == "inconclusive" and verdict(1.2, 0.2) == "inconclusive"
    assert verdict(1.2, 0.01, 0.01) == "better"  # a significant difference is reported first
    assert verdict(1.2, 0.07, alpha=0.1) == "better" and verdict(1.2, 0.07) == "inconclusive"
    assert verdict(1.2, math.nan, math.nan) == "inconclusive"
    small = [0.1, -0.2, 0.3, 0.0, 0.1, -0.1]
    assert paired_test(small, margin=0.5).verdict == "equivalent"
    assert paired_test(small, margin=0.05).verdict == "inconclusive"  # margin too narrow
    assert paired_test(small).verdict == "inconclusive"  # no margin
    assert paired_test(DIFFS, margin=3.0).verdict == "equivalent"
    # an already-adjusted p decides instead of the exact one
    better = paired_test([1.0, 2.0, 0.5, 3.0, 1.5, 0.25])
    assert (
        better.adjusted(0.09).verdict == "inconclusive"
        and better.adjusted(0.09).p_exact == better.p_exact
    )
    assert better.alpha == 0.05 and paired_test(DIFFS, confidence=0.9).alpha == 0.1


@pytest.mark.filterwarnings("error")  # no warning from scipy on data without spread
def test_one_seed_and_equal_differences():
    one = paired_test([1.5], margin=1.0)
    assert one.n == 1 and one.mean == 1.5 and one.verdict == "inconclusive"
    assert all(
        math.isnan(x)
        for x in (one.low, one.high, one.p_value, one.p_exact, one.p_equivalence, one.p_adjusted)
    )
    flat = paired_test([2.0] * 5, margin=3.0)  # no spread: the t statistics are undefined
    assert (
        (flat.low, flat.high) == (2.0, 2.0)
        and math.isnan(flat.p_value)
        and math.isnan(flat.p_equivalence)
    )
    assert flat.p_exact == 0.0625 and flat.verdict == "inconclusive"
    rounded = paired_test([0.1 + 0.2, 0.3, 0.3], margin=1.0)  # equal but for the last bit
    assert rounded.low == rounded.high == rounded.mean and math.isnan(rounded.p_value)
    zeros = paired_test([0.0] * 4, margin=1.0)
    assert zeros.p_exact == 1.0 and zeros.verdict == "inconclusive"
    # the sign-flip test needs no spread: seven seeds all one point ahead is evidence
    assert paired_test([1.0] * 7).p_exact == 2 / 128 and paired_test([1.0] * 7).verdict == "better"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(differences=[]), "differences must hold at least one value"),
        (
            dict(differences=[1.0, math.nan, 2.0]),
            r"differences must be finite; got NaN or inf at seeds \[1\]",
        ),
        (dict(differences=[1.0, math.inf]), "drop those seeds"),
        (dict(differences=DIFFS, confidence=95), r"confidence must be in \(0, 1\)"),
        (dict(differences=DIFFS, confidence=0.0), r"confidence must be in \(0, 1\)"),
        (dict(differences=DIFFS, margin=0.0), "margin must be a number > 0"),
        (dict(differences=DIFFS, margin=-1.0), "margin must be a number > 0"),
        (dict(differences=DIFFS, margin=math.nan), "margin must be a number > 0"),
        (dict(differences=DIFFS, margin="1"), "or None for no equivalence test"),
    ],
)
def test_bad_input_names_the_argument_and_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_test(**kwargs)


def test_paired_test_is_frozen_and_exported():
    r = paired_test(DIFFS)
    with pytest.raises(AttributeError):
        r.mean = 0.0  # frozen
    with pytest.raises(TypeError):
        paired_test(DIFFS, 0.9)  # confidence is keyword-only
    assert paired_test(DIFFS, confidence=0.99).low < r.low
    assert isinstance(r, PairedTest) and drift.paired_test is paired_test


def test_holm_against_hand_computed_values():
    """Holm: sort the k p-values, multiply the i-th smallest by k - i + 1, running maximum, cap
    1."""
    # 0.005*4 = 0.02; 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    np.testing.assert_allclose(
        holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], rtol=1e-12
    )
    # ties get equal values whatever their order: 0.02*3 = 0.06, 0.02*2 -> 0.06, 0.5*1 = 0.5
    np.testing.assert_allclose(holm([0.02, 0.5, 0.02]), [0.06, 0.5, 0.06], rtol=1e-12)
    # NaN passes through and does not count: k = 2
    np.testing.assert_allclose(holm([0.01, math.nan, 0.04]), [0.02, math.nan, 0.04], rtol=1e-12)
    # capped at 1, monotone in the raw p
    np.testing.assert_allclose(holm([0.3, 0.6, 0.45]), [0.9, 0.9, 0.9], rtol=1e-12)
    np.testing.assert_allclose(holm([0.4, 0.6, 0.9]), [1.0, 1.0, 1.0])
    # the textbook family (as statsmodels' multipletests(method="holm") gives it)
    np.testing.assert_allclose(
        holm([0.01, 0.02, 0.03, 0.04, 0.05]), [0.05, 0.08, 0.09, 0.09, 0.09], rtol=1e-12
    )
    assert holm([0.04]).tolist() == [0.04] and holm([]).shape == (0,)
    assert np.isnan(holm([math.nan, math.nan])).all()
    grid = holm([[0.01, 0.04], [0.03, 0.005]])  # any shape: one family
    np.testing.assert_allclose(grid, [[0.03, 0.06], [0.06, 0.02]], rtol=1e-12)
    with pytest.raises(ValueError, match=r"p_values must lie in \[0, 1\]"):
        holm([0.5, 1.5])


def test_holm_adjusted_decides_each_verdict_on_the_family():
    seven = [1.0, 2.0, 0.5, 3.0, 1.5, 0.25, 1.0]  # all ahead: p = 2/128
    six = [1.0, 2.0, 0.5, 3.0, 1.5, 0.25, -0.1]  # one behind: p = 4/128 on its own
    raw = {"a": paired_test(seven), "b": paired_test(six)}
    assert raw["a"].verdict == raw["b"].verdict == "better"
    adjusted = holm_adjusted(raw)
    assert list(adjusted) == ["a", "b"]
    assert (
        adjusted["a"].p_adjusted == pytest.approx(2 * 2 / 128) and adjusted["a"].verdict == "better"
    )
    assert adjusted["b"].p_adjusted == pytest.approx(4 / 128)  # max(2 * 2/128, 1 * 4/128)
    assert adjusted["b"].verdict == "better"  # 4/128 < 0.05 survives as the second of two
    three = holm_adjusted({**raw, "c": paired_test(six[::-1])})  # a third test tightens it
    assert (
        three["a"].p_adjusted == pytest.approx(3 * 2 / 128) and three["b"].verdict == "inconclusive"
    )


def _history(method: str, seed: int, acc: float) -> History:
    h = History(method=method, seed=seed)
    h.step.append(10)
    h.test_accuracy.append(acc)
    return h


def _results(columns: dict[str, list[float]]) -> drift.Results:
    return drift.Results(
        {m: [_history(m, s, v) for s, v in enumerate(vals)] for m, vals in columns.items()}
    )


def _cells(table: str, row: int) -> list[str]:
    return [c.strip() for c in table.splitlines()[row].strip("|").split("|")]


def test_results_paired_stats_pairs_by_seed_and_passes_the_margin():
    a, b = [70.0, 72.0, 71.0, 74.0], [69.0, 72.5, 70.0, 71.0]
    results = _results({"mean_teacher": b, "drift": a})
    assert results.paired_stats("drift") == paired_test(np.array(a) - np.array(b))
    assert results.paired_stats("drift", margin=5.0) == paired_test(
        np.array(a) - np.array(b), margin=5.0
    )
    assert results.paired_stats("drift", margin=5.0).verdict == "equivalent"
    assert results.paired_stats("mean_teacher", "drift").mean == pytest.approx(
        -np.mean(np.array(a) - np.array(b))
    )
    short = drift.Results(
        {"mean_teacher": results.histories["mean_teacher"][:2], "drift": results.histories["drift"]}
    )
    with pytest.raises(ValueError, match="paired seeds need as many runs"):
        short.paired_stats("drift")


SEVEN = {  # accuracies over 7 seeds
    "mean_teacher": [70.0, 71.0, 69.0, 72.0, 70.0, 71.0, 70.0],
    "drift": [71.0, 73.0, 69.5, 75.0, 71.5, 71.25, 71.0],  # d all > 0: exact p = 2/128
    "alternating": [69.5, 71.25, 69.25, 71.75, 70.25, 70.5, 70.25],  # small, mixed differences
}


# these one-evaluation histories have no stability
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_table_shows_interval_exact_p_and_holm_verdicts():
    results = _results(SEVEN)
    table = results.table()
    header = _cells(table, 0)
    assert header[2:6] == [
        "Δ vs mean_teacher [95% t-CI]",
        "p (exact)",
        "verdict (Holm)",
        "seeds Δ > 0",
    ]
    assert header[6:] == ["oscillation (pp)", "flip rate (%)"]
    assert _cells(table, 2)[2:6] == ["-", "-", "-", "-"]  # the reference itself
    d = np.array(SEVEN["drift"]) - np.array(SEVEN["mean_teacher"])
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert _cells(table, 3)[2:6] == [
        f"{d.mean():+.2f} [{low:.2f}, {high:.2f}]",
        "0.0156",
        "better",
        "7/7",
    ]
    tests = results.tests()
    assert list(tests) == ["drift", "alternating"]
    e = np.array(SEVEN["alternating"]) - np.array(SEVEN["mean_teacher"])
    assert tests["alternating"].p_exact == pytest.approx(sign_flip_p(4 * e))  # quarters -> integers
    assert tests["drift"].p_adjusted == pytest.approx(2 * 2 / 128)  # Holm: the smaller of two, x2
    assert _cells(table, 4)[3:5] == [f"{tests['alternating'].p_exact:.3g}", "inconclusive"]
    # with a margin the mixed row is equivalent (its 90% interval lies inside ±1)
    lo90, hi90 = stats.t.interval(0.90, len(e) - 1, loc=e.mean(), scale=stats.sem(e))
    assert -1 < lo90 and hi90 < 1
    with_margin = results.table(margin=1.0)
    assert (
        _cells(with_margin, 4)[4] == "equivalent within ±1"
        and _cells(with_margin, 3)[4] == "better"
    )
    assert results.tests(margin=1.0)["alternating"].verdict == "equivalent"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_table_verdicts_are_adjusted_across_its_rows():
    """drift alone is "better" (2/128 < 0.05); beside two more rows Holm multiplies its p by 3
    (0.047 < 0.05: still better), and with a fourth row by 4 (0.0625: no longer)."""
    results = _results(SEVEN)
    gains = np.array(SEVEN["drift"]) - np.array(SEVEN["mean_teacher"])
    extra = {"x": list(np.array(SEVEN["mean_teacher"]) + gains[::-1])}  # also all ahead: 2/128
    three = results.table(references=extra)
    assert [_cells(three, r)[4] for r in (3, 4, 5)] == ["better", "inconclusive", "better"]
    extra["y"] = list(np.array(SEVEN["mean_teacher"]) + 0.5)  # all equal, ahead: 2/128
    four = results.table(references=extra)
    assert [_cells(four, r)[4] for r in (3, 4, 5, 6)] == ["inconclusive"] * 4
    assert _cells(four, 6)[:4] == ["y", "70.93 ± 0.98", "+0.50 [0.50, 0.50]", "0.0156"]
    assert {k: t.verdict for k, t in results.tests(references=extra).items()} == dict.fromkeys(
        ["drift", "alternating", "x", "y"], "inconclusive"
    )
    with pytest.raises(ValueError, match="must be labelled apart from the methods"):
        results.tests(references={"drift": SEVEN["drift"]})


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_table_with_one_seed_or_no_test_set_shows_dashes_not_nan():
    one = _results({"mean_teacher": [70.0], "drift": [71.5]}).table()
    assert _cells(one, 3)[2:6] == ["+1.50", "-", "-", "1/1"]
    flat = _results({"mean_teacher": [70.0, 71.0], "drift": [71.0, 72.0]}).table()
    assert _cells(flat, 3)[2:6] == ["+1.00 [1.00, 1.00]", "0.5", "inconclusive", "2/2"]
    blind = _results({"mean_teacher": [math.nan, math.nan], "drift": [math.nan, math.nan]}).table()
    assert _cells(blind, 3)[3:5] == ["-", "-"]
    short = drift.Results({"mean_teacher": [_history("mean_teacher", 0, 70.0)]})
    with pytest.raises(ValueError, match="one accuracy per seed"):
        short.table(references={"other": [1.0, 2.0]})


def test_interaction_is_the_per_seed_difference_of_differences():
    r = _results(
        {
            "drift_views": [80.0, 82.0, 81.0, 79.0],
            "drift": [79.0, 80.0, 80.5, 78.0],
            "mt_views": [78.0, 81.0, 79.0, 77.5],
            "mt": [75.0, 77.0, 76.0, 74.0],
        }
    )
    # by hand: drift's gain (1, 2, 0.5, 1), mean teacher's (3, 4, 3, 3.5): contrast (-2, -2, -2.5,
    # -2.5)
    t = r.interaction("drift_views", "drift", "mt_views", "mt", margin=1.0)
    assert t == paired_test([-2.0, -2.0, -2.5, -2.5], margin=1.0)
    assert t.mean == -2.25 and t.n == 4 and t.verdict == "inconclusive"  # 4 seeds: p >= 2/16
    assert r.interaction("drift_views", "drift", "mt_views", "mt", confidence=0.9).low > t.low
    short = drift.Results({**r.histories, "mt": r.histories["mt"][:3]})
    with pytest.raises(
        ValueError, match="paired seeds need as many runs of each method; got .*'mt' 3"
    ):
        short.interaction("drift_views", "drift", "mt_views", "mt")
    with pytest.raises(KeyError, match="method must be one of"):
        r.interaction("drift_views", "drift", "mt_views", "nope")


def _curve(method: str, seed: int, accs: list[float], flips: list[float]) -> History:
    h = History(method=method, seed=seed)
    h.step.extend(range(len(accs)))
    h.test_accuracy.extend(accs)
    h.flip_rate.extend(flips)
    return h


def test_stability_test_pairs_each_measure_by_seed():
    """Over the second half of 4 evaluations (the last 2): oscillation = |a3 - a2|, flip rate =
    100 * mean(f2, f3)."""
    mt = [
        _curve("mean_teacher", s, [60, 70, 71, 73 + s], [0.3, 0.2, 0.02, 0.04 + 0.01 * s])
        for s in range(3)
    ]
    dr = [_curve("drift", s, [60, 70, 72, 72.5], [0.3, 0.2, 0.01, 0.02 * s]) for s in range(3)]
    r = drift.Results({"mean_teacher": mt, "drift": dr})
    osc, flips = r.stability_test("drift")
    osc_mt, osc_dr = np.array([2.0, 3.0, 4.0]), np.array([0.5, 0.5, 0.5])
    flip_mt = 100 * np.array([0.03, 0.035, 0.04])
    flip_dr = 100 * np.array([0.005, 0.015, 0.025])
    assert osc == paired_test(osc_dr - osc_mt)
    assert flips.mean == pytest.approx(np.mean(flip_dr - flip_mt))
    assert flips.p_value == pytest.approx(paired_test(flip_dr - flip_mt).p_value)
    assert r.stability("drift")[0].mean == pytest.approx(0.5)
    osc_m, flips_m = r.stability_test("drift", "mean_teacher", margin=(1.0, 0.5))
    assert (osc_m.margin, flips_m.margin) == (1.0, 0.5)
    assert r.stability_test("drift", margin=2.0)[1].margin == 2.0
    with pytest.raises(ValueError, match="margin must be a number or a pair"):
        r.stability_test("drift", margin=(1.0, 2.0, 3.0))
