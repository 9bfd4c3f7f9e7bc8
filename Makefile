# The two commands of the README:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup labextension system-deps demo test test-fast lint bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	SKIP_JUPYTER_BUILDER=1 $(BIN)/python -m pip install --quiet -e ".[test,lab,plot,docs,mcp,postgres]"
	touch $(STAMP)

# The JupyterLab companion (labextension/, TypeScript). Editable installs skip its npm build (so `make
# demo` stays fast); `make labextension` builds it and copies it into .venv, where JupyterLab finds
# prebuilt extensions. `pip install .` and wheels build it themselves (hatch-jupyter-builder).
LABEXT_DIR   := labextension
LABEXT_DEPS  := $(LABEXT_DIR)/node_modules/.package-lock.json
LABEXT_BUILT := agent_magic/labextension/static/style.js
LABEXT_SHARE := $(VENV)/share/jupyter/labextensions/agent-magic

$(LABEXT_DEPS): $(LABEXT_DIR)/package.json $(LABEXT_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 18) is needed to build labextension/" >&2; exit 1; }
	cd $(LABEXT_DIR) && npm install --no-audit --no-fund --loglevel=error
	touch $(LABEXT_DEPS)

$(LABEXT_BUILT): $(LABEXT_DEPS) $(wildcard $(LABEXT_DIR)/src/*.ts $(LABEXT_DIR)/style/*) $(LABEXT_DIR)/tsconfig.json
	cd $(LABEXT_DIR) && npm run --silent build:prod

$(LABEXT_SHARE)/package.json: $(LABEXT_BUILT) $(STAMP)
	rm -rf $(LABEXT_SHARE) && mkdir -p $(LABEXT_SHARE)
	cp -R agent_magic/labextension/. $(LABEXT_SHARE)/

## labextension: build the JupyterLab companion and install it into .venv (needs Node.js >= 18 and npm)
labextension: setup $(LABEXT_SHARE)/package.json

## setup: create .venv and install agent_magic with its test, lab, plot, docs and postgres extras
setup: $(STAMP)

## system-deps: Debian packages the full suite uses (bubblewrap sandbox, chromium for browser tests, postgresql)
system-deps:
	@bash scripts/system-deps.sh

## demo: run notebooks/quickstart.ipynb on the offline demo model -> notebooks/executed/quickstart.ipynb
demo: setup
	$(BIN)/jupyter nbconvert --to notebook --execute notebooks/quickstart.ipynb \
		--output-dir notebooks/executed --ExecutePreprocessor.timeout=300
	@echo "Executed notebook: notebooks/executed/quickstart.ipynb"

# The suite runs on TEST_WORKERS pytest-xdist workers, a whole test file to a worker (--dist loadfile), so
# the kernel, servers and JupyterLab a module shares start once: `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

## test: the whole suite (unit, real-kernel, notebooks via nbval, browser, the docs build: tests/test_docs.py)
test: setup labextension system-deps
	$(PYTEST)

## test-fast: everything but the browser tests
test-fast: setup labextension
	$(PYTEST) -m "not browser"

lint: setup
	$(BIN)/ruff check agent_magic tests benchmarks docs notebooks
	$(BIN)/ruff format --check agent_magic tests benchmarks docs notebooks

## docs: the documentation site, warnings as errors (-W), into docs/_build/html (tests/test_docs.py builds it too).
## -E: a fresh build every time (~6 s), so pages generated from the code never lag behind it
docs: setup
	$(BIN)/python -m sphinx -W --keep-going -q -E -b html docs docs/_build/html
	@echo "Documentation: docs/_build/html/index.html"

bench: setup
	$(BIN)/python benchmarks/bench_paths.py
	$(BIN)/python benchmarks/bench_stream.py
	$(BIN)/python benchmarks/bench_display_bytes.py
	$(BIN)/python benchmarks/bench_parallel_tools.py
	$(BIN)/python benchmarks/bench_approval.py
	$(BIN)/python benchmarks/bench_ledger.py
	$(BIN)/python benchmarks/bench_compaction.py
	$(BIN)/python benchmarks/bench_mcp.py
	$(BIN)/python benchmarks/bench_telemetry.py
	$(BIN)/python benchmarks/bench_replay.py
	$(BIN)/python benchmarks/fault_summary.py
	$(BIN)/python benchmarks/bench_responsiveness.py
	$(BIN)/python benchmarks/bench_test_suite.py

clean:
	rm -rf $(VENV) notebooks/executed .pytest_cache docs/_build
	rm -rf $(LABEXT_DIR)/node_modules $(LABEXT_DIR)/lib $(LABEXT_DIR)/.core agent_magic/labextension
