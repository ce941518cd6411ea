"""Money and trust probe (issue 15): the figures of the README's "Reliability" section, measured.

    .venv/bin/python benchmarks/trust_probe.py [--runs 30]

(a) Ledger: through ``ModelPool.call`` -> ``OpenAICompatEndpoint`` -> the pool server on 127.0.0.1
with ``faults.bad_reply=<kind>``, 4 calls per bad-reply kind: ledger records per call, negative
costs, uncaught exceptions; a slow-drip reply at ``timeout_s=1``: seconds until the call fails.
(b) Requests: the status code and error ``param`` of each bad body, at the pool server over HTTP and
at the router server's request parser (``xrouter.serve.protocol.parse_chat_request``, the code its
HTTP route runs; the HTTP path itself is tested in tests/component/test_serve.py).
(c) Sandbox: whether each hostile program scores, escapes or leaves something behind, and the
per-program wall time (median of ``--runs`` one-assert programs, sequential) at each level that
works here.  The last line is a JSON object of all of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from xrouter.pool.api import build_app, serve_in_thread  # noqa: E402
from xrouter.pool.base import Completion, EndpointError, user_query  # noqa: E402
from xrouter.pool.faults import BAD_REPLIES, SLOW_DRIP  # noqa: E402
from xrouter.pool.openai_compat import OpenAICompatEndpoint  # noqa: E402
from xrouter.pool.pool import ModelCard, ModelPool  # noqa: E402
from xrouter.pool.pricing import Price  # noqa: E402
from xrouter.serve.protocol import Limits, RequestError, parse_chat_request  # noqa: E402
from xrouter.verify.sandbox import level_works, run_program  # noqa: E402

PRICE = Price(3.0, 15.0, "probe")
USER = [{"role": "user", "content": "hi"}]
BAD_BODIES = {
    "role a list": {"messages": [{"role": ["user"], "content": "hi"}]},
    "role an object": {"messages": [{"role": {"a": 1}, "content": "hi"}]},
    "100k deep in a field": b', "x": ' + b"[" * 100_000 + b"]" * 100_000,
    "100k deep body": b"[" * 100_000 + b"]" * 100_000,
    "lone surrogate": b'"messages": [{"role": "user", "content": "\\ud800"}]',
    "numeric content": {"messages": [{"role": "user", "content": 5}]},
    "object as a text part": {"messages": [{"role": "user", "content": [{"type": "text", "text": {"a": 1}}]}]},
    "list as prompt_id": {"metadata": {"prompt_id": ["p"]}},
    "temperature -3": {"temperature": -3},
    "temperature 100": {"temperature": 100},
    "temperature NaN": b', "temperature": NaN',
    "max_tokens 1e12": {"max_tokens": 1e12},
}


class Echo:
    name = "alpha"

    async def complete(self, messages, temperature=0.0, max_tokens=None, *, prompt_id=None) -> Completion:
        return Completion(f"echo: {user_query(messages)}", 10, 2, 0.0, 0.0, self.name)


def body_bytes(model: str, spec) -> bytes:
    if isinstance(spec, dict):
        return json.dumps({"model": model, "messages": USER, **spec}).encode()
    if spec.startswith(b"["):
        return spec
    if spec.startswith(b'"messages"'):
        return b'{"model": "' + model.encode() + b'", ' + spec + b"}"
    return json.dumps({"model": model, "messages": USER}).encode()[:-1] + spec + b"}"


def ledger_probe(base_url: str) -> dict:
    def pool(**options):
        endpoint = OpenAICompatEndpoint(
            name="alpha",
            api_model="alpha",
            base_url=base_url,
            price=PRICE,
            max_attempts=2,
            backoff_base_s=0.01,
            backoff_max_s=0.02,
            **options,
        )
        return ModelPool({"alpha": endpoint}, {"alpha": ModelCard("alpha", PRICE)})

    async def run(p: ModelPool, n: int) -> tuple[int, int]:
        uncaught = 0
        for _ in range(n):
            try:
                await p.call("alpha", USER)
            except EndpointError:
                pass
            except Exception:  # noqa: BLE001 - what the probe counts
                uncaught += 1
        await p.endpoints["alpha"].aclose()
        return uncaught, sum(r.cost_usd < 0 for r in p.ledger.records)

    kinds = {}
    for kind in sorted(BAD_REPLIES):
        httpx.post(base_url.removesuffix("/v1") + "/admin/faults", json={"bad_reply": kind})
        p = pool()
        uncaught, negative = asyncio.run(run(p, 4))
        kinds[kind] = {
            "calls": 4,
            "records": len(p.ledger),
            "errors": p.ledger.totals()["errors"],
            "negative": negative,
            "uncaught": uncaught,
        }
    httpx.post(base_url.removesuffix("/v1") + "/admin/faults", json={"bad_reply": SLOW_DRIP, "drip_s": 0.1})
    p, started = pool(timeout_s=1.0), time.monotonic()
    asyncio.run(run(p, 1))
    drip = {
        "timeout_s": 1.0,
        "attempts": 2,
        "failed_after_s": round(time.monotonic() - started, 2),
        "records": len(p.ledger),
        "full_reply_would_take_s": 0.1 * len(BAD_REPLIES["usage_list"]),
    }
    httpx.post(base_url.removesuffix("/v1") + "/admin/faults", json={})
    return {"bad_replies": kinds, "slow_drip": drip}


def request_probe(base_url: str) -> dict:
    out = {}
    for name, spec in BAD_BODIES.items():
        response = httpx.post(
            base_url + "/chat/completions",
            content=body_bytes("alpha", spec),
            timeout=30,
            headers={"content-type": "application/json"},
        )
        pool_server = f"{response.status_code} {response.json()['error']['param']}"
        try:
            parse_chat_request(body_bytes("xrouter", spec), {"xrouter"}, Limits(60, 0.05, 3))
            router = "accepted"
        except RequestError as error:
            router = f"{error.status} {error.param}"
        out[name] = {"pool_server": pool_server, "router_server": router}
    return out


HOSTILE = {
    "os._exit(0) before the asserts": "import os\nos._exit(0)\nassert False\n",
    "sys.exit(0) before the asserts": "import sys\nsys.exit(0)\nassert False\n",
    "read /proc/<ppid>/environ": "import os\nprint(open('/proc/%d/environ' % os.getppid(), 'rb').read())\n",
    "network via a subprocess": "import subprocess, sys\nsubprocess.run([sys.executable, '-c', \"import socket; "
    "socket.create_connection(('127.0.0.1', PORT), timeout=2)\"], check=True)\n",
    "os.system write outside": "import os\nassert os.system('echo x > /tmp/NAME') == 0\n",
    "setsid child": "import subprocess\nsubprocess.Popen(['setsid', 'sleep', 'MARK'])\n",
    "100 forks": "import os, time\nfor _ in range(100):\n    if os.fork() == 0:\n        time.sleep(2)\n"
    "        os._exit(0)\n",
    "honest program": "def add(a, b):\n    return a + b\nassert add(1, 2) == 3\n",
}


def sandbox_probe(runs: int) -> dict:
    os.environ["OPENAI_API_KEY"] = secret = f"sk-probe-{uuid.uuid4().hex}"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    out = {}
    for level in ("namespaces", "uid", "basic"):
        if not level_works(level):
            out[level] = "does not work here"
            continue
        os.environ["XROUTER_SANDBOX"] = level
        name, mark = f"xrouter-probe-{uuid.uuid4().hex}", f"{400 + uuid.uuid4().int % 100}.{uuid.uuid4().int % 10**6}"
        rows = {}
        for what, program in HOSTILE.items():
            program = program.replace("PORT", str(server.getsockname()[1])).replace("NAME", name).replace("MARK", mark)
            result = run_program(program, timeout_s=10, max_processes=64)
            last_line = (result.stderr_tail.strip().splitlines() or ["exit " + str(result.returncode)])[-1]
            rows[what] = "passes" if result.passed else f"fails ({last_line[:60]})"
            if secret in result.stdout_tail:
                rows[what] += "; SECRET READ"
        try:
            server.accept()
            rows["network via a subprocess"] += "; CONNECTED"
        except TimeoutError:
            pass
        if Path(f"/tmp/{name}").exists():
            rows["os.system write outside"] += "; FILE WRITTEN"
            Path(f"/tmp/{name}").unlink()
        left = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, f"sleep\0{mark}")]
        rows["setsid child"] += f"; {len(left)} left running"
        for pid in left:
            os.kill(int(pid), 9)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            run_program("assert sum([1, 2]) == 3\n", timeout_s=10)
            times.append(time.perf_counter() - started)
        rows["per_program_ms_median"] = round(statistics.median(times) * 1e3, 1)
        out[level] = rows
    os.environ.pop("XROUTER_SANDBOX", None)
    server.close()
    return out


def _cmdline_has(pid: str, needle: str) -> bool:
    try:
        return needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    pool = ModelPool({"alpha": Echo()}, {"alpha": ModelCard("alpha", PRICE)})
    with serve_in_thread(build_app(pool)) as base_url:
        result = {"ledger": ledger_probe(base_url), "requests": request_probe(base_url)}
    result["sandbox"] = sandbox_probe(args.runs)
    for section, rows in result.items():
        for key, value in rows.items() if isinstance(rows, dict) else []:
            print(f"{section:8s} {key:28s} {json.dumps(value)}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
