"""Router-R1's action format (github ulab-uiuc/Router-R1): its prompt, its turn parser and its reward.

The router thinks in ``<think>...</think>``, routes a sub-query with
``<search>model-name: sub-query</search>``, receives the answer as ``<information>...</information>``
(written by the environment, never by the router) and ends with ``<answer>...</answer>``.  The
reward is Router-R1's hierarchical sum: a trajectory whose format is wrong earns the format
reward -1 and nothing else; a well-formed one earns ``(1 - alpha) * outcome + alpha * cost reward``
with the cost reward ``1 - min(C / cost_scale, 1)`` (as ``reward=linear``).

``env.format=router_r1`` (``conf/env/router_r1.yaml``) runs it in ``RouterEnv``, the cold start and
serve, through its format object (``xrouter/router/formats/router_r1.py``).  Two adaptations to replay,
stated in ``experiments/seed_systems/README.md``: the routed model answers the original query (replay
holds answers to that query only; the sub-query is recorded), and
an ``<answer>`` that is exactly the name of a model routed earlier returns that model's answer
verbatim (a router that cannot copy a long answer names its source, as ``select_response`` does);
any other ``<answer>`` is the router's own answer, scored by the benchmark's verifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from xrouter.reward.functions import router_r1_reward  # noqa: F401  (the format's reward, reward=router_r1)
from xrouter.router.chat_format import IM_END, IM_START

THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
SEARCH = re.compile(r"<search>(.*?)</search>", re.DOTALL)
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
TAGS = ("think", "search", "information", "answer")
R1_SCAFFOLD_TOKENS = [f"<{t}>" for t in TAGS] + [f"</{t}>" for t in TAGS]

R1_SYSTEM_PROMPT = """Answer the question. You must reason inside <think> and </think> first every time you
get new information. To ask a model from the pool, write <search>model-name: sub-query</search>; its
answer comes back between <information> and </information>. You may route as often as you need.
When you have the answer, write it inside <answer> and </answer>, without further explanation;
<answer>model-name</answer> returns that model's information as your answer.
Models (name: price per 1M input/output tokens): {models}"""


def r1_system_prompt(model_prices: dict[str, tuple[float, float]]) -> str:
    """Router-R1's instruction with the pool's models and prices."""
    listing = "; ".join(f"{m}: ${i:g}/${o:g}" for m, (i, o) in sorted(model_prices.items()))
    return R1_SYSTEM_PROMPT.format(models=listing)


SCRIPT_SUB_QUERY = "solve the question"  # the cold start's sub-query (replayed models answer the query itself)


def render_route(model: str, sub_query: str = SCRIPT_SUB_QUERY, thought: str = "") -> str:
    """A routing turn: ``<think>thought</think><search>model: sub-query</search>``."""
    return f"<think>{thought}</think>\n<search>{model}: {sub_query}</search>"


def render_answer(answer: str, thought: str = "") -> str:
    return f"<think>{thought}</think>\n<answer>{answer}</answer>"


def render_information(text: str) -> str:
    """What the environment appends after a routing turn."""
    return f"\n<information>{text}</information>\n"


def information_segment(contents: Sequence[str]) -> str:
    """The text after a generated assistant turn (which ends with <|im_end|>): the routed models'
    answers as ``<information>`` blocks in one user turn, then the next assistant header (the chat
    form of Router-R1's in-line ``<information>``; the agent loop appends it as the tool format's
    ``tool_results_segment``)."""
    body = "".join(f"\n<information>{c}</information>" for c in contents)
    return f"\n{IM_START}user{body}{IM_END}\n{IM_START}assistant\n"


def scripted_turns(model: str) -> list[str]:
    """The cold start's trajectory for ``model``: route to it, then answer with its information."""
    return [render_route(model), render_answer(model)]


@dataclass
class R1Turn:
    """What one Router-R1 turn said."""

    thoughts: list[str] = field(default_factory=list)
    routes: list[tuple[str, str]] = field(default_factory=list)  # (pool model, sub-query)
    answer: str | None = None
    malformed: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.malformed and (bool(self.routes) != (self.answer is not None))


def parse_r1_turn(text: str, models: Iterable[str]) -> R1Turn:
    """Parse one generated turn; never raises: every problem is a ``malformed`` reason.

    A valid turn opens with one ``<think>`` block and then holds either ``<search>`` blocks (routes
    to known models, ``name: sub-query``) or one ``<answer>`` block, not both; it never writes
    ``<information>`` itself.
    """
    models = set(models)
    turn = R1Turn(thoughts=[t.strip() for t in THINK.findall(text)])
    if not text.lstrip().startswith("<think>") or not turn.thoughts:
        turn.malformed.append("a turn must open with <think>...</think>")
    if "<information>" in text:
        turn.malformed.append("<information> is written by the environment, not by the router")
    for tag, pattern in (("think", THINK), ("search", SEARCH), ("answer", ANSWER)):
        if text.count(f"<{tag}>") != text.count(f"</{tag}>") or len(pattern.findall(text)) != text.count(f"<{tag}>"):
            turn.malformed.append(f"unbalanced <{tag}> tags")
    for block in SEARCH.findall(text):
        name, sep, query = block.partition(":")
        name, query = name.strip(), query.strip()
        if not sep or not query:
            turn.malformed.append(f"<search> needs 'model-name: sub-query', got {block.strip()[:80]!r}")
        elif name not in models:
            turn.malformed.append(f"unknown model {name!r} in <search>; available: {', '.join(sorted(models))}")
        else:
            turn.routes.append((name, query))
    answers = ANSWER.findall(text)
    if len(answers) > 1:
        turn.malformed.append("more than one <answer>")
    if answers:
        turn.answer = answers[-1].strip()
    if turn.routes and turn.answer is not None:
        turn.malformed.append("a turn either routes (<search>) or answers (<answer>), not both")
    if not turn.routes and turn.answer is None and not turn.malformed:
        turn.malformed.append("no <search> and no <answer>")
    return turn


def trajectory_format_ok(turns: list[str], models: Iterable[str]) -> bool:
    """Router-R1's format check over a whole trajectory: every turn valid, every turn but the last
    routes, and the last one answers."""
    if not turns:
        return False
    parsed = [parse_r1_turn(t, models) for t in turns]
    return all(p.valid for p in parsed) and all(p.routes for p in parsed[:-1]) and parsed[-1].answer is not None
