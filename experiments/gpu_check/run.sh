#!/usr/bin/env bash
# GPU check: a few GRPO steps of a ~80M-parameter router on the RouterBench replay pool with
# rollout=hf on CUDA (bf16 autocast), and with rollout=vllm too when vLLM is installed; prints
# tokens/s, episodes/s, seconds per step and peak GPU memory for each.  Budget: under 8 minutes on
# one H100 with PyTorch, transformers and Lightning installed and no network.
#
#   experiments/gpu_check/run.sh                      # from the repository root
#   ROUTER_PATH=/models/Qwen2.5-0.5B-Instruct experiments/gpu_check/run.sh   # a local instruct model
#
# Environment: XROUTER_DATA_DIR (default ../shared/data, else .gpu_data/): must hold
# routing/routerbench/; WHEELS (default .whl/): wheels from fetch_wheels.sh, installed only when
# hydra/omegaconf/genai-prices/math-verify are missing; STEPS (default 6); PYTHON (default python3);
# HF_TIMEOUT / VLLM_TIMEOUT seconds per run (default 270 / 150).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
STEPS=${STEPS:-6}
WHEELS=${WHEELS:-.whl}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # xrouter from this checkout, installed or not

say() { printf '\n[gpu_check %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { printf '\n[gpu_check] FAILED: %s\n' "$*" >&2; exit 1; }

# ---- data ---------------------------------------------------------------------------------------
if [[ -z "${XROUTER_DATA_DIR:-}" ]]; then
  if [[ -d ../shared/data/routing/routerbench ]]; then XROUTER_DATA_DIR=$(cd ../shared/data && pwd)
  else XROUTER_DATA_DIR=$PWD/.gpu_data; fi
fi
export XROUTER_DATA_DIR
[[ -d "$XROUTER_DATA_DIR/routing/routerbench" ]] || fail "no $XROUTER_DATA_DIR/routing/routerbench: set XROUTER_DATA_DIR \
to the shared data folder (or carry a copy of routing/routerbench in .gpu_data/, see experiments/gpu_check/README.md)"

# ---- python packages ----------------------------------------------------------------------------
"$PYTHON" -c "import torch, transformers, lightning; assert torch.cuda.is_available(), 'no CUDA device'" \
  || fail "needs PyTorch with CUDA, transformers and Lightning in $PYTHON"
if ! "$PYTHON" -c "import hydra, omegaconf, genai_prices, math_verify" 2>/dev/null; then
  ls "$WHEELS"/*.whl >/dev/null 2>&1 || fail "hydra/omegaconf/genai-prices/math-verify missing and no wheels in $WHEELS/ \
(run experiments/gpu_check/fetch_wheels.sh where pip has network, and carry $WHEELS)"
  say "installing the carried wheels from $WHEELS/ into /tmp/gpu_check_site"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu_check_site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PYTHON" - <<'PY'
import torch, transformers, lightning
print(f"GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"lightning {lightning.__version__}")
PY

# ---- the router -----------------------------------------------------------------------------------
if [[ -n "${ROUTER_PATH:-}" ]]; then
  [[ -f "$ROUTER_PATH/config.json" ]] || fail "ROUTER_PATH=$ROUTER_PATH has no config.json"
  ROUTER=(router=qwen2_5_3b_instruct "router.path=$ROUTER_PATH" cold_start.steps=0 rollout.max_new_tokens=128)
else  # the tiny router scaled to ~80M parameters (12 layers x 768), with a short supervised cold start
  ROUTER=(router=tiny router.arch.hidden_size=768 router.arch.num_hidden_layers=12 router.arch.num_attention_heads=12
          router.arch.num_key_value_heads=4 router.arch.intermediate_size=2048 cold_start.steps=30
          cold_start.batch_size=32 cold_start.lr=3e-4 algo.lr=1e-5 rollout.max_new_tokens=48)
fi
COMMON=(trainer=gpu "trainer.max_steps=$STEPS" "trainer.val_check_interval=$STEPS" data.prompts_per_step=8
        data.dev_max=32 data.val_batch_size=32 evaluate_test=false rollout.group_size=8 algo.max_refill=1
        "${ROUTER[@]}")

say "rollout=hf on CUDA: $STEPS steps"
timeout "${HF_TIMEOUT:-270}" "$PYTHON" experiments/gpu_check/measure.py hf rollout=hf rollout.generate_batch_size=256 \
  rollout.micro_batch_size=32 "${COMMON[@]}" 2>&1 | tee /tmp/gpu_check_hf.log \
  || fail "rollout=hf run (see /tmp/gpu_check_hf.log; exit 124 = timed out)"

if "$PYTHON" -c "import vllm" 2>/dev/null; then
  say "rollout=vllm: $STEPS steps"
  timeout "${VLLM_TIMEOUT:-150}" "$PYTHON" experiments/gpu_check/measure.py vllm rollout=vllm rollout.max_seq_len=2048 \
    rollout.micro_batch_size=32 rollout.gpu_memory_utilization=0.3 "${COMMON[@]}" 2>&1 | tee /tmp/gpu_check_vllm.log \
    || fail "rollout=vllm run (see /tmp/gpu_check_vllm.log; exit 124 = timed out)"
else
  say "vLLM is not installed: rollout=vllm skipped"
fi

say "summary (one JSON line per backend)"
grep -h '^{"label"' /tmp/gpu_check_hf.log /tmp/gpu_check_vllm.log 2>/dev/null || true
