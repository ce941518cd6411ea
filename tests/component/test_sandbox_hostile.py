"""Hostile programs against the code sandbox (real subprocesses): none may score without running its
tests to the end, read the parent's secrets, reach the network, write outside its temp dir, leave a
process behind or fork without limit.  Each isolation level is held to what its docstring
(``xrouter/verify/sandbox.py``) guarantees; levels this machine cannot run are skipped."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from xrouter.verify import verify
from xrouter.verify.sandbox import isolation_level, level_works, run_program

SECRET = f"sk-test-{uuid.uuid4().hex}"
MBPP = {
    "verifier": "code_mbpp",
    "gold": None,
    "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
    "timeout_s": 10,
}


@pytest.fixture(params=["namespaces", "uid", "basic"])
def level(request, monkeypatch):
    if not level_works(request.param):
        pytest.skip(f"isolation level {request.param} does not work on this machine")
    monkeypatch.setenv("XROUTER_SANDBOX", request.param)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # what a run's parent holds
    assert isolation_level() == request.param
    return request.param


def strong(level: str) -> bool:
    return level != "basic"


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


def test_the_default_level_on_root_with_unshare_is_namespaces():
    if os.geteuid() == 0 and level_works("namespaces"):
        assert isolation_level() == "namespaces"


def test_an_honest_program_passes(level):
    assert verify(MBPP, "def add(a, b):\n    return a + b\n").value == 1.0
    result = run_program("import fractions\nprint(fractions.Fraction(1, 3))\n", timeout_s=10)
    assert result.passed and result.completed and result.stdout_tail.strip() == "1/3", result
    assert result.isolation == level


@pytest.mark.parametrize(
    "trick",
    [
        "import os\nos._exit(0)\n",
        "import sys\nsys.exit(0)\n",
        "raise SystemExit\n",
        "exit()\n",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        "import atexit, os\natexit.register(os._exit, 0)\nraise SystemExit(0)\n",
    ],
)
def test_exiting_before_the_asserts_does_not_pass(level, trick):
    score = verify(MBPP, f"def add(a, b):\n    return 0\n{trick}")
    assert score.value == 0.0, score
    assert not run_program(f"{trick}assert False\n", timeout_s=10).passed


def test_a_forked_copy_falling_through_is_no_pass(level):
    program = "import os, time\nif os.fork():\n    time.sleep(0.5)\n    os._exit(0)\n"  # the parent bails out
    assert not run_program(program, timeout_s=10).passed


def test_the_parents_secrets_are_unreadable(level):
    program = (
        "import os, glob\nfound = []\n"
        "for path in ['/proc/%d/environ' % os.getppid(), *glob.glob('/proc/*/environ')]:\n"
        "    try:\n        found.append(open(path, 'rb').read().decode('latin-1'))\n"
        "    except OSError:\n        pass\n"
        "print(repr(os.environ))\nprint(found)\n"
    )
    result = run_program(program, timeout_s=10)
    assert result.passed, result
    assert "OPENAI_API_KEY" not in result.stdout_tail  # not in its own environment either
    if strong(level):
        assert SECRET not in result.stdout_tail + result.stderr_tail


def test_no_network_not_even_through_a_subprocess(level):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.3)
    port = server.getsockname()[1]
    attempts = [f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('CONNECTED')\n"]
    if level == "namespaces":  # the other levels refuse Python-level sockets only (documented)
        attempts += [
            "import subprocess, sys\n"
            "print(subprocess.run([sys.executable, '-c', \"import socket; socket.create_connection("
            f"('127.0.0.1', {port}), timeout=2); print('CONNECTED')\"], capture_output=True, text=True).stdout)\n",
            f"import os\nos.system('exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED')\n",
            "import ctypes, _socket\ns = _socket.socket.__new__(_socket.socket)\n"
            f"_socket.socket.__init__(s)\ns.connect(('127.0.0.1', {port}))\nprint('CONNECTED')\n",
        ]
    try:
        for attempt in attempts:
            result = run_program(attempt, timeout_s=10)
            assert "CONNECTED" not in result.stdout_tail, (attempt, result)
        with pytest.raises(socket.timeout):
            server.accept()  # nobody got through
    finally:
        server.close()


def test_writes_land_only_in_the_temp_dir(level, tmp_path):
    name = f"xrouter-escape-{uuid.uuid4().hex}"
    targets = [Path("/tmp") / name, Path("/var/tmp") / name, Path("/dev/shm") / name, tmp_path / name]
    if level == "namespaces":
        targets.append(Path(__file__).parent / name)
    shell = "; ".join(f"echo x > {t}" for t in targets)
    program = (
        f"import os\nos.system({shell!r})\nopen('inside.txt', 'w').write('fine')\nprint(open('inside.txt').read())\n"
    )
    result = run_program(program, timeout_s=10)
    assert result.passed and result.stdout_tail.strip() == "fine", result
    escaped = [t for t in targets if t.exists()]
    for t in escaped:
        t.unlink()
    if level == "namespaces":
        assert escaped == []
    elif level == "uid":  # world-writable directories stay writable there (documented)
        assert tmp_path / name not in escaped


def test_a_setsid_child_does_not_outlive_the_run(level):
    marker = f"{300 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    program = f"import subprocess\nsubprocess.Popen(['setsid', 'sleep', '{marker}'])\nimport time\ntime.sleep(0.3)\n"
    result = run_program(program, timeout_s=10)
    assert result.passed, result
    time.sleep(0.2)
    survivors = processes_with(f"sleep\0{marker}")
    for pid in survivors:  # the basic level cannot catch it (documented): clean up after the test
        os.kill(pid, 9)
    if strong(level):
        assert survivors == []


def test_the_process_limit_holds_for_root_too(level):
    program = (
        "import os, time\nn = 0\ntry:\n    for _ in range(200):\n        if os.fork() == 0:\n"
        "            time.sleep(3)\n            os._exit(0)\n        n += 1\n"
        "except OSError:\n    pass\nprint(n)\n"
    )
    result = run_program(program, timeout_s=10, max_processes=16)
    assert result.passed, result
    if strong(level) or os.geteuid() != 0:
        assert int(result.stdout_tail.strip()) < 16


def test_a_run_reports_its_level_and_the_output_without_the_nonce(level):
    result = run_program("import json, os\nprint(json.dumps(dict(os.environ)))\n", timeout_s=10)
    env = json.loads(result.stdout_tail)
    assert env["HOME"] == result.workdir and not {"OPENAI_API_KEY", "XROUTER_DATA_DIR"} & set(env)
