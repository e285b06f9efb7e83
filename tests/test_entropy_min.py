"""The entropy_min preset: mean teacher plus lam * entropy_weight * mean_j H(s_j) on the student's
unlabeled predictions (Grandvalet & Bengio, 2005), a setting of the one Method mechanism, kept
out of the default set METHODS."""

import dataclasses

import pytest
import torch

import drift
from test_gradients import (
    LAM,
    TOL,
    ReferenceF,
    autograd_gradient,
    central_difference,
    directions,
    make_problem,
    relative_error,
    theta,
)

WEIGHT = 0.8


def entropy_term(student, x_u) -> torch.Tensor:
    p = torch.softmax(student(x_u), -1)
    return -(p * p.log()).sum(-1).mean()


def test_entropy_min_is_an_extra_preset_outside_the_default_set():
    assert tuple(drift.METHODS) == (
        "supervised",
        "alternating",
        "mean_teacher",
        "drift_labels",
        "drift_weights",
        "drift",
    )
    m = drift.get_method("entropy_min")
    assert m is drift.EXTRA_PRESETS["entropy_min"] and m.entropy_weight == 1.0
    # each preset's own tuning
    tuned = {k: getattr(drift.METHODS["mean_teacher"], k) for k in ("alpha", "lam")}
    assert (
        dataclasses.replace(m, name="mean_teacher", entropy_weight=0.0, **tuned)
        == drift.METHODS["mean_teacher"]
    )
    assert all(p.entropy_weight == 0.0 for p in drift.METHODS.values())
    assert drift.get_method("entropy_min", entropy_weight=0.3).entropy_weight == 0.3
    assert dataclasses.asdict(m)["entropy_weight"] == 1.0


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "1"])
def test_entropy_weight_is_validated(bad):
    with pytest.raises(ValueError, match="entropy_weight must be a finite number >= 0"):
        drift.get_method("entropy_min", entropy_weight=bad)


def test_unknown_preset_error_lists_the_extra_presets():
    with pytest.raises(
        ValueError,
        match=r"method must be one of .*drift \(or an extra preset: entropy_min[^)]*\).*got "
        r"'entropy'",
    ):
        drift.get_method("entropy")


@pytest.mark.parametrize(
    "name, frozen", [("mean_teacher", (True, True)), ("drift", (False, False))]
)
@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_gradient_with_entropy_term_matches_central_difference(name, frozen, alpha):
    """In float64, dF/d theta with entropy_weight > 0 equals the central difference of F: labels
    and weights frozen for mean teacher (entropy_min), through the teacher for DRIFT; the
    entropy term is differentiated through the student only."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method(name, alpha=alpha, entropy_weight=WEIGHT)
    grad = autograd_gradient(
        student, drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    )
    ref = ReferenceF(method, student, teacher, x_l, y_l, x_u)

    def f():
        return ref(freeze_labels=frozen[0], freeze_weights=frozen[1]) + LAM * WEIGHT * entropy_term(
            student, x_u
        )

    for v in directions(len(theta(student))):
        assert relative_error(float(grad @ v), central_difference(student, f, v)) < TOL


def test_entropy_term_adds_exactly_its_value_and_zero_changes_nothing():
    student, teacher, x_l, y_l, x_u = make_problem(0.9)
    base = drift.leader_terms(
        drift.METHODS["mean_teacher"], student, teacher, x_l, y_l, x_u, lam=LAM
    )
    zero = drift.leader_terms(
        drift.get_method("mean_teacher", entropy_weight=0.0),
        student,
        teacher,
        x_l,
        y_l,
        x_u,
        lam=LAM,
    )
    assert torch.equal(base.total, zero.total) and torch.equal(base.unlabeled, zero.unlabeled)
    em = drift.leader_terms(
        drift.get_method("entropy_min", alpha=0.9), student, teacher, x_l, y_l, x_u, lam=LAM
    )
    with torch.no_grad():
        h = entropy_term(student, x_u)
    torch.testing.assert_close(em.unlabeled, base.unlabeled + h, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(em.total, base.total + LAM * h, rtol=1e-12, atol=1e-14)
    off = drift.leader_terms(
        drift.get_method("entropy_min"), student, teacher, x_l, y_l, x_u, lam=0.0
    )
    assert torch.equal(off.total, off.supervised)  # under the ramp: nothing at lam = 0


def test_entropy_min_trains_and_its_checkpoint_config_resumes(moons, tmp_path, without_seconds):
    kwargs = dict(steps=20, eval_every=10, seed=0, progress=False)
    full = drift.train("entropy_min", moons, **kwargs)
    path = tmp_path / "e.pt"
    drift.train("entropy_min", moons, checkpoint=path, **kwargs)
    config = torch.load(path, weights_only=True)["config"]
    # every setting, defaults too
    assert config["method"] == dataclasses.asdict(drift.get_method("entropy_min"))
    again = drift.train("entropy_min", moons, checkpoint=path, **kwargs)
    assert without_seconds(again.to_dict()) == without_seconds(full.to_dict())
    with pytest.raises(ValueError, match="differing: method"):
        drift.train(
            drift.get_method("entropy_min", entropy_weight=0.5), moons, checkpoint=path, **kwargs
        )
    assert full.method == "entropy_min"
    plain = drift.train("mean_teacher", moons, **kwargs)
    # the term is used
    assert without_seconds(plain.to_dict())["loss"] != without_seconds(full.to_dict())["loss"]


def test_default_checkpoint_config_records_every_setting(moons, tmp_path):
    """A default run records every Method setting, entropy_weight = 0 and the other settings at
    their defaults included (checkpoints of earlier versions, which left them out, are refused)."""
    path = tmp_path / "m.pt"
    drift.train("mean_teacher", moons, steps=5, progress=False, checkpoint=path)
    method = torch.load(path, weights_only=True)["config"]["method"]
    assert (
        method == dataclasses.asdict(drift.METHODS["mean_teacher"])
        and method["entropy_weight"] == 0.0
    )
