"""One tool call of an episode: run it against the pool (every outcome recorded on the call), and the view of
its answer that goes back to the router (``env.tool_result_view``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from xrouter.env.episode import Episode, ToolCallRecord
from xrouter.pool.base import EndpointError
from xrouter.pool.pool import ModelPool, UnknownModelError
from xrouter.verify.answer_view import render_answer_view

# a tool result longer than this reaches the router clipped (router.prompt.max_tool_result_chars)
TOOL_RESULT_CHARS = 2000
# how a called model's answer reaches the router (env.tool_result_view): its head and tail clipped to
# max_tool_result_chars; the whole text (LLM routers); or the final answer as the benchmark's parser reads
# it, normalised, with whether it parsed and the response's length (xrouter/verify/answer_view.py)
TOOL_RESULT_VIEWS = ("clip", "full", "answer")


async def run_call(pool: ModelPool, episode: Episode, record: ToolCallRecord, max_tokens: int | None) -> None:
    """Call ``record.model`` with the router's system prompt and the original query; the answer, cost,
    latency, tries, or the error land on ``record``."""
    messages = [{"role": "system", "content": record.system_prompt}] if record.system_prompt else []
    messages.append({"role": "user", "content": str(episode.example["prompt"])})
    started = time.perf_counter()
    try:
        # the served router's examples carry pool_prompt_id=None: replay then matches the query text
        prompt_id = episode.example.get("pool_prompt_id", episode.prompt_id)
        completion = await pool.call(
            record.model,
            messages,
            record.temperature,
            max_tokens,
            prompt_id=prompt_id,
            episode_id=episode.episode_id,
        )
    except EndpointError as error:  # its retries took time too: say how long and how many tries
        record.error, record.attempts = str(error), error.attempts
        record.latency_s = error.latency_s or time.perf_counter() - started
        return
    except UnknownModelError as error:
        record.error = str(error)
        return
    record.text, record.cost_usd, record.latency_s = completion.text, completion.cost_usd, completion.latency_s
    record.attempts = completion.attempts
    record.input_tokens, record.output_tokens = completion.input_tokens, completion.output_tokens
    record.recorded_score = completion.recorded_score


def tool_result_view(view: str, text: str | None, example: Mapping[str, Any], max_chars: int) -> str:
    """A successful call's answer as the router reads it: ``clip``, ``full`` or ``answer``."""
    if view == "answer":
        return render_answer_view(example.get("verifier"), text, example)
    if view == "full":
        return text or ""
    return clip_tool_result(text, max_chars)


def clip_tool_result(text: str | None, limit: int) -> str:
    """``text`` up to ``limit`` characters: its head and tail, and its length, when longer."""
    text = text or ""
    if len(text) <= limit:
        return text
    # head and tail: a model's final answer (and whether it hedged) is usually at the end, and the
    # length says how much it wrote
    head = limit // 2
    return f"{text[:head]}...[{len(text)} chars]...{text[len(text) - (limit - head) :]}"
