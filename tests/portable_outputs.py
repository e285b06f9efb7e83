"""nbval, portable to any CPU: outputs of training runs are compared number by number.

nbval compares a re-executed chapter's outputs with the committed ones character by character.
That is right for outputs that are exact on every machine, and wrong for results of float32
training: another CPU (other SIMD kernels, another BLAS) rounds differently, and after a
thousand steps a printed accuracy moves in the first or second decimal. So a cell whose output
holds such results declares, in its metadata (CONTRIBUTING.md, "Portable outputs"),

    "tolerance": {"abs": 1.5, "rel": 0.0, "why": "5-seed means; seed-to-seed std 1-3 points"}

and its outputs must then equal the committed ones in everything but numbers, and every number
x must lie within abs + rel * |x_committed| of the committed one. Widths of padded numbers may
differ. Every other cell is compared exactly, as nbval does. A stale chapter (code changed, not
re-executed) still fails wherever a result moved by more than its tolerance.
"""
from __future__ import annotations

import copy
import re

import nbval.plugin

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TEXT_KEYS = ("text/plain", "text/html", "text/markdown")


def check_tolerance(tolerance) -> tuple[float, float]:
    """(abs, rel) of a cell's "tolerance" metadata; ValueError naming the fix if it is malformed."""
    if not isinstance(tolerance, dict) or not set(tolerance) <= {"abs", "rel", "why"} or not tolerance.get("why"):
        raise ValueError(
            f'cell metadata "tolerance" must be a dict with "abs" and/or "rel" (numbers >= 0) and "why" '
            f"(where the size comes from); got {tolerance!r}"
        )
    abs_tol, rel_tol = float(tolerance.get("abs", 0.0)), float(tolerance.get("rel", 0.0))
    if abs_tol < 0 or rel_tol < 0:
        raise ValueError(f'tolerance "abs" and "rel" must be >= 0; got {tolerance!r}')
    return abs_tol, rel_tol


def same_text(a: str, b: str) -> bool:
    """True when `a` and `b` have the same numbers of numbers and the same text around them, up
    to whitespace (padded numbers may change width)."""
    parts_a, parts_b = NUMBER.split(a), NUMBER.split(b)
    return len(parts_a) == len(parts_b) and all(" ".join(x.split()) == " ".join(y.split()) for x, y in zip(parts_a, parts_b))


def align(committed: str, computed: str, abs_tol: float, rel_tol: float) -> str:
    """`computed` as nbval should see it: `committed` itself when both have the same text around
    their numbers (up to whitespace) and every number is within tolerance; otherwise `computed`
    with the numbers that are within tolerance replaced by the committed ones, so that nbval's
    exact comparison fails and its diff shows only what moved too far."""
    old_numbers, new_numbers = NUMBER.findall(committed), NUMBER.findall(computed)
    if len(old_numbers) != len(new_numbers):
        return computed
    close = [abs(float(a) - float(b)) <= abs_tol + rel_tol * abs(float(a)) for a, b in zip(old_numbers, new_numbers)]
    if same_text(committed, computed) and all(close):
        return committed
    numbers = [a if ok else b for a, b, ok in zip(old_numbers, new_numbers, close)]
    return "".join(t + n for t, n in zip(NUMBER.split(computed), numbers + [""]))


def texts(output) -> list[tuple[tuple, str]]:
    """(key, text) pairs of an output that nbval compares as text."""
    if output.get("output_type") == "stream":
        return [(("stream", output["name"]), output["text"])]
    return [(("data", k), v) for k, v in output.get("data", {}).items() if k in TEXT_KEYS]


def align_outputs(computed: list, committed: list, abs_tol: float, rel_tol: float) -> list:
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
                new = align(references[key][i], text, abs_tol, rel_tol)
                if key[0] == "stream":
                    output["text"] = new
                else:
                    output["data"][key[1]] = new
        aligned.append(output)
    return aligned


def _compare_outputs(self, test, ref, skip_compare=None):
    tolerance = self.cell.metadata.get("tolerance")
    if tolerance is not None:
        test = align_outputs(test, ref, *check_tolerance(tolerance))
    return _compare_exactly(self, test, ref, skip_compare)


# nbval has no hook for this: wrap its comparison once, however often this module is imported.
_cell = nbval.plugin.IPyNbCell
_compare_exactly = _cell.__dict__.get("_compare_exactly", _cell.compare_outputs)
_cell._compare_exactly = _compare_exactly
_cell.compare_outputs = _compare_outputs
