"""Summaries of routing episodes: accuracy, cost, reward, call shares, direct-answer rate."""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from xrouter.env.episode import Episode


def summarize_episodes(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Per-run figures; ``model_share`` is each model's share of all tool calls."""
    n = len(episodes)
    if n == 0:
        return {"n": 0}
    calls = Counter(c.model for e in episodes for c in e.calls)
    n_calls = sum(calls.values())
    total_cost = sum(e.tool_cost_usd for e in episodes)
    correct = sum(e.score for e in episodes)
    return {
        "n": n,
        "accuracy": correct / n,
        "cost_per_query": total_cost / n,
        "total_cost_usd": total_cost,
        "cost_per_correct": total_cost / correct if correct else float("inf"),
        "router_cost_per_query": sum(e.router_cost_usd for e in episodes) / n,
        "reward": sum(e.reward.get("total", 0.0) for e in episodes) / n,
        "calls_per_query": n_calls / n,
        "direct_answer_rate": sum(e.final_source == "direct" for e in episodes) / n,
        "valid_final_rate": sum(e.valid_final for e in episodes) / n,
        "malformed_per_query": sum(e.n_malformed for e in episodes) / n,
        "turns_per_query": sum(len(e.turns) for e in episodes) / n,
        "model_share": {m: c / n_calls for m, c in sorted(calls.items())} if n_calls else {},
        "terminations": dict(Counter(e.termination for e in episodes)),
    }
