"""Supervised cold start: teach a fresh router the tool-call format before RL.

A randomly initialised router never writes a parseable ``<tool_call>``, so RL would get no signal.
We generate valid trajectories with the real environment and pool: call a pool model, then
``select_response`` it (full mode) or stop (simple mode), and fit them by cross-entropy on the
router's tokens only.  Every prompt of a batch is scripted once with *every* pool model, so the
fitted choice is exactly uniform for every prompt: no routing preference is taught (RL learns
that), and none creeps in from which model a random draw happened to pair with which prompt.
Direct answers are not scripted: RL discovers them by sampling.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Sequence

import torch

from xrouter.rollout.agent_loop import AgentLoop, RolloutBatch
from xrouter.router.parsing import render_call, render_select
from xrouter.rollout.hf import SamplingConfig
from xrouter.rollout.logprobs import sequence_logprobs

log = logging.getLogger(__name__)
GRAD_CLIP = 1.0  # max global gradient norm of a cold-start step (as algo.grad_clip for RL)


def scripted_trajectories(loop: AgentLoop, examples: Sequence[dict[str, Any]], models: Sequence[str],
                          system_prompt: str | None = "") -> RolloutBatch:
    """One scripted episode per (example, model), grouped by example."""
    scripts, repeated = [], []
    for example in examples:
        for model in models:
            turns = [render_call(model, system_prompt)]
            if loop.env.mode == "full":
                turns.append(render_select(model))
            scripts.append(turns)
            repeated.append(example)
    return loop.run(repeated, group_size=1, sampling=SamplingConfig(), episode_prefix="sft", scripts=scripts)


def cold_start(model, loop: AgentLoop, examples: Sequence[dict[str, Any]], models: Sequence[str], *,
               steps: int, batch_size: int, lr: float, micro_batch_size: int, seed: int,
               device: str | torch.device = "cpu", system_prompt: str | None = "", warmup_steps: int = 10
               ) -> list[float]:
    """Fit scripted trajectories for ``steps`` optimizer steps (``batch_size`` prompts x every pool
    model each); returns the loss curve."""
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(1, warmup_steps)))
    pad_id = loop.tokenizer.pad_token_id
    losses: list[float] = []
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        batch_examples = rng.sample(list(examples), min(batch_size, len(examples)))
        batch = scripted_trajectories(loop, batch_examples, models, system_prompt)
        optimizer.zero_grad()
        total_tokens = sum(sum(m) for m in batch.response_mask)
        loss_value = 0.0
        for _, logprobs, mask, _ in sequence_logprobs(model, batch.input_ids, batch.response_mask, pad_id,
                                                      micro_batch_size, device=device, grad=True):
            loss = -(logprobs * mask).sum() / max(total_tokens, 1)
            loss.backward()
            loss_value += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        schedule.step()
        losses.append(loss_value)
        if step % 10 == 0 or step == steps - 1:
            log.info("cold start step %d/%d: loss %.4f (%.0fs)", step + 1, steps, loss_value, time.perf_counter() - started)
    return losses
