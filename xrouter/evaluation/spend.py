"""What a training run spent on model calls, by phase, beside what a full table of answers would cost.

Against live APIs every call the run makes is paid for: the cold start's scripted calls (none for the
format-only cold start of ``experiment=rl_only``), RL's rollouts, and the validations on the dev slice.
``SpendMeter`` reads the run's ledger at phase boundaries; ``full_table_cost`` is what a teacher's table
(every pool model's answer to every training prompt) costs at the same prices, from the replay traces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrouter.pool.ledger import CostLedger


@dataclass
class SpendMeter:
    """Tool-call spend of a ledger per named phase (``mark(phase)`` closes the phase that ran since the last mark)."""

    ledger: CostLedger
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    _seen: int = 0

    def __post_init__(self) -> None:
        self._seen = len(self.ledger)

    def mark(self, phase: str, split_by_prefix: Mapping[str, str] | None = None) -> None:
        """Book the records since the last mark under ``phase``; ``split_by_prefix`` ``{episode-id prefix:
        phase}`` books matching records under that phase instead (validation episodes inside ``fit``)."""
        records = self.ledger.records[self._seen :]
        self._seen += len(records)
        for record in records:
            if record.kind != "tool":
                continue
            name = phase
            for prefix, other in (split_by_prefix or {}).items():
                if (record.episode_id or "").startswith(prefix):
                    name = other
                    break
            entry = self.phases.setdefault(name, {"calls": 0, "cost_usd": 0.0, "cached_calls": 0, "saved_usd": 0.0})
            entry["calls"] += 1
            entry["cost_usd"] += record.cost_usd
            entry["cached_calls"] += int(record.cached)
            entry["saved_usd"] += record.saved_usd

    def report(self, training_phases: Sequence[str], full_table_usd: float | None) -> dict[str, Any]:
        """Per phase, the training spend (the phases that teach the router) and the full table's cost."""
        training = sum(self.phases.get(p, {}).get("cost_usd", 0.0) for p in training_phases)
        return {
            "phases": dict(self.phases),
            "training_usd": training,
            "training_calls": sum(int(self.phases.get(p, {}).get("calls", 0)) for p in training_phases),
            "training_cached_calls": sum(int(self.phases.get(p, {}).get("cached_calls", 0)) for p in training_phases),
            "training_usd_without_cache": training
            + sum(self.phases.get(p, {}).get("saved_usd", 0.0) for p in training_phases),
            "all_usd": sum(v["cost_usd"] for v in self.phases.values()),
            "full_table_usd": full_table_usd,
            "training_share_of_full_table": (training / full_table_usd) if full_table_usd else None,
        }


def full_table_cost(
    pool_cfg: Mapping[str, Any], prompt_ids: Sequence[str], data_dir: Path, cache_dir: Path | None
) -> float | None:
    """USD of every pool model's recorded answer to every prompt of ``prompt_ids`` (replay pools; else None).
    Reads the traces' costs only, never their scores: it is accounting, not something a router learns from."""
    if pool_cfg.get("kind") != "replay" or not prompt_ids:
        return None
    from xrouter.data.datasets import pool_traces
    from xrouter.policies.table import pool_trace_models

    traces = pool_traces(pool_cfg, data_dir, cache_dir)[["prompt_id", "model", "cost_usd"]]
    models = set(pool_trace_models(pool_cfg, traces).values())
    rows = traces[traces["model"].isin(models) & traces["prompt_id"].isin(set(map(str, prompt_ids)))]
    return float(rows["cost_usd"].sum())


def format_spend(spend: Mapping[str, Any]) -> str:
    """One line for the end of a training run."""
    full = spend.get("full_table_usd")
    phases = "  ".join(f"{name} ${v['cost_usd']:.4f} ({int(v['calls'])} calls)" for name, v in spend["phases"].items())
    line = f"training spend ${spend['training_usd']:.4f} ({spend['training_calls']} calls"
    if spend.get("training_cached_calls"):
        line += (
            f", {spend['training_cached_calls']} answered from the response cache; "
            f"${spend['training_usd_without_cache']:.4f} without it"
        )
    line += ")"
    if full:
        line += f"; the full table a teacher needs: ${full:.4f} ({spend['training_usd'] / full:.0%} of it)"
    return f"{line}\n  by phase: {phases or 'none'}"
