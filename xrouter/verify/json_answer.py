"""The ``answer`` field of a JSON-answer response (ZeroEval's prompt format), read leniently.

ZeroEval asks every model for ``{"reasoning": "...", "answer": "..."}`` (often inside a ```json
fence).  ``extract_json_answer`` returns that field as text: the first balanced ``{...}`` that
parses as JSON (or as a Python literal, for single-quoted dicts) and has an ``answer`` key, else a
``"answer": "<value>"`` / ``"answer": <bare value>`` regex over the raw text (truncated or
slightly malformed JSON), else None.  Non-string answers (numbers, lists) are rendered with
``json.dumps`` (lists, dicts) or ``str`` (numbers).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

_QUOTED = re.compile(r'"answer"\s*:\s*"((?:[^"\\]|\\.)*)"', re.DOTALL)
_BARE = re.compile(r'"?answer"?\s*:\s*([^\s,}"][^,}\n]*)')


def _objects(text: str) -> Iterator[str]:
    """Every top-level balanced ``{...}`` span, in order (braces inside JSON strings are skipped)."""
    depth, start, in_string, escaped = 0, -1, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth > 0:
            in_string = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                yield text[start : i + 1]


def _decode(span: str) -> Any:
    for attempt in (span, span.replace("\n", " ")):
        try:
            return json.loads(attempt, strict=False)
        except ValueError:
            pass
    try:
        return ast.literal_eval(span)
    except Exception:  # noqa: BLE001 (SyntaxError, unhashable set members, deep nesting: not an object)
        return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


_MISSING = object()


def json_answer_value(text: str | None) -> Any:
    """The response's ``answer`` field as decoded, unstripped (a string keeps its spaces; a JSON list stays a
    list); ``MISSING_ANSWER`` when it has none.  A regex match over broken JSON gives the string it quotes,
    a bare value its text."""
    if not text:
        return _MISSING
    for span in _objects(text):
        decoded = _decode(span)
        if isinstance(decoded, dict) and "answer" in decoded:
            return decoded["answer"]
    quoted = _QUOTED.search(text)
    if quoted:
        try:
            return json.loads(f'"{quoted.group(1)}"', strict=False)
        except ValueError:
            return quoted.group(1)
    bare = _BARE.search(text)
    if bare and bare.group(1).strip():
        return bare.group(1).strip()
    return _MISSING


MISSING_ANSWER = _MISSING


def extract_json_answer(text: str | None) -> str | None:
    """The response's ``answer`` field as text, or None when it has none (see the module docstring)."""
    value = json_answer_value(text)
    return None if value is _MISSING else _as_text(value)
