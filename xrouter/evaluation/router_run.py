"""Greedy evaluation of a router over examples: a run directory (episodes.parquet + summary.json
[+ config.yaml]), and the printed comparison with every single model and the oracle (from the
replay traces)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xrouter.evaluation.runfiles import RunDir, episode_bar, episode_row, fingerprint
from xrouter.rollout.hf import SamplingConfig

log = logging.getLogger(__name__)
EVAL_BATCH_SIZE = 256  # episodes per greedy generate batch (and per append to episodes.jsonl)


def evaluate_router(
    loop,
    examples: Sequence[dict[str, Any]],
    out_dir: Path,
    max_new_tokens: int,
    batch_size: int = EVAL_BATCH_SIZE,
    *,
    policy: str = "router",
    label: str | None = None,
    knob: Mapping[str, Any] | None = None,
    benchmark: str | None = None,
    pool: str | None = None,
    split: str | None = None,
    config_yaml: str | None = None,
    resume: bool = False,
    progress: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the router greedily once per example; write the run files of the run-file contract
    (``analysis/__init__.py``): ``episodes.parquet``, ``summary.json`` (figures, the identity
    fields given here and ``per_benchmark``) and, when given, ``config.yaml``.

    Episodes are appended to ``episodes.jsonl`` batch by batch; with ``resume`` a rerun into the
    same directory skips the prompt ids already there (otherwise the directory starts afresh).
    Generation is greedy, so a resumed run takes the same actions as an uninterrupted one
    (episode ids are ``eval<offset>-<i>-0`` by batch and may differ).  Returns the summary."""
    greedy = SamplingConfig(max_new_tokens=max_new_tokens, do_sample=False)
    identity = {
        "policy": policy,
        "label": label or policy,
        "knob": dict(knob or {}),
        "benchmark": benchmark,
        "pool": pool,
        "split": split,
    }
    key = fingerprint({**identity, "max_new_tokens": max_new_tokens, "n": len(examples)})
    run = RunDir(out_dir, key, overwrite=not resume)
    done = run.done()
    todo = [e for e in examples if str(e["prompt_id"]) not in done]
    if done:
        log.info(
            "%s: %d of %d episodes already done; running %d",
            out_dir,
            len(examples) - len(todo),
            len(examples),
            len(todo),
        )
    bar = episode_bar(len(examples), len(examples) - len(todo), identity["label"], progress)
    offset = len(examples) - len(todo)
    for start in range(0, len(todo), batch_size):
        batch = loop.run(list(todo[start : start + batch_size]), 1, greedy, episode_prefix=f"eval{offset + start}")
        run.append(episode_row(e) for e in batch.episodes)
        if bar is not None:
            bar.update(len(batch.episodes))
    if bar is not None:
        bar.close()
    return run.finalize([str(e["prompt_id"]) for e in examples], identity, config_yaml, **dict(extra or {}))


def print_comparison(
    summary: dict[str, Any],
    cfg,
    data_dir: Path,
    cache_dir: Path,
    split: str | None = None,
    name: str = "trained router",
) -> None:
    """The router beside single models and the oracle on the same prompts (replay pools only)."""
    split = split or cfg.data.test_split
    print(
        f"\n{name} on {cfg.benchmark.name} {split}: accuracy {summary['accuracy']:.4f}  "
        f"cost/query ${summary['cost_per_query']:.4e}  calls/query {summary['calls_per_query']:.2f}  "
        f"direct {summary['direct_answer_rate']:.2f}  (n={summary['n']})"
    )
    if cfg.pool.get("kind") != "replay":
        return
    from xrouter.config import to_plain
    from xrouter.data.datasets import pool_traces, select_split
    from xrouter.data.stats import format_table, trace_stats
    from xrouter.data.trace_examples import trace_model_ids
    from xrouter.data.traces import complete_prompts

    models = trace_model_ids(to_plain(cfg.pool.get("models"))) or None  # the pool's models, not every traced one
    traces, _ = complete_prompts(select_split(pool_traces(to_plain(cfg.pool), data_dir, cache_dir), split), models)
    print(format_table(trace_stats(traces)))
    print(f"{name + ' (this run)':40s} {summary['accuracy']:9.4f} {summary['cost_per_query']:11.4e}")
