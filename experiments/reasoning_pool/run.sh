#!/usr/bin/env bash
# The runs of experiments/reasoning_pool/README.md: pool=zeroeval_reasoning (ZeroEval MATH-L5 + GSM8K, 11 models
# + o1-mini with its hidden reasoning priced at R x its visible output tokens).
#   bash experiments/reasoning_pool/run.sh <section> [...]      (RATIOS="2 5 10" SEEDS="0 1 2" by default)
#   baselines  single models, oracle, best_fixed_per_task, kNN, MLP, cascade, agreement; test split, per ratio
#   router     the default recipe (rl_only, simple mode) with experiment=zeroeval_reasoning, per seed, ratio 5
#   full_rl    full mode (two answers compared, then select or escalate): agreement cold start + RL, ratio 5,
#              the LM blind to the query and lambda (router.condition_lm=false, the recipe's value before 2026-12-07)
#   full_rl_lm full_rl with an LM that reads them (router.condition_lm=true, what the recipe's auto gives full mode)
#   full_rl_pt full_rl_lm with a per-task agreement teacher (teacher.per_task=true): the cold start scripts the best
#              fit-split candidate per lambda and sub-benchmark, e.g. MATH straight to o1-mini at lambda near 0
#   full_rl_clip full_rl_pt with the clip view (env.tool_result_view=clip: each answer's first and last 32
#              characters) in place of the answer view, to measure which view the tiny router reads best
#   full_rl_wide full_rl_pt with lambda drawn up to 100 (and 100 on the test grid), to reach the curve's cheap end
#   full_rl_cap full_rl_pt with the reward's cap at K (reward.cap=1.0): a call's reward falls to 0 as its cost
#              grows, so that at large lambda o1-mini no longer keeps 0.2 of its success and cheap models win
#   figures    AIQ rankings and Pareto figures per ratio (analysis.make_figures), baselines + routers
# Learned baselines fit on the train split; every knob is swept as a curve (sweep=default), nothing tuned on test.
# Each training run also writes its delivered router's curve on its own dev slice (<run>/eval_dev_curve/sweep.json,
# the calibration), which is what compares training settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-outputs/reasoning_pool}
RATIOS=${RATIOS:-2 5 10}
SEEDS=${SEEDS:-0 1 2}
export XROUTER_DATA_DIR=${XROUTER_DATA_DIR:-$(cd .. && pwd)/shared/data}
MODELS=$($PY -c 'from omegaconf import OmegaConf as O; print(",".join(O.load("conf/pool/zeroeval_reasoning.yaml").models))')

timed() {  # timed <log> <command...>: the command's /usr/bin/time wall is the log's last line
  local log=$1; shift
  mkdir -p "$(dirname "$log")"
  /usr/bin/time -f "wall %e s" "$@" > "$log" 2>&1 || { tail -20 "$log"; exit 1; }
  tail -1 "$log"
}

for section in "$@"; do
  case $section in
    baselines)
      for r in $RATIOS; do
        runs=$OUT/r$r/runs
        common=(pool=zeroeval_reasoning benchmark=zeroeval_math split=test progress=false
                "pool.hidden_reasoning.ratio=$r")
        timed "$runs/single.log" "$PY" -m xrouter.evaluate -m policy=single "policy.model=$MODELS" "${common[@]}" \
          "hydra.sweep.dir=$runs/single" 'hydra.sweep.subdir=${policy.model}'
        for p in oracle cheapest; do timed "$runs/$p.log" "$PY" -m xrouter.evaluate policy=$p "${common[@]}" \
          output_dir=$runs/$p; done
        for p in best_fixed_per_task knn mlp cascade agreement; do
          timed "$runs/$p.log" "$PY" -m xrouter.evaluate policy=$p sweep=default "${common[@]}" output_dir=$runs/$p
        done
      done ;;
    router)
      for s in $SEEDS; do
        dir=$OUT/r5/train/rl_only_s$s
        [ -f "$dir/result.json" ] && continue
        timed "$dir.log" "$PY" -m xrouter.train experiment=zeroeval_reasoning seed=$s "output_dir=$dir"
      done ;;
    full_rl|full_rl_lm|full_rl_pt|full_rl_clip|full_rl_wide|full_rl_cap)  # full mode: the agreement cold start, then RL (1 PPO epoch, 32 prompts x 8 episodes,
              # 100 rollouts: the recipe's 150 x 64 x 3 epochs is ~2 h a seed on 2 cores), ratio 5.  full_rl_lm: the
              # same with an LM that reads the query and lambda (router.condition_lm=true), so that the turn
              # decisions (a second call, escalate or select) can depend on them, not only the model names
      lm=true; per_task=false; view=answer
      [ "$section" = full_rl ] && lm=false
      [ "$section" = full_rl_pt ] && per_task=true
      [ "$section" = full_rl_clip ] && per_task=true && view=clip
      overrides=(); [ "$section" = full_rl_wide ] && per_task=true && overrides=(reward.lam_sampling.high=100
        "lam_grid=[0,0.01,0.03,0.1,0.2,0.3,0.5,1,2,3,5,10,30,100]")
      [ "$section" = full_rl_cap ] && per_task=true && overrides=(reward.cap=1.0)
      for s in $SEEDS; do
        dir=$OUT/r5/train/${section}_s$s
        [ -f "$dir/result.json" ] && continue
        timed "$dir.log" "$PY" -m xrouter.train experiment=zeroeval_reasoning env=full env.tool_result_view=$view \
          cold_start.weighting=teacher teacher=agreement cold_start.steps=300 cold_start.batch_size=64 \
          algo.ppo_epochs=1 data.prompts_per_step=32 trainer.max_steps=100 trainer.val_check_interval=25 \
          router.condition_lm=$lm teacher.per_task=$per_task "${overrides[@]}" seed=$s "output_dir=$dir"
      done ;;
    figures)
      for r in $RATIOS; do
        extra=$(ls -d "$OUT/r$r"/train/*/eval_test_curve 2>/dev/null | paste -sd, || true)
        "$PY" -m analysis.make_figures "runs=$OUT/r$r/runs${extra:+,$extra}" "out=$OUT/r$r/figures" > /dev/null
        echo "ratio $r: $OUT/r$r/figures"
      done ;;
    *) echo "unknown section $section" >&2; exit 2 ;;
  esac
done
