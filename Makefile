# Everyday verbs.  Every target uses .venv/ at the project root, created on first use:
# torch 2.13.0 (CPU build) first, then xrouter with its dev extra, so pip never pulls a CUDA torch.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The shared real data beside the project, when present (developers and CI); else ./data.
SHARED_DATA := $(abspath ../shared/data)
export XROUTER_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/routing),$(SHARED_DATA),)

.PHONY: setup run stats test test-slow test-all bench figures train clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## the main job on its embedded default (no API key, no GPU)
run: stats

## per-model and oracle accuracy/cost of the RouterBench replay pool (test split)
stats: setup
	$(PY) -m xrouter.data.stats dataset=routerbench split=test

## the default test suite (unit, component, smoke; not slow, not gpu)
test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

test-all: setup
	$(PY) -m pytest -q -m "not gpu"

## speed benchmarks (print numbers; see benchmarks/README.md)
bench: setup
	$(PY) benchmarks/pool_throughput.py

## the default training run (tiny router, RouterBench replay, CPU); pass ARGS="key=value ..."
train: setup
	$(PY) -m xrouter.train $(ARGS)

figures: setup
	@echo "figures land with the evaluation issue; see the README's roadmap" && exit 1

clean-venv:
	rm -rf $(VENV)
