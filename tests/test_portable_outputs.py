"""The book's tolerant output comparison (tests/portable_outputs.py) passes what float rounding
moves and fails what a stale chapter moves."""

import os
import sys

import nbformat
import pytest

from book_files import ROOT
from portable_outputs import (
    NUMBER,
    align,
    align_outputs,
    cell_tolerance,
    check_tolerance,
    last_digit,
    p_value_positions,
    same_magnitude,
)
from processes import run

TABLE = "| drift | 87.96 ± 1.51 | +0.67 ± 1.56 | 3/5 |"


def test_numbers_within_tolerance_compare_equal():
    moved = "| drift | 87.41 ± 1.73 | +0.12 ± 1.44 | 2/5 |"
    assert align(TABLE, moved, (1.5, 0.0)) == TABLE


def test_a_number_beyond_tolerance_fails_and_only_it_is_reported():
    stale = "| drift | 84.10 ± 1.73 | +0.12 ± 1.44 | 2/5 |"
    aligned = align(TABLE, stale, (1.5, 0.0))
    assert aligned != TABLE
    assert aligned == "| drift | 84.10 ± 1.51 | +0.67 ± 1.56 | 3/5 |"


def test_relative_tolerance_scales_with_the_committed_number():
    assert (
        align("flip 0.020, acc 90.0", "flip 0.0205, acc 91.5", (0.0, 0.05))
        == "flip 0.020, acc 90.0"
    )
    assert align("flip 0.020", "flip 0.030", (0.0, 0.05)) != "flip 0.020"


def test_text_around_numbers_must_match_up_to_whitespace():
    assert align("K =   5: 0.57 pp", "K =   5: 0.61 pp", (0.1, 0.0)) == "K =   5: 0.57 pp"
    # padding follows the width
    assert align("acc  98.7%", "acc 100.0%", (2.0, 0.0)) == "acc  98.7%"
    assert (
        align("drift beats mean teacher: 0.5", "drift ties mean teacher: 0.5", (1.0, 0.0))
        != "drift beats mean teacher: 0.5"
    )
    assert align("[1.0, 2.0]", "[1.0, 2.0, 3.0]", (1.0, 0.0)) == "[1.0, 2.0, 3.0]"


def test_outputs_are_paired_by_kind_and_position():
    committed = [
        nbformat.v4.new_output("stream", name="stdout", text="acc 90.1\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "Δ +0.5", "image/png": "abc"}),
    ]
    computed = [
        nbformat.v4.new_output("stream", name="stdout", text="acc 90.4\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "Δ +0.2", "image/png": "xyz"}),
    ]
    aligned = align_outputs(computed, committed, (0.5, 0.0))
    assert aligned[0]["text"] == "acc 90.1\n" and aligned[1]["data"]["text/plain"] == "Δ +0.5"
    assert aligned[1]["data"]["image/png"] == "xyz"  # not text: left as computed
    assert computed[0]["text"] == "acc 90.4\n"  # the computed outputs themselves are untouched


@pytest.mark.parametrize(
    "bad", [{"abs": 1.0}, {"abs": -1, "why": "x"}, {"atol": 1, "why": "x"}, 2.0]
)
def test_a_malformed_tolerance_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match="tolerance"):
        check_tolerance(bad)


def test_a_float_within_one_unit_of_its_last_digit_matches_in_every_cell():
    """A number on a rounding boundary (chapter 5 printed -9.01e-03 as -9.00e-03 on another
    CPU) needs no declared tolerance; two units, or an integer, still fail."""
    assert align("d(mean w) -9.01e-03", "d(mean w) -9.00e-03") == "d(mean w) -9.01e-03"
    assert align("acc 87.15", "acc 87.16") == "acc 87.15"
    assert align("acc 87.15", "acc 87.17") != "acc 87.15"
    assert align("-9.01e-03", "-8.99e-03") != "-9.01e-03"
    assert align("5/5 seeds", "4/5 seeds") != "5/5 seeds"
    assert [last_digit(x) for x in ("87.15", "-9.01e-03", "1e-5", "0.0031", "12")] == pytest.approx(
        [0.01, 1e-5, 1e-5, 1e-4, 0.0]
    )


P_TABLE = """| method | Δ vs mean_teacher [95% t-CI] | p (t-test) | seeds Δ > 0 |
|---|---|---|---|
| drift_cosine | -0.30 [-0.87, +0.28] | 0.23 | 1/5 |
| drift | +1.78 [1.00, 2.55] | 0.0031 | 5/5 |"""


def test_p_values_are_found_in_table_columns_and_text():
    text = P_TABLE + "\nexact sign-flip test: p = 0.0625, and 3 of 5 seeds"
    numbers = NUMBER.findall(text)
    assert [numbers[i] for i in sorted(p_value_positions(text))] == ["0.23", "0.0031", "0.0625"]


def test_in_tier_2_a_p_value_keeps_its_order_of_magnitude_not_its_digits():
    """The avx2 kernel moved chapter 6's COSINE row from p 0.23 to 0.075: the same order of
    magnitude, while the cell's abs tolerance (for points of accuracy) would not cover it."""
    moved = P_TABLE.replace("0.23", "0.075").replace("+0.28]", "+0.06]")
    assert align(P_TABLE, moved, (0.5, 0.0)) == P_TABLE
    # a factor 10.7
    assert align(P_TABLE, P_TABLE.replace("0.0031", "0.00029"), (0.5, 0.0)) != P_TABLE
    assert align(P_TABLE, moved) != P_TABLE  # tier 1 (no tolerance): exact up to the last digit
    assert same_magnitude(0.23, 0.075) and not same_magnitude(0.5, 0.04)


@pytest.mark.parametrize("tier, tolerance", [(1, None), (2, (0.5, 0.0))])
def test_a_cells_tolerance_applies_in_tier_2_only(tier, tolerance):
    metadata = {"tolerance": {"abs": 0.5, "why": "test"}}
    assert cell_tolerance(metadata, tier) == tolerance
    assert cell_tolerance({}, tier) is None
    with pytest.raises(ValueError, match="tolerance"):
        cell_tolerance({"tolerance": {"abs": 0.5}}, tier)  # malformed metadata fails in both tiers


def _notebook(path, committed: str, tolerance):
    cell = nbformat.v4.new_code_cell("print(round(2 / 3, 2))", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=committed)]
    if tolerance is not None:
        cell.metadata["tolerance"] = tolerance
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


@pytest.mark.parametrize(
    "tier, committed, tolerance, passes",
    [
        ("1", "0.67\n", None, True),
        ("2", "0.67\n", None, True),
        ("1", "0.68\n", None, True),  # one unit of the last digit, in either tier
        ("1", "0.69\n", None, False),  # otherwise exact
        ("2", "0.69\n", None, False),
        ("1", "0.69\n", {"abs": 0.05, "why": "test"}, False),  # tier 1 ignores tolerances
        ("2", "0.69\n", {"abs": 0.05, "why": "test"}, True),
        ("2", "0.79\n", {"abs": 0.05, "why": "test"}, False),  # a stale output still fails
    ],
)
def test_nbval_applies_the_cells_tolerance_in_tier_2(tmp_path, tier, committed, tolerance, passes):
    """End to end: `pytest --nbval` with this plugin, on a one-cell notebook that prints 0.67."""
    nb = _notebook(tmp_path / "nb.ipynb", committed, tolerance)
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.portable_outputs",
            "--rootdir",
            str(tmp_path),
            "--nbval",
            "--nbval-current-env",
            str(nb),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DRIFT_NBVAL_TIER": tier},
        name="pytest --nbval on a one-cell notebook",
        timeout=120,  # a kernel's start and one cell: about 5 s
    )
    assert f"numerics: tier {tier}" in result.stdout
    assert (result.returncode == 0) == passes, result.stdout[-2000:]
