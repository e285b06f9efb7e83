"""nbval under the book's numerics contract (tests/numerics.py, CONTRIBUTING.md rule 8).

nbval compares a re-executed chapter's outputs with the committed ones character by character.
The chapters were executed under a pinned numeric setting, so on a machine that reproduces it
(tier 1) every output is compared exactly: any change is a stale chapter. Elsewhere (tier 2:
another numeric setting, ARM, a GPU) float32 training rounds differently, and after hundreds of
chaotic steps a printed accuracy moves. A cell whose output holds such results declares, in its
metadata,

    "tolerance": {"abs": 1.5, "rel": 0.0, "why": "5-seed means; seed-to-seed std 1-3 points"}

and in tier 2 its outputs must equal the committed ones in everything but numbers, each number
within abs + rel * |committed|, except p-values (a table column headed "p ...", or text
"p = 0.03"), which must keep their order of magnitude (within a factor of 10). In both tiers and
every cell, a printed float also matches when it is within one unit of its last printed digit
(-9.01e-03 against -9.00e-03): a number on a rounding boundary. Widths of padded numbers may
differ.

The tier is chosen once per session (tests/numerics.py, `tier`) and shown in pytest's header;
DRIFT_NBVAL_TIER=1 or 2 forces it (the tests of this module do).
"""

from __future__ import annotations

import copy
import math
import os
import re

import nbval.plugin

try:
    from . import numerics  # loaded as the plugin tests.portable_outputs (conftest.py)
except ImportError:
    import numerics  # imported with tests/ on sys.path (test files, tools/)

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TEXT_KEYS = ("text/plain", "text/html", "text/markdown")
# a table column of p-values: "p", "p (exact)", "p (t-test)", "p-value"
P_HEADER = re.compile(r"^p\b")
P_TEXT = re.compile(r"\bp\s*[=<>≤≥]\s*$")  # text just before a p-value: "p = ", "p<"
TIER = {"tier": 2, "why": "nbval is not running"}  # set by pytest_configure


def check_tolerance(tolerance) -> tuple[float, float]:
    """(abs, rel) of a cell's "tolerance" metadata; ValueError naming the fix if it is malformed."""
    if (
        not isinstance(tolerance, dict)
        or not set(tolerance) <= {"abs", "rel", "why"}
        or not tolerance.get("why")
    ):
        raise ValueError(
            'cell metadata "tolerance" must be a dict with "abs" and/or "rel" (numbers >= 0) '
            f'and "why" (where the size comes from); got {tolerance!r}'
        )
    abs_tol, rel_tol = float(tolerance.get("abs", 0.0)), float(tolerance.get("rel", 0.0))
    if abs_tol < 0 or rel_tol < 0:
        raise ValueError(f'tolerance "abs" and "rel" must be >= 0; got {tolerance!r}')
    return abs_tol, rel_tol


def last_digit(number: str) -> float:
    """The unit of a printed float's last digit ("87.15" -> 0.01, "-9.01e-03" -> 1e-05); 0 for
    an integer, which has no rounding to forgive."""
    mantissa, _, exponent = number.lower().partition("e")
    if "." not in mantissa and not exponent:
        return 0.0
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def same_magnitude(a: float, b: float) -> bool:
    """p-values a and b within a factor of 10 of each other (both floored at 1e-6)."""
    return abs(math.log10(max(a, 1e-6)) - math.log10(max(b, 1e-6))) <= 1.0


def p_value_positions(text: str) -> set[int]:
    """Indices (in NUMBER.findall(text) order) of the numbers that are p-values: those in a
    markdown table column whose header starts with "p", and those printed after "p =" or "p <"."""
    found, index, p_columns = set(), 0, set()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        cells = line.split("|")
        is_row = line.lstrip().startswith("|")
        if is_row and i + 1 < len(lines) and re.match(r"^\s*\|[\s:|-]*-[\s:|-]*$", lines[i + 1]):
            p_columns = {j for j, cell in enumerate(cells) if P_HEADER.match(cell.strip())}
        elif not is_row:
            p_columns = set()
        for j, cell in enumerate(cells if is_row else [line]):
            for match in NUMBER.finditer(cell):
                if (is_row and j in p_columns) or P_TEXT.search(cell[: match.start()]):
                    found.add(index)
                index += 1
    return found


def same_text(a: str, b: str) -> bool:
    """True when `a` and `b` have the same numbers of numbers and the same text around them, up
    to whitespace (padded numbers may change width)."""
    parts_a, parts_b = NUMBER.split(a), NUMBER.split(b)
    return len(parts_a) == len(parts_b) and all(
        " ".join(x.split()) == " ".join(y.split()) for x, y in zip(parts_a, parts_b)
    )


def close(
    committed: str, computed: str, tolerance: tuple[float, float] | None, p_value: bool
) -> bool:
    """Whether one printed number matches the committed one: within one unit of its last digit
    always; with a tolerance (tier 2, a training result), within abs + rel * |committed|, or for
    a p-value within a factor of 10."""
    a, b = float(committed), float(computed)
    if abs(a - b) <= last_digit(committed) * (1 + 1e-9):
        return True
    if tolerance is None:
        return False
    if p_value:
        return same_magnitude(a, b)
    abs_tol, rel_tol = tolerance
    return abs(a - b) <= abs_tol + rel_tol * abs(a)


def align(committed: str, computed: str, tolerance: tuple[float, float] | None = None) -> str:
    """`computed` as nbval should see it: `committed` itself when both have the same text around
    their numbers (up to whitespace) and every number is close (see `close`); otherwise
    `computed` with the close numbers replaced by the committed ones, so that nbval's exact
    comparison fails and its diff shows only what moved too far."""
    old_numbers, new_numbers = NUMBER.findall(committed), NUMBER.findall(computed)
    if len(old_numbers) != len(new_numbers):
        return computed
    p_values = p_value_positions(committed) if tolerance is not None else set()
    ok = [
        close(a, b, tolerance, i in p_values)
        for i, (a, b) in enumerate(zip(old_numbers, new_numbers))
    ]
    if same_text(committed, computed) and all(ok):
        return committed
    numbers = [a if fine else b for a, b, fine in zip(old_numbers, new_numbers, ok)]
    return "".join(t + n for t, n in zip(NUMBER.split(computed), numbers + [""]))


def texts(output) -> list[tuple[tuple, str]]:
    """(key, text) pairs of an output that nbval compares as text."""
    if output.get("output_type") == "stream":
        return [(("stream", output["name"]), output["text"])]
    return [(("data", k), v) for k, v in output.get("data", {}).items() if k in TEXT_KEYS]


def align_outputs(
    computed: list, committed: list, tolerance: tuple[float, float] | None = None
) -> list:
    """Copies of the computed outputs with each text aligned to the committed text of the same
    kind at the same position (nbval pairs outputs that way too)."""
    references: dict[tuple, list[str]] = {}
    for output in committed:
        for key, text in texts(output):
            references.setdefault(key, []).append(text)
    seen: dict[tuple, int] = {}
    aligned = []
    for output in computed:
        output = copy.deepcopy(output)
        for key, text in texts(output):
            i = seen[key] = seen.get(key, -1) + 1
            if i < len(references.get(key, [])):
                new = align(references[key][i], text, tolerance)
                if key[0] == "stream":
                    output["text"] = new
                else:
                    output["data"][key[1]] = new
        aligned.append(output)
    return aligned


def cell_tolerance(metadata, tier: int) -> tuple[float, float] | None:
    """The (abs, rel) a cell's numbers are compared with in `tier`: its declared tolerance in
    tier 2, none (exact up to the last digit) in tier 1 or for a cell that declares none."""
    tolerance = metadata.get("tolerance")
    if tolerance is None:
        return None
    checked = check_tolerance(tolerance)  # malformed metadata fails in both tiers
    return checked if tier == 2 else None


def _compare_outputs(self, test, ref, skip_compare=None):
    test = align_outputs(test, ref, cell_tolerance(self.cell.metadata, TIER["tier"]))
    return _compare_exactly(self, test, ref, skip_compare)


def pytest_configure(config):
    if not (config.getoption("nbval", False) or config.getoption("nbval_lax", False)):
        return
    forced = os.environ.get("DRIFT_NBVAL_TIER")
    if forced is not None:
        if forced not in ("1", "2"):
            raise ValueError(f"DRIFT_NBVAL_TIER must be 1 or 2; got {forced!r}")
        TIER.update(tier=int(forced), why="forced by DRIFT_NBVAL_TIER")
    else:
        tier, why = numerics.tier()
        TIER.update(tier=tier, why=why)


def pytest_report_header(config):
    if config.getoption("nbval", False) or config.getoption("nbval_lax", False):
        kind = "exact" if TIER["tier"] == 1 else "training results within their cells' tolerances"
        return f"numerics: tier {TIER['tier']} ({kind}): {TIER['why']}"


# nbval has no hook for this: wrap its comparison once, by the first import of this module (the
# plugin's), whose TIER the wrapper reads; test files that import it again leave it alone.
_cell = nbval.plugin.IPyNbCell
if "_compare_exactly" not in _cell.__dict__:
    _compare_exactly = _cell.compare_outputs
    _cell._compare_exactly = _compare_exactly
    _cell.compare_outputs = _compare_outputs
else:
    _compare_exactly = _cell._compare_exactly
