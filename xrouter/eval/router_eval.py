"""Greedy evaluation of a router over examples: episodes.parquet + summary.json, and the printed
comparison with every single model and the oracle (from the replay traces)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from xrouter.eval.summary import summarize_episodes
from xrouter.rollout.hf import SamplingConfig


def evaluate_router(loop, examples: Sequence[dict[str, Any]], out_dir: Path, max_new_tokens: int,
                    batch_size: int = 256) -> dict[str, Any]:
    """Run the router greedily once per example; write ``episodes.parquet`` and ``summary.json``."""
    greedy = SamplingConfig(max_new_tokens=max_new_tokens, do_sample=False)
    episodes = []
    for start in range(0, len(examples), batch_size):
        batch = loop.run(list(examples[start:start + batch_size]), 1, greedy, episode_prefix=f"test{start}")
        episodes.extend(batch.episodes)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [e.summary() for e in episodes]
    pd.DataFrame(rows).to_parquet(out_dir / "episodes.parquet", index=False)
    summary = summarize_episodes(episodes)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def print_comparison(summary: dict[str, Any], cfg, data_dir: Path, cache_dir: Path) -> None:
    """The router beside single models and the oracle on the same prompts (replay pools only)."""
    print(f"\ntrained router on {cfg.benchmark.name} {cfg.data.test_split}: accuracy {summary['accuracy']:.4f}  "
          f"cost/query ${summary['cost_per_query']:.4e}  calls/query {summary['calls_per_query']:.2f}  "
          f"direct {summary['direct_answer_rate']:.2f}  (n={summary['n']})")
    if cfg.pool.get("kind") != "replay":
        return
    from xrouter.build import load_pool_traces
    from xrouter.data.datasets import select_split
    from xrouter.data.stats import format_table, trace_stats
    from xrouter.data.traces import complete_prompts

    traces, _ = complete_prompts(select_split(load_pool_traces(str(cfg.pool.traces), data_dir, cache_dir),
                                              cfg.data.test_split))
    print(format_table(trace_stats(traces)))
    print(f"{'xrouter (this run)':40s} {summary['accuracy']:9.4f} {summary['cost_per_query']:11.4e}")
