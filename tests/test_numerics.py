"""The numerics contract (tests/numerics.py, CONTRIBUTING.md rule 8): the settings, the choice of
tier, and a stale chapter failing in both tiers."""

import json
import os
import shutil
import sys

import pytest
import torch

import numerics
from book_files import ROOT
from processes import run


def test_settings_and_the_environments_they_make(monkeypatch):
    # a reader's own setting does not leak into any of them
    monkeypatch.setenv("MKL_CBWR", "AVX512")
    pinned = numerics.environment("pinned")
    assert numerics.is_pinned(pinned) and pinned["MKL_CBWR"] == "AVX2,STRICT"
    for name in numerics.OTHER:
        env = numerics.environment(name)
        assert not numerics.is_pinned(env) and env.get("MKL_CBWR") != "AVX512"
        assert env["OMP_NUM_THREADS"] == "1"
    # together the other settings move every library off the pin
    for key in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA"):
        assert any(
            numerics.environment(n).get(key) != numerics.PINNED[key] for n in numerics.OTHER
        ), key
    assert numerics.env_arguments("sse").startswith(
        "-u MKL_ENABLE_INSTRUCTIONS -u MKL_NUM_THREADS "
    )
    with pytest.raises(
        ValueError, match="unknown numeric setting 'avx9'; choose 'pinned' or one of"
    ):
        numerics.setting("avx9")


def test_tier_1_needs_the_pin_and_the_recorded_bits(monkeypatch):
    for key in numerics.PINNED:
        monkeypatch.delenv(key, raising=False)
    assert numerics.tier() == (2, "the environment is not the pinned one (make test sets it)")
    for key, value in numerics.PINNED.items():
        monkeypatch.setenv(key, value)
    recorded = json.loads(numerics.FINGERPRINT.read_text())
    monkeypatch.setattr(numerics, "fingerprint", lambda: {**recorded, "cnn1d": "0" * 16})
    tier, why = numerics.tier()
    assert (
        tier == 2 and "the pin does not reproduce the recorded bits here (differing: cnn1d;" in why
    )
    monkeypatch.setattr(numerics, "fingerprint", lambda: dict(recorded))
    assert numerics.tier()[0] == (2 if torch.cuda.is_available() else 1)


def test_the_recorded_fingerprint_is_of_the_locked_torch():
    """`make lock` moving torch without `make execute` would leave the chapters' bits unrecorded."""
    recorded = json.loads(numerics.FINGERPRINT.read_text())
    locked = next(
        line.split("==")[1]
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.startswith("torch==")
    )
    assert recorded["torch"].split("+")[0] == locked
    assert set(recorded) == {
        "torch",
        "machine",
        "aten",
        "mlp",
        "cnn1d",
        "cnn2d",
        "transformer",
        "vmap",
    }


DEFAULT = "    lr: float = 1e-3\n"  # drift.TrainConfig's field, drift.train's default


def stale_package(directory):
    """A copy of the package in `directory` with one default changed, as a package change that the
    chapters were not re-executed for: Adam's default step size, 1e-3 -> 1e-4."""
    shutil.copytree(ROOT / "drift", directory / "drift")
    config = directory / "drift" / "training" / "config.py"
    source = config.read_text()
    assert source.count(DEFAULT) == 1, "drift.train's lr default moved: update DEFAULT"
    config.write_text(source.replace(DEFAULT, DEFAULT.replace("1e-3", "1e-4")))
    return directory


@pytest.mark.parametrize("setting, tier", [("pinned", "1"), ("native", "2")])
def test_a_stale_chapter_fails_in_both_tiers(tmp_path, setting, tier):
    """Chapter 3 under a changed default of `drift.train`, not re-executed: nbval stops at the
    first training result that moved (the warm-up's test accuracy), by more than its tolerance in
    tier 2. The kernel imports the stale copy of the package: PYTHONPATH comes first."""
    env = {
        **numerics.environment(setting),
        "DRIFT_NBVAL_TIER": tier,
        "PYTHONPATH": os.pathsep.join([str(stale_package(tmp_path)), str(ROOT)]),
    }
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            "book/nbval.cfg",
            "book/03_stackelberg.ipynb",
        ],
        cwd=ROOT,
        env=env,
        name=f"nbval on a stale chapter 3 ({setting})",
        timeout=300,
    )
    assert f"numerics: tier {tier}" in result.stdout
    assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout[-3000:]
    # a moved output, not an error
    assert "Cell outputs differ" in result.stdout, result.stdout[-3000:]
    # that cell's number
    assert 'warm-up steps: "' in result.stdout and "mismatch 'stdout'" in result.stdout
    # not the output's format
    assert "Missing output fields" not in result.stdout, result.stdout[-3000:]
