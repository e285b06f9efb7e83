"""Built-in data sets and the semi-supervised split object."""

import numpy as np
import pytest
import torch

import drift


@pytest.fixture(scope="module")
def mnist1d():
    return drift.load_data("mnist1d", labels_per_class=5, seed=0)


def check_split(data, feature_shape, num_classes, labels_per_class):
    assert data.num_classes == num_classes
    assert data.feature_shape == feature_shape
    for part in ("labeled", "unlabeled", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        assert x.dtype == torch.float32 and y.dtype == torch.long
        assert x.shape[1:] == feature_shape and y.shape == (x.shape[0],)
        assert y.min() >= 0 and y.max() < num_classes
        assert torch.isfinite(x).all()
    counts = torch.bincount(data.y_labeled, minlength=num_classes)
    assert torch.equal(counts, torch.full((num_classes,), labels_per_class))


def test_two_moons(moons):
    check_split(moons, (2,), 2, 5)
    assert len(moons.x_labeled) + len(moons.x_unlabeled) == 700 and len(moons.x_test) == 300


def test_digits(digits):
    check_split(digits, (8, 8), 10, 5)
    assert len(digits.x_labeled) + len(digits.x_unlabeled) + len(digits.x_test) == 1797


def test_mnist1d(mnist1d):
    check_split(mnist1d, (40,), 10, 5)
    assert len(mnist1d.x_labeled) + len(mnist1d.x_unlabeled) == 4000 and len(mnist1d.x_test) == 1000


def test_mnist1d_test_split_fixed_and_labeled_subset_varies(mnist1d):
    other = drift.load_data("mnist1d", labels_per_class=5, seed=1)
    assert torch.equal(other.x_test, mnist1d.x_test) and torch.equal(other.y_test, mnist1d.y_test)
    assert not torch.equal(other.x_labeled, mnist1d.x_labeled)


@pytest.mark.parametrize("name", ["two_moons", "digits"])
def test_test_split_fixed_across_seeds_labeled_subset_changes(name):
    a = drift.load_data(name, labels_per_class=3, seed=0)
    b = drift.load_data(name, labels_per_class=3, seed=1)
    a2 = drift.load_data(name, labels_per_class=3, seed=0)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_labeled, b.x_labeled)
    for f in ("x_labeled", "y_labeled", "x_unlabeled", "y_unlabeled"):
        assert torch.equal(getattr(a, f), getattr(a2, f))  # same seed, same split


def rows(x: torch.Tensor) -> list[tuple]:
    return [tuple(r) for r in x.reshape(len(x), -1).tolist()]


def test_labeled_and_unlabeled_are_disjoint_and_cover_the_pool():
    a = drift.load_data("two_moons", labels_per_class=20, seed=0)
    b = drift.load_data("two_moons", labels_per_class=20, seed=3)
    for d in (a, b):
        labeled, unlabeled = rows(d.x_labeled), rows(d.x_unlabeled)
        assert len(set(labeled)) == 40 and len(set(unlabeled)) == len(unlabeled) == 660
        assert not set(labeled) & set(unlabeled)
        assert not set(labeled + unlabeled) & set(rows(d.x_test))
    # both seeds split the same pool, with the same label attached to each point
    pool_a = dict(
        zip(
            rows(torch.cat([a.x_labeled, a.x_unlabeled])),
            torch.cat([a.y_labeled, a.y_unlabeled]).tolist(),
        )
    )
    pool_b = dict(
        zip(
            rows(torch.cat([b.x_labeled, b.x_unlabeled])),
            torch.cat([b.y_labeled, b.y_unlabeled]).tolist(),
        )
    )
    assert pool_a == pool_b
    assert set(rows(a.x_labeled)) != set(rows(b.x_labeled))


def test_inputs_are_standardised_on_the_pool(digits):
    pool = torch.cat([digits.x_labeled, digits.x_unlabeled]).double()
    assert abs(pool.mean().item()) < 1e-5 and abs(pool.std().item() - 1) < 1e-3


def test_load_data_options():
    d = drift.load_data("two_moons", labels_per_class=2, n_samples=200, test_fraction=0.5)
    assert len(d.x_test) == 100 and len(d.x_labeled) + len(d.x_unlabeled) == 100


def user_tensors(n=12, shape=(3, 5), classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        x_labeled=torch.randn(n, *shape, generator=g),
        y_labeled=torch.arange(n) % classes,
        x_unlabeled=torch.randn(2 * n, *shape, generator=g),
        y_unlabeled=None,
        x_test=torch.randn(n, *shape, generator=g),
        y_test=torch.arange(n) % classes,
        num_classes=classes,
    )


def test_user_data_without_unlabeled_labels():
    d = drift.SemiSupervisedData(**user_tensors())
    assert d.y_unlabeled is None and d.feature_shape == (3, 5)
    moved = d.to("cpu")
    assert moved.y_unlabeled is None and torch.equal(moved.x_unlabeled, d.x_unlabeled)


def test_user_data_from_numpy_and_int_labels():
    t = user_tensors()
    t = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in t.items()}
    t["y_labeled"] = t["y_labeled"].astype(np.int32)
    t["num_classes"] = np.int64(3)
    d = drift.SemiSupervisedData(**t)
    assert isinstance(d.x_labeled, torch.Tensor) and d.y_labeled.dtype == torch.long
    assert d.num_classes == 3 and type(d.num_classes) is int


def test_with_validation_holds_out_part_of_the_unlabeled_set_and_never_reads_the_test_split(digits):
    tuned = digits.with_validation(0.25, seed=3)
    n_u = len(digits.x_unlabeled)
    assert len(tuned.x_test) == int(0.25 * n_u) and len(tuned.x_unlabeled) == n_u - int(0.25 * n_u)
    assert torch.equal(tuned.x_labeled, digits.x_labeled) and torch.equal(
        tuned.y_labeled, digits.y_labeled
    )
    # validation and remaining unlabeled rows partition the old unlabeled set, labels travel with
    # them
    rows = {
        tuple(x.flatten().tolist()): int(y) for x, y in zip(digits.x_unlabeled, digits.y_unlabeled)
    }
    moved = [
        (tuple(x.flatten().tolist()), int(y))
        for x, y in zip(
            torch.cat([tuned.x_test, tuned.x_unlabeled]),
            torch.cat([tuned.y_test, tuned.y_unlabeled]),
        )
    ]
    assert len(set(k for k, _ in moved)) == len(rows) and all(rows[k] == y for k, y in moved)
    test_rows = {tuple(x.flatten().tolist()) for x in digits.x_test}
    assert not test_rows & {k for k, _ in moved}
    assert torch.equal(digits.with_validation(0.25, seed=3).x_test, tuned.x_test)
    assert not torch.equal(digits.with_validation(0.25, seed=4).x_test, tuned.x_test)


def test_with_validation_bad_input(digits):
    with pytest.raises(ValueError, match="fraction"):
        digits.with_validation(1.0)
    unlabeled_only = drift.SemiSupervisedData(
        digits.x_labeled,
        digits.y_labeled,
        digits.x_unlabeled,
        None,
        digits.x_test,
        digits.y_test,
        digits.num_classes,
    )
    with pytest.raises(ValueError, match="y_unlabeled"):
        unlabeled_only.with_validation()
