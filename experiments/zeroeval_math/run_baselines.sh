#!/usr/bin/env bash
# Every baseline policy on the ZeroEval MATH-L5 + GSM8K replay pool, test split, one run directory
# each under $RUNS (a rerun resumes), then the Pareto figure, AIQ rankings and sweep tables.
#   XROUTER_DATA_DIR=../shared/data bash experiments/zeroeval_math/run_baselines.sh
# Learned baselines fit on the train split (fit_split=auto); their knobs are swept as curves, not tuned.
set -euo pipefail
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-outputs/zeroeval_math/runs}
OUT=${OUT:-outputs/zeroeval_math/figures}
EMBEDDING=${EMBEDDING:-minilm}
COMMON=(pool=zeroeval_math benchmark=zeroeval_math split=test progress=false)
MODELS=$($PY -c 'from omegaconf import OmegaConf as O; print(",".join(O.load("conf/pool/zeroeval_math.yaml").models))')
$PY -m xrouter.evaluate -m policy=single "policy.model=$MODELS" "${COMMON[@]}" \
    "hydra.sweep.dir=$RUNS/single" 'hydra.sweep.subdir=${policy.model}'
$PY -m xrouter.evaluate policy=oracle "${COMMON[@]}" output_dir=$RUNS/oracle
$PY -m xrouter.evaluate policy=cheapest "${COMMON[@]}" output_dir=$RUNS/cheapest
$PY -m xrouter.evaluate policy=random "${COMMON[@]}" output_dir=$RUNS/random_uniform
$PY -m xrouter.evaluate policy=random sweep=default "${COMMON[@]}" output_dir=$RUNS/random
$PY -m xrouter.evaluate policy=best_fixed_per_task sweep=default "${COMMON[@]}" output_dir=$RUNS/best_fixed_per_task
$PY -m xrouter.evaluate policy=knn sweep=default embedding=$EMBEDDING "${COMMON[@]}" output_dir=$RUNS/knn
$PY -m xrouter.evaluate policy=mlp sweep=default embedding=$EMBEDDING "${COMMON[@]}" output_dir=$RUNS/mlp
$PY -m xrouter.evaluate policy=cascade sweep=default embedding=$EMBEDDING "${COMMON[@]}" output_dir=$RUNS/cascade
$PY -m xrouter.evaluate policy=threshold sweep=default policy.strong=gpt-4o-2024-08-06 policy.weak=gpt-4o-mini \
    embedding=$EMBEDDING "${COMMON[@]}" output_dir=$RUNS/threshold
$PY -m analysis.make_figures "runs=$RUNS${EXTRA_RUNS:+,$EXTRA_RUNS}" out=$OUT
