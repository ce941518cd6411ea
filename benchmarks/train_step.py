"""GRPO step throughput: our RouterRLModule vs TRL's GRPOTrainer on the same tiny router, same batch.

    XROUTER_DATA_DIR=../shared/data python benchmarks/train_step.py [--prompts 4] [--group 8]
        [--max-new-tokens 32] [--warmup 3] [--steps 5] [--threads 2] [--cold-start-steps 0]
        [--order ours,trl] [hydra overrides of conf/train.yaml ...]

Both trainers start from the same weights: the tiny router (``Qwen2ForCausalLM`` +
``PreTrainedTokenizerFast`` from ``xrouter.build.build_run``, optionally after a short cold start)
is saved with ``save_pretrained`` to a temp dir and loaded once for each side.  Single turn: the env
runs with ``env.mode=simple`` (one action; the router's call is final), so each episode is one
generation.  Each step is ``--prompts`` prompts x ``--group`` samples, up to ``--max-new-tokens`` new
tokens at temperature 1, top_p 1, top_k 0; the same prompts in the same order on both sides.

* ours: ``RouterRLModule`` driven by a ``lightning.Trainer`` exactly as ``xrouter.train`` does
  (``training_step``: ``AgentLoop`` rollout with ``HFGenerator``, old-log-prob recompute, one DAPO
  token-mean update), ``algo.dynamic_sampling=false`` (TRL has no dynamic sampling), one micro-batch.
* TRL: ``GRPOTrainer`` with plain-text prompts (our rendered chat prompt; the token ids are checked
  to equal ours), transformers ``generate`` (no vLLM), ``beta=0`` (no reference model),
  ``loss_type="dapo"`` (token-mean), ``epsilon=0.2``/``epsilon_high=0.28``, ``num_iterations=1``,
  ``scale_rewards`` as our ``algo.scale_by_std`` (dapo_tiny: no std scaling), no warm-up on either side,
  one optimizer step per generation batch, no gradient checkpointing, fp32.  With the same update, the
  same weights, prompts, seed and stop token (``<|im_end|>``), both sides draw the same first batch and stay
  alike: the last line says whether their completion lengths and rewards match (``equal_work``).  Its reward function
  re-creates the episodes with ``env.reset`` and scores the decoded completions with the same
  ``env.step`` (router cost included), returning ``reward["total"]``.

A step is timed from batch start to batch end by a callback (Lightning ``on_train_batch_start/end``,
transformers ``on_step_begin/end``), so trainer overhead is included on both sides.  ``rollout_s`` is
generation + reward (ours: ``collect``; TRL: ``_generate_and_score_completions``), ``update_s`` the
rest.  tokens/s counts prompt + generated tokens of the step's episodes (TRL's ``num_input_tokens_seen``
definition).  The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--group", type=int, default=8, help="samples per prompt (GRPO group size)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--cold-start-steps",
        type=int,
        default=0,
        help="supervised cold start before saving the shared weights (0: the random tiny router, "
        "whose samples almost always run to --max-new-tokens)",
    )
    parser.add_argument("--order", default="ours,trl", help="which trainers, in which order (ours, trl)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lr",
        type=float,
        default=0.0,
        help="learning rate of both sides (default 0, run as 1e-30 since algo.lr must be positive: "
        "no float32 weight moves, so both keep the starting weights and every step samples alike "
        "from the same policy; the update's compute is the same at any rate)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml")
    return parser.parse_args()


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import xrouter.config  # noqa: F401  (registers resolvers)
    from xrouter import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


class StepClock:
    """Per-step wall time, rollout time, episodes and tokens; the first ``warmup`` steps are dropped."""

    def __init__(self) -> None:
        self.step_s: list[float] = []
        self.rollout_s: list[float] = []
        self.reward_s: list[float] = []
        self.episodes: list[int] = []
        self.tokens: list[int] = []
        self.generated: list[int] = []
        self.rewards: list[float] = []
        self.threads: set[int] = set()
        self._reward_acc = 0.0
        self._started = 0.0

    def begin(self) -> None:
        import torch

        self.threads.add(torch.get_num_threads())
        self._reward_acc = 0.0
        self._started = time.perf_counter()

    def end(self) -> None:
        self.step_s.append(time.perf_counter() - self._started)
        self.reward_s.append(self._reward_acc)

    def add_reward_time(self, seconds: float) -> None:
        self._reward_acc += seconds

    def timed(self, warmup: int) -> StepClock:
        """A copy without the first ``warmup`` steps."""
        out = StepClock()
        for name in ("step_s", "rollout_s", "reward_s", "episodes", "tokens", "generated", "rewards"):
            setattr(out, name, getattr(self, name)[warmup:])
        out.threads = set(self.threads)
        return out

    @staticmethod
    def summary(runs: list[StepClock]) -> dict[str, float]:
        """Totals over the timed steps of every run of one side."""
        cat = lambda name: [x for run in runs for x in getattr(run, name)]  # noqa: E731
        step, rollout = cat("step_s"), cat("rollout_s")
        n, total = len(step), sum(step)
        if n == 0:
            raise RuntimeError("no timed steps ran; raise --steps")
        return {
            "steps": n,
            "step_s": total / n,
            "step_s_median": statistics.median(step),
            "step_s_min": min(step),
            "rollout_s": sum(rollout) / n,
            "update_s": (total - sum(rollout)) / n,
            "reward_s": sum(cat("reward_s")) / n,
            "episodes_per_s": sum(cat("episodes")) / total,
            "tokens_per_s": sum(cat("tokens")) / total,
            "generated_tokens_per_s": sum(cat("generated")) / total,
            "mean_completion_tokens": sum(cat("generated")) / max(1, sum(cat("episodes"))),
            "reward_mean": statistics.fmean(cat("rewards")) if cat("rewards") else float("nan"),
            "torch_threads": sorted(set().union(*(run.threads for run in runs))),
        }


def time_env_steps(env, current: list[StepClock]) -> None:
    """Wrap ``env.step`` so the running side's clock gets the time spent scoring (the reward)."""
    step = env.step

    async def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return await step(*args, **kwargs)
        finally:
            current[0].add_reward_time(time.perf_counter() - started)

    env.step = timed


def run_ours(cfg, router_dir: Path, env, examples: list[dict], args, clock: StepClock) -> None:
    import lightning as L
    from torch.utils.data import DataLoader

    from xrouter.build import build_agent_loop
    from xrouter.config import to_plain
    from xrouter.rl.datamodule import _as_list, _Examples
    from xrouter.rl.module import RouterRLModule
    from xrouter.router.model_loader import load_router
    from xrouter.router.settings import RouterSettings

    L.seed_everything(args.seed, workers=True, verbose=False)
    model, tokenizer = load_router(router_dir)
    loop = build_agent_loop(cfg.rollout, RouterSettings.from_config(cfg, env.pool.names), model, tokenizer, env, "cpu")
    run = loop.run

    def counted_run(*a, **k):
        started = time.perf_counter()
        batch = run(*a, **k)
        clock.rollout_s.append(time.perf_counter() - started)
        clock.episodes.append(len(batch.episodes))
        clock.tokens.append(sum(batch.prompt_lengths) + batch.n_generated_tokens)
        clock.generated.append(batch.n_generated_tokens)
        clock.rewards.append(statistics.fmean(batch.rewards))
        return batch

    loop.run = counted_run  # dynamic sampling is off: one loop.run per step
    module = RouterRLModule(model, loop, to_plain(cfg.algo), to_plain(cfg.rollout), refill=None)

    class Timer(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            clock.begin()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            clock.end()

    # The same prompts in the same order as TRL: a plain unshuffled loader (PromptDataModule shuffles).
    loader = DataLoader(
        _Examples(examples), batch_size=args.prompts, shuffle=False, drop_last=True, collate_fn=_as_list, num_workers=0
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=args.warmup + args.steps,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision="32-true",
        callbacks=[Timer()],
        default_root_dir=tempfile.mkdtemp(prefix="bench_ours_"),
    )
    trainer.fit(module, train_dataloaders=loader)
    loop.close()


def grpo_config(args, cfg, output_dir: str):
    """GRPOConfig for the installed TRL, keeping only the fields that version has."""
    from trl import GRPOConfig

    algo = cfg.algo
    batch = args.prompts * args.group
    wanted = dict(
        output_dir=output_dir,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        num_generations=args.group,
        max_completion_length=args.max_new_tokens,
        max_prompt_length=None,  # older TRL: no left truncation (removed in newer versions)
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        beta=0.0,
        num_iterations=1,
        epsilon=float(algo.eps_low),
        epsilon_high=float(algo.eps_high),
        # the same advantages as ours: scaled by the group's std only when algo.scale_by_std (dapo_tiny: not)
        loss_type="dapo",
        scale_rewards="group" if algo.scale_by_std else "none",
        mask_truncated_completions=False,
        learning_rate=float(algo.lr),
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=float(algo.grad_clip),
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        max_steps=args.warmup + args.steps,
        num_train_epochs=1,
        shuffle_dataset=False,
        use_vllm=False,
        gradient_checkpointing=False,
        use_cpu=True,
        bf16=False,
        fp16=False,
        report_to=[],
        logging_strategy="no",
        save_strategy="no",
        log_completions=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        seed=args.seed,
        use_liger_kernel=False,
    )
    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    dropped = sorted(k for k in wanted if k not in known)
    if dropped:
        print(f"[trl] GRPOConfig has no {dropped}: left at defaults", file=sys.stderr)
    return GRPOConfig(**{k: v for k, v in wanted.items() if k in known})


def run_trl(cfg, router_dir: Path, env, examples: list[dict], args, clock: StepClock) -> None:
    import datasets
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from xrouter.router.chat_format import render_prompt
    from xrouter.router.model_loader import load_router

    model, tokenizer = load_router(router_dir)
    eos_text = cfg.rollout.get("eos_token", "<|im_end|>")  # as build_agent_loop: the loop strips it the same way
    rows = []
    for i, example in enumerate(examples):
        text = render_prompt(tokenizer, env.reset(example, "trl-prompt").messages, env.tools())
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if tokenizer(text)["input_ids"] != ids:  # what TRL feeds generate must be what our loop feeds it
            raise RuntimeError("TRL's prompt tokenization differs from the agent loop's")
        rows.append({"prompt": text, "idx": i, "prompt_len": len(ids)})
    dataset = datasets.Dataset.from_list(rows)
    event_loop = asyncio.new_event_loop()
    calls = [0]

    def env_reward(prompts, completions, completion_ids, idx, prompt_len, **kwargs):
        calls[0] += 1
        episodes = [env.reset(examples[i], f"trl{calls[0]}-{j}") for j, i in enumerate(idx)]
        texts = [tokenizer.decode(ids, skip_special_tokens=False).removesuffix(eos_text) for ids in completion_ids]
        router_tokens = [(n, len(ids)) for n, ids in zip(prompt_len, completion_ids)]
        event_loop.run_until_complete(env.step(episodes, texts, router_tokens))
        rewards = [e.reward.get("total", 0.0) for e in episodes]
        clock.rewards.append(statistics.fmean(rewards))
        return rewards

    class Timer(TrainerCallback):
        def on_step_begin(self, args_, state, control, **kwargs):
            clock.begin()

        def on_step_end(self, args_, state, control, **kwargs):
            clock.end()

    with tempfile.TemporaryDirectory(prefix="bench_trl_") as output_dir:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[env_reward],
            args=grpo_config(args, cfg, output_dir),
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[Timer()],
        )
        generate_and_score = trainer._generate_and_score_completions

        def counted(inputs):
            started = time.perf_counter()
            out = generate_and_score(inputs)
            clock.rollout_s.append(time.perf_counter() - started)
            generated = int(out["completion_mask"].sum())
            clock.episodes.append(int(out["completion_ids"].shape[0]))
            clock.tokens.append(int(out["prompt_mask"].sum()) + generated)
            clock.generated.append(generated)
            return out

        trainer._generate_and_score_completions = counted
        trainer.train()
    event_loop.close()


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from xrouter.build import build_run
    from xrouter.config import quiet_http_loggers

    quiet_http_loggers()
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    batch = args.prompts * args.group
    cfg = compose(
        [
            "router=tiny",
            "recipe=text_only",
            "env.mode=simple",
            f"data.prompts_per_step={args.prompts}",
            f"rollout.group_size={args.group}",
            f"rollout.max_new_tokens={args.max_new_tokens}",
            f"rollout.micro_batch_size={batch}",
            f"rollout.generate_batch_size={batch}",
            "algo.dynamic_sampling=false",
            "algo.max_refill=0",
            "algo.kl_beta=0.0",
            "algo.ppo_epochs=1",
            "algo.minibatches=1",
            "algo.warmup_steps=0",
            f"++algo.lr={args.lr if args.lr > 0 else 1e-30}",
            f"seed={args.seed}",
            *args.overrides,
        ]
    )
    started = time.perf_counter()
    built = build_run(cfg)
    pool, env, model, tokenizer, train = built.pool, built.env, built.model, built.tokenizer, built.train
    if args.cold_start_steps > 0:
        from xrouter.rl.cold_start import cold_start

        cold_start(
            model,
            built.loop,
            train,
            pool.names,
            steps=args.cold_start_steps,
            batch_size=cfg.cold_start.batch_size,
            lr=cfg.cold_start.lr,
            micro_batch_size=cfg.rollout.micro_batch_size,
            seed=args.seed,
            system_prompt=None if cfg.cold_start.arguments == "none" else "",
            warmup_steps=cfg.cold_start.warmup_steps,
        )
    built.close()
    chosen = random.Random(args.seed).sample(train, args.prompts * (args.warmup + args.steps))
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"setup {time.perf_counter() - started:.1f}s: router {n_params / 1e6:.2f}M params, vocab {len(tokenizer)}, "
        f"{len(train)} train prompts, pool {len(pool.names)} models; {args.prompts} prompts x {args.group} "
        f"samples, {args.max_new_tokens} new tokens, {args.warmup} warmup + {args.steps} timed steps, "
        f"{args.threads} threads",
        flush=True,
    )

    order = [s.strip() for s in args.order.split(",") if s.strip()]
    if any(side not in ("ours", "trl") for side in order):
        raise SystemExit(f"--order: sides are 'ours' and 'trl', not {order}")
    sides = list(dict.fromkeys(order))
    runs: dict[str, list[StepClock]] = {side: [] for side in sides}
    current = [StepClock()]
    time_env_steps(env, current)
    with tempfile.TemporaryDirectory(prefix="bench_router_") as router_dir:
        model.save_pretrained(router_dir)
        tokenizer.save_pretrained(router_dir)
        del model
        for side in order:  # a side named twice runs twice (e.g. ours,trl,trl,ours under a varying load)
            clock = current[0] = StepClock()
            started = time.perf_counter()
            (run_ours if side == "ours" else run_trl)(cfg, Path(router_dir), env, chosen, args, clock)
            if len(clock.step_s) != args.warmup + args.steps or len(clock.rollout_s) != len(clock.step_s):
                raise RuntimeError(
                    f"[{side}] timed {len(clock.step_s)} steps / {len(clock.rollout_s)} rollouts, "
                    f"expected {args.warmup + args.steps}"
                )
            runs[side].append(clock.timed(args.warmup))
            timed = runs[side][-1].step_s
            print(
                f"[{side}] {len(clock.step_s)} steps in {time.perf_counter() - started:.1f}s; timed steps (s): "
                + " ".join(f"{x:.2f}" for x in timed),
                flush=True,
            )
    results = {side: StepClock.summary(runs[side]) for side in sides}

    from tabulate import tabulate

    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import trl

        versions["trl"] = trl.__version__
    except ImportError:
        pass
    keys = [
        "step_s",
        "step_s_median",
        "step_s_min",
        "rollout_s",
        "update_s",
        "reward_s",
        "episodes_per_s",
        "tokens_per_s",
        "generated_tokens_per_s",
        "mean_completion_tokens",
        "reward_mean",
    ]
    print(tabulate([[k] + [results[s][k] for s in sides] for k in keys], headers=["metric", *sides], floatfmt=".3f"))
    out = {side: results[side] for side in sides}
    if "ours" in results and "trl" in results:
        out["speedup"] = results["trl"]["step_s"] / results["ours"]["step_s"]
        lengths = [results[s]["mean_completion_tokens"] for s in ("ours", "trl")]
        rewards = [results[s]["reward_mean"] for s in ("ours", "trl")]
        out["equal_work"] = abs(lengths[0] - lengths[1]) <= 0.1 * max(lengths) and abs(rewards[0] - rewards[1]) <= 0.05
        print(
            f"speedup (TRL step time / ours): {out['speedup']:.2f}x; completion tokens {lengths[0]:.2f} vs "
            f"{lengths[1]:.2f}, reward {rewards[0]:.3f} vs {rewards[1]:.3f}: "
            + ("equal work" if out["equal_work"] else "NOT equal work (the ratio compares different episodes)")
        )
    out["config"] = {
        "prompts": args.prompts,
        "group": args.group,
        "max_new_tokens": args.max_new_tokens,
        "warmup": args.warmup,
        "steps": args.steps,
        "threads": args.threads,
        "cold_start_steps": args.cold_start_steps,
        "order": order,
        **versions,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
