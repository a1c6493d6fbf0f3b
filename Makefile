# The few commands people run. `make run` sets everything up and runs the main job; `make test` runs the tests.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
STAMP  := $(VENV)/.installed

.PHONY: run setup test test-fast store dashboard bench screenshots lint clean

run: setup store dashboard

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	@touch $(STAMP)

# Build (or refresh) the default DuckDB store: every named scenario, 1,000 samples each. Skips up-to-date ensembles.
store: setup
	$(PY) -m pipelines run --all

dashboard: setup
	@echo "Dashboard: http://localhost:$(PORT)"
	$(PY) -m streamlit run dashboard/app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

bench: setup
	$(PY) bench/bench_simulate.py --compiled
	$(PY) bench/aifm_fidelity.py
	$(PY) bench/bench_pipelines.py

screenshots: setup
	$(PY) scripts/screenshots.py

lint: setup
	$(VENV)/bin/ruff check sim pipelines dashboard tests

clean:
	rm -rf store .pytest_cache
