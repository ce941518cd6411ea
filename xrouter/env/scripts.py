"""Scripted trajectories: the router turns of a valid episode for a plan of calls (what the cold start fits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xrouter.router import r1_format
from xrouter.router.parsing import render_call, render_select


def scripted_turns(
    plan: str | Sequence[str | Sequence[str]] | Mapping[str, Any],
    system_prompt: str | None,
    mode: str,
    action_format: str,
    max_turns: int,
) -> list[str]:
    """The turns of a valid trajectory (the cold start's scripts).  ``plan`` is a model (call it; full mode:
    then select it), a sequence of turns, each a model or a tuple of models called in parallel in that turn
    (full mode: then select the last turn's last model; ``(first, second)`` is an escalation), or
    ``{"turns": [...], "select": model}`` to select another call's answer (an agreement)."""
    select = None
    if isinstance(plan, Mapping):
        plan, select = plan["turns"], plan.get("select")
    turns = [(plan,)] if isinstance(plan, str) else [(t,) if isinstance(t, str) else tuple(t) for t in plan]
    several = len(turns) > 1 or any(len(t) > 1 for t in turns)
    if several and (action_format != "tool_calls" or mode != "full" or len(turns) > max_turns - 1):
        raise ValueError(
            f"a scripted trajectory of several calls {turns} needs env.mode=full with the tool-call "
            f"format and env.max_turns >= {len(turns) + 1} (one turn per call turn, one to select); "
            f"got mode={mode}, format={action_format}, max_turns={max_turns}"
        )
    if action_format == "router_r1":
        return r1_format.scripted_turns(turns[0][0])
    texts = ["\n".join(render_call(m, system_prompt) for m in turn) for turn in turns]
    return texts + ([render_select(select or turns[-1][-1])] if mode == "full" else [])
