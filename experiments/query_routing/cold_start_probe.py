"""What the cold start alone teaches a tiny_encoder router: its greedy dev choices per benchmark and lambda.

    python experiments/query_routing/cold_start_probe.py [--weighting expected_reward] [--temperature 0.1]
        [--steps 200] [--every 50] [--fixed-lam] [--threads 2] [train overrides ...]

Builds the router of ``python -m xrouter.train router=tiny_encoder`` (RouterBench replay by default),
runs the cold start (``xrouter/rl/cold_start.py``) ``--every`` steps at a time, and after each chunk
runs the router greedily on the dev slice at lambda 0, 1 and 10 (``--fixed-lam``: the config's
reward.lam only, trained without lambda draws), printing accuracy, USD per query and the two most
chosen sources per benchmark.  No RL, no test split.
"""

from __future__ import annotations

import argparse
import collections
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weighting", default="expected_reward", choices=["uniform", "reward", "expected_reward"])
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--fixed-lam", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    from hydra import compose, initialize_config_dir

    from xrouter import CONF_DIR
    from xrouter.build import build_run
    from xrouter.config import to_plain
    from xrouter.reward.lam_sampling import LamSampling
    from xrouter.rl.cold_start import cold_start
    from xrouter.rollout.hf import SamplingConfig

    torch.set_num_threads(args.threads)
    overrides = ["router=tiny_encoder", "output_dir=outputs/query_routing/probe"] + list(args.overrides)
    if args.fixed_lam:
        overrides.append("reward.lam_sampling=null")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    run = build_run(cfg)
    sampling = LamSampling.from_config(to_plain(cfg.reward.get("lam_sampling")))
    lams = (float(cfg.reward.lam),) if sampling is None else (0.0, 1.0, 10.0)
    started = time.perf_counter()
    for chunk in range(args.steps // args.every):
        cold_start(
            run.model,
            run.loop,
            run.train,
            run.pool.names,
            steps=args.every,
            batch_size=cfg.cold_start.batch_size,
            lr=cfg.cold_start.lr,
            micro_batch_size=cfg.rollout.micro_batch_size,
            seed=cfg.seed + chunk,
            system_prompt=None,
            weighting=args.weighting,
            temperature=args.temperature,
            lam_sampling=sampling,
            warmup_steps=cfg.cold_start.warmup_steps if chunk == 0 else 1,
        )
        for lam in lams:
            batch = run.loop.run(
                [{**e, "lam": lam} for e in run.dev],
                1,
                SamplingConfig(max_new_tokens=cfg.rollout.max_new_tokens, do_sample=False),
            )
            by = collections.defaultdict(collections.Counter)
            for e in batch.episodes:
                by[e.example["benchmark"]][e.calls[-1].model if e.calls else "direct"] += 1
            accuracy = sum(e.score for e in batch.episodes) / len(batch.episodes)
            cost = sum(e.tool_cost_usd for e in batch.episodes) / len(batch.episodes)
            choices = "  ".join(
                f"{b}: " + ", ".join(f"{m} {n}" for m, n in c.most_common(2)) for b, c in sorted(by.items())
            )
            print(
                f"step {(chunk + 1) * args.every:4d} ({time.perf_counter() - started:4.0f} s) lam {lam:g}: "
                f"dev accuracy {accuracy:.3f} at ${cost:.2e}  {choices}",
                flush=True,
            )
    run.close()


if __name__ == "__main__":
    main()
