"""The router server as a product (issue 28): a client that leaves stops the spending, failed calls say how long
their retries took, per-key budgets refuse a request before any upstream call and survive a SIGKILL, and each
answer has its decision record (also in the JSONL decision log)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.component.test_serve import SECRET, build, demo_router_dir, serve_config
from tests.conftest import SHARED_DATA
from xrouter import PROJECT_ROOT
from xrouter.pool.http_serving import serve_in_thread

pytestmark = pytest.mark.timeout(900)
AUTH = {"Authorization": f"Bearer {SECRET}"}


def set_faults(pool_url: str, **faults) -> None:
    assert httpx.post(pool_url.removesuffix("/v1") + "/admin/faults", json=faults).status_code == 200


def upstream_requests(pool_url: str) -> int:
    return sum(httpx.get(pool_url.removesuffix("/v1") + "/admin/stats").json()["outcomes"].values())


def ask(base_url: str, prompt: str, headers=AUTH, timeout: float = 60, **extra) -> httpx.Response:
    body = {"model": "xrouter", "messages": [{"role": "user", "content": prompt}], **extra}
    return httpx.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=timeout)


@pytest.fixture(scope="module")
def slow_pool_server(routerbench_pool_server):
    return routerbench_pool_server


@pytest.fixture(scope="module")
def over_http(slow_pool_server):
    cfg = serve_config(
        demo_router_dir(),
        [
            "pool=local_server",
            f"pool.common.base_url={slow_pool_server}",
            "pool.common.max_attempts=8",
            "pool.common.backoff_base_s=0.01",
            "pool.common.backoff_max_s=0.02",
            "pool.common.timeout_s=10",
            "fallback.timeout_s=10",
            "inference=thread",
        ],
    )
    app, service = build(cfg)
    with serve_in_thread(app) as base_url:
        yield base_url, service


def test_a_client_that_leaves_stops_the_spending_and_is_booked_499(over_http, slow_pool_server, routerbench_traces):
    base_url, service = over_http
    prompt = routerbench_traces[routerbench_traces["split"] == "test"]["prompt"].iloc[11]
    set_faults(slow_pool_server, error_rate=1.0, latency_s=0.4)  # every try: 0.4 s, then a retryable 500
    try:
        before = upstream_requests(slow_pool_server)
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):  # the client gives up at 1 s and closes its connection
            ask(base_url, prompt, timeout=1.0)
        time.sleep(max(0.0, 1.5 - (time.monotonic() - started)))
        at_1_5 = upstream_requests(slow_pool_server)
        time.sleep(3.0)  # without the cancellation, the retries (and then a fallback call) would go on here
        assert upstream_requests(slow_pool_server) == at_1_5 > before
    finally:
        set_faults(slow_pool_server)
    metrics = httpx.get(base_url.removesuffix("/v1") + "/metrics").text
    assert 'xrouter_requests_total{status="499"} 1' in metrics
    cancelled = [r for r in service.env.pool.ledger.records if r.error == "cancelled"]
    assert len(cancelled) == 1  # the try in flight, booked once, at no cost
    assert service.in_flight == 0 and not service.budgets.requests  # its slot and reservation are freed


def test_a_failed_call_reports_its_retries_time_and_attempts(over_http, slow_pool_server, routerbench_traces):
    base_url, _ = over_http
    prompt = routerbench_traces[routerbench_traces["split"] == "test"]["prompt"].iloc[12]
    set_faults(slow_pool_server, error_rate=1.0, latency_s=0.1)
    try:
        reply = ask(base_url, prompt, xrouter={"max_turns": 1})
    finally:
        set_faults(slow_pool_server)
    calls = reply.json()["error"]["xrouter"]["calls"] if reply.status_code != 200 else reply.json()["xrouter"]["calls"]
    failed = [c for c in calls if c["error"]]
    assert failed and all(c["attempts"] == 8 and c["latency_s"] >= 0.8 for c in failed)  # was 0.0 (issue 28)


def test_requests_beyond_max_in_flight_get_503_with_retry_after(slow_pool_server, routerbench_traces):
    import concurrent.futures

    cfg = serve_config(
        demo_router_dir(),
        ["pool=local_server", f"pool.common.base_url={slow_pool_server}", "inference=thread", "limits.max_in_flight=1"],
    )
    app, service = build(cfg)
    prompts = list(routerbench_traces[routerbench_traces["split"] == "test"]["prompt"].iloc[20:22])
    set_faults(slow_pool_server, latency_s=1.5)  # the first request holds the only slot for > 1.5 s
    try:
        with serve_in_thread(app) as base_url, concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(ask, base_url, prompts[0])
            deadline = time.monotonic() + 30
            while service.in_flight == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            second = ask(base_url, prompts[1])
            assert second.status_code == 503 and second.headers["retry-after"] == "1", second.text
            assert second.json()["error"]["code"] == "server_overloaded"
            assert first.result().status_code == 200  # the admitted one is answered
            assert ask(base_url, prompts[1]).status_code == 200  # and its slot is free again
    finally:
        set_faults(slow_pool_server)


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory, routerbench_traces):
    folder = tmp_path_factory.mktemp("budget")
    cfg = serve_config(
        demo_router_dir(),
        [
            "inference=thread",
            "limits.max_usd=0.004",
            f"budgets.spend_file={folder / 'spend.jsonl'}",
            "+budgets.per_key.alice={total_usd: 0.006}",
            f"decision_log={folder / 'decisions.jsonl'}",
            "auth.api_keys=[alice:sk-alice-key-1234]",
        ],
    )
    app, service = build(cfg)
    with serve_in_thread(app) as base_url:
        yield base_url, service, folder


def test_a_key_over_its_budget_is_refused_before_any_upstream_call(budgeted, routerbench_traces):
    base_url, service, folder = budgeted
    prompts = routerbench_traces[routerbench_traces["split"] == "test"]["prompt"].drop_duplicates().iloc[20:60]
    alice = {"Authorization": "Bearer sk-alice-key-1234"}
    refused = None
    for prompt in prompts:
        calls_before = len(service.env.pool.ledger)
        reply = ask(base_url, prompt, headers=alice)
        if reply.status_code == 429:
            refused = reply.json()["error"]
            assert len(service.env.pool.ledger) == calls_before  # refused before any call
            break
        assert reply.status_code == 200, reply.text
    assert refused is not None and refused["code"] == "budget_exceeded" and refused["type"] == "insufficient_quota"
    spent = service.budgets.spent("alice")["total_usd"]
    assert 0.006 - 0.004 < spent <= 0.006  # admitted only while spent + max_usd fit the limit
    book = [json.loads(line) for line in (folder / "spend.jsonl").read_text().splitlines()]
    assert {e["key"] for e in book} == {"alice"} and sum(e["usd"] for e in book) == pytest.approx(spent)
    assert "sk-alice" not in (folder / "spend.jsonl").read_text()  # names, never keys
    decisions = [json.loads(line) for line in (folder / "decisions.jsonl").read_text().splitlines()]
    assert decisions and all(d["key"] == "alice" and "query_sha256" in d and d["calls"] for d in decisions)
    assert all({"cost_usd", "latency_s", "attempts"} <= set(d["calls"][0]) and d["termination"] for d in decisions)
    other = ask(base_url, prompts.iloc[0])  # another key (no limit) is served
    assert other.status_code == 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(spend_file, port: int) -> subprocess.Popen:
    env = {**os.environ, "XROUTER_API_KEYS": "alice:sk-alice-key-1234", "XROUTER_DATA_DIR": str(SHARED_DATA)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xrouter.serve",
            f"router={demo_router_dir()}",
            f"port={port}",
            "inference=thread",
            "limits.max_usd=0.004",
            f"budgets.spend_file={spend_file}",
            "+budgets.per_key.alice={total_usd: 0.012}",
            "log_level=warning",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode())
    process.kill()
    raise RuntimeError("the server did not start")


def test_budgets_survive_a_sigkill(tmp_path, routerbench_traces):
    import concurrent.futures

    spend_file = tmp_path / "spend.jsonl"
    prompts = list(routerbench_traces[routerbench_traces["split"] == "test"]["prompt"].drop_duplicates().iloc[100:180])
    alice = {"Authorization": "Bearer sk-alice-key-1234"}
    statuses, booked_before_restart = [], None
    for round_ in range(2):
        port = free_port()
        server = start_server(spend_file, port)
        base = f"http://127.0.0.1:{port}/v1"
        if round_ == 1:  # the restarted server starts from what the killed one had booked
            booked_before_restart = sum(
                json.loads(line)["usd"] for line in spend_file.read_text().splitlines() if line.strip()
            )
            budget = httpx.get(f"{base}/budget", headers=alice).json()
            assert booked_before_restart > 0 and budget["key"] == "alice"
            assert budget["total_usd"] == pytest.approx(booked_before_restart)
            assert budget["total_limit_usd"] == 0.012
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                futures = [pool.submit(ask, base, p, alice) for p in prompts[round_ * 40 : (round_ + 1) * 40]]
                if round_ == 0:  # mid-load, once something is booked: requests in flight die with it
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline and not (spend_file.exists() and spend_file.read_text().strip()):
                        time.sleep(0.05)
                    server.send_signal(signal.SIGKILL)
                for future in futures:
                    try:
                        statuses.append(future.result().status_code)
                    except httpx.HTTPError:
                        statuses.append("killed")
        finally:
            server.kill()
            server.wait()
    book = [json.loads(line) for line in spend_file.read_text().splitlines() if line.strip()]
    total = sum(e["usd"] for e in book)
    # at most 4 requests in flight, each past its max_usd by at most the turn in flight (one call here)
    worst_call = float(routerbench_traces[routerbench_traces["split"] == "test"]["cost_usd"].max())
    assert 429 in statuses and "killed" in statuses and total > booked_before_restart
    assert total <= 0.012 + 4 * worst_call
