"""``ModelPool``: model name -> endpoint + model card; every call is charged to the cost ledger.

Model cards (price, context length, strengths) become the tool descriptions the router sees.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from xrouter.pool.base import Completion, Endpoint, EndpointError, Message
from xrouter.pool.ledger import CallRecord, CostLedger
from xrouter.pool.pricing import Price

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,59}$")  # OpenAI tool names: 64 chars incl. "call_"


class UnknownModelError(KeyError):
    """A call named a model that is not in the pool."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelCard:
    """What the router is told about a pool model."""

    name: str
    price: Price
    context_tokens: int | None = None
    strengths: str = ""

    def __post_init__(self) -> None:
        if not TOOL_NAME_PATTERN.match(self.name):
            raise ValueError(
                f"pool model name {self.name!r} cannot become a tool name; use letters, digits, '_' or '-' "
                "(at most 59 characters) and map it to the provider's id with api_model / trace_model"
            )

    @property
    def tool_name(self) -> str:
        return f"call_{self.name}"

    def description(self) -> str:
        parts = [f"Call {self.name}.",
                 f"Price: ${self.price.input_per_mtok:g} per 1M input tokens, "
                 f"${self.price.output_per_mtok:g} per 1M output tokens."]
        if self.context_tokens:
            parts.append(f"Context: {self.context_tokens} tokens.")
        if self.strengths:
            parts.append(f"Strengths: {self.strengths}")
        return " ".join(parts)

    def tool_schema(self) -> dict[str, Any]:
        """OpenAI function-tool schema for ``call_<name>``."""
        return {
            "type": "function",
            "function": {
                "name": self.tool_name,
                "description": self.description(),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "optimized_system_prompt": {
                            "type": "string",
                            "description": "System prompt for this model; it sees this and the user's query only.",
                        },
                        "temperature": {"type": "number", "description": "Sampling temperature, 0 to 1."},
                    },
                    "required": ["optimized_system_prompt"],
                },
            },
        }


class ModelPool:
    """Named endpoints with cards; ``await pool.call(name, messages, ...)`` records every call."""

    def __init__(self, endpoints: Mapping[str, Endpoint], cards: Mapping[str, ModelCard],
                 ledger: CostLedger | None = None) -> None:
        if set(endpoints) != set(cards):
            raise ValueError(f"endpoints {sorted(endpoints)} and cards {sorted(cards)} name different models")
        self.endpoints = dict(endpoints)
        self.cards = dict(cards)
        self.ledger = ledger if ledger is not None else CostLedger()

    @property
    def names(self) -> list[str]:
        return list(self.cards)

    def __contains__(self, name: str) -> bool:
        return name in self.cards

    def endpoint(self, name: str) -> Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            raise UnknownModelError(f"unknown model '{name}'; this pool has: {', '.join(self.names)}") from None

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [card.tool_schema() for card in self.cards.values()]

    def cheapest(self) -> str:
        """The model with the lowest output price (ties: lowest input price, then pool order)."""
        return min(self.names, key=lambda n: (self.cards[n].price.output_per_mtok, self.cards[n].price.input_per_mtok))

    async def call(self, name: str, messages: Sequence[Message], temperature: float = 0.0,
                   max_tokens: int | None = None, *, prompt_id: str | None = None,
                   episode_id: str | None = None) -> Completion:
        """Call one model; the call lands in the ledger whether it succeeds or fails."""
        endpoint = self.endpoint(name)
        started = time.perf_counter()
        try:
            completion = await endpoint.complete(messages, temperature, max_tokens, prompt_id=prompt_id)
        except EndpointError as error:
            self.ledger.record(CallRecord(model=name, input_tokens=None, output_tokens=None, cost_usd=0.0,
                                          latency_s=error.latency_s or time.perf_counter() - started,
                                          attempts=error.attempts, error=error.reason, episode_id=episode_id))
            raise
        self.ledger.record(CallRecord(model=name, input_tokens=completion.input_tokens,
                                      output_tokens=completion.output_tokens, cost_usd=completion.cost_usd,
                                      latency_s=completion.latency_s, attempts=completion.attempts,
                                      episode_id=episode_id, usage_estimated=completion.usage_estimated))
        return completion
