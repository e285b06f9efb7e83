"""The presets are what the recorded tuning run (benchmarks/tune_defaults.py) chose.

Changing a preset without re-running the protocol, or a record whose choice the presets do not
follow, fails here; so does a record that breaks its own protocol (one budget for every method,
alpha over the whole grid for every EMA teacher, the best mean validation accuracy chosen).
"""
import json

import numpy as np
import pytest

import drift
from book_files import ROOT

RECORD = json.loads((ROOT / "benchmarks" / "results" / "tuning_digits.json").read_text())
ALPHAS = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]


@pytest.mark.parametrize("method", sorted(RECORD["methods"]))
def test_each_preset_follows_its_recorded_choice(method):
    r = RECORD["methods"][method]
    accuracy = np.array(r["accuracy"])  # (settings, seeds)
    assert r["best"] == r["settings"][int(accuracy.mean(1).argmax())], "the record's choice is its best setting"
    preset = drift.get_method(method)
    for k, v in r["best"].items():
        assert getattr(preset, k) == v, f"{method}.{k} is {getattr(preset, k)!r} but its tuning chose {v!r}"


def test_one_budget_for_every_method_and_alpha_searched_for_every_ema_teacher():
    shapes = {m: np.array(r["accuracy"]).shape for m, r in RECORD["methods"].items()}
    assert len(set(shapes.values())) == 1 and list(shapes.values())[0] == (18, len(RECORD["seeds"])), shapes
    tuned = set(RECORD["methods"])
    assert set(drift.METHODS) - {"supervised"} <= tuned and set(drift.EXTRA_PRESETS) <= tuned
    for m in tuned:
        method = drift.get_method(m)
        if method.teacher == "ema" and method.alpha > 0:  # fixmatch's teacher is the student itself
            assert sorted({s["alpha"] for s in RECORD["methods"][m]["settings"]}) == ALPHAS, m


def test_the_small_validation_choice_is_recorded_for_the_main_pair():
    for m in ("mean_teacher", "drift"):
        small = RECORD["small"][m]
        accuracy = np.array(small["accuracy"])
        assert small["best"] == RECORD["methods"][m]["settings"][int(accuracy.mean(1).argmax())]
