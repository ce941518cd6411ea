"""Tool schemas the router sees: one ``call_<model>`` per pool model (from its card) and ``select_response``."""

from __future__ import annotations

from typing import Any

from xrouter.pool.pool import ModelPool
from xrouter.router.parsing import SELECT_TOOL

SELECT_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": SELECT_TOOL,
        "description": "Return the answer of an earlier call verbatim as the final answer and stop.",
        "parameters": {
            "type": "object",
            "properties": {
                "model_call_name": {"type": "string", "description": "The call_<model> whose answer to return."}
            },
            "required": ["model_call_name"],
        },
    },
}


def router_tools(pool: ModelPool) -> list[dict[str, Any]]:
    """OpenAI-style tool schemas: every pool model, then select_response."""
    return pool.tool_schemas() + [SELECT_RESPONSE_SCHEMA]
