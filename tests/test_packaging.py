"""environment.yml is the conda twin of pyproject.toml: the same Python and the same packages."""
import pathlib
import sys

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"python{project['requires-python']}" in conda
    assert "pip" in conda
    expected = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert sorted(p for p in pip if p != "-e .") == sorted(expected)
    assert "-e ." in pip


def test_torch_is_never_capped_above():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = next(d for d in deps if d.startswith("torch"))
    assert "<" not in torch and "==" not in torch, torch
