# Two commands do all the set-up: `make test` and `make compare` (see README.md).
PYTHON ?= python3
VENV ?= .venv
# torch for a fresh venv. The default is the CPU build on the project's CI machines; on a GPU
# machine use e.g. `make test TORCH=torch`. An existing torch in the venv is kept.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.drift-installed
export OMP_NUM_THREADS ?= 1

.PHONY: install test compare bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

compare: $(STAMP)
	$(BIN)/python -m drift compare --data digits --labels-per-class 5 --seeds 5 --out runs/compare

bench: $(STAMP)
	$(BIN)/python benchmarks/step_cost.py

clean:
	rm -rf runs build *.egg-info .pytest_cache
