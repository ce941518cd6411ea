"""Does ``"xrouter": {"max_cost_per_query": X}`` hold on queries the calibration never saw?

    XROUTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/target_cost.py --router <run>/router \
        [--targets 3e-4 1e-3 3e-3] [--queries 200] [--clients 8]

Starts the real server (``python -m xrouter.serve router=DIR pool=routerbench``) on 127.0.0.1 with a
lambda-conditioned router whose training wrote ``<router>/calibration.json`` (its one-checkpoint curve on the
dev slice), sends the same ``--queries`` recorded RouterBench test prompts (a seeded sample over all of test: the
file's first 200 are all ARC-Challenge) at each target, and prints, per
target, the lambda the server chose, the calibration's expected cost there, and the realised mean cost per
query (the responses' ``xrouter.total_cost_usd``): within 20% of the target or below it is the issue-28 bar.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import KEY, free_port, recorded_prompts, start_server  # noqa: E402


async def ask_all(base_url: str, prompts: list[str], target: float, clients: int) -> list[dict]:
    import httpx

    replies: list[dict] = []
    queue = iter(prompts)

    async def worker(http: httpx.AsyncClient) -> None:
        for prompt in queue:
            body = {
                "model": "xrouter",
                "messages": [{"role": "user", "content": prompt}],
                "xrouter": {"max_cost_per_query": target},
            }
            reply = await http.post(f"{base_url}/chat/completions", json=body)
            if reply.status_code != 200:
                raise RuntimeError(f"HTTP {reply.status_code}: {reply.text[:300]}")
            replies.append(reply.json()["xrouter"])

    async with httpx.AsyncClient(timeout=300, headers={"Authorization": f"Bearer {KEY}"}) as http:
        await asyncio.gather(*(worker(http) for _ in range(clients)))
    return replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--router", required=True, help="a tiny_encoder router directory with calibration.json")
    parser.add_argument("--targets", nargs="+", type=float, default=[3e-4, 1e-3, 3e-3], help="USD per query")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="which test queries (a seeded sample)")
    args = parser.parse_args()
    if not (Path(args.router) / "calibration.json").exists():
        sys.exit(
            f"{args.router}/calibration.json is missing: train a lambda-conditioned router (the default recipe "
            "writes it at the end of training)"
        )
    every = recorded_prompts(10**9)  # the test prompts the replay pool can answer, in file order (by task)
    prompts = random.Random(args.seed).sample(every, min(args.queries, len(every)))  # all tasks, not the first one
    port = free_port()
    log_path = Path(tempfile.mkdtemp()) / "server.log"
    server = start_server(args.router, port, [], log_path)
    rows = []
    try:
        for target in args.targets:
            replies = asyncio.run(ask_all(f"http://127.0.0.1:{port}/v1", prompts, target, args.clients))
            routing = replies[0]["routing"]
            realised = sum(r["total_cost_usd"] for r in replies) / len(replies)
            row = {
                "target_usd": target,
                "lam": routing["lam"],
                "expected_usd": routing["expected_cost_per_query"],
                "expected_accuracy": routing.get("expected_accuracy"),
                "realised_usd": realised,
                "ratio": realised / target,
                "holds": realised <= 1.2 * target,
                "n": len(replies),
            }
            rows.append(row)
            print(
                f"target ${target:.1e}: lambda {row['lam']:g} (dev: ${row['expected_usd']:.2e}, accuracy "
                f"{row['expected_accuracy']}); realised ${realised:.2e} over {len(replies)} test queries "
                f"= {row['ratio']:.2f} x target -> {'holds' if row['holds'] else 'MISSES'}"
            )
    finally:
        server.terminate()
        server.wait()
    print(json.dumps({"router": args.router, "rows": rows}))


if __name__ == "__main__":
    main()
