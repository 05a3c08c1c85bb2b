# cx_text — every target sets up what it needs from nothing (idempotent).
# `make demo` and `make test` are the two commands a new user needs (see README).

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
CX     := $(VENV)/bin/cx-text
STAMP  := $(VENV)/.installed

# Offline by default: nothing downloads weights at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DEMO_DB  ?= data/demo/demo.duckdb
DEMO_OUT ?= data/demo/demo_tagged.parquet

.PHONY: help venv install models sysdeps demo test test-fast lint bench app wheel clean

help:
	@echo "make demo   - set up, prepare models, tag the demo export, start the app (DEMO_NO_APP=1 to stop after tagging)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff + mypy"
	@echo "make bench  - benchmarks (figures as ratios against a named baseline)"
	@echo "make app    - start the Streamlit app on $(DEMO_DB)"
	@echo "make wheel  - build dist/cx_text-*.whl (heads, taxonomies, templates and app pages inside)"

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# torch first, exactly the local CPU wheel; setuptools<81 keeps natasha's pkg_resources alive.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q "torch==2.13.0" "setuptools<81" wheel
	$(PIP) install -q -e ".[dev,app,reports,spark]"
	touch $(STAMP)

venv install: $(STAMP)

models: $(STAMP)
	$(CX) models prepare

# System packages the test suite needs: Java for Spark, Chromium for the browser test.
sysdeps:
	@bash .ci/sysdeps.sh

demo: models
	bash scripts/demo.sh

test: models sysdeps
	$(PY) -m pytest -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory lint

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not spark and not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check cx_text tests benchmarks scripts data/demo/generate.py
	$(VENV)/bin/mypy

bench: models
	$(PY) benchmarks/run_all.py

app: models
	$(CX) app --db $(DEMO_DB)

wheel: $(STAMP)
	$(PIP) wheel --no-deps --no-build-isolation -q -w dist .
	@ls dist/cx_text-*.whl

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
