"""Router-R1's action format (``env.format=router_r1``): ``<search>model: q</search>`` routes, answers come back
as ``<information>``, ``<answer>`` ends the episode (text: ``xrouter/router/r1_format.py``), and a trajectory
with any malformed turn has no valid final answer (Router-R1's format reward)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from xrouter.pool.pool import ModelPool
from xrouter.router import r1_format
from xrouter.router.formats.base import (
    CallRequest,
    Plan,
    SelectRequest,
    TurnActions,
    plan_turns,
    several_calls,
    several_calls_error,
)

NO_ACTION_NUDGE = "error: route with <search>model-name: sub-query</search> or end with <answer>"


@dataclass(frozen=True)
class RouterR1Format:
    """Think, route with ``<search>``, read ``<information>``, end with ``<answer>``."""

    name: str = "router_r1"

    def check_env(self, mode: str, max_turns: int) -> None:
        if mode != "full" or max_turns < 2:
            raise ValueError(
                "env.format=router_r1 routes, reads <information> and then answers: it needs "
                f"env.mode=full and env.max_turns >= 2 (got mode={mode}, max_turns={max_turns}); "
                "use env=router_r1"
            )

    def system_prompt(self, pool: ModelPool, style: str, max_turns: int) -> str:
        """Router-R1's instruction with the pool's prices (the prompt style does not apply)."""
        prices = {name: (card.price.input_per_mtok, card.price.output_per_mtok) for name, card in pool.cards.items()}
        return r1_format.r1_system_prompt(prices)

    def tools(self, pool: ModelPool, mode: str, tools_in_prompt: str) -> list[dict[str, Any]] | None:
        return None  # the system prompt lists the models

    def parse(self, text: str, models: Collection[str]) -> TurnActions:
        parsed = r1_format.parse_r1_turn(text, models)
        actions = TurnActions(malformed=list(parsed.malformed))
        if parsed.answer is not None and not parsed.routes:
            actions.answer = parsed.answer
            if parsed.answer in models:  # <answer>model-name</answer>: that model's answer, verbatim
                actions.select = SelectRequest(parsed.answer)
            return actions
        actions.calls = [CallRequest(model, sub_query=sub_query) for model, sub_query in parsed.routes]
        return actions

    def result_contents(self, answers: Sequence[tuple[str, str]], errors: Sequence[str]) -> list[str]:
        contents = [f"{model}: {text}" for model, text in answers] + list(errors)
        return contents or [NO_ACTION_NUDGE]

    def results_segment(self, contents: Sequence[str]) -> str:
        return r1_format.information_segment(contents)

    def script(self, plan: Plan, system_prompt: str | None, mode: str, max_turns: int) -> list[str]:
        """Route to the plan's one model, then answer with its name (one call only)."""
        turns, _ = plan_turns(plan)
        if several_calls(turns):
            raise several_calls_error(turns, mode, self.name, max_turns)
        return r1_format.scripted_turns(turns[0][0])

    def corpus_turns(self, model: str) -> list[str]:
        return r1_format.scripted_turns(model)

    def extra_tokens(self, models: Sequence[str]) -> list[str]:
        return self.decision_tokens(models) + r1_format.R1_SCAFFOLD_TOKENS

    def decision_tokens(self, models: Sequence[str]) -> list[str]:
        return list(models)

    def trajectory_valid(self, n_malformed: int) -> bool:
        return n_malformed == 0  # one malformed turn makes the whole trajectory's format wrong


ROUTER_R1 = RouterR1Format()
