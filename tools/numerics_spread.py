"""How far a chapter's printed numbers move under other numeric settings, and whether the
book's tier-2 comparison passes them (CONTRIBUTING.md, rule 8; tests/numerics.py).

    python tools/numerics_spread.py book/02_instability.ipynb [--settings native sse] [--env
    VAR=value ...]
        [--keep DIR] [--json FILE]

Executes the chapter as it stands under each setting (in parallel, one process each; --env adds
variables to every setting, e.g. MKL_CBWR=COMPATIBLE), then compares every code cell's text
outputs with the committed ones as nbval does in tier 2: for each cell whose numbers moved it
prints the largest change, the tolerance the cell declares and whether the comparison passes.
Errors (a claim that fails under a setting) are printed too. --json writes every moved number
(cell, setting, committed, computed, p-value or not). Exit status 1 if an error occurred or a
comparison fails.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbval.plugin import coalesce_streams

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import numerics  # noqa: E402
from portable_outputs import NUMBER, align, cell_tolerance, p_value_positions, same_text, texts  # noqa: E402


def execute(notebook: Path, name: str, extra: dict[str, str], out_dir: Path) -> Path:
    """Run `notebook` under setting `name` (plus `extra`) into out_dir/name/, errors allowed."""
    target = out_dir / name
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--allow-errors",
            "--ExecutePreprocessor.timeout=300",
            "--output-dir",
            str(target),
            str(notebook),
        ],
        env={**numerics.environment(name), **extra},
        check=True,
        capture_output=True,
        cwd=notebook.parent,
    )
    return target / notebook.name


def moves(committed, computed, tolerance) -> tuple[list[dict], bool]:
    """(every number that moved, whether the tier-2 comparison passes) for one cell."""
    found, passes = [], True
    # as nbval pairs them; coalesce_streams merges in place, so on copies (the committed
    # notebook is compared again under the next setting)
    old = [
        t for o in coalesce_streams(copy.deepcopy(committed.get("outputs", []))) for t in texts(o)
    ]
    new = [
        t for o in coalesce_streams(copy.deepcopy(computed.get("outputs", []))) for t in texts(o)
    ]
    passes = len(old) == len(new)
    for (key_a, a), (key_b, b) in zip(old, new):
        if a == b:
            continue
        passes &= key_a == key_b and align(a, b, tolerance) == a
        if key_a != key_b or not same_text(a, b):
            found.append({"committed": a[:160], "computed": b[:160], "text": True})
            continue
        p_values = p_value_positions(a)
        found += [
            {"committed": x, "computed": y, "change": abs(float(x) - float(y)), "p": i in p_values}
            for i, (x, y) in enumerate(zip(NUMBER.findall(a), NUMBER.findall(b)))
            if x != y
        ]
    return found, passes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebook", type=Path)
    p.add_argument(
        "--settings", nargs="+", default=sorted(numerics.OTHER), help="names from tests/numerics.py"
    )
    p.add_argument("--env", nargs="*", default=[], help="VAR=value added to every setting")
    p.add_argument(
        "--keep", type=Path, help="keep the executed copies here (default: a temporary folder)"
    )
    p.add_argument("--json", type=Path, help="write every moved number here")
    args = p.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    notebook = args.notebook.resolve()
    committed = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        with ThreadPoolExecutor(len(args.settings)) as pool:
            paths = dict(
                zip(
                    args.settings,
                    pool.map(lambda s: execute(notebook, s, extra, out_dir), args.settings),
                )
            )
        runs = {s: nbformat.read(path, as_version=4) for s, path in paths.items()}
    bad, record = False, []
    for i, cell in enumerate(committed.cells):
        if cell.cell_type != "code":
            continue
        tolerance = cell_tolerance(cell.metadata, 2)
        for name, nb in runs.items():
            for o in nb.cells[i].get("outputs", []):
                if o.output_type == "error":
                    bad = True
                    print(f"cell {i} [{name}]: {o.ename}: {o.evalue}")
            if "nbval-ignore-output" in cell.metadata.get("tags", []):
                continue
            moved, passes = moves(cell, nb.cells[i], tolerance)
            if not moved and passes:
                continue
            bad |= not passes
            record += [{"notebook": notebook.name, "cell": i, "setting": name, **m} for m in moved]
            numbers = [m for m in moved if not m.get("text") and not m["p"]]
            worst = max(numbers, key=lambda m: m["change"], default=None)
            p_moves = [f"{m['committed']} -> {m['computed']}" for m in moved if m.get("p")]
            print(
                f"cell {i} [{name}]: {len(moved)} moved"
                + (
                    f", largest {worst['committed']} -> {worst['computed']} (|change| "
                    f"{worst['change']:.3g})"
                    if worst
                    else ""
                )
                + (f", p-values {', '.join(p_moves)}" if p_moves else "")
                + ("; text differs" if any(m.get("text") for m in moved) else "")
                + "; tolerance "
                f"{cell.metadata.get('tolerance', {}).get('abs', '-')}/"
                f"{cell.metadata.get('tolerance', {}).get('rel', '-')}"
                + (" passes" if passes else " FAILS")
            )
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    return int(bad)


if __name__ == "__main__":
    sys.exit(main())
