"""The book's tolerant output comparison (tests/portable_outputs.py) passes what float rounding
moves and fails what a stale chapter moves."""
import os
import sys

import nbformat
import pytest

from book_files import ROOT
from portable_outputs import align, align_outputs, check_tolerance
from processes import run

TABLE = "| drift | 87.96 ± 1.51 | +0.67 ± 1.56 | 3/5 |"


def test_numbers_within_tolerance_compare_equal():
    moved = "| drift | 87.41 ± 1.73 | +0.12 ± 1.44 | 2/5 |"
    assert align(TABLE, moved, 1.5, 0.0) == TABLE


def test_a_number_beyond_tolerance_fails_and_only_it_is_reported():
    stale = "| drift | 84.10 ± 1.73 | +0.12 ± 1.44 | 2/5 |"
    aligned = align(TABLE, stale, 1.5, 0.0)
    assert aligned != TABLE
    assert aligned == "| drift | 84.10 ± 1.51 | +0.67 ± 1.56 | 3/5 |"


def test_relative_tolerance_scales_with_the_committed_number():
    assert align("flip 0.020, acc 90.0", "flip 0.0205, acc 91.5", 0.0, 0.05) == "flip 0.020, acc 90.0"
    assert align("flip 0.020", "flip 0.030", 0.0, 0.05) != "flip 0.020"


def test_text_around_numbers_must_match_up_to_whitespace():
    assert align("K =   5: 0.57 pp", "K =   5: 0.61 pp", 0.1, 0.0) == "K =   5: 0.57 pp"
    assert align("acc  98.7%", "acc 100.0%", 2.0, 0.0) == "acc  98.7%"  # padding follows the width
    assert align("drift beats mean teacher: 0.5", "drift ties mean teacher: 0.5", 1.0, 0.0) != "drift beats mean teacher: 0.5"
    assert align("[1.0, 2.0]", "[1.0, 2.0, 3.0]", 1.0, 0.0) == "[1.0, 2.0, 3.0]"


def test_outputs_are_paired_by_kind_and_position():
    committed = [
        nbformat.v4.new_output("stream", name="stdout", text="acc 90.1\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "Δ +0.5", "image/png": "abc"}),
    ]
    computed = [
        nbformat.v4.new_output("stream", name="stdout", text="acc 90.4\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "Δ +0.2", "image/png": "xyz"}),
    ]
    aligned = align_outputs(computed, committed, 0.5, 0.0)
    assert aligned[0]["text"] == "acc 90.1\n" and aligned[1]["data"]["text/plain"] == "Δ +0.5"
    assert aligned[1]["data"]["image/png"] == "xyz"  # not text: left as computed
    assert computed[0]["text"] == "acc 90.4\n"  # the computed outputs themselves are untouched


@pytest.mark.parametrize("bad", [{"abs": 1.0}, {"abs": -1, "why": "x"}, {"atol": 1, "why": "x"}, 2.0])
def test_a_malformed_tolerance_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match="tolerance"):
        check_tolerance(bad)


def _notebook(path, committed: str, tolerance):
    cell = nbformat.v4.new_code_cell("print(round(2 / 3, 2))", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=committed)]
    if tolerance is not None:
        cell.metadata["tolerance"] = tolerance
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


@pytest.mark.parametrize("committed, tolerance, passes", [
    ("0.67\n", None, True),
    ("0.69\n", None, False),  # exact by default
    ("0.69\n", {"abs": 0.05, "why": "test"}, True),
    ("0.79\n", {"abs": 0.05, "why": "test"}, False),  # a stale output still fails
])
def test_nbval_applies_the_cells_tolerance(tmp_path, committed, tolerance, passes):
    """End to end: `pytest --nbval` with this plugin, on a one-cell notebook that prints 0.67."""
    nb = _notebook(tmp_path / "nb.ipynb", committed, tolerance)
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.portable_outputs",
         "--rootdir", str(tmp_path), "--nbval", "--nbval-current-env", str(nb)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, name="pytest --nbval on a one-cell notebook",
        timeout=120,  # a kernel's start and one cell: about 5 s
    )
    assert (result.returncode == 0) == passes, result.stdout[-2000:]
