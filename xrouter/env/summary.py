"""Summaries of routing episodes: accuracy, cost, reward, call shares, direct-answer rate.

``summarize_episodes`` takes ``Episode`` objects (training and validation use it);
``summarize_rows`` takes the rows of ``episodes.parquet`` (one per episode, the columns of
``Episode.summary()``) and gives the same figures, plus ``latency_per_query`` and ``per_benchmark``
when the rows carry them; ``run_summary`` adds a run's identity (the run-file contract in
``analysis/__init__.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from xrouter.env.episode import FINAL_TEXT, SELECT, SIMPLE_CALL, Episode

IDENTITY_KEYS = ("policy", "label", "knob", "benchmark", "pool", "split")


def summarize_episodes(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Per-run figures; ``model_share`` is each model's share of all tool calls."""
    return summarize_rows([e.summary() for e in episodes])


def _records(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)


def summarize_rows(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``summarize_episodes`` from episode rows (``Episode.summary()`` dicts or episodes.parquet),
    summed in row order, plus ``latency_per_query`` (when rows have ``latency_s``)."""
    records = _records(rows)
    n = len(records)
    if n == 0:
        return {"n": 0}
    calls = Counter(m for r in records for m in list(r["models_called"]))
    n_calls = sum(calls.values())
    total_cost = sum(float(r["tool_cost_usd"]) for r in records)
    correct = sum(float(r["score"]) for r in records)
    summary = {
        "n": n,
        "accuracy": correct / n,
        "cost_per_query": total_cost / n,
        "total_cost_usd": total_cost,
        "cost_per_correct": total_cost / correct if correct else float("inf"),
        "router_cost_per_query": sum(float(r["router_cost_usd"]) for r in records) / n,
        "reward": sum(float(r.get("reward_total", 0.0) or 0.0) for r in records) / n,
        "calls_per_query": n_calls / n,
        "direct_answer_rate": sum(r["final_source"] == "direct" for r in records) / n,
        "valid_final_rate": sum(r["termination"] in (FINAL_TEXT, SELECT, SIMPLE_CALL) for r in records) / n,
        "malformed_per_query": sum(int(r["n_malformed"]) for r in records) / n,
        "malformed_rate": sum(int(r["n_malformed"]) > 0 for r in records) / n,  # episodes with any malformed turn
        "turns_per_query": sum(int(r["turns"]) for r in records) / n,
        "model_share": {m: c / n_calls for m, c in sorted(calls.items())} if n_calls else {},
        "terminations": dict(Counter(r["termination"] for r in records)),
    }
    if all("latency_s" in r for r in records):
        summary["latency_per_query"] = sum(float(r["latency_s"]) for r in records) / n
    return summary


def per_benchmark(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{sub-benchmark: {n, accuracy, cost_per_query, model_share}}`` over the rows' ``benchmark``."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in _records(rows):
        groups.setdefault(str(r.get("benchmark")), []).append(r)
    out = {}
    for name in sorted(groups):
        s = summarize_rows(groups[name])
        out[name] = {k: s[k] for k in ("n", "accuracy", "cost_per_query", "model_share")}
    return out


def run_summary(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], identity: Mapping[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """The ``summary.json`` of a run: identity (policy, label, knob, benchmark, pool, split),
    the figures of ``summarize_rows``, ``per_benchmark``, then ``extra``."""
    identity = dict(identity or {})
    head = {k: identity.pop(k, None) for k in IDENTITY_KEYS}
    if head["knob"] is None:
        head["knob"] = {}
    return {**head, **identity, **summarize_rows(rows), "per_benchmark": per_benchmark(rows), **extra}
