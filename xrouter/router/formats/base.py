"""What every router action format provides (the ``ActionFormat`` protocol), the format-free actions a parsed
turn asks the environment for, and the plan helpers that the formats' scripted trajectories share."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from xrouter.pool.pool import ModelPool

# a scripted trajectory's plan: a model; a sequence of turns, each a model or models called in parallel;
# or {"turns": [...], "select": model}
Plan = str | Sequence[str | Sequence[str]] | Mapping[str, Any]


@dataclass(frozen=True)
class CallRequest:
    """One pool call a turn asks for."""

    model: str
    system_prompt: str = ""
    temperature: float = 0.0
    sub_query: str | None = None  # Router-R1's <search> sub-query (recorded; replayed models answer the query)

    @property
    def call_name(self) -> str:
        return f"call_{self.model}"


@dataclass(frozen=True)
class SelectRequest:
    """Return an earlier call's answer verbatim: ``call_name`` is ``call_<model>`` or the model's name."""

    call_name: str
    missing_reason: str = ""  # the malformed reason when no earlier call of that name succeeded (and no answer)


@dataclass
class TurnActions:
    """What one router turn asks for, whatever its format.  The environment tries ``select`` first, then
    ends with ``answer`` (the router's own final answer), else runs ``calls``; every ``malformed`` reason
    is counted and sent back to the router."""

    calls: list[CallRequest] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    select: SelectRequest | None = None
    answer: str | None = None


class ActionFormat(Protocol):
    """One way for the router to write its actions and to read their results (``env.format``)."""

    name: str  # its env.format name

    def check_env(self, mode: str, max_turns: int) -> None:
        """Raise ValueError when an environment of this mode and number of turns cannot run the format."""

    def system_prompt(self, pool: ModelPool, style: str, max_turns: int) -> str:
        """The router's system prompt (``style``: router.prompt.system_prompt_style, else env.mode)."""

    def tools(self, pool: ModelPool, mode: str, tools_in_prompt: str) -> list[dict[str, Any]] | None:
        """The tool schemas rendered into the prompt; None when the system prompt describes the actions."""

    def parse(self, text: str, models: Collection[str]) -> TurnActions:
        """The actions of one generated turn; never raises: every problem is a malformed reason."""

    def result_contents(self, answers: Sequence[tuple[str, str]], errors: Sequence[str]) -> list[str]:
        """What goes back after a turn that goes on: each call's (model, answer or error), then ``errors``."""

    def results_segment(self, contents: Sequence[str]) -> str:
        """The text appended after the router's turn (which ends with <|im_end|>) that carries ``contents``."""

    def script(self, plan: Plan, system_prompt: str | None, mode: str, max_turns: int) -> list[str]:
        """The router turns of a valid trajectory for ``plan`` (the cold start's scripts)."""

    def corpus_turns(self, model: str) -> list[str]:
        """Turns about ``model`` that the tiny router's tokenizer is trained on."""

    def extra_tokens(self, models: Sequence[str]) -> list[str]:
        """Whole tokens for the tiny router: the format's names of the models and its fixed pieces."""

    def decision_tokens(self, models: Sequence[str]) -> list[str]:
        """The tokens that name a model: where a prompt group's trajectories part (the cold start's weights)."""

    def trajectory_valid(self, n_malformed: int) -> bool:
        """The format's rule for a valid final answer in the reward, given the episode's malformed count."""


def plan_turns(plan: Plan) -> tuple[list[tuple[str, ...]], str | None]:
    """A plan as turns of models called in parallel, and the model to select (None: the last one called)."""
    select = None
    if isinstance(plan, Mapping):
        plan, select = plan["turns"], plan.get("select")
    turns = [(plan,)] if isinstance(plan, str) else [(t,) if isinstance(t, str) else tuple(t) for t in plan]
    return turns, select


def several_calls(turns: Sequence[tuple[str, ...]]) -> bool:
    return len(turns) > 1 or any(len(t) > 1 for t in turns)


def several_calls_error(turns: Sequence[tuple[str, ...]], mode: str, format_name: str, max_turns: int) -> ValueError:
    return ValueError(
        f"a scripted trajectory of several calls {turns} needs env.mode=full with the tool-call "
        f"format and env.max_turns >= {len(turns) + 1} (one turn per call turn, one to select); "
        f"got mode={mode}, format={format_name}, max_turns={max_turns}"
    )
