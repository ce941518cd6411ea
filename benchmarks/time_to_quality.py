"""Time to quality: wall time and RL steps until a training recipe's dev accuracy reaches a target at a cost cap.

    python benchmarks/time_to_quality.py [--recipes rl_only teacher tiny] [--seeds 0 1 2]
        [--margin 0.01 | --target 0.78] [--max-cost 5e-4] [--max-steps N] [--every N] [--threads 2]
        [extra train overrides ...]

Recipes (``RECIPES``): ``rl_only`` (``experiment=rl_only``: rewards alone), ``teacher`` (the teacher-distilled
default of ``xrouter.train``) and ``tiny`` (the text-only ``router=tiny``), each on its own schedule unless
``--max-steps`` (optimizer steps) / ``--every`` (validate every N rollouts) are given.

The default target is relative: the best single pool model's accuracy on the *same seeded dev slice*
among the models whose mean cost is within ``--max-cost``, plus ``--margin``.  A router reaches it only
by routing better than sending every query to one model; a fixed ``--target`` is within the noise of
which ~250-prompt slice a seed draws (on seed 1's RouterBench slice Yi-34B alone scores 0.798).

Each (recipe, seed) is one ``python -m xrouter.train`` run in a subprocess (RouterBench replay, no test
evaluation, validation at the default lambda only: ``data.val_lams=null``); its output is read line by line as
it comes, and the first dev evaluation (``dev before RL``, after the cold start, as step 0; then each
``[val @ step N]``) with dev accuracy above the relative target (or >= a fixed ``--target``) and cost
per query <= ``--max-cost`` is the hit: its step and the wall time since the process started (router
build, cold start and validations included).  Validation is greedy at the router's default lambda (reward.lam).
Prints one
row per run, then the mean and spread per recipe, and writes ``--out`` (JSON).
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
RECIPES = {
    "rl_only": ["experiment=rl_only"],
    "teacher": ["recipe=teacher"],
    "tiny": ["router=tiny", "recipe=text_only"],
}


def dev_single_models(seed: int, overrides: list[str]) -> dict[str, tuple[float, float]]:
    """``{model: (mean cost USD, accuracy)}`` of each pool model on the dev slice ``xrouter.train seed=seed``
    carves (the slice depends on the seed and the data config, not on the router)."""
    from hydra import compose, initialize_config_dir

    from xrouter import CONF_DIR
    from xrouter.build import data_dir_of, train_and_dev
    from xrouter.policies.table import recorded_table

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"seed={seed}", *overrides])
    data_dir, cache_dir = data_dir_of(cfg), Path(cfg.paths.cache_dir)
    _, dev = train_and_dev(cfg, data_dir, cache_dir)
    if not dev:
        raise SystemExit("the dev slice is empty (data.dev_fraction=0?): time to quality is measured on dev")
    return recorded_table(cfg.pool, [str(e["prompt_id"]) for e in dev], data_dir, cache_dir).single_model_points()


def relative_target(points: dict[str, tuple[float, float]], max_cost: float, margin: float) -> dict:
    """The best single model within ``max_cost`` and the target above it (``margin`` added)."""
    within = {m: p for m, p in points.items() if p[0] <= max_cost}
    if not within:
        cheapest = min(points.items(), key=lambda kv: kv[1][0])
        raise SystemExit(
            f"no pool model costs <= ${max_cost:.1e}/query on dev (cheapest: {cheapest[0]} at "
            f"${cheapest[1][0]:.1e}); raise --max-cost"
        )
    best = max(within, key=lambda m: within[m][1])
    return {
        "best_single": best,
        "best_single_accuracy": within[best][1],
        "best_single_cost": within[best][0],
        "target": within[best][1] + margin,
    }


def run_one(recipe: str, seed: int, args: argparse.Namespace, out_root: Path, target: float) -> dict:
    output_dir = out_root / f"{recipe}_seed{seed}"
    schedule = ([f"trainer.max_steps={args.max_steps}"] if args.max_steps else []) + (
        [f"trainer.val_check_interval={args.every}"] if args.every else []
    )
    command = [
        sys.executable,
        "-m",
        "xrouter.train",
        *RECIPES[recipe],
        f"seed={seed}",
        *schedule,
        f"threads={args.threads}",
        "evaluate_test=false",
        "data.val_lams=null",
        f"output_dir={output_dir}",
        "++trainer.enable_progress_bar=false",
        *args.overrides,
    ]
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
            above = accuracy >= target if args.target is not None else accuracy > target  # relative: above it
            if hit is None and above and cost <= args.max_cost:
                hit = dict(last)
                if args.stop_at_hit:
                    proc.terminate()
                    break
        proc.wait()
    total = time.perf_counter() - started
    return {
        "recipe": recipe,
        "seed": seed,
        "target": target,
        "hit": hit,
        "last": last,
        "curve": curve,
        "total_wall_s": total,
        "returncode": proc.returncode,
        "command": " ".join(command[1:]),
    }


def summarize(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        runs = [r for r in rows if r["recipe"] == recipe]
        hits = [r["hit"] for r in runs if r["hit"]]
        out[recipe] = {
            "runs": len(runs),
            "reached": len(hits),
            "wall_s_mean": statistics.mean(h["wall_s"] for h in hits) if hits else None,
            "wall_s_spread": ((min(h["wall_s"] for h in hits), max(h["wall_s"] for h in hits)) if hits else None),
            "steps_mean": statistics.mean(h["step"] for h in hits) if hits else None,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--target",
        type=float,
        default=None,
        help="a fixed dev accuracy to reach (default: the relative target, see --margin)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=0.01,
        help="the relative target: dev accuracy above the best single model within --max-cost "
        "on the same dev slice plus this",
    )
    parser.add_argument("--max-cost", type=float, default=5e-4, help="at most this USD per query")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps (default: the recipe's)")
    parser.add_argument("--every", type=int, default=None, help="validate every N rollouts (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--no-stop-at-hit",
        dest="stop_at_hit",
        action="store_false",
        help="train to --max-steps even after the target is reached",
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/time_to_quality.json"))
    parser.add_argument("overrides", nargs="*", help="more xrouter.train overrides (key=value)")
    args = parser.parse_args()
    out_root = args.out.parent / "time_to_quality_runs"
    rows, targets = [], {}
    for seed in args.seeds:
        if args.target is None:
            targets[seed] = relative_target(dev_single_models(seed, args.overrides), args.max_cost, args.margin)
            t = targets[seed]
            print(
                f"seed {seed}: target dev accuracy > {t['target']:.3f} at <= ${args.max_cost:.1e}/query (best single "
                f"model within the cap on this dev slice: {t['best_single']} {t['best_single_accuracy']:.3f} at "
                f"${t['best_single_cost']:.2e}, + {args.margin})"
            )
        else:
            targets[seed] = {"target": args.target}
    if args.target is not None:
        print(f"target: dev accuracy >= {args.target} at <= ${args.max_cost:.1e}/query")
    print(
        f"validation every {args.every or 'the recipe default number of'} rollouts, at most "
        f"{args.max_steps or 'the recipe default number of'} optimizer steps"
    )
    for recipe in args.recipes:
        for seed in args.seeds:
            row = run_one(recipe, seed, args, out_root, targets[seed]["target"])
            row["target_detail"] = targets[seed]
            rows.append(row)
            hit, last = row["hit"], row["last"] or {}
            print(
                f"{recipe:14s} seed {seed}: "
                + (
                    f"reached at step {hit['step']} after {hit['wall_s']:.0f} s "
                    f"(accuracy {hit['accuracy']:.3f} at ${hit['cost_per_query']:.2e})"
                    if hit
                    else f"not reached by step {last.get('step')} "
                    f"({row['total_wall_s']:.0f} s; last dev {last.get('accuracy')} at "
                    f"${last.get('cost_per_query')})"
                ),
                flush=True,
            )
    summary = summarize(rows)
    for recipe, s in summary.items():
        spread = s["wall_s_spread"]
        print(
            f"{recipe:14s} reached {s['reached']}/{s['runs']}"
            + (
                f"; mean {s['wall_s_mean']:.0f} s (range {spread[0]:.0f}-{spread[1]:.0f} s), "
                f"mean {s['steps_mean']:.0f} steps"
                if s["reached"]
                else ""
            )
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "target": args.target,
                "margin": args.margin,
                "targets": targets,
                "max_cost": args.max_cost,
                "runs": rows,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
