"""The vectorised engine (`drift.training.batched`, compare's default): the same runs as
`drift.train` up to float rounding, for every preset on the MLP and the CNN, and a fallback that
says why."""

import functools
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import drift
from drift.training import batched as vectorized
from drift.training.history import SERIES

STEPS = 100
PRESETS = [*drift.METHODS, *drift.EXTRA_PRESETS]
DIGITS = functools.partial(drift.load_data, "digits", labels_per_class=5)


def preset(name: str) -> drift.Method:
    """A preset; a copied teacher refreshes every 20 steps, so 100 steps see several copies."""
    method = drift.get_method(name)
    return drift.get_method(method, refresh_every=20) if method.teacher == "copy" else method


def assert_same_runs(batched: drift.History, single: drift.History) -> None:
    """Every series of two Histories agrees: losses to float tolerance, accuracies, mean weight
    and flip rates to within a few examples of ~1300 (a near-tie may round to another class).
    Float32 rounding differs between batched and single matrix products by ~1e-7; 100 Adam
    steps amplify it to ~1e-4 of a loss (measured on the CNN); a wrong method differs by far more
    (see test_the_tolerance_tells_methods_apart)."""
    assert (batched.method, batched.seed, batched.step) == (single.method, single.seed, single.step)
    for series in SERIES:
        if series in ("step", "seconds"):
            continue
        got, want = np.array(getattr(batched, series)), np.array(getattr(single, series))
        if series.endswith("loss") or series == "lam":
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6, err_msg=series)
        else:
            scale = 100 if series.endswith("accuracy") else 1  # % or fraction
            np.testing.assert_allclose(got, want, atol=scale * 3e-3, err_msg=series)


@pytest.mark.parametrize("model, seeds", [("mlp", (0, 1)), ("cnn", (1,))])
def test_batched_runs_equal_single_runs_for_every_preset(model, seeds):
    jobs = [(preset(name), seed) for name in PRESETS for seed in seeds]
    batched = vectorized.train_many(
        jobs, DIGITS, model=model, steps=STEPS, eval_every=20, progress=False
    )
    assert [(h.method, h.seed) for h in batched] == [(m.name, s) for m, s in jobs]
    for (method, seed), history in zip(jobs, batched):
        single = drift.train(
            method,
            DIGITS(seed=seed),
            model=model,
            seed=seed,
            steps=STEPS,
            eval_every=20,
            progress=False,
        )
        assert_same_runs(history, single)


@pytest.mark.parametrize("other", ["mean_teacher", "drift_weights"])
def test_the_tolerance_tells_methods_apart(other):
    """The check above can fail: DRIFT batched is not `other` run alone (a routing slip)."""
    (batched,) = vectorized.train_many(
        [(preset("drift"), 0)], DIGITS, steps=STEPS, eval_every=20, progress=False
    )
    single = drift.train(other, DIGITS(seed=0), seed=0, steps=STEPS, eval_every=20, progress=False)
    single.method = "drift"
    with pytest.raises(AssertionError):
        assert_same_runs(batched, single)


def test_compare_uses_the_batched_engine_by_default(digits, without_seconds):
    kwargs = dict(seeds=[0, 1], steps=30, eval_every=10, workers=1, progress=False, alpha=0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        batched = drift.compare(["mean_teacher", "drift"], digits, **kwargs)
    single = drift.compare(["mean_teacher", "drift"], digits, engine="processes", **kwargs)
    assert type(batched) is type(single) and batched.methods == single.methods
    for m in batched.methods:
        for b, s in zip(batched.histories[m], single.histories[m]):
            assert_same_runs(b, s)
    assert (
        single.histories["drift"][0].to_dict().keys()
        == batched.histories["drift"][0].to_dict().keys()
    )


def test_worker_processes_split_the_batch(digits):
    kwargs = dict(seeds=3, steps=20, eval_every=10, progress=False)
    one = drift.compare(["alternating", "drift"], digits, workers=1, **kwargs)
    two = drift.compare(["alternating", "drift"], digits, workers=2, **kwargs)
    for m in one.methods:
        assert [h.seed for h in two.histories[m]] == [0, 1, 2]
        for a, b in zip(one.histories[m], two.histories[m]):
            assert_same_runs(a, b)


class Dropout(nn.Module):
    def __init__(self, shape, num_classes):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(int(np.prod(shape)), 16),
            nn.Dropout(0.1),
            nn.Linear(16, num_classes),
        )

    def forward(self, x):
        return self.net(x)


def dropout_model(shape, num_classes):
    return Dropout(shape, num_classes)


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        (dict(model=dropout_model), "Dropout layers"),
        (
            dict(
                model=lambda shape, c: nn.Sequential(
                    nn.Flatten(), nn.Linear(int(np.prod(shape)), c), nn.BatchNorm1d(c)
                )
            ),
            "BatchNorm1d",
        ),
        (dict(precision="bf16"), "mixed precision"),
        (dict(max_grad_norm=1.0), "max_grad_norm"),
        (dict(callback=lambda h: None), "callback"),
    ],
)
def test_compare_falls_back_to_single_runs_and_says_why(moons, without_seconds, kwargs, reason):
    run = dict(seeds=[0], steps=10, workers=1, progress=False, **kwargs)
    with pytest.warns(UserWarning, match=rf"engine='vmap' cannot batch these runs \(.*{reason}"):
        results = drift.compare(["drift"], moons, **run)
    single = drift.train("drift", moons, seed=0, steps=10, progress=False, **kwargs)
    assert without_seconds(results.histories["drift"][0].to_dict()) == without_seconds(
        single.to_dict()
    )


class FunctionalDropout(nn.Module):
    """Dropout through `F.dropout` in the forward pass: no dropout layer for a type check to see."""

    def __init__(self, shape, num_classes, p=0.3):
        super().__init__()
        self.first, self.last, self.p = (
            nn.Linear(int(np.prod(shape)), 16),
            nn.Linear(16, num_classes),
            p,
        )

    def forward(self, x):
        return self.last(
            nn.functional.dropout(torch.relu(self.first(x.flatten(1))), self.p, self.training)
        )


def dropping_nothing(shape, num_classes):
    """A dropout layer with p = 0: no random draw, so nothing keeps it from being batched."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(int(np.prod(shape)), 16),
        nn.ReLU(),
        nn.Dropout(0.0),
        nn.Linear(16, num_classes),
    )


def test_a_model_calling_dropout_in_its_forward_falls_back(moons, without_seconds):
    """The probe runs the model as the engine would: `F.dropout` draws at random under vmap, so
    compare falls back to single runs, saying where, with the same results as `train`."""
    run = dict(seeds=[0], steps=10, workers=1, progress=False, model=FunctionalDropout)
    reason = (
        r"the model's forward pass \(FunctionalDropout\) fails under vmap in training mode "
        r"\(RuntimeError: vmap"
    )
    with pytest.warns(UserWarning, match=rf"engine='vmap' cannot batch these runs \({reason}"):
        results = drift.compare(["drift"], moons, **run)
    single = drift.train("drift", moons, seed=0, steps=10, progress=False, model=FunctionalDropout)
    assert without_seconds(results.histories["drift"][0].to_dict()) == without_seconds(
        single.to_dict()
    )


def test_a_dropout_layer_that_drops_nothing_is_batched(moons):
    """nn.Dropout(p=0.0) draws nothing: compare batches it (no fallback warning), and the runs
    equal `train`'s."""
    kwargs = dict(steps=30, eval_every=10, progress=False, model=dropping_nothing)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        batched = drift.compare(["mean_teacher", "drift"], moons, seeds=[0, 1], workers=1, **kwargs)
    for method in ("mean_teacher", "drift"):
        for seed, history in zip((0, 1), batched.histories[method]):
            assert_same_runs(history, drift.train(method, moons, seed=seed, **kwargs))


@pytest.mark.parametrize(
    "layers, reason",
    [
        ([nn.Dropout(0.1)], r"the model's Dropout layers \(2\) fail under vmap in training mode"),
        ([nn.BatchNorm1d(3)], r"the model's BatchNorm1d layers hold buffers \(2.running_mean"),
        (
            [nn.BatchNorm1d(3, track_running_stats=False)],
            None,
        ),  # batch statistics: per run under vmap
        ([nn.LayerNorm(3), nn.Dropout(0.0)], None),
    ],
)
def test_batchability_is_decided_by_a_probe(layers, reason):
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3), *layers)
    got = vectorized.model_unsupported(model, torch.randn(2, 2))
    if reason is None:
        assert got is None
    else:
        assert got is not None and re.match(reason, got), got


def test_dataset_splits_fall_back(moons):
    splits = drift.DatasetSplits(
        labeled=torch.utils.data.TensorDataset(moons.x_labeled, moons.y_labeled),
        unlabeled=torch.utils.data.TensorDataset(moons.x_unlabeled),
        test=torch.utils.data.TensorDataset(moons.x_test, moons.y_test),
        num_classes=2,
    )
    with pytest.warns(UserWarning, match="DatasetSplits"):
        drift.compare(["drift"], splits, seeds=1, steps=5, workers=1, progress=False)


def test_unknown_engine_is_refused(moons):
    with pytest.raises(
        ValueError, match="engine must be one of 'vmap', 'processes'; got 'threads'"
    ):
        drift.compare(["drift"], moons, engine="threads")


class NaNAfter(nn.Module):
    """Logits turn NaN after `n` training-mode forward passes (one per step, batched or not)."""

    def __init__(self, shape, num_classes, n):
        super().__init__()
        self.net, self.n, self.calls = nn.Linear(int(np.prod(shape)), num_classes), n, 0

    def forward(self, x):
        out = self.net(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls > self.n:
                return out * float("nan")
        return out


def test_nan_loss_stops_training_naming_run_and_step(moons):
    with pytest.raises(FloatingPointError, match=r"step 6 of drift \(seed 0\).*nan"):
        vectorized.train_many(
            [(drift.get_method("drift"), 0)],
            moons,
            model=lambda s, c: NaNAfter(s, c, 5),
            steps=10,
            progress=False,
        )
