"""Upstream reply validation, in one place: a chat-completion body becomes a ``Reply`` (text, token
counts, finish reason) or a ``MalformedResponseError`` (which the endpoint retries, then reports as an
``EndpointError``).  Also the token estimate used when a server reports no usage, and the bounded
JSON decoding (size and nesting checked before parsing) that requests and replies share.

A valid reply: a JSON object of at most ``MAX_REPLY_BYTES`` and ``MAX_JSON_DEPTH`` levels, whose
``choices`` is a non-empty list of objects, ``choices[0].message`` an object whose ``content`` is a
string (null reads as "") of valid Unicode, ``finish_reason`` a string or null, and ``usage`` absent,
null or an object whose ``prompt_tokens`` / ``completion_tokens`` are each absent, null or a
non-negative integer (not a boolean) below 2**40.  Absent counts are estimated (and flagged).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_REPLY_BYTES = 32 << 20
MAX_JSON_DEPTH = 64
MAX_TOKENS_REPORTED = 1 << 40
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


class MalformedResponseError(ValueError):
    """The server answered 200 with a body that is not a valid chat completion."""


class JSONLimitError(ValueError):
    """A JSON text over a size or nesting limit (refused before parsing)."""


def estimate_tokens(text: str) -> int:
    """The default token estimate when a server reports no usage: ceil(characters / 4)."""
    return math.ceil(len(text) / 4)


def messages_text(messages: Sequence[dict[str, Any]]) -> str:
    """All message contents joined by newlines (text parts of list contents included)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
        elif content:
            parts.append(str(content))
    return "\n".join(parts)


def json_depth(raw: bytes | str, limit: int) -> int:
    """The nesting depth of a JSON text (brackets outside strings), counted only up to what matters:
    any value > ``limit`` means "too deep".  Linear time, no recursion, no parsing."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in (91, 123) else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def loads_bounded(raw: bytes | str, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` after checking size and nesting (``JSONLimitError``); ``ValueError`` if invalid."""
    if len(raw) > max_bytes:
        raise JSONLimitError(f"the JSON body is {len(raw)} bytes, over the limit of {max_bytes}")
    if json_depth(raw, max_depth) > max_depth:
        raise JSONLimitError(f"the JSON body is nested more than {max_depth} levels deep")
    try:
        return json.loads(raw)
    except RecursionError:  # a nesting the bracket count missed cannot crash the caller either
        raise JSONLimitError(f"the JSON body is nested more than {max_depth} levels deep") from None


@dataclass(frozen=True)
class Reply:
    """The validated parts of a chat completion; a count is None when the server did not report it."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    finish_reason: str | None


def _count(usage: dict, key: str) -> int | None:
    value = usage.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < MAX_TOKENS_REPORTED:
        raise MalformedResponseError(f"usage.{key} must be a non-negative integer, got {str(value)[:40]!r}")
    return value


def parse_reply(raw: bytes) -> Reply:
    """The ``Reply`` in a raw response body, or ``MalformedResponseError`` saying what is wrong."""
    try:
        data = loads_bounded(raw, MAX_REPLY_BYTES)
    except ValueError as error:  # JSONLimitError, invalid JSON, invalid UTF-8
        raise MalformedResponseError(f"not a JSON chat completion: {str(error)[:160]}") from None
    if not isinstance(data, dict):
        raise MalformedResponseError(f"the body is a JSON {type(data).__name__}, not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        raise MalformedResponseError(f"'choices' must be a non-empty list of objects: {str(choices)[:120]}")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedResponseError(f"choices[0].message must be an object: {str(message)[:120]}")
    text = message.get("content")
    text = "" if text is None else text
    if not isinstance(text, str):
        raise MalformedResponseError(f"choices[0].message.content is a {type(text).__name__}, not text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedResponseError("choices[0].message.content holds a lone surrogate (not valid Unicode)") from None
    finish_reason = choice.get("finish_reason")
    if finish_reason is not None and not isinstance(finish_reason, str):
        raise MalformedResponseError(f"choices[0].finish_reason must be a string, got {str(finish_reason)[:40]!r}")
    usage = data.get("usage")
    if usage is None:
        return Reply(text, None, None, finish_reason)
    if not isinstance(usage, dict):
        raise MalformedResponseError(f"'usage' must be an object, got a {type(usage).__name__}")
    return Reply(text, _count(usage, "prompt_tokens"), _count(usage, "completion_tokens"), finish_reason)
