"""History: predictions of the trained student and teacher, the teacher as a module, stopping
from a callback, and training without a test set."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import drift
from drift.experiments.baselines import reference_accuracy
from drift.core.teacher import eval_mode


def dropout_student(feature_shape, num_classes):
    return nn.Sequential(
        nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, num_classes)
    )


@pytest.fixture(scope="module")
def run(moons):
    return drift.train(
        "drift", moons, model=dropout_student, steps=20, eval_every=5, progress=False
    )


def test_predict_proba_is_the_eval_mode_student_batched_without_gradient_or_draws(run, moons):
    x = moons.x_test
    with torch.no_grad(), eval_mode(run.model):
        expected = torch.softmax(run.model(x), -1)
    rng = torch.get_rng_state()
    p = run.predict_proba(x, batch_size=7)  # several batches, the last one short
    assert torch.equal(torch.get_rng_state(), rng)
    assert run.model.training  # its mode is restored
    assert p.shape == (len(x), 2) and p.device.type == "cpu" and not p.requires_grad
    torch.testing.assert_close(p, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(p.sum(-1), torch.ones(len(x)))
    assert torch.equal(run.predict(x), p.argmax(-1))
    # NumPy as in the data
    assert torch.equal(run.predict_proba(x.numpy().astype(np.float64)), run.predict_proba(x))


def test_teacher_predictions_are_the_teacher_that_history_evaluated(run, moons):
    p = run.predict_proba(moons.x_unlabeled, which="teacher")
    with torch.no_grad():
        expected = torch.softmax(run.teacher.logits(run.model, moons.x_unlabeled), -1)
    torch.testing.assert_close(p, expected, rtol=0, atol=1e-6)
    accuracy = (
        100
        * (run.predict(moons.x_unlabeled, which="teacher") == moons.y_unlabeled)
        .float()
        .mean()
        .item()
    )
    assert accuracy == pytest.approx(run.pseudo_label_accuracy[-1], abs=1e-9)


def test_teacher_module_is_an_eval_copy_with_the_teacher_weights(run, moons):
    module = run.teacher_module()
    assert module is not run.model and not module.training and run.model.training
    state = run.teacher.state()
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        assert torch.equal(t, state[name]), name
    with torch.no_grad():
        torch.testing.assert_close(
            torch.softmax(module(moons.x_test), -1),
            run.predict_proba(moons.x_test, which="teacher"),
            rtol=0,
            atol=1e-6,
        )
    with torch.no_grad():  # a copy: changing it leaves the teacher alone
        next(module.parameters()).add_(1.0)
    assert not torch.equal(
        next(module.parameters()), state[next(iter(dict(module.named_parameters())))]
    )


def test_ema_teacher_module_is_the_average_of_the_students_before_each_step(moons):
    """After T steps the teacher is the EMA of theta_0 .. theta_{T-1}, without theta_T."""
    torch.manual_seed(0)
    net = drift.MLP((2,), 2, hidden=(8,))
    iterates = [[p.detach().clone() for p in net.parameters()]]
    h = drift.train(
        "drift",
        moons,
        model=net,
        steps=6,
        eval_every=1,
        progress=False,
        alpha=0.5,
        callback=lambda h: iterates.append([p.detach().clone() for p in h.model.parameters()]),
    )
    ema = iterates[0]
    for theta in iterates[1:-1]:
        ema = [0.5 * e + 0.5 * t for e, t in zip(ema, theta)]
    for e, p in zip(ema, h.teacher_module().parameters()):
        torch.testing.assert_close(p, e, rtol=1e-6, atol=1e-7)


def test_copied_teacher_module_is_its_latest_copy(moons):
    h = drift.train("alternating", moons, steps=20, refresh_every=10, progress=False)
    for p, q in zip(h.teacher_module().parameters(), h.model.parameters()):
        assert torch.equal(p, q)  # refreshed after the last step


def test_predictions_need_the_trained_history_and_valid_arguments(run, moons):
    back = drift.History.from_dict(run.to_dict())
    for call in (lambda: back.predict_proba(moons.x_test), back.teacher_module):
        with pytest.raises(ValueError, match="no trained model"):
            call()
    with pytest.raises(ValueError, match="which must be one of 'student', 'teacher'; got 'ema'"):
        run.predict(moons.x_test, which="ema")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        run.predict_proba(moons.x_test, batch_size=0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor or numpy array"):
        run.predict_proba([[0.0, 1.0]])


def test_callback_returning_true_stops_after_that_evaluation(moons, tmp_path, without_seconds):
    full = drift.train("drift", moons, steps=30, eval_every=5, progress=False)
    calls = []

    def stop_at_10(history):
        calls.append(history.step[-1])
        return history.step[-1] == 10

    path = tmp_path / "c.pt"
    h = drift.train(
        "drift", moons, steps=30, eval_every=5, progress=False, callback=stop_at_10, checkpoint=path
    )
    assert calls == [5, 10] and h.step == [5, 10] and h.stopped_at == 10 and full.stopped_at is None
    first_two = {
        k: v[:2] if isinstance(v, list) else v for k, v in without_seconds(full.to_dict()).items()
    }
    assert without_seconds(h.to_dict()) == {**first_two, "stopped_at": 10}
    back = drift.History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back == h and back.stopped_at == 10
    # a rerun with the checkpoint returns the stopped History without training further
    again = drift.train(
        "drift", moons, steps=30, eval_every=5, progress=False, callback=stop_at_10, checkpoint=path
    )
    assert calls == [5, 10] and without_seconds(again.to_dict()) == without_seconds(h.to_dict())
    # only True stops: a callback that returns another truthy value does not
    h = drift.train("drift", moons, steps=10, eval_every=5, progress=False, callback=lambda h: [h])
    assert h.step == [5, 10] and h.stopped_at is None


def test_history_dicts_without_stopped_at_still_read():
    d = drift.History(method="drift", seed=0).to_dict()
    del d["stopped_at"]
    assert drift.History.from_dict(d).stopped_at is None


def test_no_test_set_gives_nan_test_accuracy(moons):
    data = drift.SemiSupervisedData(
        x_labeled=moons.x_labeled,
        y_labeled=moons.y_labeled,
        x_unlabeled=moons.x_unlabeled,
        y_unlabeled=moons.y_unlabeled,
        x_test=None,
        y_test=None,
        num_classes=2,
    )
    assert "test=0" in repr(data) and data.to("cpu").x_test is None
    h = drift.train("drift", data, steps=10, eval_every=5, progress=False)
    assert all(math.isnan(a) for a in h.test_accuracy) and math.isnan(h.final_test_accuracy)
    assert all(math.isfinite(a) for a in h.pseudo_label_accuracy + h.loss)
    with pytest.raises(ValueError, match="x_test and y_test must be given together"):
        drift.SemiSupervisedData(
            x_labeled=moons.x_labeled,
            y_labeled=moons.y_labeled,
            x_unlabeled=moons.x_unlabeled,
            y_unlabeled=None,
            x_test=moons.x_test,
            y_test=None,
            num_classes=2,
        )
    with pytest.raises(ValueError, match="data must have a test set"):
        reference_accuracy(data)
