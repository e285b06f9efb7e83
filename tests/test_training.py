"""The training loop: determinism, checkpoint/resume, NaN stop, schedules, History, models."""

import json
import math

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import drift

STEPS = 40


def test_same_seed_same_history_different_seed_different(moons, without_seconds):
    a = drift.train("drift", moons, steps=STEPS, seed=0, progress=False)
    b = drift.train("drift", moons, steps=STEPS, seed=0, progress=False)
    c = drift.train("drift", moons, steps=STEPS, seed=1, progress=False)
    assert without_seconds(a.to_dict()) == without_seconds(b.to_dict())
    assert without_seconds(a.to_dict()) != without_seconds(c.to_dict())
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


class Disconnect(Exception):
    pass


def adamw(params):
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=0.05)


def warmup(optimizer):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: min(1.0, (t + 1) / 20))


RECIPE = dict(optimizer=adamw, scheduler=warmup, max_grad_norm=0.5)


@pytest.mark.parametrize(
    "method, recipe",
    [("drift", {}), ("alternating", {}), ("drift", RECIPE)],
    ids=["drift", "alternating", "drift-adamw-warmup-clipping"],
)
def test_checkpoint_resume_equals_uninterrupted_run(
    method, recipe, moons, tmp_path, without_seconds, monkeypatch
):
    kwargs = dict(steps=STEPS, eval_every=5, seed=3, progress=False, **recipe)
    if method == "alternating":
        kwargs["refresh_every"] = 15  # the refresh falls after the interruption
    full = drift.train(method, moons, **kwargs)

    path = tmp_path / "c.pt"
    stops = []

    def disconnect(history):
        if history.step[-1] >= 10:
            stops.append(history.step[-1])
            raise Disconnect

    with pytest.raises(Disconnect):
        drift.train(method, moons, checkpoint=path, callback=disconnect, **kwargs)
    assert stops == [10] and path.exists()
    # the steps evaluated by the resumed run: it must start after the checkpoint and not evaluate
    # again at the checkpoint's step: the saved predictions stand in
    seen = []
    snapshots = []
    snapshot = drift.training.loop._snapshot
    monkeypatch.setattr(
        drift.training.loop, "_snapshot", lambda *a, **k: snapshots.append(1) or snapshot(*a, **k)
    )
    resumed = drift.train(
        method, moons, checkpoint=path, callback=lambda h: seen.append(h.step[-1]), **kwargs
    )
    assert seen == [15, 20, 25, 30, 35, 40] and len(snapshots) == len(seen)
    assert without_seconds(resumed.to_dict()) == without_seconds(full.to_dict())
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)
    for k, v in full.teacher.state().items():
        assert torch.equal(resumed.teacher.state()[k], v)
    # a finished run resumes to the same history without training
    again = drift.train(
        method, moons, checkpoint=path, callback=lambda h: seen.append(h.step[-1]), **kwargs
    )
    assert without_seconds(again.to_dict()) == without_seconds(full.to_dict())
    assert seen == [15, 20, 25, 30, 35, 40]


def test_checkpoint_from_other_arguments_is_refused(moons, tmp_path):
    path = tmp_path / "c.pt"
    drift.train("mean_teacher", moons, steps=10, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match="checkpoint .*other arguments"):
        drift.train("mean_teacher", moons, steps=10, lr=2e-3, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match="checkpoint .*other arguments"):
        drift.train("drift", moons, steps=10, progress=False, checkpoint=path)


def test_optimizer_scheduler_and_clipping_reach_the_step(moons):
    made = {}

    def sgd(params):
        made["optimizer"] = torch.optim.SGD(params, lr=1.0)
        return made["optimizer"]

    def halve(optimizer):
        made["scheduler"] = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return made["scheduler"]

    torch.manual_seed(0)
    net = drift.MLP((2,), 2, hidden=(8,))
    before = torch.cat([p.detach().flatten() for p in net.parameters()])
    h = drift.train(
        "drift",
        moons,
        model=net,
        steps=1,
        optimizer=sgd,
        scheduler=halve,
        max_grad_norm=1e-3,
        progress=False,
    )
    moved = torch.cat([p.detach().flatten() for p in h.model.parameters()]) - before
    # one SGD step of lr 1 on a gradient clipped to 1e-3
    assert 0 < moved.norm() <= 1e-3 * (1 + 1e-5)
    assert [p for g in made["optimizer"].param_groups for p in g["params"]] == list(
        net.parameters()
    )
    assert made["scheduler"].last_epoch == 1 and made["optimizer"].param_groups[0]["lr"] == 0.5
    h = drift.train(
        "drift",
        moons,
        model=lambda shape, c: drift.MLP(shape, c, hidden=(8,)),
        steps=1,
        seed=0,
        optimizer=lambda p: torch.optim.SGD(p, lr=1.0),
        progress=False,
    )  # the same initial net
    unclipped = torch.cat([p.detach().flatten() for p in h.model.parameters()]) - before
    assert unclipped.norm() > 10 * moved.norm()  # the same step without clipping


def test_clipping_with_the_fp16_gradient_scaler(moons):
    h = drift.train(
        "drift",
        moons,
        steps=5,
        precision="fp16",
        max_grad_norm=0.1,
        scheduler=warmup,
        progress=False,
    )
    assert all(math.isfinite(x) for x in h.loss)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(optimizer="adam"),
            TypeError,
            r"optimizer must be a factory, e.g. lambda params: .*; got str",
        ),
        (
            dict(optimizer=lambda p: "adam"),
            TypeError,
            r"the optimizer factory must return a torch.optim.Optimizer; got str",
        ),
        (
            dict(optimizer=adamw, lr=0.1),
            ValueError,
            r"lr is the default optimizer's .*with optimizer, set it in your factory",
        ),
        (dict(scheduler=3), TypeError, r"scheduler must be a factory"),
        (
            dict(scheduler=lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt)),
            TypeError,
            r"the scheduler factory must return a torch.optim.lr_scheduler.LRScheduler \(stepped "
            r"every step",
        ),
        (dict(max_grad_norm=0.0), ValueError, r"max_grad_norm must be a number > 0"),
        (dict(max_grad_norm=float("inf")), ValueError, r"max_grad_norm must be a number > 0"),
        (dict(max_grad_norm="1"), ValueError, r"max_grad_norm must be a number > 0"),
    ],
)
def test_bad_optimizer_scheduler_and_clipping(moons, kwargs, error, message):
    with pytest.raises(error, match=message):
        drift.train("drift", moons, steps=2, progress=False, **kwargs)


def test_checkpoint_from_another_recipe_is_refused(moons, tmp_path):
    path = tmp_path / "c.pt"
    drift.train("drift", moons, steps=10, progress=False, checkpoint=path, **RECIPE)
    for change in (dict(max_grad_norm=1.0), dict(scheduler=None), dict(optimizer=None)):
        with pytest.raises(ValueError, match="checkpoint .*other arguments"):
            drift.train(
                "drift", moons, steps=10, progress=False, checkpoint=path, **{**RECIPE, **change}
            )


class NaNAfter(nn.Module):
    """An MLP whose training-mode forward returns NaN from its (n + 1)-th call on.

    Training mode calls happen once per step (the teacher and evaluation run in eval mode)."""

    def __init__(self, feature_shape, num_classes, n):
        super().__init__()
        self.net = drift.MLP(feature_shape, num_classes, hidden=(16,))
        self.n, self.calls = n, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls > self.n:
                return out * float("nan")
        return out


@pytest.mark.parametrize("method", ["drift", "supervised"])
def test_nan_loss_stops_training_naming_the_step(method, moons):
    with pytest.raises(FloatingPointError, match=r"step 6\b.*nan"):
        drift.train(
            method, moons, model=lambda shape, c: NaNAfter(shape, c, 5), steps=STEPS, progress=False
        )


def test_alternating_adds_no_unlabeled_loss_before_first_refresh(moons):
    h = drift.train(
        "alternating",
        moons,
        steps=STEPS,
        eval_every=5,
        refresh_every=20,
        rampup=0.0,
        progress=False,
    )
    assert h.step == list(range(5, STEPS + 1, 5))
    for step, lam, unl in zip(h.step, h.lam, h.unlabeled_loss):
        if step <= 20:  # 0-based steps 0..19 come before the first refresh
            assert lam == 0.0 and unl == 0.0, step
        else:
            assert lam == 1.0, step
    assert any(u > 0 for s, u in zip(h.step, h.unlabeled_loss) if s > 20)


def test_history_fields_and_round_trip(moons):
    h = drift.train("mean_teacher", moons, steps=STEPS, eval_every=8, progress=False)
    n = len(h.step)
    assert h.step == [8, 16, 24, 32, 40]
    for name in (
        "test_accuracy",
        "pseudo_label_accuracy",
        "mean_weight",
        "flip_rate",
        "label_flip_rate",
        "loss",
        "supervised_loss",
        "unlabeled_loss",
        "lam",
        "seconds",
    ):
        assert len(getattr(h, name)) == n, name
    assert h.final_test_accuracy == h.test_accuracy[-1]
    assert all(0 <= a <= 100 for a in h.test_accuracy + h.pseudo_label_accuracy)
    assert all(0 <= w <= 1 for w in h.mean_weight) and all(0 <= f <= 1 for f in h.flip_rate)
    assert all(b >= a for a, b in zip(h.seconds, h.seconds[1:]))
    # the loss parts add up: loss = supervised + lam * unlabeled (lam at its full value after the
    # ramp-up)
    assert h.lam[-1] == drift.get_method(h.method).lam
    assert h.loss[-1] == pytest.approx(
        h.supervised_loss[-1] + h.lam[-1] * h.unlabeled_loss[-1], rel=1e-5
    )
    # test accuracy is the trained model's
    with torch.no_grad():
        h.model.eval()
        acc = 100 * drift.accuracy(h.model(moons.x_test), moons.y_test)
    assert acc == pytest.approx(h.final_test_accuracy, abs=1e-9)

    d = h.to_dict()
    assert {"method", "seed", "step", "test_accuracy"} <= set(d) and "model" not in d
    back = drift.History.from_dict(json.loads(json.dumps(d)))
    assert back.to_dict() == d and back == h
    assert isinstance(h.plot(), Figure)


def test_default_eval_every_is_a_twentieth_of_the_steps(moons):
    h = drift.train("supervised", moons, steps=STEPS, progress=False)
    assert h.step == list(range(2, STEPS + 1, 2))
    h = drift.train("supervised", moons, steps=7, eval_every=3, progress=False)
    assert h.step == [3, 6, 7]  # and always the last step


def test_user_tensors_of_any_shape_train_with_named_models():
    g = torch.Generator().manual_seed(0)

    def data(shape):
        return drift.SemiSupervisedData(
            x_labeled=torch.randn(12, *shape, generator=g),
            y_labeled=torch.arange(12) % 3,
            x_unlabeled=torch.randn(40, *shape, generator=g),
            y_unlabeled=None,
            x_test=torch.randn(20, *shape, generator=g),
            y_test=torch.arange(20) % 3,
            num_classes=3,
        )

    h = drift.train("drift", data((3, 5)), model="mlp", steps=10, batch_size=8, progress=False)
    assert isinstance(h.model, drift.MLP) and h.model(torch.zeros(2, 3, 5)).shape == (2, 3)
    assert len(h.step) == 10 and all(math.isnan(a) for a in h.pseudo_label_accuracy)
    assert all(math.isfinite(x) for x in h.loss + h.test_accuracy)
    h = drift.train("drift", data((16,)), model="cnn", steps=10, batch_size=8, progress=False)
    assert isinstance(h.model, drift.CNN) and h.model(torch.zeros(2, 16)).shape == (2, 3)
    assert all(math.isfinite(x) for x in h.loss + h.test_accuracy)


def test_cnn_on_digits_images(digits):
    h = drift.train("drift", digits, model="cnn", steps=5, batch_size=16, progress=False)
    assert isinstance(h.model, drift.CNN) and len(h.step) == 5


def test_module_instance_is_trained_in_place(moons):
    torch.manual_seed(0)
    net = drift.MLP((2,), 2, hidden=(8,))
    before = [p.detach().clone() for p in net.parameters()]
    h = drift.train("drift", moons, model=net, steps=10, progress=False)
    assert h.model is net
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_factory_gets_feature_shape_and_num_classes(digits):
    calls = []

    def factory(feature_shape, num_classes):
        calls.append((feature_shape, num_classes))
        return drift.MLP(feature_shape, num_classes, hidden=(8,))

    h = drift.train("mean_teacher", digits, model=factory, steps=5, progress=False)
    assert calls == [((8, 8), 10)] and isinstance(h.model, drift.MLP)


def test_overrides_reach_the_method(moons):
    h = drift.train("drift", moons, steps=5, alpha=0.5, name="custom", progress=False)
    assert h.method == "custom" and h.teacher.alpha == 0.5


def test_progress_bar_runs(moons):
    h = drift.train("supervised", moons, steps=3, progress=True)
    assert len(h.step) == 3


def replay(method, data, *, steps: int, seed: int, inputs, model=drift.MLP):
    """`drift.train`'s loop by hand, for tests that pin a run to its draws:
    `torch.manual_seed(seed)`, the student `model(feature_shape, num_classes)`, then per step
    randint (labeled indices), randint (unlabeled indices) and `inputs(x_l, x_u)` -> (student's x_l,
    student's x_u, teacher's x_u), which makes the step's own draws. Returns the student, the
    teacher and the per-step losses."""
    torch.manual_seed(seed)
    student = model(data.feature_shape, data.num_classes)
    student.train()
    teacher = drift.make_teacher(method, student)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3, fused=True)
    losses = []
    for step in range(steps):
        i_l = torch.randint(len(data.y_labeled), (64,))
        i_u = torch.randint(len(data.x_unlabeled), (128,))
        s_l, s_u, t_u = inputs(data.x_labeled[i_l], data.x_unlabeled[i_u])
        terms = drift.leader_terms(
            method,
            student,
            teacher,
            s_l,
            data.y_labeled[i_l],
            t_u,
            lam=method.lam_at(step, steps),
            student_x_u=s_u,
        )
        losses.append(terms.total.item())
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()
        teacher.update(student, step, response=terms.teacher_state)
    return student, teacher, losses


@pytest.mark.parametrize(
    "method, model",
    [("drift", "mlp"), ("alternating", "mlp"), ("mean_teacher", "dropout"), ("drift", "batchnorm")],
)
def test_default_run_is_pinned_to_its_draws_from_the_global_generator(method, model, moons):
    """A default run, replayed by hand: `torch.manual_seed(seed)`, the model, then per step
    randint (labeled indices), randint (unlabeled indices), randn_like noise on the labeled
    batch, then on the student's unlabeled batch; evaluations and the probe forward pass draw
    nothing (nor move BatchNorm statistics). Equal to the last bit, so committed notebook
    outputs stay valid."""
    steps, seed, noise = 12, 4, 0.1
    kwargs = dict(refresh_every=5) if method == "alternating" else {}

    # a dropout student draws its masks from the same generator
    def factory(feature_shape, num_classes):
        if model == "mlp":
            return drift.MLP(feature_shape, num_classes)
        middle = nn.Dropout(0.2) if model == "dropout" else nn.BatchNorm1d(32)
        return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), middle, nn.Linear(32, num_classes))

    h = drift.train(
        method, moons, model=factory, steps=steps, eval_every=4, seed=seed, progress=False, **kwargs
    )

    m = drift.get_method(method, **kwargs)

    def inputs(x_l, x_u):  # input noise on the labeled batch, then on the student's unlabeled one
        return x_l + noise * torch.randn_like(x_l), x_u + noise * torch.randn_like(x_u), x_u

    student, teacher, losses = replay(
        m, moons, steps=steps, seed=seed, inputs=inputs, model=factory
    )
    for p, q in zip(h.model.parameters(), student.parameters()):
        assert torch.equal(p, q)
    for k, v in teacher.state().items():
        assert torch.equal(h.teacher.state()[k], v)
    assert h.loss == [sum(losses[i : i + 4]) / 4 for i in range(0, steps, 4)]
