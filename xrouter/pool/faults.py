"""Faults the pool server injects for testing clients: HTTP errors, rate limits, dropped connections,
latency, and bad 200 replies of every kind a faulty upstream sends (``BAD_REPLIES``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response, StreamingResponse

JSON = "application/json"
MALFORMED_BODY = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"mess'


def _reply(usage: Any = None, content: Any = "ok", choices: Any = None) -> bytes:
    body = {
        "id": "chatcmpl-bad",
        "object": "chat.completion",
        "model": "m",
        "choices": choices
        if choices is not None
        else [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


# Bodies a faulty upstream answers with status 200; every one must become an endpoint error.
BAD_REPLIES: dict[str, bytes] = {
    "truncated": MALFORMED_BODY,
    "not_json": b"<html>502 Bad Gateway</html>",
    "not_object": b"[1, 2, 3]",
    "usage_list": _reply(usage=[1, 2]),
    "usage_string": _reply(usage="12 tokens"),
    "negative_tokens": _reply(usage={"prompt_tokens": -1_000_000, "completion_tokens": -5_000_000}),
    "bool_tokens": _reply(usage={"prompt_tokens": True, "completion_tokens": False}),
    "float_tokens": _reply(usage={"prompt_tokens": 10.5, "completion_tokens": 2}),
    "huge_tokens": _reply(usage={"prompt_tokens": 10**30, "completion_tokens": 1}),
    "choices_object": _reply(choices={"0": {"message": {"content": "ok"}}}),
    "choices_empty": _reply(choices=[]),
    "choice_not_object": _reply(choices=["ok"]),
    "content_number": _reply(content=42),
    "content_object": _reply(content={"text": "ok"}),
    "lone_surrogate": _reply(content="\ud800"),
    "deep_nesting": b'{"choices": [{"message": {"content": "ok"}}], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deep_body": b"[" * 100_000 + b"]" * 100_000,
}
SLOW_DRIP = "slow_drip"  # a valid reply sent one byte every ``drip_s`` seconds


@dataclass
class FaultConfig:
    """Faults to inject, decided per request by one seeded draw (deterministic in arrival order).

    ``error_rate`` -> 500; ``rate_limit_rate`` -> 429 with ``Retry-After: 0``; ``malformed_rate`` ->
    200 with a truncated JSON body; ``drop_rate`` -> the connection is closed after the headers (the
    client sees ``openai.APIConnectionError``).  The four rates partition one uniform draw, so their
    sum must be at most 1.  ``rate_limit_burst``: the first N requests to each model get 429.
    ``fail_models`` always get ``fail_status`` (500 by default; e.g. 401 to test non-retryable
    errors).  ``latency_s`` is slept before every answer to a valid request.  ``omit_usage`` drops
    ``usage`` from answers.  ``bad_reply`` (a key of ``BAD_REPLIES``, or ``slow_drip``) answers that
    200 body instead, at ``bad_reply_rate`` (a second draw); ``slow_drip`` sends a valid reply one byte
    every ``drip_s`` seconds.
    """

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    rate_limit_burst: int = 0
    malformed_rate: float = 0.0
    drop_rate: float = 0.0
    latency_s: float = 0.0
    fail_models: list[str] = field(default_factory=list)
    fail_status: int = 500
    omit_usage: bool = False
    bad_reply: str | None = None
    bad_reply_rate: float = 1.0
    drip_s: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        rates = {
            "error_rate": self.error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "malformed_rate": self.malformed_rate,
            "drop_rate": self.drop_rate,
        }
        for key, value in {**rates, "bad_reply_rate": self.bad_reply_rate}.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"faults.{key} must be within [0, 1], got {value}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"faults rates {rates} sum to more than 1")
        if self.latency_s < 0 or self.rate_limit_burst < 0 or self.drip_s < 0:
            raise ValueError("faults.latency_s, faults.rate_limit_burst and faults.drip_s must be non-negative")
        if not 400 <= int(self.fail_status) <= 599:
            raise ValueError(f"faults.fail_status must be an HTTP error status, got {self.fail_status}")
        if self.bad_reply is not None and self.bad_reply not in BAD_REPLIES and self.bad_reply != SLOW_DRIP:
            raise ValueError(f"faults.bad_reply={self.bad_reply!r}: use one of {sorted(BAD_REPLIES) + [SLOW_DRIP]}")
        self.fail_models = list(self.fail_models or [])

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> FaultConfig:
        values = dict(values or {})
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown fault field(s) {unknown}; known: {[f.name for f in dataclasses.fields(cls)]}")
        return cls(**values)


class DroppedResponse(Response):
    """Sends the status line and headers (announcing a body), then returns: uvicorn closes the socket."""

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type=JSON)
        self.raw_headers = [(b"content-type", JSON.encode()), (b"content-length", b"1024")]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})


def bad_reply_response(kind: str, drip_s: float) -> Response:
    """The 200 answer of a faulty upstream of this kind."""
    if kind != SLOW_DRIP:
        return Response(BAD_REPLIES[kind], media_type=JSON)

    async def drip() -> AsyncIterator[bytes]:
        for byte in _reply(usage={"prompt_tokens": 1, "completion_tokens": 1}):
            yield bytes([byte])
            await asyncio.sleep(drip_s)

    return StreamingResponse(drip(), media_type=JSON)


class FaultState:
    """The pool server's current faults, their seeded draws, burst counters and outcome counts."""

    def __init__(self, faults: FaultConfig) -> None:
        self.set_faults(faults)

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.burst: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.served = 0

    def fault_for(self, model: str) -> str | None:
        f = self.faults
        if model in f.fail_models:
            return "failed_model"
        if self.burst[model] < f.rate_limit_burst:
            self.burst[model] += 1
            return "rate_limited"
        draw = self.rng.random()
        for kind, rate in (
            ("server_error", f.error_rate),
            ("rate_limited", f.rate_limit_rate),
            ("malformed", f.malformed_rate),
            ("dropped", f.drop_rate),
        ):
            if draw < rate:
                return kind
            draw -= rate
        if f.bad_reply is not None and self.rng.random() < f.bad_reply_rate:
            return "bad_reply"
        return None
