"""The presets are what the recorded tuning run (benchmarks/tune_defaults.py) chose.

Changing a preset without re-running the protocol, or a record whose choice the presets do not
follow, fails here; so does a record that breaks its own protocol (one budget for every method,
alpha over the whole grid for every EMA teacher, the best mean validation accuracy chosen).
"""

import json

import numpy as np
import pytest

import drift
from book_files import ROOT, load, source

RECORD = json.loads((ROOT / "benchmarks" / "results" / "tuning_digits.json").read_text())
ALPHAS = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]


@pytest.mark.parametrize("method", sorted(RECORD["methods"]))
def test_each_preset_follows_its_recorded_choice(method):
    r = RECORD["methods"][method]
    accuracy = np.array(r["accuracy"])  # (settings, seeds)
    assert r["best"] == r["settings"][int(accuracy.mean(1).argmax())], (
        "the record's choice is its best setting"
    )
    preset = drift.get_method(method)
    for k, v in r["best"].items():
        assert getattr(preset, k) == v, (
            f"{method}.{k} is {getattr(preset, k)!r} but its tuning chose {v!r}"
        )


def test_one_budget_for_every_method_and_alpha_searched_for_every_ema_teacher():
    shapes = {m: np.array(r["accuracy"]).shape for m, r in RECORD["methods"].items()}
    assert len(set(shapes.values())) == 1 and list(shapes.values())[0] == (
        18,
        len(RECORD["seeds"]),
    ), shapes
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


NAMES = {
    "alpha": "α",
    "lam": "λ",
    "entropy_weight": "entropy weight",
    "threshold": "threshold",
    "refresh_every": "refresh every",
    "mask_below": "ξ",
    "rampup": "ramp-up",
}


def _setting(s: dict) -> str:
    return ", ".join(f"{NAMES[k]} {v:g}" for k, v in s.items())


def test_chapter_6_quotes_the_record():
    """Chapter 6's table of the tuning (section 4) is the record's, row by row: the space, the
    choice, its mean ± std and the runner-up's mean."""
    chapter = "\n".join(source(c) for c in load(ROOT / "book" / "06_drift.ipynb")["cells"])
    for m, r in RECORD["methods"].items():
        acc = np.array(r["accuracy"])
        best, second = np.argsort(-acc.mean(1))[:2]
        space = "; ".join(
            f"{NAMES[k]} " + "/".join(f"{v:g}" for v in sorted({s[k] for s in r["settings"]}))
            for k in r["settings"][0]
        )
        row = (
            f"| `{m}` | {space} | {_setting(r['settings'][best])} | {acc[best].mean():.2f} ± "
            f"{acc[best].std(ddof=1):.2f} | {acc[second].mean():.2f} |"
        )
        assert row in chapter, f"chapter 6's tuning table lacks or misquotes: {row}"
    small = RECORD["small"]["mean_teacher"]  # the small labeled validation set's choice
    assert (
        f"$\\alpha = {small['best']['alpha']:g}$, $\\lambda = {small['best']['lam']:g}$" in chapter
    )
    assert f"{small['its_full_validation_accuracy']:.2f}%" in chapter
    # "DRIFT the same setting"
    assert RECORD["small"]["drift"]["best"] == RECORD["methods"]["drift"]["best"]
