"""The tool-call text of router turns (Qwen2.5/Hermes ``<tool_call>{json}</tool_call>``): render and parse.

The one owner of the format: ``render_call`` / ``render_select`` write what a router writes (the
cold start's scripts and the baselines' turns use them), ``parse_turn`` reads any generated turn,
and ``TOOL_SCAFFOLD_TOKENS`` are the format's fixed pieces that the tiny router keeps as whole
tokens.  The parser never raises: bad JSON, unknown names, missing or ill-typed arguments and unclosed
blocks become ``MalformedCall`` entries whose ``reason`` is sent back to the router.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
SELECT_TOOL = "select_response"


# the JSON scaffolding of rendered calls, kept whole by the tiny router's tokenizer (with each call_<model>)
TOOL_SCAFFOLD_TOKENS = [
    '\n{"name": "',
    '", "arguments": {}}\n',
    '", "arguments": {"model_call_name": "',
    '"}}\n',
    SELECT_TOOL,
]


def render_call(model: str, system_prompt: str | None = "", temperature: float = 0.0) -> str:
    """The turn that calls ``model``; ``system_prompt=None`` leaves the (optional) arguments out."""
    arguments = {} if system_prompt is None else {"optimized_system_prompt": system_prompt, "temperature": temperature}
    return f"<tool_call>\n{json.dumps({'name': f'call_{model}', 'arguments': arguments})}\n</tool_call>"


def render_select(model: str) -> str:
    """The turn that returns ``call_<model>``'s answer verbatim (``select_response``)."""
    payload = {"name": SELECT_TOOL, "arguments": {"model_call_name": f"call_{model}"}}
    return f"<tool_call>\n{json.dumps(payload)}\n</tool_call>"


@dataclass(frozen=True)
class ToolCall:
    """A well-formed call: ``call_<model>`` (with its pool model) or ``select_response``."""

    name: str
    arguments: dict[str, Any]
    model: str | None = None  # the pool model for call_<model>


@dataclass(frozen=True)
class MalformedCall:
    raw: str
    reason: str


@dataclass
class ParsedTurn:
    """What one router turn said: tool calls, malformed calls, and text outside the calls."""

    calls: list[ToolCall] = field(default_factory=list)
    malformed: list[MalformedCall] = field(default_factory=list)
    text: str = ""

    @property
    def is_final_answer(self) -> bool:
        return not self.calls and not self.malformed and bool(self.text.strip())


def _check_call(payload: Any, models: set[str], raw: str) -> ToolCall | MalformedCall:
    if not isinstance(payload, dict):
        return MalformedCall(raw, 'a tool call must be a JSON object {"name": ..., "arguments": {...}}')
    name = payload.get("name")
    arguments = payload.get("arguments", {})
    if isinstance(arguments, str):  # some models double-encode arguments
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return MalformedCall(raw, f"arguments of {name!r} are not a JSON object")
    if not isinstance(name, str) or not name:
        return MalformedCall(raw, 'the tool call has no "name"')
    if not isinstance(arguments, dict):
        return MalformedCall(raw, f"arguments of {name!r} must be a JSON object")
    if name == SELECT_TOOL:
        target = arguments.get("model_call_name")
        if not isinstance(target, str) or not target:
            return MalformedCall(
                raw, 'select_response needs "model_call_name": the call_<model> whose answer to return'
            )
        return ToolCall(name, {"model_call_name": target})
    if name.startswith("call_") and name[5:] in models:
        prompt = arguments.get("optimized_system_prompt", "")
        if not isinstance(prompt, str):
            return MalformedCall(raw, f"{name}: optimized_system_prompt must be a string")
        temperature = arguments.get("temperature", 0.0)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            return MalformedCall(raw, f"{name}: temperature must be a number")
        return ToolCall(
            name,
            {"optimized_system_prompt": prompt, "temperature": min(max(float(temperature), 0.0), 2.0)},
            model=name[5:],
        )
    known = ", ".join(sorted(f"call_{m}" for m in models))
    return MalformedCall(raw, f"unknown tool {name!r}; available: {known}, {SELECT_TOOL}")


def parse_turn(text: str, models: Iterable[str]) -> ParsedTurn:
    """Split a generated turn into calls / malformed calls / remaining text."""
    models = set(models)
    turn = ParsedTurn()
    for block in TOOL_CALL_BLOCK.finditer(text):
        raw = block.group(1).strip()
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as error:
            turn.malformed.append(
                MalformedCall(raw, f"the tool call is not valid JSON ({error.msg} at char {error.pos})")
            )
            continue
        checked = _check_call(payload, models, raw)
        (turn.calls if isinstance(checked, ToolCall) else turn.malformed).append(checked)
    rest = TOOL_CALL_BLOCK.sub("", text)
    if "<tool_call>" in rest:
        head, _, tail = rest.partition("<tool_call>")
        turn.malformed.append(MalformedCall(tail.strip()[:200], "a <tool_call> block is not closed with </tool_call>"))
        rest = head
    turn.text = rest.replace("</tool_call>", "").strip()
    return turn
