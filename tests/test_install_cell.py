"""The chapters' install cell: a no-op outside Colab, and on Colab an install that works.

The fresh-environment test installs the project the way the cell does (pip, from a git URL),
with the repository's committed HEAD standing in for the GitHub URL and torch preinstalled as
on Colab, then runs every chapter's imports there.
"""

import re
import sys
import types
from unittest import mock

import pytest
import torch

from drift.data.text import TEXT_DATASETS

from book_files import INSTALL_CELL, REPOSITORY, ROOT, chapters, load, source
from processes import run


def run_install_cell(on_colab: bool) -> list[list[str]]:
    """Execute the cell with subprocess.run recorded instead of run; return the commands."""
    saved = sys.modules.pop("google.colab", None)
    if on_colab:
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    try:
        with mock.patch("subprocess.run") as run:
            exec(INSTALL_CELL, {})
    finally:
        sys.modules.pop("google.colab", None)
        if saved is not None:
            sys.modules["google.colab"] = saved
    return [call.args[0] for call in run.call_args_list]


def test_install_cell_does_nothing_outside_colab():
    assert run_install_cell(on_colab=False) == []


def test_install_cell_installs_the_repository_on_colab():
    assert run_install_cell(on_colab=True) == [
        [sys.executable, "-m", "pip", "install", "-q", f"drift-book[book] @ git+{REPOSITORY}"]
    ]


def chapter_imports() -> list[str]:
    lines = set()
    for path in chapters():
        for cell in load(path)["cells"]:
            if cell["cell_type"] == "code":
                lines |= {
                    ln for ln in source(cell).splitlines() if re.match(r"(import|from) [\w.]+", ln)
                }
    return sorted(lines)


# pip may download torch here (from PyPI on Linux, a CUDA build: gigabytes); with its wheel on
# local disk the whole test takes about 100 s. Each install gets 15 minutes, and pytest's timeout
# (pyproject.toml) is raised to cover them all, so that a command that hangs is the one named.
PIP_TIMEOUT = 900


@pytest.mark.timeout(60 + 3 * PIP_TIMEOUT + 300 + 60)
def test_fresh_environment_installs_like_the_cell_and_imports_every_chapter(tmp_path):
    if run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], timeout=60).returncode:
        pytest.skip("needs the project as a git repository with a commit (a clone)")
    env_dir = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(env_dir)], name="python -m venv", timeout=60, check=True)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]

    def install(*args):
        run([*pip, *args], name=f"pip install {' '.join(args)}", timeout=PIP_TIMEOUT, check=True)

    # Colab comes with a current pip and with torch: the same release as this environment's.
    install("--upgrade", "pip")
    install(f"torch=={torch.__version__.split('+')[0]}")
    (command,) = run_install_cell(on_colab=True)
    requirement = command[-1].replace(REPOSITORY, f"file://{ROOT}")
    install(requirement)
    imports = chapter_imports()
    assert "import drift" in imports
    records = [
        f"drift.load_record({p.stem!r})"
        for p in sorted((ROOT / "drift" / "recorded").glob("*.json"))
    ]
    assert records, "the package ships the records chapter 6 reads"
    records += [  # and the MiniLM embeddings of the text data sets (drift.data.text)
        f"drift.load_data({name!r}, labels_per_class=1)" for name in TEXT_DATASETS
    ]
    script = "\n".join(
        imports
        + ["import drift.book.widgets", "drift.book.widgets._ipywidgets()", *records, "print('ok')"]
    )
    r = run(
        [python, "-c", script],
        name="the chapters' imports in the fresh environment",
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
