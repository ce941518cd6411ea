"""The router server over a live HTTP pool: our OpenAI-compatible pool server (RouterBench replay) on
127.0.0.1 with injected faults, called through ``pool=local_server``.  A failing endpoint, a slow pool
(request timeout) and a dead pool each fall back as configured and say so; the openai client sees
an answer or a clean 5xx error body, never a stack trace."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.component.test_serve import SECRET, ask, build, demo_router_dir, serve_config
from xrouter.serve.demo import DEMO_MODELS

# the first test builds the demo router when .cache/ lacks it: minutes on a busy 2-core box
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def pool_server(routerbench_pool_server):
    return routerbench_pool_server


def compose_pool():
    from tests.conftest import compose

    return compose("serve_pool", []).pool  # the RouterBench replay pool behind the HTTP server


@pytest.fixture(scope="module")
def server(pool_server):
    from xrouter.pool.api import serve_in_thread

    cfg = serve_config(
        demo_router_dir(),
        [
            "pool=local_server",
            f"pool.common.base_url={pool_server}",
            "pool.common.max_attempts=2",
            "pool.common.backoff_base_s=0.01",
            "pool.common.backoff_max_s=0.02",
            "pool.common.timeout_s=10",
            "fallback.timeout_s=5",
            "inference=thread",
        ],
    )  # test_serve.py covers the default, a child process
    app, service = build(cfg)
    with serve_in_thread(app) as base_url:
        yield base_url, service


@pytest.fixture
def client(server, pool_server):
    set_faults(pool_server)
    return openai.OpenAI(base_url=server[0], api_key=SECRET, max_retries=0, timeout=60)


def set_faults(pool_url: str, **faults) -> None:
    response = httpx.post(pool_url.removesuffix("/v1") + "/admin/faults", json=faults)
    assert response.status_code == 200, response.text


def pool_stats(pool_url: str) -> dict:
    return httpx.get(pool_url.removesuffix("/v1") + "/admin/stats").json()["outcomes"]


@pytest.fixture(scope="module")
def routed(server, pool_server, routerbench_traces):
    """(prompt, model the router calls for it, its recorded answer): a prompt routed without fallback."""
    set_faults(pool_server)
    client = openai.OpenAI(base_url=server[0], api_key=SECRET, max_retries=0)
    test = routerbench_traces[routerbench_traces["split"] == "test"]
    counts = test.groupby("prompt")["prompt_id"].nunique()
    for prompt in [p for p in test["prompt"].drop_duplicates() if counts[p] == 1][:40]:
        answer = ask(client, prompt)
        meta = answer.xrouter
        if meta["fallback"] is None and meta["turns"] == 2 and meta["termination"] == "select":
            return prompt, meta["calls"][0]["model"], answer.choices[0].message.content
    pytest.fail("the demo router answered none of 40 test prompts with call + select_response")


def test_completion_over_the_http_pool(client, pool_server, routed):
    prompt, model, content = routed
    answer = ask(client, prompt)
    meta = answer.xrouter
    assert answer.choices[0].message.content == content and meta["fallback"] is None
    [call] = meta["calls"]
    assert call["model"] == model and call["input_tokens"] > 0 and call["output_tokens"] > 0  # server-reported usage
    assert answer.usage.prompt_tokens == meta["router_tokens"]["input"] + call["input_tokens"]
    assert answer.usage.completion_tokens == meta["router_tokens"]["output"] + call["output_tokens"]
    assert call["cost_usd"] > 0 and call["latency_s"] > 0
    assert pool_stats(pool_server) == {"requests": 1, "ok": 1}


def test_a_failing_endpoint_falls_back_to_the_fallback_model(client, server, pool_server, routed):
    prompt, model, _ = routed
    _, service = server
    service.fallback_model = next(m for m in DEMO_MODELS if m != model)
    set_faults(pool_server, fail_models=[model])  # HTTP 500 on every try
    answer = ask(client, prompt)
    meta = answer.xrouter
    assert meta["fallback"]["reason"] == "endpoint_error" and meta["fallback"]["used"] == "fallback_model"
    assert meta["fallback"]["source"] == f"call_{service.fallback_model}"
    failed = [c for c in meta["calls"] if c["error"]]
    assert failed and all(c["model"] == model and "HTTP 500" in c["error"] for c in failed)
    assert "failed after 2 attempt(s)" in failed[0]["error"]  # the pool client's retries ran first
    [used] = [c for c in meta["calls"] if c["fallback"]]
    assert used["model"] == service.fallback_model and used["error"] is None
    assert answer.choices[0].message.content  # the fallback model's recorded answer
    assert pool_stats(pool_server)["failed_model"] == 2 * len(failed)


def test_streaming_reports_the_fallback_too(client, server, pool_server, routed):
    prompt, model, _ = routed
    server[1].fallback_model = next(m for m in DEMO_MODELS if m != model)
    set_faults(pool_server, fail_models=[model])
    chunks = list(ask(client, prompt, stream=True))
    [final] = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert final.xrouter["fallback"]["used"] == "fallback_model"
    assert "".join(c.choices[0].delta.content or "" for c in chunks)


def test_a_dead_pool_gives_a_clean_502(client, pool_server, routed):
    set_faults(pool_server, fail_models=list(DEMO_MODELS))
    with pytest.raises(openai.InternalServerError) as raised:
        ask(client, routed[0])
    error = raised.value
    assert error.status_code == 502 and error.body["code"] == "endpoint_error"
    assert error.body["xrouter"]["fallback"]["used"] == "none" and "Traceback" not in error.response.text
    with pytest.raises(openai.APIError, match="no answer"):  # streamed: an SSE error event
        list(ask(client, routed[0], stream=True))


def test_request_timeout_falls_back_to_the_fallback_model(client, server, pool_server, routed):
    prompt, model, _ = routed
    _, service = server
    service.fallback_model = next(m for m in DEMO_MODELS if m != model)
    set_faults(pool_server, latency_s=1.0)
    started = time.perf_counter()
    answer = ask(client, prompt, extra_body={"xrouter": {"timeout_s": 0.5}})
    elapsed = time.perf_counter() - started
    meta = answer.xrouter
    assert meta["fallback"]["reason"] == "timeout" and meta["fallback"]["used"] == "fallback_model"
    assert meta["termination"] == "timeout" and meta["calls"][0]["error"] == "cancelled"
    assert answer.choices[0].message.content and 1.5 <= elapsed < 4.0  # 0.5 s, then the 1 s fallback call


def test_request_timeout_without_any_answer_is_504(client, server, pool_server, routed):
    _, service = server
    set_faults(pool_server, latency_s=1.0)
    saved, service.fallback_timeout_s = service.fallback_timeout_s, 0.3
    try:
        with pytest.raises(openai.APIStatusError) as raised:
            ask(client, routed[0], extra_body={"xrouter": {"timeout_s": 0.5}})
    finally:
        service.fallback_timeout_s = saved
    assert raised.value.status_code == 504 and raised.value.body["code"] == "timeout"
    assert "fallback.timeout_s=0.3" in raised.value.body["xrouter"]["fallback"]["failed_calls"][-1]["error"]


@pytest.mark.parametrize("kind", ["usage_list", "usage_string", "deep_nesting", "negative_tokens"])
def test_bad_upstream_bodies_are_booked_once_each_and_answered_cleanly(client, server, pool_server, routed, kind):
    """Issue 15: these bodies gave 500 with 0 of 15 calls in the ledger; now each call is one failed,
    free ledger record and the client gets a fallback answer or a clean 502."""
    _, service = server
    ledger = service.env.pool.ledger
    before = len(ledger)
    set_faults(pool_server, bad_reply=kind)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(ask(client, routed[0]).xrouter)
        except openai.APIStatusError as error:
            assert error.status_code == 502 and "Traceback" not in error.response.text
            outcomes.append(error.body["xrouter"])
    calls = [c for meta in outcomes for c in meta["calls"]]
    new = [r for r in ledger.records[before:] if r.kind == "tool"]  # the router's own turns are booked too
    assert len(new) == len(calls) > 0 and all(r.cost_usd == 0.0 and r.error for r in new)
    assert all(c["error"] and c["cost_usd"] == 0.0 for c in calls)
