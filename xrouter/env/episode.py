"""Episode, turn and tool-call records: everything that happened in one routing episode."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# how an episode ended
FINAL_TEXT, SELECT, SIMPLE_CALL, TURN_LIMIT, LENGTH_LIMIT, ERROR = (
    "final_text",
    "select",
    "simple_call",
    "turn_limit",
    "length_limit",
    "error",
)


@dataclass
class ToolCallRecord:
    call_name: str
    model: str
    system_prompt: str
    temperature: float
    text: str | None = None
    cost_usd: float = 0.0
    latency_s: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    recorded_score: float | None = None
    error: str | None = None
    sub_query: str | None = None  # Router-R1's <search> sub-query (recorded; replayed models answer the query)
    attempts: int = 1  # HTTP tries, retries included


@dataclass
class Turn:
    index: int
    generated_text: str
    calls: list[ToolCallRecord] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    router_input_tokens: int = 0
    router_output_tokens: int = 0


@dataclass
class Episode:
    episode_id: str
    prompt_id: str
    example: dict[str, Any]
    messages: list[dict[str, Any]]
    turns: list[Turn] = field(default_factory=list)
    done: bool = False
    termination: str | None = None
    final_answer: str | None = None
    final_source: str | None = None  # "direct" or the call_<model> whose answer was returned
    score: float = 0.0
    score_reason: str = ""
    router_cost_usd: float = 0.0
    reward: dict[str, float] = field(default_factory=dict)

    @property
    def calls(self) -> list[ToolCallRecord]:
        return [c for t in self.turns for c in t.calls]

    @property
    def tool_cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)

    @property
    def n_malformed(self) -> int:
        return sum(len(t.malformed) for t in self.turns)

    @property
    def valid_final(self) -> bool:
        return self.termination in (FINAL_TEXT, SELECT, SIMPLE_CALL)

    @property
    def strategy(self) -> str:
        """direct (no calls), single (one model called), multi (several)."""
        called = {c.model for c in self.calls if c.error is None}
        return "direct" if not called else ("single" if len(called) == 1 else "multi")

    def summary(self) -> dict[str, Any]:
        """A flat row for episodes.parquet / logs."""
        return {
            "episode_id": self.episode_id,
            "prompt_id": self.prompt_id,
            "benchmark": self.example.get("benchmark"),
            "termination": self.termination,
            "final_source": self.final_source,
            "final_answer": self.final_answer,
            "score": self.score,
            "score_reason": self.score_reason,
            "tool_cost_usd": self.tool_cost_usd,
            "router_cost_usd": self.router_cost_usd,
            "turns": len(self.turns),
            "n_calls": len(self.calls),
            "models_called": [c.model for c in self.calls],
            "n_malformed": self.n_malformed,
            "strategy": self.strategy,
            **{f"reward_{k}": v for k, v in self.reward.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
