"""The OpenAI chat-completions wire format of the router server: request validation and response bodies.

Validation is the OpenAI request schema of ``xrouter/pool/chat_schema.py`` (pydantic; size and
JSON nesting bounded before parsing) plus this server's rules, and returns the first problem as a
``RequestError`` carrying the HTTP status and an OpenAI-style error body that names the field and
the fix.  Sampling fields (``temperature`` 0-2, ``top_p``, ``max_tokens``) are range-checked and
accepted; the router decodes with the server's settings, and the called models get the router's
temperature.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xrouter.pool.chat_schema import ChatCompletionRequest, ChatRequestProblem, parse_chat_body

JSON = "application/json"


class RequestError(Exception):
    """A request the server refuses: HTTP status + OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers  # e.g. Retry-After on a 503

    def body(self, **extra: Any) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code, **extra}}


@dataclass(frozen=True)
class Limits:
    """Per-request limits: wall-clock seconds, USD (router + tools), router turns; and ``lam``, the cost
    weight a lambda-conditioned router is told (None: the router's default).  The server's own limits also
    hold the router's trained lambda range (``lam_max``) and its calibration (``xrouter/router/calibration.py``);
    a request's ``max_cost_per_query`` becomes the lambda chosen from it (``chosen``: that point)."""

    timeout_s: float
    max_usd: float
    max_turns: int
    lam: float | None = None
    lam_max: float | None = None
    calibration: tuple[Mapping[str, float], ...] | None = None
    max_cost_per_query: float | None = None
    chosen: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"timeout_s": self.timeout_s, "max_usd": self.max_usd, "max_turns": self.max_turns}
        if self.lam is not None:
            out["lam"] = self.lam
        if self.max_cost_per_query is not None:
            out["max_cost_per_query"] = self.max_cost_per_query
        return out


@dataclass(frozen=True)
class ChatRequest:
    """What the server needs from a valid chat-completions body."""

    model: str
    query: str  # the last user message: what the router routes
    stream: bool
    include_usage: bool  # stream_options.include_usage
    limits: Limits
    pool_prompt_id: str | None  # metadata.prompt_id: a replay pool's exact example id


MAX_MAGNITUDE = 1e300  # a request number beyond this is refused before any arithmetic (an int of 10^309 digits
# overflows float conversion: the check must not convert it)


def _is_number(value: Any) -> bool:
    """A finite JSON number of sane magnitude (an int too large for a float is not one: no OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE  # int-float comparison is exact, it never overflows
    return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


class ServedChatRequest(ChatCompletionRequest):
    """The OpenAI schema plus this server's own field: ``xrouter`` (per-request limits)."""

    xrouter: Any | None = None


def _limits(value: Any, server: Limits) -> Limits:
    """The request's own ``xrouter`` limits, each at most the server's."""
    if value is None:
        return server
    if not isinstance(value, dict):
        raise RequestError(
            400,
            "'xrouter' must be an object such as {'timeout_s': 10, 'max_usd': 0.01, 'max_turns': 2}",
            param="xrouter",
        )
    unknown = sorted(set(value) - {"timeout_s", "max_usd", "max_turns", "lam", "max_cost_per_query"})
    if unknown:
        raise RequestError(
            400,
            f"unknown xrouter field(s) {unknown}; known: timeout_s, max_usd, max_turns, lam, max_cost_per_query",
            param="xrouter",
        )
    timeout_s, max_usd, max_turns = (
        value.get("timeout_s", server.timeout_s),
        value.get("max_usd", server.max_usd),
        value.get("max_turns", server.max_turns),
    )
    if not _is_number(timeout_s) or not 0 < timeout_s <= server.timeout_s:
        raise RequestError(
            400,
            f"xrouter.timeout_s must be a number in (0, {server.timeout_s:g}] (the server's limit)",
            param="xrouter.timeout_s",
        )
    if not _is_number(max_usd) or not 0 <= max_usd <= server.max_usd:
        raise RequestError(
            400,
            f"xrouter.max_usd must be a number in [0, {server.max_usd:g}] (the server's limit)",
            param="xrouter.max_usd",
        )
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or not 1 <= max_turns <= server.max_turns:
        raise RequestError(
            400,
            f"xrouter.max_turns must be an integer in [1, {server.max_turns}] (the server's limit)",
            param="xrouter.max_turns",
        )
    lam, chosen, target = value.get("lam", server.lam), None, value.get("max_cost_per_query")
    if ("lam" in value or target is not None) and server.lam is None:
        field = "lam" if "lam" in value else "max_cost_per_query"
        raise RequestError(
            400,
            f"xrouter.{field}: this router was trained for one lambda and is not told one; serve a "
            "router trained with reward.lam_sampling to choose the cost weight per request",
            param=f"xrouter.{field}",
        )
    if "lam" in value and target is not None:
        raise RequestError(
            400,
            "give xrouter.lam or xrouter.max_cost_per_query, not both: the target cost chooses the lambda",
            param="xrouter.max_cost_per_query",
        )
    if "lam" in value:
        top = server.lam_max if server.lam_max is not None else math.inf
        if not _is_number(lam) or not 0 <= lam <= top:
            raise RequestError(
                400,
                f"xrouter.lam must be a number in [0, {top:g}]: the cost weight (per cent of USD, "
                f"as in training) within the range this router was trained on; it is not clamped",
                param="xrouter.lam",
            )
    if target is not None:
        if not _is_number(target) or target <= 0:
            raise RequestError(
                400,
                "xrouter.max_cost_per_query must be a number > 0 (USD per query)",
                param="xrouter.max_cost_per_query",
            )
        if not server.calibration:
            raise RequestError(
                400,
                "xrouter.max_cost_per_query needs the router's calibration (calibration.json "
                "beside it, written by xrouter.train since this version): retrain it, or send "
                "xrouter.lam",
                param="xrouter.max_cost_per_query",
            )
        from xrouter.router.calibration import lam_for_cost

        chosen = lam_for_cost(server.calibration, float(target))
        lam = chosen["lam"]
    return Limits(
        float(timeout_s),
        float(max_usd),
        int(max_turns),
        None if lam is None else float(lam),
        server.lam_max,
        server.calibration,
        None if target is None else float(target),
        chosen,
    )


def parse_chat_request(
    raw: bytes, models: Mapping[str, Any] | set[str], server_limits: Limits, max_body_bytes: int = 1_000_000
) -> ChatRequest:
    """The validated request, or ``RequestError`` (400 malformed / wrong types / too deep, 413 too large,
    404 unknown model).  The schema (``xrouter/pool/chat_schema.py``) checks the OpenAI fields; then
    what this server adds: a user message with text, ``n`` of 1, no client tools, the limits."""
    try:
        body = parse_chat_body(raw, max_body_bytes, schema=ServedChatRequest)
    except ChatRequestProblem as problem:
        if problem.param == "model":
            problem.message += f"; use one of {sorted(models)} (GET /v1/models)"
        raise RequestError(problem.status, problem.message, problem.type, problem.param, problem.code) from None
    query = next((m.text() for m in reversed(body.messages) if m.role == "user"), None)
    if query is None or not query.strip():
        raise RequestError(
            400,
            "the messages hold no user message with text; the router answers the last "
            "{'role': 'user', 'content': '...'} message",
            param="messages",
        )
    if body.model not in models:
        raise RequestError(
            404,
            f"the model '{body.model}' does not exist on this server; use one of {sorted(models)}",
            param="model",
            code="model_not_found",
        )
    if body.n not in (None, 1):
        raise RequestError(400, "'n' must be 1: the router returns one answer", param="n")
    extra = body.model_extra or {}
    if extra.get("tools") or extra.get("functions"):
        raise RequestError(
            400, "client-side tools are not supported: the router calls its own pool models", param="tools"
        )
    options = body.stream_options
    prompt_id = (body.metadata or {}).get("prompt_id")
    if prompt_id is not None:
        try:
            str(prompt_id).encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(
                400,
                "metadata.prompt_id is not valid UTF-8 text (a lone surrogate escape?); send the "
                "replay example's id as plain text",
                param="metadata.prompt_id",
            ) from None
    return ChatRequest(
        model=body.model,
        query=query,
        stream=bool(body.stream),
        include_usage=bool(options.include_usage) if options else False,
        limits=_limits(body.xrouter, server_limits),
        pool_prompt_id=prompt_id,
    )


def completion_body(
    request_id: str, model: str, content: str, usage: dict[str, int], xrouter: dict[str, Any]
) -> dict[str, Any]:
    """A ``chat.completion`` object with the ``xrouter`` metadata beside the standard fields."""
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage,
        "xrouter": xrouter,
    }


def chunk_body(
    request_id: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` gives the usage-only chunk (empty choices)."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }


def sse(payload: dict[str, Any] | str) -> bytes:
    """One server-sent event line pair."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()
