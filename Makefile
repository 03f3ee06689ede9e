# Sigma9 developer tasks. Needs GNU make and Python >= 3.10 (3.11 recommended).
# The venv is (re)built whenever pyproject.toml changes; `make clean` keeps it, rm -rf .venv resets.

PY ?= python3
VENV = .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run sim test lint typecheck screenshot clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

# The terminal on the simulator: sigma9-sim runs as a child on a free port and ends with the window.
run: setup
	$(BIN)/sigma9 --sim

sim: setup
	$(BIN)/sigma9-sim

# mypy first (config in pyproject.toml; incremental, cached in .mypy_cache): CI runs this target.
test: setup typecheck
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup typecheck
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

# Renders docs/screenshot.png from the real window, mid-trade, with no display needed.
screenshot: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/screenshot.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
