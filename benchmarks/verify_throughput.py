"""Verifier throughput: answers/s of math verification and of sandboxed code verification.

    python benchmarks/verify_throughput.py [--math-workers N] [--code-workers N] [--code-limit 974]

(a) math: MATH-500 ``answer`` vs its reference ``solution`` (the last ``\\boxed{}``), through
    ``verify_math_batch`` on a warm pool of math-verify worker processes (pool start-up reported
    separately).  (b) code: MBPP reference solutions (``code``) against their ``test_list`` through
    ``verify_code_batch``: one sandboxed ``python -I`` subprocess per answer, ``--code-workers`` at
    a time.  Bounded: at most ``--code-limit`` MBPP problems and a fixed 500 math pairs (well under
    2 minutes on 2 cores).  The last line printed is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from xrouter.verify.code import verify_code_batch
from xrouter.verify.math import MathVerifierPool

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("XROUTER_DATA_DIR") or ROOT.parent / "shared" / "data")


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        sys.exit(f"missing {path}: set XROUTER_DATA_DIR to the shared data folder")
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def bench_math(workers: int) -> dict:
    rows = read_jsonl(data_dir() / "benchmarks/math/math500/test.jsonl")
    started = time.perf_counter()
    pool = MathVerifierPool(n_workers=workers)
    pool.check_many(["1"] * workers, ["\\boxed{1}"] * workers, timeout_s=60)  # wait for every worker
    startup = time.perf_counter() - started
    try:
        started = time.perf_counter()
        scores = pool.check_many([r["answer"] for r in rows], [r["solution"] for r in rows], timeout_s=5)
        elapsed = time.perf_counter() - started
    finally:
        pool.close()
    return {
        "math_answers": len(rows),
        "math_workers": workers,
        "math_pool_startup_s": round(startup, 2),
        "math_seconds": round(elapsed, 2),
        "math_answers_per_s": round(len(rows) / elapsed, 1),
        "math_correct": sum(s.value for s in scores),
        "math_timeouts": sum(s.reason == "timeout" for s in scores),
    }


def bench_code(workers: int, limit: int) -> dict:
    rows = read_jsonl(data_dir() / "benchmarks/mbpp/mbpp.jsonl")[:limit]
    examples = [
        {
            "verifier": "code_mbpp",
            "gold": None,
            "tests": r["test_list"],
            "test_setup_code": r["test_setup_code"],
            "timeout_s": 10,
        }
        for r in rows
    ]
    started = time.perf_counter()
    scores = verify_code_batch(examples, [r["code"] for r in rows], max_workers=workers)
    elapsed = time.perf_counter() - started
    failed = [(r["task_id"], s.reason) for r, s in zip(rows, scores) if s.value != 1]
    return {
        "code_answers": len(rows),
        "code_workers": workers,
        "code_seconds": round(elapsed, 2),
        "code_answers_per_s": round(len(rows) / elapsed, 1),
        "code_passed": sum(s.value for s in scores),
        "code_failed": failed[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cpus = os.cpu_count() or 1
    parser.add_argument("--math-workers", type=int, default=min(4, cpus))
    parser.add_argument("--code-workers", type=int, default=cpus)
    parser.add_argument("--code-limit", type=int, default=974)
    args = parser.parse_args()
    result = {"cpus": cpus, "python": sys.version.split()[0]}
    result.update(bench_math(args.math_workers))
    print(f"math: {result['math_answers_per_s']} answers/s", flush=True)
    result.update(bench_code(args.code_workers, args.code_limit))
    print(f"code: {result['code_answers_per_s']} answers/s", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
