#!/usr/bin/env bash
# The runs of experiments/query_routing/README.md, one at a time (2 cores: never two at once).
#   bash experiments/query_routing/run.sh [routerbench|zeroeval|full|ttq] [seeds...]
set -euo pipefail
cd "$(dirname "$0")/../.."
export XROUTER_DATA_DIR=${XROUTER_DATA_DIR:-../shared/data}
PY=${PY:-.venv/bin/python}
what=${1:-routerbench}; shift || true
seeds=${*:-0 1 2}
out=outputs/query_routing
case "$what" in
  routerbench)  # the default job, one checkpoint for every lambda, curve beside kNN and MLP
    for s in $seeds; do /usr/bin/time -f "%e s wall" $PY -m xrouter.train seed=$s output_dir=$out/routerbench_seed$s; done ;;
  zeroeval)     # ZeroEval MATH-L5 + GSM8K, 11 models
    for s in $seeds; do /usr/bin/time -f "%e s wall" $PY -m xrouter.train experiment=zeroeval_math seed=$s \
        output_dir=$out/zeroeval_seed$s; done ;;
  full)         # multi-turn episodes: call, read the answer, select or escalate (plain and oracle-escalation cold start)
    for s in $seeds; do
      for esc in "" oracle; do
        tag=${esc:+oracle_}; extra=${esc:+cold_start.escalation=$esc}
        /usr/bin/time -f "%e s wall" $PY -m xrouter.train env=full $extra seed=$s output_dir=$out/full_${tag}routerbench_seed$s
        /usr/bin/time -f "%e s wall" $PY -m xrouter.train env=full $extra experiment=zeroeval_math seed=$s \
            output_dir=$out/full_${tag}zeroeval_seed$s
      done
      $PY experiments/query_routing/full_mode_report.py $out/full_*_seed$s/eval_test $out/full_*_seed$s/eval_test_curve
    done ;;
  ttq)          # time to quality, router=tiny against router=tiny_encoder
    $PY benchmarks/time_to_quality.py --recipes teacher tiny --seeds $seeds --max-steps 40 --every 10 \
        --out $out/time_to_quality.json ;;
  *) echo "usage: $0 [routerbench|zeroeval|full|ttq] [seeds...]"; exit 2 ;;
esac
