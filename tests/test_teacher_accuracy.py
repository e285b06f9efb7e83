"""The teacher's test accuracy: `History.teacher_test_accuracy`, recorded at every evaluation by
`drift.train` and by the batched engine, saved by `to_dict` (old dicts and the shipped records
read NaN; checkpoints of earlier versions are refused), and summarised over seeds by
`Results.teacher_final` and `Results.teacher_summary`. It is the accuracy of
`history.predict(x_test, which="teacher")`: the EMA teacher, a copied teacher's latest copy, and
for supervised (whose teacher takes no part in training) the EMA of its iterates."""

import json
import math

import numpy as np
import pytest
import torch

import drift
from drift.training import batched as vectorized

METHODS = ["supervised", "alternating", "mean_teacher", "drift"]


def percent(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 100 * (pred == y).float().mean().item()


@pytest.mark.parametrize("name", METHODS)
def test_teacher_test_accuracy_is_the_teachers_predictions(name, moons):
    """At every evaluation, in both engines; at the end, the accuracy of predict(x_test,
    which="teacher")."""
    overrides = {"refresh_every": 10} if name == "alternating" else {}
    h = drift.train(name, moons, steps=30, eval_every=10, progress=False, **overrides)
    assert len(h.teacher_test_accuracy) == len(h.step) == 3
    assert all(0 <= a <= 100 for a in h.teacher_test_accuracy)
    expected = percent(h.predict(moons.x_test, which="teacher"), moons.y_test)
    assert h.final_teacher_test_accuracy == pytest.approx(expected, abs=1e-9)
    assert h.final_test_accuracy == pytest.approx(
        percent(h.predict(moons.x_test), moons.y_test), abs=1e-9
    )
    (batched,) = vectorized.train_many(
        [(drift.get_method(name, **overrides), 0)], moons, steps=30, eval_every=10, progress=False
    )
    assert batched.teacher_test_accuracy == pytest.approx(h.teacher_test_accuracy, abs=1.0)


def test_a_lagging_teacher_is_scored_apart_from_its_student(digits):
    h = drift.train("mean_teacher", digits, steps=40, eval_every=20, alpha=0.99, progress=False)
    # alpha = 0.99: the teacher trails the student
    assert h.teacher_test_accuracy != h.test_accuracy


def test_teacher_test_accuracy_is_nan_without_a_test_set(moons):
    data = drift.SemiSupervisedData(
        x_labeled=moons.x_labeled,
        y_labeled=moons.y_labeled,
        x_unlabeled=moons.x_unlabeled,
        y_unlabeled=moons.y_unlabeled,
        x_test=None,
        y_test=None,
        num_classes=2,
    )
    h = drift.train("drift", data, steps=10, eval_every=5, progress=False)
    assert len(h.teacher_test_accuracy) == 2 and all(math.isnan(a) for a in h.teacher_test_accuracy)
    assert math.isnan(h.final_teacher_test_accuracy)


def test_teacher_test_accuracy_round_trips_and_old_dicts_read_as_nan(moons):
    h = drift.train("drift", moons, steps=20, eval_every=5, progress=False)
    d = h.to_dict()
    assert (
        d["teacher_test_accuracy"] == h.teacher_test_accuracy
        and len(d["teacher_test_accuracy"]) == 4
    )
    back = drift.History.from_dict(json.loads(json.dumps(d)))
    assert back == h and back.final_teacher_test_accuracy == h.final_teacher_test_accuracy
    # written before the series existed
    old = {k: v for k, v in d.items() if k != "teacher_test_accuracy"}
    read = drift.History.from_dict(old)
    assert len(read.teacher_test_accuracy) == 4 and all(
        math.isnan(a) for a in read.teacher_test_accuracy
    )
    assert read.test_accuracy == h.test_accuracy and math.isnan(read.final_teacher_test_accuracy)
    assert set(read.to_dict()) == set(d)  # and it writes the series from then on


def test_results_report_the_teachers_accuracy(moons, tmp_path):
    r = drift.compare(
        ["mean_teacher", "drift"], moons, seeds=2, steps=10, eval_every=5, workers=1, progress=False
    )
    for m in r.methods:
        np.testing.assert_array_equal(
            r.teacher_final(m), [h.teacher_test_accuracy[-1] for h in r.histories[m]]
        )
        summary = r.teacher_summary(m)
        assert summary.n == 2 and summary.mean == pytest.approx(r.teacher_final(m).mean())
    r.save(tmp_path / "r.json")
    np.testing.assert_array_equal(
        drift.Results.load(tmp_path / "r.json").teacher_final("drift"), r.teacher_final("drift")
    )
    with pytest.raises(KeyError, match="method must be one of"):
        r.teacher_final("supervised")
    header, _, *rows = r.table().splitlines()
    column = header.split(" | ").index("teacher acc. (%)")
    for m, row in zip(r.methods, rows):
        assert row.split(" | ")[column] == str(r.teacher_summary(m))


def test_tables_of_old_records_have_no_teacher_column():
    record = drift.load_record("mnist1d_cnn")
    assert "teacher acc." not in record.results.table()


def test_shipped_records_lack_the_series_and_read_as_nan():
    record = drift.load_record("mnist1d_cnn")
    for m in record.results.methods:
        assert np.isnan(record.results.teacher_final(m)).all()
        assert math.isnan(record.results.teacher_summary(m).mean)
        assert np.isfinite(record.results.final(m)).all()  # the student's accuracy is untouched


class Disconnect(Exception):
    pass


def test_checkpoints_keep_the_series_and_old_checkpoints_are_refused(
    moons, tmp_path, without_seconds
):
    kwargs = dict(steps=30, eval_every=5, seed=3, alpha=0.99, progress=False)
    full = drift.train("mean_teacher", moons, **kwargs)

    def disconnect(history):
        if history.step[-1] >= 10:
            raise Disconnect

    path = tmp_path / "c.pt"
    with pytest.raises(Disconnect):
        drift.train("mean_teacher", moons, checkpoint=path, callback=disconnect, **kwargs)
    state = torch.load(path, weights_only=True)
    assert state["history"]["teacher_test_accuracy"] == full.teacher_test_accuracy[:2]
    resumed = drift.train("mean_teacher", moons, checkpoint=path, **kwargs)
    assert without_seconds(resumed.to_dict()) == without_seconds(full.to_dict())

    # a checkpoint written before the series existed (by an earlier version, which recorded no
    # format): refused with an error that says so, not resumed; a new path starts afresh
    with pytest.raises(Disconnect):
        drift.train(
            "mean_teacher", moons, checkpoint=tmp_path / "old.pt", callback=disconnect, **kwargs
        )
    state = torch.load(tmp_path / "old.pt", weights_only=True)
    del state["history"]["teacher_test_accuracy"], state["format"]
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(
        ValueError,
        match=r"written by another version of drift \(checkpoint format 1; this "
        r"version reads format 2\) and does not resume; pass a new path",
    ):
        drift.train("mean_teacher", moons, checkpoint=tmp_path / "old.pt", **kwargs)
    afresh = drift.train("mean_teacher", moons, checkpoint=tmp_path / "new.pt", **kwargs)
    assert without_seconds(afresh.to_dict()) == without_seconds(full.to_dict())
