"""Model selection a practitioner can use: a labeled validation split
(`SemiSupervisedData.with_labeled_validation`), its accuracy at every evaluation
(`History.val_accuracy`), early stopping (`patience`) and restore-best (`restore_best`)."""

import re

import numpy as np

import pytest
import torch
from torch.utils.data import TensorDataset

import drift

STEPS = 200


class Disconnect(Exception):
    pass


@pytest.fixture(scope="module")
def digits10():
    """Digits with 10 labels per class, 3 of each held out for validation."""
    return drift.load_data("digits", labels_per_class=10, seed=0).with_labeled_validation(30)


def percent_right(model, x, y) -> float:
    with torch.no_grad(), drift.models.eval_mode(model):
        return 100 * (model(x).argmax(-1) == y).float().mean().item()


def test_the_validation_set_comes_out_of_the_labeled_set_stratified_and_seeded():
    data = drift.load_data("digits", labels_per_class=10, seed=0)
    split = data.with_labeled_validation(0.3, seed=4)
    assert len(split.y_val) == 30 and len(split.y_labeled) == 70
    assert split.y_val.bincount(minlength=10).tolist() == [3] * 10  # stratified
    rows = torch.cat([split.x_labeled, split.x_val]).flatten(1)
    original = data.x_labeled.flatten(1)
    # every labeled example lands in exactly one part, with its label
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, original.tolist()))
    pairs = {tuple(x.tolist()): int(y) for x, y in zip(original, data.y_labeled)}
    for x, y in zip(split.x_val.flatten(1), split.y_val):
        assert pairs[tuple(x.tolist())] == int(y)
    for part in ("x_unlabeled", "y_unlabeled", "x_test", "y_test"):  # untouched
        assert torch.equal(getattr(split, part), getattr(data, part))
    assert torch.equal(data.with_labeled_validation(0.3, seed=4).x_val, split.x_val)
    assert not torch.equal(data.with_labeled_validation(0.3, seed=5).x_val, split.x_val)
    assert len(data.with_labeled_validation(12).y_val) == 12  # a count
    assert "validation=30" in repr(split)
    assert torch.equal(split.to("cpu").y_val, split.y_val)


def test_bad_validation_requests_say_what_to_do(digits):
    with pytest.raises(ValueError, match="at least 2 labeled examples of every class"):
        drift.load_data("digits", labels_per_class=1, seed=0).with_labeled_validation(0.5)
    with pytest.raises(ValueError, match="between 10 and 40"):
        digits.with_labeled_validation(45)
    with pytest.raises(ValueError, match="between 10 and 40"):
        digits.with_labeled_validation(5)  # fewer than one per class
    with pytest.raises(ValueError, match=r"size must be in \(0, 1\)"):
        digits.with_labeled_validation(1.5)
    with pytest.raises(TypeError, match="size"):
        digits.with_labeled_validation("a lot")
    with pytest.raises(ValueError, match="already has a validation set"):
        digits.with_labeled_validation(10).with_labeled_validation(10)
    with pytest.raises(ValueError, match="x_val and y_val must be given together"):
        drift.SemiSupervisedData(
            digits.x_labeled, digits.y_labeled, digits.x_unlabeled, None, None, None, 10,
            x_val=digits.x_labeled,
        )  # fmt: skip
    with pytest.raises(ValueError, match="y_val must have shape"):
        drift.SemiSupervisedData(
            digits.x_labeled, digits.y_labeled, digits.x_unlabeled, None, None, None, 10,
            x_val=digits.x_labeled, y_val=digits.y_labeled[:3],
        )  # fmt: skip


def test_val_accuracy_is_the_students_on_the_validation_set(digits10, digits):
    h = drift.train("mean_teacher", digits10, steps=STEPS, eval_every=50, progress=False)
    assert len(h.val_accuracy) == len(h.step) == 4
    assert h.val_accuracy[-1] == pytest.approx(
        percent_right(h.model, digits10.x_val, digits10.y_val)
    )
    assert h.best_step is None and h.stopped_at is None
    without = drift.train("mean_teacher", digits, steps=20, eval_every=10, progress=False)
    assert without.val_accuracy == [] and without.to_dict()["val_accuracy"] == []
    # the same in the batched engine
    results = drift.compare(
        ["mean_teacher"], digits10, seeds=1, steps=STEPS, eval_every=50, workers=1, progress=False
    )
    assert results.histories["mean_teacher"][0].val_accuracy == pytest.approx(h.val_accuracy)


def test_patience_stops_after_that_many_evaluations_without_a_better_one(digits10):
    full = drift.train("drift", digits10, steps=STEPS, eval_every=10, progress=False)
    values = full.val_accuracy
    patience = 2
    # where the rule says the run stops: the first evaluation `patience` after the best so far
    stop = next(i for i in range(len(values)) if i - values.index(max(values[: i + 1])) >= patience)
    h = drift.train(
        "drift", digits10, steps=STEPS, eval_every=10, progress=False, patience=patience
    )
    assert h.stopped_at == full.step[stop] < STEPS
    assert h.val_accuracy == full.val_accuracy[: stop + 1]
    assert h.best_step is None  # stopped, not restored: the last student is returned
    assert h.final_test_accuracy == full.test_accuracy[stop]


def test_restore_best_returns_the_student_and_teacher_of_the_best_evaluation(digits10):
    full = drift.train("drift", digits10, steps=STEPS, eval_every=10, progress=False)
    best = full.val_accuracy.index(max(full.val_accuracy))
    assert best < len(full.step) - 1, "the best must not be the last step for this test to bite"
    h = drift.train(
        "drift", digits10, steps=STEPS, eval_every=10, progress=False, restore_best=True
    )
    assert h.best_step == full.step[best] and h.stopped_at is None
    assert h.to_dict()["test_accuracy"] == full.test_accuracy  # the whole run is recorded
    assert h.final_test_accuracy == full.test_accuracy[best]
    assert h.final_teacher_test_accuracy == full.teacher_test_accuracy[best]
    x, y = digits10.x_test, digits10.y_test
    assert percent_right(h.model, x, y) == pytest.approx(full.test_accuracy[best])
    assert percent_right(h.teacher_module(), x, y) == pytest.approx(
        full.teacher_test_accuracy[best]
    )
    assert h.predict(x).eq(y).float().mean().item() * 100 == pytest.approx(h.final_test_accuracy)


def test_early_stopping_and_restore_best_resume_from_a_checkpoint(digits10, tmp_path):
    kwargs = dict(steps=STEPS, eval_every=10, progress=False, patience=6, restore_best=True)
    full = drift.train("drift", digits10, **kwargs)
    assert full.best_step is not None and full.best_step < full.step[-1]
    path = tmp_path / "c.pt"

    def disconnect(history):
        if history.step[-1] == full.best_step + 10:
            raise Disconnect

    with pytest.raises(Disconnect):
        drift.train("drift", digits10, checkpoint=path, callback=disconnect, **kwargs)
    resumed = drift.train("drift", digits10, checkpoint=path, **kwargs)
    strip = lambda d: {k: v for k, v in d.items() if k != "seconds"}  # noqa: E731
    assert strip(resumed.to_dict()) == strip(full.to_dict())
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)  # the best student, not the last one
    again = drift.train("drift", digits10, checkpoint=path, **kwargs)  # a finished run
    for p, q in zip(again.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)


def test_selection_needs_a_validation_set_and_valid_settings(digits):
    for setting in ({"patience": 3}, {"restore_best": True}):
        with pytest.raises(ValueError, match="with_labeled_validation"):
            drift.train("drift", digits, steps=10, progress=False, **setting)
    with pytest.raises(ValueError, match="patience"):
        drift.TrainConfig(patience=0)
    with pytest.raises(TypeError, match="restore_best"):
        drift.TrainConfig(restore_best=1)


def test_compare_selects_one_run_at_a_time_and_says_so(digits10):
    with pytest.warns(UserWarning, match="patience, restore_best are supported for one run"):
        results = drift.compare(
            ["mean_teacher", "drift"], digits10, seeds=2, steps=60, eval_every=10, workers=1,
            progress=False, patience=2, restore_best=True,
        )  # fmt: skip
    for runs in results.histories.values():
        for h in runs:
            alone = drift.train(
                h.method, digits10, steps=60, eval_every=10, seed=h.seed, progress=False,
                patience=2, restore_best=True,
            )  # fmt: skip
            assert h.best_step == alone.best_step and h.stopped_at == alone.stopped_at


def test_a_validation_dataset_is_scored_as_the_tensors_are(digits10):
    d = digits10
    splits = drift.DatasetSplits(
        labeled=TensorDataset(d.x_labeled, d.y_labeled),
        unlabeled=TensorDataset(d.x_unlabeled),
        test=TensorDataset(d.x_test, d.y_test),
        validation=TensorDataset(d.x_val, d.y_val),
        num_classes=10,
    )
    assert "validation=30" in repr(splits)
    h = drift.train("mean_teacher", splits, steps=60, eval_every=20, progress=False, patience=5)
    assert h.val_accuracy[-1] == pytest.approx(percent_right(h.model, d.x_val, d.y_val))
    with pytest.raises(TypeError, match="validation items must be"):
        drift.DatasetSplits(
            labeled=splits.labeled, unlabeled=splits.unlabeled, num_classes=10,
            validation=TensorDataset(d.x_val),
        )  # fmt: skip


def test_drift_classifier_selects_on_held_out_labeled_rows(monkeypatch):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype("float32")
    y_semi = y.copy()
    y_semi[np.arange(len(y)) % 10 != 0] = -1  # about 18 labels per class
    kwargs = dict(steps=STEPS, eval_every=10, patience=3, restore_best=True)
    clf = drift.DriftClassifier("mean_teacher", validation_size=0.25, **kwargs).fit(x, y_semi)
    # the same run as drift.train on the split the estimator describes
    labeled = y_semi != -1
    data = drift.SemiSupervisedData(
        torch.from_numpy(x[labeled]), torch.from_numpy(y_semi[labeled]),
        torch.from_numpy(x[~labeled]), None, None, None, 10,
    ).with_labeled_validation(0.25, seed=0)  # fmt: skip
    alone = drift.train("mean_teacher", data, progress=False, **kwargs)
    assert clf.history_.val_accuracy == alone.val_accuracy
    assert clf.history_.best_step == alone.best_step is not None
    np.testing.assert_array_equal(
        clf.predict_proba(x), alone.predict_proba(torch.from_numpy(x)).double().numpy()
    )
    with pytest.raises(ValueError, match="set validation_size too"):
        drift.DriftClassifier(patience=3).fit(x, y_semi)
    # every row labeled: X is the unlabeled set too, without the validation rows
    seen = {}
    real_train = drift.training.estimator.train

    def spy(method, data, *args, **kw):
        seen["data"] = data
        return real_train(method, data, *args, **kw)

    monkeypatch.setattr(drift.training.estimator, "train", spy)
    drift.DriftClassifier(steps=20, validation_size=0.2).fit(x[:300], y[:300])
    d = seen["data"]
    assert len(d.y_val) == 60 and torch.equal(d.x_unlabeled, d.x_labeled)


def test_the_command_line_selects_on_a_validation_set(capsys, monkeypatch, tmp_path):
    import drift.__main__
    from drift.__main__ import main

    status = main(
        "train --data digits --steps 100 --validation 20 --patience 2 --restore-best".split()
    )
    out = capsys.readouterr().out
    assert status == 0 and re.search(r"validation accuracy [\d.]+% at step \d+", out), out
    assert "best student and teacher restored" in out
    with pytest.raises(SystemExit) as exit:
        main("train --data digits --steps 10 --patience 2".split())
    assert exit.value.code == 2
    assert "add --validation SIZE" in capsys.readouterr().err
    # a file with every row labeled: the validation rows stay out of the unlabeled set too
    seen = {}
    real_train = drift.__main__.train
    monkeypatch.setattr(
        drift.__main__, "train", lambda m, d, *a, **k: seen.update(d=d) or real_train(m, d, *a, **k)
    )
    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    np.savez(tmp_path / "all.npz", X=x.astype("float32"), y=y)
    assert main(f"train --data {tmp_path / 'all.npz'} --steps 10 --validation 10".split()) == 0
    d = seen["d"]
    assert len(d.y_val) == 10 and torch.equal(d.x_unlabeled, d.x_labeled)
