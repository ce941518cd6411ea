#!/usr/bin/env bash
# The runs of experiments/rl_learning/README.md.  bash experiments/rl_learning/run.sh <section> [...]
#   main       experiment=rl_only, RouterBench, seeds 0 1 2 (idle machine: the wall times are reported)
#   teacher    the teacher recipe (the previous default), RouterBench, seeds 0 1 2
#   teacher_rl the teacher's cold start, then rl_only's RL (150 rollouts, the decision update), seeds 0 1 2
#   dev        each delivered router of main/teacher/teacher_rl swept over lam_grid on its own dev slice (dev AIQ)
#   zeroeval   rl_only and the teacher recipe on ZeroEval's pool, seeds 0 1 2
#   llmrouter  rl_only and the teacher recipe on LLMRouter's pool, seed 0
#   lams       the paper's sweep: one RL-trained router per fixed lambda (Hydra multirun)
#   ablations  reward, algorithm, KL anchor, group size, update path; seeds 0 1 2 each
#   repeat     the default job with seed=1 twice: a cold embedding cache, then a warm one
# Outputs under outputs/rl_learning/<section>/; each run's /usr/bin/time line is in its log.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-outputs/rl_learning}
SEEDS=${SEEDS:-0 1 2}
export XROUTER_DATA_DIR=${XROUTER_DATA_DIR:-$(cd .. && pwd)/shared/data}

train() {  # train <dir> <overrides...>
  local dir=$1; shift
  mkdir -p "$(dirname "$dir")"
  if [ -f "$dir/result.json" ]; then echo "skip $dir (done)"; return; fi
  /usr/bin/time -f "wall %e s" "$PY" -m xrouter.train "output_dir=$dir" "$@" > "$dir.log" 2>&1
  tail -1 "$dir.log"
}

NOBASE='compare_baselines=[]'
for section in "$@"; do
  case $section in
    main) for s in $SEEDS; do train "$OUT/main/rl_only_s$s" experiment=rl_only seed=$s; done ;;
    teacher) for s in $SEEDS; do train "$OUT/teacher/teacher_s$s" seed=$s; done ;;
    teacher_rl)
      for s in $SEEDS; do
        train "$OUT/teacher_rl/teacher_rl_s$s" experiment=rl_only cold_start.weighting=teacher cold_start.steps=300 \
          cold_start.batch_size=64 seed=$s
      done ;;
    dev)
      for run in "$OUT"/main/rl_only_s? "$OUT"/teacher/teacher_s? "$OUT"/teacher_rl/teacher_rl_s?; do
        [ -f "$run/result.json" ] || continue
        [ -f "$run/eval_dev_curve/sweep.json" ] && continue
        s=${run##*_s}
        "$PY" -m xrouter.evaluate policy=router "policy.path=$run/router" split=dev seed=$s progress=false \
          'policy.lam_grid=[0,0.1,0.2,0.3,0.5,1,2,3,5,10,30]' "output_dir=$run/eval_dev_curve" > "$run/eval_dev_curve.log" 2>&1
        grep -h "AIQ" "$run/eval_dev_curve.log" | tail -1
      done ;;
    zeroeval)
      for s in $SEEDS; do
        train "$OUT/zeroeval/rl_only_s$s" experiment=rl_only pool=zeroeval_math benchmark=zeroeval_math seed=$s
        train "$OUT/zeroeval/teacher_s$s" experiment=zeroeval_math seed=$s
      done ;;
    llmrouter)
      train "$OUT/llmrouter/rl_only_s0" experiment=rl_only pool=llmrouter benchmark=llmrouter seed=0
      train "$OUT/llmrouter/teacher_s0" pool=llmrouter benchmark=llmrouter seed=0 ;;
    lams)
      mkdir -p "$OUT/lams"
      /usr/bin/time -f "wall %e s" "$PY" -m xrouter.train -m experiment=rl_only reward.lam_sampling=null \
        reward.lam=0,0.3,1,3,10 "$NOBASE" "hydra.sweep.dir=$OUT/lams" 'hydra.sweep.subdir=lam=${reward.lam}' \
        > "$OUT/lams/multirun.log" 2>&1 ;;
    ablations)
      for s in $SEEDS; do
        train "$OUT/ablations/grpo_s$s" experiment=rl_only algo=grpo seed=$s "$NOBASE"
        train "$OUT/ablations/no_kl_s$s" experiment=rl_only algo.kl_beta=0 seed=$s "$NOBASE"
        train "$OUT/ablations/g4_s$s" experiment=rl_only rollout.group_size=4 data.prompts_per_step=128 seed=$s "$NOBASE"
        train "$OUT/ablations/g16_s$s" experiment=rl_only rollout.group_size=16 data.prompts_per_step=32 seed=$s "$NOBASE"
        train "$OUT/ablations/no_head_s$s" experiment=rl_only router.decision_head=null algo.update=sequence \
          algo.ppo_epochs=1 trainer.max_steps=150 seed=$s "$NOBASE"
        train "$OUT/ablations/head_sequence_s$s" experiment=rl_only algo.update=sequence algo.ppo_epochs=1 \
          trainer.max_steps=150 seed=$s "$NOBASE"
        train "$OUT/ablations/log1p_s$s" experiment=rl_only router.lam_features=log1p seed=$s "$NOBASE"
        train "$OUT/ablations/xrouter_lam1_s$s" experiment=rl_only reward.lam_sampling=null reward.lam=1 seed=$s "$NOBASE"
        train "$OUT/ablations/linear_a05_s$s" experiment=rl_only reward=linear reward.lam_sampling=null \
          reward.alpha=0.5 seed=$s "$NOBASE"
      done ;;
    repeat)
      rm -rf .cache/embeddings
      train "$OUT/repeat/default_s1_cold" seed=1
      train "$OUT/repeat/default_s1_warm" seed=1 ;;
    *) echo "unknown section $section" >&2; exit 2 ;;
  esac
done
