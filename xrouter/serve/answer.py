"""What one served request produced: its answer, the episode behind it, where its time went, and the metadata
(``xrouter.routing``, calls, costs, fallbacks) that the HTTP response and the decision log carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xrouter.env.episode import Episode, ToolCallRecord
from xrouter.serve.protocol import Limits


@dataclass
class Timing:
    """Where a request's time went (seconds): waiting for router turns, in env steps (pool calls)."""

    router_s: float = 0.0
    pool_s: float = 0.0
    body_s: float = 0.0  # reading the request body (the handler starts when the headers are in)
    encoder_s: float = 0.0  # embedding the query (prefix routers)


@dataclass
class ServedAnswer:
    """The outcome of one request: the answer (None when nothing could be obtained) and its record."""

    text: str | None
    episode: Episode
    limits: Limits
    fallback: dict[str, Any] | None = None
    fallback_call: ToolCallRecord | None = None
    timing: Timing = field(default_factory=Timing)
    key: str | None = None  # the API key's name (budgets, decision log)

    @property
    def calls(self) -> list[ToolCallRecord]:
        return self.episode.calls + ([self.fallback_call] if self.fallback_call else [])

    @property
    def tools_cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)

    @property
    def total_cost_usd(self) -> float:
        return self.tools_cost_usd + self.episode.router_cost_usd

    @property
    def strategy(self) -> str:
        """direct (no successful call), single (one model), multi (several): ``Episode.strategy``'s rule."""
        called = {c.model for c in self.calls if c.error is None and c.text is not None}
        return "direct" if not called else ("single" if len(called) == 1 else "multi")

    def routing(self) -> dict[str, Any]:
        """The cost weight the router was told and where it came from (with the target's expected cost and accuracy)."""
        lam = self.episode.example.get("lam")
        chosen = self.limits.chosen
        if chosen is not None:
            return {
                "lam": lam,
                "from": "max_cost_per_query",
                "max_cost_per_query": self.limits.max_cost_per_query,
                "expected_cost_per_query": chosen["cost_per_query"],
                "expected_accuracy": chosen["accuracy"],
                "within_target": chosen["within_target"],
                "calibration": "the router's dev curve",
            }
        return {
            "lam": lam,
            "from": "request or server default" if lam is not None else "the router (not lambda-conditioned)",
        }

    def usage(self) -> dict[str, int]:
        """OpenAI usage over the router's tokens and every pool call's."""
        prompt = sum(t.router_input_tokens for t in self.episode.turns) + sum(c.input_tokens or 0 for c in self.calls)
        completion = sum(t.router_output_tokens for t in self.episode.turns) + sum(
            c.output_tokens or 0 for c in self.calls
        )
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def metadata(self, server_s: float | None = None) -> dict[str, Any]:
        """The response's ``xrouter`` object."""
        episode = self.episode
        turn_of = {id(c): t.index for t in episode.turns for c in t.calls}
        calls = [
            {
                "model": c.model,
                "call_name": c.call_name,
                "turn": turn_of.get(id(c)),
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "cost_usd": c.cost_usd,
                "latency_s": c.latency_s,
                "attempts": c.attempts,
                "error": c.error if c.error else (None if c.text is not None else "cancelled"),
                "fallback": c is self.fallback_call,
            }
            for c in self.calls
        ]
        timing = {
            "body_ms": self.timing.body_s * 1e3,
            "encoder_ms": self.timing.encoder_s * 1e3,
            "router_ms": self.timing.router_s * 1e3,
            "pool_ms": self.timing.pool_s * 1e3,
        }
        if server_s is not None:
            timing["server_ms"] = server_s * 1e3
            busy = self.timing.body_s + self.timing.encoder_s + self.timing.router_s + self.timing.pool_s
            timing["overhead_ms"] = max(0.0, server_s - busy) * 1e3
        return {
            "total_cost_usd": self.total_cost_usd,
            "router_cost_usd": episode.router_cost_usd,
            "tools_cost_usd": self.tools_cost_usd,
            "calls": calls,
            "strategy": self.strategy,
            "turns": len(episode.turns),
            "termination": episode.termination,
            "answer_source": episode.final_source if self.fallback is None else self.fallback.get("source"),
            "fallback": self.fallback,
            "malformed_turns": episode.n_malformed,
            "limits": self.limits.as_dict(),
            "routing": self.routing(),
            "router_tokens": {
                "input": sum(t.router_input_tokens for t in episode.turns),
                "output": sum(t.router_output_tokens for t in episode.turns),
            },
            "timing": timing,
        }
