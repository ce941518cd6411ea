"""Supervised cold start: teach a fresh router the tool-call format before RL.

A randomly initialised router never writes a parseable ``<tool_call>``, so RL would get no signal.
We script valid trajectories: call a pool model, then ``select_response`` it (full mode) or stop
(simple mode) (Router-R1's format: route to it, then ``<answer>`` with its name: ``RouterEnv.script``),
and fit them by cross-entropy on the router's tokens only.  ``weighting`` says what else is taught:

* ``uniform`` (``experiment=rl_only``): the format only.  Every prompt of a batch is scripted once with
  *every* pool model, so the fitted choice is exactly uniform for every prompt and no routing preference
  is taught; one-turn scripts are not run at all (no pool call, no spend, no outcome read), so every
  learning signal comes from RL's own episodes.
* ``teacher`` (the default recipe): each prompt's one trajectory calls the model a fitted baseline picks at
  the prompt's lambda (``xrouter/policies/teacher.py``): it needs every pool model's recorded answer to
  every training prompt.
* ``reward`` / ``expected_reward``: every pool model scripted and run; weighted by the recorded rewards.

Direct answers are not scripted: RL discovers them by sampling.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from xrouter.reward.lam_sampling import LamSampling, with_lams
from xrouter.rollout.agent_loop import AgentLoop, RolloutBatch
from xrouter.rollout.hf import SamplingConfig
from xrouter.rollout.logprobs import sequence_logprobs
from xrouter.router.formats import ActionFormat
from xrouter.router.formats.tool_calls import TOOL_CALLS
from xrouter.router.prefix_lm import parameter_groups

log = logging.getLogger(__name__)
GRAD_CLIP = 1.0  # max global gradient norm of a cold-start step (as algo.grad_clip for RL)


def scripted_trajectories(
    loop: AgentLoop,
    examples: Sequence[dict[str, Any]],
    models: Sequence[str],
    system_prompt: str | None = "",
    choices: Sequence[str | tuple[str, ...]] | None = None,
    format_only: bool = False,
) -> RolloutBatch:
    """One scripted episode per (example, model), grouped by example; with ``choices`` (a teacher's model,
    or escalation chain, for each example), one episode per example with its choice.  ``format_only``:
    one-turn scripts become token sequences without running them (no pool call, no spend, no outcome
    read); scripts of several turns need the tool results, so they run against the pool."""
    scripts, repeated = [], []
    for i, example in enumerate(examples):
        for model in [choices[i]] if choices is not None else models:
            scripts.append(loop.env.script(model, system_prompt))
            repeated.append(example)
    if format_only and all(len(script) == 1 for script in scripts):
        return loop.script_sequences(repeated, [script[0] for script in scripts], episode_prefix="sft")
    return loop.run(repeated, group_size=1, sampling=SamplingConfig(), episode_prefix="sft", scripts=scripts)


WEIGHTINGS = ("uniform", "reward", "expected_reward", "teacher")


def episode_weights(
    rewards: Sequence[float], n_models: int, weighting: str, temperature: float, logprobs: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-episode loss weights of prompt groups of ``n_models``: uniform (1); ``reward``: each group's
    ``n_models * softmax(reward / temperature)``; ``expected_reward``: ``1 + n_models * p_i * (r_i - sum_j p_j
    r_j)`` with ``p`` the router's own (detached) probabilities of the group's trajectories, from their
    summed token ``logprobs``: the format term plus the exact policy gradient of the expected reward over
    the whole pool, which replay reveals at once (``temperature`` scales that term: 1 / temperature)."""
    rewards_t = torch.tensor(list(rewards), dtype=torch.float32)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"cold_start.weighting must be one of {list(WEIGHTINGS)}, not {weighting!r}")
    if weighting in ("uniform", "teacher"):  # a teacher's one trajectory per prompt is fitted as is
        return torch.ones_like(rewards_t)
    if weighting == "expected_reward":
        if logprobs is None:
            raise ValueError("cold_start.weighting=expected_reward needs the trajectories' log-probabilities")
        groups, p = rewards_t.view(-1, n_models), torch.softmax(logprobs.float().view(-1, n_models), dim=1)
        advantage = groups - (p * groups).sum(dim=1, keepdim=True)
        return (1.0 + n_models * p * advantage / temperature).reshape(-1)
    if not temperature > 0:
        raise ValueError(f"cold_start.temperature must be > 0, not {temperature}")
    groups = rewards_t.view(-1, n_models)
    return (torch.softmax(groups / temperature, dim=1) * n_models).reshape(-1)


def decision_token_ids(tokenizer, models: Sequence[str], action_format: ActionFormat = TOOL_CALLS) -> set[int]:
    """The ids of the whole tokens that name a model in ``action_format`` (router=tiny's ``call_<model>`` tool
    tokens; Router-R1's format: the model names), where a group's trajectories part."""
    ids = {tokenizer.convert_tokens_to_ids(name) for name in action_format.decision_tokens(models)}
    return {i for i in ids if i is not None and i != tokenizer.unk_token_id}


def tail_weights(rows: Sequence[Sequence[int]], weights: torch.Tensor, decision: set[int], width: int) -> torch.Tensor:
    """``[len(rows), width]`` token weights aligned with ``sequence_logprobs`` (the last ``width`` tokens of each
    row): an episode's weight on its decision tokens, 1 on every other token (the format is taught whatever the
    outcome); without decision tokens the weight covers every token."""
    out = torch.ones((len(rows), width))
    for b, row in enumerate(rows):
        tail = list(row[-width:])
        offset = width - len(tail)
        hits = [offset + j for j, token in enumerate(tail) if token in decision] if decision else range(offset, width)
        for j in hits:
            out[b, j] = float(weights[b])
    return out


def cold_start(
    model,
    loop: AgentLoop,
    examples: Sequence[dict[str, Any]],
    models: Sequence[str],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    micro_batch_size: int,
    seed: int,
    device: str | torch.device = "cpu",
    system_prompt: str | None = "",
    warmup_steps: int = 10,
    weighting: str = "uniform",
    temperature: float = 0.1,
    lam_sampling: LamSampling | None = None,
    teacher: Callable[[Sequence[dict[str, Any]]], list[str | tuple[str, ...]]] | None = None,
) -> list[float]:
    """Fit scripted trajectories for ``steps`` optimizer steps (``batch_size`` prompts x every pool
    model each, weighted by ``weighting``; ``weighting="teacher"``: each prompt's one trajectory with the
    model ``teacher`` picks at its lambda, ``xrouter/policies/teacher.py``); returns the loss curve."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"cold_start.weighting must be one of {list(WEIGHTINGS)}, not {weighting!r}")
    if (weighting == "teacher") != (teacher is not None):
        raise ValueError(
            "cold_start.weighting=teacher goes with a teacher (teacher=knn|mlp|agreement: conf/teacher/), "
            "and a teacher with weighting=teacher only"
        )
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(parameter_groups(model, lr), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(1, warmup_steps)))
    pad_id = loop.tokenizer.pad_token_id
    losses: list[float] = []
    model.train()
    started = time.perf_counter()
    escalated = scripted = 0
    for step in range(steps):
        batch_examples = with_lams(rng.sample(list(examples), min(batch_size, len(examples))), lam_sampling, rng)
        choices = teacher(batch_examples) if teacher is not None else None
        if choices is not None:
            escalated += sum(not isinstance(c, str) for c in choices)
            scripted += len(choices)
        batch = scripted_trajectories(
            loop, batch_examples, models, system_prompt, choices, format_only=weighting == "uniform"
        )
        totals = None
        if weighting == "expected_reward":
            totals = torch.cat(
                [
                    (lp * mk).sum(dim=1)
                    for _, lp, mk, _ in sequence_logprobs(
                        model,
                        batch.input_ids,
                        batch.response_mask,
                        pad_id,
                        micro_batch_size,
                        device=device,
                        conditions=batch.conditions,
                    )
                ]
            ).cpu()
        weights = (
            torch.ones(len(batch.episodes))
            if teacher is not None
            else episode_weights(batch.rewards, len(models), weighting, temperature, totals)
        ).to(device)
        optimizer.zero_grad()
        total_tokens = sum(sum(m) for m in batch.response_mask)
        loss_value = 0.0
        decision = (
            decision_token_ids(loop.tokenizer, models, loop.env.format) if weighting == "expected_reward" else set()
        )
        for part, logprobs, mask, _ in sequence_logprobs(
            model,
            batch.input_ids,
            batch.response_mask,
            pad_id,
            micro_batch_size,
            device=device,
            grad=True,
            conditions=batch.conditions,
        ):
            token_weights = tail_weights(batch.input_ids[part], weights[part], decision, logprobs.shape[1])
            loss = -(logprobs * mask * token_weights.to(device)).sum() / max(total_tokens, 1)
            loss.backward()
            loss_value += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        schedule.step()
        losses.append(loss_value)
        if step % 10 == 0 or step == steps - 1:
            log.info(
                "cold start step %d/%d: loss %.4f (%.0fs)%s",
                step + 1,
                steps,
                loss_value,
                time.perf_counter() - started,
                f"; escalation scripts so far {escalated / scripted:.1%}" if escalated else "",
            )
    return losses
