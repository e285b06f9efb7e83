"""Data sources: `drift.DatasetSplits` of torch Datasets beside in-memory tensors, behind one
interface (`drift.data.sources`); evaluation in batches and on a fixed subset of the unlabeled
set."""

import math

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

import drift
from drift.data.sources import LoaderSource, TensorSource, _eval_rows
from drift.training.loop import _snapshot
from test_inputs import IdsAndFeatures, dict_data


def splits_of(data: drift.SemiSupervisedData, *, hidden=True, **kwargs) -> drift.DatasetSplits:
    unlabeled = (
        TensorDataset(data.x_unlabeled, data.y_unlabeled)
        if hidden
        else TensorDataset(data.x_unlabeled)
    )
    return drift.DatasetSplits(
        labeled=TensorDataset(data.x_labeled, data.y_labeled),
        unlabeled=unlabeled,
        test=TensorDataset(data.x_test, data.y_test),
        num_classes=data.num_classes,
        **kwargs,
    )


class Items(Dataset):
    """A Dataset of given items (for odd item formats)."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_dataset_splits_train_like_any_data(moons, without_seconds):
    splits = splits_of(moons)
    assert splits.feature_shape == (2,) and "unlabeled=690" in repr(splits)
    a = drift.train("drift", splits, steps=20, eval_every=5, seed=1, progress=False)
    b = drift.train("drift", splits, steps=20, eval_every=5, seed=1, progress=False)
    c = drift.train("drift", splits, steps=20, eval_every=5, seed=2, progress=False)
    assert (
        without_seconds(a.to_dict()) == without_seconds(b.to_dict()) != without_seconds(c.to_dict())
    )
    assert all(math.isfinite(v) for v in a.test_accuracy + a.pseudo_label_accuracy + a.loss)
    no_hidden = drift.train(
        "drift", splits_of(moons, hidden=False), steps=5, eval_every=5, progress=False
    )
    assert math.isnan(no_hidden.pseudo_label_accuracy[-1]) and math.isfinite(
        no_hidden.test_accuracy[-1]
    )
    no_test = drift.DatasetSplits(labeled=splits.labeled, unlabeled=splits.unlabeled, num_classes=2)
    assert math.isnan(drift.train("drift", no_test, steps=5, progress=False).final_test_accuracy)


def test_both_sources_evaluate_alike_in_any_batch_size(moons):
    """The same student and teacher score the same on the tensors and on their Datasets, whole or
    in batches of 7, on all unlabeled rows or on the same fixed subset."""
    torch.manual_seed(0)
    student = drift.MLP((2,), 2)
    teacher = drift.EMATeacher(student, 0.9)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.3 * torch.randn_like(p))
    method = drift.METHODS["drift"]
    kwargs = dict(device=torch.device("cpu"), seed=3, batch_size=8, unlabeled_batch_size=16)
    for subset in (None, 100):
        snaps = [
            _snapshot(
                method,
                student,
                teacher,
                source(data, eval_batch_size=size, eval_unlabeled=subset, **kwargs),
            )
            for source, data in ((TensorSource, moons), (LoaderSource, splits_of(moons)))
            for size in (4096, 7)
        ]
        for snap in snaps[1:]:
            assert torch.equal(snap["student_pred"], snaps[0]["student_pred"])
            assert torch.equal(snap["teacher_pred"], snaps[0]["teacher_pred"])
            assert snap["test_accuracy"] == snaps[0]["test_accuracy"]
            assert snap["pseudo_label_accuracy"] == snaps[0]["pseudo_label_accuracy"]
            assert snap["mean_weight"] == pytest.approx(snaps[0]["mean_weight"], rel=1e-6)
        assert len(snaps[0]["student_pred"]) == (690 if subset is None else 100)
    rows = _eval_rows(690, 100, seed=3)
    assert torch.equal(rows, _eval_rows(690, 100, seed=3)) and len(set(rows.tolist())) == 100
    assert (
        not torch.equal(rows, _eval_rows(690, 100, seed=4)) and _eval_rows(690, 690, seed=3) is None
    )


def test_eval_subset_leaves_training_alone(moons):
    """eval_unlabeled changes only what is measured: training draws the same batches and noise."""
    full = drift.train("drift", moons, steps=20, eval_every=5, progress=False)
    sub = drift.train(
        "drift",
        moons,
        steps=20,
        eval_every=5,
        eval_unlabeled=50,
        eval_batch_size=16,
        progress=False,
    )
    assert sub.loss == full.loss and sub.test_accuracy == full.test_accuracy
    for p, q in zip(full.model.parameters(), sub.model.parameters()):
        assert torch.equal(p, q)
    assert sub.pseudo_label_accuracy != full.pseudo_label_accuracy  # measured on 50 rows
    assert all(
        abs(f * 50 - round(f * 50)) < 1e-4
        for f in sub.flip_rate + [a / 100 for a in sub.pseudo_label_accuracy]
    )


class Disconnect(Exception):
    pass


def test_dataset_splits_resume_equals_uninterrupted(moons, tmp_path, without_seconds):
    """Step t's batches depend on (seed, t) only: a run resumed at step 10 draws what the
    uninterrupted one drew, and its noise continues from the saved generator state."""
    splits = splits_of(moons)
    kwargs = dict(steps=20, eval_every=5, seed=3, progress=False, eval_unlabeled=200)
    full = drift.train("drift", splits, **kwargs)
    path = tmp_path / "c.pt"

    def disconnect(history):
        if history.step[-1] == 10:
            raise Disconnect

    with pytest.raises(Disconnect):
        drift.train("drift", splits, checkpoint=path, callback=disconnect, **kwargs)
    resumed = drift.train("drift", splits, checkpoint=path, **kwargs)
    assert without_seconds(resumed.to_dict()) == without_seconds(full.to_dict())
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)


def test_worker_processes_load_the_same_batches(moons, without_seconds):
    splits = splits_of(moons)
    parallel = splits_of(moons, num_workers=2)
    a = drift.train("mean_teacher", splits, steps=6, eval_every=3, progress=False)
    b = drift.train("mean_teacher", parallel, steps=6, eval_every=3, progress=False)
    assert without_seconds(a.to_dict()) == without_seconds(b.to_dict())


def test_dataset_splits_of_dict_inputs():
    parts = dict_data()

    def dataset(x, y):
        return Items([({k: v[i] for k, v in x.items()}, int(y[i])) for i in range(len(y))])

    splits = drift.DatasetSplits(
        labeled=dataset(parts["x_labeled"], parts["y_labeled"]),
        unlabeled=Items([{k: v[i] for k, v in parts["x_unlabeled"].items()} for i in range(20)]),
        test=dataset(parts["x_test"], parts["y_test"]),
        num_classes=3,
    )
    assert splits.feature_shape == {"ids": (5,), "features": (3,)}
    h = drift.train("drift", splits, model=IdsAndFeatures, steps=4, batch_size=4, progress=False)
    assert math.isfinite(h.loss[-1]) and math.isnan(h.pseudo_label_accuracy[-1])
    with pytest.raises(ValueError, match="model='mlp' reads one tensor, but the inputs are a dict"):
        drift.train("drift", splits, steps=1, progress=False)


def test_compare_accepts_dataset_splits(moons):
    results = drift.compare(
        ["mean_teacher", "drift"], splits_of(moons), seeds=2, steps=5, workers=1, progress=False
    )
    assert results.final("drift").shape == (2,)


ok = TensorDataset(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
BAD_SPLITS = [
    (
        dict(labeled=iter(ok)),
        TypeError,
        r"labeled must be a map-style torch Dataset \(with __len__ and __getitem__\)",
    ),
    (
        dict(labeled=(torch.zeros(4, 2), torch.zeros(4))),
        TypeError,
        r"labeled items must be \(x, y\) pairs; item 0 is a Tensor",
    ),
    (dict(unlabeled=Items([])), ValueError, r"unlabeled must hold at least one item; it is empty"),
    (
        dict(labeled=TensorDataset(torch.randn(4, 2))),
        TypeError,
        r"labeled items must be \(x, y\) pairs",
    ),
    (
        dict(labeled=Items([(torch.zeros(2), 0.5)])),
        TypeError,
        r"y of labeled\[0\] must be an integer class",
    ),
    (
        dict(test=Items([(torch.zeros(2), 2)])),
        ValueError,
        r"y of test\[0\] must be a class in \[0, 1\]; got 2",
    ),
    (
        dict(labeled=Items([(np.zeros(2), 0)])),
        TypeError,
        r"x of labeled\[0\] must hold tensors, not NumPy arrays",
    ),
    (
        dict(unlabeled=Items([torch.zeros(3)])),
        ValueError,
        r"x of unlabeled\[0\] has feature shape \(3,\) .*but x of labeled\[0\] has \(2,\)",
    ),
    (
        dict(unlabeled=Items([(torch.zeros(2), 0, 1)])),
        TypeError,
        r"unlabeled items must be x, \(x,\) or \(x, y_hidden\)",
    ),
    (dict(num_classes=1), ValueError, r"num_classes must be an integer >= 2"),
    (dict(num_workers=-1), ValueError, r"num_workers must be an integer >= 0"),
]


@pytest.mark.parametrize("change, error, message", BAD_SPLITS, ids=range(len(BAD_SPLITS)))
def test_bad_dataset_splits(change, error, message):
    with pytest.raises(error, match=message):
        drift.DatasetSplits(
            **{"labeled": ok, "unlabeled": ok, "test": None, "num_classes": 2, **change}
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(eval_batch_size=0), r"eval_batch_size must be an integer >= 1"),
        (dict(eval_unlabeled=0), r"eval_unlabeled must be an integer >= 1"),
        (dict(eval_unlabeled=2.5), r"eval_unlabeled must be an integer >= 1"),
    ],
)
def test_bad_evaluation_arguments(moons, kwargs, message):
    with pytest.raises(ValueError, match=message):
        drift.train("drift", moons, steps=1, progress=False, **kwargs)


def test_other_data_is_refused_naming_both_kinds():
    with pytest.raises(
        TypeError, match=r"data must be a drift.SemiSupervisedData .* or a drift.DatasetSplits"
    ):
        drift.train("drift", TensorDataset(torch.zeros(3, 2)), steps=1, progress=False)
