"""Pool throughput: calls/s of the RouterBench replay pool in-process, and over HTTP at 64 in flight.

    python benchmarks/pool_throughput.py [--replay-calls 200000] [--http-calls 5000] [--in-flight 64]

(a) ``ModelPool.call`` on the real ReplayEndpoints (RouterBench traces via ``xrouter.build``),
    awaited one after another: the pool + ledger overhead per call.  Target >= 50,000 calls/s.
(b) The same pool served by ``xrouter.pool.api``'s app in a child process (uvicorn on 127.0.0.1), called
    through one ``OpenAICompatEndpoint`` per model with ``--in-flight`` calls outstanding.  Target
    >= 1,000 calls/s on 2 cores.  (b') the same with the server in a thread of this process (one GIL).
Loopback only; a fixed number of calls.  The last line printed is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

from xrouter.pool.ledger import CostLedger
from xrouter.pool.pool import ModelCard, ModelPool


def compose_pool_config():
    from hydra import compose, initialize_config_dir

    import xrouter.config  # noqa: F401  (resolvers)
    from xrouter import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="serve_pool")


def build_replay_pool() -> tuple[ModelPool, list[tuple[str, str, str]]]:
    """The RouterBench replay pool and every recorded (pool model, prompt_id, prompt)."""
    from xrouter.build import build_pool
    from xrouter.config import data_dir_of, to_plain
    from xrouter.data.datasets import pool_traces

    cfg = compose_pool_config()
    data_dir, cache_dir = data_dir_of(cfg), Path(cfg.paths.cache_dir)
    pool = build_pool(cfg.pool, data_dir, cache_dir=cache_dir)
    traces = pool_traces(to_plain(cfg.pool), data_dir, cache_dir)
    by_trace_model = {str(spec.get("trace_model", name)): name for name, spec in cfg.pool.models.items()}
    rows = traces[traces["model"].isin(list(by_trace_model))]
    calls = [
        (by_trace_model[m], pid, prompt)
        for m, pid, prompt in rows[["model", "prompt_id", "prompt"]].itertuples(index=False, name=None)
    ]
    return pool, calls


def bench_replay(pool: ModelPool, calls: list[tuple[str, str, str]], n: int) -> float:
    messages = {pid: [{"role": "user", "content": prompt}] for _, pid, prompt in calls}
    order = [calls[i % len(calls)] for i in range(n)]
    random.Random(0).shuffle(order)

    async def run() -> float:
        started = time.perf_counter()
        for name, pid, _ in order:
            await pool.call(name, messages[pid], prompt_id=pid)
        return n / (time.perf_counter() - started)

    return asyncio.run(run())


def serve_child(port_queue, stop_event) -> None:
    """Child process: build the replay pool and serve it until told to stop."""
    from xrouter.pool.api import build_app, serve_in_thread

    pool, _ = build_replay_pool()
    gc.collect()
    gc.freeze()  # the recorded answers are long-lived: keep them out of every GC pass
    with serve_in_thread(build_app(pool)) as base_url:
        port_queue.put(base_url)
        stop_event.wait()


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def bench_http(
    base_url: str,
    cards: dict[str, ModelCard],
    calls: list[tuple[str, str, str]],
    n: int,
    in_flight: int,
    http_backend: str = "auto",
    server_pid: int | None = None,
) -> tuple[float, dict]:
    from xrouter.pool.openai_compat import OpenAICompatEndpoint

    endpoints = {
        name: OpenAICompatEndpoint(
            name=name,
            api_model=name,
            base_url=base_url,
            price=card.price,
            max_in_flight=in_flight,
            send_prompt_id=True,
            timeout_s=30,
            http_backend=http_backend,
        )
        for name, card in cards.items()
    }
    pool = ModelPool(endpoints, cards)
    order = [calls[i % len(calls)] for i in range(n)]
    random.Random(1).shuffle(order)
    info: dict = {}

    async def run() -> float:
        first = {}  # warm up: one call per model opens each endpoint's client
        for name, pid, prompt in calls:
            first.setdefault(name, (pid, prompt))
        await asyncio.gather(
            *(
                pool.call(name, [{"role": "user", "content": prompt}], prompt_id=pid)
                for name, (pid, prompt) in first.items()
            )
        )
        pool.ledger = CostLedger()
        queue = iter(order)

        async def worker() -> None:  # in_flight workers keep in_flight calls outstanding
            for name, pid, prompt in queue:
                await pool.call(name, [{"role": "user", "content": prompt}], prompt_id=pid)

        server_cpu = process_cpu_s(server_pid) if server_pid else None
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        rate = n / (time.perf_counter() - started)
        info["client_cpu_ms_per_call"] = round((time.process_time() - cpu) / n * 1e3, 3)
        if server_cpu is not None:  # the child's CPU over the same span (it idles outside it)
            info["server_cpu_ms_per_call"] = round((process_cpu_s(server_pid) - server_cpu) / n * 1e3, 3)
        for endpoint in endpoints.values():
            await endpoint.aclose()
        return rate

    rate = asyncio.run(run())
    totals = pool.ledger.totals()
    info.update(errors=totals["errors"], retries=sum(r.attempts - 1 for r in pool.ledger.records))
    return rate, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replay-calls", type=int, default=200_000)
    parser.add_argument("--http-calls", type=int, default=5_000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument(
        "--http-backend",
        default="auto",
        choices=["auto", "aiohttp", "httpx"],
        help="the openai client's HTTP layer (auto: aiohttp when installed)",
    )
    parser.add_argument("--skip-in-thread", action="store_true", help="skip (b'), the server in this process")
    args = parser.parse_args()

    pool, calls = build_replay_pool()
    replay_rate = bench_replay(pool, calls, args.replay_calls)
    print(
        f"(a) replay pool in-process: {replay_rate:,.0f} calls/s ({args.replay_calls:,} calls, "
        f"{len(calls):,} recorded answers, {len(pool.names)} models)",
        flush=True,
    )

    gc.collect()
    gc.freeze()
    context = multiprocessing.get_context("spawn")
    port_queue, stop_event = context.Queue(), context.Event()
    child = context.Process(target=serve_child, args=(port_queue, stop_event), daemon=True)
    child.start()
    try:
        base_url = port_queue.get(timeout=120)
        http_rate, http_info = bench_http(
            base_url, pool.cards, calls, args.http_calls, args.in_flight, args.http_backend, server_pid=child.pid
        )
    finally:
        stop_event.set()
        child.join(timeout=30)
    print(
        f"(b) HTTP pool, server in a child process: {http_rate:,.0f} calls/s ({args.http_calls:,} calls, "
        f"{args.in_flight} in flight, {http_info})",
        flush=True,
    )

    thread_rate = None
    if not args.skip_in_thread:
        from xrouter.pool.api import build_app, serve_in_thread

        with serve_in_thread(build_app(pool)) as base_url:
            thread_rate, thread_info = bench_http(
                base_url, pool.cards, calls, args.http_calls, args.in_flight, args.http_backend
            )
        print(
            f"(b') HTTP pool, server in a thread of this process: {thread_rate:,.0f} calls/s {thread_info}", flush=True
        )

    have = {name: importlib.util.find_spec(name) is not None for name in ("aiohttp", "uvloop", "httptools")}
    print(
        json.dumps(
            {
                "replay_calls_per_s": round(replay_rate),
                "http_calls_per_s": round(http_rate),
                "http_in_thread_calls_per_s": None if thread_rate is None else round(thread_rate),
                "replay_calls": args.replay_calls,
                "http_calls": args.http_calls,
                "in_flight": args.in_flight,
                "http_errors": http_info["errors"],
                "client_cpu_ms_per_call": http_info["client_cpu_ms_per_call"],
                "server_cpu_ms_per_call": http_info.get("server_cpu_ms_per_call"),
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "client_http": args.http_backend
                if args.http_backend != "auto"
                else ("aiohttp" if have["aiohttp"] else "httpx"),
                "server": f"uvicorn loop={'uvloop' if have['uvloop'] else 'asyncio'} "
                f"http={'httptools' if have['httptools'] else 'h11'}",
            }
        )
    )


if __name__ == "__main__":
    main()
