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
from typing import Any, Iterator, Mapping

import lightning as L
import torch

from xrouter.env.summary import summarize_episodes
from xrouter.reward.lam_sampling import LamSampling, with_lams
from xrouter.rl.algo_config import AlgoConfig
from xrouter.rl.advantages import grpo_advantages, informative_groups
from xrouter.rl.distributed import adamw, all_reduce_sum, any_rank, disable_ddp_reducer, sync_gradients
from xrouter.rl.fsdp import full_value, full_weights, is_sharded, pad_micro_batches, shard_router, zero_weight_backward
from xrouter.rl.losses import kl_k3, masked_mean, policy_loss
from xrouter.rollout.agent_loop import AgentLoop, RolloutBatch
from xrouter.rollout.hf import SamplingConfig
from xrouter.rollout.logprobs import sequence_logprobs
from xrouter.router.prefix_lm import parameter_groups


class RouterRLModule(L.LightningModule):
    def __init__(self, model, loop: AgentLoop, algo: Mapping[str, Any], rollout: Mapping[str, Any],
                 refill: Iterator[dict[str, Any]] | None = None, lam_sampling: LamSampling | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        self.model = model
        self.lam_sampling, self._lam_rng = lam_sampling, random.Random(seed + 7)  # one lambda per prompt group
        self.loop = loop
        self.algo, self.rollout_cfg = AlgoConfig.from_config(algo), dict(rollout)
        self.refill = refill
        self.automatic_optimization = False
        self.ref_model = None
        if self.algo.kl_beta > 0:
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        self._val_episodes: list = []
        self._val_weights = contextlib.ExitStack()  # the gathered weights held through a validation
        self.sampling = SamplingConfig(max_new_tokens=self.rollout_cfg["max_new_tokens"],
                                       temperature=self.rollout_cfg.get("temperature", 1.0),
                                       top_p=self.rollout_cfg.get("top_p", 1.0), do_sample=True)
        self.greedy = SamplingConfig(max_new_tokens=self.rollout_cfg["max_new_tokens"], do_sample=False)

    # ---- optimisation setup ---------------------------------------------------------------
    def configure_model(self) -> None:
        """``trainer=fsdp``: shard the router over the data-parallel ranks (xrouter/rl/fsdp.py).
        Lightning calls this before ``configure_optimizers``, so AdamW holds only this rank's shards."""
        from lightning.pytorch.strategies import ModelParallelStrategy

        if isinstance(self.trainer.strategy, ModelParallelStrategy):
            if self.algo.shard_optimizer_state:
                raise ValueError("algo.shard_optimizer_state (ZeRO-1) is for trainer=ddp; trainer=fsdp already "
                                 "shards the optimizer state: drop the override")
            shard_router(self.model, self.device_mesh["data_parallel"])

    def configure_optimizers(self):
        optimizer = adamw(parameter_groups(self.model, self.algo.lr), lr=self.algo.lr, weight_decay=self.algo.weight_decay,
                          shard_state=self.algo.shard_optimizer_state)  # ZeRO-1 under DDP
        warmup = max(1, self.algo.warmup_steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_train_start(self) -> None:
        self.model.train()  # from_pretrained returns eval mode
        disable_ddp_reducer(self.trainer.strategy.model)  # multi-process: _update all-reduces gradients itself
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
        while (kept is None or len(kept.episodes) // group < len(examples)) and refills < self.algo.max_refill \
                and self.refill is not None:
            refills += 1
            extra = with_lams([next(self.refill) for _ in range(len(examples))], self.lam_sampling, self._lam_rng)
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
        metrics.update(self._update(batch))
        update_s = time.perf_counter() - update_started
        total_s = time.perf_counter() - started
        metrics.update({"perf/update_s": update_s, "perf/step_s": total_s,
                        "perf/episodes_per_s": len(all_episodes) / total_s,
                        "perf/tokens_per_s": sum(len(s) for s in batch.input_ids) / total_s,
                        "train/skipped": 0.0})
        self.log_dict(metrics, on_step=True, prog_bar=False, batch_size=len(examples))
        self.log("reward", metrics["train/reward_mean"], prog_bar=True, on_step=True, batch_size=len(examples))

    @staticmethod
    def _rollout_metrics(episodes) -> dict[str, float]:
        summary = summarize_episodes(episodes)
        rewards = torch.tensor([e.reward.get("total", 0.0) for e in episodes])
        out = {"train/reward_mean": float(rewards.mean()), "train/reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
               "train/accuracy": summary["accuracy"], "train/cost_per_episode": summary["cost_per_query"],
               "train/calls_per_episode": summary["calls_per_query"], "train/turns": summary["turns_per_query"],
               "train/malformed_rate": summary["malformed_per_query"], "train/direct_rate": summary["direct_answer_rate"],
               "train/valid_final_rate": summary["valid_final_rate"]}
        out.update({f"train/share/{m}": s for m, s in summary["model_share"].items()})
        return out

    def _update(self, batch: RolloutBatch) -> dict[str, float]:
        algo, device = self.algo, self.device
        pad_id = self.loop.tokenizer.pad_token_id
        micro = self.rollout_cfg["micro_batch_size"]
        rewards = torch.tensor(batch.rewards)
        advantages = grpo_advantages(rewards, batch.group_size, scale_by_std=algo.scale_by_std)
        minibatches = max(1, algo.minibatches)
        # One update per rollout is on-policy: old log-probs equal the current ones (ratio 1), so the
        # extra no-grad forward that several updates need is skipped.
        on_policy = minibatches * algo.ppo_epochs == 1
        sharded = is_sharded(self.model)
        if on_policy:
            old = None
        else:
            with full_weights(self.model):
                old = self._response_logprobs(self.model, batch, micro)
        ref = self._response_logprobs(self.ref_model, batch, micro) if self.ref_model is not None else None
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        n = len(batch.episodes)
        stats = {"clip_frac": 0.0, "kl": 0.0, "entropy": 0.0, "loss": 0.0, "grad_norm": 0.0}
        n_updates = 0
        order = list(range(n))
        for _ in range(algo.ppo_epochs):
            random.Random(self.global_step).shuffle(order)
            for m in range(minibatches):
                rows = order[m * n // minibatches:(m + 1) * n // minibatches]
                # weights use counts over all ranks, so summed gradients equal the combined batch's
                global_rows = all_reduce_sum(len(rows))
                if not global_rows:
                    continue
                sub = batch.select(rows)
                local_tokens = sum(sum(x) for x in sub.response_mask)
                total_tokens = all_reduce_sum(local_tokens)
                optimizer.zero_grad()
                # sharded: agree on the micro-batch count first (the real ones pair with others' padding)
                padding = pad_micro_batches(math.ceil(len(rows) / micro)) if sharded else 0
                # no shared prefix with checkpointing (it drops the KV cache) or sharding (its number of
                # forwards depends on the data, and every rank must run as many as the others)
                for part, logprobs, mask, entropy in sequence_logprobs(
                        self.model, sub.input_ids, sub.response_mask, pad_id, micro, with_entropy=True,
                        device=device, grad=True, conditions=sub.conditions,
                        share_prefix=not (activation_checkpointing(self.model) or sharded)):
                    ids = rows[part]
                    old_full = logprobs.detach() if old is None else self._scatter(mask, [old[i] for i in ids])
                    lengths = mask.sum(dim=1).long().tolist()
                    adv_full = self._scatter(mask, [advantages[i].expand(length) for i, length in zip(ids, lengths)])
                    ref_full = self._scatter(mask, [ref[i] for i in ids]) if ref is not None else None
                    loss, info = policy_loss(logprobs, old_full, adv_full, mask, algo.eps_low, algo.eps_high,
                                             algo.aggregation, ref_full, algo.kl_beta)
                    tokens = float(mask.sum())
                    weight = (tokens / max(total_tokens, 1) if algo.aggregation == "token-mean"
                              else len(ids) / global_rows)
                    self.manual_backward(loss * weight)
                    share = tokens / max(local_tokens, 1)
                    stats["clip_frac"] += info["clip_frac"] * share
                    stats["kl"] += (info["kl"] if ref is not None else
                                    float(masked_mean(kl_k3(logprobs.detach(), old_full), mask))) * share
                    stats["entropy"] += float(masked_mean(entropy, mask)) * share
                    stats["loss"] += float(loss.detach()) * weight
                for _ in range(padding):
                    zero_weight_backward(self.model, pad_id, device, self.manual_backward)
                if not sharded:
                    sync_gradients(self.model.parameters())  # FSDP's reduce-scatter already summed sharded ones
                grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), algo.grad_clip)
                stats["grad_norm"] += float(full_value(grad_norm))
                optimizer.step()
                scheduler.step()
                n_updates += 1
        optimizer.zero_grad(set_to_none=True)  # no gradients held through the next rollout
        out = {f"train/{k}": v / max(n_updates, 1) for k, v in stats.items()}
        out["train/lr"] = float(optimizer.param_groups[0]["lr"])
        out["train/advantage_abs_mean"] = float(advantages.abs().mean())
        return out

    @staticmethod
    def _scatter(mask: torch.Tensor, rows: list[torch.Tensor]) -> torch.Tensor:
        """Place each row's per-response-token values where ``mask`` is 1 (row-major order)."""
        full = torch.zeros_like(mask)
        values = torch.cat(rows).to(mask.device) if rows else mask.new_zeros(0)
        full[mask.bool()] = values.to(full.dtype)
        return full

    def _response_logprobs(self, model, batch: RolloutBatch, micro: int) -> list[torch.Tensor]:
        """Each episode's log-probs of its own response tokens, in order (no grad)."""
        out: list[torch.Tensor] = []
        was_training = model.training
        model.eval()
        for _, logprobs, mask, _ in sequence_logprobs(model, batch.input_ids, batch.response_mask,
                                                      self.loop.tokenizer.pad_token_id, micro, device=self.device,
                                                      conditions=batch.conditions):
            for row in range(logprobs.shape[0]):
                out.append(logprobs[row][mask[row].bool()].detach())
        model.train(was_training)
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
        metrics = {f"val/{k}": float(summary[k]) for k in ("accuracy", "cost_per_query", "reward", "calls_per_query",
                                                            "direct_answer_rate", "valid_final_rate")}
        metrics.update({f"val/share/{m}": s for m, s in summary["model_share"].items()})
        by_benchmark = per_benchmark_choices(episodes)
        for bench, info in by_benchmark.items():
            metrics[f"val/{bench}/accuracy"] = info["accuracy"]
            metrics[f"val/{bench}/top_share"] = info["top_share"]
        self.log_dict(metrics, prog_bar=False)
        self.log("val_reward", metrics["val/reward"], prog_bar=True)
        if math.isfinite(metrics["val/reward"]):
            self.print(f"[val @ step {self.global_step}] accuracy {metrics['val/accuracy']:.3f}  "
                       f"cost/query ${metrics['val/cost_per_query']:.2e}  reward {metrics['val/reward']:.3f}  "
                       f"valid {metrics['val/valid_final_rate']:.2f}  "
                       + "  ".join(f"{b}: {i['top']} {i['top_share']:.0%}" for b, i in by_benchmark.items()))


def enable_activation_checkpointing(model) -> None:
    """Non-reentrant activation checkpointing, under either transformers name (5.24 renamed it)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def activation_checkpointing(model) -> bool:
    """Whether ``model`` recomputes activations (transformers 5.24 renamed ``is_gradient_checkpointing``)."""
    flag = getattr(model, "is_activation_checkpointing", None)
    return bool(model.is_gradient_checkpointing if flag is None else flag)


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
        out[bench] = {"accuracy": sum(e.score for e in group) / len(group), "top": top.split("/")[-1],
                      "top_share": count / len(group)}
    return out
