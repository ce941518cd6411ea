"""``python -m xrouter.evaluate policy=<p> pool=<pool> benchmark=<b> split=<s> output_dir=<dir>``.

Runs one policy over one benchmark split and writes a run directory (the run-file contract of
``analysis/__init__.py``): ``episodes.parquet`` (one row per episode), ``summary.json`` (figures,
the run's identity, ``per_benchmark``) and ``config.yaml``.  Policies (``conf/policy/``): the
trained ``router`` and ``router_prompted`` (greedy, through the agent loop), and the baselines
``single``, ``random``, ``cheapest``, ``oracle``, ``best_fixed_per_task``, ``knn``, ``mlp``,
``cascade``, ``threshold`` (``xrouter/policies``).  ``sweep=default`` (or a list) runs a
baseline once per value of its knob, one run directory each, plus ``sweep.json``.
``split=dev`` (router policies) is the seeded dev slice of ``seed=<the training run's seed>``.
Deterministic (seeded; greedy router), resumable (a rerun into the same output_dir skips finished
episodes), with a progress bar.  The last line printed is the summary as JSON.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from xrouter import CONF_DIR
from xrouter.config import data_dir_of, one_line_errors, output_dir_of, quiet_logs, require

log = logging.getLogger(__name__)


def run_evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.policy``; returns the summary (a sweep: the curve report)."""
    from xrouter.build import build_pool, load_examples
    from xrouter.policies import ROUTER_POLICIES
    from xrouter.reward.units import resolve_cost_unit

    quiet_logs()
    check_evaluate_config(cfg)
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg.threads))
    output_dir = output_dir_of(cfg)
    data_dir, cache_dir = data_dir_of(cfg), Path(cfg.paths.cache_dir)
    pool = build_pool(cfg.pool, data_dir, cache_dir)
    resolve_cost_unit(cfg, pool.price_pairs())
    examples = (
        dev_examples(cfg, data_dir, cache_dir)
        if cfg.split == "dev"
        else load_examples(cfg, cfg.split, cfg.get("limit"))
    )
    if not examples:
        raise ValueError(f"benchmark {cfg.benchmark.name} split {cfg.split} has no examples")
    if cfg.policy.name in ROUTER_POLICIES:
        summary = build_and_evaluate_router(cfg, pool, examples, output_dir)
    else:
        from xrouter.evaluation.baseline_policy import evaluate_baseline

        summary = evaluate_baseline(cfg, pool, examples, output_dir, data_dir, cache_dir)
    print_summary(summary, output_dir)
    return summary


def dev_examples(cfg: DictConfig, data_dir: Path, cache_dir: Path) -> list[dict[str, Any]]:
    """``split=dev``: the seeded slice of the train split that ``xrouter.train seed=<seed>`` validates on and
    does not train on (``data.dev_fraction``), for choosing a router's settings without touching test."""
    from xrouter.build import train_and_dev
    from xrouter.policies import ROUTER_POLICIES

    if cfg.policy.name not in ROUTER_POLICIES:
        raise ValueError(
            "split=dev is the slice of the train split a training run holds out; "
            f"policy={cfg.policy.name} is fitted on the whole train split, dev included, so its dev "
            "score would be seen data: score baselines on dev with experiments/seed_systems/tune_dev.py "
            "(it fits on train minus dev)"
        )
    dev = train_and_dev(cfg, data_dir, cache_dir)[1]
    if not dev:
        raise ValueError(f"split=dev is empty: data.dev_fraction={cfg.data.dev_fraction} carves no dev slice")
    return dev[: cfg.limit] if cfg.get("limit") else dev


def build_and_evaluate_router(
    cfg: DictConfig, pool, examples: list[dict[str, Any]], output_dir: Path
) -> dict[str, Any]:
    """A router policy: the weights and settings it means, built by ``build_run``, run greedily."""
    from xrouter.build import build_run
    from xrouter.evaluation.router_policy import evaluate_router_policy, router_choice

    path, settings = router_choice(cfg, pool.names)
    run = build_run(cfg, device=device_of(cfg), pool=pool, router_path=path, settings=settings)
    try:
        return evaluate_router_policy(cfg, run, examples, output_dir, path or run.settings.initial_router)
    finally:
        run.close()


def check_evaluate_config(cfg: DictConfig) -> None:
    """Fail before any work, with one line naming the key and its allowed values."""
    require(cfg, "batch_size", int, lambda v: v > 0, "a positive integer (episodes per chunk)")
    if cfg.get("limit") is not None:
        require(cfg, "limit", int, lambda v: v > 0, "a positive integer (the first N examples), or null for all")
    if cfg.policy.get("batch_size") is not None:
        require(cfg, "policy.batch_size", int, lambda v: v > 0, "a positive integer, or null")
    if cfg.get("threads") is not None:
        require(cfg, "threads", int, lambda v: v > 0, "a positive integer, or null")


def device_of(cfg: DictConfig) -> str:
    """``cfg.device``; ``auto``: CUDA when there is one."""
    wanted = str(cfg.get("device") or "auto")
    if wanted != "auto":
        return wanted
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def print_summary(summary: dict[str, Any], output_dir: Path) -> None:
    if "points" in summary:  # a sweep
        print(f"{summary['policy']} sweep over {summary['knob_name']}: {len(summary['points'])} runs in {output_dir}")
        for p in summary["points"]:
            print(f"  {p['label']:40s} accuracy {p['accuracy']:.4f}  cost/query ${p['cost_per_query']:.4e}")
        print(
            f"  AIQ {summary['aiq']:.4f}"
            + (
                f"  (on the single models' cost range: "
                f"{summary['aiq_single_model_range']:.4f}"
                f", zero router {summary['zero_router_aiq']:.4f})"
                if "aiq_single_model_range" in summary
                else ""
            )
        )
    else:
        print(
            f"{summary['label']} on {summary['benchmark']} {summary['split']} (n={summary['n']}): accuracy "
            f"{summary['accuracy']:.4f}  cost/query ${summary['cost_per_query']:.4e}  calls/query "
            f"{summary['calls_per_query']:.2f}  -> {output_dir}"
        )
    print(json.dumps(summary, default=str))


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")
@one_line_errors
def main(cfg: DictConfig) -> None:
    run_evaluate(cfg)


if __name__ == "__main__":
    main()
