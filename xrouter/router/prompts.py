"""The router's system prompt: the objective (solve the query at the lowest cost) and the rules."""

from __future__ import annotations

ROUTER_SYSTEM_PROMPT = """You are a router. Solve the user's query at the lowest cost.
You may answer directly (cheapest, but a wrong answer earns nothing), or call models from the pool
with call_<model>(optimized_system_prompt, temperature): each called model sees only your system
prompt and the user's query. Calls cost what the model's price says. You can make several calls in
one turn. After the results arrive, reply with the final answer, or use select_response(model_call_name)
to return one call's answer verbatim. You have at most {max_turns} turns."""

SIMPLE_SYSTEM_PROMPT = """You are a router. Solve the user's query at the lowest cost with exactly one action:
answer directly, or make one call_<model>(optimized_system_prompt, temperature) whose answer is
returned as the final answer. A wrong answer earns nothing; calls cost what the model's price says."""


MINIMAL_SYSTEM_PROMPT = "Route the query at the lowest cost: answer it, or call a model and select its answer."


def system_prompt(mode: str = "full", max_turns: int = 3) -> str:
    """``full`` (multi-turn, several calls), ``simple`` (one action only) or ``minimal`` (one line,
    for the tiny CPU router, whose sequences must stay short and which learns the rules from reward)."""
    if mode == "minimal":
        return MINIMAL_SYSTEM_PROMPT
    if mode == "simple":
        return SIMPLE_SYSTEM_PROMPT
    if mode == "full":
        return ROUTER_SYSTEM_PROMPT.format(max_turns=max_turns)
    raise ValueError(f"unknown router prompt mode '{mode}'; use 'full' or 'simple'")
