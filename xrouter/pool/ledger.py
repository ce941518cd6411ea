"""The cost ledger: one ``CallRecord`` per model call, with totals per episode and per run."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable


@dataclass
class CallRecord:
    """One call to a pool model (or to the router itself), successful or not."""

    model: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float
    latency_s: float
    attempts: int = 1
    error: str | None = None
    episode_id: str | None = None
    usage_estimated: bool = False
    kind: str = "tool"  # "tool" (a pool model) or "router" (the router's own tokens)


class CostLedger:
    """Accumulates call records; thread-safe appends; saved as JSONL beside a run's outputs."""

    def __init__(self, records: Iterable[CallRecord] = ()) -> None:
        self._records: list[CallRecord] = list(records)
        self._lock = threading.Lock()

    def record(self, record: CallRecord) -> CallRecord:
        with self._lock:
            self._records.append(record)
        return record

    @property
    def records(self) -> list[CallRecord]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def episode_records(self, episode_id: str) -> list[CallRecord]:
        return [r for r in self._records if r.episode_id == episode_id]

    def episode_cost(self, episode_id: str, include_router: bool = False) -> float:
        return sum(r.cost_usd for r in self._records
                   if r.episode_id == episode_id and (include_router or r.kind == "tool"))

    def totals(self) -> dict[str, Any]:
        """Run totals, overall and per model."""
        per_model: dict[str, dict[str, float]] = defaultdict(
            lambda: {"calls": 0, "errors": 0, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0}
        )
        for r in self._records:
            entry = per_model[r.model]
            entry["calls"] += 1
            entry["errors"] += int(r.error is not None)
            entry["cost_usd"] += r.cost_usd
            entry["input_tokens"] += r.input_tokens or 0
            entry["output_tokens"] += r.output_tokens or 0
        return {
            "calls": len(self._records),
            "errors": sum(int(r.error is not None) for r in self._records),
            "cost_usd": sum(r.cost_usd for r in self._records),
            "tool_cost_usd": sum(r.cost_usd for r in self._records if r.kind == "tool"),
            "router_cost_usd": sum(r.cost_usd for r in self._records if r.kind == "router"),
            "episodes": len({r.episode_id for r in self._records if r.episode_id is not None}),
            "per_model": dict(per_model),
        }

    def save(self, path: str | Path) -> Path:
        """Write every record as one JSON line (append-friendly, readable by pandas)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            for r in self._records:
                handle.write(json.dumps(asdict(r)) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "CostLedger":
        with open(path, encoding="utf-8") as handle:
            return cls(CallRecord(**json.loads(line)) for line in handle if line.strip())
