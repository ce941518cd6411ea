"""Reward functions of cost-aware routing, as plain callables returning every component.

* ``xrouter`` (arXiv 2510.08439): ``r = s * (K - min(lam * C, cap))``; success-gated, so a wrong
  answer earns 0 whatever it cost, and a right one earns up to K, less its (capped) cost penalty.
  ``C`` is the episode's USD cost of tool calls, plus the router's own tokens when
  ``include_router_cost`` is set, measured in units of ``cost_unit_usd`` (default 1: dollars; the
  configs use ``pool``: a unit set by the pool's prices, ``xrouter/reward/units.py``).
* ``linear`` (Router-R1 style): ``(1 - alpha) * s + alpha * (1 - C / cost_scale)`` clipped to
  the cost term's [0, 1] range, minus ``format_penalty`` when the episode ended without a valid
  final answer (malformed calls, turn limit).
* ``router_r1`` (Router-R1's hierarchical reward): -1 for a malformed trajectory, else
  ``(1 - alpha) * s + alpha * (1 - min(C / cost_scale, 1))``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RewardComponents:
    """What went into a reward; ``total`` is what the policy is trained on."""

    score: float
    cost_usd: float
    cost_penalty: float
    format_penalty: float
    total: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def xrouter_reward(
    score: float,
    tool_cost_usd: float,
    router_cost_usd: float = 0.0,
    *,
    K: float = 1.0,
    lam: float = 1.0,
    cap: float = 0.8,
    cost_unit_usd: float = 1.0,
    include_router_cost: bool = False,
    valid_final: bool = True,
) -> RewardComponents:
    """``s * (K - min(lam * C, cap))`` with ``s`` = 0 when there is no valid final answer."""
    cost = tool_cost_usd + (router_cost_usd if include_router_cost else 0.0)
    s = score if valid_final else 0.0
    penalty = min(lam * cost / cost_unit_usd, cap)
    return RewardComponents(score=s, cost_usd=cost, cost_penalty=penalty, format_penalty=0.0, total=s * (K - penalty))


def linear_reward(
    score: float,
    tool_cost_usd: float,
    router_cost_usd: float = 0.0,
    *,
    alpha: float = 0.5,
    cost_scale: float = 0.01,
    format_penalty: float = 1.0,
    include_router_cost: bool = False,
    valid_final: bool = True,
) -> RewardComponents:
    """``(1 - alpha) * s + alpha * (1 - min(C / cost_scale, 1))``, minus a format penalty."""
    cost = tool_cost_usd + (router_cost_usd if include_router_cost else 0.0)
    s = score if valid_final else 0.0
    normalized = min(cost / cost_scale, 1.0) if cost_scale > 0 else 0.0
    fmt = 0.0 if valid_final else format_penalty
    total = (1 - alpha) * s + alpha * (1 - normalized) - fmt
    return RewardComponents(score=s, cost_usd=cost, cost_penalty=alpha * normalized, format_penalty=fmt, total=total)


def router_r1_reward(
    score: float,
    tool_cost_usd: float,
    router_cost_usd: float = 0.0,
    *,
    alpha: float = 0.3,
    cost_scale: float = 0.01,
    include_router_cost: bool = False,
    valid_final: bool = True,
) -> RewardComponents:
    """``-1`` for a malformed trajectory; else ``(1 - alpha) * s + alpha * (1 - min(C / cost_scale, 1))``."""
    cost = tool_cost_usd + (router_cost_usd if include_router_cost else 0.0)
    if not valid_final:
        return RewardComponents(score=0.0, cost_usd=cost, cost_penalty=0.0, format_penalty=1.0, total=-1.0)
    normalized = min(cost / cost_scale, 1.0) if cost_scale > 0 else 0.0
    return RewardComponents(
        score=score,
        cost_usd=cost,
        cost_penalty=alpha * normalized,
        format_penalty=0.0,
        total=(1 - alpha) * score + alpha * (1 - normalized),
    )


REWARDS: dict[str, Callable[..., RewardComponents]] = {
    "xrouter": xrouter_reward,
    "linear": linear_reward,
    "router_r1": router_r1_reward,
}


def build_reward(cfg: Mapping[str, Any]) -> Callable[..., RewardComponents]:
    """A reward callable ``(score, tool_cost_usd, router_cost_usd, valid_final) -> RewardComponents``."""
    cfg = dict(cfg)
    name = cfg.pop("name")
    if name not in REWARDS:
        raise ValueError(f"unknown reward '{name}'; known: {sorted(REWARDS)}")
    function = REWARDS[name]
    if isinstance(cfg.get("cost_unit_usd"), str):
        raise ValueError(
            f"reward.cost_unit_usd={cfg['cost_unit_usd']!r} is resolved against a pool's prices: "
            "call xrouter.reward.units.with_cost_unit(reward_cfg, <the pool's prices>) first, "
            "or give a number in USD"
        )

    cfg.pop("lam_sampling", None)  # training's lambda draws (xrouter/reward/lam_sampling.py), not an argument

    def reward(
        score: float,
        tool_cost_usd: float,
        router_cost_usd: float = 0.0,
        valid_final: bool = True,
        lam: float | None = None,
    ) -> RewardComponents:
        """``lam``: this episode's own cost weight (an example drawn by ``reward.lam_sampling``, a sweep point)."""
        if lam is None:
            return function(score, tool_cost_usd, router_cost_usd, valid_final=valid_final, **cfg)
        if "lam" not in cfg and name != "xrouter":
            raise ValueError(f"reward '{name}' has no lam: per-example lambda needs reward=xrouter")
        return function(score, tool_cost_usd, router_cost_usd, valid_final=valid_final, **{**cfg, "lam": lam})

    return reward
