"""The tool-call action format (``env.format=tool_calls``, the default): Qwen2.5/Hermes ``<tool_call>`` blocks
calling ``call_<model>`` or ``select_response`` (text: ``xrouter/router/parsing.py``); results come back as
tool messages, and plain text is the final answer."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from xrouter.pool.pool import ModelPool
from xrouter.router.chat_format import tool_result_content, tool_results_segment
from xrouter.router.formats.base import (
    CallRequest,
    Plan,
    SelectRequest,
    TurnActions,
    plan_turns,
    several_calls,
    several_calls_error,
)
from xrouter.router.parsing import SELECT_TOOL, TOOL_SCAFFOLD_TOKENS, parse_turn, render_call, render_select
from xrouter.router.prompts import system_prompt
from xrouter.router.tools import router_tools

EMPTY_TURN_NUDGE = "reply with a final answer or a tool call"


@dataclass(frozen=True)
class ToolCallFormat:
    """``call_<model>(optimized_system_prompt, temperature)`` and ``select_response(model_call_name)`` as tools."""

    name: str = "tool_calls"

    def check_env(self, mode: str, max_turns: int) -> None:
        return None  # runs in every mode and with any number of turns

    def system_prompt(self, pool: ModelPool, style: str, max_turns: int) -> str:
        return system_prompt(style, max_turns)

    def tools(self, pool: ModelPool, mode: str, tools_in_prompt: str) -> list[dict[str, Any]] | None:
        if tools_in_prompt == "none":
            return None
        schemas = router_tools(pool)
        if mode == "simple":
            schemas = [s for s in schemas if s["function"]["name"] != SELECT_TOOL]
        if tools_in_prompt == "compact":
            compact = []
            for schema in schemas:
                function = schema["function"]
                name = function["name"]
                card = pool.cards.get(name[5:]) if name.startswith("call_") else None
                description = (
                    f"${card.price.input_per_mtok:g}/${card.price.output_per_mtok:g} per 1M tokens"
                    if card
                    else function["description"].split(".")[0]
                )
                compact.append({"type": "function", "function": {"name": name, "description": description}})
            schemas = compact
        return schemas

    def parse(self, text: str, models: Collection[str]) -> TurnActions:
        parsed = parse_turn(text, models)
        actions = TurnActions(malformed=[m.reason for m in parsed.malformed])
        if parsed.is_final_answer:
            actions.answer = parsed.text
            return actions
        selects = [c for c in parsed.calls if c.name == SELECT_TOOL]
        if selects:
            target = selects[0].arguments["model_call_name"]
            actions.select = SelectRequest(target, f"select_response: no earlier successful call named {target!r}")
        actions.calls = [
            CallRequest(c.model, c.arguments["optimized_system_prompt"], c.arguments["temperature"])
            for c in parsed.calls
            if c.name != SELECT_TOOL
        ]
        return actions

    def result_contents(self, answers: Sequence[tuple[str, str]], errors: Sequence[str]) -> list[str]:
        contents = [tool_result_content(f"call_{model}", text) for model, text in answers]
        contents += [tool_result_content("error", message) for message in errors]
        return contents or [tool_result_content("error", EMPTY_TURN_NUDGE)]  # an empty turn: nudge, it costs a turn

    def results_segment(self, contents: Sequence[str]) -> str:
        return tool_results_segment(contents)

    def script(self, plan: Plan, system_prompt: str | None, mode: str, max_turns: int) -> list[str]:
        """Each turn's calls; full mode: then ``select_response`` of the plan's choice (else the last call)."""
        turns, select = plan_turns(plan)
        if several_calls(turns) and (mode != "full" or len(turns) > max_turns - 1):
            raise several_calls_error(turns, mode, self.name, max_turns)
        texts = ["\n".join(render_call(m, system_prompt) for m in turn) for turn in turns]
        return texts + ([render_select(select or turns[-1][-1])] if mode == "full" else [])

    def corpus_turns(self, model: str) -> list[str]:
        return [
            render_call(model),
            render_select(model),
            render_call(model, None),
            render_call(model, "Answer concisely."),
        ]

    def extra_tokens(self, models: Sequence[str]) -> list[str]:
        return self.decision_tokens(models) + TOOL_SCAFFOLD_TOKENS

    def decision_tokens(self, models: Sequence[str]) -> list[str]:
        return [f"call_{m}" for m in models]

    def trajectory_valid(self, n_malformed: int) -> bool:
        return True  # a malformed call costs its turn, not the episode


TOOL_CALLS = ToolCallFormat()
