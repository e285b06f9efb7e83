"""Weak supervision: labeling-function statistics, majority vote, noise control, weak splits."""

import numpy as np
import pytest
import torch

import drift
from drift.data.weak import (
    ABSTAIN,
    HalfPlane,
    add_label_noise,
    apply_lfs,
    lf_stats,
    load_weak_data,
    majority_vote,
)

A = ABSTAIN
# 5 examples, 3 labeling functions, 3 classes; hand-counted below.
VOTES = torch.tensor(
    [
        [0, 0, A],  # lf0 and lf1 agree
        [0, 1, A],  # lf0 and lf1 conflict (tie)
        [A, 1, 2],  # lf1 and lf2 conflict (tie)
        [A, A, 2],  # lf2 alone
        [A, A, A],  # nobody votes
    ]
)
Y = torch.tensor([0, 1, 2, 2, 1])


def test_lf_stats_hand_computed():
    s = lf_stats(VOTES, Y, names=["a", "b", "c"])
    assert s.names == ("a", "b", "c")
    np.testing.assert_allclose(s.coverage, [2 / 5, 3 / 5, 2 / 5])
    np.testing.assert_allclose(s.overlap, [2 / 5, 3 / 5, 1 / 5])
    np.testing.assert_allclose(s.conflict, [1 / 5, 2 / 5, 1 / 5])
    np.testing.assert_allclose(s.accuracy, [1 / 2, 2 / 3, 2 / 2])
    assert "| a | 40.0 | 40.0 | 20.0 | 50.0 |" in s.table()


def test_lf_stats_without_labels_or_votes_gives_nan_accuracy():
    s = lf_stats(torch.tensor([[A, 1], [A, 1]]))
    assert s.names == ("lf0", "lf1")
    np.testing.assert_allclose(s.coverage, [0, 1])
    assert np.isnan(s.accuracy).all()
    np.testing.assert_allclose(
        lf_stats(torch.tensor([[A, 1], [A, 1]]), torch.tensor([1, 0])).accuracy, [np.nan, 0.5]
    )


def test_agreeing_votes_are_overlap_not_conflict():
    s = lf_stats(torch.tensor([[1, 1, 1], [1, 1, A]]))
    np.testing.assert_allclose(s.overlap, [1, 1, 1 / 2])
    np.testing.assert_allclose(s.conflict, [0, 0, 0])


def test_majority_vote_with_ties_and_abstains():
    # Tie rule: a tie between the top classes abstains, like no vote at all.
    assert majority_vote(VOTES, 3).tolist() == [0, A, A, 2, A]
    votes = torch.tensor([[1, 1, 0], [2, A, A], [0, 1, 2], [2, 2, 1], [A, 0, 0]])
    assert majority_vote(votes, 3).tolist() == [1, 2, A, 2, 0]


def test_apply_lfs_and_half_planes():
    lfs = [HalfPlane("right", (1.0, 0.0), 0.0, 1), HalfPlane("up", (0.0, 1.0), 0.5, 0)]
    x = np.array([[1.0, 1.0], [-1.0, 0.0], [2.0, 0.0]])
    assert apply_lfs(lfs, x, 2).tolist() == [[1, 0], [A, A], [1, A]]


@pytest.mark.parametrize("rate", [0.2, 0.37, 0.5])
def test_noise_rate_is_exact_and_only_adds_noise(rate):
    rng = np.random.default_rng(0)
    y = torch.from_numpy(rng.integers(0, 4, 1000))
    weak = y.clone()
    weak[:100] = (y[:100] + 1) % 4  # 10% wrong
    weak[900:] = A  # 100 unlabeled
    noisy = add_label_noise(weak, y, rate, 4, seed=1)
    labeled = weak != A
    assert torch.equal(noisy == A, weak == A)
    assert (noisy[labeled] != y[labeled]).sum() == round(rate * 900)
    assert torch.equal(noisy[:100], weak[:100])  # already-wrong labels untouched
    assert noisy.min() >= A and noisy.max() < 4
    assert torch.equal(noisy, add_label_noise(weak, y, rate, 4, seed=1))
    assert not torch.equal(noisy, add_label_noise(weak, y, rate, 4, seed=2))


def test_noise_sweep_changes_weak_label_accuracy_as_specified():
    own = load_weak_data(seed=0)
    assert 0 < own.noise_rate < 0.2
    for rate in (0.2, 0.3, 0.4):
        w = load_weak_data(noise_rate=rate, seed=0)
        assert abs(w.noise_rate - rate) <= 0.5 / len(w.labeled_index)
        assert torch.equal(w.labeled_index, own.labeled_index)  # same coverage, noisier labels


def test_weak_split_leaks_no_clean_training_label():
    w = load_weak_data(seed=3)
    d = w.data
    assert isinstance(d, drift.SemiSupervisedData) and d.num_classes == 2
    # The labeled part is the majority vote on the training inputs, not the true labels.
    assert torch.equal(d.y_labeled, majority_vote(w.votes, 2)[w.labeled_index])
    assert torch.equal(d.x_labeled, d.x_unlabeled[w.labeled_index])
    assert (d.y_labeled != d.y_unlabeled[w.labeled_index]).any()
    # The clean validation split is balanced and kept out of training.
    assert torch.bincount(w.y_val).tolist() == [5, 5]
    train_rows = {tuple(r) for r in d.x_unlabeled.tolist()}
    assert not any(tuple(r) in train_rows for r in w.x_val.tolist())
    assert len(d.x_unlabeled) + len(w.x_val) + len(d.x_test) == 1000
    assert 0.5 < w.coverage < 1 and w.stats().coverage.shape == (len(w.lf_names),)


def test_training_ignores_y_unlabeled():
    """The hidden true labels only feed analysis: training with them removed gives the same
    student."""
    w = load_weak_data(seed=0)
    hidden = drift.SemiSupervisedData(**{**w.data.__dict__, "y_unlabeled": None})
    a = drift.train("mean_teacher", w.data, steps=20, progress=False)
    b = drift.train("mean_teacher", hidden, steps=20, progress=False)
    assert a.test_accuracy == b.test_accuracy
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


def test_validation_accuracy_and_two_stage_training():
    w = load_weak_data(seed=0)
    first = drift.train("supervised", w.data, steps=60, progress=False)
    acc = w.validation_accuracy(first.model)
    assert 0 <= acc <= 100 and first.model.training
    second = drift.train("drift", w.data, model=first.model, steps=20, progress=False)
    assert second.model is first.model
    res = drift.experiments.compare_after_pretraining(
        ["supervised", "drift"],
        w.data,
        pretrain_steps=30,
        steps=10,
        seeds=[0],
        workers=1,
        progress=False,
    )
    assert res.methods == ["supervised", "drift"]


def test_pretrained_factory_uses_the_run_seed():
    w = load_weak_data(seed=0)
    factory = drift.experiments.Pretrained(w.data, 20, {})
    torch.manual_seed(4)
    a = factory(w.data.feature_shape, 2)
    torch.manual_seed(4)
    b = factory(w.data.feature_shape, 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="same data"):
        factory((3,), 2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: lf_stats(torch.tensor([0.5, 1.0])), "votes must be an integer array"),
        (lambda: lf_stats(torch.tensor([[-2, 0]])), "ABSTAIN"),
        (lambda: lf_stats(VOTES, names=["a"]), "names must hold one name"),
        (lambda: lf_stats(VOTES, torch.zeros(4, dtype=torch.long)), "y must hold"),
        (lambda: majority_vote(VOTES, 2), "num_classes - 1 = 1"),
        (lambda: apply_lfs([], np.zeros((3, 2)), 2), "lfs must be a non-empty"),
        (lambda: apply_lfs([lambda x: np.zeros(2)], np.zeros((3, 2)), 2), "one vote per example"),
        (lambda: HalfPlane("h", (1.0, 0.0), 0.0, 1)(np.zeros((3, 3))), r"shape \(N, 2\)"),
        (lambda: add_label_noise(Y, Y, 1.0, 3), "noise_rate must be in"),
        (
            lambda: add_label_noise(torch.tensor([1, 0]), torch.tensor([0, 0]), 0.2, 2),
            "at least 0.5000",
        ),
        (lambda: add_label_noise(torch.tensor([A, A]), torch.tensor([0, 0]), 0.2, 2), "no labels"),
        (lambda: add_label_noise(Y, Y[:3], 0.2, 3), "same|shape"),
        (lambda: load_weak_data("digits"), "lfs must be given"),
        (lambda: load_weak_data("cifar"), "name must be one of"),
        (lambda: load_weak_data(val_per_class=0), "val_per_class"),
        (lambda: load_weak_data(bogus=1), "unknown option"),
        (
            lambda: load_weak_data(lfs=[HalfPlane("never", (1.0, 0.0), 99.0, 0)]),
            "label no training example",
        ),
        (
            lambda: drift.experiments.compare_after_pretraining(
                ["drift"], load_weak_data().data, pretrain_steps=0
            ),
            "pretrain_steps",
        ),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_digits_with_pixel_region_rules():
    def dark_centre(x):  # a 0 has an empty centre
        return np.where(x[:, 3:5, 3:5].mean((1, 2)) < 2, 0, A)

    w = load_weak_data("digits", lfs=[dark_centre], val_per_class=2, seed=0)
    assert w.lf_names == ("dark_centre",) and w.data.feature_shape == (8, 8)
    assert set(w.data.y_labeled.tolist()) == {0}
