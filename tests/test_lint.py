"""The package's code (drift, tests, benchmarks, tools) is ruff-formatted to 100 columns and
lint-clean ([tool.ruff] in pyproject.toml); the notebooks keep the book's 88 columns
(book/ruff.toml, checked by tests/test_book.py)."""

import sys

import pytest

from book_files import ROOT
from processes import run

PATHS = ["drift", "tests", "benchmarks", "tools", "conftest.py"]


@pytest.mark.parametrize(
    "command", [["format", "--check", "--diff"], ["check"]], ids=["format", "lint"]
)
def test_code_is_formatted_and_lint_clean(command):
    # it takes about a second
    result = run([sys.executable, "-m", "ruff", *command, *PATHS], cwd=ROOT, timeout=60)
    assert result.returncode == 0, (
        f"`ruff {' '.join(command)} {' '.join(PATHS)}` failed; run `ruff format "
        f"{' '.join(PATHS)}` and fix what `ruff check` reports by hand:\n"
        f"{result.stdout}{result.stderr}"
    )
