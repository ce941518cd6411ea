"""The RL algorithm's settings as one typed, validated record (``conf/algo/*.yaml`` -> ``AlgoConfig``).

Every field has its meaning and allowed values here, once: the LightningModule reads attributes,
not ``.get(key, default)`` scattered through the update, and a wrong value fails before any work
with one line naming the key and what it may be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

AGGREGATIONS = ("token-mean", "seq-mean-token-mean")
UPDATES = ("sequence", "decision", "auto")
LR_SCHEDULES = ("constant", "cosine")


class AlgoConfigError(ValueError):
    """A ``conf/algo`` value of the wrong type or out of range."""


@dataclass(frozen=True)
class AlgoConfig:
    """GRPO/DAPO: clipped policy gradient over router tokens (xrouter/rl/losses.py)."""

    name: str
    lr: float  # AdamW learning rate
    weight_decay: float = 0.0
    warmup_steps: int = 0  # linear warm-up of the learning rate, in optimizer steps
    lr_schedule: str = "constant"  # after the warm-up: constant, or cosine decay to 0 at trainer.max_steps
    eps_low: float = 0.2  # clip range below 1 of the probability ratio
    eps_high: float = 0.2  # clip range above 1 (DAPO's clip-higher: eps_high > eps_low)
    aggregation: str = "token-mean"  # token-mean (DAPO) | seq-mean-token-mean (GRPO)
    scale_by_std: bool = True  # divide group advantages by the group's reward std (GRPO); false: Dr. GRPO
    dynamic_sampling: bool = False  # DAPO: drop groups whose rewards are all equal, refill from the sampler
    max_refill: int = 0  # rollout rounds a step may add to refill dropped groups
    kl_beta: float = 0.0  # k3 KL to the starting policy (0: no reference model)
    ppo_epochs: int = 1  # passes over each rollout batch
    minibatches: int = 1  # optimizer steps per pass
    grad_clip: float = 1.0  # max global gradient norm
    shard_optimizer_state: bool = False  # ZeRO-1 AdamW state sharding under trainer=ddp
    # sequence: every router token through the LM (and its routing head); decision: the routing head alone on
    # the call token, the LM frozen (xrouter/rl/decision.py: simple-mode routers with a decision head);
    # auto: decision for a simple-mode router with a routing head, else sequence
    update: str = "sequence"

    @classmethod
    def from_config(cls, algo: Mapping[str, Any] | AlgoConfig) -> AlgoConfig:
        if isinstance(algo, AlgoConfig):
            return algo
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(algo) - set(known))
        if unknown:
            raise AlgoConfigError(f"algo: unknown keys {unknown}; known: {sorted(known)}")
        if "name" not in algo or "lr" not in algo:
            raise AlgoConfigError("algo needs name and lr (compose one of conf/algo/*.yaml: algo=dapo_tiny|dapo|grpo)")
        values = {}
        for key, value in algo.items():
            values[key] = _typed(key, value, known[key].type)
        config = cls(**values)
        config.check()
        return config

    def lr_factor(self, step: int, total_steps: int) -> float:
        """The learning rate's multiplier at optimizer step ``step`` (0-based) of ``total_steps``: a linear warm-up
        over ``warmup_steps``, then 1 (constant) or a cosine from 1 to 0 at ``total_steps`` (cosine)."""
        warmup = max(1, self.warmup_steps)
        if step < warmup or self.lr_schedule == "constant":
            return min(1.0, (step + 1) / warmup)
        progress = min(1.0, (step - warmup + 1) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def check(self) -> None:
        """Ranges: one error naming the key and its allowed values."""
        rules = [
            ("lr", self.lr > 0, "a positive number"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("warmup_steps", self.warmup_steps >= 0, "an integer >= 0"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}"),
            ("eps_low", 0 <= self.eps_low < 1, "in [0, 1)"),
            ("eps_high", self.eps_high >= 0, ">= 0"),
            ("aggregation", self.aggregation in AGGREGATIONS, f"one of {', '.join(AGGREGATIONS)}"),
            ("max_refill", self.max_refill >= 0, "an integer >= 0"),
            ("kl_beta", self.kl_beta >= 0, ">= 0"),
            ("ppo_epochs", self.ppo_epochs >= 1, "an integer >= 1"),
            ("minibatches", self.minibatches >= 1, "an integer >= 1"),
            ("grad_clip", self.grad_clip > 0, "> 0"),
            ("update", self.update in UPDATES, f"one of {', '.join(UPDATES)}"),
        ]
        for key, ok, allowed in rules:
            if not ok:
                raise AlgoConfigError(f"algo.{key}={getattr(self, key)!r} is out of range: it must be {allowed}")


def _typed(key: str, value: Any, kind: Any) -> Any:
    kind = str(kind)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise AlgoConfigError(f"algo.{key}={value!r} must be true or false")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise AlgoConfigError(f"algo.{key}={value!r} must be an integer")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AlgoConfigError(f"algo.{key}={value!r} must be a finite number")
        return float(value)
    if not isinstance(value, str):
        raise AlgoConfigError(f"algo.{key}={value!r} must be a string")
    return value
