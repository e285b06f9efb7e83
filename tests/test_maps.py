"""drift.book.maps: the grid cells of chapter 10's maps, the tuning rule of the entropy-minimisation
baseline, and the shipped records (benchmarks/record_where.py) they read."""

import math
from dataclasses import replace

import numpy as np
import pytest

import drift
from drift.book import maps
from drift.metrics import paired_test


class Finals:
    """A stand-in for `Results` in the tuning rule: final accuracies per method, (seeds,)."""

    def __init__(self, finals: dict[str, list[float]]):
        self.finals = {k: np.asarray(v, dtype=float) for k, v in finals.items()}

    def final(self, method: str) -> np.ndarray:
        return self.finals[method]


def test_cell_names_are_the_grid_coordinates():
    assert maps.cell_name("digits", alpha=0.9, labels_per_class=5) == "where_digits_a0.9_k5"
    assert maps.cell_name("digits", alpha=0.99, labels_per_class=20) == "where_digits_a0.99_k20"
    assert maps.cell_name("weak", noise_rate=0.2) == "where_weak_noise0.20"
    assert maps.cell_name("weak", noise_rate=None) == "where_weak_noiserules"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"map_name": "mnist"}, "map_name must be 'digits' or 'weak'"),
        ({"map_name": "digits", "alpha": 0.9}, "alpha and labels_per_class must both be given"),
        ({"map_name": "weak"}, "noise_rate must be given"),
    ],
)
def test_bad_cell_names_say_what_is_missing(kwargs, match):
    with pytest.raises(ValueError, match=match):
        maps.cell_name(**kwargs)


def test_tuning_candidates_get_the_same_budget_and_distinct_names():
    candidates = maps.tuning_candidates()
    names = [m.name for m in candidates]
    assert len(set(names)) == len(names) == len(maps.ENTROPY_WEIGHTS) + len(maps.LABEL_ALPHAS)
    assert len(maps.ENTROPY_WEIGHTS) == len(maps.LABEL_ALPHAS)
    entropy = [m for m in candidates if m.name.startswith("entropy_min")]
    labels = [m for m in candidates if m.name.startswith("drift_labels")]
    assert [m.entropy_weight for m in entropy] == list(maps.ENTROPY_WEIGHTS)
    assert all(not m.coupled and m.alpha == maps.SHARED["alpha"] for m in entropy)
    assert [m.alpha for m in labels] == list(maps.LABEL_ALPHAS)
    assert all(m.grad_labels and not m.grad_weights and m.entropy_weight == 0 for m in labels)
    # the shared setting's values are among the candidates, under the names the rule defaults to
    assert 1.0 in maps.ENTROPY_WEIGHTS and 0.9 in maps.LABEL_ALPHAS
    assert {"entropy_min_w1", "drift_labels_a0.9"} <= set(names)


def test_the_default_stays_unless_the_best_wins_by_more_than_one_standard_error():
    default = [80.0, 82.0, 84.0, 86.0]
    # ahead by 0.5 on average with differences of std 1.29: within one standard error (0.65)
    close = Finals({"d": default, "b": [81.5, 81.5, 85.5, 85.5]})
    assert maps.choose(close, ["d", "b"], "d") == "d"
    clear = Finals({"d": default, "b": [82.0, 84.0, 85.0, 88.0]})
    assert maps.choose(clear, ["d", "b"], "d") == "b"
    behind = Finals({"d": default, "b": [70.0, 70.0, 70.0, 70.0]})
    assert maps.choose(behind, ["d", "b"], "d") == "d"


def test_tuned_methods_keep_the_preset_names():
    choice = {"entropy_min": "entropy_min_w0.3", "drift_labels": "drift_labels_a0.95"}
    mt, em, dl = maps.tuned_methods(choice)
    assert (mt.name, em.name, dl.name) == ("mean_teacher", "entropy_min", "drift_labels")
    assert mt == maps.shared("mean_teacher")
    assert em == maps.shared("entropy_min", entropy_weight=0.3)
    assert dl == maps.shared("drift_labels", alpha=0.95)


def test_the_maps_compare_at_one_shared_setting_not_the_tuned_presets():
    """The shipped maps ran every method at lam = 1 and alpha = 0.9 (map 1: the cell's alpha);
    the presets have since taken their own tuned settings, which the maps must not pick up."""
    assert maps.SHARED == {"alpha": 0.9, "lam": 1.0}
    for m in maps.tuning_candidates() + maps.tuned_methods(
        {"entropy_min": "entropy_min_w1", "drift_labels": "drift_labels_a0.9"}
    ):
        assert m.lam == 1.0
        assert m.alpha == (
            0.9 if m.name.startswith("entropy_min") or m.name == "mean_teacher" else m.alpha
        )
    assert drift.get_method("drift").lam != 1.0  # the preset differs, so this test can fail


def test_grid_marks_intervals_that_exclude_zero():
    cells = np.empty((1, 3), dtype=object)
    for j, (low, high) in enumerate([(-1.0, 1.0), (0.2, 1.0), (-2.0, -0.1)]):
        test = replace(paired_test(np.arange(10.0)), mean=(low + high) / 2, low=low, high=high)
        cells[0, j] = maps.Cell(test, wins=j)
    g = maps.grid(cells)
    assert g["mean"].shape == (1, 3) and g["p_exact"].shape == (1, 3)
    assert g["excludes_zero"].tolist() == [[False, True, True]]
    assert g["wins"].tolist() == [[0, 1, 2]]


def test_a_digits_cell_pairs_drift_and_mean_teacher_at_the_same_alpha():
    results = maps.digits_cell(0.5, 2, seeds=2, steps=4, eval_every=4)
    assert results.methods == ["mean_teacher", "drift"]
    cell = maps.paired_cell(results)
    d = results.final("drift") - results.final("mean_teacher")
    assert (
        cell.test.n == 2
        and math.isclose(cell.test.mean, d.mean())
        and cell.wins == int((d > 0).sum())
    )


def test_validation_data_holds_out_a_quarter_of_the_pool_and_never_the_test_split():
    full = drift.load_data("digits", labels_per_class=5, seed=3)
    val = maps.validation_data(3)
    assert len(val.x_test) == int(0.25 * len(full.x_unlabeled))
    assert len(val.x_unlabeled) + len(val.x_test) == len(full.x_unlabeled)
    assert len(val.x_labeled) == len(full.x_labeled)


def test_shipped_maps_load_with_ten_seeds_per_cell():
    for records in (maps.load_digits_map(), maps.load_weak_map()):
        for record in records.values():
            assert record.results.methods == ["mean_teacher", "drift"]
            assert [h.seed for h in record.results.histories["drift"]] == list(range(10))
            assert [h.seed for h in record.results.histories["mean_teacher"]] == list(range(10))
            assert record.command.startswith("python benchmarks/record_where.py --part ")
    for (alpha, k), record in maps.load_digits_map().items():
        assert f"{k} labels per class" in record.setting and f"alpha = {alpha:g}" in record.setting


def test_shipped_entropy_comparison_is_tuned_on_validation_and_tested_on_fresh_seeds():
    tuning, test = (
        drift.load_record("where_entropy_tuning"),
        drift.load_record("where_entropy_test"),
    )
    assert tuning.results.methods == [m.name for m in maps.tuning_candidates()]
    tuning_seeds = {h.seed for runs in tuning.results.histories.values() for h in runs}
    test_seeds = {h.seed for runs in test.results.histories.values() for h in runs}
    assert not tuning_seeds & test_seeds and len(test_seeds) == 10
    assert test.results.methods == ["mean_teacher", "entropy_min", "drift_labels"]
    choice = maps.tuned(tuning.results)
    assert choice["entropy_min"] in test.setting and choice["drift_labels"] in test.setting


def test_shipped_sensitivity_reruns_the_test_seeds_exactly():
    """The post-hoc sweep of entropy_min's weights uses the test seeds; at the chosen weight it
    repeats the test record's runs, seed for seed (the records are deterministic given seeds)."""
    sweep, test = (
        drift.load_record("where_entropy_sensitivity"),
        drift.load_record("where_entropy_test"),
    )
    assert sweep.results.methods == [f"entropy_min_w{w:g}" for w in maps.ENTROPY_WEIGHTS]
    chosen = maps.tuned(drift.load_record("where_entropy_tuning").results)["entropy_min"]
    np.testing.assert_array_equal(sweep.results.final(chosen), test.results.final("entropy_min"))
