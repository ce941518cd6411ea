"""The router's action formats as variants: one object per ``env.format``, looked up by name here.

A format (``ActionFormat`` in ``base.py``) owns everything that differs between ways of writing actions: its
system prompt and tool schemas, the parser of a turn into format-free ``TurnActions``, how results are written
back into the conversation, the cold start's scripted turns, the tiny router's whole tokens, and its validity
rule for the reward.  The environment, the cold start and the builder hold a format object and never compare
names.  Adding a third format is one new file in this package (a class implementing ``ActionFormat``) and one
line in ``ACTION_FORMATS`` below.
"""

from __future__ import annotations

from xrouter.router.formats.base import ActionFormat, CallRequest, Plan, SelectRequest, TurnActions
from xrouter.router.formats.router_r1 import ROUTER_R1
from xrouter.router.formats.tool_calls import TOOL_CALLS

ACTION_FORMATS: dict[str, ActionFormat] = {
    TOOL_CALLS.name: TOOL_CALLS,
    ROUTER_R1.name: ROUTER_R1,
}

__all__ = ["ACTION_FORMATS", "ActionFormat", "CallRequest", "Plan", "SelectRequest", "TurnActions", "resolve_format"]


def resolve_format(action_format: str | ActionFormat) -> ActionFormat:
    """The format named ``action_format`` (an env.format name); a format object is returned as it is."""
    if not isinstance(action_format, str):
        return action_format
    if action_format not in ACTION_FORMATS:
        raise ValueError(f"env.format must be one of {list(ACTION_FORMATS)}, not '{action_format}'")
    return ACTION_FORMATS[action_format]
