"""Smoke tests of `python -m drift` in a subprocess, as a user runs it."""

import json
import os
import sys

import pytest

from processes import run

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
# A command takes 2-10 s (2 cores); a test runs at most two, well within pytest's 600 s.
TIMEOUT = 120


def run_cli(*args, cwd=None):
    return run(
        [sys.executable, "-m", "drift", *args],
        name=f"`python -m drift {' '.join(args)}`",
        timeout=TIMEOUT,
        env=ENV,
        cwd=cwd,
    )


def test_compare_prints_table_and_writes_json_and_png(tmp_path):
    out = tmp_path / "out"
    r = run_cli(
        "compare",
        "--data",
        "two_moons",
        "--labels-per-class",
        "5",
        "--seeds",
        "2",
        "--methods",
        "mean_teacher",
        "drift",
        "--steps",
        "20",
        "--workers",
        "1",
        "--references",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert (
        "| mean_teacher |" in r.stdout
        and "| drift |" in r.stdout
        and "Δ vs mean_teacher" in r.stdout
    )
    assert "| sklearn LabelSpreading |" in r.stdout and "| sklearn SelfTraining (LR) |" in r.stdout
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["histories"]) == {"mean_teacher", "drift"}
    assert [h["seed"] for h in saved["histories"]["drift"]] == [0, 1]
    assert all(h["step"][-1] == 20 for h in saved["histories"]["drift"])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_engines_agree(tmp_path):
    finals = {}
    for engine in ("vmap", "processes"):
        r = run_cli(
            "compare",
            "--data",
            "two_moons",
            "--seeds",
            "2",
            "--methods",
            "drift",
            "--steps",
            "20",
            "--engine",
            engine,
            "--workers",
            "1",
            "--out",
            str(tmp_path / engine),
        )
        assert r.returncode == 0, r.stderr
        assert "cannot batch" not in r.stderr
        saved = json.loads((tmp_path / engine / "results.json").read_text())
        finals[engine] = [h["test_accuracy"][-1] for h in saved["histories"]["drift"]]
    assert finals["vmap"] == pytest.approx(finals["processes"], abs=0.5)


def test_train_prints_final_accuracy():
    r = run_cli(
        "train",
        "--data",
        "two_moons",
        "--labels-per-class",
        "5",
        "--method",
        "drift",
        "--steps",
        "20",
    )
    assert r.returncode == 0, r.stderr
    assert "final test accuracy" in r.stdout


@pytest.mark.parametrize(
    "method", ["entropy_min", "cosine", "drift_cosine", "mean_teacher_original", "fixmatch"]
)
def test_train_accepts_the_extra_presets(method):
    r = run_cli(
        "train",
        "--data",
        "two_moons",
        "--labels-per-class",
        "5",
        "--method",
        method,
        "--steps",
        "10",
    )
    assert r.returncode == 0, r.stderr
    assert f"{method} on two_moons" in r.stdout and "final test accuracy" in r.stdout


def test_compare_accepts_an_extra_preset(tmp_path):
    r = run_cli(
        "compare",
        "--data",
        "two_moons",
        "--seeds",
        "1",
        "--methods",
        "mean_teacher",
        "drift_cosine",
        "--steps",
        "10",
        "--workers",
        "1",
        "--out",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "| drift_cosine |" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("train", "--labels-per-class", "0"), "labels_per_class must be an integer >= 1"),
        (("train", "--method", "nope"), "invalid choice: 'nope'"),
        (("compare", "--data", "cifar"), "invalid choice: 'cifar'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message):
    r = run_cli(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
