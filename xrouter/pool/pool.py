"""``ModelPool``: model name -> endpoint + model card; every call is charged to the cost ledger.

Model cards (price, context length, strengths) become the tool descriptions the router sees.  With
``cache_calls`` a deterministic call (temperature 0) that repeats an earlier one (same model, prompt id or
messages, max_tokens) is answered with the earlier completion and booked at cost 0 (``cached``, with what
it would have cost as ``saved_usd``): RL samples the same (prompt, model) pair many times, and against a
live API each repeat would be paid again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import numbers
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xrouter.pool.base import Completion, Endpoint, EndpointError, Message
from xrouter.pool.ledger import CallRecord, CostLedger
from xrouter.pool.pricing import Price

CANCELLED = "cancelled"  # the error of a call whose caller gave up on it (a timeout, a client gone)
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
        parts = [
            f"Call {self.name}.",
            f"Price: ${self.price.input_per_mtok:g} per 1M input tokens, "
            f"${self.price.output_per_mtok:g} per 1M output tokens.",
        ]
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

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        cards: Mapping[str, ModelCard],
        ledger: CostLedger | None = None,
        cache_calls: bool = False,
    ) -> None:
        if set(endpoints) != set(cards):
            raise ValueError(f"endpoints {sorted(endpoints)} and cards {sorted(cards)} name different models")
        self.endpoints = dict(endpoints)
        self.cards = dict(cards)
        self.ledger = ledger if ledger is not None else CostLedger()
        self._cache: dict[tuple, Completion] | None = {} if cache_calls else None

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

    def price_pairs(self) -> list[tuple[float, float]]:
        """(input, output) USD per 1M tokens of every model, in pool order."""
        return [(self.cards[n].price.input_per_mtok, self.cards[n].price.output_per_mtok) for n in self.names]

    async def call(
        self,
        name: str,
        messages: Sequence[Message],
        temperature: float = 0.0,
        max_tokens: int | None = None,
        *,
        prompt_id: str | None = None,
        episode_id: str | None = None,
    ) -> Completion:
        """Call one model; every call is exactly one ledger record, whatever happens.

        A failure of any kind is recorded with cost 0 and raised as an ``EndpointError`` (an endpoint's
        unexpected exception too, chained; a completion with a negative, infinite or non-numeric
        cost or token count is such a failure); a cancelled call (a request timeout, a client gone)
        is recorded with ``error="cancelled"`` and the cancellation propagates."""
        endpoint = self.endpoint(name)
        key = None
        if self._cache is not None and temperature == 0:
            request = (
                prompt_id
                if prompt_id is not None
                else hashlib.sha256(json.dumps(list(messages), sort_keys=True, default=str).encode()).hexdigest()
            )
            key = (name, request, max_tokens)
            cached = self._cache.get(key)
            if cached is not None:
                self.ledger.record(
                    CallRecord(
                        model=name,
                        input_tokens=cached.input_tokens,
                        output_tokens=cached.output_tokens,
                        cost_usd=0.0,
                        latency_s=0.0,
                        episode_id=episode_id,
                        cached=True,
                        saved_usd=cached.cost_usd,
                    )
                )
                return cached
        started = time.perf_counter()

        def failed(reason: str, attempts: int = 1, latency_s: float | None = None) -> None:
            self.ledger.record(
                CallRecord(
                    model=name,
                    input_tokens=None,
                    output_tokens=None,
                    cost_usd=0.0,
                    latency_s=latency_s or time.perf_counter() - started,
                    attempts=attempts,
                    error=reason,
                    episode_id=episode_id,
                )
            )

        try:
            completion = await endpoint.complete(messages, temperature, max_tokens, prompt_id=prompt_id)
            problem = completion_problem(completion)
        except EndpointError as error:
            failed(error.reason, error.attempts, error.latency_s)
            raise
        except asyncio.CancelledError:
            failed(CANCELLED)
            raise
        except Exception as error:  # noqa: BLE001 - an endpoint's bug is this call's failure, not the caller's
            reason = f"the endpoint raised {type(error).__name__}: {str(error)[:200]}"
            failed(reason)
            raise EndpointError(name, reason, retryable=False) from error
        if problem is not None:
            failed(problem, getattr(completion, "attempts", 1))
            raise EndpointError(name, problem, retryable=False)
        self.ledger.record(CallRecord.paid(name, completion, episode_id))
        if key is not None:
            self._cache[key] = completion
        return completion


def completion_problem(completion: Any) -> str | None:
    """Why a completion cannot be booked (what its endpoint should never return), or None."""
    if not isinstance(completion, Completion) or not isinstance(completion.text, str):
        return f"the endpoint returned {type(completion).__name__}, not a Completion with text"
    cost = completion.cost_usd
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        return f"the endpoint reported an invalid cost {cost!r} (a cost is a finite number >= 0)"
    for field in ("input_tokens", "output_tokens"):
        value = getattr(completion, field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0):
            return f"the endpoint reported an invalid {field} {value!r} (a non-negative integer or null)"
    return None
