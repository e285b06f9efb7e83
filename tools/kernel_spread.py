"""How far a chapter's printed numbers move under other CPUs' kernels: the measurement behind
each cell's "tolerance" (CONTRIBUTING.md, rule 8).

    python tools/kernel_spread.py book/02_instability.ipynb [--kernels default avx2] [--keep DIR]

Executes the chapter as it stands under each `ATEN_CPU_CAPABILITY` (in parallel, one process
each), then compares every code cell's text outputs with the committed ones: for each cell
whose numbers moved it prints the largest change, the tolerance the cell declares and whether
the change fits, and a suggested "abs" (twice the largest change). Errors (a claim that fails
under a kernel) are printed too. Exit status 1 if an error occurred or a change exceeds a
declared tolerance, or a cell without one changed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbval.plugin import coalesce_streams

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from portable_outputs import NUMBER, check_tolerance, same_text, texts  # noqa: E402


def execute(notebook: Path, kernel: str, out_dir: Path) -> Path:
    """Run `notebook` with ATEN_CPU_CAPABILITY=kernel into out_dir/kernel/, errors allowed."""
    target = out_dir / kernel
    env = {**os.environ, "ATEN_CPU_CAPABILITY": kernel, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
         "--ExecutePreprocessor.timeout=120", "--output-dir", str(target), str(notebook)],
        env=env, check=True, capture_output=True, cwd=notebook.parent,
    )
    return target / notebook.name


def moves(committed, computed) -> list[tuple[float, float, str]]:
    """(|change|, |committed number|, what) for every number that moved; what='text' when the
    text around the numbers differs."""
    found = []
    old = [t for o in coalesce_streams(committed.get("outputs", [])) for t in texts(o)]
    new = [t for o in coalesce_streams(computed.get("outputs", [])) for t in texts(o)]  # as nbval pairs them
    for (key_a, a), (key_b, b) in zip(old, new):
        if a == b:
            continue
        na, nb = NUMBER.findall(a), NUMBER.findall(b)
        if key_a != key_b or not same_text(a, b):
            found.append((float("inf"), 0.0, f"text differs: {a[:160]!r} -> {b[:160]!r}"))
            continue
        found += [(abs(float(x) - float(y)), abs(float(x)), f"{x} -> {y}") for x, y in zip(na, nb) if x != y]
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebook", type=Path)
    p.add_argument("--kernels", nargs="+", default=["default", "avx2"])
    p.add_argument("--keep", type=Path, help="keep the executed copies here (default: a temporary folder)")
    args = p.parse_args(argv)
    notebook = args.notebook.resolve()
    committed = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        with ThreadPoolExecutor(len(args.kernels)) as pool:
            paths = dict(zip(args.kernels, pool.map(lambda k: execute(notebook, k, out_dir), args.kernels)))
        runs = {k: nbformat.read(path, as_version=4) for k, path in paths.items()}
    bad = False
    for i, cell in enumerate(committed.cells):
        if cell.cell_type != "code":
            continue
        tolerance = cell.metadata.get("tolerance")
        abs_tol, rel_tol = check_tolerance(tolerance) if tolerance is not None else (0.0, 0.0)
        for kernel, nb in runs.items():
            for o in nb.cells[i].get("outputs", []):
                if o.output_type == "error":
                    bad = True
                    print(f"cell {i} [{kernel}]: {o.ename}: {o.evalue}")
            if "nbval-ignore-output" in cell.metadata.get("tags", []):
                continue
            moved = moves(cell, nb.cells[i])
            if not moved:
                continue
            worst = max(moved)
            fits = all(d <= abs_tol + rel_tol * x for d, x, _ in moved)
            bad |= not fits
            print(f"cell {i} [{kernel}]: {len(moved)} numbers moved, largest {worst[2]} (|change| {worst[0]:.3g}); "
                  f"tolerance {tolerance} {'fits' if fits else 'EXCEEDED'}; suggested abs {2 * worst[0]:.3g}")
    return int(bad)


if __name__ == "__main__":
    sys.exit(main())
