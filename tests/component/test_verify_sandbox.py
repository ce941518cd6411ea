"""Code runs sandboxed (limits, timeouts, process groups, temp dirs, no network); math runs in a
killable worker pool that works from any thread."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from xrouter.verify import run_program, verify, verify_code_batch, verify_math
from xrouter.verify.code import humaneval_problems
from xrouter.verify.math import MathVerifierPool
from xrouter.verify.sandbox import live_group_members

MBPP_IDS = (2, 11, 17, 100, 367)  # 367 has test_setup_code that uses the solution's Node class


@pytest.fixture(scope="module")
def mbpp(shared_data_dir: Path) -> dict[int, dict]:
    rows = (json.loads(line) for line in open(shared_data_dir / "benchmarks/mbpp/mbpp.jsonl"))
    return {r["task_id"]: r for r in rows if r["task_id"] in MBPP_IDS}


def mbpp_example(row: dict) -> dict:
    gold = {"task_id": row["task_id"], "test_list": row["test_list"], "test_setup_code": row["test_setup_code"]}
    return {"verifier": "code_mbpp", "gold": json.dumps(gold), "timeout_s": 5}


def assert_group_gone(pgid: int) -> None:
    assert live_group_members(pgid) == [], f"process group {pgid} still has live members"


# ----------------------------------------------------------------------------- MBPP / HumanEval
def test_mbpp_reference_solutions_pass_and_wrong_ones_fail(mbpp):
    rows = [mbpp[i] for i in MBPP_IDS]
    answers = [f"Here you go:\n```python\n{r['code']}\n```" for r in rows]
    assert [s.value for s in verify_code_batch([mbpp_example(r) for r in rows], answers, max_workers=2)] == [1.0] * 5
    wrong = verify(mbpp_example(mbpp[2]), "def similar_elements(a, b):\n    return ()")
    assert wrong.value == 0.0 and wrong.reason.startswith("failed: AssertionError")
    fields = {"verifier": "code_mbpp", "gold": None, "tests": mbpp[11]["test_list"]}  # tests as a field
    assert verify(fields, mbpp[11]["code"]).value == 1.0
    assert verify(mbpp_example(mbpp[2]), "def similar_elements(a, b) return").reason.startswith("failed: SyntaxError")


def test_humaneval_canonical_solutions_pass_and_wrong_ones_fail():
    problems = humaneval_problems()
    ids = ["HumanEval/0", "HumanEval/10", "HumanEval/38", "HumanEval/53"]  # 10 and 38 use helpers
    examples = [{"verifier": "code_humaneval", "gold": i, "timeout_s": 5} for i in ids]
    scores = verify_code_batch(examples, [problems[i]["canonical_solution"] for i in ids], max_workers=2)
    assert [s.value for s in scores] == [1.0] * len(ids), scores
    p0 = problems["HumanEval/0"]  # the answer may restate the whole function in a fence
    full = f"```python\n{p0['prompt']}{p0['canonical_solution']}```"
    assert verify(examples[0], full).value == 1.0
    assert verify(examples[0], "    return False\n").value == 0.0
    assert verify({**examples[0], "gold": "HumanEval/999"}, "x").reason.startswith("bad example")


# ----------------------------------------------------------------------------- sandbox limits
def test_infinite_loop_times_out_and_leaves_no_process():
    start = time.monotonic()
    result = run_program("while True:\n    pass\n", timeout_s=1.0)
    assert result.timed_out and 1.0 <= time.monotonic() - start < 4.0
    assert_group_gone(result.pid)
    assert (
        verify(
            {**mbpp_example({"task_id": 0, "test_list": ["assert f()"], "test_setup_code": ""}), "timeout_s": 1},
            "def f():\n    while True: pass",
        ).reason
        == "timeout"
    )


def test_memory_limit_stops_a_4gib_allocation():
    result = run_program("x = bytearray(4 * 1024 ** 3)\nprint('allocated')\n", timeout_s=10)
    assert not result.passed and "allocated" not in result.stdout_tail
    assert "MemoryError" in result.stderr_tail


def test_forked_children_are_killed():
    sleeper = (
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        time.sleep(120)\n        os._exit(0)\n"
    )
    finished = run_program(sleeper + "print('parent done')\n", timeout_s=5)
    assert finished.passed and "parent done" in finished.stdout_tail
    assert_group_gone(finished.pid)  # children outliving a normally exiting parent
    hung = run_program(sleeper + "time.sleep(120)\n", timeout_s=1)
    assert hung.timed_out
    assert_group_gone(hung.pid)


def test_files_land_in_the_temp_dir_and_are_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    program = (
        "import os, tempfile\nopen('out.txt', 'w').write('hi')\nprint(os.getcwd())\nprint(tempfile.mkstemp()[1])\n"
    )
    result = run_program(program, timeout_s=5)
    assert result.passed
    cwd, temp_file = result.stdout_tail.split()
    assert cwd == result.workdir and temp_file.startswith(result.workdir)
    assert not Path(result.workdir).exists() and not Path(temp_file).exists()
    assert not (tmp_path / "out.txt").exists()
    big = run_program("open('big', 'wb').write(b'0' * (64 << 20))\n", timeout_s=5)  # 16 MiB file limit
    assert not big.passed and "File too large" in big.stderr_tail


def test_network_is_refused():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        for attempt in (
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n",
            f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {port}))\n",
            "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)\n",
        ):
            result = run_program(attempt + "print('connected')\n", timeout_s=5)
            refused = "Network is unreachable" if result.isolation == "namespaces" else "network access is disabled"
            assert not result.passed and refused in result.stderr_tail, result.stderr_tail
        with pytest.raises(socket.timeout):
            server.accept()  # nobody got through
    finally:
        server.close()
    env = json.loads(run_program("import json, os\nprint(json.dumps(dict(os.environ)))\n", timeout_s=5).stdout_tail)
    assert env["PATH"] == os.environ["PATH"] and "XROUTER_DATA_DIR" not in env  # emptied but for PATH
    assert env["https_proxy"] == env["HTTP_PROXY"] == "http://127.0.0.1:9"  # proxies point nowhere
    assert set(env) - {"PATH", "HOME", "TMPDIR", "LC_CTYPE"} <= {
        k for k in env if "proxy" in k.lower() or k.startswith("PYTHON")
    }


# ----------------------------------------------------------------------------- math worker pool
def test_math_from_non_main_threads():
    results: list = []
    thread = threading.Thread(target=lambda: results.append(verify_math("\\frac{1}{2}", "\\boxed{0.5}")))
    thread.start()
    thread.join(60)
    assert [s.value for s in results] == [1.0]
    score = asyncio.run(asyncio.to_thread(verify, {"verifier": "math", "gold": "2"}, "so \\boxed{\\sqrt{4}}"))
    assert score.value == 1.0


@pytest.fixture
def small_pool():
    pool = MathVerifierPool(n_workers=1)
    assert pool.check("1", "\\boxed{1}", timeout_s=60).value == 1.0  # warm: start-up is not timed
    yield pool
    pool.close()


def test_math_timeout_kills_worker_and_pool_recovers(small_pool):
    (old_pid,) = small_pool.worker_pids()
    start = time.monotonic()
    score = small_pool.check("1", "\\boxed{9^{9^{9^{9}}}}", timeout_s=1.0)  # sympy/gmp takes minutes
    assert score.value == 0.0 and score.reason == "timeout"
    assert time.monotonic() - start < 3.0
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)
    assert small_pool.worker_pids() != [old_pid]
    assert small_pool.check("\\frac{1}{2}", "\\boxed{0.5}", timeout_s=60).value == 1.0
    assert small_pool._call(("sleep", 30), timeout_s=0.3).reason == "timeout"  # test hook
    assert small_pool.check("3", "\\boxed{3}", timeout_s=60).value == 1.0


def test_math_worker_crash_is_a_zero_not_an_exception(small_pool):
    (pid,) = small_pool.worker_pids()
    os.kill(pid, 9)
    time.sleep(0.1)
    assert small_pool.check("1", "\\boxed{1}", timeout_s=5).reason == "worker crashed"
    assert small_pool.check("1", "\\boxed{1}", timeout_s=60).value == 1.0
