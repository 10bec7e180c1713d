# The README's two commands: `make demo` (set up, index corpus/, search it) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,dev,browser]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/searchkit index
	$(BIN)/searchkit stats
	$(BIN)/searchkit search "lockdown italy" --facet year --facet folder

test: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Part of `make test` (and so of CI): lint and a clean type check come before the tests.
lint: $(STAMP)
	$(BIN)/ruff check searchkit tests bench
	$(BIN)/mypy

# The benchmarks that fit in minutes; bench/scale_bench.py (100k-500k articles) takes hours.
bench: $(STAMP)
	$(BIN)/python bench/index_bench.py
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/quality_bench.py
	$(BIN)/python bench/hostile_bench.py

# Everything an index directory gets (searchkit.json, locks, generations, temporary files),
# but the tracked index/.gitignore that keeps the folder in a fresh clone: a pointer left behind
# names a generation that is gone, and every later command fails on it.
clean:
	rm -rf $(VENV)
	[ ! -d index ] || find index -mindepth 1 -maxdepth 1 ! -name .gitignore -exec rm -rf {} +
