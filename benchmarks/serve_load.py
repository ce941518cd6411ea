"""Load test of the router server on loopback: C concurrent ``openai`` clients, a fixed number of requests.

    XROUTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/serve_load.py [--router DIR] [--requests 1280]
        [--clients 64] [--warmup 128] [--prompts 300] [--unique] [--max-wait-ms 2] [--max-batch 64]
        [-- serve overrides ...]

``--unique``: every request (warm-up included) is another recorded prompt, so a ``tiny_encoder`` router
embeds every query afresh (the issue-28 protocol: ``--router <a tiny_encoder router> --clients 64
--requests 640 --warmup 64 --unique``).  During the timed load a probe sends ``GET /health`` every 50 ms
and its p99 is reported (the event loop's responsiveness), with the HTTP statuses of every answer.

Starts ``python -m xrouter.serve router=DIR pool=routerbench`` (the real entry point) in a child
process on 127.0.0.1 (so client and server each get a core), sends recorded RouterBench test prompts
(the replay pool knows only those) from C ``openai.AsyncOpenAI`` workers, and prints requests/s,
p50/p99 client latency, the error count, and the orchestration overhead that the server reports per
request (``xrouter.timing``: server time - waiting for router turns - env steps with their pool
calls), plus the router's mean batch size from ``/metrics``.  Without ``--router`` it serves the demo
router (``xrouter.serve.demo``; built on first use, 1-3 minutes, then cached under ``.cache/``).  The
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-serve-load-benchmark"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recorded_prompts(limit: int) -> list[str]:
    """Test prompts with a unique text (replay matches a served query by its text) that every model answered."""
    sys.path.insert(0, str(ROOT))
    from xrouter.data.datasets import dataset_config, load_dataset
    from xrouter.data.store import resolve_data_dir

    traces = load_dataset(dataset_config("routerbench"), resolve_data_dir(str(ROOT / "data")))
    test = traces[traces["split"] == "test"]
    # every model recorded an answer (else the replay pool has none to give: 8 test prompts lack one), one id per text
    answered = test.groupby("prompt_id")["model"].nunique()
    test = test[test["prompt_id"].map(answered) == traces["model"].nunique()]
    counts = test.groupby("prompt")["prompt_id"].nunique()
    return [p for p in test["prompt"].drop_duplicates() if counts[p] == 1][:limit]


def start_server(router: str, port: int, overrides: list[str], log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, XROUTER_API_KEYS=KEY)
    command = [
        sys.executable,
        "-m",
        "xrouter.serve",
        f"router={router}",
        "pool=routerbench",
        f"port={port}",
        "log_level=warning",
        *overrides,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited ({process.returncode}); see {log_path}:\n{log_path.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"the server did not answer /health within 300 s; see {log_path}")


async def run_load(base_url: str, prompts: list[str], requests: int, clients: int, probe_health: bool = False) -> dict:
    import openai

    latencies, timings, errors, statuses, health = [], [], [], {}, []
    counter = iter(range(requests))
    done = asyncio.Event()

    async def worker(client) -> None:
        for i in counter:
            started = time.perf_counter()
            try:
                answer = await client.chat.completions.create(
                    model="xrouter", messages=[{"role": "user", "content": prompts[i % len(prompts)]}]
                )
            except openai.APIStatusError as error:
                statuses[error.status_code] = statuses.get(error.status_code, 0) + 1
                errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                continue
            except openai.APIError as error:
                statuses["transport"] = statuses.get("transport", 0) + 1
                errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                continue
            statuses[200] = statuses.get(200, 0) + 1
            latencies.append(time.perf_counter() - started)
            timings.append(answer.xrouter["timing"])

    async def probe() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not done.is_set():
                started = time.perf_counter()
                await http.get(base_url.removesuffix("/v1") + "/health")
                health.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)

    async with openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=300) as client:
        prober = asyncio.ensure_future(probe()) if probe_health else None
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
        done.set()
        if prober is not None:
            await prober
    return {
        "latencies": latencies,
        "timings": timings,
        "errors": errors,
        "elapsed_s": elapsed,
        "statuses": statuses,
        "health": health,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children: the router inference process is one)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(base_url: str) -> dict[str, float]:
    values = {}
    for line in httpx.get(base_url.removesuffix("/v1") + "/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--router", help="router directory (default: the demo router, cached under .cache/)")
    parser.add_argument("--requests", type=int, default=1280)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument(
        "--unique",
        action="store_true",
        help="every request another prompt (warm-up first, then the timed ones): no query is embedded twice",
    )
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("overrides", nargs="*", help="more serve config overrides (key=value)")
    args = parser.parse_args()

    router = args.router
    if router is None:
        sys.path.insert(0, str(ROOT))
        from xrouter.serve.demo import cached_demo_router

        print("the demo router (cold start only; built once, cached under .cache/) ...", flush=True)
        router = str(cached_demo_router(ROOT / ".cache"))
    prompts = recorded_prompts(args.warmup + args.requests if args.unique else args.prompts)
    if args.unique and len(prompts) < args.warmup + args.requests:
        raise SystemExit(
            f"--unique needs {args.warmup + args.requests} distinct recorded prompts; the test split has {len(prompts)}"
        )
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="serve-load-")) / "server.log"
    overrides = [
        f"batching.max_wait_ms={args.max_wait_ms}",
        f"batching.max_batch_size={args.max_batch}",
        *args.overrides,
    ]
    process = start_server(router, port, overrides, log_path)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        asyncio.run(run_load(base_url, prompts[: args.warmup] if args.unique else prompts, args.warmup, args.clients))
        before, cpu_before = scrape(base_url), cpu_seconds(process.pid)
        result = asyncio.run(
            run_load(
                base_url,
                prompts[args.warmup :] if args.unique else prompts,
                args.requests,
                args.clients,
                probe_health=True,
            )
        )
        after, cpu_after = scrape(base_url), cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)

    latency_ms = np.array(result["latencies"]) * 1e3
    timings = result["timings"]
    overhead = np.array([t["overhead_ms"] for t in timings])
    router_ms = np.array([t["router_ms"] for t in timings])
    pool_ms = np.array([t["pool_ms"] for t in timings])
    server_ms = np.array([t["server_ms"] for t in timings])
    batches = after["xrouter_router_batches_total"] - before["xrouter_router_batches_total"]
    rows = after["xrouter_router_batch_rows_total"] - before["xrouter_router_batch_rows_total"]
    summary = {
        "requests": args.requests,
        "clients": args.clients,
        "ok": len(result["latencies"]),
        "errors": len(result["errors"]),
        "elapsed_s": round(result["elapsed_s"], 3),
        "req_per_s": round(len(result["latencies"]) / result["elapsed_s"], 1),
        "latency_p50_ms": round(float(np.percentile(latency_ms, 50)), 1),
        "latency_p99_ms": round(float(np.percentile(latency_ms, 99)), 1),
        "server_p50_ms": round(float(np.percentile(server_ms, 50)), 1),
        "router_wait_p50_ms": round(float(np.percentile(router_ms, 50)), 1),
        "pool_p50_ms": round(float(np.percentile(pool_ms, 50)), 3),
        "encoder_p50_ms": round(float(np.percentile([t.get("encoder_ms", 0.0) for t in timings], 50)), 3),
        "encoder_p99_ms": round(float(np.percentile([t.get("encoder_ms", 0.0) for t in timings], 99)), 3),
        "body_p50_ms": round(float(np.percentile([t["body_ms"] for t in timings], 50)), 3),
        "body_p99_ms": round(float(np.percentile([t["body_ms"] for t in timings], 99)), 3),
        "overhead_p50_ms": round(float(np.percentile(overhead, 50)), 3),
        "overhead_p99_ms": round(float(np.percentile(overhead, 99)), 3),
        "server_cpu_ms_per_request": round((cpu_after - cpu_before) * 1e3 / max(1, len(timings)), 2),
        "router_batches": int(batches),
        "mean_batch_size": round(rows / batches, 1) if batches else None,
        "turns_per_request": round(rows / max(1, len(timings)), 2),
        "statuses": {str(k): v for k, v in sorted(result["statuses"].items(), key=lambda kv: str(kv[0]))},
        "health_p50_ms": round(float(np.percentile(np.array(result["health"]) * 1e3, 50)), 2),
        "health_p99_ms": round(float(np.percentile(np.array(result["health"]) * 1e3, 99)), 2),
        "health_probes": len(result["health"]),
        "unique_queries": bool(args.unique),
    }
    summary["p99_over_p50"] = round(summary["latency_p99_ms"] / summary["latency_p50_ms"], 2)
    print(
        f"{summary['req_per_s']} req/s over {summary['ok']} requests from {args.clients} clients; "
        f"latency p50 {summary['latency_p50_ms']} ms, p99 {summary['latency_p99_ms']} ms; errors {summary['errors']}"
    )
    print(
        f"orchestration overhead (server - body read - router wait - env/pool): p50 {summary['overhead_p50_ms']} ms, "
        f"p99 {summary['overhead_p99_ms']} ms; server CPU {summary['server_cpu_ms_per_request']} ms per request; "
        f"router batches {batches:.0f}, mean size {summary['mean_batch_size']}"
    )
    if summary["encoder_p99_ms"]:
        print(
            f"query encoder (tiny_encoder routers; on its own thread, batched): p50 "
            f"{summary['encoder_p50_ms']} ms, p99 {summary['encoder_p99_ms']} ms"
        )
    print(
        f"statuses {summary['statuses']}; GET /health during the load: p50 {summary['health_p50_ms']} ms, p99 "
        f"{summary['health_p99_ms']} ms over {summary['health_probes']} probes; latency p99 / p50 "
        f"{summary['p99_over_p50']}"
    )
    for error in result["errors"][:5]:
        print("error:", error)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
