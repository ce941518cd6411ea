"""Evaluation throughput: episodes/s of baseline policies on the RouterBench replay pool, and of the
tiny router through the agent loop.

    XROUTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/eval_throughput.py \
        [--repeats 20] [--policies single,random,oracle,best_fixed_per_task,knn,mlp,cascade] \
        [--embedding minilm|hashing] [--router-examples 64] [--threads 1]

For each baseline (fitted and prepared once, not timed): (a) the replay fast path
(``ReplayEngine.run``: decisions, pool lookups, ledger, scores, rewards, rows) over the 945 test
prompts, ``--repeats`` passes (the median pass is reported, and the best); (b) the same episodes through the
routing environment
(``EnvEngine.run``); (c) a whole resumable run directory (``run_one``: episodes.jsonl appends,
episodes.parquet, summary.json).  Then (d) the tiny router (untrained, as ``xrouter.train`` builds it)
evaluated greedily with ``evaluate_router`` (generation dominates).  The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="passes over the 945 test prompts per policy")
    parser.add_argument("--policies", default="single,random,oracle,best_fixed_per_task,knn,mlp,cascade")
    parser.add_argument("--embedding", default="minilm", choices=["minilm", "hashing"])
    parser.add_argument("--router-examples", type=int, default=64, help="0 skips the tiny router")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (router generation)")
    args = parser.parse_args()

    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import xrouter.config  # noqa: F401  (resolvers)
    from xrouter import CONF_DIR
    from xrouter.build import build_pool, load_examples
    from xrouter.config import data_dir_of
    from xrouter.data.benchmarks import verify_example
    from xrouter.evaluation.baseline_policy import policy_context, run_one
    from xrouter.evaluation.engines import EnvEngine, ReplayEngine
    from xrouter.policies import build_policy
    from xrouter.reward import build_reward
    from xrouter.reward.units import with_cost_unit

    torch.set_num_threads(args.threads)

    def config(overrides):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(
                config_name="evaluate",
                overrides=[*overrides, "output_dir=unused", "progress=false", f"embedding={args.embedding}"],
            )

    base = config([])
    data_dir, cache_dir = data_dir_of(base), Path(base.paths.cache_dir)
    pool = build_pool(base.pool, data_dir, cache_dir)
    examples = load_examples(base, base.split, base.get("limit"))
    reward_fn = build_reward(with_cost_unit(OmegaConf.to_container(base.reward, resolve=True), pool.price_pairs()))
    results = {}
    extra = {"single": ["policy.model=gpt-4-1106-preview"], "mlp": ["policy.epochs=100"]}
    for name in args.policies.split(","):
        cfg = config([f"policy={name}", *extra.get(name, [])])
        policy = build_policy(
            OmegaConf.to_container(cfg.policy, resolve=True), policy_context(cfg, pool, data_dir, cache_dir)
        )
        started = time.perf_counter()
        policy.prepare(examples)
        prepare_s = time.perf_counter() - started
        rows = list(range(len(examples)))
        engines = {
            "replay": ReplayEngine(pool, reward_fn, policy, episode_prefix="bench/"),
            "env": EnvEngine(pool, verify_example, reward_fn, policy, episode_prefix="bench/"),
        }
        entry = {"prepare_s": round(prepare_s, 3), "label": policy.label}
        for engine_name, engine in engines.items():
            repeats = args.repeats if engine_name == "replay" else max(1, args.repeats // 4)
            engine.run(examples, rows)  # warm-up
            passes = []
            for _ in range(repeats):
                pool.ledger._records.clear()
                started = time.perf_counter()
                engine.run(examples, rows)
                passes.append(time.perf_counter() - started)
            pool.ledger._records.clear()
            entry[f"{engine_name}_episodes_per_s"] = round(len(rows) / statistics.median(passes))
            entry[f"{engine_name}_best_pass_episodes_per_s"] = round(len(rows) / min(passes))
            engine.close()
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            run_one(
                cfg,
                policy,
                ReplayEngine(pool, reward_fn, policy, episode_prefix="eval/"),
                examples,
                Path(tmp),
                OmegaConf.to_yaml(cfg),
                "replay",
            )
            entry["run_dir_episodes_per_s"] = round(len(examples) / (time.perf_counter() - started))
        pool.ledger._records.clear()
        results[name] = entry
        print(
            f"{policy.label:42s} replay {entry['replay_episodes_per_s']:>9,}/s  "
            f"env {entry['env_episodes_per_s']:>7,}/s  "
            f"run dir {entry['run_dir_episodes_per_s']:>7,}/s  (prepare {prepare_s:.1f} s)",
            flush=True,
        )

    if args.router_examples:
        from xrouter.build import build_run
        from xrouter.evaluation.router_run import evaluate_router

        cfg = config(["policy=router_prompted"])
        built = build_run(cfg, pool=pool)  # the untrained tiny router, as xrouter.train builds it
        loop, max_new_tokens = built.loop, built.settings.max_new_tokens
        batch = examples[: args.router_examples]
        with tempfile.TemporaryDirectory() as tmp:
            evaluate_router(loop, batch[:4], Path(tmp) / "warm", max_new_tokens)
            started = time.perf_counter()
            summary = evaluate_router(loop, batch, Path(tmp) / "run", max_new_tokens)
            elapsed = time.perf_counter() - started
        loop.close()
        results["tiny_router"] = {
            "episodes_per_s": round(len(batch) / elapsed, 2),
            "episodes": len(batch),
            "turns_per_episode": summary["turns_per_query"],
            "max_new_tokens": int(max_new_tokens),
            "path": built.settings.initial_router,
        }
        print(
            f"{'tiny router (untrained, greedy)':42s} {results['tiny_router']['episodes_per_s']:.2f} episodes/s "
            f"({len(batch)} episodes, {summary['turns_per_query']:.2f} turns each, {args.threads} thread(s))"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(
        json.dumps(
            {
                "episodes": len(examples),
                "repeats": args.repeats,
                "embedding": args.embedding,
                "python": platform.python_version(),
                "torch_threads": args.threads,
                "load_1min": load,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
