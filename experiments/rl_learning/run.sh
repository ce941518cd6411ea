#!/usr/bin/env bash
# The runs of experiments/rl_learning/README.md.  bash experiments/rl_learning/run.sh <section> [...]
#   main       experiment=rl_only (the default recipe), RouterBench, seeds 0 1 2 (idle machine: wall times reported)
#   teacher    recipe=teacher (the previous default), RouterBench, seeds 0 1 2
#   teacher_rl the teacher's cold start, then rl_only's RL (150 rollouts, the decision update), seeds 0 1 2
#   dev        each delivered router of main/teacher/teacher_rl swept over lam_grid on its own dev slice (dev AIQ)
#   zeroeval   rl_only and the teacher recipe on ZeroEval's pool, seeds 0 1 2
#   zeroeval_wide  rl_only on ZeroEval with lambda drawn up to 100, seed 0
#   llmrouter  rl_only and the teacher recipe on LLMRouter's pool, seed 0
#   pool_unit  rl_only with lambda on the pool's price scale (reward.cost_unit_usd=pool, the default since it was
#              added): ZeroEval seeds 0 1 2 and LLMRouter seeds 0 1 2 (RouterBench's unit is $0.01 either way)
#   lams       the paper's sweep: one RL-trained router per fixed lambda (Hydra multirun)
#   ablations  reward, algorithm, KL anchor, group size; seeds 0 1 2 each (the update path: head_probe.py)
#   cosine     rl_only with algo.lr_schedule=cosine (the learning rate decays to 0 at the last step), seeds 0 1 2
#   zeroeval_cosine  rl_only with algo.lr_schedule=cosine on ZeroEval's pool, seeds 0 1 2
#   repeat     the default job with seed=1 twice: a cold embedding cache, then a warm one
#   tune_low   lambda drawn from [0.01, 30] instead of [0.1, 30] (dev only: no test evaluation), then its dev curves
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

NOBASE='baselines=none'
for section in "$@"; do
  case $section in
    main) for s in $SEEDS; do train "$OUT/main/rl_only_s$s" experiment=rl_only seed=$s; done ;;
    cosine) for s in $SEEDS; do train "$OUT/cosine/rl_only_cos_s$s" experiment=rl_only algo.lr_schedule=cosine seed=$s; done ;;
    zeroeval_cosine)
      for s in $SEEDS; do
        train "$OUT/zeroeval_cosine/rl_only_cos_s$s" experiment=rl_only pool=zeroeval_math benchmark=zeroeval_math \
          algo.lr_schedule=cosine seed=$s
      done ;;
    teacher) for s in $SEEDS; do train "$OUT/teacher/teacher_s$s" recipe=teacher seed=$s; done ;;
    teacher_rl)
      for s in $SEEDS; do
        train "$OUT/teacher_rl/teacher_rl_s$s" experiment=rl_only cold_start.weighting=teacher cold_start.steps=300 \
          cold_start.batch_size=64 seed=$s
      done ;;
    dev)  # RUNS: the run directories (default: main, teacher, teacher_rl); GRID: the lambdas (default: each run's lam_grid)
      for run in ${RUNS:-"$OUT"/main/rl_only_s? "$OUT"/teacher/teacher_s? "$OUT"/teacher_rl/teacher_rl_s?}; do
        [ -f "$run/result.json" ] || continue
        [ -f "$run/eval_dev_curve/sweep.json" ] && continue
        s=${run##*_s}
        grid=${GRID:-$("$PY" -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['lam_grid'])" "$run/config.yaml" | tr -d ' ')}
        "$PY" -m xrouter.evaluate policy=router "policy.path=$run/router" split=dev seed=$s progress=false \
          "policy.lam_grid=$grid" "output_dir=$run/eval_dev_curve" > "$run/eval_dev_curve.log" 2>&1
        grep -h "AIQ" "$run/eval_dev_curve.log" | tail -1
      done ;;
    zeroeval_wide)  # lambda drawn up to 100, where ZeroEval's cheapest models win (seed 0)
      train "$OUT/zeroeval/rl_only_high100_s0" experiment=zeroeval_math seed=0 reward.lam_sampling.high=100 \
        'lam_grid=[0,0.01,0.03,0.1,0.2,0.3,0.5,1,2,3,5,10,30,100]' ;;
    zeroeval)
      for s in $SEEDS; do
        train "$OUT/zeroeval/rl_only_s$s" experiment=rl_only pool=zeroeval_math benchmark=zeroeval_math seed=$s
        train "$OUT/zeroeval/teacher_s$s" experiment=zeroeval_math recipe=teacher seed=$s
      done ;;
    llmrouter)
      train "$OUT/llmrouter/rl_only_s0" experiment=rl_only pool=llmrouter benchmark=llmrouter seed=0
      train "$OUT/llmrouter/teacher_s0" recipe=teacher pool=llmrouter benchmark=llmrouter seed=0 ;;
    pool_unit)
      for s in $SEEDS; do
        train "$OUT/pool_unit/zeroeval_s$s" experiment=rl_only pool=zeroeval_math benchmark=zeroeval_math seed=$s
        train "$OUT/pool_unit/llmrouter_s$s" experiment=rl_only pool=llmrouter benchmark=llmrouter seed=$s
      done ;;
    lams)
      mkdir -p "$OUT/lams"
      /usr/bin/time -f "wall %e s" "$PY" -m xrouter.train -m experiment=rl_only reward.lam_sampling=null \
        reward.lam=0,0.3,1,3,10 "$NOBASE" "hydra.sweep.dir=$OUT/lams" 'hydra.sweep.subdir=lam_${reward.lam}' \
        > "$OUT/lams/multirun.log" 2>&1 ;;
    ablations)  # ABLATIONS: the variants to run (default: all); rl_only's own runs (main) are the reference
      for s in $SEEDS; do
        for v in ${ABLATIONS:-grpo no_kl g4 g16 xrouter_lam1 linear_a05}; do
          case $v in
            grpo) args=(algo=grpo) ;;
            no_kl) args=(algo.kl_beta=0) ;;
            g4) args=(rollout.group_size=4 data.prompts_per_step=128) ;;   # the same 512 episodes per rollout
            g16) args=(rollout.group_size=16 data.prompts_per_step=32) ;;
            xrouter_lam1) args=(reward.lam_sampling=null reward.lam=1) ;;  # the paper's reward at one lambda ...
            linear_a05) args=(reward=linear reward.lam_sampling=null reward.alpha=0.5) ;;  # ... against a linear one
            *) echo "unknown ablation $v" >&2; exit 2 ;;
          esac
          train "$OUT/ablations/${v}_s$s" experiment=rl_only seed=$s "$NOBASE" "${args[@]}"
        done
      done ;;
    tune_low)
      for s in $SEEDS; do
        train "$OUT/tune/low001_s$s" experiment=rl_only reward.lam_sampling.low=0.01 evaluate_test=false seed=$s \
          'lam_grid=[0,0.01,0.03,0.1,0.2,0.3,0.5,1,2,3,5,10,30]' 'data.val_lams=[0,0.03,0.3,1,3,10]'
      done
      RUNS="$(ls -d "$OUT"/tune/low001_s?)" bash "$0" dev ;;
    repeat)
      rm -rf .cache/embeddings
      train "$OUT/repeat/default_s1_cold" seed=1
      train "$OUT/repeat/default_s1_warm" seed=1 ;;
    *) echo "unknown section $section" >&2; exit 2 ;;
  esac
done
