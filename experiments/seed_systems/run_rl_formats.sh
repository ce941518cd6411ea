#!/usr/bin/env bash
# The RL router in both action formats on RouterBench and ZeroEval (MATH-L5 + GSM8K), seeds 0 1 2:
#   tool_calls: router=tiny, env=simple, reward=xrouter lam 1 (`make run`'s job until router=tiny_encoder)
#   router_r1:  env=router_r1 reward=router_r1 (Router-R1's tags and hierarchical reward, 160 cold-start steps)
# Each run trains (best dev checkpoint) and evaluates on test; two runs at a time, one torch thread each;
# a run whose eval_test/summary.json exists is skipped (a rerun resumes); wall times in $RUNS/wall_times.tsv.
#   XROUTER_DATA_DIR=../shared/data bash experiments/seed_systems/run_rl_formats.sh
#   (a subset: SEEDS="1 2" BENCHES=routerbench FORMATS=tool_calls LANES=1 ...)
set -euo pipefail
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-outputs/seed_systems/rl}
LANES=${LANES:-2}
SEEDS=${SEEDS:-0 1 2} BENCHES=${BENCHES:-routerbench zeroeval_math} FORMATS=${FORMATS:-router_r1 tool_calls}
export OMP_NUM_THREADS=1 PY RUNS
mkdir -p "$RUNS"
one() {  # bench format seed
    local bench=$1 format=$2 seed=$3 out="$RUNS/$1/$2/seed$3"
    [[ -f $out/eval_test/summary.json ]] && return 0
    local extra=(router=tiny)  # both formats on the text-only tiny router (the default before router=tiny_encoder)
    [[ $bench == zeroeval_math ]] && extra+=(experiment=zeroeval_math)
    [[ $format == router_r1 ]] && extra+=(env=router_r1 reward=router_r1)
    mkdir -p "$out"
    local start=$(date +%s)
    $PY -m xrouter.train seed=$seed threads=1 baselines=none "${extra[@]}" output_dir=$out > "$out.log" 2>&1
    printf '%s\t%s\t%s\t%d\n' "$bench" "$format" "$seed" "$(( $(date +%s) - start ))" >> "$RUNS/wall_times.tsv"
}
export -f one
for seed in $SEEDS; do for bench in $BENCHES; do for format in $FORMATS; do
    echo "$bench $format $seed"
done; done; done | xargs -P "$LANES" -L 1 bash -c 'one $0 $1 $2'
