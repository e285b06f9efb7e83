"""The records chapters 6 and 10 read follow the plans their scripts state.

benchmarks/record_confirm.py (chapter 10's confirmation run: alpha tuned on validation, then
fresh test seeds) and benchmarks/record_presets.py (chapter 6's main table: every preset at its
tuned setting, fresh seeds): a record that broke its plan, or seeds reused from tuning, fails here.
"""

import numpy as np

import drift
from drift.experiments.baselines import REFERENCES

ALPHAS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def _seeds(results) -> set[int]:
    return {h.seed for runs in results.histories.values() for h in runs}


def test_the_confirmation_chose_alpha_on_validation_and_tested_on_fresh_seeds():
    tuning, test = (
        drift.load_record("confirm_tuning").results,
        drift.load_record("confirm_test").results,
    )
    assert tuning.methods == [f"{m} alpha={a:g}" for m in ("mean_teacher", "drift") for a in ALPHAS]
    assert _seeds(tuning) == set(range(5)) and _seeds(test) == set(range(200, 220))
    assert test.methods == ["mean_teacher", "drift"]
    chosen = {
        m: max(ALPHAS, key=lambda a: tuning.final(f"{m} alpha={a:g}").mean()) for m in test.methods
    }
    setting = drift.load_record("confirm_test").setting
    assert (
        f"mean teacher (alpha = {chosen['mean_teacher']:g}) and DRIFT (alpha = {chosen['drift']:g})"
        in setting
    )
    for m in test.methods:
        assert all(len(h.step) == 1000 // 50 for h in test.histories[m])  # evaluated every 50 steps
        assert all(h.step[-1] == 1000 for h in test.histories[m])


def test_the_presets_table_runs_every_preset_on_fresh_seeds():
    record = drift.load_record("presets_digits")
    results = record.results
    assert results.methods == [
        "supervised",
        "alternating",
        "mean_teacher",
        "mean_teacher_original",
        "fixmatch",
        "entropy_min",
        "drift",
    ]
    # tuning used seeds 0-4, the confirmation 200-219
    assert _seeds(results) == set(range(300, 320))
    assert all(h.step[-1] == 1000 for runs in results.histories.values() for h in runs)
    assert set(record.references) == set(REFERENCES.values())
    assert all(np.isfinite(v).all() and len(v) == 20 for v in record.references.values())
    assert all(np.isfinite(results.teacher_final(m)).all() for m in results.methods)
