"""The async ``Endpoint`` protocol every pool model implements, and its ``Completion`` record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, Any]  # an OpenAI-style chat message: {"role": ..., "content": ...}


@dataclass
class Completion:
    """One model answer with what it cost.

    ``usage_estimated`` is True when the token counts were not reported by the endpoint but
    estimated (a tokenizer or a length rule).  ``recorded_score`` is set only by replayed answers:
    the correctness recorded with the trace, which replay benchmarks use as ground truth.
    ``attempts`` counts HTTP tries (1 = no retry).
    """

    text: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float
    latency_s: float
    model: str
    usage_estimated: bool = False
    recorded_score: float | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EndpointError(RuntimeError):
    """A call failed for good (after retries).  Carries what the ledger needs to record it."""

    def __init__(
        self, model: str, message: str, attempts: int = 1, latency_s: float = 0.0, retryable: bool = False
    ) -> None:
        super().__init__(f"{model}: {message}")
        self.model = model
        self.reason = message
        self.attempts = attempts
        self.latency_s = latency_s
        self.retryable = retryable


@runtime_checkable
class Endpoint(Protocol):
    """Anything that can answer a chat: ``await endpoint.complete(messages, temperature, max_tokens)``.

    Keyword ``prompt_id`` identifies the benchmark example; live endpoints ignore it, replay uses it.
    """

    name: str

    async def complete(
        self,
        messages: Sequence[Message],
        temperature: float = 0.0,
        max_tokens: int | None = None,
        *,
        prompt_id: str | None = None,
    ) -> Completion: ...


def user_query(messages: Sequence[Message]) -> str:
    """The text of the last user message (what a replayed or called model is asked)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # OpenAI content parts
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return content or ""
    raise ValueError("the messages hold no user message; send at least one {'role': 'user', 'content': ...}")
