"""Methods as settings of one mechanism and the unlabeled-loss schedule."""

import dataclasses
import math

import pytest

import drift

PRESETS = ("supervised", "alternating", "mean_teacher", "drift_labels", "drift_weights", "drift")
ROUTING = ("name", "grad_labels", "grad_weights")


def test_presets_exist_and_are_named():
    assert tuple(drift.METHODS) == PRESETS
    for name, m in drift.METHODS.items():
        assert isinstance(m, drift.Method) and m.name == name


def test_presets_follow_the_design_table():
    M = drift.METHODS
    assert M["supervised"].lam == 0.0
    alt = M["alternating"]
    assert (alt.teacher, alt.labels, alt.weights, alt.coupled) == (
        "copy",
        "hard",
        "threshold",
        False,
    )
    for name in ("mean_teacher", "drift_labels", "drift_weights", "drift"):
        m = M[name]
        assert (m.teacher, m.labels, m.weights) == ("ema", "soft", "entropy")
    assert (M["mean_teacher"].grad_labels, M["mean_teacher"].grad_weights) == (False, False)
    assert (M["drift_labels"].grad_labels, M["drift_labels"].grad_weights) == (True, False)
    assert (M["drift_weights"].grad_labels, M["drift_weights"].grad_weights) == (False, True)
    assert (M["drift"].grad_labels, M["drift"].grad_weights) == (True, True)
    assert not M["mean_teacher"].coupled and M["drift"].coupled and M["drift_labels"].coupled


def test_drift_variants_differ_from_mean_teacher_only_in_routing_and_tuned_strengths():
    """Each preset carries its own tuned alpha and lam (tests/test_tuning_record.py); everything
    else, and so the isolated comparison at one shared setting, is mean teacher's."""
    tuned = ROUTING + ("name", "alpha", "lam")
    base = {
        k: v for k, v in dataclasses.asdict(drift.METHODS["mean_teacher"]).items() if k not in tuned
    }
    for name in ("drift_labels", "drift_weights", "drift"):
        other = {k: v for k, v in dataclasses.asdict(drift.METHODS[name]).items() if k not in tuned}
        assert other == base, name


def test_method_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        drift.METHODS["drift"].alpha = 0.5


def test_get_method_overrides_and_passes_methods_through():
    m = drift.get_method("drift", alpha=0.99, tau=0.5)
    assert (m.name, m.alpha, m.tau) == ("drift", 0.99, 0.5)
    assert drift.METHODS["drift"].alpha == 0.8  # the preset (its tuned alpha) is untouched
    assert drift.get_method(m) is m
    with pytest.raises(TypeError, match="method must be a preset name"):
        drift.get_method(3)


def test_sigmoid_rampup():
    m = drift.Method(lam=2.0, rampup=0.5, rampup_shape="sigmoid")
    assert m.lam_at(0, 100) == pytest.approx(2.0 * math.exp(-5.0))
    assert m.lam_at(25, 100) == pytest.approx(2.0 * math.exp(-5.0 * 0.25))
    assert m.lam_at(50, 100) == 2.0 and m.lam_at(99, 100) == 2.0
    values = [m.lam_at(s, 100) for s in range(100)]
    assert all(a <= b for a, b in zip(values, values[1:]))


def test_linear_rampup_and_none():
    m = drift.Method(lam=1.0, rampup=0.2, rampup_shape="linear")
    assert m.lam_at(0, 100) == 0.0
    assert m.lam_at(10, 100) == pytest.approx(0.5)
    assert m.lam_at(20, 100) == 1.0
    assert drift.Method(lam=0.3, rampup=0.0).lam_at(0, 100) == 0.3


def test_alternating_has_no_unlabeled_loss_before_its_first_refresh():
    m = drift.get_method("alternating", refresh_every=10, rampup=0.0)
    assert all(m.lam_at(s, 100) == 0.0 for s in range(10))
    assert m.lam_at(10, 100) == 1.0
    ema = drift.get_method("mean_teacher", rampup=0.0)
    assert ema.lam_at(0, 100) == ema.lam
