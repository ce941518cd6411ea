"""Training on a GPU (skipped without CUDA): the same agent loop with rollout=hf in bf16 (batched
generate, micro-batched training forwards), and rollout=vllm where vLLM is installed.  A few
steps of the tiny router on the RouterBench replay pool: the run finishes, the parameters move and
throughput is logged."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
import torch

from tests.conftest import compose
from xrouter.router.model_loader import load_router
from xrouter.train import run_train

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

SMALL = [
    "trainer=gpu",
    "trainer.max_steps=3",
    "trainer.val_check_interval=3",
    "cold_start.steps=20",
    "data.prompts_per_step=4",
    "rollout.group_size=4",
    "data.dev_max=16",
    "data.test_max=16",
    "rollout.max_new_tokens=24",
]


def check_run(out, result):
    assert result["global_step"] == 3
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["perf/tokens_per_s"].dropna().gt(0).any()
    trained, _ = load_router(out / "router")
    initial, _ = load_router(result["initial_router"])
    assert any(not torch.equal(p, q) for p, q in zip(trained.parameters(), initial.parameters()))


def test_rollout_hf_on_cuda_bf16(tmp_path):
    torch.cuda.reset_peak_memory_stats()
    result = run_train(compose("train", SMALL + ["rollout=hf", f"output_dir={tmp_path}"]))
    check_run(tmp_path, result)
    assert torch.cuda.max_memory_allocated() > 0  # it ran on the GPU


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm (pip install -e '.[gpu]')")
def test_rollout_vllm_trains(tmp_path):
    result = run_train(
        compose(
            "train",
            SMALL
            + [
                "rollout=vllm",
                "rollout.max_seq_len=1024",
                "rollout.max_new_tokens=24",
                "rollout.micro_batch_size=16",
                "rollout.gpu_memory_utilization=0.3",
                "rollout.enforce_eager=true",
                f"output_dir={tmp_path}",
            ],
        )
    )
    check_run(tmp_path, result)
