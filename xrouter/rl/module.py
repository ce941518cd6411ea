"""The LightningModule: rollouts with the agent loop, GRPO/DAPO updates with manual optimization.

One training step = one rollout batch: ``prompts_per_step`` prompts x ``group_size`` episodes,
refilled under dynamic sampling until enough groups carry signal, then ``ppo_epochs`` passes of
``minibatches`` optimizer steps each (so Lightning's ``global_step`` counts optimizer steps).
Old log-probs are recomputed with a forward pass before the update (as verl does), at sampling
temperature 1, so ratios compare like with like.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

import lightning as L
import torch

from xrouter.env.summary import summarize_episodes
from xrouter.reward.lam_sampling import LamSampling, with_lams
from xrouter.rl.advantages import informative_groups
from xrouter.rl.algo_config import AlgoConfig
from xrouter.rl.distributed import adamw, any_rank, disable_ddp_reducer
from xrouter.rl.fsdp import full_weights, shard_router
from xrouter.rl.updates import decision_update, enable_activation_checkpointing, sequence_update
from xrouter.rollout.agent_loop import AgentLoop, RolloutBatch
from xrouter.rollout.hf import SamplingConfig
from xrouter.router.prefix_lm import parameter_groups


class RouterRLModule(L.LightningModule):
    def __init__(
        self,
        model,
        loop: AgentLoop,
        algo: Mapping[str, Any],
        rollout: Mapping[str, Any],
        refill: Iterator[dict[str, Any]] | None = None,
        lam_sampling: LamSampling | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.lam_sampling, self._lam_rng = lam_sampling, random.Random(seed + 7)  # one lambda per prompt group
        self.loop = loop
        self.algo, self.rollout_cfg = AlgoConfig.from_config(algo), dict(rollout)
        self.refill = refill
        self.automatic_optimization = False
        self.ref_model = None
        has_head = getattr(model, "decision_head", None) is not None
        if self.algo.update == "decision" and not has_head:
            raise ValueError(
                "algo.update=decision trains the routing head alone: it needs a router with one "
                "(router=tiny_encoder with router.decision_head); use algo.update=sequence or auto"
            )
        one_call = getattr(loop.env, "mode", "simple") == "simple"  # a full-mode episode decides more than one call
        self.update_kind = (
            "decision"
            if self.algo.update == "decision" or (self.algo.update == "auto" and has_head and one_call)
            else "sequence"
        )
        if self.algo.kl_beta > 0:
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        self._val_episodes: list = []
        self._val_weights = contextlib.ExitStack()  # the gathered weights held through a validation
        self.sampling = SamplingConfig(
            max_new_tokens=self.rollout_cfg["max_new_tokens"],
            temperature=self.rollout_cfg.get("temperature", 1.0),
            top_p=self.rollout_cfg.get("top_p", 1.0),
            do_sample=True,
        )
        self.greedy = SamplingConfig(max_new_tokens=self.rollout_cfg["max_new_tokens"], do_sample=False)

    # ---- optimisation setup ---------------------------------------------------------------
    def configure_model(self) -> None:
        """``trainer=fsdp``: shard the router over the data-parallel ranks (xrouter/rl/fsdp.py).
        Lightning calls this before ``configure_optimizers``, so AdamW holds only this rank's shards."""
        from lightning.pytorch.strategies import ModelParallelStrategy

        if isinstance(self.trainer.strategy, ModelParallelStrategy):
            if self.algo.shard_optimizer_state:
                raise ValueError(
                    "algo.shard_optimizer_state (ZeRO-1) is for trainer=ddp; trainer=fsdp already "
                    "shards the optimizer state: drop the override"
                )
            shard_router(self.model, self.device_mesh["data_parallel"])

    def configure_optimizers(self):
        optimizer = adamw(
            parameter_groups(self.model, self.algo.lr),
            lr=self.algo.lr,
            weight_decay=self.algo.weight_decay,
            shard_state=self.algo.shard_optimizer_state,
        )  # ZeRO-1 under DDP
        total_steps = self.trainer.max_steps
        if self.algo.lr_schedule != "constant" and total_steps <= 0:
            raise ValueError(
                f"algo.lr_schedule={self.algo.lr_schedule} decays to 0 at trainer.max_steps, which is "
                f"{total_steps}: set trainer.max_steps, or algo.lr_schedule=constant"
            )
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: self.algo.lr_factor(step, total_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_train_start(self) -> None:
        self.model.train()  # from_pretrained returns eval mode
        disable_ddp_reducer(self.trainer.strategy.model)  # multi-process: the update all-reduces gradients itself
        if self.rollout_cfg.get("gradient_checkpointing"):  # long sequences: recompute activations in backward
            enable_activation_checkpointing(self.model)

    # ---- rollouts ------------------------------------------------------------------------
    def collect(self, examples: list[dict[str, Any]]) -> tuple[RolloutBatch, dict[str, float]]:
        """Rollouts for ``examples``; with dynamic sampling, zero-variance groups are dropped and
        refilled with fresh prompts (at most ``max_refill`` extra rounds)."""
        group = self.rollout_cfg["group_size"]
        self.loop.generator.device = self.device
        examples = with_lams(examples, self.lam_sampling, self._lam_rng)
        batch = self.loop.run(examples, group, self.sampling, episode_prefix=f"s{self.global_step}")
        keep = informative_groups(torch.tensor(batch.rewards), group)
        first_zero_frac = 1.0 - float(keep.float().mean())
        all_episodes = list(batch.episodes)
        if not self.algo.dynamic_sampling:
            return batch, {"zero_std_frac": first_zero_frac, "refills": 0.0, "all_episodes": all_episodes}
        kept = self._informative(batch, keep)
        refills = 0
        while (
            (kept is None or len(kept.episodes) // group < len(examples))
            and refills < self.algo.max_refill
            and self.refill is not None
        ):
            refills += 1
            # the groups still missing, over the share of groups that had signal (a quarter more, at least one)
            missing = len(examples) - (0 if kept is None else len(kept.episodes) // group)
            wanted = min(len(examples), math.ceil(missing / max(1.0 - first_zero_frac, 0.25) * 1.25))
            extra = with_lams([next(self.refill) for _ in range(wanted)], self.lam_sampling, self._lam_rng)
            more = self.loop.run(extra, group, self.sampling, episode_prefix=f"s{self.global_step}r{refills}")
            all_episodes.extend(more.episodes)
            more_kept = self._informative(more)
            if more_kept is not None:
                kept = more_kept if kept is None else RolloutBatch.concat([kept, more_kept])
        if kept is not None and len(kept.episodes) // group > len(examples):
            kept = kept.select(range(len(examples) * group))
        return kept, {"zero_std_frac": first_zero_frac, "refills": float(refills), "all_episodes": all_episodes}

    @staticmethod
    def _informative(batch: RolloutBatch, keep: torch.Tensor | None = None) -> RolloutBatch | None:
        """The groups of ``batch`` whose rewards differ (``keep``: that mask, when already computed)."""
        group = batch.group_size
        if keep is None:
            keep = informative_groups(torch.tensor(batch.rewards), group)
        rows = [g * group + j for g, ok in enumerate(keep.tolist()) if ok for j in range(group)]
        return batch.select(rows) if rows else None

    # ---- training --------------------------------------------------------------------------
    def training_step(self, examples: list[dict[str, Any]], batch_idx: int) -> None:
        started = time.perf_counter()
        with full_weights(self.model):  # sharded (trainer=fsdp): whole while this rank generates
            batch, info = self.collect(examples)
        rollout_s = time.perf_counter() - started
        release = getattr(self.loop.generator, "release_memory", None)
        if release is not None:  # vLLM: free the engine's memory for the update (it wakes on the next generate)
            release()
        all_episodes = info.pop("all_episodes")
        metrics = self._rollout_metrics(all_episodes)
        metrics.update({f"train/{k}": v for k, v in info.items()})
        metrics["perf/rollout_s"] = rollout_s
        if any_rank(batch is not None) and batch is None:  # multi-process: join the others' update, empty
            batch = RolloutBatch([], [], [], [], self.rollout_cfg["group_size"])
        if batch is None:  # no group had signal: a no-op step (no parameter has a gradient, so the
            # optimizer skips them all) that still counts, so max_steps bounds the number of rollouts
            optimizer = self.optimizers()
            optimizer.zero_grad(set_to_none=True)
            optimizer.step()
            self.lr_schedulers().step()
            metrics["train/skipped"] = 1.0
            self.log_dict(metrics, on_step=True, prog_bar=False, batch_size=len(examples))
            return
        update_started = time.perf_counter()
        metrics.update(decision_update(self, batch) if self.update_kind == "decision" else sequence_update(self, batch))
        update_s = time.perf_counter() - update_started
        total_s = time.perf_counter() - started
        metrics.update(
            {
                "perf/update_s": update_s,
                "perf/step_s": total_s,
                "perf/episodes_per_s": len(all_episodes) / total_s,
                "perf/tokens_per_s": sum(len(s) for s in batch.input_ids) / total_s,
                "train/skipped": 0.0,
            }
        )
        self.log_dict(metrics, on_step=True, prog_bar=False, batch_size=len(examples))
        self.log("reward", metrics["train/reward_mean"], prog_bar=True, on_step=True, batch_size=len(examples))

    @staticmethod
    def _rollout_metrics(episodes) -> dict[str, float]:
        summary = summarize_episodes(episodes)
        rewards = torch.tensor([e.reward.get("total", 0.0) for e in episodes])
        out = {
            "train/reward_mean": float(rewards.mean()),
            "train/reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
            "train/accuracy": summary["accuracy"],
            "train/cost_per_episode": summary["cost_per_query"],
            "train/calls_per_episode": summary["calls_per_query"],
            "train/turns": summary["turns_per_query"],
            "train/malformed_rate": summary["malformed_per_query"],
            "train/direct_rate": summary["direct_answer_rate"],
            "train/valid_final_rate": summary["valid_final_rate"],
        }
        out.update({f"train/share/{m}": s for m, s in summary["model_share"].items()})
        return out

    # ---- validation ---------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_weights = contextlib.ExitStack()  # trainer=fsdp: whole for greedy generation
        self._val_weights.enter_context(full_weights(self.model))

    def validation_step(self, examples: list[dict[str, Any]], batch_idx: int) -> None:
        self.loop.generator.device = self.device
        batch = self.loop.run(examples, 1, self.greedy, episode_prefix=f"val{self.global_step}-{batch_idx}")
        self._val_episodes.extend(batch.episodes)

    def on_validation_epoch_end(self) -> None:
        self._val_weights.close()
        episodes, self._val_episodes = self._val_episodes, []
        summary = summarize_episodes(episodes)
        if not summary.get("n"):
            return
        metrics = {
            f"val/{k}": float(summary[k])
            for k in (
                "accuracy",
                "cost_per_query",
                "reward",
                "calls_per_query",
                "direct_answer_rate",
                "valid_final_rate",
            )
        }
        metrics.update({f"val/share/{m}": s for m, s in summary["model_share"].items()})
        by_benchmark = per_benchmark_choices(episodes)
        for bench, info in by_benchmark.items():
            metrics[f"val/{bench}/accuracy"] = info["accuracy"]
            metrics[f"val/{bench}/top_share"] = info["top_share"]
        self.log_dict(metrics, prog_bar=False)
        self.log("val_reward", metrics["val/reward"], prog_bar=True)
        if math.isfinite(metrics["val/reward"]):
            self.print(
                f"[val @ step {self.global_step}] accuracy {metrics['val/accuracy']:.3f}  "
                f"cost/query ${metrics['val/cost_per_query']:.2e}  reward {metrics['val/reward']:.3f}  "
                f"valid {metrics['val/valid_final_rate']:.2f}  "
                + "  ".join(f"{b}: {i['top']} {i['top_share']:.0%}" for b, i in by_benchmark.items())
            )


def per_benchmark_choices(episodes) -> dict[str, dict[str, Any]]:
    """Per benchmark: accuracy, the most chosen final source (a model or "direct") and its share --
    the quickest way to see whether a router conditions its choice on the task."""
    from collections import Counter, defaultdict

    groups: dict[str, list] = defaultdict(list)
    for episode in episodes:
        groups[str(episode.example.get("benchmark"))].append(episode)
    out = {}
    for bench, group in sorted(groups.items()):
        sources = Counter((e.calls[-1].model if e.calls else "direct") for e in group)
        top, count = sources.most_common(1)[0]
        out[bench] = {
            "accuracy": sum(e.score for e in group) / len(group),
            "top": top.split("/")[-1],
            "top_share": count / len(group),
        }
    return out
