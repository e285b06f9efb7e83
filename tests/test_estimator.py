"""drift.DriftClassifier: scikit-learn's estimator checks, its semi-supervised conventions (y == -1,
string labels, all rows labeled, score on labeled rows), clone, Pipeline, cross_val_score,
GridSearchCV, and bad input."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

import drift
from drift.training import estimator as estimator_module

EXPECTED_FAILED_CHECKS = {
    "check_classifiers_classes": (
        "its last case uses -1 as a class label, which marks unlabeled rows here as in "
        "sklearn.semi_supervised (scikit-learn skips that case for its own semi-supervised "
        "classifiers, by name); the string labels it also checks are tested below"
    ),
}


@parametrize_with_checks(
    [drift.DriftClassifier(steps=5)], expected_failed_checks=lambda e: EXPECTED_FAILED_CHECKS
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def semi():
    """600 digits (64 features in [0, 1]) with 5 labeled rows per class, the rest -1; and their
    true labels."""
    x, y = load_digits(return_X_y=True)
    x, y = x[:600] / 16.0, y[:600]
    y_semi = np.full_like(y, -1)
    for c in range(10):
        y_semi[np.flatnonzero(y == c)[:5]] = c
    return x, y_semi, y


@pytest.fixture(scope="module")
def fitted(semi):
    x, y_semi, _ = semi
    return drift.DriftClassifier(steps=100, lr=3e-3).fit(x, y_semi)


def test_fit_learns_from_few_labels_without_a_test_set(fitted, semi):
    x, _, y = semi
    assert list(fitted.classes_) == list(range(10)) and fitted.n_features_in_ == 64
    assert np.isnan(fitted.history_.final_test_accuracy) and fitted.history_.method == "drift"
    proba = fitted.predict_proba(x)
    assert proba.shape == (600, 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert np.mean(fitted.predict(x) == y) > 0.7  # chance is 0.1


def test_predictions_come_from_the_history(fitted, semi):
    x = semi[0]
    by_which = {}
    for which in ("student", "teacher"):
        est = copy.deepcopy(fitted).set_params(predict_with=which)  # fitted, not refitted
        by_which[which] = est.predict_proba(x)
        np.testing.assert_array_equal(
            by_which[which], fitted.history_.predict_proba(x, which=which).double().numpy()
        )
        np.testing.assert_array_equal(est.predict(x), by_which[which].argmax(axis=1))
    assert not np.array_equal(by_which["student"], by_which["teacher"])


def test_the_split_passed_to_train(semi, monkeypatch):
    x, y_semi, _ = semi
    seen = []
    real_train = estimator_module.train

    def spy(method, data, config, **kwargs):
        seen.append((method, data, {**dataclasses.asdict(config), **kwargs}))
        return real_train(method, data, config, **kwargs)

    monkeypatch.setattr(estimator_module, "train", spy)
    drift.DriftClassifier(
        "mean_teacher", steps=3, method_options={"alpha": 0.99}, batch_size=8
    ).fit(x, y_semi)
    method, data, kwargs = seen[-1]
    assert method == drift.get_method("mean_teacher", alpha=0.99)
    assert kwargs["steps"] == 3 and kwargs["batch_size"] == 8 and kwargs["progress"] is False
    labeled = y_semi != -1
    assert torch.equal(data.x_labeled, torch.from_numpy(x[labeled]).float())
    assert torch.equal(data.y_labeled, torch.from_numpy(y_semi[labeled]).long())
    assert torch.equal(data.x_unlabeled, torch.from_numpy(x[~labeled]).float())
    assert data.x_test is None and data.y_unlabeled is None and data.num_classes == 10

    y = np.arange(40) % 4  # every row labeled: X is the unlabeled set too
    drift.DriftClassifier(steps=3).fit(x[:40], y)
    data = seen[-1][1]
    assert torch.equal(data.x_unlabeled, data.x_labeled) and len(data.x_unlabeled) == 40


def test_any_labels_strings_included(semi):
    x, y_semi, _ = semi
    x, y_semi = x[:200], y_semi[:200]
    names = np.array([f"digit {c}" for c in range(10)], dtype=object)
    # -1 kept as int
    y_names = np.where(y_semi == -1, -1, names[np.maximum(y_semi, 0)]).astype(object)
    by_code = drift.DriftClassifier(steps=10).fit(x, y_semi)
    by_name = drift.DriftClassifier(steps=10).fit(x, y_names)
    assert list(by_name.classes_) == sorted(names)  # sorted names: same order as the codes here
    # the same run
    np.testing.assert_array_equal(by_name.predict_proba(x), by_code.predict_proba(x))
    np.testing.assert_array_equal(by_name.predict(x), names[by_code.predict(x)])
    shifted = drift.DriftClassifier(steps=10).fit(x, np.where(y_semi == -1, -1, y_semi * 10 + 7))
    np.testing.assert_array_equal(shifted.predict(x), by_code.predict(x) * 10 + 7)

    y_str = np.array(["cat", "dog"] * 20)  # a str array: every row labeled
    est = drift.DriftClassifier(steps=3).fit(x[:40], y_str)
    assert list(est.classes_) == ["cat", "dog"] and set(est.predict(x[:40])) <= {"cat", "dog"}


def test_score_counts_only_labeled_rows(fitted, semi):
    x, y_semi, y = semi
    predicted = fitted.predict(x)
    labeled = y_semi != -1
    assert fitted.score(x, y) == pytest.approx(np.mean(predicted == y))
    assert fitted.score(x, y_semi) == pytest.approx(np.mean(predicted[labeled] == y_semi[labeled]))
    hidden = np.where(np.arange(600) % 2 == 0, y, -1)  # half the rows scored
    weight = np.linspace(0.1, 1.0, 600)
    expected = np.average(predicted[::2] == y[::2], weights=weight[::2])
    assert fitted.score(x, hidden, sample_weight=weight) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no labeled rows to score"):
        fitted.score(x, np.full(600, -1))


def test_labeled_accuracy_scores_any_classifier_on_its_labeled_rows(semi):
    from sklearn.semi_supervised import LabelSpreading

    x, y_semi, _ = semi
    spreading = LabelSpreading().fit(x, y_semi)
    labeled = y_semi != -1
    expected = np.mean(spreading.predict(x[labeled]) == y_semi[labeled])
    assert drift.labeled_accuracy(spreading, x, y_semi) == pytest.approx(expected)
    assert spreading.score(x, y_semi) < 0.5 * expected  # its own score counts -1 rows as errors
    scores = cross_val_score(LabelSpreading(), x, y_semi, cv=3, scoring=drift.labeled_accuracy)
    assert np.all(scores > 0.5)


def test_clone_and_module_models_are_left_unchanged(semi):
    x, y_semi, _ = semi
    student = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    before = {k: v.clone() for k, v in student.state_dict().items()}
    est = drift.DriftClassifier(drift.get_method("drift", alpha=0.95), model=student, steps=5)
    twin = clone(est)
    assert twin.get_params()["method"] == est.method and not hasattr(twin, "history_")
    est.fit(x, y_semi)
    for k, v in student.state_dict().items():
        assert torch.equal(v, before[k]), k  # the module passed in is never trained
    assert est.history_.model is not student
    # same start, same run
    np.testing.assert_array_equal(twin.fit(x, y_semi).predict_proba(x), est.predict_proba(x))


def test_pipeline_cross_val_score_and_grid_search(semi):
    x, y_semi, y = semi
    pipe = make_pipeline(StandardScaler(), drift.DriftClassifier(steps=40, lr=3e-3))
    scores = cross_val_score(pipe, x, y_semi, cv=3)  # stratified: each fold keeps labeled rows
    assert scores.shape == (3,) and np.all((0.0 <= scores) & (scores <= 1.0))
    search = GridSearchCV(pipe, {"driftclassifier__lr": [1e-4, 3e-3]}, cv=2).fit(x, y_semi)
    assert search.best_params_ == {"driftclassifier__lr": 3e-3}  # 40 steps at 1e-4 barely move
    assert search.best_estimator_[-1].history_.step[-1] == 40
    assert np.mean(search.predict(x) == y) > 0.5


def test_bad_input_names_the_argument_and_the_fix(semi):
    x, y_semi, _ = semi
    est = drift.DriftClassifier(steps=2)
    with pytest.raises(ValueError, match="y has no labeled rows.*label at least one row"):
        est.fit(x, np.full(600, -1))
    with pytest.raises(ValueError, match="one class only.*at least 2 classes"):
        est.fit(x, np.where(y_semi == 3, 3, -1))
    with pytest.raises(ValueError, match=r"one label per row of X \(600 rows.*got 599"):
        est.fit(x, y_semi[:599])
    with pytest.raises(ValueError, match="requires y to be passed"):
        est.fit(x, None)
    x_nan = x.copy()
    x_nan[3, 5] = np.nan
    with pytest.raises(ValueError, match="(?s)Input X contains NaN.*imputer"):
        est.fit(x_nan, y_semi)
    with pytest.raises(ValueError, match="string '-1'.*integer -1 in an object array"):
        est.fit(x[:4], np.array(["a", "b", "-1", "a"]))
    with pytest.raises(ValueError, match="Unknown label type"):
        est.fit(x[:4], np.array([0.5, 1.5, 2.5, -1.0]))
    with pytest.raises(
        ValueError, match="predict_with must be one of 'student', 'teacher'; got 'ema'"
    ):
        clone(est).set_params(predict_with="ema").fit(x, y_semi)
    with pytest.raises(TypeError, match="unknown setting.*alhpa"):
        clone(est).set_params(method_options={"alhpa": 0.9}).fit(x, y_semi)
    with pytest.raises(TypeError, match="method_options must be a dict"):
        clone(est).set_params(method_options=0.9).fit(x, y_semi)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        clone(est).set_params(steps=0).fit(x, y_semi)
    est.fit(x, y_semi)
    with pytest.raises(ValueError, match="X has 10 features, but DriftClassifier is expecting 64"):
        est.predict(x[:, :10])


def test_random_state_as_scikit_learn_takes_it(semi):
    x, y_semi, _ = semi
    x, y_semi = x[:200], y_semi[:200]

    def proba(random_state):
        return drift.DriftClassifier(steps=10, random_state=random_state).fit(x, y_semi)

    same, other = proba(7), proba(8)
    np.testing.assert_array_equal(same.predict_proba(x), proba(7).predict_proba(x))
    assert same.history_.seed == 7 and not np.array_equal(
        same.predict_proba(x), other.predict_proba(x)
    )
    np.testing.assert_array_equal(
        proba(np.int64(7)).predict_proba(x), same.predict_proba(x)
    )  # a NumPy integer is the same seed
    assert clone(drift.DriftClassifier(random_state=7)).get_params()["random_state"] == 7

    generator = np.random.RandomState(0)  # an instance: each fit draws the next seed from it
    first, second = proba(generator).history_.seed, proba(generator).history_.seed
    assert first != second
    assert [proba(np.random.RandomState(0)).history_.seed for _ in range(2)] == [first, first]
    np.random.seed(3)  # None: NumPy's global RandomState, as in scikit-learn
    seed = proba(None).history_.seed
    np.random.seed(3)
    assert proba(None).history_.seed == seed

    for bad in (np.random.default_rng(0), True, -1, 2**32, 1.5, "0"):
        with pytest.raises(
            ValueError, match="random_state must be an int in \\[0, 2\\*\\*32 - 1\\]"
        ):
            proba(bad)
    with pytest.raises(ValueError, match="Generator is not supported.*rng.integers"):
        proba(np.random.default_rng(0))


def test_verbose_shows_progress_and_a_summary_and_is_silent_by_default(semi, capsys):
    x, y_semi, _ = semi
    drift.DriftClassifier(steps=5).fit(x[:100], y_semi[:100])
    assert capsys.readouterr() == ("", "")
    drift.DriftClassifier(steps=5, verbose=1).fit(x[:100], y_semi[:100])
    out, err = capsys.readouterr()
    assert "5/5" in err  # the progress bar
    assert out.startswith("DriftClassifier: drift on 50 labeled and 50 unlabeled rows")
    assert "5 steps, seed 0" in out
