"""The OpenAI chat-completions wire format of the router server: request validation and response bodies.

Validation is hand-written (no pydantic on the hot path) and returns the first problem as a
``RequestError`` carrying the HTTP status and an OpenAI-style error body that names the field and
the fix.  Sampling fields (``temperature``, ``top_p``, ``max_tokens``) are type-checked and accepted;
the router decodes with the server's settings, and the called models get the router's temperature.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping

JSON = "application/json"
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


class RequestError(Exception):
    """A request the server refuses: HTTP status + OpenAI error fields."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self, **extra: Any) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code, **extra}}


@dataclass(frozen=True)
class Limits:
    """Per-request limits: wall-clock seconds, USD (router + tools), router turns."""

    timeout_s: float
    max_usd: float
    max_turns: int

    def as_dict(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s, "max_usd": self.max_usd, "max_turns": self.max_turns}


@dataclass(frozen=True)
class ChatRequest:
    """What the server needs from a valid chat-completions body."""

    model: str
    query: str                # the last user message: what the router routes
    stream: bool
    include_usage: bool       # stream_options.include_usage
    limits: Limits
    pool_prompt_id: str | None  # metadata.prompt_id: a replay pool's exact example id


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text_of(content: Any, index: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RequestError(400, f"messages[{index}].content: only text parts "
                                   '{"type": "text", "text": "..."} are supported', param=f"messages[{index}].content")
            parts.append(part["text"])
        return "".join(parts)
    raise RequestError(400, f"messages[{index}].content must be a string or a list of text parts, "
                       f"not {type(content).__name__}", param=f"messages[{index}].content")


def _query(messages: Any) -> str:
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty list of {'role': ..., 'content': ...} objects",
                           param="messages")
    query = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(400, f"messages[{i}] must be an object with 'role' and 'content'", param=f"messages[{i}]")
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(400, f"messages[{i}].role must be one of {sorted(ROLES)}, not {role!r}",
                               param=f"messages[{i}].role")
        text = _text_of(message.get("content"), i)
        if role == "user":
            query = text
    if query is None or not query.strip():
        raise RequestError(400, "the messages hold no user message with text; the router answers the last "
                           "{'role': 'user', 'content': '...'} message", param="messages")
    return query


def _limits(value: Any, server: Limits) -> Limits:
    """The request's own ``xrouter`` limits, each at most the server's."""
    if value is None:
        return server
    if not isinstance(value, dict):
        raise RequestError(400, "'xrouter' must be an object such as {'timeout_s': 10, 'max_usd': 0.01, 'max_turns': 2}",
                           param="xrouter")
    unknown = sorted(set(value) - {"timeout_s", "max_usd", "max_turns"})
    if unknown:
        raise RequestError(400, f"unknown xrouter field(s) {unknown}; known: timeout_s, max_usd, max_turns",
                           param="xrouter")
    timeout_s, max_usd, max_turns = (value.get("timeout_s", server.timeout_s), value.get("max_usd", server.max_usd),
                                     value.get("max_turns", server.max_turns))
    if not _is_number(timeout_s) or not 0 < timeout_s <= server.timeout_s:
        raise RequestError(400, f"xrouter.timeout_s must be a number in (0, {server.timeout_s:g}] (the server's limit)",
                           param="xrouter.timeout_s")
    if not _is_number(max_usd) or not 0 <= max_usd <= server.max_usd:
        raise RequestError(400, f"xrouter.max_usd must be a number in [0, {server.max_usd:g}] (the server's limit)",
                           param="xrouter.max_usd")
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or not 1 <= max_turns <= server.max_turns:
        raise RequestError(400, f"xrouter.max_turns must be an integer in [1, {server.max_turns}] (the server's limit)",
                           param="xrouter.max_turns")
    return Limits(float(timeout_s), float(max_usd), int(max_turns))


def parse_chat_request(raw: bytes, models: Mapping[str, Any] | set[str], server_limits: Limits) -> ChatRequest:
    """The validated request, or ``RequestError`` (400 malformed / wrong types, 404 unknown model)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"the request body is not valid JSON ({error}); send a JSON object",
                           code="invalid_json") from None
    if not isinstance(body, dict):
        raise RequestError(400, f"the request body must be a JSON object, not {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, f"missing 'model': use one of {sorted(models)} (GET /v1/models)", param="model")
    query = _query(body.get("messages"))
    if model not in models:
        raise RequestError(404, f"the model '{model}' does not exist on this server; use one of {sorted(models)}",
                           param="model", code="model_not_found")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(400, "'stream' must be true or false", param="stream")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool)):
        raise RequestError(400, "'stream_options' must be an object such as {'include_usage': true}", param="stream_options")
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        if body.get(key) is not None and not _is_number(body[key]):
            raise RequestError(400, f"'{key}' must be a number", param=key)
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise RequestError(400, f"'{key}' must be a positive integer", param=key)
    if body.get("n") not in (None, 1):
        raise RequestError(400, "'n' must be 1: the router returns one answer", param="n")
    if body.get("tools") or body.get("functions"):
        raise RequestError(400, "client-side tools are not supported: the router calls its own pool models",
                           param="tools")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RequestError(400, "'metadata' must be an object of strings", param="metadata")
    prompt_id = (metadata or {}).get("prompt_id")
    if prompt_id is not None and not isinstance(prompt_id, str):
        raise RequestError(400, "'metadata.prompt_id' must be a string", param="metadata.prompt_id")
    return ChatRequest(model=model, query=query, stream=bool(stream),
                       include_usage=bool((options or {}).get("include_usage", False)),
                       limits=_limits(body.get("xrouter"), server_limits), pool_prompt_id=prompt_id)


def completion_body(request_id: str, model: str, content: str, usage: dict[str, int],
                    xrouter: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` object with the ``xrouter`` metadata beside the standard fields."""
    return {"id": request_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                         "logprobs": None}],
            "usage": usage, "xrouter": xrouter}


def chunk_body(request_id: str, model: str, created: int, delta: dict[str, Any] | None,
               finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` gives the usage-only chunk (empty choices)."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
    return {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": choices, **extra}


def sse(payload: dict[str, Any] | str) -> bytes:
    """One server-sent event line pair."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()
