"""Per-program cost of the code sandbox: CPU time (user+sys of all children, from getrusage: robust on
a busy box) and median wall time of one-assert programs, in interleaved rounds, for the sandbox before
issue 15 and for the current levels.

    git show e0091db:xrouter/verify/sandbox.py > /tmp/old_sandbox.py
    .venv/bin/python benchmarks/sandbox_overhead.py 30 3 [/tmp/old_sandbox.py]
"""

import importlib.util
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xrouter.verify.sandbox import run_program as new_run  # noqa: E402

old_run = None
if len(sys.argv) > 3:  # the old sandbox module, from git (see above)
    spec = importlib.util.spec_from_file_location("old_sandbox", sys.argv[3])
    old = importlib.util.module_from_spec(spec)
    sys.modules["old_sandbox"] = old  # dataclasses look their module up there
    spec.loader.exec_module(old)
    old_run = old.run_program


def bench(fn, n: int) -> tuple[float, float]:
    fn("pass\n", 5)
    r0, walls = resource.getrusage(resource.RUSAGE_CHILDREN), []
    for _ in range(n):
        t = time.perf_counter()
        r = fn("assert sum([1, 2]) == 3\n", 5)
        walls.append(time.perf_counter() - t)
        assert r.returncode == 0, r
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / n * 1e3, statistics.median(walls) * 1e3


n = int(sys.argv[1])
res = {"old": [], "namespaces": [], "basic": []} if old_run else {"namespaces": [], "basic": []}
for _ in range(int(sys.argv[2])):
    if old_run:
        res["old"].append(bench(old_run, n))
    os.environ["XROUTER_SANDBOX"] = "namespaces"
    res["namespaces"].append(bench(new_run, n))
    os.environ["XROUTER_SANDBOX"] = "basic"
    res["basic"].append(bench(new_run, n))
for k, v in res.items():
    print(
        f"{k:10s} cpu ms/program {statistics.median(c for c, _ in v):.1f}  "
        f"wall ms median {statistics.median(w for _, w in v):.1f}   "
        f"rounds {[(round(c, 1), round(w, 1)) for c, w in v]}"
    )
