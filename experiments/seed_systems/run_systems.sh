#!/usr/bin/env bash
# BaRP, CSCR, kNN and the MLP on RouterBench and ZeroEval (MATH-L5 + GSM8K) test, seeds 0 1 2 where
# training is stochastic (BaRP, CSCR, MLP; kNN is deterministic), plus every single model and the
# oracle (the robustness report reads their per-query outcomes); one run directory each under $RUNS
# (a rerun resumes), wall time of each run appended to $RUNS/wall_times.tsv.
#   XROUTER_DATA_DIR=../shared/data bash experiments/seed_systems/run_systems.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-outputs/seed_systems/runs}
export OMP_NUM_THREADS=1
mkdir -p "$RUNS"
timed() {  # name, then the command
    local name=$1; shift
    local start=$(date +%s.%N)
    "$@" > "$RUNS/$name.log" 2>&1
    printf '%s\t%.1f\n' "$name" "$(echo "$(date +%s.%N) - $start" | bc)" >> "$RUNS/wall_times.tsv"
}
for bench in routerbench zeroeval_math; do
    COMMON=(pool=$bench benchmark=$bench split=test progress=false threads=1)
    MODELS=$($PY -c "from omegaconf import OmegaConf as O; print(','.join(O.load('conf/pool/$bench.yaml').models))")
    timed $bench-single $PY -m xrouter.evaluate -m policy=single "policy.model=$MODELS" "${COMMON[@]}" \
        "hydra.sweep.dir=$RUNS/$bench/single" 'hydra.sweep.subdir=${policy.model}'
    timed $bench-oracle $PY -m xrouter.evaluate policy=oracle "${COMMON[@]}" output_dir=$RUNS/$bench/oracle
    timed $bench-knn $PY -m xrouter.evaluate policy=knn sweep=default "${COMMON[@]}" output_dir=$RUNS/$bench/knn/seed0
    for seed in 0 1 2; do
        for policy in barp cscr mlp; do
            timed $bench-$policy-seed$seed $PY -m xrouter.evaluate policy=$policy sweep=default seed=$seed "${COMMON[@]}" \
                output_dir=$RUNS/$bench/$policy/seed$seed
        done
    done
done
