"""``python -m xrouter.record`` end to end: the ``local_server`` pool (OpenAICompatEndpoint) against a real
uvicorn server on 127.0.0.1 replaying three RouterBench models, with injected faults, kills, SIGINT and
a budget cap; the recorder runs in-process (``run_record``) or as a subprocess where signals are sent."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.conftest import SHARED_DATA, compose
from xrouter import PROJECT_ROOT
from xrouter.build import build_pool
from xrouter.config import to_plain
from xrouter.data.benchmarks import load_benchmark, verify_example
from xrouter.pool.api import build_app, serve_in_thread
from xrouter.record import RecordError, compact_traces, run_record

MODELS = ["gpt-4-1106-preview", "claude-instant-v1", "mistral-7b-chat"]  # conf/pool/local_server.yaml
LIMIT = 40
PAIRS = LIMIT * len(MODELS)
MAX_ATTEMPTS = 4  # local_server's common.max_attempts
SECRET = "sk-test-DO-NOT-LEAK-0123456789abcdef"


@pytest.fixture(scope="module")
def server(shared_data_dir):
    """The routerbench replay pool (three models) served over HTTP; yields (base_url, server pool)."""
    cfg = compose("serve_pool", ["pool=routerbench"])
    pool_cfg = to_plain(cfg.pool)
    pool_cfg["models"] = {name: spec for name, spec in pool_cfg["models"].items() if name in MODELS}
    pool = build_pool(pool_cfg, shared_data_dir, Path(cfg.paths.cache_dir))
    with serve_in_thread(build_app(pool)) as base_url:
        yield base_url, pool


@pytest.fixture
def base_url(server):
    set_faults(server[0])
    return server[0]


@pytest.fixture(scope="module")
def examples(shared_data_dir):
    cfg = compose("record", ["pool=local_server", "benchmark=routerbench", "output=x.jsonl"])
    return load_benchmark(cfg.benchmark, shared_data_dir, "test").head(LIMIT).set_index("prompt_id", drop=False)


def set_faults(base_url: str, **faults) -> None:
    response = httpx.post(base_url.removesuffix("/v1") + "/admin/faults", json=faults)
    assert response.status_code == 200, response.text


def overrides(base_url: str, output: Path, *extra: str) -> list[str]:
    return [
        "pool=local_server",
        "benchmark=routerbench",
        "split=test",
        f"limit={LIMIT}",
        f"output={output}",
        f"pool.common.base_url={base_url}",
        "pool.common.backoff_base_s=0.01",
        "pool.common.backoff_max_s=0.05",
        "progress=false",
        *extra,
    ]


def record(base_url: str, output: Path, *extra: str) -> dict:
    return run_record(compose("record", overrides(base_url, output, *extra)))


def start_cli(base_url: str, output: Path, *extra: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "xrouter.record",
        *overrides(base_url, output, *extra),
        f"hydra.run.dir={output.parent / 'hydra'}",
    ]
    env = {**os.environ, "XROUTER_DATA_DIR": str(SHARED_DATA)}
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_lines(path: Path, count: int, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.exists() and path.read_bytes().count(b"\n") >= count):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"fewer than {count} rows after {timeout_s} s"
        time.sleep(0.02)


def jsonl_rows(path: Path) -> pd.DataFrame:
    return pd.DataFrame([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()])


def expected_pairs(examples: pd.DataFrame) -> set[tuple[str, str]]:
    return {(pid, model) for pid in examples["prompt_id"] for model in MODELS}


def test_complete_run_under_faults_then_errors_retried(base_url, server, examples, tmp_path, monkeypatch):
    _, server_pool = server
    monkeypatch.setenv("XR_TEST_KEY", SECRET)  # sent as the key; must never reach a row or the output
    set_faults(base_url, error_rate=0.2, rate_limit_burst=2, latency_s=0.01, fail_models=["claude-instant-v1"], seed=3)
    output = tmp_path / "traces.jsonl"
    summary = record(base_url, output, "concurrency=8", "pool.common.api_key_env=XR_TEST_KEY")
    assert (summary["stopped"], summary["exit_code"], summary["rows_written"], summary["skipped_done"]) == (
        "complete",
        0,
        PAIRS,
        0,
    )
    traces = compact_traces(output)
    assert len(traces) == PAIRS and set(zip(traces.prompt_id, traces.model)) == expected_pairs(examples)
    assert set(
        zip(*pd.read_parquet(output.with_suffix(".parquet"))[["prompt_id", "model"]].T.values)
    ) == expected_pairs(examples)
    assert summary["errors"] == int(traces.error.notna().sum())
    assert summary["usd"] == pytest.approx(traces.cost_usd.sum())
    assert SECRET not in output.read_text()

    failed = traces[traces.model == "claude-instant-v1"]  # a persistent 500: one error row per prompt
    assert failed.error.str.contains("HTTP 500").all() and (failed.attempts == MAX_ATTEMPTS).all()
    assert failed.response.isna().all() and (failed.score == 0).all() and (failed.cost_usd == 0).all()
    ok = traces[traces.error.isna()]
    assert len(ok) >= PAIRS - LIMIT - 3 and (ok.attempts > 1).any()  # 429 bursts and 500s were retried
    for row in ok.itertuples():
        recorded = server_pool.endpoints[row.model].lookup(prompt_id=row.prompt_id).text
        assert row.response == recorded
        assert (row.input_tokens, row.output_tokens) == (math.ceil(len(row.prompt) / 4), math.ceil(len(recorded) / 4))
        price = server_pool.cards[row.model].price  # the same routerbench pricing the client uses
        assert row.cost_usd == pytest.approx(price.cost(row.input_tokens, row.output_tokens))
        assert row.score == verify_example(examples.loc[row.prompt_id], recorded).value
        assert row.source == f"record:local_server:{row.model}" and row.latency_s > 0

    summary = record(base_url, output, "retry_errors=false")  # errors kept: nothing to do
    assert (summary["rows_written"], summary["skipped_done"]) == (0, PAIRS)
    set_faults(base_url)
    n_errors = len(traces) - len(ok)
    summary = record(base_url, output)  # the default retries exactly the pairs whose newest row failed
    assert (summary["rows_written"], summary["skipped_done"], summary["errors"]) == (n_errors, PAIRS - n_errors, 0)
    assert len(jsonl_rows(output)) == PAIRS + n_errors  # a retried pair appears twice; the newest wins
    traces = compact_traces(output)
    assert len(traces) == PAIRS and traces.error.isna().all()
    assert len(pd.read_parquet(output.with_suffix(".parquet"))) == PAIRS


def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(base_url, tmp_path, examples, caplog):
    set_faults(base_url, latency_s=0.03)
    output = tmp_path / "traces.jsonl"
    process = start_cli(base_url, output, "concurrency=2")
    wait_for_lines(output, 20, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    before = jsonl_rows(output)
    assert 20 <= len(before) < PAIRS and not before.duplicated(["prompt_id", "model"]).any()
    assert not output.with_suffix(".parquet").exists()  # written only at an orderly end
    with open(output, "a", encoding="utf-8") as handle:  # as if the kill had cut a write short
        handle.write('{"prompt_id": "test/arc-challenge.te')
    set_faults(base_url)
    summary = record(base_url, output)
    assert "incomplete" in caplog.text and "cut short by a kill" in caplog.text
    assert (summary["stopped"], summary["skipped_done"], summary["rows_written"]) == (
        "complete",
        len(before),
        PAIRS - len(before),
    )
    after = jsonl_rows(output)  # every line valid JSON: the partial line was removed
    assert len(after) == PAIRS and not after.duplicated(["prompt_id", "model"]).any()
    pd.testing.assert_frame_equal(after.head(len(before)), before)  # nothing written before was touched
    final = pd.read_parquet(output.with_suffix(".parquet"))
    assert len(final) == PAIRS and set(zip(final.prompt_id, final.model)) == expected_pairs(examples)


def test_sigint_stops_cleanly_with_exit_code_130(base_url, tmp_path):
    set_faults(base_url, latency_s=0.03)
    output = tmp_path / "traces.jsonl"
    process = start_cli(base_url, output, "concurrency=2")
    wait_for_lines(output, 10, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "SIGINT: launching no more calls" in stderr and "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] == "interrupted" and summary["exit_code"] == 130
    rows = jsonl_rows(output)  # the calls in flight finished and were written
    assert len(rows) == summary["rows_written"] < PAIRS and summary["remaining"] == PAIRS - len(rows)
    assert len(compact_traces(output)) == len(pd.read_parquet(output.with_suffix(".parquet"))) == len(rows)


def test_budget_cap_stops_then_a_higher_cap_resumes(base_url, tmp_path, examples, capsys):
    output, cap, concurrency = tmp_path / "traces.jsonl", 0.05, 4
    summary = record(base_url, output, f"max_usd={cap}", f"concurrency={concurrency}")
    assert (summary["stopped"], summary["exit_code"]) == ("budget", 0)
    assert "stopped by the budget" in capsys.readouterr().out
    rows = jsonl_rows(output)
    assert 0 < summary["rows_written"] == len(rows) < PAIRS and summary["usd"] == pytest.approx(rows.cost_usd.sum())
    # documented bound: calls start only while spent + in-flight estimates fit, so the overshoot is at
    # most what the calls in flight cost beyond their estimates: < concurrency x the dearest call
    assert summary["usd"] <= cap + concurrency * rows.cost_usd.max()
    summary = record(base_url, output, "max_usd=5", f"concurrency={concurrency}")
    assert (summary["stopped"], summary["skipped_done"], summary["remaining"]) == ("complete", len(rows), 0)
    final = jsonl_rows(output)
    assert len(final) == PAIRS and set(zip(final.prompt_id, final.model)) == expected_pairs(examples)


def test_bad_input_fails_clearly(tmp_path):
    url = "http://127.0.0.1:9/v1"  # never contacted: these fail before any call
    with pytest.raises(
        RecordError,
        match="not in pool 'local_server', whose models are: gpt-4-1106-preview, claude-instant-v1, mistral-7b-chat",
    ):
        record(url, tmp_path / "a.jsonl", "models=[mistral-7b-chat,gpt-5]")
    (tmp_path / "file").write_text("")
    with pytest.raises(RecordError, match=r"cannot write there \(.*file is a file, not a folder\)"):
        record(url, tmp_path / "file" / "out.jsonl")
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        with pytest.raises(RecordError, match="Permission denied"):
            record(url, tmp_path / "ro" / "out.jsonl")
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text('{"prompt_id": "p", "mo\n{"prompt_id": "p", "model": "m"}\n')
    with pytest.raises(RecordError, match="line 1 is not valid JSON .* the file is damaged"):
        record(url, damaged)
    process = start_cli(url, tmp_path / "b.jsonl", "models=[nope]")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("record: error: models=['nope']: ['nope'] not in pool")


def test_negative_or_broken_usage_from_upstream_never_lowers_the_spend_and_the_file_resumes(
    base_url, tmp_path, examples
):
    """Issue 15: an upstream reporting negative token counts booked -$872 over 60 rows, so max_usd limited
    nothing and every rerun died on the file.  Now such replies are error rows costing 0."""
    output, cap = tmp_path / "traces.jsonl", 0.05
    for kind in ("negative_tokens", "bool_tokens", "usage_list"):
        set_faults(base_url, bad_reply=kind, bad_reply_rate=0.5, seed=1)
        summary = record(base_url, output, f"max_usd={cap}", "concurrency=4", "pool.common.max_attempts=1")
        rows = jsonl_rows(output)
        assert (rows.cost_usd >= 0).all() and summary["usd"] >= 0
        assert summary["usd"] <= cap + 4 * rows.cost_usd.max()
        assert rows.error.notna().any() and rows[rows.error.notna()].cost_usd.eq(0).all()
    set_faults(base_url)
    summary = record(base_url, output, "max_usd=5", "concurrency=4")
    assert summary["stopped"] == "complete" and summary["remaining"] == 0
    traces = compact_traces(output)
    assert len(traces) == PAIRS and (traces.cost_usd >= 0).all() and traces["error"].isna().all()
