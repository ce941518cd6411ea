"""One served request's routing episode: router turns, pool calls, per-request limits and fallbacks.

The episode logic is ``RouterEnv.step`` (parsing, concurrent pool calls, select_response, malformed
calls, costs), exactly as in training; this module drives it asynchronously for one request, the way
``AgentLoop`` drives a batch (token ids appended as generated, tool results as template segments),
with the router's turns batched across requests by ``BatchedGenerator``.

Limits: the wall clock (``timeout_s``), USD spent by router and tools (``max_usd``, checked before
each turn: the calls of a turn run concurrently, so a turn in flight is paid for) and router turns
(``max_turns``).  When one is hit, or the episode ends without an answer (a pool endpoint failed
after its retries, malformed turns, the env's turn limit), the answer falls back to the latest
successful call's answer, else to the configured fallback model, and says so.  Nothing is scored:
a served query has no gold answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from xrouter.env.episode import LENGTH_LIMIT, Episode, ToolCallRecord
from xrouter.env.router_env import RouterEnv
from xrouter.pool.base import EndpointError
from xrouter.router.chat_format import render_prompt
from xrouter.serve.answer import ServedAnswer, Timing
from xrouter.serve.batching import BatchedGenerator, Overloaded, ThreadBatcher
from xrouter.serve.budgets import Budgets
from xrouter.serve.decision_log import DecisionLog
from xrouter.serve.protocol import Limits, RequestError

TIMEOUT, MAX_USD, MAX_TURNS, ENDPOINT_ERROR, NO_FINAL_ANSWER = (
    "timeout",
    "max_usd",
    "max_turns",
    "endpoint_error",
    "no_final_answer",
)
T = TypeVar("T")


async def before(deadline: float, awaitable: Awaitable[T]) -> T:
    """``await awaitable``, or ``TimeoutError`` at loop time ``deadline``.  On Python >= 3.11 it runs
    inline (``asyncio.timeout_at``); ``wait_for`` would wrap it in a task, one more trip round the loop."""
    if hasattr(asyncio, "timeout_at"):
        async with asyncio.timeout_at(deadline):
            return await awaitable
    return await asyncio.wait_for(awaitable, deadline - asyncio.get_running_loop().time())


class RouterService:
    """Answers queries with the router: ``await service.answer(request_id, query, limits)``."""

    def __init__(
        self,
        env: RouterEnv,
        generator: BatchedGenerator,
        tokenizer,
        *,
        eos_token_id: int,
        max_new_tokens: int,
        max_seq_len: int = 4096,
        fallback_model: str | None = None,
        fallback_timeout_s: float = 30.0,
        fallback_over_budget: bool = False,
        conditioner=None,
        budgets: Budgets | None = None,
        max_in_flight: int = 512,
        decision_log: str | None = None,
    ) -> None:
        if fallback_model is not None and fallback_model not in env.pool:
            raise ValueError(
                f"fallback.model '{fallback_model}' is not in the pool ({', '.join(env.pool.names)}); "
                "name a pool model, 'cheapest', or null for no fallback model"
            )
        self.env, self.generator, self.tokenizer = env, generator, tokenizer
        self.eos_token_id, self.max_new_tokens, self.max_seq_len = eos_token_id, max_new_tokens, max_seq_len
        self._eos_text = tokenizer.convert_ids_to_tokens(eos_token_id)
        self.fallback_model, self.fallback_timeout_s = fallback_model, fallback_timeout_s
        self.fallback_over_budget = fallback_over_budget
        self.conditioner = conditioner  # a prefix router: query embedding (+ the request's lambda) per request
        # the encoder runs on a worker thread, batched across requests: never on the event loop
        self.encoder = (
            ThreadBatcher(lambda examples: list(conditioner(examples)), name="xrouter-encoder")
            if conditioner is not None
            else None
        )
        self.budgets = budgets or Budgets(None)
        self.max_in_flight, self.in_flight = int(max_in_flight), 0
        self.decision_log = DecisionLog(decision_log) if decision_log else None
        self._tools = env.tools()

    def prompt_ids(self, episode: Episode) -> list[int]:
        text = render_prompt(self.tokenizer, episode.messages, self._tools)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prepare(
        self,
        request_id: str,
        query: str,
        limits: Limits,
        pool_prompt_id: str | None = None,
        body_s: float = 0.0,
        key: str | None = None,
    ) -> tuple[ServedAnswer, list[int]]:
        """The episode and its prompt, or the ``RequestError`` known before any work: the query is longer than the
        router's context (400), the server is full (503), the key's budget would be passed (429).  The server
        calls it before a stream starts, so these are plain errors; ``release`` ends what it admitted."""
        if self.in_flight >= self.max_in_flight:
            raise RequestError(
                503,
                f"the server is answering {self.in_flight} requests, its limit "
                f"(limits.max_in_flight); retry in a second",
                "server_error",
                code="server_overloaded",
                headers={"Retry-After": "1"},
            )
        example = {"prompt_id": request_id, "prompt": query, "pool_prompt_id": pool_prompt_id}
        if limits.lam is not None:
            example["lam"] = limits.lam
        episode = self.env.reset(example, request_id)
        served = ServedAnswer(text=None, episode=episode, limits=limits, timing=Timing(body_s=body_s), key=key)
        sequence = self.prompt_ids(episode)
        if len(sequence) + self.max_new_tokens > self.max_seq_len:  # refused here, not failed in a shared batch
            raise RequestError(
                400,
                f"the query is {len(sequence)} router tokens with its prompt; this router takes at "
                f"most {self.max_seq_len - self.max_new_tokens}: shorten it",
                param="messages",
                code="context_length_exceeded",
            )
        self.budgets.admit(key, request_id, limits.max_usd)  # before any upstream call
        self.in_flight += 1
        return served, sequence

    def release(self, served: ServedAnswer) -> None:
        """End what ``prepare`` admitted (idempotent): the budget reservation and the in-flight slot."""
        if served.episode.episode_id in self.budgets.requests:
            self.budgets.release(served.episode.episode_id)
            self.in_flight -= 1

    async def condition_of(self, served: ServedAnswer) -> Any:
        """The request's condition vector (a prefix router), from the encoder thread; None otherwise."""
        if self.encoder is None:
            return None
        started = time.perf_counter()
        try:
            return await self.encoder.submit(served.episode.example)
        except Overloaded as error:
            raise RequestError(
                503,
                f"the query encoder is full ({error}); retry in a second",
                "server_error",
                code="server_overloaded",
                headers={"Retry-After": "1"},
            ) from None
        finally:
            served.timing.encoder_s = time.perf_counter() - started

    async def answer(
        self,
        request_id: str,
        query: str,
        limits: Limits,
        pool_prompt_id: str | None = None,
        body_s: float = 0.0,
        prepared: tuple[ServedAnswer, list[int]] | None = None,
        key: str | None = None,
    ) -> ServedAnswer:
        """Run the routing episode within ``limits``; fall back when it yields no answer.  ``body_s``: how
        long the request body took to arrive (reported in the timing); ``prepared``: ``prepare``'s result."""
        served, sequence = prepared or self.prepare(request_id, query, limits, pool_prompt_id, body_s, key)
        try:
            await self._run(served, sequence, query, pool_prompt_id)
        finally:
            self.release(served)
        if self.decision_log is not None:
            self.decision_log.write(served)
        return served

    async def _run(self, served: ServedAnswer, sequence: list[int], query: str, pool_prompt_id: str | None) -> None:
        limits = served.limits
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.timeout_s
        episode = served.episode
        condition = None
        if self.encoder is not None:
            try:
                condition = await before(deadline, self.condition_of(served))
            except asyncio.TimeoutError:
                self.env.force_end(episode, TIMEOUT)
                await self._fall_back(served, TIMEOUT, query, pool_prompt_id)
                return
        reason = None
        while not episode.done:
            if len(episode.turns) >= limits.max_turns:
                reason = MAX_TURNS
                break
            if episode.turns and episode.tool_cost_usd + episode.router_cost_usd >= limits.max_usd:
                reason = MAX_USD
                break
            try:
                prompt_tokens = len(sequence)
                started = time.perf_counter()
                try:
                    new = await before(deadline, self.generator.generate(sequence, condition))
                finally:
                    served.timing.router_s += time.perf_counter() - started
                text = self._decode(new, sequence)
                started = time.perf_counter()
                try:
                    [contents] = await before(deadline, self.env.step([episode], [text], [(prompt_tokens, len(new))]))
                finally:
                    served.timing.pool_s += time.perf_counter() - started
            except asyncio.TimeoutError:  # TimeoutError itself on Python >= 3.11
                reason = TIMEOUT
                break
            if contents is None:
                break
            segment = self.tokenizer(self.env.results_segment(contents), add_special_tokens=False)["input_ids"]
            if len(sequence) + len(segment) + self.max_new_tokens > self.max_seq_len:
                self.env.force_end(episode, LENGTH_LIMIT)
                break
            sequence.extend(segment)
        if episode.valid_final:
            served.text = episode.final_answer
            return
        if reason is None:
            failed = [c for c in episode.calls if c.error is not None]
            reason = (
                ENDPOINT_ERROR if failed else (LENGTH_LIMIT if episode.termination == LENGTH_LIMIT else NO_FINAL_ANSWER)
            )
        if not episode.done:
            self.env.force_end(episode, reason)
        await self._fall_back(served, reason, query, pool_prompt_id)

    def _decode(self, new: list[int], sequence: list[int]) -> str:
        """Append the turn to the sequence as generated (closed with end-of-turn when cut off)."""
        sequence.extend(new)
        if not new or new[-1] != self.eos_token_id:
            sequence.append(self.eos_token_id)
        return self.tokenizer.decode(new, skip_special_tokens=False).removesuffix(self._eos_text)

    async def _fall_back(self, served: ServedAnswer, reason: str, query: str, pool_prompt_id: str | None) -> None:
        episode = served.episode
        failed = [{"model": c.model, "error": c.error} for c in episode.calls if c.error is not None]
        best = next((c for c in reversed(episode.calls) if c.error is None and c.text is not None), None)
        if best is not None:
            served.text = best.text
            served.fallback = {
                "reason": reason,
                "used": "best_so_far",
                "source": best.call_name,
                "failed_calls": failed,
            }
            return
        if self.fallback_model is None or (reason == MAX_USD and not self.fallback_over_budget):
            served.fallback = {
                "reason": reason,
                "used": "none",
                "source": None,
                "failed_calls": failed,
                "detail": "no answer was obtained and no fallback model may be called",
            }
            return
        record = ToolCallRecord(
            call_name=f"call_{self.fallback_model}", model=self.fallback_model, system_prompt="", temperature=0.0
        )
        started = time.perf_counter()
        try:
            completion = await before(
                asyncio.get_running_loop().time() + self.fallback_timeout_s,
                self.env.pool.call(
                    self.fallback_model,
                    [{"role": "user", "content": query}],
                    0.0,
                    self.env.call_max_tokens,
                    prompt_id=pool_prompt_id,
                    episode_id=episode.episode_id,
                ),
            )
        except (EndpointError, asyncio.TimeoutError) as error:
            record.error = str(error) or f"no answer within fallback.timeout_s={self.fallback_timeout_s:g}"
            record.attempts = getattr(error, "attempts", 1)
            record.latency_s = time.perf_counter() - started  # its retries took time too
        else:
            record.text, record.cost_usd, record.latency_s = completion.text, completion.cost_usd, completion.latency_s
            record.input_tokens, record.output_tokens = completion.input_tokens, completion.output_tokens
            record.attempts = completion.attempts
        finally:
            served.timing.pool_s += time.perf_counter() - started
        served.fallback_call = record
        if record.error is None:
            served.text = record.text
            served.fallback = {
                "reason": reason,
                "used": "fallback_model",
                "source": record.call_name,
                "failed_calls": failed,
            }
        else:
            served.fallback = {
                "reason": reason,
                "used": "none",
                "source": None,
                "failed_calls": failed + [{"model": record.model, "error": record.error}],
                "detail": "the fallback model failed too",
            }
