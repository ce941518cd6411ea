"""The multi-turn routing environment: turns router text into pool calls, answers, scores and rewards.

One ``step`` takes the text each active episode's router just wrote and:
* plain text -> the final answer (scored by the example's verifier);
* ``select_response(call_<model>)`` -> that earlier call's answer, verbatim, is final;
* ``call_<model>`` tool calls -> run (every call of every episode concurrently) against the pool;
  each called model sees the router's system prompt and the original query, never the history;
* malformed or unknown calls -> an error message goes back to the router and is counted;
* after ``max_turns`` turns without a valid final answer the episode ends with score 0.
In ``simple`` mode the router has one action: a direct answer, or one call whose answer is final.
The action format (``env.format``, an object of ``xrouter/router/formats/``) owns the text: its prompt and
tools, the parser of a turn into format-free actions, how results are written back, and its validity rule
for the reward (Router-R1's ``<search>``/``<information>``/``<answer>``: any malformed turn voids the final).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from xrouter.env.episode import ERROR, FINAL_TEXT, SELECT, SIMPLE_CALL, TURN_LIMIT, Episode, ToolCallRecord, Turn
from xrouter.env.tool_calls import TOOL_RESULT_CHARS, TOOL_RESULT_VIEWS, run_call, tool_result_view
from xrouter.pool.ledger import CallRecord
from xrouter.pool.pool import ModelPool
from xrouter.pool.pricing import Price
from xrouter.reward.functions import RewardComponents
from xrouter.router.formats import ActionFormat, Plan, resolve_format

Scorer = Callable[[dict, str], Any]  # (example, answer_text) -> object with .value and .reason
RewardFn = Callable[..., RewardComponents]


class RouterEnv:
    """Routing episodes over one pool, with a scorer for direct answers and a reward function."""

    def __init__(
        self,
        pool: ModelPool,
        scorer: Scorer,
        reward_fn: RewardFn,
        *,
        max_turns: int = 3,
        mode: str = "full",
        tools_in_prompt: str = "full",
        max_query_chars: int | None = None,
        max_tool_result_chars: int = TOOL_RESULT_CHARS,
        call_max_tokens: int | None = None,
        router_price: Price | None = None,
        system_prompt_style: str | None = None,
        query_prefix: str = "",
        action_format: str | ActionFormat = "tool_calls",
        tool_result_view: str = "clip",
    ) -> None:
        if mode not in ("full", "simple"):
            raise ValueError(f"env.mode must be 'full' or 'simple', not '{mode}'")
        self.format = resolve_format(action_format)
        self.format.check_env(mode, max_turns)
        if tool_result_view not in TOOL_RESULT_VIEWS:
            raise ValueError(
                f"env.tool_result_view must be one of {list(TOOL_RESULT_VIEWS)} (or auto in the config), "
                f"not '{tool_result_view}'"
            )
        self.tool_result_view = tool_result_view
        if tools_in_prompt not in ("full", "compact", "none"):
            raise ValueError(f"env.tools_in_prompt must be full, compact or none, not '{tools_in_prompt}'")
        self.pool, self.scorer, self.reward_fn = pool, scorer, reward_fn
        self.max_turns = 1 if mode == "simple" else max_turns
        self.mode, self.tools_in_prompt = mode, tools_in_prompt
        self.max_query_chars, self.max_tool_result_chars = max_query_chars, max_tool_result_chars
        self.call_max_tokens, self.router_price = call_max_tokens, router_price
        self.query_prefix = query_prefix  # a prefix router's soft-prefix slots, before the query text
        self.system_prompt_text = self.format.system_prompt(pool, system_prompt_style or mode, self.max_turns)
        self._models = set(pool.names)

    @property
    def action_format(self) -> str:
        """The format's ``env.format`` name (what the router's settings record)."""
        return self.format.name

    # ---- the action format -------------------------------------------------------------------
    def script(self, plan: Plan, system_prompt: str | None = "") -> list[str]:
        """The turns of a valid trajectory (the cold start's scripts), written by the action format."""
        # by name, so that any object with the env's mode, max_turns and action_format can script
        return resolve_format(self.action_format).script(plan, system_prompt, self.mode, self.max_turns)

    def results_segment(self, contents: Sequence[str]) -> str:
        """The text appended after a turn that goes on: the tool results (or Router-R1's information)."""
        return self.format.results_segment(contents)

    # ---- prompts -------------------------------------------------------------------------
    def tools(self) -> list[dict[str, Any]] | None:
        return self.format.tools(self.pool, self.mode, self.tools_in_prompt)

    def reset(self, example: dict[str, Any], episode_id: str) -> Episode:
        query = str(example["prompt"])
        if self.max_query_chars and len(query) > self.max_query_chars:
            query = "..." + query[-self.max_query_chars :]  # the question is at the end of few-shot prompts
        messages = [
            {"role": "system", "content": self.system_prompt_text},
            {"role": "user", "content": self.query_prefix + query},
        ]
        return Episode(
            episode_id=episode_id, prompt_id=str(example["prompt_id"]), example=dict(example), messages=messages
        )

    # ---- stepping -------------------------------------------------------------------------
    def charge_router(self, episode: Episode, input_tokens: int, output_tokens: int) -> None:
        """Price the router's own tokens of this turn (recorded in the ledger as kind 'router')."""
        episode.turns[-1].router_input_tokens += input_tokens
        episode.turns[-1].router_output_tokens += output_tokens
        cost = self.router_price.cost(input_tokens, output_tokens) if self.router_price else 0.0
        episode.router_cost_usd += cost
        self.pool.ledger.record(
            CallRecord(
                model="router",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=cost,
                latency_s=0.0,
                episode_id=episode.episode_id,
                kind="router",
            )
        )

    async def step(
        self, episodes: Sequence[Episode], texts: Sequence[str], router_tokens: Sequence[tuple[int, int]] | None = None
    ) -> list[list[str] | None]:
        """Advance each episode by the router text it produced; returns tool-message contents to
        append for episodes that go on, None for those that ended.  ``router_tokens`` holds each
        episode's (input, output) router tokens of this turn, priced into the router's cost."""
        pending: list[tuple[Episode, ToolCallRecord]] = []
        results: list[list[str] | None] = []
        plans: list[tuple[Episode, list[str]]] = []
        for i, (episode, text) in enumerate(zip(episodes, texts)):
            if episode.done:
                raise ValueError(f"episode {episode.episode_id} is over; do not step it again")
            turn = Turn(index=len(episode.turns), generated_text=text)
            episode.turns.append(turn)
            if router_tokens is not None:
                self.charge_router(episode, *router_tokens[i])
            actions = self.format.parse(text, self._models)
            turn.malformed.extend(actions.malformed)
            messages = [f"error: {reason}" for reason in actions.malformed]
            plans.append((episode, messages))
            if actions.select is not None:
                chosen = self._find_call(episode, actions.select.call_name)
                if chosen is not None:
                    self._finish(episode, SELECT, chosen.text, chosen.call_name, recorded=chosen.recorded_score)
                    continue
                if actions.answer is None:
                    turn.malformed.append(actions.select.missing_reason)
                    messages.append(f"error: {actions.select.missing_reason}")
            if actions.answer is not None:
                self._finish(episode, FINAL_TEXT, actions.answer, "direct")
                continue
            calls = actions.calls[:1] if self.mode == "simple" else actions.calls
            if calls and (len(episode.turns) < self.max_turns or self.mode == "simple"):
                for call in calls:
                    record = ToolCallRecord(
                        call_name=call.call_name,
                        model=call.model,
                        system_prompt=call.system_prompt,
                        temperature=call.temperature,
                        sub_query=call.sub_query,
                    )
                    turn.calls.append(record)
                    pending.append((episode, record))
        await asyncio.gather(
            *(run_call(self.pool, episode, record, self.call_max_tokens) for episode, record in pending)
        )
        for episode, messages in plans:
            if episode.done:
                results.append(None)
                continue
            turn = episode.turns[-1]
            if self.mode == "simple":
                call = next((c for c in turn.calls if c.error is None), None)
                if call is not None:
                    self._finish(episode, SIMPLE_CALL, call.text, call.call_name, recorded=call.recorded_score)
                else:
                    self._finish(episode, ERROR if turn.calls else TURN_LIMIT, None, None)
                results.append(None)
                continue
            if len(episode.turns) >= self.max_turns:
                self._finish(episode, TURN_LIMIT, None, None)
                results.append(None)
                continue
            answers = [
                (c.model, self.view(episode, c.text) if c.error is None else f"error: {c.error}") for c in turn.calls
            ]
            results.append(self.format.result_contents(answers, messages))
        return results

    def view(self, episode: Episode, text: str | None) -> str:
        """A successful call's answer as the router reads it (``env.tool_result_view``)."""
        return tool_result_view(self.tool_result_view, text, episode.example, self.max_tool_result_chars)

    @staticmethod
    def _find_call(episode: Episode, name: str) -> ToolCallRecord | None:
        wanted = name if name.startswith("call_") else f"call_{name}"
        for call in reversed(episode.calls):
            if call.call_name == wanted and call.error is None:
                return call
        return None

    def _finish(
        self, episode: Episode, termination: str, answer: str | None, source: str | None, recorded: float | None = None
    ) -> None:
        episode.done, episode.termination = True, termination
        episode.final_answer, episode.final_source = answer, source
        if answer is None:
            episode.score, episode.score_reason = 0.0, f"no valid final answer ({termination})"
        elif recorded is not None:  # a replayed answer: its recorded correctness is the ground truth
            episode.score, episode.score_reason = float(recorded), "recorded score of the replayed answer"
        else:
            verdict = self.scorer(episode.example, answer)
            episode.score, episode.score_reason = float(verdict.value), verdict.reason
        lam = episode.example.get("lam")  # this episode's own cost weight (lambda sampling, a sweep point)
        valid = episode.valid_final and self.format.trajectory_valid(episode.n_malformed)
        components = self.reward_fn(
            episode.score,
            episode.tool_cost_usd,
            episode.router_cost_usd,
            valid_final=valid,
            **({} if lam is None else {"lam": float(lam)}),
        )
        episode.reward = components.as_dict()

    def force_end(self, episode: Episode, termination: str) -> None:
        """End an episode from outside (e.g. the context is full)."""
        if not episode.done:
            self._finish(episode, termination, None, None)
