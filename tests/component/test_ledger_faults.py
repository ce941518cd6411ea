"""Money invariants against a faulty upstream (the pool server on 127.0.0.1 with ``faults.bad_reply``):
every bad reply kind is an ``EndpointError`` with exactly one ledger record per call, no cost is ever
negative, nothing else escapes; cancelled and timed-out calls are recorded; a slow-drip reply is cut
at the per-try deadline; and through a second pool server in front, each call still lands once."""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx
import pytest

from xrouter.pool.api import build_app, serve_in_thread
from xrouter.pool.base import Completion, EndpointError, user_query
from xrouter.pool.faults import BAD_REPLIES, SLOW_DRIP
from xrouter.pool.openai_compat import OpenAICompatEndpoint
from xrouter.pool.pool import CANCELLED, ModelCard, ModelPool
from xrouter.pool.pricing import Price
from xrouter.pool.replies import MalformedResponseError, json_depth, parse_reply

PRICE = Price(input_per_mtok=3.0, output_per_mtok=15.0, source="test")
MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


class EchoEndpoint:
    name = "alpha"

    async def complete(self, messages, temperature=0.0, max_tokens=None, *, prompt_id=None) -> Completion:
        return Completion(
            text=f"echo: {user_query(messages)}",
            input_tokens=10,
            output_tokens=2,
            cost_usd=0.0,
            latency_s=0.0,
            model=self.name,
        )


class LyingEndpoint:
    """An endpoint (a plugin, a bug) that returns impossible money or raises something unexpected."""

    name = "liar"

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    async def complete(self, messages, temperature=0.0, max_tokens=None, *, prompt_id=None) -> Completion:
        if self.behaviour == "raises":
            raise AttributeError("'list' object has no attribute 'get'")
        if self.behaviour == "hangs":
            await asyncio.sleep(60)
        values = {
            "negative_cost": dict(cost_usd=-24.0),
            "nan_cost": dict(cost_usd=math.nan),
            "bool_tokens": dict(input_tokens=True),
            "negative_tokens": dict(output_tokens=-3),
        }[self.behaviour]
        fields = dict(text="x", input_tokens=1, output_tokens=1, cost_usd=0.001, latency_s=0.0, model=self.name)
        return Completion(**{**fields, **values})


@pytest.fixture(scope="module")
def upstream():
    pool = ModelPool({"alpha": EchoEndpoint()}, {"alpha": ModelCard("alpha", PRICE)})
    with serve_in_thread(build_app(pool)) as base_url:
        yield base_url


def set_faults(base_url: str, **faults) -> None:
    response = httpx.post(base_url.removesuffix("/v1") + "/admin/faults", json=faults)
    assert response.status_code == 200, response.text


def http_pool(base_url: str, **options) -> ModelPool:
    settings = dict(
        name="alpha",
        api_model="alpha",
        base_url=base_url,
        price=PRICE,
        timeout_s=5.0,
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        http_backend="httpx",
    )
    settings.update(options)
    return ModelPool({"alpha": OpenAICompatEndpoint(**settings)}, {"alpha": ModelCard("alpha", PRICE)})


async def calls(pool: ModelPool, n: int) -> list:
    async def one():
        try:
            return await pool.call("alpha", MESSAGES)
        except EndpointError as error:
            return error

    try:
        return await asyncio.gather(*(one() for _ in range(n)))
    finally:
        await pool.endpoints["alpha"].aclose()


@pytest.mark.parametrize("kind", sorted(BAD_REPLIES))
def test_each_bad_reply_is_one_failed_ledger_record_per_call(upstream, kind):
    set_faults(upstream, bad_reply=kind)
    pool = http_pool(upstream)
    outcomes = asyncio.run(calls(pool, 4))
    assert all(isinstance(o, EndpointError) and o.retryable for o in outcomes), outcomes
    assert all("malformed response body" in o.reason for o in outcomes), outcomes[0].reason
    records = pool.ledger.records
    assert len(records) == 4 and all(r.error is not None and r.cost_usd == 0.0 and r.attempts == 2 for r in records)


def test_a_partly_bad_upstream_books_every_call_once_and_never_negative(upstream):
    set_faults(upstream, bad_reply="negative_tokens", bad_reply_rate=0.5, error_rate=0.1, drop_rate=0.1, seed=3)
    pool = http_pool(upstream, max_attempts=1)
    outcomes = asyncio.run(calls(pool, 60))
    records = pool.ledger.records
    assert len(records) == 60 and all(r.cost_usd >= 0 for r in records)
    ok = [o for o in outcomes if isinstance(o, Completion)]
    assert 0 < len(ok) < 60 and sum(r.error is None for r in records) == len(ok)
    assert pool.ledger.totals()["cost_usd"] == pytest.approx(sum(c.cost_usd for c in ok)) and all(
        c.cost_usd > 0 for c in ok
    )


def test_a_slow_drip_reply_is_cut_at_the_per_try_deadline(upstream):
    set_faults(upstream, bad_reply=SLOW_DRIP, drip_s=0.1)  # ~200 bytes: 20 s if read to the end
    pool = http_pool(upstream, timeout_s=1.0, max_attempts=2)
    started = time.monotonic()
    [outcome] = asyncio.run(calls(pool, 1))
    elapsed = time.monotonic() - started
    assert isinstance(outcome, EndpointError) and "within timeout_s=1s" in outcome.reason, outcome
    assert elapsed < 3.5, elapsed  # two tries of 1 s plus backoff, not 2 x 20 s
    [record] = pool.ledger.records
    assert record.error and record.attempts == 2 and record.cost_usd == 0.0


@pytest.mark.parametrize("behaviour", ["negative_cost", "nan_cost", "bool_tokens", "negative_tokens", "raises"])
def test_impossible_completions_and_endpoint_bugs_are_recorded_endpoint_errors(behaviour):
    pool = ModelPool({"liar": LyingEndpoint(behaviour)}, {"liar": ModelCard("liar", PRICE)})
    with pytest.raises(EndpointError) as caught:
        asyncio.run(pool.call("liar", MESSAGES))
    assert not caught.value.retryable
    [record] = pool.ledger.records
    assert record.error and record.cost_usd == 0.0


def test_cancelled_and_timed_out_calls_are_recorded():
    pool = ModelPool({"liar": LyingEndpoint("hangs")}, {"liar": ModelCard("liar", PRICE)})

    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.call("liar", MESSAGES, episode_id="e1"), 0.2)
        task = asyncio.create_task(pool.call("liar", MESSAGES, episode_id="e2"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    records = pool.ledger.records
    assert [(r.episode_id, r.error, r.cost_usd) for r in records] == [("e1", CANCELLED, 0.0), ("e2", CANCELLED, 0.0)]


def test_through_a_pool_server_in_front_bad_upstream_bodies_are_502s_and_booked(upstream):
    """A pool server whose pool is the faulty HTTP upstream: no 500, one ledger record per request."""
    set_faults(upstream, bad_reply="usage_list")
    front_pool = http_pool(upstream, max_attempts=1)
    with serve_in_thread(build_app(front_pool)) as front:
        statuses = [
            httpx.post(f"{front}/chat/completions", json={"model": "alpha", "messages": MESSAGES}).status_code
            for _ in range(15)
        ]
    assert statuses == [502] * 15
    assert len(front_pool.ledger) == 15 and all(r.error and r.cost_usd == 0.0 for r in front_pool.ledger.records)


def test_reply_validation_directly():
    ok = parse_reply(
        b'{"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],'
        b' "usage": {"prompt_tokens": 3, "completion_tokens": 1}}'
    )
    assert (ok.text, ok.input_tokens, ok.output_tokens, ok.finish_reason) == ("hi", 3, 1, "stop")
    partial = parse_reply(b'{"choices": [{"message": {"content": null}}], "usage": {"prompt_tokens": 3}}')
    assert (partial.text, partial.input_tokens, partial.output_tokens) == ("", 3, None)
    for body in BAD_REPLIES.values():
        with pytest.raises(MalformedResponseError):
            parse_reply(body)
    assert json_depth(b'{"a": "[[[[", "b": [[1]]}', 64) == 3
    assert json_depth(b"[" * 1000 + b"]" * 1000, 64) == 65  # stops counting past the limit
    assert json_depth(json.dumps({"s": '\\"[[[' * 100}).encode(), 2) == 1


def test_the_ledger_itself_refuses_negative_money():
    from xrouter.pool.ledger import CallRecord

    for bad in (dict(cost_usd=-24.0), dict(cost_usd=math.nan), dict(cost_usd=True), dict(input_tokens=-1)):
        with pytest.raises(ValueError):
            CallRecord(
                **{"model": "m", "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.0, "latency_s": 0.0, **bad}
            )
