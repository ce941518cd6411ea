"""A few GRPO steps on a GPU, then the throughput numbers: tokens/s, episodes/s, s/step, peak memory.

    python experiments/gpu_check/measure.py <label> [train overrides ...]

Runs ``xrouter.train.run_train`` in this process on the given overrides (so that the peak GPU
memory of the whole run can be read afterwards), then reads ``metrics.csv``.  Per-step figures are
medians over the RL steps after the first (which includes CUDA/vLLM warm-up).  Prints a table
and, last, one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import pandas as pd
import torch


def summarize(metrics: pd.DataFrame) -> dict[str, float]:
    """Medians over RL steps after the first.  A step whose groups all had zero reward variance
    makes no update and logs only its rollout time: it counts in s/step (as its rollout time) but
    not in the throughput medians, which come from steps that updated."""
    rows = metrics.dropna(subset=["perf/rollout_s"]).sort_values("step")
    rows = rows.iloc[1:] if len(rows) > 1 else rows
    for column in ("perf/step_s", "perf/update_s", "perf/tokens_per_s", "perf/episodes_per_s"):
        if column not in rows:
            rows[column] = float("nan")
    updated = rows.dropna(subset=["perf/step_s"])
    return {
        "steps_measured": int(len(rows)),
        "steps_with_update": int(len(updated)),
        "s_per_step": float(rows["perf/step_s"].fillna(rows["perf/rollout_s"]).median()),
        "rollout_s_per_step": float(rows["perf/rollout_s"].median()),
        "update_s_per_step": float(updated["perf/update_s"].median()),
        "tokens_per_s": float(updated["perf/tokens_per_s"].median()),
        "episodes_per_s": float(updated["perf/episodes_per_s"].median()),
    }


def main(label: str, overrides: list[str]) -> dict[str, object]:
    from hydra import compose, initialize_config_dir

    import xrouter.config  # noqa: F401  (resolvers)
    from xrouter import CONF_DIR
    from xrouter.train import run_train

    on_gpu = torch.cuda.is_available()
    if not on_gpu and "trainer=cpu" not in overrides:  # trainer=cpu: a dry run of this script
        raise SystemExit("gpu_check needs a CUDA GPU (torch.cuda.is_available() is False)")
    out = tempfile.mkdtemp(prefix=f"gpu_check_{label}_")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*overrides, f"output_dir={out}"])
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = run_train(cfg)
    wall = time.perf_counter() - started
    metrics = pd.read_csv(f"{out}/metrics.csv")
    free, total = torch.cuda.mem_get_info() if on_gpu else (float("nan"), float("nan"))
    summary = {
        "label": label,
        "gpu": torch.cuda.get_device_name(0) if on_gpu else "cpu (dry run)",
        "torch": torch.__version__,
        **summarize(metrics),
        "global_step": result["global_step"],
        # the PyTorch allocator's peak (vLLM's own pool under sleep mode is not in it) and
        # the device's used memory at the end, all processes and pools included
        "peak_gpu_mem_gib_torch": torch.cuda.max_memory_allocated() / 2**30 if on_gpu else float("nan"),
        "gpu_mem_used_gib_at_end": (total - free) / 2**30,
        "wall_s": wall,
        "output_dir": out,
    }
    print(f"\n== gpu_check {label} on {summary['gpu']} ==")
    for key in (
        "s_per_step",
        "rollout_s_per_step",
        "update_s_per_step",
        "tokens_per_s",
        "episodes_per_s",
        "peak_gpu_mem_gib_torch",
        "gpu_mem_used_gib_at_end",
        "wall_s",
    ):
        print(f"  {key:24s} {summary[key]:.3f}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
