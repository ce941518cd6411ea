"""The HTTP pool path end to end: OpenAICompatEndpoint -> a real uvicorn server on 127.0.0.1 serving a
ModelPool with injected faults (the pool server, xrouter.pool.api / xrouter.serve_pool).  Faults are
changed per test via /admin/faults."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import math
import random
import time

import httpx
import pytest

from xrouter.pool.api import FaultConfig, build_app, serve_in_thread
from xrouter.pool.base import Completion, EndpointError, user_query
from xrouter.pool.ledger import CostLedger
from xrouter.pool.openai_compat import OpenAICompatEndpoint, parse_retry_after
from xrouter.pool.pool import ModelCard, ModelPool
from xrouter.pool.pricing import Price

PRICE = Price(input_per_mtok=3.0, output_per_mtok=15.0, source="test")
BACKENDS = ["httpx"] + (["aiohttp"] if importlib.util.find_spec("aiohttp") else [])
SECRET = "sk-test-DO-NOT-LEAK-0123456789abcdef"


class FixedEndpoint:
    """Answers '<name> says: <query>' with fixed token counts; remembers the prompt ids it saw."""

    def __init__(self, name: str, input_tokens: int | None = 12, output_tokens: int | None = 5) -> None:
        self.name = name
        self.input_tokens, self.output_tokens = input_tokens, output_tokens
        self.prompt_ids: list[str | None] = []

    async def complete(self, messages, temperature=0.0, max_tokens=None, *, prompt_id=None) -> Completion:
        self.prompt_ids.append(prompt_id)
        return Completion(
            text=f"{self.name} says: {user_query(messages)}",
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=0.0,
            latency_s=0.0,
            model=self.name,
        )


class BrokenEndpoint:
    """Fails like an upstream outage (retryable) or like replay asked for an unrecorded prompt (not)."""

    name = "broken"

    async def complete(self, messages, temperature=0.0, max_tokens=None, *, prompt_id=None) -> Completion:
        if prompt_id == "unrecorded":
            raise EndpointError(self.name, "no recorded answer for prompt_id 'unrecorded'")
        raise EndpointError(self.name, "upstream is down", attempts=2, retryable=True)


@pytest.fixture(scope="module")
def server():
    endpoints = {"alpha": FixedEndpoint("alpha"), "beta": FixedEndpoint("beta", None, None), "broken": BrokenEndpoint()}
    pool = ModelPool(endpoints, {name: ModelCard(name, PRICE) for name in endpoints})
    with serve_in_thread(build_app(pool)) as base_url:
        yield base_url, pool


@pytest.fixture
def base_url(server):
    url = server[0]
    set_faults(url)  # every test starts without faults and with fresh stats
    return url


def set_faults(base_url: str, **faults) -> None:
    response = httpx.post(base_url.removesuffix("/v1") + "/admin/faults", json=faults)
    assert response.status_code == 200, response.text


def stats(base_url: str) -> dict:
    return httpx.get(base_url.removesuffix("/v1") + "/admin/stats").json()["outcomes"]


def endpoint(base_url: str, **options) -> OpenAICompatEndpoint:
    settings = dict(
        name="alpha",
        api_model="alpha",
        base_url=base_url,
        price=PRICE,
        timeout_s=5.0,
        max_attempts=3,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    settings.update(options)
    return OpenAICompatEndpoint(**settings)


def call(ep: OpenAICompatEndpoint, content: str = "What is 2+2?") -> tuple[Completion | EndpointError, CostLedger]:
    """One call through a client-side ModelPool; returns the completion (or the error) and the ledger."""
    pool = ModelPool({ep.name: ep}, {ep.name: ModelCard(ep.name, PRICE)})

    async def go():
        try:
            return await pool.call(ep.name, [{"role": "user", "content": content}], episode_id="ep-1")
        except EndpointError as error:
            return error
        finally:
            await ep.aclose()

    return asyncio.run(go()), pool.ledger


def seed_failing_first_only(rate: float) -> int:
    """A seed whose first fault draw falls under ``rate`` and second does not (one draw per request)."""
    return next(s for s in range(1000) if (lambda r: r.random() < rate <= r.random())(random.Random(s)))


# -- success paths --------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_normal_call_is_priced_from_usage_and_recorded(base_url, backend):
    completion, ledger = call(endpoint(base_url, http_backend=backend))
    assert completion.text == "alpha says: What is 2+2?"
    assert (completion.input_tokens, completion.output_tokens, completion.attempts) == (12, 5, 1)
    assert completion.cost_usd == pytest.approx(PRICE.cost(12, 5)) and not completion.usage_estimated
    assert completion.model == "alpha" and completion.latency_s > 0
    [record] = ledger.records
    assert (record.model, record.error, record.attempts, record.episode_id) == ("alpha", None, 1, "ep-1")
    assert record.cost_usd == pytest.approx(PRICE.cost(12, 5))


def test_missing_usage_is_estimated(base_url):
    set_faults(base_url, omit_usage=True)
    completion, ledger = call(endpoint(base_url), content="x" * 41)
    assert completion.usage_estimated and ledger.records[0].usage_estimated
    assert completion.input_tokens == 11  # ceil(41 / 4)
    assert completion.output_tokens == math.ceil(len(completion.text) / 4)
    assert completion.cost_usd == pytest.approx(PRICE.cost(11, completion.output_tokens))


def test_server_estimates_usage_the_pool_did_not_report(base_url):
    completion, _ = call(endpoint(base_url, name="beta", api_model="beta"), content="y" * 8)
    assert (completion.input_tokens, completion.usage_estimated) == (2, False)  # the server's estimate


def test_endpoint_survives_a_new_event_loop(base_url):
    ep = endpoint(base_url)
    for _ in range(2):  # two asyncio.run calls: the client is rebuilt for the second loop
        completion, _ = call(ep)
        assert completion.attempts == 1


# -- retried faults -------------------------------------------------------------------------------
def test_rate_limit_burst_is_retried_honouring_retry_after(base_url):
    set_faults(base_url, rate_limit_burst=2)
    # a 5 s backoff would make this slow: the server's Retry-After: 0 must win
    completion, ledger = call(endpoint(base_url, backoff_base_s=5.0, backoff_max_s=5.0))
    assert isinstance(completion, Completion), completion
    assert completion.attempts == 3 and ledger.records[0].attempts == 3
    assert completion.latency_s < 2.0
    assert stats(base_url) == {"requests": 3, "rate_limited": 2, "ok": 1}


def test_persistent_server_error_fails_after_max_attempts(base_url):
    set_faults(base_url, error_rate=1.0)
    error, ledger = call(endpoint(base_url, max_attempts=3))
    assert isinstance(error, EndpointError) and error.retryable
    assert error.attempts == 3 and "failed after 3 attempt(s)" in str(error) and "HTTP 500" in str(error)
    [record] = ledger.records
    assert record.error and "HTTP 500" in record.error and record.attempts == 3 and record.cost_usd == 0.0
    assert stats(base_url)["server_error"] == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_timeout_fails_after_attempts(base_url, backend):
    set_faults(base_url, latency_s=0.6)
    started = time.perf_counter()
    error, ledger = call(endpoint(base_url, timeout_s=0.2, max_attempts=2, http_backend=backend))
    assert isinstance(error, EndpointError) and error.attempts == 2, error
    assert "timeout_s=0.2" in str(error)
    assert 0.4 <= time.perf_counter() - started < 2.0
    assert ledger.records[0].attempts == 2 and ledger.records[0].latency_s >= 0.4


@pytest.mark.parametrize("backend", BACKENDS)
def test_malformed_body_is_retried_then_fails_clearly(base_url, backend):
    set_faults(base_url, malformed_rate=0.5, seed=seed_failing_first_only(0.5))
    completion, _ = call(endpoint(base_url, http_backend=backend))
    assert isinstance(completion, Completion) and completion.attempts == 2, completion
    set_faults(base_url, malformed_rate=1.0)
    error, ledger = call(endpoint(base_url, http_backend=backend))
    assert isinstance(error, EndpointError) and error.attempts == 3
    assert "malformed response body" in str(error)
    assert "malformed response body" in ledger.records[0].error


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropped_connection_is_retried(base_url, backend):
    set_faults(base_url, drop_rate=0.5, seed=seed_failing_first_only(0.5))
    completion, _ = call(endpoint(base_url, http_backend=backend))
    assert isinstance(completion, Completion) and completion.attempts == 2, completion
    set_faults(base_url, drop_rate=1.0)
    error, _ = call(endpoint(base_url, max_attempts=2, http_backend=backend))
    assert isinstance(error, EndpointError) and error.attempts == 2
    assert "failed or was dropped" in str(error)
    assert stats(base_url)["dropped"] == 2


# -- not retried ----------------------------------------------------------------------------------
def test_unauthorized_is_not_retried_and_names_the_env_var(base_url, monkeypatch):
    monkeypatch.setenv("XR_TEST_KEY", SECRET)
    set_faults(base_url, fail_models=["alpha"], fail_status=401)
    error, ledger = call(endpoint(base_url, api_key_env="XR_TEST_KEY"))
    assert isinstance(error, EndpointError) and not error.retryable
    assert error.attempts == 1 and ledger.records[0].attempts == 1
    assert "HTTP 401" in str(error) and "check the env var XR_TEST_KEY" in str(error)
    assert stats(base_url) == {"requests": 1, "failed_model": 1}


def test_unknown_model_is_404_not_retried(base_url):
    error, _ = call(endpoint(base_url, api_model="no-such-model"))
    assert isinstance(error, EndpointError) and error.attempts == 1 and not error.retryable
    assert "HTTP 404" in str(error) and "no-such-model" in str(error)


def test_missing_key_env_var_is_a_clear_error(base_url, monkeypatch):
    monkeypatch.delenv("XR_ABSENT_KEY", raising=False)
    error, ledger = call(endpoint(base_url, api_key_env="XR_ABSENT_KEY"))
    assert isinstance(error, EndpointError) and "XR_ABSENT_KEY is not set" in str(error)
    assert error.attempts == 0 and ledger.records[0].error is not None  # nothing was sent


def test_key_never_reaches_logs_errors_or_ledger(base_url, monkeypatch, caplog, capfd, tmp_path):
    monkeypatch.setenv("XR_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    texts = []
    for faults in ({"error_rate": 1.0}, {"fail_models": ["alpha"], "fail_status": 401}, {"drop_rate": 1.0}, {}):
        set_faults(base_url, **faults)
        ep = endpoint(base_url, api_key_env="XR_TEST_KEY")
        result, ledger = call(ep)
        texts += [str(result), repr(result), repr(ep), getattr(result, "reason", "")]
        texts.append(ledger.save(tmp_path / "ledger.jsonl").read_text())
    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert "HTTP 401" in " ".join(texts) and "attempt 1/3 failed" in caplog.text  # failures happened, logged
    assert not [t for t in texts if SECRET in t]


# -- the server itself ----------------------------------------------------------------------------
def test_server_rejects_bad_requests_with_openai_error_bodies(base_url):
    chat = base_url + "/chat/completions"
    bad_json = httpx.post(chat, content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    assert set(bad_json.json()["error"]) == {"message", "type", "param", "code"}
    no_messages = httpx.post(chat, json={"model": "alpha"})
    assert no_messages.status_code == 400 and no_messages.json()["error"]["param"] == "messages"
    unknown = httpx.post(chat, json={"model": "gamma", "messages": [{"role": "user", "content": "hi"}]})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert "alpha" in unknown.json()["error"]["message"]
    upstream = httpx.post(chat, json={"model": "broken", "messages": [{"role": "user", "content": "hi"}]})
    assert upstream.status_code == 502 and "upstream is down" in upstream.json()["error"]["message"]
    assert httpx.post(base_url.removesuffix("/v1") + "/admin/faults", json={"nope": 1}).status_code == 400
    assert stats(base_url) == {"requests": 4, "bad_request": 2, "not_found": 1, "upstream_error": 1}


POOL_SERVER_BAD_BODIES = {  # the probe's six bad bodies (four gave plain-text 500s), and more
    "nested JSON": (b'{"model": "alpha", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, None),
    "numeric content": ({"model": "alpha", "messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
    "object as a text part": (
        {"model": "alpha", "messages": [{"role": "user", "content": [{"type": "text", "text": {"a": 1}}]}]},
        400,
        "messages[0].content",
    ),
    "list as prompt_id": (
        {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "metadata": {"prompt_id": ["p"]}},
        400,
        "metadata.prompt_id",
    ),
    "role a list": ({"model": "alpha", "messages": [{"role": ["user"], "content": "hi"}]}, 400, "messages[0].role"),
    "lone surrogate": (
        b'{"model": "alpha", "messages": [{"role": "user", "content": "\\ud800"}]}',
        400,
        "messages[0].content",
    ),
    "temperature 100": (
        {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "temperature": 100},
        400,
        "temperature",
    ),
    "max_tokens 1e12": (
        {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e12},
        400,
        "max_tokens",
    ),
    "body too large": (
        b'{"model": "alpha", "messages": [{"role": "user", "content": "' + b"x" * (5 << 20) + b'"}]}',
        413,
        None,
    ),
}


@pytest.mark.parametrize("case", list(POOL_SERVER_BAD_BODIES))
def test_pool_server_answers_every_bad_body_with_a_4xx_openai_error(base_url, case):
    body, status, param = POOL_SERVER_BAD_BODIES[case]
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        base_url + "/chat/completions", content=raw, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param


def test_pool_failures_map_to_retryable_502_or_final_400(base_url):
    error, _ = call(endpoint(base_url, name="broken", api_model="broken"))
    assert isinstance(error, EndpointError) and error.attempts == 3 and "HTTP 502" in str(error)
    ep = endpoint(base_url, name="broken", api_model="broken", send_prompt_id=True)
    pool = ModelPool({"broken": ep}, {"broken": ModelCard("broken", PRICE)})

    async def go():
        try:
            return await pool.call("broken", [{"role": "user", "content": "hi"}], prompt_id="unrecorded")
        except EndpointError as error:
            return error
        finally:
            await ep.aclose()

    error = asyncio.run(go())
    assert error.attempts == 1 and "HTTP 400" in str(error) and "no recorded answer" in str(error)


def test_server_lists_models_and_passes_prompt_ids(server, base_url):
    models = httpx.get(base_url + "/models").json()
    assert [m["id"] for m in models["data"]] == ["alpha", "beta", "broken"]
    assert httpx.get(base_url.removesuffix("/v1") + "/health").json() == {"status": "ok"}
    chat = base_url + "/chat/completions"
    body = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(chat, json=body, headers={"X-Prompt-Id": "p-17"}).json()
    assert answer["object"] == "chat.completion" and answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    httpx.post(chat, json={**body, "metadata": {"prompt_id": "p-18"}})
    assert server[1].endpoints["alpha"].prompt_ids[-2:] == ["p-17", "p-18"]


def test_fault_config_validation_and_retry_after_parsing():
    with pytest.raises(ValueError, match="sum to more than 1"):
        FaultConfig(error_rate=0.6, drop_rate=0.6)
    with pytest.raises(ValueError, match="unknown fault field"):
        FaultConfig.from_mapping({"eror_rate": 0.1})
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({}) is None
    ep = OpenAICompatEndpoint(
        name="a", api_model="a", base_url="http://127.0.0.1:1/v1", price=PRICE, backoff_base_s=1.0, backoff_max_s=3.0
    )
    assert ep.backoff_s(1, retry_after=60.0) == 3.0  # capped by backoff_max_s
    assert all(0.0 <= ep.backoff_s(attempt) <= 3.0 for attempt in range(1, 10))


def test_pool_server_config_composes_with_fault_overrides():
    from tests.conftest import compose
    from xrouter.config import to_plain

    cfg = compose("serve_pool", ["faults.error_rate=0.1", "faults.fail_models=[alpha]", "port=9001"])
    faults = FaultConfig.from_mapping(to_plain(cfg.faults))
    assert (faults.error_rate, faults.fail_models, faults.drop_rate) == (0.1, ["alpha"], 0.0)
    assert (cfg.host, cfg.port, cfg.pool.name) == ("127.0.0.1", 9001, "routerbench")
