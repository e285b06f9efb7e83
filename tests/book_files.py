"""The book's chapters and settings, as the tests of the book read them."""

from __future__ import annotations

import json
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"].get("branch", "main")


def toc_files() -> list[str]:
    """Every file of _toc.yml, relative to the root and without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]


def chapters() -> list[pathlib.Path]:
    """The chapter notebooks, in book order."""
    return [ROOT / f"{f}.ipynb" for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


def load(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def source(cell: dict) -> str:
    return "".join(cell["source"])


def colab_url(path: pathlib.Path) -> str:
    """The Colab address of a chapter notebook in the repository."""
    owner_repo = REPOSITORY.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{path.relative_to(ROOT).as_posix()}"


INSTALL_CELL = f"""\
# On Colab, install drift from the repository (about a minute); elsewhere this does
# nothing (locally, `make test` or `pip install -e ".[book]"` in a clone installed it).
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "drift-book[book] @ git+{REPOSITORY}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)"""

CHECK_LABEL = "Checks of the claims above"
"""The one-line label of a collapsed cell that asserts the prose's claims (CONTRIBUTING rule 5)."""
