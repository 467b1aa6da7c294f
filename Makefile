# Settle: the two set-up commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TYPECHECK := build/typecheck

.PHONY: install demo test lint typecheck pytest clean

install: $(STAMP)

# The venv is rebuilt when the pinned constraints or the project metadata change.
$(STAMP): pyproject.toml deploy/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c deploy/constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/settle demo

test: lint typecheck pytest

lint: install
	$(BIN)/ruff check .

# mypy resolves `settle.engine` etc. through a tree of links that mirrors the package mapping
# of pyproject.toml (mypy cannot see setuptools' editable import hook).
typecheck: install
	@mkdir -p $(TYPECHECK)/settle
	@for p in engine cluster api; do ln -sfn ../../../$$p $(TYPECHECK)/settle/$$p; done
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p settle.engine -p settle.cluster -p settle.api

pytest: install
	$(BIN)/pytest -n auto

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .hypothesis

# Benchmarks (never part of `make test`; see docs/performance.md). Books are generated once
# under benchmarks/data/; figures are appended to benchmarks/results/results.jsonl.
# More sizes: make bench BENCH_ARGS="--members 1000000 --members 5000000"
BENCH_ARGS ?= --members 1000000
.PHONY: bench
bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
