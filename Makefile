# Sigma9 developer tasks. Needs GNU make and Python >= 3.10 (3.11 recommended).
# The venv is (re)built whenever pyproject.toml changes; `make clean` keeps it, rm -rf .venv resets.

PY ?= python3
VENV = .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run sim test lint typecheck screenshot soak clean

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

# The seeded fault soak of the whole application against the simulator (docs/reliability.md):
# 200 episodes by default, summary in soak/results.json. Options through SOAK_ARGS, e.g.
#   make soak SOAK_ARGS="--episodes 50 --seed 1000 --jobs 1"    make soak SOAK_ARGS="--replay 17"
SOAK_ARGS ?=
soak: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m soak $(SOAK_ARGS)

# Issue 12's figures, each beside its floor (docs/performance.md): writes bench/results.json
# and the table in docs/performance.md, about 8 minutes. A quick run:
#   make bench BENCH_ARGS=--quick        one figure: make bench BENCH_ARGS="--only sim_engine"
BENCH_ARGS ?=
.PHONY: bench
bench: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m bench $(BENCH_ARGS)

# Renders docs/screenshot.png from the real window, mid-trade, with no display needed.
screenshot: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/screenshot.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
