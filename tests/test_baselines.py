"""scikit-learn reference rows: drift.experiments.baselines."""

import functools

import numpy as np
import pytest

import drift
from drift.experiments.baselines import REFERENCES, reference_accuracies, reference_accuracy


@pytest.mark.parametrize("method", REFERENCES)
def test_reference_accuracy_is_a_percentage(digits, method):
    acc = reference_accuracy(digits, method=method)
    assert isinstance(acc, float) and 0.0 <= acc <= 100.0


def test_label_spreading_beats_chance_on_two_moons(moons):
    assert reference_accuracy(moons, method="label_spreading") > 75.0  # chance is 50%


def test_reference_accuracies_one_per_seed_and_deterministic():
    data = functools.partial(drift.load_data, "two_moons", labels_per_class=5)
    accs = reference_accuracies(data, seeds=3, method="self_training")
    assert accs.shape == (3,) and np.all((0 <= accs) & (accs <= 100))
    np.testing.assert_array_equal(
        accs, reference_accuracies(data, seeds=[0, 1, 2], method="self_training")
    )


def test_kwargs_reach_the_estimator(digits):
    from sklearn.neighbors import KNeighborsClassifier

    # a different base model or graph changes the result, so the arguments did reach scikit-learn
    logistic = reference_accuracy(digits, method="self_training")
    nearest = reference_accuracy(
        digits, method="self_training", estimator=KNeighborsClassifier(n_neighbors=1)
    )
    assert 0.0 <= nearest <= 100.0 and nearest != logistic
    rbf = reference_accuracy(digits, method="label_spreading")
    knn_graph = reference_accuracy(digits, method="label_spreading", kernel="knn", n_neighbors=10)
    assert 0.0 <= knn_graph <= 100.0 and knn_graph != rbf


def test_bad_input_names_the_fix(moons):
    with pytest.raises(ValueError, match="'label_spreading', 'self_training'"):
        reference_accuracy(moons, method="svm")
    with pytest.raises(TypeError, match="SemiSupervisedData"):
        reference_accuracy(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="seeds"):
        reference_accuracies(
            functools.partial(drift.load_data, "two_moons", labels_per_class=5), seeds=[]
        )
