"""The cost ledger: one ``CallRecord`` per model call (never a negative cost), with totals per episode and per run."""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


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
    cached: bool = False  # answered from the pool's response cache: nothing paid (saved_usd: what a call costs)
    saved_usd: float = 0.0

    @classmethod
    def paid(cls, model: str, completion: Any, episode_id: str | None) -> CallRecord:
        """The record of a call that ``completion`` (a pool ``Completion``) answered and that was paid for."""
        return cls(
            model=model,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=completion.cost_usd,
            latency_s=completion.latency_s,
            attempts=completion.attempts,
            episode_id=episode_id,
            usage_estimated=completion.usage_estimated,
        )

    def __post_init__(self) -> None:
        """A record never books negative or non-finite money, nor negative token counts."""
        cost = self.cost_usd
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
            raise ValueError(f"{self.model}: cost_usd must be a finite number >= 0, got {cost!r}")
        for name in ("input_tokens", "output_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value >= 0):
                raise ValueError(f"{self.model}: {name} must be null or >= 0, got {value!r}")


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
        return sum(
            r.cost_usd for r in self._records if r.episode_id == episode_id and (include_router or r.kind == "tool")
        )

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
    def load(cls, path: str | Path) -> CostLedger:
        with open(path, encoding="utf-8") as handle:
            return cls(CallRecord(**json.loads(line)) for line in handle if line.strip())
