"""Time to quality: wall time and RL steps until a router's dev accuracy reaches a target at a cost cap.

    python benchmarks/time_to_quality.py [--routers tiny tiny_encoder] [--seeds 0 1 2] [--target 0.78]
        [--max-cost 5e-4] [--max-steps 100] [--every 5] [--threads 2] [extra train overrides ...]

Each (router, seed) is one ``python -m xrouter.train`` run in a subprocess (RouterBench replay, the default
job's config, validation every ``--every`` steps, no test evaluation); its output is read line by line as
it comes, and the first dev evaluation (``dev before RL``, after the cold start, as step 0; then each
``[val @ step N]``) with dev accuracy >= ``--target`` and cost per query <=
``--max-cost`` is the hit: its step and the wall time since the process started (router build, cold start
and validations included).  Validation is greedy at the router's default lambda (reward.lam).  Prints one
row per run, then the mean and spread per router, and writes ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

VAL_LINE = re.compile(r"\[val @ step (\d+)\] accuracy ([0-9.]+)\s+cost/query \$([0-9.e+-]+)")
# the dev evaluation after the cold start, before any RL step: step 0
BEFORE_RL_LINE = re.compile(r"dev before RL: accuracy ([0-9.]+), cost/query \$([0-9.e+-]+)")


def run_one(router: str, seed: int, args: argparse.Namespace, out_root: Path) -> dict:
    output_dir = out_root / f"{router}_seed{seed}"
    command = [sys.executable, "-m", "xrouter.train", f"router={router}", f"seed={seed}",
               f"trainer.max_steps={args.max_steps}", f"trainer.val_check_interval={args.every}",
               f"threads={args.threads}", "evaluate_test=false", f"output_dir={output_dir}",
               "++trainer.enable_progress_bar=false", *args.overrides]
    started = time.perf_counter()
    hit, last, curve = None, None, []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            match, before = VAL_LINE.search(line), BEFORE_RL_LINE.search(line)
            if match:
                step, accuracy, cost = int(match[1]), float(match[2]), float(match[3])
            elif before:
                step, accuracy, cost = 0, float(before[1]), float(before[2])
            else:
                continue
            wall = time.perf_counter() - started
            last = {"step": step, "accuracy": accuracy, "cost_per_query": cost, "wall_s": wall}
            curve.append(last)
            if hit is None and accuracy >= args.target and cost <= args.max_cost:
                hit = dict(last)
                if args.stop_at_hit:
                    proc.terminate()
                    break
        proc.wait()
    total = time.perf_counter() - started
    return {"router": router, "seed": seed, "hit": hit, "last": last, "curve": curve, "total_wall_s": total,
            "returncode": proc.returncode, "command": " ".join(command[1:])}


def summarize(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for router in dict.fromkeys(r["router"] for r in rows):
        runs = [r for r in rows if r["router"] == router]
        hits = [r["hit"] for r in runs if r["hit"]]
        out[router] = {"runs": len(runs), "reached": len(hits),
                       "wall_s_mean": statistics.mean(h["wall_s"] for h in hits) if hits else None,
                       "wall_s_spread": (min(h["wall_s"] for h in hits), max(h["wall_s"] for h in hits)) if hits else None,
                       "steps_mean": statistics.mean(h["step"] for h in hits) if hits else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routers", nargs="+", default=["tiny", "tiny_encoder"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.78, help="dev accuracy to reach")
    parser.add_argument("--max-cost", type=float, default=5e-4, help="at most this USD per query")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--every", type=int, default=5, help="validate every N steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-stop-at-hit", dest="stop_at_hit", action="store_false",
                        help="train to --max-steps even after the target is reached")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/time_to_quality.json"))
    parser.add_argument("overrides", nargs="*", help="more xrouter.train overrides (key=value)")
    args = parser.parse_args()
    out_root = args.out.parent / "time_to_quality_runs"
    rows = []
    print(f"target: dev accuracy >= {args.target} at <= ${args.max_cost:.1e}/query; validation every {args.every} "
          f"steps, at most {args.max_steps}")
    for router in args.routers:
        for seed in args.seeds:
            row = run_one(router, seed, args, out_root)
            rows.append(row)
            hit, last = row["hit"], row["last"] or {}
            print(f"{router:14s} seed {seed}: " + (f"reached at step {hit['step']} after {hit['wall_s']:.0f} s "
                                                   f"(accuracy {hit['accuracy']:.3f} at ${hit['cost_per_query']:.2e})"
                                                   if hit else f"not reached in {args.max_steps} steps "
                                                   f"({row['total_wall_s']:.0f} s; last dev {last.get('accuracy')} at "
                                                   f"${last.get('cost_per_query')})"), flush=True)
    summary = summarize(rows)
    for router, s in summary.items():
        spread = s["wall_s_spread"]
        print(f"{router:14s} reached {s['reached']}/{s['runs']}" + (
            f"; mean {s['wall_s_mean']:.0f} s (range {spread[0]:.0f}-{spread[1]:.0f} s), mean {s['steps_mean']:.0f} steps"
            if s["reached"] else ""))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"target": args.target, "max_cost": args.max_cost, "runs": rows,
                                    "summary": summary}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
