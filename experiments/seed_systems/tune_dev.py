"""Tune a baseline's settings on the dev slice of the train split (never on test).

The policy is fitted on train minus the dev slice (the seeded ``split_dev`` slice xrouter.train
validates on, ``data.dev_fraction`` of train, seed 0) and its knob sweep is scored on the dev
prompts from their recorded outcomes; AIQ on the dev single models' cost range.

    .venv/bin/python experiments/seed_systems/tune_dev.py pool=routerbench benchmark=routerbench \
        policy=barp --grid '{"entropy": [0.01, 0.05]}'
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

import xrouter.config  # noqa: F401  (registers resolvers)
from xrouter import CONF_DIR, metrics
from xrouter.build import build_pool, train_and_dev
from xrouter.config import data_dir_of, to_plain
from xrouter.evaluation.baseline_policy import policy_context
from xrouter.policies import build_policy


def dev_curve(policy, dev_table, values) -> list[tuple[float, float]]:
    """(cost per query, accuracy) on the dev prompts for each knob value."""
    rows = np.arange(len(dev_table))
    column = {m: j for j, m in enumerate(dev_table.models)}
    points = []
    for value in values:
        policy.set_knob(value)
        pick = np.asarray([column[m] for m in policy.first(rows)])
        points.append((float(dev_table.cost_usd[rows, pick].mean()), float(dev_table.score[rows, pick].mean())))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/evaluate.yaml (policy=..., pool=...)")
    parser.add_argument("--points", action="store_true", help="print every (knob, cost, accuracy) point too")
    parser.add_argument("--seeds", default="0", help="comma-separated policy seeds (the dev slice stays seed 0's)")
    parser.add_argument("--grid", default="{}", help="JSON {policy key: [values]}: every combination is scored")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=["progress=false", "output_dir=unused", *args.overrides])
    data_dir, cache_dir = data_dir_of(cfg), Path(cfg.paths.cache_dir)
    pool = build_pool(cfg.pool, data_dir, cache_dir)
    ctx = policy_context(cfg, pool, data_dir, cache_dir)
    _, dev = train_and_dev(cfg, data_dir, cache_dir)
    dev_ids = {str(e["prompt_id"]) for e in dev}
    full = ctx.fit_table("train")
    fit = full.subset(np.flatnonzero([p not in dev_ids for p in full.prompt_ids]))
    dev_table = full.subset(np.flatnonzero([p in dev_ids for p in full.prompt_ids]))
    dev_examples = [{"prompt_id": p, "prompt": t} for p, t in zip(dev_table.prompt_ids, dev_table.prompts)]
    ctx = dataclasses.replace(ctx, fit_table=lambda split: fit, splits_available=lambda: ["train"])
    singles = dev_table.single_model_points()
    cost_range = (min(c for c, _ in singles.values()), max(c for c, _ in singles.values()))
    print(
        f"fit on {len(fit)} train prompts, scored on {len(dev_table)} dev prompts; "
        f"dev zero-router AIQ {metrics.aiq(list(singles.values()), cost_range):.4f}"
    )
    if args.points:
        print("   singles:", {m: (f"{c:.2e}", round(q, 3)) for m, (c, q) in singles.items()})
    grid = json.loads(args.grid)
    base = to_plain(cfg.policy)
    values = list(base["sweep_values"])
    seeds = [int(s) for s in args.seeds.split(",")]
    for combo, seed in itertools.product(itertools.product(*grid.values()) if grid else [()], seeds):
        variant = dict(zip(grid, combo))
        start = time.time()
        policy = build_policy({**base, **variant}, dataclasses.replace(ctx, seed=seed))
        policy.prepare(dev_examples)
        points = dev_curve(policy, dev_table, values)
        distinct = len(set(points))
        print(
            json.dumps(
                {
                    "variant": variant,
                    "seed": seed,
                    "dev_aiq": round(metrics.aiq(points, cost_range), 4),
                    "distinct_points": distinct,
                    "best_accuracy": round(max(q for _, q in points), 4),
                    "seconds": round(time.time() - start, 1),
                }
            ),
            flush=True,
        )
        if args.points:
            print("   ", [(v, f"{c:.2e}", round(q, 3)) for v, (c, q) in zip(values, points)])


if __name__ == "__main__":
    main()
