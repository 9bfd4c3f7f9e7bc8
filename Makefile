# The two commands of the README:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,lab]"
	touch $(STAMP)

## setup: create .venv and install agent_magic with its test and lab extras
setup: $(STAMP)

## system-deps: Debian packages the full suite uses (bubblewrap sandbox, chromium for browser tests)
system-deps:
	@bash scripts/system-deps.sh

## demo: run notebooks/quickstart.ipynb on the offline demo model -> notebooks/executed/quickstart.ipynb
demo: setup
	$(BIN)/jupyter nbconvert --to notebook --execute notebooks/quickstart.ipynb \
		--output-dir notebooks/executed --ExecutePreprocessor.timeout=300
	@echo "Executed notebook: notebooks/executed/quickstart.ipynb"

## test: the whole suite (unit, real-kernel, notebooks via nbval, browser)
test: setup system-deps
	$(BIN)/python -m pytest

## test-fast: everything but the browser tests
test-fast: setup
	$(BIN)/python -m pytest -m "not browser"

lint: setup
	$(BIN)/ruff check agent_magic tests benchmarks
	$(BIN)/ruff format --check agent_magic tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_stream.py
	$(BIN)/python benchmarks/bench_ledger.py

clean:
	rm -rf $(VENV) notebooks/executed .pytest_cache
