"""drift.TrainConfig (settings as data: checks, the split of train's overrides, the checkpoint
identity) and drift.validation (one way to check an integer, a number or a choice)."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import drift
from drift.training import batched as vectorized
from drift.training.config import split_overrides
from drift.validation import ArgumentTypeError, check_bool, check_choice, check_integer, check_real

# --- drift.validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_numpy_integers_are_integers(value):
    out = check_integer("steps", value, minimum=1)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize(
    "value", [True, False, 2.0, 2.5, "2", None, np.float64(2.0), torch.tensor(2)]
)
def test_a_non_integer_is_a_type_error(value):
    with pytest.raises(TypeError, match=r"steps must be an integer >= 1; got "):
        check_integer("steps", value, minimum=1)


def test_a_bad_integer_is_a_value_error_not_a_type_error():
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1; got 0") as err:
        check_integer("steps", 0, minimum=1)
    assert not isinstance(err.value, TypeError)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 4\] \(a hint\); got 5"):
        check_integer("k", 5, minimum=1, maximum=4, hint="a hint")
    assert check_integer("seed", -3) == -3


def test_type_errors_stay_value_errors_too():
    """ArgumentTypeError is a TypeError (the issue's rule) and a ValueError (what user code
    written against earlier versions catches)."""
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
    with pytest.raises(ValueError):
        check_real("lr", "0.1", minimum=0, low_open=True)


@pytest.mark.parametrize("value", [0.5, 1, np.float64(0.5), np.float32(0.5), np.int64(1)])
def test_numpy_reals_are_reals(value):
    out = check_real("alpha", value, minimum=0, maximum=1)
    assert out == value and type(out) in (int, float)


@pytest.mark.parametrize(
    "value, error",
    [
        (True, TypeError),
        ("0.5", TypeError),
        (None, TypeError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (-0.1, ValueError),
        (1.0, ValueError),
    ],
)
def test_bad_reals(value, error):
    with pytest.raises(error, match=r"alpha must be in \[0, 1\) \(the decay\); got "):
        check_real("alpha", value, minimum=0, maximum=1, high_open=True, hint="the decay")


def test_real_phrases():
    with pytest.raises(ValueError, match=r"lam must be a finite number >= 0; got inf"):
        check_real("lam", math.inf, minimum=0)
    assert check_real("tau", math.inf, minimum=0, low_open=True, finite=False) == math.inf
    with pytest.raises(ValueError, match=r"tau must be > 0; got 0"):
        check_real("tau", 0, minimum=0, low_open=True, finite=False)
    with pytest.raises(ValueError, match=r"x must be a finite number; got nan"):
        check_real("x", math.nan)


def test_choices_and_bools():
    assert check_choice("precision", "bf16", drift.PRECISIONS) == "bf16"
    with pytest.raises(
        ValueError, match=r"precision must be one of 'fp32', 'bf16', 'fp16'; got 'fp8'"
    ):
        check_choice("precision", "fp8", drift.PRECISIONS)
    with pytest.raises(ValueError, match="must be one of"):
        check_choice("precision", ["unhashable"], drift.PRECISIONS)
    assert check_bool("flag", False) is False
    with pytest.raises(TypeError, match="flag must be True or False; got 1"):
        check_bool("flag", 1)


def test_method_checks_are_a_table_and_accept_numpy_scalars():
    from drift.core.methods import CONSTRAINTS

    assert set(CONSTRAINTS) == {f.name for f in dataclasses.fields(drift.Method)}
    m = drift.Method(
        alpha=np.float64(0.5),
        refresh_every=np.int64(10),
        teacher="copy",
        grad_labels=False,
        grad_weights=False,
    )
    assert (
        m.alpha == 0.5
        and type(m.alpha) is float
        and m.refresh_every == 10
        and type(m.refresh_every) is int
    )
    with pytest.raises(TypeError, match="refresh_every must be an integer >= 1"):
        drift.Method(refresh_every=True)
    with pytest.raises(TypeError, match="alpha must be in"):
        drift.Method(alpha="0.5")


# --- drift.TrainConfig ---------------------------------------------------------------------------


def test_defaults_and_resolution():
    config = drift.TrainConfig()
    assert (config.steps, config.batch_size, config.lr, config.input_noise, config.precision) == (
        1000,
        64,
        1e-3,
        0.1,
        "fp32",
    )
    resolved = drift.TrainConfig(steps=200, batch_size=16).resolved()
    assert resolved.unlabeled_batch_size == 32 and resolved.eval_every == 10
    assert drift.TrainConfig(steps=5).resolved().eval_every == 1
    kept = drift.TrainConfig(unlabeled_batch_size=7, eval_every=3).resolved()
    assert kept.unlabeled_batch_size == 7 and kept.eval_every == 3


def test_the_config_is_frozen_and_replaced():
    config = drift.TrainConfig(steps=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 20
    assert dataclasses.replace(config, steps=20).steps == 20 and config.steps == 10
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        dataclasses.replace(config, steps=0)


@pytest.mark.parametrize(
    "settings, error, message",
    [
        (dict(steps=0), ValueError, r"steps must be an integer >= 1; got 0"),
        (dict(steps=True), TypeError, r"steps must be an integer >= 1; got True"),
        (dict(batch_size=2.0), TypeError, r"batch_size must be an integer >= 1"),
        (dict(lr=-1.0), ValueError, r"lr must be > 0"),
        (dict(lr="fast"), TypeError, r"lr must be > 0"),
        (dict(input_noise=math.nan), ValueError, r"input_noise must be >= 0"),
        (dict(precision="fp8"), ValueError, r"precision must be one of 'fp32', 'bf16', 'fp16'"),
        (dict(eval_unlabeled=0), ValueError, r"eval_unlabeled must be an integer >= 1"),
        (dict(max_grad_norm=math.inf), ValueError, r"max_grad_norm must be a number > 0"),
        (dict(seed=1.5), TypeError, r"seed must be an integer"),
    ],
)
def test_config_checks(settings, error, message):
    with pytest.raises(error, match=message):
        drift.TrainConfig(**settings)


def test_numpy_settings_are_stored_as_python_numbers():
    config = drift.TrainConfig(steps=np.int64(30), lr=np.float32(0.5), seed=np.int32(2))
    assert type(config.steps) is int and type(config.lr) is float and type(config.seed) is int
    assert config == drift.TrainConfig(steps=30, lr=0.5, seed=2)


def test_overrides_are_split_by_name():
    method, config, rest = split_overrides(
        {"alpha": 0.5, "steps": 3, "model": "mlp"}, others={"model"}
    )
    assert (method, config, rest) == ({"alpha": 0.5}, {"steps": 3}, {"model": "mlp"})
    with pytest.raises(
        TypeError,
        match=r"unknown setting\(s\) stpes; Method settings are .*alpha.*"
        r"TrainConfig settings are steps, batch_size",
    ):
        split_overrides({"stpes": 3})


def test_train_takes_a_config_and_overrides_alike(moons, without_seconds):
    config = drift.TrainConfig(steps=6, eval_every=3, seed=1)
    with_config = drift.train("drift", moons, config, alpha=0.5, progress=False)
    with_overrides = drift.train(
        "drift", moons, steps=6, eval_every=3, seed=1, alpha=0.5, progress=False
    )
    replaced = drift.train(
        "drift", moons, dataclasses.replace(config, steps=99), steps=6, alpha=0.5, progress=False
    )
    assert without_seconds(with_config.to_dict()) == without_seconds(with_overrides.to_dict())
    assert without_seconds(replaced.to_dict()) == without_seconds(with_overrides.to_dict())
    with pytest.raises(TypeError, match=r"unknown setting\(s\) stpes"):
        drift.train("drift", moons, stpes=6, progress=False)
    with pytest.raises(TypeError, match="config must be a drift.TrainConfig"):
        drift.train("drift", moons, {"steps": 6}, progress=False)


def test_checkpoint_identity_is_the_method_and_the_resolved_config(moons, tmp_path):
    path = tmp_path / "run.pt"
    config = drift.TrainConfig(steps=4, eval_every=2)
    drift.train("drift", moons, config, checkpoint=path, progress=False)
    saved = torch.load(path, weights_only=True)["config"]
    assert {k: saved[k] for k in dataclasses.asdict(config)} == dataclasses.asdict(
        config.resolved()
    )
    assert saved["method"]["name"] == "drift" and saved["model"] == "mlp"
    with pytest.raises(ValueError, match=r"differing: eval_batch_size\)"):
        drift.train("drift", moons, config, eval_batch_size=7, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"differing: method\)"):
        drift.train("drift", moons, config, alpha=0.5, checkpoint=path, progress=False)


def test_compare_and_the_batched_engine_take_a_config(moons, without_seconds):
    config = drift.TrainConfig(steps=6, eval_every=3)
    results = drift.compare(["drift"], moons, seeds=[0], workers=1, progress=False, config=config)
    plain = drift.compare(
        ["drift"], moons, seeds=[0], workers=1, progress=False, steps=6, eval_every=3
    )
    assert without_seconds(results.histories["drift"][0].to_dict()) == without_seconds(
        plain.histories["drift"][0].to_dict()
    )
    (batched,) = vectorized.train_many(
        [(drift.get_method("drift"), 0)], moons, config, progress=False
    )
    assert batched.step == [3, 6]
    assert vectorized.unsupported(dataclasses.replace(config, precision="bf16")) == (
        "mixed precision is supported for one run at a time only"
    )
    assert "callback" in vectorized.unsupported(config, {"callback": print, "model": "mlp"})
    assert vectorized.unsupported(config, {"callback": None, "model": "mlp"}) is None
    with pytest.raises(TypeError, match="seeds"):
        drift.compare(["drift"], moons, seeds=[0], seed=3)
    with pytest.raises(TypeError, match=r"unknown setting\(s\) stpes"):
        drift.compare(["drift"], moons, seeds=[0], stpes=3)
    with pytest.raises(TypeError, match="Method settings belong in the jobs' methods"):
        vectorized.train_many([(drift.get_method("drift"), 0)], moons, config, alpha=0.5)
