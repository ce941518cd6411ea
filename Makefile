# Everyday verbs.  Every target uses .venv/ at the project root, created on first use:
# torch 2.13.0 (CPU build) first, then xrouter with its dev extra, so pip never pulls a CUDA torch.
PYTHON ?= python3
comma := ,
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The shared real data beside the project, when present (developers and CI); else ./data.
SHARED_DATA := $(abspath ../shared/data)
export XROUTER_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/routing),$(SHARED_DATA),)

.PHONY: setup run stats test test-slow test-all bench figures train clean-venv

setup: $(STAMP)

# PYTHONWARNINGS on the editable install: setuptools prints a banner on every one (folders named like the package)
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## the main job on its embedded default (no API key, no GPU): train the tiny router on RouterBench
## replay (CPU), then evaluate it on the test split beside the single models and the oracle
run: train

## per-model and oracle accuracy/cost of the RouterBench replay pool (test split)
stats: setup
	$(PY) -m xrouter.data.stats dataset=routerbench split=test

## the default test suite (unit, component, smoke; not slow, not gpu): two workers (pytest-xdist), a test file
## per worker at a time (its module fixtures built once), the 15 slowest tests listed at the end
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

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

## evaluate a few baselines on RouterBench replay (test split) into outputs/figures/runs, then plot and
## tabulate every run there, with the latest training run's one-checkpoint curve (outputs/train/<time>/,
## as `make run` writes it); FIGURES_EXTRA_RUNS: other comma-separated globs instead (empty: none)
FIGURES_DIR ?= outputs/figures
FIGURES_RUNS := $(FIGURES_DIR)/runs
FIGURES_EMBEDDING ?= hashing
LATEST_TRAIN_CURVE := $(lastword $(sort $(wildcard outputs/train/*/eval_test_curve)))
FIGURES_EXTRA_RUNS ?= $(LATEST_TRAIN_CURVE)
figures: setup
	$(PY) -m xrouter.evaluate -m policy=single "policy.model=$$($(PY) -c 'from omegaconf import OmegaConf as O; print(",".join(O.load("conf/pool/routerbench.yaml").models))')" \
	    'hydra.sweep.dir=$(FIGURES_RUNS)/single' 'hydra.sweep.subdir=$${policy.model}' progress=false
	$(PY) -m xrouter.evaluate policy=oracle output_dir=$(FIGURES_RUNS)/oracle progress=false
	$(PY) -m xrouter.evaluate policy=random sweep=default output_dir=$(FIGURES_RUNS)/random progress=false
	$(PY) -m xrouter.evaluate policy=best_fixed_per_task sweep=default output_dir=$(FIGURES_RUNS)/best_fixed_per_task progress=false
	$(PY) -m xrouter.evaluate policy=knn sweep=default embedding=$(FIGURES_EMBEDDING) output_dir=$(FIGURES_RUNS)/knn progress=false
	$(PY) -m analysis.make_figures 'runs=$(FIGURES_RUNS)$(if $(FIGURES_EXTRA_RUNS),$(comma)$(FIGURES_EXTRA_RUNS))' out=$(FIGURES_DIR)
	$(PY) -m analysis.paper_tables 'runs=$(FIGURES_RUNS)$(if $(FIGURES_EXTRA_RUNS),$(comma)$(FIGURES_EXTRA_RUNS))' out=$(FIGURES_DIR)

clean-venv:
	rm -rf $(VENV)
